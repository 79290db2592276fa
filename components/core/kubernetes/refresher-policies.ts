/**
 * The cloud identity documents of the pull-secret refresher: the IAM (IRSA, EKS Pod Identity) and RAM (RRSA) trust
 * policies for its service account, and the pull permissions of the registries it renews.
 */
import { PolicyError } from "../errors";
import type { RefresherRegistry } from "./refresher-config";

/** The service account subject `system:serviceaccount:<ns>:<name>`. */
export function serviceAccountSubject(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** IRSA trust policy: the cluster's OIDC provider may assume the role for this one service account. */
export function irsaTrustPolicy(field: string, oidcProviderArn: string, namespace: string, name: string): string {
  const m = /^arn:(aws[-a-z]*):iam::\d{12}:oidc-provider\/(.+)$/.exec(oidcProviderArn);
  if (!m) {
    throw new PolicyError(
      field,
      oidcProviderArn,
      "not an IAM OIDC provider ARN",
      "give the cluster's provider, e.g. arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE (aws.eks.Cluster identities / aws.iam.OpenIdConnectProvider arn)",
    );
  }
  const issuer = m[2];
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: oidcProviderArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${issuer}:aud`]: "sts.amazonaws.com",
            [`${issuer}:sub`]: serviceAccountSubject(namespace, name),
          },
        },
      },
    ],
  });
}

/** EKS Pod Identity trust policy (the association names the service account). */
export function podIdentityTrustPolicy(): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: "pods.eks.amazonaws.com" },
        Action: ["sts:AssumeRole", "sts:TagSession"],
      },
    ],
  });
}

function awsPartition(domain: string): string {
  return domain.endsWith(".cn") ? "aws-cn" : "aws";
}

/**
 * The refresher role's permissions: a token (`ecr:GetAuthorizationToken` has no resource scope) and pulls from the
 * renewed registries' repositories — an ECR token only carries the permissions of the identity that asked for it.
 */
export function ecrPullPolicy(registries: RefresherRegistry[]): string {
  const repos = registries
    .filter((r) => r.source === "ecr")
    .map((r) => `arn:${awsPartition(r.domain)}:ecr:${r.region}:${r.registryId}:repository/*`);
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
      {
        Effect: "Allow",
        Action: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        Resource: [...new Set(repos)].sort(),
      },
    ],
  });
}

/** RRSA trust policy of a RAM role: the cluster's OIDC provider, for this one service account. */
export function rrsaTrustPolicy(oidcProviderArn: string, issuerUrl: string, namespace: string, name: string): string {
  return JSON.stringify({
    Version: "1",
    Statement: [
      {
        Effect: "Allow",
        Action: "sts:AssumeRole",
        Principal: { Federated: [oidcProviderArn] },
        Condition: {
          StringEquals: {
            "oidc:aud": ["sts.aliyuncs.com"],
            "oidc:iss": [issuerUrl],
            "oidc:sub": [serviceAccountSubject(namespace, name)],
          },
        },
      },
    ],
  });
}

/** The RAM role's permissions: a temporary token of each ACR instance, and pulls from its repositories. */
export function acrPullPolicy(registries: RefresherRegistry[]): string {
  const ids = [...new Set(registries.flatMap((r) => (r.source === "acr" ? [r.instanceId] : [])))].sort();
  return JSON.stringify({
    Version: "1",
    Statement: [
      { Effect: "Allow", Action: ["cr:GetAuthorizationToken"], Resource: ids.map((id) => `acs:cr:*:*:instance/${id}`) },
      { Effect: "Allow", Action: ["cr:PullRepository"], Resource: ids.map((id) => `acs:cr:*:*:repository/${id}/*`) },
    ],
  });
}
