import * as pulumi from "@pulumi/pulumi";
import type * as ecrModule from "@pulumi/aws/ecr";
import type * as secretsModule from "@pulumi/aws/secretsmanager";
import { PolicyError } from "../core/errors";
import { normaliseRegistryName } from "../core/policy";
import { type EcrUpstream, ecrUpstream, ECR_UPSTREAMS, validateEcrPrefix } from "../core/regions/aws";
import type { EcrUpstreamCredentialArgs } from "./ecr-upstream-credential";

export type { EcrUpstreamCredentialArgs };

/** Arguments of {@link createEcrPullThroughCache}. */
export interface EcrPullThroughCacheArgs {
  /**
   * One rule per upstream registry: registry (`docker.io`, `ghcr.io`, `quay.io`, `registry.k8s.io`,
   * `public.ecr.aws`, `registry.gitlab.com`) to repository prefix (2-30 characters). Known at construction:
   * resources are never created inside an `apply`.
   */
  rules: Record<string, string>;
  /**
   * Credentials per upstream registry that needs them; each becomes a Secrets Manager secret, named
   * `ecr-pullthroughcache/<stack>/<prefix>` unless the credential's `secretName` says otherwise.
   */
  credentials?: Record<string, EcrUpstreamCredentialArgs>;
  /** Existing Secrets Manager secrets (ARN; the name must start with `ecr-pullthroughcache/`) per upstream registry. */
  credentialArns?: Record<string, pulumi.Input<string>>;
  /** Region to create the rules and secrets in; default: the provider's region. */
  region?: pulumi.Input<string>;
}

/** The resources created for a pull-through cache, by upstream registry. */
export interface EcrPullThroughCache {
  rules: Record<string, ecrModule.PullThroughCacheRule>;
  secrets: Record<string, secretsModule.Secret>;
}

function normaliseKeys<T>(field: string, record: Record<string, T> | undefined): Map<string, T> {
  const out = new Map<string, T>();
  if (record === undefined) return out;
  if (typeof record !== "object" || record === null || Array.isArray(record) || pulumi.Output.isInstance(record)) {
    throw new PolicyError(
      field,
      record,
      "must be a plain map from upstream registry, known when the program runs",
      'write { "docker.io": ... }',
    );
  }
  for (const key of Object.keys(record).sort()) out.set(normaliseRegistryName(`${field}["${key}"]`, key), record[key]);
  return out;
}

/** Validates the rules and credentials (no resources): the upstream, prefix and credential of every rule. */
export function validateEcrPullThroughCacheArgs(args: EcrPullThroughCacheArgs): Map<string, string> {
  const rules = normaliseKeys("rules", args.rules);
  const credentials = normaliseKeys("credentials", args.credentials);
  const arns = normaliseKeys("credentialArns", args.credentialArns);
  if (rules.size === 0) {
    throw new PolicyError(
      "rules",
      args.rules,
      "no pull-through cache rule to create",
      'give at least one rule, e.g. { "docker.io": "docker-hub" }',
    );
  }
  const prefixes = new Map<string, string>();
  for (const [registry, prefix] of rules) {
    const field = `rules["${registry}"]`;
    const upstream = ecrUpstream(registry);
    if (!upstream) {
      throw new PolicyError(
        field,
        registry,
        "ECR pull-through cache cannot cache this registry",
        `use one of: ${ECR_UPSTREAMS.map((u) => u.registry).join(", ")}`,
      );
    }
    validateEcrPrefix(field, prefix);
    const owner = prefixes.get(prefix);
    if (owner !== undefined) {
      throw new PolicyError(
        field,
        prefix,
        `the prefix is already used for ${owner}; ECR routes each prefix to one upstream`,
        "give every upstream its own prefix",
      );
    }
    prefixes.set(prefix, registry);
    if (credentials.has(registry) && arns.has(registry)) {
      throw new PolicyError(
        `credentialArns["${registry}"]`,
        registry,
        "both credentials and an existing secret ARN were given",
        "keep one of them",
      );
    }
    const credential = credentials.get(registry);
    if (credential !== undefined) credentialSecretName(registry, prefix, credential.secretName);
    if (upstream.needsCredential && !credentials.has(registry) && !arns.has(registry)) {
      throw new PolicyError(
        `credentials["${registry}"]`,
        undefined,
        `ECR needs credentials to cache ${upstream.label}`,
        `give credentials: { "${registry}": { username, accessToken } } (a Pulumi secret), or credentialArns with an existing ecr-pullthroughcache/ secret`,
      );
    }
    if (!upstream.needsCredential && (credentials.has(registry) || arns.has(registry))) {
      throw new PolicyError(
        `credentials["${registry}"]`,
        registry,
        `${upstream.label} needs no credentials and ECR refuses a credential for it`,
        "remove the credential for this registry",
      );
    }
  }
  for (const registry of [...credentials.keys(), ...arns.keys()]) {
    if (!rules.has(registry)) {
      throw new PolicyError(
        `credentials["${registry}"]`,
        registry,
        "a credential for a registry without a rule",
        `add a rule for ${registry}, or remove its credential`,
      );
    }
  }
  return rules;
}

const SECRET_PREFIX = "ecr-pullthroughcache/";

/** The Secrets Manager name of a rule's credential: the user's, or `ecr-pullthroughcache/<stack>/<prefix>`. */
export function credentialSecretName(registry: string, prefix: string, given: unknown): string {
  if (given === undefined) return `${SECRET_PREFIX}${pulumi.getStack()}/${prefix}`;
  if (
    typeof given !== "string" ||
    !given.startsWith(SECRET_PREFIX) ||
    given.length === SECRET_PREFIX.length ||
    given.length > 512 ||
    !/^[A-Za-z0-9/_+=.@-]+$/.test(given)
  ) {
    throw new PolicyError(
      `credentials["${registry}"].secretName`,
      given,
      "ECR reads pull-through credentials only from a Secrets Manager secret named ecr-pullthroughcache/<name> (letters, digits and /_+=.@-, at most 512 characters)",
      `write e.g. "${SECRET_PREFIX}${prefix}", or leave secretName out for a name unique to the stack`,
    );
  }
  return given;
}

/**
 * Creates an `aws.ecr.PullThroughCacheRule` per upstream, plus, for Docker Hub, GHCR and GitLab, the Secrets
 * Manager secret ECR reads the upstream credentials from (`ecr-pullthroughcache/<stack>/<prefix>` by default, value a
 * Pulumi secret).
 * Loads only `@pulumi/aws/ecr` and `@pulumi/aws/secretsmanager`, and only when called.
 */
export function createEcrPullThroughCache(
  name: string,
  args: EcrPullThroughCacheArgs,
  opts: pulumi.CustomResourceOptions = {},
): EcrPullThroughCache {
  const rules = validateEcrPullThroughCacheArgs(args);
  const credentials = normaliseKeys("credentials", args.credentials);
  const arns = normaliseKeys("credentialArns", args.credentialArns);
  const ecr = require("@pulumi/aws/ecr") as typeof import("@pulumi/aws/ecr");
  const out: EcrPullThroughCache = { rules: {}, secrets: {} };
  for (const [registry, prefix] of rules) {
    const upstream = ecrUpstream(registry) as EcrUpstream; // validated above
    const resourceName = `${name}-${prefix.replace(/\//g, "-")}`;
    let credentialArn: pulumi.Input<string> | undefined = arns.get(registry);
    const credential = credentials.get(registry);
    if (credential) {
      const sm = require("@pulumi/aws/secretsmanager") as typeof import("@pulumi/aws/secretsmanager");
      const secret = new sm.Secret(
        `${resourceName}-credential`,
        {
          name: credentialSecretName(registry, prefix, credential.secretName),
          description: `${upstream.label} credentials for the ECR pull-through cache rule "${prefix}" (registry-mirrors)`,
          // The value is a copy of an upstream token: delete it at once so a replacement can reuse the name.
          recoveryWindowInDays: 0,
          region: args.region,
        },
        { ...opts, deleteBeforeReplace: true },
      );
      const secretString = pulumi.secret(
        pulumi
          .all([credential.username, credential.accessToken])
          .apply(([username, accessToken]) => JSON.stringify({ accessToken, username })),
      );
      const version = new sm.SecretVersion(
        `${resourceName}-credential`,
        { secretId: secret.id, secretString, region: args.region },
        opts,
      );
      // Through the version's id, so the rule waits until the secret holds a value.
      credentialArn = pulumi.all([secret.arn, version.id]).apply(([arn]) => arn);
      out.secrets[registry] = secret;
    }
    out.rules[registry] = new ecr.PullThroughCacheRule(
      resourceName,
      {
        ecrRepositoryPrefix: prefix,
        upstreamRegistryUrl: upstream.upstreamRegistryUrl,
        credentialArn,
        region: args.region,
      },
      opts,
    );
  }
  return out;
}
