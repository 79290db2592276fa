/**
 * Spegel's Helm chart values from the mirror policy. Spegel (P2P inside a cluster) and the node apply script both want
 * containerd's hosts folder; the ownership model that keeps them from fighting:
 *
 * - Spegel owns the live `<hostsDir>/<registry>/hosts.toml` of every registry it mirrors. Its `configuration` init
 *   container rewrites the whole folder at every start: the first start moves everything into `<hostsDir>/_backup/`,
 *   each start writes its own node-local endpoints first and, with `prependExisting: true`, appends the `[host]`
 *   entries of `_backup/<registry>/hosts.toml`, then `server` = the upstream. Its cleanup (the chart's post-delete
 *   hook) moves `_backup/` back.
 * - The apply script owns `_backup/<registry>/hosts.toml` (our mirrors) while `_backup/` exists, and the live files
 *   when it does not. It keeps the live file in the form Spegel writes (Spegel's entries untouched, then ours), so the
 *   order is P2P → our mirrors → upstream whichever of the two ran first, and a re-apply or restore of either leaves
 *   the other working.
 *
 * So with `mirrors: "hosts"` (the default) the values name every registry of the policy (Spegel deletes the file of any
 * registry it does not mirror) and keep `prependExisting` on; our mirrors reach the file through the apply script.
 * `mirrors: "values"` puts our mirrors into `additionalMirrorTargets` instead, for clusters where Spegel is the only
 * writer of the folder: Spegel writes one list for every registry, without a path or per-mirror settings, with its own
 * 200 ms dial timeout.
 */
import { PolicyError } from "../errors";
import {
  ANY_REGISTRY,
  type MirrorEndpoint,
  type MirrorPolicy,
  type MirrorPolicyInput,
  normalisePolicy,
} from "../policy";
import { DEFAULT_CONTAINERD_CERTS_DIR, endpointField } from "../render/containerd";

/** The Spegel chart this library renders values for and deploys (`oci://ghcr.io/spegel-org/helm-charts/spegel`). */
export const SPEGEL_CHART = "oci://ghcr.io/spegel-org/helm-charts/spegel";
/** The pinned chart version (Spegel v0.7.4); its values.yaml is what the values are checked against. */
export const SPEGEL_CHART_VERSION = "0.7.4";

/** How the policy's mirrors reach the hosts.toml files Spegel writes. */
export type SpegelMirrorDelivery = "hosts" | "values";

/** Options of {@link spegelValues}. */
export interface SpegelOptions {
  /** containerd's hosts folder, the same as the node files' (`certsDir`); default `/etc/containerd/certs.d`. */
  certsDir?: string;
  /**
   * `"hosts"` (default): the apply script's per-registry files, which Spegel appends (`prependExisting`).
   * `"values"`: `additionalMirrorTargets`, one list for every registry; render no containerd files then.
   */
  mirrors?: SpegelMirrorDelivery;
  /** Spegel resolves tags to digests (`resolveTags`, default true); with false its hosts get only `pull`. */
  resolveTags?: boolean;
}

/** The part of Spegel's chart values this library sets (every key exists in the chart's values.yaml). */
export interface SpegelChartValues {
  spegel: {
    mirroredRegistries: string[];
    additionalMirrorTargets: string[];
    containerdRegistryConfigPath: string;
    containerdMirrorAdd: boolean;
    prependExisting: boolean;
    resolveTags: boolean;
  };
}

/** The registry as Spegel's `mirroredRegistries` names it: `https://host[:port]`, or `_default` for `*`. */
export function spegelRegistry(registry: string): string {
  return registry === ANY_REGISTRY ? "_default" : `https://${registry}`;
}

function sameTargets(a: MirrorEndpoint[], b: MirrorEndpoint[]): boolean {
  return a.length === b.length && a.every((e, i) => e.url === b[i].url);
}

/** The settings of an endpoint Spegel's template cannot write (it writes the URL, capabilities and dial_timeout). */
function customSettings(e: MirrorEndpoint): string[] {
  const found: string[] = [];
  if (e.path !== "") found.push("a path");
  if (e.overridePath) found.push("overridePath");
  if (e.insecure) found.push("insecure");
  if (e.caFile !== undefined) found.push("caFile");
  if (e.clientCertFile !== undefined) found.push("clientCertFile");
  if (e.dialTimeout !== undefined) found.push("dialTimeout");
  if (Object.keys(e.headers).length > 0) found.push("headers");
  if (e.capabilities.join() !== "pull,resolve") found.push("capabilities");
  return found;
}

/**
 * Spegel's chart values for a policy (see the module comment for who writes which file). Refuses what Spegel would
 * lose: `upstreamFallback: false` (Spegel always writes the upstream as `server`), ECR mirrors (Spegel keeps a copy of
 * the token header, which expires), and with `mirrors: "values"` anything one shared list of plain URLs cannot say.
 */
export function spegelValues(
  policyInput: MirrorPolicyInput | MirrorPolicy,
  options: SpegelOptions = {},
): SpegelChartValues {
  const policy = isNormalised(policyInput) ? policyInput : normalisePolicy(policyInput).policy;
  const delivery = options.mirrors ?? "hosts";
  if (delivery !== "hosts" && delivery !== "values") {
    throw new PolicyError("spegel.mirrors", delivery, "unknown delivery", 'use "hosts" (the default) or "values"');
  }
  const certsDir = (options.certsDir ?? DEFAULT_CONTAINERD_CERTS_DIR).replace(/\/+$/, "");
  if (!certsDir.startsWith("/") || certsDir.includes(":")) {
    throw new PolicyError(
      "spegel.certsDir",
      options.certsDir,
      "must be one absolute folder",
      "give the folder containerd's config_path points at, the same as the node files', e.g. \"/etc/containerd/certs.d\"",
    );
  }
  if (options.resolveTags !== undefined && typeof options.resolveTags !== "boolean") {
    throw new PolicyError("spegel.resolveTags", options.resolveTags, "must be true or false", "write true or false");
  }
  if (policy.registries.length === 0) {
    throw new PolicyError(
      "policy.registries",
      {},
      "Spegel mirrors every registry when given none, and would then delete the hosts.toml of any registry it does not write",
      'list the registries to share between nodes, e.g. { "docker.io": { mirrors: [] } }',
    );
  }
  for (const entry of policy.registries) {
    const field = `policy.registries["${entry.registry}"]`;
    if (!entry.upstreamFallback) {
      throw new PolicyError(
        `${field}.upstreamFallback`,
        false,
        "Spegel always writes the upstream registry as the last resort (server), so the last mirror would be lost",
        "set upstreamFallback: true for registries Spegel shares",
      );
    }
    entry.endpoints.forEach((e, i) => {
      if (e.auth === "ecr") {
        throw new PolicyError(
          endpointField(entry.registry, i, "auth"),
          "ecr",
          "Spegel copies each mirror's headers once, so the ECR token the node refreshes would expire in its copy",
          "leave ECR mirrors out of a policy Spegel shares (use them on nodes without Spegel)",
        );
      }
    });
  }
  let targets: string[] = [];
  if (delivery === "values") {
    const [first] = policy.registries;
    for (const entry of policy.registries) {
      if (!sameTargets(entry.endpoints, first.endpoints)) {
        throw new PolicyError(
          `policy.registries["${entry.registry}"].mirrors`,
          entry.endpoints.map((e) => e.url),
          `additionalMirrorTargets is one list for every registry, and ${first.registry} has ${JSON.stringify(first.endpoints.map((e) => e.url))}`,
          'give every registry the same mirrors, or use mirrors: "hosts" (the apply script writes each registry\'s own)',
        );
      }
      entry.endpoints.forEach((e, i) => {
        const custom = customSettings(e);
        if (custom.length > 0) {
          throw new PolicyError(
            endpointField(entry.registry, i),
            e.url,
            `Spegel writes a mirror target as a bare URL with its own capabilities and a 200 ms dial timeout, so ${custom.join(", ")} would be lost`,
            'use mirrors: "hosts" (the apply script writes each mirror with its settings), or drop those settings',
          );
        }
      });
    }
    targets = first.endpoints.map((e) => e.url);
  }
  return {
    spegel: {
      mirroredRegistries: policy.registries.map((r) => spegelRegistry(r.registry)),
      additionalMirrorTargets: targets,
      containerdRegistryConfigPath: certsDir,
      containerdMirrorAdd: true,
      prependExisting: delivery === "hosts",
      resolveTags: options.resolveTags ?? true,
    },
  };
}

function isNormalised(policy: MirrorPolicyInput | MirrorPolicy): policy is MirrorPolicy {
  return Array.isArray((policy as MirrorPolicy).registries);
}
