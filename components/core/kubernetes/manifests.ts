/**
 * The node-config delivery as plain Kubernetes manifests: the object holding the apply script (a ConfigMap, or a
 * Secret when the script holds a credential) and the DaemonSet that runs it on every node. The Pulumi layer
 * (components/kubernetes) only wraps them in resources.
 */
import { createHash } from "node:crypto";
import { PolicyError } from "../errors";
import { watchPlanOf } from "../node-script";
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

function volumeName(dir: string): string {
  return `host${dir.replace(/\//g, "-")}`;
}

/** Object metadata of the manifests (names, namespace, labels and annotations). */
export interface ObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
}

/** The ConfigMap holding the apply script. */
export interface ConfigMapManifest {
  apiVersion: "v1";
  kind: "ConfigMap";
  metadata: ObjectMeta;
  immutable: true;
  data: Record<string, string>;
}

/** The Secret holding the apply script, when the script holds a credential. */
export interface SecretManifest {
  apiVersion: "v1";
  kind: "Secret";
  metadata: ObjectMeta;
  immutable: true;
  type: "Opaque";
  stringData: Record<string, string>;
}

/** A container of the node-config pod. */
export interface ContainerManifest {
  name: string;
  image: string;
  imagePullPolicy: "IfNotPresent";
  command: string[];
  env?: Array<{ name: string; value: string }>;
  securityContext: {
    privileged: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    runAsUser?: number;
    runAsGroup?: number;
    capabilities?: { drop: string[] };
  };
  resources: ResourceRequirements;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  readinessProbe?: ReadinessProbeManifest;
}

/** An exec readiness probe. */
export interface ReadinessProbeManifest {
  exec: { command: string[] };
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

/** A pod volume: the script (from the ConfigMap or the Secret) or a host folder. */
export type VolumeManifest =
  | { name: string; configMap: { name: string; defaultMode: number } }
  | { name: string; secret: { secretName: string; defaultMode: number } }
  | { name: string; hostPath: { path: string; type: "DirectoryOrCreate" } };

/** The pod spec of the node-config DaemonSet. */
export interface PodSpecManifest {
  hostPID: true;
  automountServiceAccountToken: false;
  enableServiceLinks: false;
  priorityClassName: string;
  terminationGracePeriodSeconds: number;
  tolerations: Toleration[];
  nodeSelector: Record<string, string>;
  /** Passed through as given (Kubernetes `Affinity`). */
  affinity?: Record<string, unknown>;
  imagePullSecrets?: Array<{ name: string }>;
  initContainers: ContainerManifest[];
  containers: ContainerManifest[];
  volumes: VolumeManifest[];
}

/** The node-config DaemonSet. */
export interface DaemonSetManifest {
  apiVersion: "apps/v1";
  kind: "DaemonSet";
  metadata: ObjectMeta;
  spec: {
    selector: { matchLabels: Record<string, string> };
    minReadySeconds: number;
    updateStrategy: {
      type: "RollingUpdate";
      rollingUpdate: { maxUnavailable: number | string; maxSurge: number | string };
    };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: PodSpecManifest;
    };
  };
}

/** Where {@link nodeConfigManifests} puts the apply script. */
export interface NodeConfigManifestOptions {
  /**
   * Keep the script in a Secret instead of a ConfigMap (needed when a node file holds a credential); the
   * DaemonSet's `config` volume then reads the Secret.
   */
  scriptInSecret?: boolean;
}

/**
 * The ConfigMap (or, with `scriptInSecret`, the Secret) holding the apply script and the DaemonSet that runs it,
 * as plain manifests. Both holders have the same content-addressed name and are immutable.
 */
export function nodeConfigManifests(
  spec: NodeConfigSpec,
  options?: NodeConfigManifestOptions & { scriptInSecret?: false },
): { configMap: ConfigMapManifest; daemonSet: DaemonSetManifest };
export function nodeConfigManifests(
  spec: NodeConfigSpec,
  options: NodeConfigManifestOptions & { scriptInSecret: true },
): { secret: SecretManifest; daemonSet: DaemonSetManifest };
export function nodeConfigManifests(
  spec: NodeConfigSpec,
  options?: NodeConfigManifestOptions,
):
  | { configMap: ConfigMapManifest; daemonSet: DaemonSetManifest }
  | { secret: SecretManifest; daemonSet: DaemonSetManifest };
export function nodeConfigManifests(
  spec: NodeConfigSpec,
  options: NodeConfigManifestOptions = {},
):
  | { configMap: ConfigMapManifest; daemonSet: DaemonSetManifest }
  | { secret: SecretManifest; daemonSet: DaemonSetManifest } {
  const size = Buffer.byteLength(APPLY_SCRIPT_KEY) + Buffer.byteLength(spec.applyScript, "utf8");
  if (size > KUBERNETES_DATA_LIMIT) {
    throw new PolicyError(
      "kubernetes",
      `${size} bytes`,
      `the ${options.scriptInSecret ? "Secret" : "ConfigMap"} holding the apply script would be over Kubernetes' limit of ${KUBERNETES_DATA_LIMIT} bytes (1 MiB) by ${size - KUBERNETES_DATA_LIMIT}, and the API server would refuse it`,
      "mirror fewer registries, or split the nodes into several MirrorDaemonConfig components",
    );
  }
  const checksum = scriptChecksum(spec.applyScript);
  const holderName = `${spec.name}-${checksum.slice(0, 10)}`;
  const selector = {
    "app.kubernetes.io/name": "registry-mirrors-node-config",
    "app.kubernetes.io/instance": spec.name,
  };
  const labels = { ...spec.labels, ...selector, "app.kubernetes.io/managed-by": "pulumi" };
  const dirs = hostMountDirs(spec.paths);
  const metadata: ObjectMeta = { name: holderName, namespace: spec.namespace, labels };
  const scriptVolume: VolumeManifest = options.scriptInSecret
    ? { name: "config", secret: { secretName: holderName, defaultMode: 0o444 } }
    : { name: "config", configMap: { name: holderName, defaultMode: 0o444 } };

  const env = [
    { name: "NODE_ROOT", value: NODE_ROOT_IN_POD },
    { name: "RUNTIME_CTL", value: HOST_RUNTIME_CTL },
  ];
  const mounts = [
    { name: "config", mountPath: CONFIG_MOUNT_PATH, readOnly: true },
    ...dirs.map((dir) => ({ name: volumeName(dir), mountPath: `${NODE_ROOT_IN_POD}${dir}` })),
  ];
  // With a watch plan the long-running container runs the watchdog (in apply mode; restore leaves the sleeper):
  // the apply run is told not to install the systemd service, so a node never runs two.
  const watch = spec.mode === "apply" ? watchPlanOf(spec.applyScript) : undefined;
  const watchDirs: Array<[string, string]> = watch
    ? [
        ["watch-state", watch.stateDir],
        ...(watch.metricsFile
          ? [["watch-metrics", watch.metricsFile.replace(/\/[^/]*$/, "")] as [string, string]]
          : []),
      ]
    : [];
  const sleeper: ContainerManifest = {
    // Keeps the pod Running without work or restarts; exits promptly on TERM.
    name: "idle",
    image: spec.image,
    imagePullPolicy: "IfNotPresent",
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done"],
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65534,
      runAsGroup: 65534,
      capabilities: { drop: ["ALL"] },
    },
    resources: { requests: { cpu: "1m", memory: "4Mi" }, limits: { memory: "16Mi" } },
  };
  const watcher: ContainerManifest = {
    name: "watchdog",
    image: spec.image,
    imagePullPolicy: "IfNotPresent",
    command: ["sh", `${CONFIG_MOUNT_PATH}/${APPLY_SCRIPT_KEY}`, "watch"],
    env,
    // Privileged for the same reason as the apply container: it reloads docker and CRI-O through nsenter.
    securityContext: { privileged: true },
    resources: { requests: { cpu: "5m", memory: "24Mi" }, limits: { memory: "96Mi" } },
    volumeMounts: [...mounts, ...watchDirs.map(([name, dir]) => ({ name, mountPath: `${NODE_ROOT_IN_POD}${dir}` }))],
    readinessProbe: { ...READINESS_PROBE, exec: { command: [...READINESS_PROBE.exec.command] } },
  };

  const podSpec: PodSpecManifest = {
    // hostPID makes PID 1 the node's init, which `nsenter -t 1` needs to reach systemd.
    hostPID: true,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    priorityClassName: spec.priorityClassName,
    terminationGracePeriodSeconds: 5,
    tolerations: spec.tolerations,
    nodeSelector: spec.nodeSelector ?? { "kubernetes.io/os": "linux" },
    ...(spec.affinity ? { affinity: spec.affinity } : {}),
    ...(spec.imagePullSecrets?.length ? { imagePullSecrets: spec.imagePullSecrets.map((name) => ({ name })) } : {}),
    initContainers: [
      {
        name: "apply",
        image: spec.image,
        imagePullPolicy: "IfNotPresent",
        command: ["sh", `${CONFIG_MOUNT_PATH}/${APPLY_SCRIPT_KEY}`, spec.mode],
        env: watch ? [...env, { name: "WATCHDOG_SERVICE", value: "0" }] : env,
        // Privileged only because nsenter into PID 1's namespaces needs CAP_SYS_ADMIN, CAP_SYS_PTRACE and no
        // AppArmor/seccomp confinement; the sleeper has no privilege at all.
        securityContext: { privileged: true },
        resources: spec.resources ?? { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
        volumeMounts: mounts,
      },
    ],
    containers: [watch ? watcher : sleeper],
    volumes: [
      scriptVolume,
      ...dirs.map((dir) => ({ name: volumeName(dir), hostPath: { path: dir, type: "DirectoryOrCreate" as const } })),
      ...watchDirs.map(([name, dir]) => ({ name, hostPath: { path: dir, type: "DirectoryOrCreate" as const } })),
    ],
  };

  const daemonSet: DaemonSetManifest = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: spec.name, namespace: spec.namespace, labels },
    spec: {
      selector: { matchLabels: selector },
      minReadySeconds: ROLLOUT_MIN_READY_SECONDS,
      updateStrategy: {
        type: "RollingUpdate",
        rollingUpdate: { maxUnavailable: spec.maxUnavailable, maxSurge: ROLLOUT_MAX_SURGE },
      },
      template: {
        metadata: { labels, annotations: { [CHECKSUM_ANNOTATION]: checksum, [MODE_ANNOTATION]: spec.mode } },
        spec: podSpec,
      },
    },
  };
  // Content-addressed and immutable: a pod always runs the script it was rolled out with.
  const data = { [APPLY_SCRIPT_KEY]: spec.applyScript };
  if (options.scriptInSecret) {
    return {
      secret: { apiVersion: "v1", kind: "Secret", metadata, immutable: true, type: "Opaque", stringData: data },
      daemonSet,
    };
  }
  return { configMap: { apiVersion: "v1", kind: "ConfigMap", metadata, immutable: true, data }, daemonSet };
}
