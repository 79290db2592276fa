import { PolicyError } from "../errors";
import { DOCKER_HUB } from "../policy";

/** The AWS partitions the catalog covers. Each has its own DNS suffix and its own accounts. */
export type AwsPartition = "aws" | "aws-cn" | "aws-us-gov";

/** One AWS region. */
export interface AwsRegion {
  /** Region code, e.g. `us-west-2`. */
  id: string;
  /** AWS's display name, e.g. `US West (Oregon)`. */
  name: string;
  partition: AwsPartition;
}

/** DNS suffix of each partition: China regions live under `amazonaws.com.cn`. */
export const AWS_DNS_SUFFIX: Readonly<Record<AwsPartition, string>> = {
  aws: "amazonaws.com",
  "aws-cn": "amazonaws.com.cn",
  "aws-us-gov": "amazonaws.com",
};

/**
 * Every region of the three public partitions, from botocore 1.43.11 `partitions.json`
 * (the `*-global` pseudo-regions left out). Sorted by partition, then id.
 */
export const AWS_REGIONS: readonly AwsRegion[] = [
  { id: "af-south-1", name: "Africa (Cape Town)", partition: "aws" },
  { id: "ap-east-1", name: "Asia Pacific (Hong Kong)", partition: "aws" },
  { id: "ap-east-2", name: "Asia Pacific (Taipei)", partition: "aws" },
  { id: "ap-northeast-1", name: "Asia Pacific (Tokyo)", partition: "aws" },
  { id: "ap-northeast-2", name: "Asia Pacific (Seoul)", partition: "aws" },
  { id: "ap-northeast-3", name: "Asia Pacific (Osaka)", partition: "aws" },
  { id: "ap-south-1", name: "Asia Pacific (Mumbai)", partition: "aws" },
  { id: "ap-south-2", name: "Asia Pacific (Hyderabad)", partition: "aws" },
  { id: "ap-southeast-1", name: "Asia Pacific (Singapore)", partition: "aws" },
  { id: "ap-southeast-2", name: "Asia Pacific (Sydney)", partition: "aws" },
  { id: "ap-southeast-3", name: "Asia Pacific (Jakarta)", partition: "aws" },
  { id: "ap-southeast-4", name: "Asia Pacific (Melbourne)", partition: "aws" },
  { id: "ap-southeast-5", name: "Asia Pacific (Malaysia)", partition: "aws" },
  { id: "ap-southeast-6", name: "Asia Pacific (New Zealand)", partition: "aws" },
  { id: "ap-southeast-7", name: "Asia Pacific (Thailand)", partition: "aws" },
  { id: "ca-central-1", name: "Canada (Central)", partition: "aws" },
  { id: "ca-west-1", name: "Canada West (Calgary)", partition: "aws" },
  { id: "eu-central-1", name: "Europe (Frankfurt)", partition: "aws" },
  { id: "eu-central-2", name: "Europe (Zurich)", partition: "aws" },
  { id: "eu-north-1", name: "Europe (Stockholm)", partition: "aws" },
  { id: "eu-south-1", name: "Europe (Milan)", partition: "aws" },
  { id: "eu-south-2", name: "Europe (Spain)", partition: "aws" },
  { id: "eu-west-1", name: "Europe (Ireland)", partition: "aws" },
  { id: "eu-west-2", name: "Europe (London)", partition: "aws" },
  { id: "eu-west-3", name: "Europe (Paris)", partition: "aws" },
  { id: "il-central-1", name: "Israel (Tel Aviv)", partition: "aws" },
  { id: "me-central-1", name: "Middle East (UAE)", partition: "aws" },
  { id: "me-south-1", name: "Middle East (Bahrain)", partition: "aws" },
  { id: "mx-central-1", name: "Mexico (Central)", partition: "aws" },
  { id: "sa-east-1", name: "South America (Sao Paulo)", partition: "aws" },
  { id: "us-east-1", name: "US East (N. Virginia)", partition: "aws" },
  { id: "us-east-2", name: "US East (Ohio)", partition: "aws" },
  { id: "us-west-1", name: "US West (N. California)", partition: "aws" },
  { id: "us-west-2", name: "US West (Oregon)", partition: "aws" },
  { id: "cn-north-1", name: "China (Beijing)", partition: "aws-cn" },
  { id: "cn-northwest-1", name: "China (Ningxia)", partition: "aws-cn" },
  { id: "us-gov-east-1", name: "AWS GovCloud (US-East)", partition: "aws-us-gov" },
  { id: "us-gov-west-1", name: "AWS GovCloud (US-West)", partition: "aws-us-gov" },
];

/** The catalog entry of an AWS region, or undefined. */
export function awsRegion(id: string): AwsRegion | undefined {
  return AWS_REGIONS.find((r) => r.id === id);
}

/** An upstream registry ECR can cache, as `aws.ecr.PullThroughCacheRule` spells it. */
export interface EcrUpstream {
  /** Registry key in the mirror policy, e.g. `docker.io`. */
  registry: string;
  /** `upstreamRegistryUrl` of the rule. */
  upstreamRegistryUrl: string;
  /** The prefix used when the user gives none (the one AWS's console suggests). */
  defaultPrefix: string;
  /** ECR needs a Secrets Manager secret `ecr-pullthroughcache/...` with the upstream's credentials. */
  needsCredential: boolean;
  /** Human name, used in messages. */
  label: string;
}

/** Upstreams ECR pull-through cache supports (sorted by registry key). */
export const ECR_UPSTREAMS: readonly EcrUpstream[] = [
  {
    registry: DOCKER_HUB,
    upstreamRegistryUrl: "registry-1.docker.io",
    defaultPrefix: "docker-hub",
    needsCredential: true,
    label: "Docker Hub",
  },
  {
    registry: "ghcr.io",
    upstreamRegistryUrl: "ghcr.io",
    defaultPrefix: "github",
    needsCredential: true,
    label: "GitHub Container Registry",
  },
  {
    registry: "public.ecr.aws",
    upstreamRegistryUrl: "public.ecr.aws",
    defaultPrefix: "ecr-public",
    needsCredential: false,
    label: "ECR Public",
  },
  { registry: "quay.io", upstreamRegistryUrl: "quay.io", defaultPrefix: "quay", needsCredential: false, label: "Quay" },
  {
    registry: "registry.gitlab.com",
    upstreamRegistryUrl: "registry.gitlab.com",
    defaultPrefix: "gitlab",
    needsCredential: true,
    label: "GitLab Container Registry",
  },
  {
    registry: "registry.k8s.io",
    upstreamRegistryUrl: "registry.k8s.io",
    defaultPrefix: "k8s",
    needsCredential: false,
    label: "Kubernetes registry",
  },
];

/** The ECR upstream for a (normalised) registry key, or undefined when ECR cannot cache it. */
export function ecrUpstream(registry: string): EcrUpstream | undefined {
  return ECR_UPSTREAMS.find((u) => u.registry === registry);
}

/** Throws unless `value` is a 12-digit AWS account id. */
export function validateAwsAccountId(field: string, value: unknown): string {
  if (typeof value !== "string" || !/^\d{12}$/.test(value)) {
    throw new PolicyError(
      field,
      value,
      "an AWS account id is exactly 12 digits",
      'give the account id as a string of 12 digits, e.g. "123456789012" (keep leading zeros; `aws sts get-caller-identity` shows it)',
    );
  }
  return value;
}

// ECR's own pattern for `ecrRepositoryPrefix` (CreatePullThroughCacheRule), length 2-30.
const ECR_PREFIX = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** Throws unless `value` is a valid ECR pull-through cache repository prefix. */
export function validateEcrPrefix(field: string, value: unknown): string {
  if (typeof value !== "string" || value.length < 2 || value.length > 30) {
    throw new PolicyError(
      field,
      value,
      "an ECR pull-through cache prefix is 2 to 30 characters long",
      'use a short name such as "docker-hub" or "quay"',
    );
  }
  if (!ECR_PREFIX.test(value)) {
    throw new PolicyError(
      field,
      value,
      "an ECR repository prefix allows only lower-case letters, digits, and . _ - / between them",
      'use lower-case letters and digits separated by single hyphens, e.g. "docker-hub"',
    );
  }
  return value;
}

/** `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]` — the private registry host of an account in a region. */
export function ecrHost(accountId: string, region: AwsRegion): string {
  return `${accountId}.dkr.ecr.${region.id}.${AWS_DNS_SUFFIX[region.partition]}`;
}

/**
 * The mirror URL of a pull-through cache rule. ECR serves cached images under `/v2/PREFIX/...`, so as a
 * containerd mirror the URL carries the full API path and needs `override_path = true`.
 */
export function ecrPullThroughUrl(accountId: string, region: AwsRegion, prefix: string): string {
  return `https://${ecrHost(accountId, region)}/v2/${prefix}`;
}

/**
 * The usual rules for a list of (normalised) registries: each one ECR can cache, with AWS's suggested prefix,
 * e.g. `{ "docker.io": "docker-hub", "quay.io": "quay" }`. Registries ECR cannot cache are left out.
 */
export function defaultEcrPullThrough(registries: readonly string[]): Record<string, string> {
  const rules: Record<string, string> = {};
  for (const registry of registries) {
    const upstream = ecrUpstream(registry);
    if (upstream) rules[registry] = upstream.defaultPrefix;
  }
  return rules;
}
