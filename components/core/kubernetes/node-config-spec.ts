/**
 * The settings of the node-config DaemonSet: the names and paths its pod uses, the default image, the rollout and
 * readiness defaults, the validated pod-level spec, and the host folders it mounts.
 */
import { createHash } from "node:crypto";
import { PolicyError } from "../errors";
import type { ResourceRequirements, Toleration } from "./validators";

/** The script's file name in the ConfigMap, and where the init container finds it. */
export const APPLY_SCRIPT_KEY = "apply-node-config.sh";
/** The most a ConfigMap's or Secret's data may hold (keys and values), in bytes. */
export const KUBERNETES_DATA_LIMIT = 1024 * 1024;
export const CONFIG_MOUNT_PATH = "/config";
/** Where the node's folders appear inside the init container; the script's NODE_ROOT. */
export const NODE_ROOT_IN_POD = "/host";
/**
 * How the script reaches the node's systemd: enter PID 1's namespaces (needs hostPID and a privileged container) so
 * `systemctl` talks to the host's systemd over the host's D-Bus, exactly as an administrator on the node would.
 */
export const HOST_RUNTIME_CTL = "nsenter -t 1 -m -u -i -n -p -- systemctl";
/** Pod-template annotation holding the script's sha256: a change rolls the DaemonSet out node by node. */
export const CHECKSUM_ANNOTATION = "registry-mirrors.dev/config-checksum";
export const MODE_ANNOTATION = "registry-mirrors.dev/mode";

/**
 * The node folders the apply script may write, each mounted read-write at `/host<dir>` (and nothing else of the
 * host). A written path is mounted through the first of these that contains it.
 */
export const NODE_CONFIG_DIRS = [
  "/etc/buildkit",
  "/etc/containerd",
  "/etc/containers",
  "/etc/docker",
  "/etc/rancher",
] as const;

/**
 * Default image: Python's official Alpine image, pinned by digest. It has `sh`, `python3` (the script's JSON merge)
 * and BusyBox `nsenter` (to reach the host's systemd), and nothing the script does not need.
 */
export const DEFAULT_NODE_CONFIG_IMAGE =
  "docker.io/library/python:3.12-alpine@sha256:6d43704baacd1bfbe7c295d7f13079d5d8104ed33568873133f8fc69980419df";

/**
 * Rollout defaults, chosen from the per-node time measured by `npm run bench:rollout` (BENCHMARKS.md, "Rollout at
 * fleet scale"): a node takes about 16 s from its old pod's TERM to its new pod counted available (pod replaced,
 * `apply` ≈ 2.4 s, the first readiness `check` ≈ 1.4 s, {@link ROLLOUT_MIN_READY_SECONDS}), 25 s when slow.
 *
 * `maxUnavailable` `"1%"` (rounded up, so at least one node): 10,000 nodes roll 100 at a time, about 27 min (42 min
 * at 25 s a node; within the hour up to 36 s), 1,000 nodes 10 at a time, the same; a small fleet goes one at a time. At most 1% of the nodes reload a
 * runtime (a SIGHUP for dockerd, a reload for CRI-O; containerd reads hosts.toml live) at any moment, and a bad
 * policy stops the rollout after 1% of the fleet (its pods never become ready).
 */
export const DEFAULT_MAX_UNAVAILABLE = "1%";
/**
 * No surge: a surged pod would run its `apply` while the old pod's watchdog still runs the previous plan on the same
 * node (it would report the new files as changed by hand until it stops, and the new watchdog would wait for its
 * state lock). Replacing in place keeps one watchdog per node.
 */
export const ROLLOUT_MAX_SURGE = 0;
/**
 * A new pod counts as available only after it stayed ready this long: a runtime that reloads and then falls over
 * (or a watchdog that exits at once) stops the rollout instead of passing it. 5 s adds about a third to a node's time.
 */
export const ROLLOUT_MIN_READY_SECONDS = 5;
/**
 * The watchdog container's readiness probe: `check --readiness` (the node's files are the rendered or effective
 * ones, the runtimes use them; endpoint state from the watchdog, a down mirror being a note, not a failure). So
 * `kubectl rollout status` means "mirrors effective on every node", and one shared mirror's outage never turns
 * the fleet not-ready. The kubelet runs the first probe as soon as the container starts (no initial delay needed);
 * after that every 60 s (one check costs about 0.4 s CPU, so under 1% of a core); not ready after two failures in a
 * row; 30 s per run covers a slow `docker info` on a busy node.
 */
export const READINESS_PROBE = {
  exec: { command: ["sh", `${CONFIG_MOUNT_PATH}/${APPLY_SCRIPT_KEY}`, "check", "--readiness"] },
  initialDelaySeconds: 0,
  periodSeconds: 60,
  timeoutSeconds: 30,
  successThreshold: 1,
  failureThreshold: 2,
} as const;

/** Apply the desired configuration, or restore each node's backup (to remove the configuration cleanly). */
export type NodeConfigMode = "apply" | "restore";

/** The pod-level settings of the node-config DaemonSet, already validated. */
export interface NodeConfigSpec {
  /** DaemonSet name (a DNS label); the ConfigMap is `<name>-<first 10 hex of the checksum>`. */
  name: string;
  namespace: string;
  image: string;
  mode: NodeConfigMode;
  /** The rendered apply script (it embeds every node file). */
  applyScript: string;
  /** Node paths the script writes; decides the host mounts. Omitted: every folder in NODE_CONFIG_DIRS. */
  paths?: string[];
  nodeSelector?: Record<string, string>;
  /** Passed through as given (Kubernetes `Affinity`). */
  affinity?: Record<string, unknown>;
  tolerations: Toleration[];
  /** For the init container, which does the work. */
  resources?: ResourceRequirements;
  maxUnavailable: number | string;
  priorityClassName: string;
  /** Pull secrets (in the namespace) for a private copy of the image. */
  imagePullSecrets?: string[];
  labels?: Record<string, string>;
}

/** sha256 of the script, hex: the pod-template annotation. */
export function scriptChecksum(applyScript: string): string {
  return createHash("sha256").update(applyScript, "utf8").digest("hex");
}

/** The host folders to mount for the paths the script writes (sorted, each once). */
export function hostMountDirs(paths?: readonly string[]): string[] {
  if (paths === undefined) return [...NODE_CONFIG_DIRS];
  const dirs = new Set<string>();
  for (const p of paths) {
    const dir = NODE_CONFIG_DIRS.find((d) => p === d || p.startsWith(`${d}/`));
    if (!dir) {
      throw new PolicyError(
        "paths",
        p,
        `the node-config DaemonSet only writes under ${NODE_CONFIG_DIRS.join(", ")}`,
        "deliver this file another way (user data), or ask for its folder to be supported",
      );
    }
    dirs.add(dir);
  }
  return [...dirs].sort();
}
