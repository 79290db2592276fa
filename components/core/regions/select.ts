import { PolicyError } from "../errors";
import {
  ANY_REGISTRY,
  checkInsecureRange,
  compareRegistries,
  DOCKER_HUB,
  type MirrorEndpointInput,
  type MirrorPolicyInput,
  type RegistryMirrorsInput,
  isPlainObject,
} from "../policy";
import { acceleratorUrl, acrEndpoints, type AlicloudRegion } from "./alicloud";
import { type AwsPartition, type AwsRegion, ecrPullThroughUrl, ecrUpstream, AWS_DNS_SUFFIX } from "./aws";
import { type CloudName, matchingEntries, type MirrorInput, type NetworkKind, type UserCatalog } from "./catalog";
import { checkDeadMirror } from "./dead-mirrors";
import { regionalAlternative, type ValidatedSelectionFields, validateSelectionFields } from "./select-fields";

export {
  resolveRegion,
  type SelectionFieldOptions,
  type ValidatedSelectionFields,
  validateSelectionFields,
} from "./select-fields";

/** What {@link selectMirrors} needs to pick the mirrors of one region. */
export interface RegionSelectionInput {
  /** The cloud the nodes run in. */
  cloud: CloudName;
  /** The nodes' region id, e.g. `us-west-2` or `cn-hangzhou`. */
  region: string;
  /**
   * Upstream registries to mirror (`docker.io`, `ghcr.io`, ..., or `*`). Default: `docker.io` plus every
   * registry named in `ecrPullThrough` and `fallbacks`.
   */
  registries?: string[];
  /** `vpc` (default): nodes run inside the cloud's private network and use private endpoints first; `public`: they do not. */
  network?: NetworkKind;
  /** AWS account (12 digits) that owns the ECR pull-through cache rules. Needed with `ecrPullThrough`. */
  awsAccountId?: string;
  /**
   * ECR pull-through cache rules to use, as upstream registry to repository prefix, e.g.
   * `{ "docker.io": "docker-hub", "quay.io": "quay" }` (AWS only).
   */
  ecrPullThrough?: Record<string, string>;
  /** Id of the account's Docker Hub accelerator, `https://<id>.mirror.aliyuncs.com` (Alibaba Cloud only). */
  alicloudAcceleratorId?: string;
  /** The user's own mirrors per region or region pattern, merged over the built-in catalog. */
  userCatalog?: UserCatalog;
  /** Mirrors per registry tried in every region after the regional ones (the user's global fallbacks). */
  fallbacks?: Record<string, MirrorInput[]>;
  /** Try the upstream registry after every mirror failed (default true). */
  upstreamFallback?: boolean;
  /** Keep known-dead public mirrors (with a warning) instead of refusing them. */
  allowDeprecatedMirrors?: boolean;
  /** Accept user mirror URLs with a path (see `MirrorPolicyInput.allowMirrorPaths`). */
  allowMirrorPaths?: boolean;
  /**
   * Accept `userCatalog` `insecureRegistries` CIDRs that cover public address space (`0.0.0.0/0`, `::/0`, ...),
   * with a warning; refused otherwise.
   */
  allowPublicInsecureRegistries?: boolean;
}

/** The mirrors chosen for one region. */
interface Candidate {
  input: MirrorInput;
  url: string;
  tier: Tier;
  why: string;
}

export interface RegionSelection {
  cloud: CloudName;
  region: string;
  /** The region's display name, e.g. `US West (Oregon)`. */
  regionName: string;
  /** The AWS partition (`aws`, `aws-cn`, `aws-us-gov`); absent for other clouds. */
  partition?: AwsPartition;
  /** A policy `normalisePolicy` (and so `MirrorDaemonConfig`) accepts as is. */
  policy: MirrorPolicyInput;
  /** One plain line per endpoint saying why it was chosen, in policy order, then what happens after the mirrors. */
  reasons: string[];
  /** Docker `insecure-registries` entries from the user catalog, sorted. */
  insecureRegistries: string[];
  /** Things worth knowing that are not errors (a deprecated mirror kept, a duplicate dropped, ...). */
  warnings: string[];
}

type Tier = "private" | "public" | "fallback";

export function selectMirrors(input: RegionSelectionInput): RegionSelection {
  if (!isPlainObject(input)) {
    throw new PolicyError(
      "selection",
      input,
      "expected an object with cloud and region",
      'write { cloud: "aws", region: "us-west-2" }',
    );
  }
  checkKnownFieldsOf(input);
  const fields = validateSelectionFields(input);
  const cloud = fields.cloud as CloudName;
  if (input.region === undefined) {
    throw new PolicyError(
      "region",
      undefined,
      "a region is required",
      `give the nodes' region, e.g. ${cloud === "aws" ? '"us-west-2"' : '"cn-hangzhou"'}`,
    );
  }
  const region = fields.region as AwsRegion | AlicloudRegion;
  const network = fields.network ?? "vpc";
  const warnings: string[] = [];

  if (fields.ecrPullThrough && fields.ecrPullThrough.size > 0) {
    if (cloud !== "aws") {
      throw new PolicyError(
        "ecrPullThrough",
        input.ecrPullThrough,
        "ECR pull-through cache rules exist only on AWS",
        'remove ecrPullThrough, or set cloud: "aws"',
      );
    }
    if (fields.awsAccountId === undefined) {
      throw new PolicyError(
        "awsAccountId",
        undefined,
        "ECR pull-through endpoints are per account, and no account id was given",
        "set awsAccountId to the 12-digit id of the account that owns the rules",
      );
    }
  }
  if (fields.alicloudAcceleratorId !== undefined && cloud !== "alicloud") {
    throw new PolicyError(
      "alicloudAcceleratorId",
      input.alicloudAcceleratorId,
      'the accelerator id applies to cloud "alicloud"',
      `remove it, or for ${cloud} nodes list ${acceleratorUrl(fields.alicloudAcceleratorId)} as a docker.io mirror in userCatalog`,
    );
  }

  const registries =
    fields.registries ??
    [...new Set([DOCKER_HUB, ...(fields.ecrPullThrough?.keys() ?? []), ...(fields.fallbacks?.keys() ?? [])])].sort(
      compareRegistries,
    );
  for (const registry of fields.ecrPullThrough?.keys() ?? []) {
    if (!registries.includes(registry)) {
      throw new PolicyError(
        `ecrPullThrough["${registry}"]`,
        registry,
        "this registry is not in registries, so its rule would never be used",
        `add "${registry}" to registries, or remove the rule`,
      );
    }
  }
  for (const registry of fields.fallbacks?.keys() ?? []) {
    if (!registries.includes(registry))
      warnings.push(`fallbacks["${registry}"]: ignored, because "${registry}" is not in registries`);
  }

  const entries = matchingEntries(fields.userCatalog ?? [], region.id);
  const alternative = regionalAlternative(cloud, region, fields);
  const upstreamFallback = input.upstreamFallback ?? true;
  const policyRegistries: Record<string, RegistryMirrorsInput> = {};
  const reasons: string[] = [];
  let usesEcrPaths = false;

  for (const registry of registries) {
    const candidates: Candidate[] = [];
    const fromCatalog = (tier: Tier, entryNetwork: NetworkKind) => {
      for (const entry of entries.filter((e) => e.network === entryNetwork)) {
        for (const m of entry.registries.get(registry) ?? []) {
          const kept = checkDeadMirror(m.field, m.url, {
            allowDeprecatedMirrors: input.allowDeprecatedMirrors,
            alternative,
          });
          const where = tier === "private" ? "in-region private mirror" : "regional mirror";
          const why = `${where} from userCatalog["${entry.key}"]${kept ? " (DEPRECATED: kept because allowDeprecatedMirrors is set)" : ""}`;
          if (kept) warnings.push(kept);
          candidates.push({ input: m.input, url: m.url, tier, why });
        }
      }
    };

    if (network === "vpc") fromCatalog("private", "vpc");
    else {
      for (const entry of entries.filter((e) => e.network === "vpc" && e.registries.has(registry))) {
        reasons.push(
          `${registry}: skipped the mirrors of userCatalog["${entry.key}"] (network "vpc") because the nodes' network is "public"`,
        );
      }
    }
    const builtIn = builtInCandidates(cloud, region, registry, network, fields);
    if (builtIn.some((c) => typeof c.input !== "string" && c.input.overridePath)) usesEcrPaths = true;
    candidates.push(...builtIn.filter((c) => c.tier === "private"));
    fromCatalog("public", "public");
    candidates.push(...builtIn.filter((c) => c.tier === "public"));
    for (const m of fields.fallbacks?.get(registry) ?? []) {
      const kept = checkDeadMirror(m.field, m.url, {
        allowDeprecatedMirrors: input.allowDeprecatedMirrors,
        alternative,
      });
      if (kept) warnings.push(kept);
      candidates.push({
        input: m.input,
        url: m.url,
        tier: "fallback",
        why: `global fallback from fallbacks${kept ? " (DEPRECATED: kept because allowDeprecatedMirrors is set)" : ""}`,
      });
    }

    const chosen: Candidate[] = [];
    for (const c of candidates) {
      if (chosen.some((k) => k.url === c.url)) {
        warnings.push(`${registry}: ${c.url} (${c.why}) is listed earlier already; the later copy is dropped`);
        continue;
      }
      chosen.push(c);
    }

    if (chosen.length === 0) {
      if (!upstreamFallback) {
        throw new PolicyError(
          "upstreamFallback",
          false,
          `${registry} has no mirror in ${cloud} ${region.id} and the upstream is disabled, so nothing could serve its images`,
          `add a mirror for ${registry} (${hintFor(cloud, registry)}), or leave upstreamFallback on`,
        );
      }
      reasons.push(
        `${registry}: no mirror known in ${cloud} ${region.id}, so pulls go straight to the upstream (${hintFor(cloud, registry)})`,
      );
      continue;
    }
    chosen.forEach((c, i) => reasons.push(`${registry} #${i + 1} ${c.url}: ${c.why}`));
    reasons.push(
      upstreamFallback
        ? `${registry}: then the upstream ${registry === ANY_REGISTRY ? "registry of each image" : registry} when every mirror failed`
        : `${registry}: the upstream is never contacted (upstreamFallback is false)`,
    );
    const entry: RegistryMirrorsInput = { mirrors: chosen.map((c) => c.input) };
    if (!upstreamFallback) entry.upstreamFallback = false;
    policyRegistries[registry] = entry;
  }

  const policy: MirrorPolicyInput = { registries: policyRegistries };
  if (input.allowMirrorPaths || usesEcrPaths) policy.allowMirrorPaths = true;
  // The policy is validated again where it is rendered: a dead mirror kept here must stay kept there.
  if (input.allowDeprecatedMirrors) policy.allowDeprecatedMirrors = true;
  if (usesEcrPaths && !input.allowMirrorPaths) {
    warnings.push(
      'the policy sets allowMirrorPaths because ECR pull-through endpoints carry their /v2/<prefix> path; Docker\'s registry-mirrors cannot use them (they need override_path and an ECR token); containerd can, with the token the node fetches (auth: "ecr"); CRI-O/podman skip them unless given their own ECR credentials (an auth.json entry for the ECR host, kept fresh)',
    );
  }
  const insecureRegistries = [...new Set(entries.flatMap((e) => e.insecureRegistries))].sort();
  for (const entry of entries) {
    entry.insecureRegistries.forEach((v, i) => {
      const kept = checkInsecureRange(`userCatalog.regions["${entry.key}"].insecureRegistries[${i}]`, v, {
        allowPublic: input.allowPublicInsecureRegistries,
      });
      if (kept) warnings.push(kept);
    });
  }
  if (insecureRegistries.length > 0) {
    reasons.push(
      `insecure registries ${insecureRegistries.join(", ")}: from userCatalog ${entries
        .filter((e) => e.insecureRegistries.length > 0)
        .map((e) => `["${e.key}"]`)
        .join(", ")}`,
    );
  }
  const selection: RegionSelection = {
    cloud,
    region: region.id,
    regionName: region.name,
    policy,
    reasons,
    insecureRegistries,
    warnings,
  };
  if (cloud === "aws") selection.partition = (region as AwsRegion).partition;
  return selection;
}

const INPUT_FIELDS = [
  "cloud",
  "region",
  "registries",
  "network",
  "awsAccountId",
  "ecrPullThrough",
  "alicloudAcceleratorId",
  "userCatalog",
  "fallbacks",
  "upstreamFallback",
  "allowDeprecatedMirrors",
  "allowMirrorPaths",
  "allowPublicInsecureRegistries",
];

function checkKnownFieldsOf(input: object): void {
  for (const key of Object.keys(input)) {
    if (!INPUT_FIELDS.includes(key)) {
      throw new PolicyError(key, key, "unknown field", `remove it, or use one of: ${INPUT_FIELDS.join(", ")}`);
    }
  }
}

function hintFor(cloud: CloudName, registry: string): string {
  if (cloud === "aws" && ecrUpstream(registry))
    return `give ecrPullThrough a rule for ${registry} with awsAccountId, or a userCatalog entry`;
  if (cloud === "alicloud" && registry === DOCKER_HUB) return "set alicloudAcceleratorId, or add a userCatalog entry";
  return "add a userCatalog entry or a fallback";
}

/** The endpoints the built-in catalog derives for one registry in one region. */
function builtInCandidates(
  cloud: CloudName,
  region: AwsRegion | AlicloudRegion,
  registry: string,
  network: NetworkKind,
  fields: ValidatedSelectionFields,
): Candidate[] {
  if (cloud === "aws") {
    const aws = region as AwsRegion;
    const prefix = fields.ecrPullThrough?.get(registry);
    if (prefix === undefined || fields.awsAccountId === undefined) return [];
    const url = ecrPullThroughUrl(fields.awsAccountId, aws, prefix);
    const how =
      network === "vpc"
        ? "in-region and private through the ECR interface VPC endpoint (same host name)"
        : "in-region over ECR's public endpoint";
    const endpoint: MirrorEndpointInput = { url, overridePath: true, auth: "ecr" };
    return [
      {
        input: endpoint,
        url,
        tier: network === "vpc" ? "private" : "public",
        why: `ECR pull-through cache rule "${prefix}" of account ${fields.awsAccountId} in ${aws.id} (${AWS_DNS_SUFFIX[aws.partition]}), ${how}; needs override_path and an ECR token, which the node fetches with its instance role and renews before its 12 h run out (auth "ecr"), so containerd uses it, CRI-O/podman only with their own ECR credentials, Docker's registry-mirrors cannot`,
      },
    ];
  }
  const ali = region as AlicloudRegion;
  const acr = acrEndpoints(ali);
  const out: Candidate[] = [];
  if (registry === acr.publicHost && network === "vpc") {
    const url = `https://${acr.vpcHost}`;
    out.push({
      input: url,
      url,
      tier: "private",
      why: `Container Registry VPC endpoint of ${ali.id}: same registry, reached inside the VPC without internet traffic`,
    });
  }
  if (registry === DOCKER_HUB && fields.alicloudAcceleratorId !== undefined) {
    const url = acceleratorUrl(fields.alicloudAcceleratorId);
    out.push({
      input: url,
      url,
      tier: "public",
      why: `Docker Hub accelerator of the Alibaba Cloud account (id ${fields.alicloudAcceleratorId})`,
    });
  }
  return out;
}

/**
 * A note when an ACR registry host is used as a Docker Hub mirror: it serves only images pushed to your own
 * namespaces, so `docker.io/library/nginx` is not there (a common copy-paste from the seed article).
 */
