import { stringify } from "smol-toml";
import { PolicyError } from "../errors";
import {
  ANY_REGISTRY,
  compareRegistries,
  type MirrorEndpoint,
  type MirrorPolicy,
  ecrTokenNotSentWarning,
} from "../policy";
import { endpointField, GENERATED_HEADER } from "./containerd";
import { namespacedLocation } from "./registries-conf";
import type { NodeFile } from "./types";

/** Where buildkitd reads its configuration. */
export const BUILDKITD_TOML = "/etc/buildkit/buildkitd.toml";

/** Options of {@link renderBuildkitToml}. */
export interface BuildkitTomlOptions {
  /** Receives a note for every registry or setting BuildKit has no place for (`*`, `dialTimeout`, ...). */
  warnings?: string[];
}

interface HostTable {
  mirrors?: string[];
  http?: boolean;
  insecure?: boolean;
  ca?: string[];
  keypair?: Array<{ key: string; cert: string }>;
}

/** The `[registry."host"]` settings an endpoint needs to be reached (plain HTTP, skip-verify, CA, client cert). */
function hostSettings(field: string, e: MirrorEndpoint): HostTable {
  const table: HostTable = {};
  if (e.scheme === "http") table.http = true;
  else if (e.insecure) table.insecure = true;
  if (e.caFile !== undefined) table.ca = [e.caFile];
  if (e.clientCertFile !== undefined) {
    if (e.clientKeyFile === undefined) {
      throw new PolicyError(
        `${field}.clientKeyFile`,
        undefined,
        "BuildKit needs the client key as its own file (keypair key and cert)",
        "set clientKeyFile to the key's absolute path",
      );
    }
    table.keypair = [{ key: e.clientKeyFile, cert: e.clientCertFile }];
  }
  return table;
}

/**
 * Renders `buildkitd.toml`: `[registry."<registry>"] mirrors = ["host[:port][/namespace]"]` (no scheme,
 * policy order) plus `[registry."<mirror host>"]` with `http`, `insecure`, `ca` and `keypair` for mirrors
 * that need them. BuildKit always tries the upstream last and has no catch-all entry: `*` is skipped with a
 * warning (a policy with nothing else is refused), `upstreamFallback: false` and headers are refused.
 *
 * The file is buildkitd's whole configuration: a node that needs other buildkitd settings must merge these
 * `registry` tables into its own file.
 */
export function renderBuildkitToml(policy: MirrorPolicy, options: BuildkitTomlOptions = {}): NodeFile {
  const mirrorsOf = new Map<string, string[]>();
  // Settings are per host in buildkitd.toml, so every endpoint on one host must ask for the same ones.
  const settingsOf = new Map<string, { settings: HostTable; url: string }>();

  for (const entry of policy.registries) {
    const entryField = `policy.registries["${entry.registry}"]`;
    if (entry.registry === ANY_REGISTRY) {
      if (entry.endpoints.length > 0)
        options.warnings?.push(
          `${entryField}: BuildKit has no entry for every registry; these mirrors are not written to buildkitd.toml (list the registries by name to mirror them in builds)`,
        );
      continue;
    }
    if (!entry.upstreamFallback) {
      throw new PolicyError(
        `${entryField}.upstreamFallback`,
        false,
        "BuildKit always tries the upstream registry after its mirrors",
        "set upstreamFallback: true, or leave buildkit out of runtimes",
      );
    }
    if (entry.endpoints.length === 0) continue;
    mirrorsOf.set(
      entry.registry,
      entry.endpoints.map((e, i) => {
        const field = endpointField(entry.registry, i);
        if (Object.keys(e.headers).length > 0) {
          throw new PolicyError(
            `${field}.headers`,
            Object.keys(e.headers),
            "buildkitd.toml cannot send extra headers to a mirror",
            "give BuildKit credentials through its Docker config.json instead, or leave buildkit out of runtimes",
          );
        }
        if (!e.capabilities.includes("pull")) {
          throw new PolicyError(
            `${field}.capabilities`,
            e.capabilities,
            "BuildKit uses every mirror for pulls",
            'add "pull", or remove this mirror for buildkit',
          );
        }
        if (e.capabilities.join() !== "pull,resolve")
          options.warnings?.push(
            `${field}.capabilities: BuildKit has no capabilities setting; the mirror is used for pull and resolve`,
          );
        if (e.dialTimeout !== undefined)
          options.warnings?.push(
            `${field}.dialTimeout: buildkitd.toml has no dial timeout; BuildKit's default applies`,
          );
        if (e.pullFromMirror !== "all")
          options.warnings?.push(
            `${field}.pullFromMirror: applies to CRI-O/podman only; BuildKit uses the mirror for every pull`,
          );
        if (e.auth === "ecr") options.warnings?.push(ecrTokenNotSentWarning(field, "BuildKit", e));
        const settings = hostSettings(field, e);
        const previous = settingsOf.get(e.host);
        if (previous && JSON.stringify(previous.settings) !== JSON.stringify(settings)) {
          throw new PolicyError(
            field,
            e.url,
            `buildkitd.toml holds one set of connection settings per host, and ${previous.url} on the same host needs different ones (${JSON.stringify(previous.settings)} vs ${JSON.stringify(settings)})`,
            "give every mirror on the same host the same scheme, insecure, caFile and client certificate",
          );
        }
        settingsOf.set(e.host, { settings, url: e.url });
        return namespacedLocation(field, e, "buildkitd.toml", "buildkit");
      }),
    );
  }

  if (mirrorsOf.size === 0 && policy.registries.some((r) => r.endpoints.length > 0)) {
    throw new PolicyError(
      "policy.registries",
      policy.registries.map((r) => r.registry),
      'BuildKit would get no mirror at all: it has no entry for every registry ("*")',
      'name the registries to mirror (docker.io, ghcr.io, ...) next to "*", or leave buildkit out of runtimes',
    );
  }
  const registry: Record<string, HostTable> = {};
  const keys = [...new Set([...mirrorsOf.keys(), ...settingsOf.keys()])].sort(compareRegistries);
  for (const key of keys) {
    const table: HostTable = {
      ...(mirrorsOf.has(key) ? { mirrors: mirrorsOf.get(key) } : {}),
      ...settingsOf.get(key)?.settings,
    };
    if (Object.keys(table).length > 0) registry[key] = table;
  }
  const body = stringify({ registry }).trim();
  return {
    path: BUILDKITD_TOML,
    content: body === "" ? GENERATED_HEADER : `${GENERATED_HEADER}${body}\n`,
    mode: 0o644,
  };
}
