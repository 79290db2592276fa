/**
 * The settings of a self-hosted pull-through cache (CNCF Distribution in proxy mode, one cache per upstream registry),
 * checked and defaulted. Plain values only: the Pulumi component resolves its Inputs (a bucket it created, secrets)
 * before calling this.
 */
import ipaddr from "ipaddr.js";
import { PolicyError } from "../errors";
import { parseHostPort } from "../host-port";
import {
  validateDnsLabel,
  validateDnsSubdomain,
  validateImageReference,
  validateResources,
  type ResourceRequirements,
} from "../kubernetes/validators";
import { DOCKER_HUB, checkKnownFields, isPlainObject, normaliseRegistryName, parseMirrorUrl } from "../policy";
import { checkCredentials, checkIp, checkReplicas, checkStorage, checkTls, hostPort } from "./checks";

/**
 * Default image: Distribution 2.8 (the `registry:2` line: it still has the OSS storage driver, which 3.0 dropped, and
 * it is the version the e2e lab runs the same configuration with). Pin it by digest in your copy.
 */
export const DEFAULT_CACHE_IMAGE = "docker.io/library/registry:2.8.3";
/** The port every cache listens on, in the pod and on its Service. */
export const CACHE_PORT = 5000;
/** Where the container reads its configuration, its TLS key pair and keeps a PVC's blobs. */
export const CONFIG_DIR = "/etc/distribution";
export const TLS_DIR = "/etc/distribution/tls";
export const DATA_DIR = "/var/lib/registry";

/** A key of an existing Secret in the cache's namespace. */
export interface SecretKeyRef {
  /** The Secret's name. */
  name: string;
  /** The key holding the value. */
  key: string;
}

/** Upstream registry credentials (e.g. a Docker Hub account, to escape anonymous pull limits): keys of a Secret. */
export interface UpstreamCredentialsRef {
  username: SecretKeyRef;
  password: SecretKeyRef;
}

/** Where one cache keeps its blobs. */
export type CacheStorageInput =
  /** A PersistentVolumeClaim per replica (a StatefulSet): the default. */
  | { pvc: { storageClassName?: string; size?: string } }
  /** An S3 bucket shared by the replicas (a Deployment); credentials from a Secret, or the pod's IAM role when absent. */
  | { s3: { bucket: string; region: string; prefix?: string; accessKey?: UpstreamCredentialsRef } }
  /** An Alibaba Cloud OSS bucket (Distribution 2.x's `oss` driver), shared by the replicas. */
  | { oss: { bucket: string; region: string; internal?: boolean; prefix?: string; accessKey: UpstreamCredentialsRef } };

/** One upstream registry and its cache. */
export interface CacheUpstreamInput {
  /** The upstream registry as the policy names it: `docker.io`, `ghcr.io`, `quay.io`, `registry.k8s.io`, any `host[:port]`. */
  registry: string;
  /** What the cache pulls from; default `https://registry-1.docker.io` for Docker Hub, `https://<registry>` otherwise. */
  remoteUrl?: string;
  /** Credentials for the upstream, from a Secret (never plain): the cache's `REGISTRY_PROXY_USERNAME/PASSWORD`. */
  credentials?: UpstreamCredentialsRef;
  /** This cache's storage; default the cache-wide `storage`. */
  storage?: CacheStorageInput;
  /** The Service's fixed cluster IP (with `exposure: "clusterIP"`, the default): the address nodes use. */
  clusterIP?: string;
  /** The node port (with `exposure: "nodePort"`), 30000-32767. */
  nodePort?: number;
  /** Replicas of this cache; default the cache-wide `replicas`. */
  replicas?: number;
}

/** How the caches serve TLS. Exactly one form; plain HTTP only when asked for. */
export type CacheTlsInput =
  /** A `kubernetes.io/tls` Secret you made (its certificate valid for the nodes' address of each cache), and its CA. */
  | { secretName: string; ca: string }
  /** A cert-manager Certificate the component creates from this issuer, and the issuer's CA (PEM) for the policy. */
  | { certManager: { issuerName: string; issuerKind?: "Issuer" | "ClusterIssuer"; ca: string; duration?: string } }
  /** Plain HTTP: the policy marks each endpoint `insecure` explicitly. */
  | { plainHttp: true };

/** The cache-wide settings (the core form of the `PullThroughCache` component's arguments). */
export interface PullThroughCacheInput {
  /** Base name of every object (`<name>-<registry slug>`). */
  name: string;
  /** Namespace of every object; default `kube-system` (nodes depend on the caches, like on CoreDNS). */
  namespace?: string;
  upstreams: CacheUpstreamInput[];
  /** Default storage of every cache; default a PVC of `size` 50Gi (a storage class is required). */
  storage?: CacheStorageInput;
  /**
   * How nodes reach a cache without cluster DNS (the runtimes resolve names with the node's resolver, not CoreDNS):
   * `"clusterIP"` (default) — a Service per cache with the fixed `clusterIP` you give, reached through kube-proxy's
   * rules on every node and unchanged when the Service is re-created; `"nodePort"` — a NodePort per cache reached at
   * `nodeAddress` (default `127.0.0.1`, which needs kube-proxy in iptables mode with localhost node ports, its default).
   */
  exposure?: "clusterIP" | "nodePort";
  /** With `exposure: "nodePort"`: the address every node reaches its own node ports on. */
  nodeAddress?: string;
  tls: CacheTlsInput;
  image?: string;
  /** Replicas per cache; default 2 (a PodDisruptionBudget keeps one up during drains). */
  replicas?: number;
  /** Container resources; default 100m CPU / 128Mi requested, 512Mi memory limit. */
  resources?: ResourceRequirements;
  /** Service account of the pods (an IAM role for S3 through IRSA, for example). */
  serviceAccountName?: string;
  /** Priority class of the pods; default `system-cluster-critical` when in kube-system. */
  priorityClassName?: string;
}

export type ResolvedStorage =
  | { kind: "pvc"; storageClassName: string; size: string }
  | { kind: "s3"; bucket: string; region: string; prefix?: string; accessKey?: UpstreamCredentialsRef }
  | {
      kind: "oss";
      bucket: string;
      region: string;
      internal: boolean;
      prefix?: string;
      accessKey: UpstreamCredentialsRef;
    };

export interface ResolvedUpstream {
  registry: string;
  /** DNS-label form of the registry (`docker-io`, `registry-k8s-io`, `10-0-0-5-5000`). */
  slug: string;
  /** `<name>-<slug>`: the name of the cache's objects. */
  objectName: string;
  remoteUrl: string;
  credentials?: UpstreamCredentialsRef;
  storage: ResolvedStorage;
  replicas: number;
  clusterIP?: string;
  nodePort?: number;
  /** `host:port` nodes use. */
  address: string;
}

export interface ResolvedCacheSettings {
  name: string;
  namespace: string;
  image: string;
  exposure: "clusterIP" | "nodePort";
  tls:
    | { kind: "secret"; secretName: string; ca: string }
    | {
        kind: "certManager";
        secretName: string;
        issuerName: string;
        issuerKind: "Issuer" | "ClusterIssuer";
        ca: string;
        duration?: string;
      }
    | { kind: "plainHttp" };
  upstreams: ResolvedUpstream[];
  resources: ResourceRequirements;
  serviceAccountName?: string;
  priorityClassName?: string;
}

const DEFAULT_RESOURCES: ResourceRequirements = {
  requests: { cpu: "100m", memory: "128Mi" },
  limits: { memory: "512Mi" },
};

/** The DNS-label form of a registry name (`docker-io`, `registry-k8s-io`, `10-0-0-5-5000`). */
export function registrySlug(registry: string): string {
  return registry
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

export function resolveCacheSettings(input: PullThroughCacheInput): ResolvedCacheSettings {
  if (!isPlainObject(input)) throw new PolicyError("args", input, "must be an object", "give name, upstreams and tls");
  checkKnownFields("args", input, [
    "name",
    "namespace",
    "upstreams",
    "storage",
    "exposure",
    "nodeAddress",
    "tls",
    "image",
    "replicas",
    "resources",
    "serviceAccountName",
    "priorityClassName",
  ]);
  const name = validateDnsLabel("name", input.name);
  const namespace = validateDnsLabel("namespace", input.namespace ?? "kube-system");
  const exposure = input.exposure ?? "clusterIP";
  if (exposure !== "clusterIP" && exposure !== "nodePort") {
    throw new PolicyError(
      "exposure",
      exposure,
      "unknown exposure",
      'use "clusterIP" (a fixed Service IP per cache) or "nodePort"',
    );
  }
  const nodeAddress = input.nodeAddress === undefined ? "127.0.0.1" : input.nodeAddress;
  if (exposure === "nodePort" && (typeof nodeAddress !== "string" || !ipaddr.isValid(nodeAddress))) {
    throw new PolicyError(
      "nodeAddress",
      nodeAddress,
      "not an IP address",
      'give the address every node reaches its own node ports on, e.g. "127.0.0.1"',
    );
  }
  const replicas = checkReplicas("replicas", input.replicas, 2);
  if (!Array.isArray(input.upstreams) || input.upstreams.length === 0) {
    throw new PolicyError(
      "upstreams",
      input.upstreams,
      "no upstream registry to cache",
      'give e.g. upstreams: [{ registry: "docker.io", clusterIP: "10.96.0.50" }]',
    );
  }
  const seen = new Map<string, number>();
  const addresses = new Map<string, number>();
  const upstreams = input.upstreams.map((raw, i): ResolvedUpstream => {
    const field = `upstreams[${i}]`;
    if (!isPlainObject(raw))
      throw new PolicyError(
        field,
        raw,
        "must be an object",
        'write { registry: "docker.io", clusterIP: "10.96.0.50" }',
      );
    checkKnownFields(field, raw, [
      "registry",
      "remoteUrl",
      "credentials",
      "storage",
      "clusterIP",
      "nodePort",
      "replicas",
    ]);
    const registry = normaliseRegistryName(`${field}.registry`, raw.registry);
    if (registry === "*") {
      throw new PolicyError(
        `${field}.registry`,
        raw.registry,
        "a pull-through cache proxies one upstream registry",
        "list each registry to cache by name",
      );
    }
    const earlier = seen.get(registry);
    if (earlier !== undefined) {
      throw new PolicyError(
        `${field}.registry`,
        raw.registry,
        `${registry} is already cached by upstreams[${earlier}]`,
        "keep one cache per upstream registry (give it more replicas or storage instead)",
      );
    }
    seen.set(registry, i);
    const remoteUrl =
      raw.remoteUrl === undefined
        ? registry === DOCKER_HUB
          ? "https://registry-1.docker.io"
          : `https://${registry}`
        : parseMirrorUrl(`${field}.remoteUrl`, raw.remoteUrl).url;
    const storageInput = raw.storage ?? input.storage ?? { pvc: {} };
    const storage = checkStorage(
      raw.storage !== undefined ? `${field}.storage` : input.storage !== undefined ? "storage" : `${field}.storage`,
      storageInput,
    );
    const slug = registrySlug(registry);
    const objectName = validateDnsLabel(`${field}.registry`, `${name}-${slug}`);
    if (objectName.length > 52) {
      throw new PolicyError(
        "name",
        name,
        `"${objectName}" is longer than 52 characters (a StatefulSet's pods need room for their suffix)`,
        "give a shorter name",
      );
    }
    let address: string;
    let clusterIP: string | undefined;
    let nodePort: number | undefined;
    if (exposure === "clusterIP") {
      clusterIP = checkIp(`${field}.clusterIP`, raw.clusterIP);
      address = hostPort(clusterIP, CACHE_PORT);
    } else {
      if (
        typeof raw.nodePort !== "number" ||
        !Number.isInteger(raw.nodePort) ||
        raw.nodePort < 30000 ||
        raw.nodePort > 32767
      ) {
        throw new PolicyError(
          `${field}.nodePort`,
          raw.nodePort,
          "a node port from 30000 to 32767 is required with exposure nodePort",
          "pick a free port, e.g. 30500",
        );
      }
      nodePort = raw.nodePort;
      address = hostPort(nodeAddress as string, nodePort);
    }
    const other = addresses.get(address);
    if (other !== undefined) {
      throw new PolicyError(
        `${field}.${exposure === "clusterIP" ? "clusterIP" : "nodePort"}`,
        address,
        `the same address as upstreams[${other}]`,
        "give every cache its own address",
      );
    }
    addresses.set(address, i);
    const resolved: ResolvedUpstream = {
      registry,
      slug,
      objectName,
      remoteUrl,
      storage,
      replicas: checkReplicas(`${field}.replicas`, raw.replicas, replicas),
      address,
    };
    const credentials = checkCredentials(`${field}.credentials`, raw.credentials);
    if (credentials) resolved.credentials = credentials;
    if (clusterIP !== undefined) resolved.clusterIP = clusterIP;
    if (nodePort !== undefined) resolved.nodePort = nodePort;
    parseHostPort(`${field}`, address);
    return resolved;
  });
  const settings: ResolvedCacheSettings = {
    name,
    namespace,
    image: validateImageReference("image", input.image ?? DEFAULT_CACHE_IMAGE),
    exposure,
    tls: checkTls("tls", input.tls, name),
    upstreams,
    resources: validateResources("resources", input.resources ?? DEFAULT_RESOURCES),
  };
  if (input.serviceAccountName !== undefined)
    settings.serviceAccountName = validateDnsSubdomain("serviceAccountName", input.serviceAccountName);
  const priority = input.priorityClassName ?? (namespace === "kube-system" ? "system-cluster-critical" : undefined);
  if (priority !== undefined) settings.priorityClassName = validateDnsSubdomain("priorityClassName", priority);
  return settings;
}
