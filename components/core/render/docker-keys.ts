/**
 * The keys dockerd 20.10 to 27 accepts in `daemon.json` on Linux, and which of them a SIGHUP reloads.
 *
 * dockerd refuses to start when the file holds a key that matches none of its options ("the following
 * directives don't match any configuration option"), so a key outside this table is refused at render time.
 * Sources: `dockerd --help` of 20.10, the daemon.json reference of 23-27 and moby's daemon/config and
 * daemon/reload code. The keys marked for 20.10 are checked against a real dockerd 20.10 by the e2e suite.
 */
import { nearestNames } from "../suggest";

/** What the library knows about one `daemon.json` key. */
export interface DockerKeyInfo {
  /** First dockerd release that accepts the key, when newer than 20.10. */
  since?: string;
  /** Last dockerd release that accepts the key, when it was removed before 28. */
  until?: string;
  /** For an object value dockerd flattens into flags: the keys it may hold. */
  nested?: readonly string[];
}

/** Every top-level `daemon.json` key dockerd 20.10-27 accepts on Linux, in alphabetical order. */
export const DOCKERD_KEYS: Readonly<Record<string, DockerKeyInfo>> = {
  "allow-nondistributable-artifacts": {},
  "api-cors-header": {},
  "authorization-plugins": {},
  bip: {},
  bridge: {},
  builder: {},
  "cdi-spec-dirs": { since: "25.0" },
  "cgroup-parent": {},
  "cluster-advertise": { until: "20.10" },
  "cluster-store": { until: "20.10" },
  "cluster-store-opts": { until: "20.10" },
  containerd: {},
  "containerd-namespace": {},
  "containerd-plugins-namespace": {},
  "cpu-rt-period": {},
  "cpu-rt-runtime": {},
  "cri-containerd": {},
  "data-root": {},
  debug: {},
  "default-address-pools": {},
  "default-cgroupns-mode": {},
  "default-gateway": {},
  "default-gateway-v6": {},
  "default-ipc-mode": {},
  "default-network-opts": { since: "24.0" },
  "default-runtime": {},
  "default-shm-size": {},
  "default-ulimits": {},
  dns: {},
  "dns-opts": {},
  "dns-search": {},
  "exec-opts": {},
  "exec-root": {},
  experimental: {},
  features: {},
  "fixed-cidr": {},
  "fixed-cidr-v6": {},
  group: {},
  "host-gateway-ip": {},
  hosts: {},
  icc: {},
  init: {},
  "init-path": {},
  "insecure-registries": {},
  ip: {},
  "ip-forward": {},
  "ip-masq": {},
  ip6tables: {},
  iptables: {},
  ipv6: {},
  labels: {},
  "live-restore": {},
  "log-driver": {},
  "log-format": { since: "25.0" },
  "log-level": {},
  "log-opts": {},
  "max-concurrent-downloads": {},
  "max-concurrent-uploads": {},
  "max-download-attempts": {},
  "metrics-addr": {},
  mtu: {},
  "network-control-plane-mtu": {},
  "no-new-privileges": {},
  "node-generic-resources": {},
  "oom-score-adjust": { until: "24.0" },
  pidfile: {},
  proxies: { since: "23.0", nested: ["http-proxy", "https-proxy", "no-proxy"] },
  "raw-logs": {},
  "registry-mirrors": {},
  rootless: {},
  runtimes: {},
  "seccomp-profile": {},
  "selinux-enabled": {},
  "shutdown-timeout": {},
  "storage-driver": {},
  "storage-opts": {},
  "swarm-default-advertise-addr": {},
  tls: {},
  tlscacert: {},
  tlscert: {},
  tlskey: {},
  tlsverify: {},
  "userland-proxy": {},
  "userland-proxy-path": {},
  "userns-remap": {},
};

/**
 * Keys a running dockerd applies on SIGHUP (`systemctl reload docker`). A change to any other key needs a
 * restart. Kept to what reloads reliably on 20.10-27 (`features` and `authorization-plugins` reload only in
 * part, so they count as restart keys).
 */
export const DOCKER_RELOADABLE_KEYS: readonly string[] = [
  "allow-nondistributable-artifacts",
  "debug",
  "default-runtime",
  "default-shm-size",
  "insecure-registries",
  "labels",
  "live-restore",
  "max-concurrent-downloads",
  "max-concurrent-uploads",
  "max-download-attempts",
  "registry-mirrors",
  "runtimes",
  "shutdown-timeout",
];

/**
 * Reloadable keys whose removal from the file a SIGHUP also undoes (dockerd resets them to their default).
 * For the other reloadable keys dockerd keeps the old value when the key disappears: see
 * DOCKER_RELOAD_EMPTY_VALUES, and a restart for the rest.
 */
export const DOCKER_RELOAD_RESETS_WHEN_REMOVED: readonly string[] = [
  "max-concurrent-downloads",
  "max-concurrent-uploads",
  "max-download-attempts",
];

/**
 * Reloadable keys dockerd keeps when they disappear from the file, but resets on SIGHUP when they hold this empty
 * value (checked on dockerd 20.10; 23-27 reload them the same way: only a key present in the file is applied). To
 * drop one with a reload only, the apply script reloads a file holding these values, then writes the exact file.
 */
export const DOCKER_RELOAD_EMPTY_VALUES: Readonly<Record<string, unknown>> = {
  "allow-nondistributable-artifacts": [],
  debug: false,
  "insecure-registries": [],
  labels: [],
  "live-restore": false,
  "registry-mirrors": [],
};

/**
 * dockerd flag names that differ from their daemon.json key. dockerd's unknown-key check accepts a flag name in the
 * file, but nothing reads it there: the setting is silently ignored (seen on dockerd 20.10). Refused at render time.
 */
export const DOCKERD_FLAG_SPELLINGS: Readonly<Record<string, string>> = {
  "add-runtime": "runtimes",
  "authorization-plugin": "authorization-plugins",
  "default-address-pool": "default-address-pools",
  "default-ulimit": "default-ulimits",
  "dns-opt": "dns-opts",
  "exec-opt": "exec-opts",
  host: "hosts",
  "insecure-registry": "insecure-registries",
  label: "labels",
  "log-opt": "log-opts",
  "node-generic-resource": "node-generic-resources",
  "registry-mirror": "registry-mirrors",
  "storage-opt": "storage-opts",
};

/** The known key closest to `key` by edit distance, to suggest in an error. */
export function closestDockerKey(key: string): string {
  return nearestNames(key, Object.keys(DOCKERD_KEYS), 1)[0];
}
