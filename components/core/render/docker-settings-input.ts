/** The typed Docker daemon settings a policy may give (`execOpts`, `logDriver`, ...) and the daemon.json key of each. */

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
  /**
   * Keep `insecureRegistries` ranges that cover public address space (refused by default: Docker would pull over
   * plain HTTP or without certificate checks from any such host). Not written to daemon.json.
   */
  allowPublicInsecureRegistries?: boolean;
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

export const SETTINGS_FIELDS = [
  "insecureRegistries",
  "allowPublicInsecureRegistries",
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
export const SETTING_KEYS: Record<
  Exclude<(typeof SETTINGS_FIELDS)[number], "extra" | "allowPublicInsecureRegistries">,
  string
> = {
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
