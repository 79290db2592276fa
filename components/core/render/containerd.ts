import { stringify } from "smol-toml";
import { PolicyError } from "../errors";
import {
  ANY_REGISTRY,
  DOCKER_HUB,
  ecrRegistryRegion,
  GO_DURATION,
  type MirrorEndpoint,
  type MirrorPolicy,
  type RegistryMirrors,
} from "../policy";
import type { NodeFile } from "./types";

/** Where containerd looks for `hosts.toml` folders unless the node's `config_path` says otherwise. */
export const DEFAULT_CONTAINERD_CERTS_DIR = "/etc/containerd/certs.d";

/** Options of {@link renderContainerdHosts}. */
export interface ContainerdHostsOptions {
  /** The folder `config_path` points at; default `/etc/containerd/certs.d`. */
  certsDir?: string;
  /** Receives a note for every policy setting containerd has no place for (`pullFromMirror`). */
  warnings?: string[];
  /**
   * `dial_timeout` of every mirror (`[host]` entry) whose endpoint sets no `dialTimeout`: a Go duration, or `false`
   * for none (containerd's own 30 s). Default {@link DEFAULT_CONTAINERD_DIAL_TIMEOUT}.
   */
  dialTimeout?: string | false;
}

/**
 * The connect timeout each mirror gets by default (`dial_timeout` of its `[host]` entry). containerd 2.0+ reads it
 * (per host and top level); containerd 1.6 and 1.7 have no such key and ignore it (checked on containerd 1.6.20), so
 * it is rendered for every version. Without it containerd waits 30 s for a mirror that drops SYNs (firewalled away,
 * or a full accept queue) on every request of every pull before it tries the next host. 5 s still covers two lost
 * SYNs (Linux retransmits after 1 s and 3 s). It covers the TCP connect only, not TLS or a mirror that accepts and
 * never answers (the node watchdog takes those out). The last resort (`server`) gets only its own `dialTimeout`:
 * it has nothing to fall back to.
 */
export const DEFAULT_CONTAINERD_DIAL_TIMEOUT = "5s";

/** Checks the default dial timeout option; returns it (or `false`). */
export function resolveDialTimeout(value: unknown, field = "containerd.dialTimeout"): string | false {
  if (value === undefined) return DEFAULT_CONTAINERD_DIAL_TIMEOUT;
  if (value === false) return false;
  if (typeof value !== "string" || !GO_DURATION.test(value) || /^(0+(\.0+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) {
    throw new PolicyError(
      field,
      value,
      "must be a positive Go duration, or false for containerd's own 30 s",
      `write e.g. "${DEFAULT_CONTAINERD_DIAL_TIMEOUT}", or leave it out for that default`,
    );
  }
  return value;
}

/** A mirror of a hosts.toml file that needs an ECR token, which the node fetches (policy `auth: "ecr"`). */
export interface EcrAuthEndpoint {
  /** The mirror URL, as the file writes it (a `[host."URL"]` table, or `server` for the last resort). */
  url: string;
  /** The AWS region whose token the mirror accepts. */
  region: string;
}

/** A containerd `hosts.toml` file, with the mirrors whose ECR token the node adds to it. */
export interface ContainerdHostsFile extends NodeFile {
  /**
   * Mirrors the apply script's ECR token refresher gives an `Authorization` header on the node; `content` has no
   * token (it is a template), so it is not `secret`, but the live file is mode 0600.
   */
  ecrAuth?: EcrAuthEndpoint[];
}

/** The URL containerd uses for an upstream registry when it talks to the registry itself. */
export function upstreamUrl(registry: string): string {
  return registry === DOCKER_HUB ? "https://registry-1.docker.io" : `https://${registry}`;
}

/** The folder name under `config_path` for a registry: `host[:port]`, or `_default` for `*`. */
export function containerdHostDir(registry: string): string {
  return registry === ANY_REGISTRY ? "_default" : registry;
}

type TomlTable = Record<string, unknown>;

/** First line of every rendered file, so whoever opens it on a node knows where it comes from. */
export const GENERATED_HEADER = "# Written by registry-mirrors; edit the mirror policy, not this file.\n";

/**
 * The path containerd sends registry API calls under for this endpoint (`/v2` for a bare host). This is what
 * a mirror URL means in the policy; formats that write mirrors differently are translated from it.
 * containerd appends `/v2` to a path unless the path already ends in `/v2` or `override_path` is set.
 */
export function containerdApiRoot(endpoint: Pick<MirrorEndpoint, "path" | "overridePath">): string {
  if (endpoint.overridePath) return endpoint.path;
  if (endpoint.path === "") return "/v2";
  return endpoint.path.endsWith("/v2") ? endpoint.path : `${endpoint.path}/v2`;
}

/** The policy field of one endpoint (or one of its settings), for error messages and warnings. */
export function endpointField(registry: string, index: number, setting?: string): string {
  return `policy.registries["${registry}"].mirrors[${index}]${setting ? `.${setting}` : ""}`;
}

/**
 * Where the apply script writes an endpoint's `ca` (PEM from the policy) for containerd: beside the registry's
 * hosts.toml, named after the mirror's `host[:port]` (containerd reads only hosts.toml once it exists, and `ca` names
 * the file).
 */
export function containerdCaPath(certsDir: string, registry: string, host: string): string {
  return `${certsDir.replace(/\/+$/, "")}/${containerdHostDir(registry)}/${host}.crt`;
}

/** The per-host keys of one endpoint, in the order containerd's docs list them. */
function hostSettings(endpoint: MirrorEndpoint, caPath: string, dialTimeout: string | false = false): TomlTable {
  const table: TomlTable = { capabilities: [...endpoint.capabilities] };
  if (endpoint.insecure) table.skip_verify = true;
  if (endpoint.caFile !== undefined) table.ca = endpoint.caFile;
  else if (endpoint.ca !== undefined) table.ca = caPath;
  if (endpoint.clientCertFile !== undefined) {
    table.client =
      endpoint.clientKeyFile !== undefined
        ? [[endpoint.clientCertFile, endpoint.clientKeyFile]]
        : endpoint.clientCertFile;
  }
  if (endpoint.overridePath) table.override_path = true;
  const dial = endpoint.dialTimeout ?? dialTimeout;
  if (dial !== false) table.dial_timeout = dial;
  if (Object.keys(endpoint.headers).length > 0) table.header = { ...endpoint.headers };
  return table;
}

/**
 * The `hosts.toml` text of one registry (without checks: the policy is already normalised). `dialTimeout`: the
 * `dial_timeout` of mirrors without their own (see {@link DEFAULT_CONTAINERD_DIAL_TIMEOUT}); `certsDir` places the
 * files of endpoints with a `ca` ({@link containerdCaPath}).
 */
export function renderHostsToml(
  entry: RegistryMirrors,
  dialTimeout: string | false = DEFAULT_CONTAINERD_DIAL_TIMEOUT,
  certsDir = DEFAULT_CONTAINERD_CERTS_DIR,
): string {
  const settings = (e: MirrorEndpoint, dial: string | false) =>
    hostSettings(e, containerdCaPath(certsDir, entry.registry, e.host), dial);
  const hosts = [...entry.endpoints];
  let doc: TomlTable = {};
  if (entry.upstreamFallback) {
    // For `*` there is no single upstream: leaving `server` out makes containerd use the requested registry.
    if (entry.registry !== ANY_REGISTRY) doc.server = upstreamUrl(entry.registry);
  } else {
    // No upstream: the last mirror becomes the last resort (`server`), with its settings at the top level.
    const last = hosts.pop() as MirrorEndpoint;
    doc = { server: last.url, ...settings(last, false) };
  }
  // Always a [host] table, even an empty one: containerd 1.6 rejects a hosts.toml without it ("invalid host tree")
  // and then pulls from the registry itself, bypassing the mirror the file names as `server`.
  doc.host = Object.fromEntries(hosts.map((e) => [e.url, settings(e, dialTimeout)]));
  const body = stringify(doc).trim();
  return body === "" ? GENERATED_HEADER : `${GENERATED_HEADER}${body}\n`;
}

/**
 * Renders containerd's registry host files: one `<certsDir>/<host[:port]>/hosts.toml` per registry
 * (`_default` for `*`), mirrors as `[host."URL"]` entries in policy order.
 *
 * `server` is the upstream (`https://registry-1.docker.io` for Docker Hub, `https://<host>` otherwise) when
 * `upstreamFallback` is true, and the last mirror when it is false (that mirror is then not repeated as a
 * `[host]`). The upstream is always contacted over HTTPS; to reach a plain-HTTP private registry, list it as
 * its own last mirror (`http://host:port`) with `upstreamFallback: false`. Files that carry headers may hold
 * a credential and are marked `secret` (mode 0600). Mirrors with `auth: "ecr"` are written without a token and
 * listed in the file's `ecrAuth`: the node apply script installs a refresher that adds the token (mode 0600).
 */
export function renderContainerdHosts(
  policy: MirrorPolicy,
  options: ContainerdHostsOptions = {},
): ContainerdHostsFile[] {
  const certsDir = (options.certsDir ?? DEFAULT_CONTAINERD_CERTS_DIR).replace(/\/+$/, "");
  const dialTimeout = resolveDialTimeout(options.dialTimeout);
  if (!certsDir.startsWith("/") || certsDir.includes(":")) {
    throw new PolicyError(
      "certsDir",
      options.certsDir,
      "must be one absolute folder",
      'give the folder containerd\'s config_path points at, e.g. "/etc/containerd/certs.d" (for a config_path with two folders, pass the first)',
    );
  }
  return policy.registries.map((entry) => {
    entry.endpoints.forEach((e, i) => {
      if (e.pullFromMirror !== "all") {
        options.warnings?.push(
          `${endpointField(entry.registry, i, "pullFromMirror")}: containerd has no such setting; "${e.pullFromMirror}" applies to CRI-O/podman only (use capabilities: ["pull"] to keep tag resolution off a containerd mirror)`,
        );
      }
    });
    const secret = entry.endpoints.some((e) => Object.keys(e.headers).length > 0);
    const ecrAuth = entry.endpoints
      .filter((e) => e.auth === "ecr")
      .map((e) => ({ url: e.url, region: ecrRegistryRegion(e.host) as string }));
    const file: ContainerdHostsFile = {
      path: `${certsDir}/${containerdHostDir(entry.registry)}/hosts.toml`,
      content: renderHostsToml(entry, dialTimeout, certsDir),
      mode: secret || ecrAuth.length > 0 ? 0o600 : 0o644,
    };
    if (secret) file.secret = true;
    if (ecrAuth.length > 0) file.ecrAuth = ecrAuth;
    return file;
  });
}

/**
 * The `config.toml` fragment that makes containerd read the host files: `config_path` under
 * `[plugins."io.containerd.grpc.v1.cri".registry]` for containerd 1.x (`version = 2`) or
 * `[plugins."io.containerd.cri.v1.images".registry]` for 2.x (`version = 3`). It never contains the deprecated
 * inline `mirrors` table (together with `config_path` that stops the CRI plugin from loading).
 *
 * From 2.1 CRI pulls through the transfer service, which takes `config_path` as one folder: a list such as EKS
 * AL2023's `/etc/containerd/certs.d:/etc/docker/certs.d` names no folder there and every mirror is bypassed. So a
 * version-3 fragment with more than one folder also sets `use_local_image_pull = true` (CRI's own pull, which
 * splits the list; 2.0 ignores the key). The transfer service's own `config_path`
 * (`plugins."io.containerd.transfer.v1.local"`) is read by no pull path and is not written.
 */
export function renderContainerdConfigFragment(
  version: 2 | 3,
  configPath: string = DEFAULT_CONTAINERD_CERTS_DIR,
): string {
  if (version !== 2 && version !== 3) {
    throw new PolicyError(
      "version",
      version,
      "unknown containerd config version",
      "use 2 for containerd 1.x or 3 for containerd 2.x",
    );
  }
  if (configPath.split(":").some((dir) => !dir.startsWith("/"))) {
    throw new PolicyError(
      "configPath",
      configPath,
      "every folder in config_path must be absolute",
      'give e.g. "/etc/containerd/certs.d" or "/etc/containerd/certs.d:/etc/docker/certs.d"',
    );
  }
  const plugin = version === 2 ? "io.containerd.grpc.v1.cri" : "io.containerd.cri.v1.images";
  const settings: TomlTable = version === 3 && configPath.includes(":") ? { use_local_image_pull: true } : {};
  settings.registry = { config_path: configPath };
  return `${stringify({ version, plugins: { [plugin]: settings } }).trim()}\n`;
}
