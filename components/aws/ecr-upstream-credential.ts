import type * as pulumi from "@pulumi/pulumi";

// Kept apart from ecr-pull-through.ts, whose declarations need @pulumi/aws: the package root refers to this type.
/** Credentials ECR uses to pull from an upstream that requires them (Docker Hub, GHCR, GitLab). */
export interface EcrUpstreamCredentialArgs {
  /** User name at the upstream registry. */
  username: pulumi.Input<string>;
  /**
   * Access token at the upstream (Docker Hub personal access token, GitHub token with `read:packages`, GitLab
   * token with `read_registry`). Stored only as a Pulumi secret.
   */
  accessToken: pulumi.Input<string>;
  /**
   * Name of the Secrets Manager secret that holds them. ECR requires the `ecr-pullthroughcache/` prefix. Default
   * `ecr-pullthroughcache/<stack>/<rule prefix>`, so two stacks of one program in one account and region do not
   * fight over one secret.
   */
  secretName?: string;
}
