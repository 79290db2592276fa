import * as ipaddr from "ipaddr.js";
import { PolicyError, type Warnings } from "../errors";
import { isCidr, parseInsecureRegistry } from "../host-port";
import { ANY_REGISTRY, DOCKER_HUB, type MirrorPolicy, checkKnownFields } from "../policy";
import { DOCKERD_FLAG_SPELLINGS, DOCKERD_KEYS, closestDockerKey } from "./docker-keys";

export {
  DOCKER_RELOADABLE_KEYS,
  DOCKER_RELOAD_EMPTY_VALUES,
  DOCKER_RELOAD_RESETS_WHEN_REMOVED,
  DOCKERD_KEYS,
} from "./docker-keys";

/** One default ulimit for containers (`default-ulimits`). */
export interface DockerUlimitInput {
  /** Soft limit. */
  soft: number;
  /** Hard limit (at least `soft`). */
  hard: number;
}

/** A pool Docker carves network subnets from (`default-address-pools`). */
export interface DockerAddressPoolInput {
  /** The pool as a CIDR block, e.g. `"10.200.0.0/16"`. */
  base: string;
  /** Prefix length of each network taken from the pool, e.g. `24`. */
  size: number;
}

/**
 * Docker daemon settings written to `daemon.json` next to the mirrors. Every field is optional; a field
 * left out is not written, so the node keeps its own value (or dockerd's default).
 */
export interface DockerSettingsInput {
  /** Registries Docker may reach over plain HTTP or with an unverified certificate: `host[:port]` or a CIDR block such as `10.0.0.0/8`. */
  insecureRegistries?: string[];
  /** Runtime options, e.g. `["native.cgroupdriver=systemd"]` (what kubelet's systemd cgroup driver needs). */
  execOpts?: string[];
  /** Default logging driver for containers, e.g. `"json-file"`. */
  logDriver?: string;
  /** Options of the logging driver, e.g. `{ "max-size": "100m", "max-file": "3" }`. Values are written as strings. */
  logOpts?: Record<string, string>;
  /** Keep containers running while dockerd restarts (`live-restore`). */
  liveRestore?: boolean;
  /** Layers pulled in parallel per pull (dockerd default 3). */
  maxConcurrentDownloads?: number;
  /** Layers pushed in parallel per push (dockerd default 5). */
  maxConcurrentUploads?: number;
  /** Attempts per layer download before a pull fails (dockerd default 5). */
  maxDownloadAttempts?: number;
  /** Absolute path of Docker's data folder (`data-root`), e.g. `"/data/docker"`. */
  dataRoot?: string;
  /** Storage driver, e.g. `"overlay2"`. */
  storageDriver?: string;
  /** Storage driver options, each `key=value`, e.g. `["overlay2.size=20G"]`. */
  storageOpts?: string[];
  /** DNS servers (IP addresses) for containers. */
  dns?: string[];
  /** DNS search domains for containers. */
  dnsSearch?: string[];
  /** DNS resolver options for containers, e.g. `["ndots:2"]`. */
  dnsOpts?: string[];
  /** Pools new networks take their subnets from. */
  defaultAddressPools?: DockerAddressPoolInput[];
  /** Address and prefix of the default bridge, e.g. `"172.26.0.1/16"`. */
  bip?: string;
  /** MTU of the default bridge (68-65535). */
  mtu?: number;
  /** Debug logging of the daemon. */
  debug?: boolean;
  /** Daemon log level. */
  logLevel?: "debug" | "info" | "warn" | "error" | "fatal";
  /** Engine labels, e.g. `{ "pool": "gpu" }` (written as `["pool=gpu"]`). */
  labels?: Record<string, string>;
  /** Daemon features switched on or off, e.g. `{ "buildkit": true }`. */
  features?: Record<string, boolean>;
  /** Registries Docker may push foreign (non-distributable) layers to: `host[:port]` or CIDR. */
  allowNondistributableArtifacts?: string[];
  /** Default ulimits of containers keyed by name, e.g. `{ nofile: { soft: 65536, hard: 65536 } }`. */
  defaultUlimits?: Record<string, DockerUlimitInput>;
  /** OCI runtime used when a container names none, e.g. `"runc"` or `"nvidia"`. */
  defaultRuntime?: string;
  /** Seconds dockerd waits for containers to stop when it shuts down. */
  shutdownTimeout?: number;
  /**
   * Any other `daemon.json` key, spelled as dockerd spells it (kebab-case), with its raw JSON value. Each key is
   * checked against the keys dockerd 20.10-27 accepts (dockerd refuses to start on an unknown key).
   */
  extra?: Record<string, unknown>;
}

/** What `renderDocker` returns. */
export interface DockerRender {
  /** The file, as it lands on a node: sorted keys, 2-space indent, final newline. */
  daemonJson: string;
  /** The same keys as an object: what the node apply script merges into the node's existing file. */
  desired: Record<string, unknown>;
  /** Things the user should know: mirrors Docker ignores, settings it cannot honour, version caveats. */
  warnings: Warnings;
  /**
   * The warnings (also in `warnings`) about other registries' mirrors that Docker skips because it mirrors Docker Hub
   * only: noise when another runtime of the node uses them.
   */
  otherRegistryWarnings: Warnings;
}

const SETTINGS_FIELDS = [
  "insecureRegistries",
  "execOpts",
  "logDriver",
  "logOpts",
  "liveRestore",
  "maxConcurrentDownloads",
  "maxConcurrentUploads",
  "maxDownloadAttempts",
  "dataRoot",
  "storageDriver",
  "storageOpts",
  "dns",
  "dnsSearch",
  "dnsOpts",
  "defaultAddressPools",
  "bip",
  "mtu",
  "debug",
  "logLevel",
  "labels",
  "features",
  "allowNondistributableArtifacts",
  "defaultUlimits",
  "defaultRuntime",
  "shutdownTimeout",
  "extra",
] as const;

/** The daemon.json key each typed setting writes. */
const SETTING_KEYS: Record<Exclude<(typeof SETTINGS_FIELDS)[number], "extra">, string> = {
  insecureRegistries: "insecure-registries",
  execOpts: "exec-opts",
  logDriver: "log-driver",
  logOpts: "log-opts",
  liveRestore: "live-restore",
  maxConcurrentDownloads: "max-concurrent-downloads",
  maxConcurrentUploads: "max-concurrent-uploads",
  maxDownloadAttempts: "max-download-attempts",
  dataRoot: "data-root",
  storageDriver: "storage-driver",
  storageOpts: "storage-opts",
  dns: "dns",
  dnsSearch: "dns-search",
  dnsOpts: "dns-opts",
  defaultAddressPools: "default-address-pools",
  bip: "bip",
  mtu: "mtu",
  debug: "debug",
  logLevel: "log-level",
  labels: "labels",
  features: "features",
  allowNondistributableArtifacts: "allow-nondistributable-artifacts",
  defaultUlimits: "default-ulimits",
  defaultRuntime: "default-runtime",
  shutdownTimeout: "shutdown-timeout",
};

const LOG_LEVELS = ["debug", "info", "warn", "error", "fatal"];
const ULIMITS = [
  "core",
  "cpu",
  "data",
  "fsize",
  "locks",
  "memlock",
  "msgqueue",
  "nice",
  "nofile",
  "nproc",
  "rss",
  "rtprio",
  "rttime",
  "sigpending",
  "stack",
];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Splits `key=value` (the form of `--log-opt`, `--exec-opt`, `--label`). The key must be non-empty; the value may be
 * empty or hold more `=` signs.
 */
export function parseKeyValue(field: string, text: unknown): [string, string] {
  if (typeof text !== "string" || !text.includes("=") || text.startsWith("=")) {
    throw new PolicyError(field, text, "expected key=value", 'write the option as key=value, e.g. "max-size=100m"');
  }
  const at = text.indexOf("=");
  return [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringList(field: string, value: unknown, example: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v.trim() === "")) {
    throw new PolicyError(field, value, "must be a list of non-empty strings", `write e.g. [${example}]`);
  }
  return value.map((v: string) => v.trim());
}

function nonEmptyString(field: string, value: unknown, example: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new PolicyError(field, value, "must be a non-empty string", `write e.g. ${example}`);
  }
  return value.trim();
}

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new PolicyError(
      field,
      value,
      `must be a whole number from ${min} to ${max}`,
      `write a number such as ${Math.max(min, Math.min(max, 3))}`,
    );
  }
  return value;
}

function boolean(field: string, value: unknown): boolean {
  if (typeof value !== "boolean")
    throw new PolicyError(field, value, "must be true or false", "write true or false without quotes");
  return value;
}

function stringMap(field: string, value: unknown, example: string): Record<string, string> {
  if (!isPlainObject(value))
    throw new PolicyError(field, value, "must be an object of names to string values", `write e.g. ${example}`);
  const out: Record<string, string> = {};
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (key.trim() === "" || key.includes("=")) {
      throw new PolicyError(`${field}`, key, "not a valid option name", 'use a name without spaces or "="');
    }
    // dockerd wants strings ("max-file": "3"); a number or boolean from YAML is written as its text.
    if (typeof v === "string") out[key] = v;
    else if ((typeof v === "number" && Number.isFinite(v)) || typeof v === "boolean") out[key] = String(v);
    else throw new PolicyError(`${field}.${key}`, v, "must be a string", `write the value in quotes, e.g. ${example}`);
  }
  return out;
}

/** Deduplicates `host[:port]`/CIDR entries, keeping the first and warning about the rest. */
function registryList(field: string, value: unknown, warnings: Warnings): string[] {
  if (!Array.isArray(value)) {
    throw new PolicyError(
      field,
      value,
      "must be a list of host[:port] or CIDR entries",
      'write e.g. ["10.0.0.0/8", "registry.local:5000"]',
    );
  }
  const out: string[] = [];
  value.forEach((entry, i) => {
    const parsed = parseInsecureRegistry(`${field}[${i}]`, entry);
    if (out.includes(parsed)) warnings.push(`${field}[${i}]: duplicate ${parsed} dropped`);
    else out.push(parsed);
  });
  return out;
}

/** Validates each typed setting and returns the daemon.json keys it writes. */
function typedSettings(settings: DockerSettingsInput, f: string, warnings: Warnings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const s = settings as Record<string, unknown>;
  const set = (name: keyof typeof SETTING_KEYS, value: unknown) => (out[SETTING_KEYS[name]] = value);

  if (s.insecureRegistries !== undefined)
    set("insecureRegistries", registryList(`${f}.insecureRegistries`, s.insecureRegistries, warnings));
  if (s.allowNondistributableArtifacts !== undefined) {
    set(
      "allowNondistributableArtifacts",
      registryList(`${f}.allowNondistributableArtifacts`, s.allowNondistributableArtifacts, warnings),
    );
  }
  if (s.execOpts !== undefined) {
    const opts = stringList(`${f}.execOpts`, s.execOpts, '"native.cgroupdriver=systemd"');
    opts.forEach((opt, i) => {
      const [key, value] = parseKeyValue(`${f}.execOpts[${i}]`, opt);
      if (key === "" || value === "") {
        throw new PolicyError(
          `${f}.execOpts[${i}]`,
          opt,
          "an exec-opt needs a name and a value",
          'write it as name=value, e.g. "native.cgroupdriver=systemd"',
        );
      }
      if (key.toLowerCase() === "native.cgroupdriver" && value !== "systemd" && value !== "cgroupfs") {
        throw new PolicyError(
          `${f}.execOpts[${i}]`,
          opt,
          "dockerd knows only the cgroupfs and systemd cgroup drivers",
          'write "native.cgroupdriver=systemd" or "native.cgroupdriver=cgroupfs"',
        );
      }
    });
    set("execOpts", opts);
  }
  if (s.logDriver !== undefined) {
    const driver = nonEmptyString(`${f}.logDriver`, s.logDriver, '"json-file"');
    if (!NAME.test(driver) && !driver.includes("/")) {
      throw new PolicyError(
        `${f}.logDriver`,
        driver,
        "not a log driver name",
        'write a driver such as "json-file", "local" or "journald"',
      );
    }
    set("logDriver", driver);
  }
  if (s.logOpts !== undefined) set("logOpts", stringMap(`${f}.logOpts`, s.logOpts, '{ "max-size": "100m" }'));
  if (s.liveRestore !== undefined) set("liveRestore", boolean(`${f}.liveRestore`, s.liveRestore));
  if (s.debug !== undefined) set("debug", boolean(`${f}.debug`, s.debug));
  if (s.maxConcurrentDownloads !== undefined)
    set("maxConcurrentDownloads", integer(`${f}.maxConcurrentDownloads`, s.maxConcurrentDownloads, 1, 1000));
  if (s.maxConcurrentUploads !== undefined)
    set("maxConcurrentUploads", integer(`${f}.maxConcurrentUploads`, s.maxConcurrentUploads, 1, 1000));
  if (s.maxDownloadAttempts !== undefined)
    set("maxDownloadAttempts", integer(`${f}.maxDownloadAttempts`, s.maxDownloadAttempts, 1, 1000));
  if (s.shutdownTimeout !== undefined)
    set("shutdownTimeout", integer(`${f}.shutdownTimeout`, s.shutdownTimeout, 0, 86400));
  if (s.mtu !== undefined) set("mtu", integer(`${f}.mtu`, s.mtu, 68, 65535));
  if (s.dataRoot !== undefined) {
    const path = s.dataRoot;
    if (typeof path !== "string" || !path.startsWith("/") || /[\0\n]/.test(path)) {
      throw new PolicyError(
        `${f}.dataRoot`,
        path,
        "must be an absolute path on the node",
        'give the full path, e.g. "/data/docker"',
      );
    }
    set("dataRoot", path);
  }
  if (s.storageDriver !== undefined) {
    const driver = nonEmptyString(`${f}.storageDriver`, s.storageDriver, '"overlay2"');
    if (!NAME.test(driver))
      throw new PolicyError(
        `${f}.storageDriver`,
        driver,
        "not a storage driver name",
        'write a driver such as "overlay2"',
      );
    set("storageDriver", driver);
  }
  if (s.storageOpts !== undefined) {
    const opts = stringList(`${f}.storageOpts`, s.storageOpts, '"overlay2.size=20G"');
    opts.forEach((opt, i) => parseKeyValue(`${f}.storageOpts[${i}]`, opt));
    set("storageOpts", opts);
  }
  if (s.dns !== undefined) {
    const servers = stringList(`${f}.dns`, s.dns, '"10.0.0.2"');
    servers.forEach((ip, i) => {
      if (!ipaddr.isValid(ip) || (!ipaddr.IPv4.isValidFourPartDecimal(ip) && !ipaddr.IPv6.isValid(ip))) {
        throw new PolicyError(
          `${f}.dns[${i}]`,
          ip,
          "not an IP address",
          'write the DNS server\'s IP address, e.g. "10.0.0.2"',
        );
      }
    });
    set("dns", servers);
  }
  if (s.dnsSearch !== undefined) set("dnsSearch", stringList(`${f}.dnsSearch`, s.dnsSearch, '"example.internal"'));
  if (s.dnsOpts !== undefined) set("dnsOpts", stringList(`${f}.dnsOpts`, s.dnsOpts, '"ndots:2"'));
  if (s.defaultAddressPools !== undefined) {
    const pools = s.defaultAddressPools;
    if (!Array.isArray(pools))
      throw new PolicyError(
        `${f}.defaultAddressPools`,
        pools,
        "must be a list of { base, size }",
        'write [{ base: "10.200.0.0/16", size: 24 }]',
      );
    set(
      "defaultAddressPools",
      pools.map((pool, i) => {
        const pf = `${f}.defaultAddressPools[${i}]`;
        if (!isPlainObject(pool))
          throw new PolicyError(pf, pool, "must be { base, size }", 'write { base: "10.200.0.0/16", size: 24 }');
        checkKnownFields(pf, pool, ["base", "size"]);
        if (typeof pool.base !== "string" || !isCidr(pool.base)) {
          throw new PolicyError(`${pf}.base`, pool.base, "not a CIDR block", 'write a network such as "10.200.0.0/16"');
        }
        const [addr, bits] = ipaddr.parseCIDR(pool.base);
        const size = integer(`${pf}.size`, pool.size, bits, addr.kind() === "ipv4" ? 32 : 128);
        return { base: parseInsecureRegistry(`${pf}.base`, pool.base), size };
      }),
    );
  }
  if (s.bip !== undefined) {
    if (typeof s.bip !== "string" || !isCidr(s.bip) || !ipaddr.IPv4.isValidFourPartDecimal(s.bip.split("/")[0])) {
      throw new PolicyError(
        `${f}.bip`,
        s.bip,
        "must be an IPv4 address with prefix length",
        'write the bridge\'s address and prefix, e.g. "172.26.0.1/16"',
      );
    }
    set("bip", s.bip);
  }
  if (s.logLevel !== undefined) {
    if (typeof s.logLevel !== "string" || !LOG_LEVELS.includes(s.logLevel)) {
      throw new PolicyError(`${f}.logLevel`, s.logLevel, "unknown log level", `use one of ${LOG_LEVELS.join(", ")}`);
    }
    set("logLevel", s.logLevel);
  }
  if (s.labels !== undefined) {
    const labels = stringMap(`${f}.labels`, s.labels, '{ "pool": "gpu" }');
    set(
      "labels",
      Object.keys(labels)
        .sort()
        .map((k) => `${k}=${labels[k]}`),
    );
  }
  if (s.features !== undefined) {
    if (!isPlainObject(s.features))
      throw new PolicyError(
        `${f}.features`,
        s.features,
        "must be an object of feature names to true/false",
        'write e.g. { "buildkit": true }',
      );
    for (const [name, on] of Object.entries(s.features)) boolean(`${f}.features.${name}`, on);
    set("features", s.features);
  }
  if (s.defaultUlimits !== undefined) {
    if (!isPlainObject(s.defaultUlimits)) {
      throw new PolicyError(
        `${f}.defaultUlimits`,
        s.defaultUlimits,
        "must be an object keyed by ulimit name",
        "write e.g. { nofile: { soft: 65536, hard: 65536 } }",
      );
    }
    const ulimits: Record<string, unknown> = {};
    for (const [name, limit] of Object.entries(s.defaultUlimits)) {
      const uf = `${f}.defaultUlimits.${name}`;
      if (!ULIMITS.includes(name))
        throw new PolicyError(`${f}.defaultUlimits`, name, "unknown ulimit", `use one of ${ULIMITS.join(", ")}`);
      if (!isPlainObject(limit))
        throw new PolicyError(uf, limit, "must be { soft, hard }", "write e.g. { soft: 65536, hard: 65536 }");
      checkKnownFields(uf, limit, ["soft", "hard"]);
      const soft = integer(`${uf}.soft`, limit.soft, -1, Number.MAX_SAFE_INTEGER);
      const hard = integer(`${uf}.hard`, limit.hard, -1, Number.MAX_SAFE_INTEGER);
      if (hard !== -1 && (soft === -1 || soft > hard)) {
        throw new PolicyError(
          `${uf}.soft`,
          soft,
          `the soft limit is above the hard limit (${hard})`,
          "lower soft or raise hard",
        );
      }
      ulimits[name] = { Hard: hard, Name: name, Soft: soft };
    }
    set("defaultUlimits", ulimits);
  }
  if (s.defaultRuntime !== undefined) {
    const runtime = nonEmptyString(`${f}.defaultRuntime`, s.defaultRuntime, '"runc"');
    if (!NAME.test(runtime))
      throw new PolicyError(
        `${f}.defaultRuntime`,
        runtime,
        "not a runtime name",
        'write the name of a runtime dockerd knows, e.g. "runc" or "nvidia"',
      );
    set("defaultRuntime", runtime);
  }
  return out;
}

function isJsonValue(value: unknown): boolean {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonValue);
  if (isPlainObject(value)) return Object.values(value).every(isJsonValue);
  return false;
}

/** Validates the raw `extra` keys against the keys dockerd accepts. */
function extraSettings(
  extra: unknown,
  f: string,
  typed: Record<string, unknown>,
  warnings: Warnings,
): Record<string, unknown> {
  if (!isPlainObject(extra)) {
    throw new PolicyError(
      `${f}.extra`,
      extra,
      "must be an object of daemon.json keys to values",
      'write e.g. { "userland-proxy": false }',
    );
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(extra).sort()) {
    const field = `${f}.extra["${key}"]`;
    const value = extra[key];
    const info = DOCKERD_KEYS[key];
    const flagOf = DOCKERD_FLAG_SPELLINGS[key];
    if (flagOf) {
      throw new PolicyError(
        field,
        key,
        "this is the name of dockerd's command-line flag: dockerd accepts it in daemon.json but ignores it",
        `write "${flagOf}"`,
      );
    }
    if (!info) {
      throw new PolicyError(
        field,
        key,
        "dockerd does not know this daemon.json key and would refuse to start",
        `use the key as dockerd spells it; the closest known key is "${closestDockerKey(key)}"`,
      );
    }
    if (key === "registry-mirrors") {
      throw new PolicyError(
        field,
        key,
        "the mirrors come from the mirror policy",
        'put Docker Hub mirrors in the policy\'s registries["docker.io"].mirrors',
      );
    }
    const typedName = Object.entries(SETTING_KEYS).find(([, k]) => k === key)?.[0];
    if (typedName) {
      throw new PolicyError(
        field,
        key,
        `this key has a typed setting (${f}.${typedName})`,
        `set ${f}.${typedName} instead of ${key} in extra`,
      );
    }
    if (key in typed) throw new PolicyError(field, key, "this key is already set", "set it once");
    if (value === undefined || !isJsonValue(value)) {
      throw new PolicyError(
        field,
        value,
        "must be a JSON value (string, number, boolean, null, list or object)",
        "give the value exactly as it goes in daemon.json",
      );
    }
    if (info.nested) {
      if (!isPlainObject(value))
        throw new PolicyError(field, value, "must be an object", `write e.g. { "${info.nested[0]}": "..." }`);
      for (const inner of Object.keys(value)) {
        if (!info.nested.includes(inner)) {
          throw new PolicyError(
            `${field}.${inner}`,
            inner,
            "dockerd does not know this key and would refuse to start",
            `use one of ${info.nested.join(", ")}`,
          );
        }
      }
    }
    if (info.since)
      warnings.push(`${field}: needs dockerd ${info.since} or newer; an older dockerd refuses to start with it`);
    if (info.until)
      warnings.push(`${field}: removed after dockerd ${info.until}; a newer dockerd refuses to start with it`);
    if (key === "hosts" || key === "containerd") {
      warnings.push(
        `${field}: the stock docker.service already passes ${key === "hosts" ? "-H fd://" : "--containerd"} on the command line, and dockerd refuses a setting given both ways`,
      );
    }
    out[key] = value;
  }
  return out;
}

/** Collects Docker Hub mirror URLs, the insecure hosts they need, and warnings for what Docker cannot use. */
function mirrorSettings(
  policy: MirrorPolicy,
  warnings: Warnings,
  otherRegistries: Warnings,
): { mirrors: string[]; insecure: string[] } {
  const mirrors: string[] = [];
  const insecure: string[] = [];
  const fullPath: string[] = [];
  for (const entry of policy.registries) {
    if (entry.registry !== DOCKER_HUB) {
      if (entry.endpoints.length > 0) {
        const what = entry.registry === ANY_REGISTRY ? 'the "*" (every registry) entry' : entry.registry;
        const warning = `docker: Docker reads mirrors for Docker Hub only, so the ${entry.endpoints.length} mirror(s) of ${what} are not in daemon.json; containerd, CRI-O/podman, k3s/RKE2 and BuildKit use them`;
        warnings.push(warning);
        otherRegistries.push(warning);
      }
      continue;
    }
    if (!entry.upstreamFallback) {
      warnings.push(
        "docker: Docker always tries Docker Hub after its mirrors; upstreamFallback: false cannot be enforced in daemon.json",
      );
    }
    for (const e of entry.endpoints) {
      if (!e.capabilities.includes("pull")) {
        warnings.push(
          `docker: ${e.url} is left out of registry-mirrors because its capabilities do not include "pull"`,
        );
        continue;
      }
      if (e.overridePath) {
        fullPath.push(e.url);
        continue;
      }
      mirrors.push(e.url);
      // dockerd talks plain HTTP to an http:// mirror without more ado (checked against dockerd 20.10), but it
      // verifies an https:// mirror's certificate unless the host is listed in insecure-registries.
      if (e.insecure && e.scheme === "https") insecure.push(e.host);
      if (e.caFile)
        warnings.push(
          `docker: Docker ignores caFile for ${e.url}; place the CA at /etc/docker/certs.d/${e.host}/ca.crt`,
        );
      if (e.clientCertFile)
        warnings.push(
          `docker: Docker ignores clientCertFile for ${e.url}; place client.cert and client.key in /etc/docker/certs.d/${e.host}/`,
        );
      if (Object.keys(e.headers).length > 0)
        warnings.push(`docker: Docker cannot send extra headers to ${e.url}; they are used by containerd only`);
      if (e.dialTimeout)
        warnings.push(
          `docker: Docker has no per-mirror dial timeout; dialTimeout of ${e.url} is used by containerd only`,
        );
      if (e.pullFromMirror !== "all")
        warnings.push(`docker: Docker sends every pull to ${e.url}; pullFromMirror is honoured by CRI-O/podman only`);
      if (e.path !== "")
        warnings.push(`docker: ${e.url} has a path, which dockerd 24.0.6 and older refuse at start-up`);
    }
    if (fullPath.length > 0) {
      // An ECR pull-through cache URL holds the API path and needs an ECR token: Docker appends /v2/ and sends no token.
      warnings.push(
        `docker: ${fullPath.join(", ")} left out of registry-mirrors: with overridePath the URL already holds the registry API path (as an ECR pull-through cache needs), but Docker appends /v2/ to a mirror URL (and dockerd 24.0.6 and older refuse a mirror with a path); containerd and CRI-O/podman use ${fullPath.length > 1 ? "them" : "it"}${mirrors.length === 0 ? ". Docker Hub has no other mirror for Docker, so daemon.json gets no registry-mirrors key and Docker pulls from Docker Hub" : ""}`,
      );
    }
  }
  return { mirrors, insecure };
}

/** Recursively sorts object keys (arrays keep their order) so the output never depends on input key order. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

/**
 * Renders Docker's `daemon.json`: `registry-mirrors` are the policy's Docker Hub mirrors in order, the daemon settings
 * are validated and written under their dockerd names, and keys are sorted. Throws a PolicyError for invalid input.
 */
export function renderDocker(policy: MirrorPolicy, settings: DockerSettingsInput = {}, field = "docker"): DockerRender {
  if (!isPlainObject(settings)) {
    throw new PolicyError(
      field,
      settings,
      "Docker settings must be an object",
      'write e.g. { execOpts: ["native.cgroupdriver=systemd"] }',
    );
  }
  checkKnownFields(field, settings, SETTINGS_FIELDS);
  const warnings: Warnings = [];
  const typed = typedSettings(settings, field, warnings);
  const extra = settings.extra === undefined ? {} : extraSettings(settings.extra, field, typed, warnings);
  const desired: Record<string, unknown> = { ...typed, ...extra };

  const otherRegistryWarnings: Warnings = [];
  const { mirrors, insecure } = mirrorSettings(policy, warnings, otherRegistryWarnings);
  if (mirrors.length > 0) desired["registry-mirrors"] = mirrors;
  if (insecure.length > 0) {
    const list = (desired["insecure-registries"] as string[] | undefined) ?? [];
    for (const host of insecure) if (!list.includes(host)) list.push(host);
    desired["insecure-registries"] = list;
  }

  const sorted = sortKeys(desired) as Record<string, unknown>;
  return { daemonJson: `${JSON.stringify(sorted, null, 2)}\n`, desired: sorted, warnings, otherRegistryWarnings };
}
