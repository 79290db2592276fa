import * as pulumi from "@pulumi/pulumi";
// Safe at the package root: this module loads the AWS SDK subpaths only when it creates resources.
import { createEcrPullThroughCache } from "./aws/ecr-pull-through";
import type { MirrorArg } from "./args";
import type { EcrUpstreamCredentialArgs } from "./aws/ecr-upstream-credential";
import { PolicyError } from "./core/errors";
import { type MirrorPolicyInput, normaliseRegistryName } from "./core/policy";
import { defaultEcrPullThrough } from "./core/regions/aws";
import { type CloudName, type NetworkKind, type UserCatalog, validateCloud } from "./core/regions/catalog";
import {
  checkProbeOrderOptions,
  orderByProbe,
  probeMirrors,
  type ProbeResult,
  probeTargets,
} from "./core/regions/probe";
import {
  type RegionSelection,
  type RegionSelectionInput,
  selectMirrors,
  validateSelectionFields,
} from "./core/regions/select";
import { stackUniqueName } from "./names";
import { isKnown, OutputsOnDemand, onResource, resourceError } from "./outputs";

/** The optional health probe of {@link RegionalMirrorSelector}. */
export interface RegionalMirrorProbeArgs {
  /**
   * Probe every candidate (`GET /v2/`) when the program runs and drop the ones that fail. Default false. The order
   * stays the policy's unless `order` is `"latency"`, so latency noise never changes the nodes' files.
   */
  enabled?: pulumi.Input<boolean>;
  /**
   * `"policy"` (default): only drop failing mirrors. `"latency"`: also move a mirror ahead of earlier ones it beats by
   * more than `latencyMarginMs`. A preview that does not probe (see `duringPreview`) shows the policy order.
   */
  order?: pulumi.Input<"policy" | "latency">;
  /** With `order: "latency"`: how much faster (ms) a mirror must be to move ahead. Default 100. */
  latencyMarginMs?: pulumi.Input<number>;
  /** Also probe during `pulumi preview` (default false: previews stay side-effect free and repeatable). */
  duringPreview?: pulumi.Input<boolean>;
  /** Per-mirror timeout in milliseconds (default 3000). */
  timeoutMs?: pulumi.Input<number>;
  /** Mirrors probed at once (default 4). */
  concurrency?: pulumi.Input<number>;
}

/** Arguments of {@link RegionalMirrorSelector}. */
export interface RegionalMirrorSelectorArgs {
  /** The cloud the nodes run in: `aws` or `alicloud`. */
  cloud: pulumi.Input<CloudName>;
  /** The nodes' region. Default: the region of this component's `aws` or `alicloud` provider. */
  region?: pulumi.Input<string>;
  /** Upstream registries to mirror. Default `docker.io` plus those named in `ecrPullThrough` and `fallbacks`. */
  registries?: pulumi.Input<pulumi.Input<string>[]>;
  /** `vpc` (default) for nodes inside the cloud's private network, `public` for nodes outside it. */
  network?: pulumi.Input<NetworkKind>;
  /**
   * AWS account that owns the ECR pull-through cache rules (12 digits). Default, when ECR endpoints are wanted:
   * the provider's account (`aws.getCallerIdentity`).
   */
  awsAccountId?: pulumi.Input<string>;
  /**
   * ECR pull-through cache rules to use, upstream registry to repository prefix, e.g. `{ "docker.io": "docker-hub" }`.
   * Default with `createPullThroughCache`: a rule per mirrored registry ECR can cache, with AWS's usual prefix and the
   * stack (`docker-hub-<stack>`), since a prefix is unique in an account and region and two stacks of one program
   * would otherwise fight over it. Give the prefixes to share rules or keep existing ones.
   */
  ecrPullThrough?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Id of the Alibaba Cloud account's Docker Hub accelerator (`https://<id>.mirror.aliyuncs.com`). */
  alicloudAcceleratorId?: pulumi.Input<string>;
  /** Your own mirrors per region or region pattern (`cn-*`), merged over the built-in catalog. */
  userCatalog?: pulumi.Input<UserCatalog>;
  /** Mirrors per registry tried in every region after the regional ones; each URL or endpoint may be an Output. */
  fallbacks?: pulumi.Input<Record<string, pulumi.Input<MirrorArg[]>>>;
  /** Try the upstream registry last (default true). */
  upstreamFallback?: pulumi.Input<boolean>;
  /** Keep known-dead public mirrors with a warning instead of refusing them. */
  allowDeprecatedMirrors?: pulumi.Input<boolean>;
  /** Accept user mirror URLs with a path (dockerd 24.0.6 and older refuse them). */
  allowMirrorPaths?: pulumi.Input<boolean>;
  /** Accept `userCatalog` insecure-registries CIDRs over public address space (`0.0.0.0/0`, ...) with a warning. */
  allowPublicInsecureRegistries?: pulumi.Input<boolean>;
  /**
   * Create the ECR pull-through cache rules (and the Secrets Manager secrets Docker Hub, GHCR and GitLab need) as
   * children of this component. AWS only; `registries` and `ecrPullThrough` must then be known values.
   */
  createPullThroughCache?: boolean;
  /** Upstream credentials for the created rules, per registry (`docker.io`, `ghcr.io`, `registry.gitlab.com`). */
  pullThroughCredentials?: Record<string, EcrUpstreamCredentialArgs>;
  /** Existing `ecr-pullthroughcache/...` secrets (ARN) for the created rules, per registry. */
  pullThroughCredentialArns?: Record<string, pulumi.Input<string>>;
  /** Health probe of the chosen mirrors; off by default. */
  probe?: RegionalMirrorProbeArgs;
}

const SELECTION_FIELDS = [
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
] as const;

/**
 * Picks the mirrors for the nodes' cloud region and outputs a validated mirror policy (`policy`) that
 * `MirrorDaemonConfig` takes as is: in-region private endpoints first, then regional public ones, the user's
 * fallbacks, then the upstream. Known-dead public mirrors are refused. Optionally creates the ECR pull-through
 * cache rules, and probes the mirrors to drop the ones that do not answer.
 */
export class RegionalMirrorSelector extends pulumi.ComponentResource {
  /** The ordered mirror policy for the region. */
  public readonly policy: pulumi.Output<MirrorPolicyInput>;
  /** The ECR pull-through cache rules and secrets created with `createPullThroughCache`. */
  public readonly pullThroughCacheResources: pulumi.CustomResource[];

  /** The selection, when it was made at construction (every argument known, nothing to look up or probe). */
  private readonly chosen: (RegionSelection & { probeResults: ProbeResult[] }) | undefined;
  private readonly selection: pulumi.Output<RegionSelection & { probeResults: ProbeResult[] }> | undefined;
  private readonly outputs = new OutputsOnDemand();

  constructor(name: string, args: RegionalMirrorSelectorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("registry-mirrors:index:RegionalMirrorSelector", name, {}, opts);

    const given: Record<string, unknown> = {};
    for (const field of SELECTION_FIELDS) if (args[field] !== undefined) given[field] = args[field];
    const wantsEcr = args.createPullThroughCache || args.ecrPullThrough !== undefined;
    // Everything known and nothing to wait for (no probe, no provider lookups): select now, as MirrorDaemonConfig
    // renders known inputs now, instead of wrapping every argument in Outputs and selecting in an apply.
    const fast =
      !args.probe?.enabled &&
      !args.createPullThroughCache &&
      args.region !== undefined &&
      (!wantsEcr || args.awsAccountId !== undefined) &&
      isKnown(given);
    // Otherwise validate every input already known, so a bad value fails here rather than inside an apply (the
    // selection itself validates them all when they are all known).
    if (!fast) {
      const known: Partial<RegionSelectionInput> = {};
      for (const field of SELECTION_FIELDS) {
        const value = args[field];
        if (value !== undefined && isKnown(value)) (known as Record<string, unknown>)[field] = value;
      }
      validateSelectionFields(known, {
        checkDeadMirrors: args.allowDeprecatedMirrors === undefined || isKnown(args.allowDeprecatedMirrors),
        checkInsecureRanges:
          args.allowPublicInsecureRegistries === undefined || isKnown(args.allowPublicInsecureRegistries),
      });
    }
    const probe = args.probe ?? {};
    if (isKnown(probe.order) && isKnown(probe.latencyMarginMs))
      checkProbeOrderOptions({
        order: probe.order as "policy" | "latency" | undefined,
        latencyMarginMs: probe.latencyMarginMs as number | undefined,
      });

    let ecrPullThrough: pulumi.Input<Record<string, pulumi.Input<string>>> | undefined = args.ecrPullThrough;
    this.pullThroughCacheResources = [];
    if (args.createPullThroughCache) {
      ecrPullThrough = this.createPullThroughCache(name, args);
    }

    const region: pulumi.Input<string> = args.region ?? this.providerRegion(args.cloud);
    const awsAccountId = args.awsAccountId ?? (wantsEcr ? this.providerAccountId() : undefined);

    if (fast) {
      // One Output per value read, made from the plain selection: no apply chain to wait for.
      const chosen = { ...selectMirrors(given as unknown as RegionSelectionInput), probeResults: [] as ProbeResult[] };
      this.chosen = chosen;
      this.policy = pulumi.output(chosen.policy);
      chosen.warnings.forEach((w) => pulumi.log.warn(w, this));
      this.registerOutputs({});
      return;
    }
    const selection: pulumi.Output<RegionSelection & { probeResults: ProbeResult[] }> = pulumi
      .all([
        pulumi.output({
          ...args,
          ecrPullThrough,
          awsAccountId,
          region,
          createPullThroughCache: undefined,
          pullThroughCredentials: undefined,
          pullThroughCredentialArns: undefined,
          probe: undefined,
        }),
        pulumi.output(probe),
      ])
      .apply(async ([resolved, probeArgs]) => {
        const input: Record<string, unknown> = {};
        for (const field of SELECTION_FIELDS) if (resolved[field] !== undefined) input[field] = resolved[field];
        const chosen = onResource(
          () => this,
          () => {
            checkProbeOrderOptions({ order: probeArgs.order, latencyMarginMs: probeArgs.latencyMarginMs });
            return selectMirrors(input as unknown as RegionSelectionInput);
          },
        );
        const run = probeArgs.enabled === true && (!pulumi.runtime.isDryRun() || probeArgs.duringPreview === true);
        if (!run) return { ...chosen, probeResults: [] as ProbeResult[] };
        return this.probe(chosen, probeArgs).catch((error: unknown) => {
          throw resourceError(error, this);
        });
      });

    this.selection = selection;
    this.policy = selection.apply((s) => s.policy);
    selection.apply((s) => s.warnings.forEach((w) => pulumi.log.warn(w, this)));
    this.registerOutputs({});
  }

  /** A part of the selection as an Output, made on first use. */
  private part<T>(key: string, pick: (s: RegionSelection & { probeResults: ProbeResult[] }) => T): pulumi.Output<T> {
    return this.outputs.get(key, () =>
      this.chosen
        ? (pulumi.output(pick(this.chosen)) as pulumi.Output<T>)
        : (this.selection as pulumi.Output<RegionSelection & { probeResults: ProbeResult[] }>).apply(pick),
    );
  }

  /** The region the mirrors were chosen for. */
  get region(): pulumi.Output<string> {
    return this.part("region", (s) => s.region);
  }

  /** One plain line per chosen endpoint saying why it was chosen (shown in previews). */
  get reasons(): pulumi.Output<string[]> {
    return this.part("reasons", (s) => s.reasons);
  }

  /** Docker `insecure-registries` entries from the user catalog (e.g. `10.0.0.0/8`). */
  get insecureRegistries(): pulumi.Output<string[]> {
    return this.part("insecureRegistries", (s) => s.insecureRegistries);
  }

  /** Probe results, best first; empty when the probe did not run. */
  get probeResults(): pulumi.Output<ProbeResult[]> {
    return this.part("probeResults", (s) => s.probeResults);
  }

  /** Warnings (also logged): deprecated mirrors kept, duplicates dropped, probe fallbacks. */
  get warnings(): pulumi.Output<string[]> {
    return this.part("warnings", (s) => s.warnings);
  }

  private async probe(
    chosen: RegionSelection,
    probeArgs: pulumi.Unwrap<RegionalMirrorProbeArgs>,
  ): Promise<RegionSelection & { probeResults: ProbeResult[] }> {
    const probeResults = await probeMirrors(probeTargets(chosen.policy), {
      timeoutMs: probeArgs.timeoutMs,
      concurrency: probeArgs.concurrency,
    });
    const ordered = orderByProbe(chosen.policy, probeResults, {
      order: probeArgs.order,
      latencyMarginMs: probeArgs.latencyMarginMs,
    });
    return {
      ...chosen,
      policy: ordered.policy,
      reasons: [
        ...chosen.reasons,
        ...probeResults.map((r) => `probe ${r.url}: ${r.ok ? `${r.latencyMs} ms` : "failed"} (${r.reason})`),
        ...ordered.dropped,
      ],
      warnings: [...chosen.warnings, ...ordered.warnings],
      probeResults,
    };
  }

  /** The region of the component's provider, through the provider's own data source (loaded only when needed). */
  private providerRegion(cloudInput: pulumi.Input<CloudName>): pulumi.Output<string> {
    return pulumi.output(cloudInput).apply((cloud) => {
      validateCloud("cloud", cloud);
      if (cloud === "aws") {
        const { getRegionOutput } = require("@pulumi/aws/getRegion") as typeof import("@pulumi/aws/getRegion");
        return getRegionOutput({}, { parent: this }).apply((r) => r.region ?? r.name);
      }
      const { getRegionsOutput } =
        require("@pulumi/alicloud/getRegions") as typeof import("@pulumi/alicloud/getRegions");
      return getRegionsOutput({ current: true }, { parent: this }).apply((r) => {
        const id = r.ids?.[0] ?? r.regions?.[0]?.id;
        if (!id)
          throw new PolicyError(
            "region",
            undefined,
            "the alicloud provider reported no current region",
            "set region explicitly, or configure alicloud:region",
          );
        return id;
      });
    });
  }

  private providerAccountId(): pulumi.Output<string> {
    const { getCallerIdentityOutput } =
      require("@pulumi/aws/getCallerIdentity") as typeof import("@pulumi/aws/getCallerIdentity");
    return getCallerIdentityOutput({}, { parent: this }).accountId;
  }

  /** Creates the ECR rules outside any apply (so previews show them) and returns the rules fed into the selection. */
  private createPullThroughCache(name: string, args: RegionalMirrorSelectorArgs): Record<string, string> {
    if (!isKnown(args.cloud) || args.cloud !== "aws") {
      throw new PolicyError(
        "createPullThroughCache",
        true,
        "ECR pull-through cache rules are created on AWS only, and cloud must be known when the program runs",
        'set cloud: "aws", or remove createPullThroughCache',
      );
    }
    if (args.ecrPullThrough !== undefined && !isKnown(args.ecrPullThrough)) {
      throw new PolicyError(
        "ecrPullThrough",
        "(an Output)",
        "with createPullThroughCache the rules must be known when the program runs (resources are never created inside an apply)",
        "pass plain strings for ecrPullThrough",
      );
    }
    if (args.registries !== undefined && !isKnown(args.registries)) {
      throw new PolicyError(
        "registries",
        "(an Output)",
        "with createPullThroughCache the registries must be known when the program runs",
        "pass a plain list of registries",
      );
    }
    let rules = args.ecrPullThrough as Record<string, string> | undefined;
    if (rules === undefined) {
      const registries = ((args.registries as string[] | undefined) ?? ["docker.io"]).map((r, i) =>
        normaliseRegistryName(`registries[${i}]`, r),
      );
      rules = Object.fromEntries(
        Object.entries(defaultEcrPullThrough(registries)).map(([registry, prefix]) => [
          registry,
          stackUniqueName(prefix, 30),
        ]),
      );
    }
    const created = createEcrPullThroughCache(
      name,
      {
        rules,
        credentials: args.pullThroughCredentials,
        credentialArns: args.pullThroughCredentialArns,
        region: args.region,
      },
      { parent: this },
    );
    this.pullThroughCacheResources.push(...Object.values(created.secrets), ...Object.values(created.rules));
    return rules;
  }
}
