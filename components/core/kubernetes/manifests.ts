/**
 * The node-config delivery as plain Kubernetes manifests: the object holding the apply script (a ConfigMap, or a
 * Secret when the script holds a credential) and the DaemonSet that runs it on every node. The Pulumi layer
 * (components/kubernetes) only wraps them in resources.
 */
import { PolicyError } from "../errors";
import { watchPlanOf } from "../node-script";
import type {
  ConfigMapManifest,
  ContainerManifest,
  DaemonSetManifest,
  NodeConfigManifestOptions,
  ObjectMeta,
  PodSpecManifest,
  SecretManifest,
  VolumeManifest,
} from "./manifest-types";
import {
  APPLY_SCRIPT_KEY,
  CHECKSUM_ANNOTATION,
  CONFIG_MOUNT_PATH,
  HOST_RUNTIME_CTL,
  hostMountDirs,
  KUBERNETES_DATA_LIMIT,
  MODE_ANNOTATION,
  NODE_ROOT_IN_POD,
  type NodeConfigSpec,
  READINESS_PROBE,
  ROLLOUT_MAX_SURGE,
  ROLLOUT_MIN_READY_SECONDS,
  scriptChecksum,
} from "./node-config-spec";

export * from "./manifest-types";
export * from "./node-config-spec";

function volumeName(dir: string): string {
  return `host${dir.replace(/\//g, "-")}`;
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
