import * as pulumi from "@pulumi/pulumi";
import type * as k8s from "@pulumi/kubernetes";
import { SPEGEL_CHART, SPEGEL_CHART_VERSION, type SpegelOptions, spegelValues } from "../core/p2p";
import type { MirrorPolicyInput } from "../core/policy";

/** Arguments of {@link createSpegelRelease}. */
export interface SpegelReleaseArgs {
  /** The mirror policy the nodes use (the same one `MirrorDaemonConfig` renders). */
  policy: pulumi.Input<MirrorPolicyInput>;
  /**
   * How the policy becomes Spegel's values: containerd's hosts folder (`certsDir`, the same as the node files'),
   * `mirrors` (`"hosts"`: the apply script's files, rendered with `runtimeOptions.containerd.spegel: true`; `"values"`:
   * `additionalMirrorTargets`), `resolveTags`.
   */
  spegel?: SpegelOptions;
  /** Namespace of the release; default `"spegel"` (created when missing). */
  namespace?: pulumi.Input<string>;
  /** Chart version; default the one this library's values are checked against (`SPEGEL_CHART_VERSION`). */
  chartVersion?: pulumi.Input<string>;
  /**
   * Other chart values (resources, tolerations, serviceMonitor, ...). The `spegel.*` keys the policy decides
   * (mirroredRegistries, additionalMirrorTargets, containerdRegistryConfigPath, containerdMirrorAdd, prependExisting,
   * resolveTags) are the policy's and win.
   */
  values?: pulumi.Input<Record<string, unknown>>;
}

/** What {@link createSpegelRelease} created. */
export interface SpegelRelease {
  release: k8s.helm.v3.Release;
  /** The chart values the release was given. */
  values: pulumi.Output<Record<string, unknown>>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `over` merged into `base`, object by object (arrays and scalars of `over` replace). */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? merge(out[k], v) : v;
  return out;
}

/** True when `value` holds no Output or Promise, so it can be checked now rather than inside an apply. */
function isKnown(value: unknown): boolean {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return false;
  if (Array.isArray(value)) return value.every(isKnown);
  if (isObject(value)) return Object.values(value).every(isKnown);
  return true;
}

/**
 * Deploys Spegel (P2P image sharing between nodes) with its Helm chart (`oci://ghcr.io/spegel-org/helm-charts/spegel`,
 * pinned) and values rendered from the mirror policy (`spegelValues`): every registry of the policy is shared, and the
 * node apply script's mirrors follow Spegel's node-local endpoint in each hosts.toml, then the upstream. Render the
 * node files with `runtimeOptions: { containerd: { spegel: true } }` so the apply script and Spegel share the folder
 * (see core/p2p/spegel.ts for who writes which file). Loads the Kubernetes SDK only when called.
 */
export function createSpegelRelease(
  name: string,
  args: SpegelReleaseArgs,
  opts: pulumi.CustomResourceOptions = {},
): SpegelRelease {
  // A policy known now is checked now: an error inside an apply would only surface as an unhandled rejection.
  if (isKnown(args.policy)) spegelValues(args.policy as MirrorPolicyInput, args.spegel);
  const helm = require("@pulumi/kubernetes/helm/v3") as typeof import("@pulumi/kubernetes/helm/v3");
  const values = pulumi
    .all([args.policy, args.values ?? {}])
    .apply(([policy, extra]) =>
      merge(extra as Record<string, unknown>, spegelValues(policy as MirrorPolicyInput, args.spegel) as never),
    );
  const release = new helm.Release(
    `${name}-spegel`,
    {
      chart: SPEGEL_CHART,
      version: args.chartVersion ?? SPEGEL_CHART_VERSION,
      namespace: args.namespace ?? "spegel",
      createNamespace: true,
      values,
    },
    opts,
  );
  return { release, values };
}
