import { stringify } from "smol-toml";
import { PolicyError } from "../errors";
import { ANY_REGISTRY, type MirrorEndpoint, type MirrorPolicy, ecrTokenNotSentWarning } from "../policy";
import { containerdApiRoot, endpointField, GENERATED_HEADER } from "./containerd";
import type { NodeFile } from "./types";

/** The drop-in CRI-O and podman read after `/etc/containers/registries.conf` (the distribution's file stays intact). */
export const REGISTRIES_CONF_DROPIN = "/etc/containers/registries.conf.d/50-registry-mirrors.conf";

/** Options of {@link renderRegistriesConf}. */
export interface RegistriesConfOptions {
  /** Receives a note for every containerd-only setting the drop-in has no place for (`dialTimeout`, `capabilities`). */
  warnings?: string[];
}

/**
 * A mirror as containers-registries.conf writes it: `host[:port][/namespace]` without scheme. The path there
 * comes after `/v2/` (a namespace), so only endpoints whose API root starts with `/v2` can be written; a URL
 * path before `/v2` (a reverse-proxy prefix) has no registries.conf equivalent.
 */
export function namespacedLocation(field: string, endpoint: MirrorEndpoint, format: string, runtime: string): string {
  const root = containerdApiRoot(endpoint);
  if (root !== "/v2" && !root.startsWith("/v2/")) {
    throw new PolicyError(
      `${field}.url`,
      endpoint.url,
      `${format} puts a mirror's path after /v2/ (a namespace), so it cannot reach this mirror, whose registry API is served under "${root}"`,
      `for a namespace on the mirror write the URL as "${endpoint.scheme}://${endpoint.host}/v2/<namespace>" with overridePath: true, or leave ${runtime} out of runtimes`,
    );
  }
  return `${endpoint.host}${root.slice(3)}`;
}

/** Refuses endpoint settings registries.conf cannot express (it would otherwise ignore them silently). */
function checkEndpoint(field: string, e: MirrorEndpoint, warnings: string[] | undefined): void {
  const refuse = (setting: string, value: unknown, fix: string) => {
    throw new PolicyError(
      `${field}.${setting}`,
      value,
      `CRI-O/podman registries.conf has no per-mirror ${setting} setting`,
      fix,
    );
  };
  if (e.caFile !== undefined)
    refuse(
      "caFile",
      e.caFile,
      `put the CA at /etc/containers/certs.d/${e.host}/ca.crt on the node (containers-certs.d(5)) and remove caFile, or leave crio/podman out of runtimes`,
    );
  if (e.clientCertFile !== undefined)
    refuse(
      "clientCertFile",
      e.clientCertFile,
      `put the client cert and key at /etc/containers/certs.d/${e.host}/client.cert and client.key (containers-certs.d(5)) and remove clientCertFile/clientKeyFile, or leave crio/podman out of runtimes`,
    );
  if (Object.keys(e.headers).length > 0)
    refuse(
      "headers",
      Object.keys(e.headers),
      "give mirror credentials through an auth file (containers-auth.json(5)) instead of headers, or leave crio/podman out of runtimes",
    );
  if (!e.capabilities.includes("pull"))
    refuse(
      "capabilities",
      e.capabilities,
      'registries.conf mirrors are only used for pulls: add "pull" or remove this mirror for crio/podman',
    );
  if (e.capabilities.join() !== "pull,resolve") {
    warnings?.push(
      `${field}.capabilities: registries.conf has no capabilities; CRI-O/podman use this mirror for pulls (use pullFromMirror: "digest-only" to keep tag pulls off it)`,
    );
  }
  if (e.dialTimeout !== undefined)
    warnings?.push(`${field}.dialTimeout: registries.conf has no dial timeout; CRI-O/podman use their default`);
  if (e.auth === "ecr") warnings?.push(ecrTokenNotSentWarning(field, "CRI-O/podman", e));
}

/**
 * Renders the CRI-O/podman drop-in (containers-registries.conf v2): one `[[registry]]` per registry with
 * `[[registry.mirror]]` entries in policy order; `insecure = true` for an `http://` or TLS-unverified mirror;
 * `pull-from-mirror` when not `all`.
 *
 * `upstreamFallback: false` makes the last mirror the registry's `location` (tried last, after the other
 * mirrors), so the upstream is never contacted; `blocked = true` would forbid the mirrors too. registries.conf
 * has no catch-all prefix (podman refuses `prefix = "*"` and only knows `*.example.com` sub-domain wildcards),
 * so a policy with `*` is refused for CRI-O/podman.
 */
export function renderRegistriesConf(policy: MirrorPolicy, options: RegistriesConfOptions = {}): NodeFile {
  const registry = policy.registries.map((entry) => {
    if (entry.registry === ANY_REGISTRY) {
      throw new PolicyError(
        `policy.registries["*"]`,
        ANY_REGISTRY,
        'CRI-O/podman registries.conf has no entry for every registry (podman refuses prefix "*"), so these mirrors would never be used',
        "list each registry to mirror by name (docker.io, ghcr.io, quay.io, ...) for crio/podman, or leave crio/podman out of runtimes",
      );
    }
    const mirrors = entry.endpoints.map((e, i) => {
      const field = endpointField(entry.registry, i);
      checkEndpoint(field, e, options.warnings);
      const mirror: Record<string, unknown> = {
        location: namespacedLocation(field, e, "registries.conf", "crio/podman"),
      };
      if (e.insecure || e.scheme === "http") mirror.insecure = true;
      if (e.pullFromMirror !== "all") mirror["pull-from-mirror"] = e.pullFromMirror;
      return mirror;
    });
    const table: Record<string, unknown> = { prefix: entry.registry, location: entry.registry };
    if (!entry.upstreamFallback) {
      const last = mirrors.pop() as Record<string, unknown>;
      const index = entry.endpoints.length - 1;
      if (last["pull-from-mirror"] !== undefined) {
        throw new PolicyError(
          endpointField(entry.registry, index, "pullFromMirror"),
          last["pull-from-mirror"],
          "with upstreamFallback: false the last mirror becomes the registry's location and serves every pull",
          "remove pullFromMirror from the last mirror, or set upstreamFallback: true",
        );
      }
      table.location = last.location;
      if (last.insecure) table.insecure = true;
    }
    if (mirrors.length > 0) table.mirror = mirrors;
    return table;
  });
  return {
    path: REGISTRIES_CONF_DROPIN,
    content: registry.length > 0 ? `${GENERATED_HEADER}${stringify({ registry }).trim()}\n` : GENERATED_HEADER,
    mode: 0o644,
  };
}
