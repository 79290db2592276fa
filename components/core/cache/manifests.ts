/**
 * A self-hosted pull-through cache as plain Kubernetes manifests, one set per upstream registry: a ConfigMap with
 * Distribution's configuration, a StatefulSet (a PVC per replica) or a Deployment (a shared bucket), a Service the
 * nodes reach without cluster DNS, a PodDisruptionBudget; a cert-manager Certificate when asked. And the policy
 * fragment that points nodes at them. The Pulumi layer (components/kubernetes) only wraps these in resources.
 */
import { createHash } from "node:crypto";
import type { MirrorEndpointInput, MirrorPolicyInput } from "../policy";
import { normalisePolicy } from "../policy";
import { CONFIG_FILE, type CacheEnvVar, cacheEnv, renderCacheConfig } from "./config";
import {
  CACHE_PORT,
  CONFIG_DIR,
  DATA_DIR,
  type PullThroughCacheInput,
  type ResolvedCacheSettings,
  type ResolvedUpstream,
  resolveCacheSettings,
  TLS_DIR,
} from "./settings";

/** Pod-template annotation holding the configuration's sha256: a change rolls the cache's pods. */
export const CACHE_CONFIG_ANNOTATION = "registry-mirrors.dev/cache-config-checksum";

/** A manifest's nested object (its spec). */
export type ManifestObject = Record<string, unknown>;
export interface CacheManifestMeta {
  name: string;
  namespace?: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface CacheManifest {
  apiVersion: string;
  kind: string;
  metadata: CacheManifestMeta;
  [key: string]: unknown;
}

/** The manifests of one cache. */
export interface UpstreamCacheManifests {
  registry: string;
  /** `host:port` nodes reach it at. */
  address: string;
  configMap: CacheManifest & { data: Record<string, string> };
  /** A StatefulSet (PVC storage) or a Deployment (bucket storage). */
  workload: CacheManifest & { spec: ManifestObject };
  service: CacheManifest & { spec: ManifestObject };
  podDisruptionBudget: CacheManifest & { spec: ManifestObject };
}

/** Everything `PullThroughCache` creates, and the policy fragment for `MirrorDaemonConfig`. */
export interface PullThroughCacheManifests {
  settings: ResolvedCacheSettings;
  caches: UpstreamCacheManifests[];
  /** The cert-manager Certificate (with `tls.certManager`). */
  certificate?: CacheManifest & { spec: ManifestObject };
  /** One endpoint per upstream, with its CA (or marked insecure for plain HTTP). */
  policy: MirrorPolicyInput;
}

function labelsOf(settings: ResolvedCacheSettings, upstream?: ResolvedUpstream): Record<string, string> {
  return {
    "app.kubernetes.io/name": "pull-through-cache",
    "app.kubernetes.io/instance": upstream ? upstream.objectName : settings.name,
    "app.kubernetes.io/part-of": "registry-mirrors",
    "app.kubernetes.io/managed-by": "pulumi",
  };
}

function selectorOf(settings: ResolvedCacheSettings, upstream: ResolvedUpstream): Record<string, string> {
  const l = labelsOf(settings, upstream);
  return {
    "app.kubernetes.io/name": l["app.kubernetes.io/name"],
    "app.kubernetes.io/instance": l["app.kubernetes.io/instance"],
  };
}

function podSpec(settings: ResolvedCacheSettings, upstream: ResolvedUpstream, env: CacheEnvVar[]): ManifestObject {
  const scheme = settings.tls.kind === "plainHttp" ? "HTTP" : "HTTPS";
  // GET /v2/ is served locally (proxy mode does not ask the upstream) and fails when the storage health check does.
  const probe = { httpGet: { path: "/v2/", port: "registry", scheme } };
  const mounts: ManifestObject[] = [
    { name: "config", mountPath: CONFIG_DIR, readOnly: true },
    { name: "tmp", mountPath: "/tmp" },
  ];
  const volumes: ManifestObject[] = [
    { name: "config", configMap: { name: upstream.objectName } },
    { name: "tmp", emptyDir: {} },
  ];
  if (settings.tls.kind !== "plainHttp") {
    mounts.push({ name: "tls", mountPath: TLS_DIR, readOnly: true });
    volumes.push({ name: "tls", secret: { secretName: settings.tls.secretName } });
  }
  if (upstream.storage.kind === "pvc") mounts.push({ name: "data", mountPath: DATA_DIR });
  const container: ManifestObject = {
    name: "registry",
    image: settings.image,
    command: ["registry", "serve", `${CONFIG_DIR}/${CONFIG_FILE}`],
    ports: [{ name: "registry", containerPort: CACHE_PORT, protocol: "TCP" }],
    env: [{ name: "OTEL_TRACES_EXPORTER", value: "none" }, ...env],
    readinessProbe: { ...probe, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
    livenessProbe: { ...probe, initialDelaySeconds: 10, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 },
    resources: settings.resources,
    volumeMounts: mounts,
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      capabilities: { drop: ["ALL"] },
    },
  };
  const spec: ManifestObject = {
    containers: [container],
    volumes,
    securityContext: { fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } },
    // Replicas on different nodes when possible: a node drain then leaves one serving.
    affinity: {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: {
              topologyKey: "kubernetes.io/hostname",
              labelSelector: { matchLabels: selectorOf(settings, upstream) },
            },
          },
        ],
      },
    },
  };
  if (settings.serviceAccountName) spec.serviceAccountName = settings.serviceAccountName;
  if (settings.priorityClassName) spec.priorityClassName = settings.priorityClassName;
  return spec;
}

function upstreamManifests(settings: ResolvedCacheSettings, upstream: ResolvedUpstream): UpstreamCacheManifests {
  const labels = labelsOf(settings, upstream);
  const selector = selectorOf(settings, upstream);
  const meta = { name: upstream.objectName, namespace: settings.namespace, labels };
  const config = renderCacheConfig(settings, upstream);
  const template = {
    metadata: {
      labels,
      annotations: { [CACHE_CONFIG_ANNOTATION]: createHash("sha256").update(config).digest("hex") },
    },
    spec: podSpec(settings, upstream, cacheEnv(upstream)),
  };
  const storage = upstream.storage;
  const workload =
    storage.kind === "pvc"
      ? {
          apiVersion: "apps/v1",
          kind: "StatefulSet",
          metadata: meta,
          spec: {
            replicas: upstream.replicas,
            serviceName: upstream.objectName,
            selector: { matchLabels: selector },
            // Each replica keeps its own cache: a pod can start while another is down.
            podManagementPolicy: "Parallel",
            template,
            volumeClaimTemplates: [
              {
                metadata: { name: "data", labels },
                spec: {
                  accessModes: ["ReadWriteOnce"],
                  storageClassName: storage.storageClassName,
                  resources: { requests: { storage: storage.size } },
                },
              },
            ],
          },
        }
      : {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: meta,
          spec: {
            replicas: upstream.replicas,
            selector: { matchLabels: selector },
            strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
            template,
          },
        };
  const port: ManifestObject = { name: "registry", port: CACHE_PORT, targetPort: "registry", protocol: "TCP" };
  const serviceSpec: ManifestObject = { selector, ports: [port] };
  if (upstream.clusterIP !== undefined) {
    serviceSpec.type = "ClusterIP";
    serviceSpec.clusterIP = upstream.clusterIP;
  } else {
    serviceSpec.type = "NodePort";
    port.nodePort = upstream.nodePort;
    // Each node answers on its own node port with its own or any ready pod.
    serviceSpec.externalTrafficPolicy = "Cluster";
  }
  return {
    registry: upstream.registry,
    address: upstream.address,
    configMap: { apiVersion: "v1", kind: "ConfigMap", metadata: meta, data: { [CONFIG_FILE]: config } },
    workload,
    service: { apiVersion: "v1", kind: "Service", metadata: meta, spec: serviceSpec },
    podDisruptionBudget: {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: meta,
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    },
  };
}

/** The policy fragment: each upstream registry's cache as its first (only) mirror, with the CA or marked insecure. */
export function cachePolicyFragment(settings: ResolvedCacheSettings): MirrorPolicyInput {
  const registries: MirrorPolicyInput["registries"] = {};
  for (const u of settings.upstreams) {
    const endpoint: MirrorEndpointInput =
      settings.tls.kind === "plainHttp"
        ? { url: `http://${u.address}`, insecure: true }
        : { url: `https://${u.address}`, ca: settings.tls.ca };
    // The upstream stays the fallback: the cache's own image, and every pull while it is down, still works.
    registries[u.registry] = { mirrors: [endpoint], upstreamFallback: true };
  }
  const policy = { registries };
  normalisePolicy(policy, "cache policy");
  return policy;
}

/** Builds every manifest of the caches and the policy fragment; throws a PolicyError on bad input. */
export function pullThroughCacheManifests(input: PullThroughCacheInput): PullThroughCacheManifests {
  const settings = resolveCacheSettings(input);
  const out: PullThroughCacheManifests = {
    settings,
    caches: settings.upstreams.map((u) => upstreamManifests(settings, u)),
    policy: cachePolicyFragment(settings),
  };
  if (settings.tls.kind === "certManager") {
    const ips = settings.upstreams.map((u) => u.clusterIP ?? u.address.replace(/^\[?([^\]]*)\]?:\d+$/, "$1"));
    const spec: ManifestObject = {
      secretName: settings.tls.secretName,
      commonName: `${settings.name}.${settings.namespace}.svc`,
      dnsNames: settings.upstreams.map((u) => `${u.objectName}.${settings.namespace}.svc`),
      ipAddresses: [...new Set(ips)],
      usages: ["server auth", "digital signature", "key encipherment"],
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      issuerRef: { name: settings.tls.issuerName, kind: settings.tls.issuerKind, group: "cert-manager.io" },
    };
    if (settings.tls.duration) spec.duration = settings.tls.duration;
    out.certificate = {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: settings.tls.secretName, namespace: settings.namespace, labels: labelsOf(settings) },
      spec,
    };
  }
  return out;
}
