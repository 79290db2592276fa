/**
 * The plan of the node health watchdog (components/core/node/watchdog.py): which endpoints it probes, which node
 * files it rewrites when one goes down (and how), which it only reports, and its timings. Pure and deterministic:
 * the same policy, files and settings give byte-identical JSON (sorted keys).
 *
 * How a file is rewritten without a TOML library on the node: every rewritable TOML file is cut into its tables
 * ("chunks", separated by one blank line, as the renderer writes them), each tagged with the endpoint it belongs
 * to. The effective file is `prefix` + the kept chunks joined by a blank line + a newline (just `prefix` when no
 * chunk is kept); a chunk with `endpoint` is kept while that endpoint is up, one with `whenAllDown` only while
 * every listed endpoint is down (containerd needs an empty `[host]` table then). The plan is checked against the
 * renderer itself: for no, one, every-but-one and every endpoint down, the assembled file must equal what the
 * renderer gives for the policy without those endpoints, byte for byte.
 */
import type { MirrorEndpoint, MirrorPolicy, RegistryMirrors } from "./policy";
import { ECR_DIR, TEMPLATE_SUFFIX } from "./node-ecr";
import { lockFolder } from "./node-file";
import { RUNTIMES } from "./runtimes";
import {
  containerdApiRoot,
  containerdHostDir,
  GENERATED_HEADER,
  renderHostsToml,
  resolveDialTimeout,
} from "./render/containerd";
import { REGISTRIES_CONF_DROPIN, renderRegistriesConf } from "./render/registries-conf";
import { type NodeFile, RUNTIME_NAMES } from "./render/types";

import { resolveWatchdogSettings, type WatchdogSettingsInput, type WatchTimings } from "./watchdog-settings";

export {
  resolveWatchdogSettings,
  WATCHDOG_DEFAULTS,
  watchdogBounds,
  type WatchdogBounds,
  type WatchdogSettingsInput,
  type WatchTimings,
} from "./watchdog-settings";

/** One endpoint the watchdog probes: `GET probeUrl`, 200 or 401 = up. */
export interface WatchEndpoint {
  /** The mirror URL as the policy (and the files) write it: the endpoint's name in logs, status and metrics. */
  url: string;
  /** What is probed: the registry API root of the host (`/v2/`), under the mirror's path prefix if it has one. */
  probeUrl: string;
  /** TLS not verified (the policy's `insecure`, containerd `skip_verify`). */
  insecure: boolean;
  caFile?: string;
  clientCertFile?: string;
  clientKeyFile?: string;
  /** Registries whose mirror list holds it. */
  registries: string[];
  /** Node paths of the plan's files that mention it (rewritten or reported). */
  files: string[];
}

/** A table of a rewritable TOML file. */
export interface WatchChunk {
  text: string;
  /** Kept while this endpoint is up. */
  endpoint?: string;
  /** Kept only while every one of these endpoints is down. */
  whenAllDown?: string[];
}

/** A node file the watchdog rewrites (`action: "rewrite"`) or only reports (`action: "report"`). */
export interface WatchFile {
  /** Node path the watchdog writes (for an ECR hosts.toml: its `.registry-mirrors.template`). */
  path: string;
  runtime: "containerd" | "crio/podman" | "docker" | "k3s" | "rke2" | "buildkit";
  format: "containerd-hosts" | "registries-conf" | "docker-daemon-json" | "k3s-registries" | "buildkitd-toml";
  action: "rewrite" | "report";
  /** Endpoints the file mentions that the watchdog may take out of it (rewrite) or reports on (report). */
  endpoints: string[];
  /**
   * daemon.json: the keys the apply script writes (only those it manages). TOML files leave it out: it is `prefix` +
   * the chunks of no down-set, which the watchdog assembles.
   */
  content?: string;
  /** Rewrite only: the node folder whose `.registry-mirrors.lock` the apply script takes for this file. */
  lock?: string;
  /** TOML files: the text before the first table. */
  prefix?: string;
  /** TOML files: the tables, in order. */
  chunks?: WatchChunk[];
  /** daemon.json: the mirrors of `registry-mirrors` in order (each an endpoint URL). */
  mirrors?: string[];
  /** The unit to reload after a change, when it is active (`$RUNTIME_CTL reload UNIT`). */
  reload?: "crio" | "docker";
  /** An ECR hosts.toml: the refresher that renders hosts.toml from the template (run with `--render-only`). */
  ecrRender?: string;
}

/** What the watchdog reads (`watchdog.py --plan FILE`). */
export interface WatchPlan {
  version: 1;
  endpoints: WatchEndpoint[];
  files: WatchFile[];
  timings: WatchTimings;
  stateDir: string;
  /** Node path of the Prometheus textfile, or null for none. */
  metricsFile: string | null;
}

/** Input of {@link renderWatchPlan}. */
export interface WatchPlanInput {
  /** The normalised policy the files were rendered from. */
  policy: MirrorPolicy;
  /** The rendered node files (`renderNodeConfig(...).files`, or the `NodeFile`s of the renderers). */
  files: NodeFile[] | Record<string, string>;
  /** Watchdog settings; every field optional. */
  watchdog?: WatchdogSettingsInput;
  /** The containerd `dialTimeout` option the hosts.toml files were rendered with (default: the renderer's). */
  containerdDialTimeout?: string | false;
}

const DAEMON_JSON = "/etc/docker/daemon.json";

/** The runtime that reads a file at `path` and cannot switch its mirrors while it runs: its files are only reported. */
function reportedRuntime(path: string): "k3s" | "rke2" | "buildkit" | undefined {
  const runtime = RUNTIME_NAMES.find(
    (r) => !RUNTIMES[r].liveMirrors && RUNTIMES[r].folders.some((folder) => path.startsWith(`${folder}/`)),
  );
  return runtime === "k3s" || runtime === "rke2" || runtime === "buildkit" ? runtime : undefined;
}

/** The endpoints of a registry that the files may drop: all but the last resort (the last one without fallback). */
function removable(entry: RegistryMirrors): MirrorEndpoint[] {
  return entry.upstreamFallback ? entry.endpoints : entry.endpoints.slice(0, -1);
}

function without(entry: RegistryMirrors, down: Set<string>): RegistryMirrors {
  const keep = new Set(removable(entry).filter((e) => down.has(e.url)));
  return { ...entry, endpoints: entry.endpoints.filter((e) => !keep.has(e)) };
}

function probeUrl(e: MirrorEndpoint): string {
  const root = e.overridePath ? "/v2" : containerdApiRoot({ path: e.path, overridePath: false });
  return `${e.scheme}://${e.host}${root}/`;
}

/** Cuts a rendered TOML file into its prefix (the header comment) and its tables. */
function cut(content: string): { prefix: string; tables: string[] } {
  if (!content.startsWith(GENERATED_HEADER)) throw new Error("a rendered file without the generated header");
  const body = content.slice(GENERATED_HEADER.length);
  if (body === "") return { prefix: GENERATED_HEADER, tables: [] };
  return { prefix: GENERATED_HEADER, tables: body.replace(/\n$/, "").split("\n\n") };
}

/** The same assembly watchdog.py does. */
export function assembleChunks(prefix: string, chunks: WatchChunk[], down: ReadonlySet<string>): string {
  const kept = chunks.filter(
    (c) =>
      (c.endpoint === undefined || !down.has(c.endpoint)) &&
      (c.whenAllDown === undefined || c.whenAllDown.every((u) => down.has(u))),
  );
  return kept.length === 0 ? prefix : `${prefix}${kept.map((c) => c.text).join("\n\n")}\n`;
}

/** Checks the chunks against the renderer for the down-sets that matter (none, each, all but each, all). */
function verify(
  path: string,
  prefix: string,
  chunks: WatchChunk[],
  urls: string[],
  render: (down: Set<string>) => string,
) {
  const sets: Set<string>[] = [new Set(), new Set(urls)];
  for (const u of urls) {
    sets.push(new Set([u]));
    sets.push(new Set(urls.filter((x) => x !== u)));
  }
  for (const down of sets) {
    if (assembleChunks(prefix, chunks, down) !== render(down)) {
      throw new Error(
        `watch plan: ${path} cannot be cut into tables the watchdog can drop (down: ${[...down].join(", ")})`,
      );
    }
  }
}

/** The certs folder of a registry's hosts.toml path. */
function hostsTomlCertsDir(path: string, registry: string): string {
  return path.slice(0, -`/${containerdHostDir(registry)}/hosts.toml`.length);
}

function hostsTomlFile(path: string, content: string, entry: RegistryMirrors, dial: string | false): WatchFile {
  const urls = removable(entry).map((e) => e.url);
  const { prefix, tables } = cut(content);
  const chunks: WatchChunk[] = tables.map((text) => {
    const m = /^\[host\.("(?:[^"\\]|\\.)*")[\].]/.exec(text);
    const url = m ? (JSON.parse(m[1]) as string) : undefined;
    return url !== undefined && urls.includes(url) ? { text, endpoint: url } : { text };
  });
  const certsDir = hostsTomlCertsDir(path, entry.registry);
  const empty = cut(renderHostsToml(without(entry, new Set(urls)), dial, certsDir)).tables.filter(
    (t) => !tables.includes(t),
  );
  if (urls.length > 0) for (const text of empty) chunks.push({ text, whenAllDown: urls });
  verify(path, prefix, chunks, urls, (down) => renderHostsToml(without(entry, down), dial, certsDir));
  return {
    path,
    runtime: "containerd",
    format: "containerd-hosts",
    action: "rewrite",
    endpoints: urls,
    prefix,
    chunks,
  };
}

function registriesConfFile(path: string, content: string, policy: MirrorPolicy): WatchFile {
  const { prefix, tables } = cut(content);
  let registry = -1;
  let mirror = 0;
  const urls: string[] = [];
  const chunks: WatchChunk[] = tables.map((text) => {
    if (text.startsWith("[[registry]]")) {
      registry++;
      mirror = 0;
      return { text };
    }
    if (text.startsWith("[[registry.mirror]]")) {
      const url = policy.registries[registry]?.endpoints[mirror++]?.url;
      if (url === undefined) throw new Error(`watch plan: ${path} has more mirrors than the policy`);
      if (!urls.includes(url)) urls.push(url);
      return { text, endpoint: url };
    }
    return { text };
  });
  const render = (down: Set<string>) =>
    renderRegistriesConf({ registries: policy.registries.map((r) => without(r, down)) }).content;
  verify(path, prefix, chunks, urls, render);
  return {
    path,
    runtime: "crio/podman",
    format: "registries-conf",
    action: "rewrite",
    endpoints: urls,
    prefix,
    chunks,
    reload: "crio",
  };
}

function daemonJsonFile(content: string): WatchFile | undefined {
  const desired = JSON.parse(content) as Record<string, unknown>;
  const mirrors = desired["registry-mirrors"];
  if (!Array.isArray(mirrors) || mirrors.length === 0) return undefined;
  return {
    path: DAEMON_JSON,
    runtime: "docker",
    format: "docker-daemon-json",
    action: "rewrite",
    endpoints: mirrors as string[],
    content,
    mirrors: mirrors as string[],
    reload: "docker",
  };
}

/** Sorts object keys recursively (arrays keep their order) and drops undefined fields. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * Builds the watchdog's plan from the policy and the rendered node files. Files it does not know (config.toml
 * fragments, ...) are left out; containerd hosts.toml files are recognised by their content (the renderer's output
 * for one registry of the policy) and folder name. A hosts.toml with `auth: "ecr"` mirrors is rewritten as its
 * `.registry-mirrors.template`, and the ECR token refresher renders hosts.toml from it (one writer per file).
 */
export function buildWatchPlan(input: WatchPlanInput): WatchPlan {
  const settings = resolveWatchdogSettings(input.watchdog ?? {});
  const { policy } = input;
  const dial = resolveDialTimeout(input.containerdDialTimeout);
  const nodeFiles: Array<[string, string]> = Array.isArray(input.files)
    ? input.files.map((f) => [f.path, f.content])
    : Object.entries(input.files);
  nodeFiles.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  const files: WatchFile[] = [];
  for (const [path, content] of nodeFiles) {
    const reported = reportedRuntime(path);
    if (path === DAEMON_JSON) {
      const file = daemonJsonFile(content);
      if (file) files.push({ ...file, lock: lockFolder(path) });
    } else if (path === REGISTRIES_CONF_DROPIN) {
      const file = registriesConfFile(path, content, policy);
      if (file.endpoints.length > 0) files.push({ ...file, lock: lockFolder(path) });
    } else if (reported !== undefined) {
      const runtime = reported;
      const endpoints = policy.registries
        .flatMap((r) => r.endpoints)
        .filter((e) => content.includes(runtime === "buildkit" ? e.host : e.url))
        .map((e) => e.url);
      const format = runtime === "buildkit" ? "buildkitd-toml" : "k3s-registries";
      if (endpoints.length > 0)
        files.push({ path, runtime, format, action: "report", endpoints: [...new Set(endpoints)] });
    } else if (path.endsWith("/hosts.toml")) {
      const entry = policy.registries.find(
        (r) =>
          path.endsWith(`/${containerdHostDir(r.registry)}/hosts.toml`) &&
          renderHostsToml(r, dial, hostsTomlCertsDir(path, r.registry)) === content,
      );
      if (!entry) continue;
      const file = hostsTomlFile(path, content, entry, dial);
      if (file.endpoints.length === 0) continue;
      if (entry.endpoints.some((e) => e.auth === "ecr")) {
        file.path = `${path}${TEMPLATE_SUFFIX}`;
        file.ecrRender = `${ECR_DIR}/ecr-token-refresh`;
      }
      files.push({ ...file, lock: lockFolder(path) });
    }
  }

  const endpoints: WatchEndpoint[] = [];
  const byUrl = new Map<string, WatchEndpoint>();
  for (const entry of policy.registries) {
    for (const e of entry.endpoints) {
      const mentioned = files.filter((f) => f.endpoints.includes(e.url)).map((f) => f.path);
      let ep = byUrl.get(e.url);
      if (!ep) {
        // One probe per URL, with the TLS settings of its first mention (the policy's order).
        ep = { url: e.url, probeUrl: probeUrl(e), insecure: e.insecure, registries: [], files: mentioned };
        if (e.caFile !== undefined) ep.caFile = e.caFile;
        else if (e.ca !== undefined) {
          // The CA the apply script delivered for this host (any runtime's copy: they are the same bytes).
          const delivered = nodeFiles.find(
            ([p, c]) => c === e.ca && (p.endsWith(`/${e.host}.crt`) || p.endsWith(`/${e.host}/ca.crt`)),
          );
          if (delivered) ep.caFile = delivered[0];
        }
        if (e.clientCertFile !== undefined) ep.clientCertFile = e.clientCertFile;
        if (e.clientKeyFile !== undefined) ep.clientKeyFile = e.clientKeyFile;
        byUrl.set(e.url, ep);
        endpoints.push(ep);
      }
      ep.registries.push(entry.registry);
    }
  }
  // daemon.json lists Docker Hub mirrors; each must be an endpoint of the policy.
  for (const f of files) {
    for (const url of f.endpoints) {
      if (!byUrl.has(url)) throw new Error(`watch plan: ${f.path} lists ${url}, which is not a mirror of the policy`);
    }
  }
  const { stateDir, metricsFile, ...timings } = settings;
  return sortKeys({ version: 1, endpoints, files, timings, stateDir, metricsFile }) as WatchPlan;
}

/**
 * The plan as the JSON file the watchdog reads: sorted keys, one line per endpoint and per file (a review diff shows
 * which changed; indenting every chunk would double the plan's share of user data), final newline.
 */
export function renderWatchPlan(input: WatchPlanInput): string {
  const plan = buildWatchPlan(input) as unknown as Record<string, unknown>;
  const members = Object.entries(plan).map(([key, value]) =>
    Array.isArray(value) && value.length > 0
      ? `${JSON.stringify(key)}: [\n${value.map((v) => JSON.stringify(v)).join(",\n")}\n]`
      : `${JSON.stringify(key)}: ${JSON.stringify(value)}`,
  );
  return `{\n${members.join(",\n")}\n}\n`;
}
