/** The checks of the typed Docker daemon settings of a policy, and the daemon.json keys they write. */
import * as ipaddr from "ipaddr.js";
import { PolicyError, type Warnings } from "../errors";
import { isCidr, parseInsecureRegistry } from "../host-port";
import { checkLogOpts } from "./docker-log";
import { checkInsecureRange, checkKnownFields } from "../policy";
import { type DockerSettingsInput, SETTING_KEYS } from "./docker-settings-input";
import {
  boolean,
  integer,
  isPlainObject,
  NAME,
  nonEmptyString,
  parseKeyValue,
  registryList,
  stringList,
  stringMap,
} from "./docker-values";

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
/** Validates each typed setting and returns the daemon.json keys it writes. */
export function typedSettings(settings: DockerSettingsInput, f: string, warnings: Warnings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const s = settings as Record<string, unknown>;
  const set = (name: keyof typeof SETTING_KEYS, value: unknown) => (out[SETTING_KEYS[name]] = value);

  if (s.allowPublicInsecureRegistries !== undefined)
    boolean(`${f}.allowPublicInsecureRegistries`, s.allowPublicInsecureRegistries);
  if (s.insecureRegistries !== undefined) {
    const list = registryList(`${f}.insecureRegistries`, s.insecureRegistries, warnings);
    list.forEach((entry, i) => {
      const kept = checkInsecureRange(`${f}.insecureRegistries[${i}]`, entry, {
        allowPublic: s.allowPublicInsecureRegistries === true,
        overrideName: `${f}.allowPublicInsecureRegistries`,
      });
      if (kept) warnings.push(kept);
    });
    set("insecureRegistries", list);
  }
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
      if (key.toLowerCase() !== "native.cgroupdriver") {
        throw new PolicyError(
          `${f}.execOpts[${i}]`,
          opt,
          `dockerd on Linux knows no exec-opt "${key}" and would refuse to start`,
          'use "native.cgroupdriver=systemd" or "native.cgroupdriver=cgroupfs", or remove it',
        );
      }
      if (value !== "systemd" && value !== "cgroupfs") {
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
  if (s.logOpts !== undefined) {
    const opts = stringMap(`${f}.logOpts`, s.logOpts, '{ "max-size": "100m" }');
    checkLogOpts(`${f}.logOpts`, opts, out["log-driver"] as string | undefined);
    set("logOpts", opts);
  }
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
      // dockerd parses each with Go's net.ParseIP: no zone (%eth0), no port, no leading zeros.
      if (
        ip.includes("%") ||
        !ipaddr.isValid(ip) ||
        (!ipaddr.IPv4.isValidFourPartDecimal(ip) && !ipaddr.IPv6.isValid(ip))
      ) {
        throw new PolicyError(
          `${f}.dns[${i}]`,
          ip,
          ip.includes("%") ? "dockerd does not accept an IPv6 zone in a DNS server address" : "not an IP address",
          'write the DNS server\'s IP address, e.g. "10.0.0.2" or "fd00::53"',
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
