/** The selection's inputs checked field by field, the region resolved, and what each candidate is. */
import { PolicyError } from "../errors";
import {
  checkAcrAsDockerHubMirror,
  checkInsecureRange,
  compareRegistries,
  DOCKER_HUB,
  normaliseRegistryName,
  isPlainObject,
} from "../policy";
import { acceleratorUrl, type AlicloudRegion, alicloudRegion, validateAcceleratorId } from "./alicloud";
import {
  type AwsRegion,
  awsRegion,
  ecrHost,
  ecrPullThroughUrl,
  ecrUpstream,
  ECR_UPSTREAMS,
  validateAwsAccountId,
  validateEcrPrefix,
} from "./aws";
import {
  type CatalogEntry,
  type CloudName,
  type MirrorInput,
  type NetworkKind,
  unknownRegionError,
  validateCloud,
  validateMirrorList,
  validateUserCatalog,
} from "./catalog";
import { checkDeadMirror } from "./dead-mirrors";
import type { RegionSelectionInput } from "./select";

/** Validated single fields of a selection input, each present only when it was given. */
export interface ValidatedSelectionFields {
  cloud?: CloudName;
  region?: AwsRegion | AlicloudRegion;
  registries?: string[];
  network?: NetworkKind;
  awsAccountId?: string;
  ecrPullThrough?: Map<string, string>;
  alicloudAcceleratorId?: string;
  userCatalog?: CatalogEntry[];
  fallbacks?: Map<string, { input: MirrorInput; url: string; field: string }[]>;
}

function optionalBoolean(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw new PolicyError(field, value, "must be true or false", "write true or false without quotes");
  }
}

/**
 * Validates every field of a selection input that is present, on its own (no cross-field checks). The
 * component calls it in its constructor with the inputs already known, so bad values fail before any `apply`.
 */
export function validateSelectionFields(
  input: Partial<RegionSelectionInput>,
  options: SelectionFieldOptions = {},
): ValidatedSelectionFields {
  const out: ValidatedSelectionFields = {};
  if ("cloud" in input) out.cloud = validateCloud("cloud", input.cloud);
  if (input.region !== undefined && out.cloud !== undefined) out.region = resolveRegion(out.cloud, input.region);
  if (input.registries !== undefined) {
    if (!Array.isArray(input.registries) || input.registries.length === 0) {
      throw new PolicyError(
        "registries",
        input.registries,
        "must be a non-empty list of registry hosts",
        'write ["docker.io", "ghcr.io"], or leave it out for docker.io',
      );
    }
    const names = input.registries.map((r, i) => normaliseRegistryName(`registries[${i}]`, r));
    out.registries = [...new Set(names)].sort(compareRegistries);
  }
  if (input.network !== undefined) {
    if (input.network !== "vpc" && input.network !== "public") {
      throw new PolicyError(
        "network",
        input.network,
        "unknown network",
        'use "vpc" for nodes inside the cloud\'s private network, or "public" for nodes outside it',
      );
    }
    out.network = input.network;
  }
  if (input.awsAccountId !== undefined) out.awsAccountId = validateAwsAccountId("awsAccountId", input.awsAccountId);
  if (input.ecrPullThrough !== undefined) out.ecrPullThrough = validateEcrPullThrough(input.ecrPullThrough);
  if (input.alicloudAcceleratorId !== undefined)
    out.alicloudAcceleratorId = validateAcceleratorId("alicloudAcceleratorId", input.alicloudAcceleratorId);
  optionalBoolean("allowMirrorPaths", input.allowMirrorPaths);
  optionalBoolean("allowDeprecatedMirrors", input.allowDeprecatedMirrors);
  optionalBoolean("allowPublicInsecureRegistries", input.allowPublicInsecureRegistries);
  optionalBoolean("upstreamFallback", input.upstreamFallback);
  const listOptions = { allowMirrorPaths: input.allowMirrorPaths };
  if (input.userCatalog !== undefined) {
    out.userCatalog = validateUserCatalog(input.userCatalog, "userCatalog", listOptions);
    for (const entry of out.userCatalog) {
      for (const [registry, mirrors] of entry.registries)
        for (const m of mirrors) checkAcrAsDockerHubMirror(m.field, registry, m.url, hostOf(m.url));
      if (options.checkInsecureRanges !== false)
        entry.insecureRegistries.forEach((v, i) =>
          checkInsecureRange(`userCatalog.regions["${entry.key}"].insecureRegistries[${i}]`, v, {
            allowPublic: input.allowPublicInsecureRegistries,
          }),
        );
    }
  }
  if (input.fallbacks !== undefined) {
    if (!isPlainObject(input.fallbacks)) {
      throw new PolicyError(
        "fallbacks",
        input.fallbacks,
        "must be a map from registry host to a list of mirrors",
        'write { "docker.io": ["https://mirror.example.com"] }',
      );
    }
    const fallbacks = new Map<string, { input: MirrorInput; url: string; field: string }[]>();
    for (const key of Object.keys(input.fallbacks).sort()) {
      const field = `fallbacks["${key}"]`;
      const name = normaliseRegistryName(field, key);
      const mirrors = validateMirrorList(field, input.fallbacks[key], listOptions);
      for (const m of mirrors) checkAcrAsDockerHubMirror(m.field, name, m.url, hostOf(m.url));
      fallbacks.set(name, [...(fallbacks.get(name) ?? []), ...mirrors]);
    }
    out.fallbacks = fallbacks;
  }
  if (options.checkDeadMirrors) {
    const alternative = out.cloud && out.region ? regionalAlternative(out.cloud, out.region, out) : undefined;
    const mirrors = [
      ...(out.userCatalog ?? []).flatMap((e) => [...e.registries.values()].flat()),
      ...[...(out.fallbacks?.values() ?? [])].flat(),
    ];
    for (const m of mirrors)
      checkDeadMirror(m.field, m.url, { allowDeprecatedMirrors: input.allowDeprecatedMirrors, alternative });
  }
  return out;
}

/** Options of {@link validateSelectionFields}. */
export interface SelectionFieldOptions {
  /**
   * Also refuse known-dead mirrors in `userCatalog` and `fallbacks` (give it only when `allowDeprecatedMirrors`
   * is known: absent from the input means false).
   */
  checkDeadMirrors?: boolean;
  /**
   * Refuse `userCatalog` insecure-registries CIDRs over public space unless `allowPublicInsecureRegistries` (default
   * true; give false while that flag is not known yet).
   */
  checkInsecureRanges?: boolean;
}

/** `host[:port]` of a validated mirror URL. */
export function hostOf(url: string): string {
  return url.replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "");
}

/** The catalog entry of `region` in `cloud`; throws for an unknown region (with the nearest names) or a closed one. */
export function resolveRegion(cloud: CloudName, region: unknown, field = "region"): AwsRegion | AlicloudRegion {
  const id = typeof region === "string" ? region.trim() : region;
  const found = typeof id === "string" ? (cloud === "aws" ? awsRegion(id) : alicloudRegion(id)) : undefined;
  if (!found) throw unknownRegionError(field, cloud, region);
  if ("status" in found && found.status === "closed") {
    throw new PolicyError(
      field,
      region,
      `Alibaba Cloud closed the ${found.name} region`,
      "move the nodes to an open region and select that one; `registry-mirrors regions --cloud alicloud` lists them",
    );
  }
  return found;
}

export function validateEcrPullThrough(value: unknown): Map<string, string> {
  if (!isPlainObject(value)) {
    throw new PolicyError(
      "ecrPullThrough",
      value,
      "must be a map from upstream registry to ECR repository prefix",
      'write { "docker.io": "docker-hub", "quay.io": "quay" }',
    );
  }
  const rules = new Map<string, string>();
  const owners = new Map<string, string>();
  for (const key of Object.keys(value).sort()) {
    const field = `ecrPullThrough["${key}"]`;
    const registry = normaliseRegistryName(field, key);
    if (!ecrUpstream(registry)) {
      throw new PolicyError(
        field,
        key,
        "ECR pull-through cache cannot cache this registry",
        `use one of: ${ECR_UPSTREAMS.map((u) => u.registry).join(", ")} (or list your own mirror for it in userCatalog)`,
      );
    }
    const prefix = validateEcrPrefix(field, value[key]);
    const owner = owners.get(prefix);
    if (owner !== undefined && owner !== registry) {
      throw new PolicyError(
        field,
        prefix,
        `the prefix is already used for ${owner}; ECR routes each prefix to one upstream`,
        "give every upstream its own prefix",
      );
    }
    owners.set(prefix, registry);
    rules.set(registry, prefix);
  }
  return rules;
}

/** What to use instead of a dead public mirror in this region. */
export function regionalAlternative(
  cloud: CloudName,
  region: AwsRegion | AlicloudRegion,
  fields: ValidatedSelectionFields,
): string {
  if (cloud === "alicloud") {
    return `the account's Docker Hub accelerator ${acceleratorUrl(fields.alicloudAcceleratorId ?? "<id>")} (set alicloudAcceleratorId; the id is in the Container Registry console under Image Tools > Image Accelerator)`;
  }
  const aws = region as AwsRegion;
  const prefix = fields.ecrPullThrough?.get(DOCKER_HUB);
  if (prefix !== undefined && fields.awsAccountId !== undefined) {
    return `the ECR pull-through cache ${ecrPullThroughUrl(fields.awsAccountId, aws, prefix)} already selected for ${aws.id}`;
  }
  return `an ECR pull-through cache in ${aws.id} (ecrPullThrough: { "docker.io": "docker-hub" } with awsAccountId, served from ${ecrHost(fields.awsAccountId ?? "ACCOUNT", aws)})`;
}

/**
 * Picks the ordered mirrors of every registry for one region: in-region private endpoints first (user
 * catalog entries with `network: "vpc"`, then the built-in ones: ECR through its interface VPC endpoint,
 * the ACR VPC endpoint), then regional public ones (user catalog, then ECR over the internet, the
 * Alibaba Cloud accelerator), then the global `fallbacks`, then the upstream unless `upstreamFallback` is
 * false. Deterministic: the same input gives the same output, byte for byte.
 */
