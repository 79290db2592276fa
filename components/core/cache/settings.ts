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
import {
  DOCKER_HUB,
  checkKnownFields,
  isPlainObject,
  normaliseRegistryName,
  parseCaBundle,
  parseMirrorUrl,
} from "../policy";
import { parseQuantity } from "../kubernetes/validators";

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

function checkReplicas(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 20) {
    throw new PolicyError(field, value, "must be a whole number from 1 to 20", "write e.g. replicas: 2");
  }
  return value;
}

function checkSecretKeyRef(field: string, value: unknown): SecretKeyRef {
  if (!isPlainObject(value)) {
    throw new PolicyError(
      field,
      value,
      "must name a key of a Secret (credentials are never given as plain text)",
      'write { name: "dockerhub-account", key: "password" } and create that Secret (e.g. from a Pulumi secret)',
    );
  }
  checkKnownFields(field, value, ["name", "key"]);
  validateDnsSubdomain(`${field}.name`, value.name);
  if (typeof value.key !== "string" || !/^[-._a-zA-Z0-9]{1,253}$/.test(value.key)) {
    throw new PolicyError(`${field}.key`, value.key, "not a Secret key", 'write a key such as "password"');
  }
  return { name: value.name as string, key: value.key };
}

function checkCredentials(field: string, value: unknown): UpstreamCredentialsRef | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) {
    throw new PolicyError(
      field,
      "(hidden)",
      "credentials come from a Secret, never as plain text",
      'write { username: { name: "SECRET", key: "username" }, password: { name: "SECRET", key: "password" } }',
    );
  }
  checkKnownFields(field, value, ["username", "password"]);
  return {
    username: checkSecretKeyRef(`${field}.username`, value.username),
    password: checkSecretKeyRef(`${field}.password`, value.password),
  };
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function checkStorage(field: string, value: unknown): ResolvedStorage {
  const fix =
    'give { pvc: { storageClassName: "gp3" } } (a PersistentVolumeClaim per replica), { s3: { bucket, region } } or { oss: { bucket, region, accessKey } }; PullThroughCache can create the bucket ({ s3: { create: true } })';
  if (!isPlainObject(value) || Object.keys(value).length !== 1) {
    throw new PolicyError(field, value, "storage needs exactly one of pvc, s3 or oss", fix);
  }
  checkKnownFields(field, value, ["pvc", "s3", "oss"]);
  const [kind] = Object.keys(value) as Array<"pvc" | "s3" | "oss">;
  const raw = value[kind];
  if (!isPlainObject(raw)) throw new PolicyError(`${field}.${kind}`, raw, "must be an object", fix);
  if (kind === "pvc") {
    checkKnownFields(`${field}.pvc`, raw, ["storageClassName", "size"]);
    if (raw.storageClassName === undefined) {
      throw new PolicyError(
        `${field}.pvc.storageClassName`,
        raw.storageClassName,
        "storage with neither a bucket nor a PVC storage class: the claims would wait for a default class the cluster may not have",
        fix,
      );
    }
    const storageClassName = validateDnsSubdomain(`${field}.pvc.storageClassName`, raw.storageClassName);
    const size = raw.size ?? "50Gi";
    if (parseQuantity(`${field}.pvc.size`, size) <= 0) {
      throw new PolicyError(`${field}.pvc.size`, size, "must be more than zero", 'write e.g. "50Gi"');
    }
    return { kind, storageClassName, size: String(size) };
  }
  checkKnownFields(
    `${field}.${kind}`,
    raw,
    kind === "s3"
      ? ["bucket", "region", "prefix", "accessKey"]
      : ["bucket", "region", "internal", "prefix", "accessKey"],
  );
  if (typeof raw.bucket !== "string" || !BUCKET.test(raw.bucket)) {
    throw new PolicyError(
      `${field}.${kind}.bucket`,
      raw.bucket,
      "storage with neither a bucket nor a PVC storage class (or a bucket name that is not valid)",
      fix,
    );
  }
  if (typeof raw.region !== "string" || !/^[a-z]{2}(-[a-z0-9]+)+$/.test(raw.region)) {
    throw new PolicyError(
      `${field}.${kind}.region`,
      raw.region,
      "not a region name",
      'write e.g. "us-west-2" or "cn-hangzhou"',
    );
  }
  const prefix = raw.prefix;
  if (prefix !== undefined && (typeof prefix !== "string" || !/^\/[A-Za-z0-9._/-]*$/.test(prefix))) {
    throw new PolicyError(
      `${field}.${kind}.prefix`,
      prefix,
      "must be an absolute path in the bucket",
      'write e.g. "/docker-io"',
    );
  }
  const accessKey = checkCredentials(`${field}.${kind}.accessKey`, raw.accessKey);
  if (kind === "s3") {
    return {
      kind,
      bucket: raw.bucket,
      region: raw.region,
      ...(prefix ? { prefix } : {}),
      ...(accessKey ? { accessKey } : {}),
    };
  }
  if (!accessKey) {
    throw new PolicyError(
      `${field}.oss.accessKey`,
      undefined,
      "Distribution's OSS driver needs an access key",
      "create a Secret with the RAM user's AccessKey ID and secret and name its keys here",
    );
  }
  return {
    kind,
    bucket: raw.bucket,
    region: raw.region,
    internal: raw.internal === undefined ? true : raw.internal === true,
    ...(prefix ? { prefix } : {}),
    accessKey,
  };
}

function checkIp(field: string, value: unknown): string {
  if (typeof value !== "string" || !ipaddr.isValid(value)) {
    throw new PolicyError(
      field,
      value,
      "a fixed cluster IP is required: nodes reach the cache by address, since the runtime does not use cluster DNS",
      'give a free address inside the cluster\'s Service CIDR, e.g. "10.96.0.50" (kubectl cluster-info dump | grep service-cluster-ip-range)',
    );
  }
  return ipaddr.parse(value).toString();
}

function hostPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function checkTls(field: string, value: unknown, name: string): ResolvedCacheSettings["tls"] {
  const fix =
    "give tls: { secretName, ca } (your certificate), { certManager: { issuerName, ca } } (cert-manager issues it), or { plainHttp: true } to serve plain HTTP knowingly";
  if (!isPlainObject(value)) throw new PolicyError(field, value, "say how the caches serve TLS", fix);
  if (value.plainHttp !== undefined) {
    checkKnownFields(field, value, ["plainHttp"]);
    if (value.plainHttp !== true)
      throw new PolicyError(`${field}.plainHttp`, value.plainHttp, "only true is meaningful", fix);
    return { kind: "plainHttp" };
  }
  if (value.certManager !== undefined) {
    checkKnownFields(field, value, ["certManager"]);
    const cm = value.certManager;
    if (!isPlainObject(cm)) throw new PolicyError(`${field}.certManager`, cm, "must be an object", fix);
    checkKnownFields(`${field}.certManager`, cm, ["issuerName", "issuerKind", "ca", "duration"]);
    const issuerKind = cm.issuerKind ?? "ClusterIssuer";
    if (issuerKind !== "Issuer" && issuerKind !== "ClusterIssuer") {
      throw new PolicyError(
        `${field}.certManager.issuerKind`,
        issuerKind,
        "unknown issuer kind",
        'use "Issuer" or "ClusterIssuer"',
      );
    }
    if (
      cm.duration !== undefined &&
      (typeof cm.duration !== "string" || !/^(\d+h)?(\d+m)?(\d+s)?$/.test(cm.duration) || cm.duration === "")
    ) {
      throw new PolicyError(`${field}.certManager.duration`, cm.duration, "not a duration", 'write e.g. "2160h"');
    }
    return {
      kind: "certManager",
      secretName: `${name}-tls`,
      issuerName: validateDnsSubdomain(`${field}.certManager.issuerName`, cm.issuerName),
      issuerKind,
      ca: parseCaBundle(`${field}.certManager.ca`, cm.ca),
      ...(cm.duration ? { duration: cm.duration as string } : {}),
    };
  }
  checkKnownFields(field, value, ["secretName", "ca"]);
  if (value.secretName === undefined) throw new PolicyError(field, value, "say how the caches serve TLS", fix);
  return {
    kind: "secret",
    secretName: validateDnsSubdomain(`${field}.secretName`, value.secretName),
    ca: parseCaBundle(`${field}.ca`, value.ca),
  };
}

/** Checks and defaults the settings; throws a PolicyError naming the field, the value and the fix. */
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
