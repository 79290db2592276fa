/** The shapes of the node-config manifests: the ConfigMap or Secret holding the apply script, and the DaemonSet. */
import type { ResourceRequirements, Toleration } from "./validators";

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
