/**
 * Pure Kubernetes manifest builders and validators for the node-config DaemonSet and the registry pull secret.
 * Plain objects in, plain objects out: the Pulumi layer (components/kubernetes) only wraps them in resources.
 */
import { createHash } from "node:crypto";
import { PolicyError } from "../errors";
import { parseHostPort } from "../hosts";

// ---------------------------------------------------------------------------------------------------------------
// Validators (each mirrors the check the API server would make, so `pulumi preview` fails instead of `up`)

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN_PART = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Validates an RFC 1123 DNS label (namespace names): lower-case letters, digits and '-', at most 63 characters. */
export function validateDnsLabel(field: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 63 || !DNS_LABEL.test(value)) {
    throw new PolicyError(
      field,
      value,
      "not a valid DNS label (Kubernetes would reject it)",
      "use 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit, e.g. \"kube-system\"",
    );
  }
  return value;
}

/** Validates an RFC 1123 DNS subdomain (names of Secrets, ServiceAccounts, PriorityClasses, ...). */
export function validateDnsSubdomain(field: string, value: unknown): string {
  if (
    typeof value !== "string" ||
    value.length === 0 ||
    value.length > 253 ||
    !value.split(".").every((p) => DNS_SUBDOMAIN_PART.test(p))
  ) {
    throw new PolicyError(
      field,
      value,
      "not a valid Kubernetes object name (DNS subdomain)",
      "use at most 253 lower-case letters, digits, '-' or '.', starting and ending with a letter or digit, e.g. \"registry-credentials\"",
    );
  }
  return value;
}

function isQualifiedName(value: string): boolean {
  const slash = value.lastIndexOf("/");
  const name = slash < 0 ? value : value.slice(slash + 1);
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) return false;
  if (slash < 0) return true;
  const prefix = value.slice(0, slash);
  return prefix.length > 0 && prefix.length <= 253 && prefix.split(".").every((p) => DNS_SUBDOMAIN_PART.test(p));
}

/** Validates a label or taint key (`[prefix/]name`). */
export function validateQualifiedName(field: string, value: unknown): string {
  if (typeof value !== "string" || !isQualifiedName(value)) {
    throw new PolicyError(
      field,
      value,
      "not a valid label key",
      "use an optional DNS prefix and '/', then 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, e.g. \"node-role.kubernetes.io/worker\"",
    );
  }
  return value;
}

/** Validates a label value (also the value of an `Equal` toleration). */
export function validateLabelValue(field: string, value: unknown): string {
  if (typeof value !== "string" || value.length > 63 || !LABEL_VALUE.test(value)) {
    throw new PolicyError(
      field,
      value,
      "not a valid label value",
      "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (or the empty string)",
    );
  }
  return value;
}

/** Validates a node selector: label keys and values as Kubernetes checks them. */
export function validateNodeSelector(field: string, value: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(value).sort()) {
    validateQualifiedName(`${field} key`, key);
    out[key] = validateLabelValue(`${field}.${key}`, value[key]);
  }
  return out;
}

/** A toleration, as in a pod spec. */
export interface Toleration {
  /** Taint key; empty or absent (with operator `Exists`) matches every taint. */
  key?: string;
  /** `Equal` (default) or `Exists`. */
  operator?: "Equal" | "Exists";
  /** Taint value for `Equal`; must be absent for `Exists`. */
  value?: string;
  /** `NoSchedule`, `PreferNoSchedule` or `NoExecute`; absent matches every effect. */
  effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  /** Seconds a pod stays bound after a `NoExecute` taint appears (only with effect `NoExecute`). */
  tolerationSeconds?: number;
}

const TOLERATION_FIELDS = ["key", "operator", "value", "effect", "tolerationSeconds"];
const EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/** Validates tolerations with the API server's rules (ValidateTolerations) and returns them without empty fields. */
export function validateTolerations(field: string, tolerations: unknown): Toleration[] {
  if (!Array.isArray(tolerations)) {
    throw new PolicyError(
      field,
      tolerations,
      "must be a list of tolerations",
      'give a list, e.g. [{ operator: "Exists" }] to tolerate every taint',
    );
  }
  return tolerations.map((raw, i) => {
    const f = `${field}[${i}]`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new PolicyError(f, raw, "a toleration must be an object", "write { key, operator, value, effect }");
    }
    const t = raw as Record<string, unknown>;
    for (const k of Object.keys(t)) {
      if (!TOLERATION_FIELDS.includes(k))
        throw new PolicyError(`${f}.${k}`, k, "unknown toleration field", `use only ${TOLERATION_FIELDS.join(", ")}`);
    }
    const key = t.key ?? "";
    const operator = t.operator ?? "Equal";
    const value = t.value ?? "";
    const effect = t.effect ?? "";
    if (typeof key !== "string" || (key !== "" && !isQualifiedName(key))) {
      throw new PolicyError(
        `${f}.key`,
        t.key,
        "not a valid taint key",
        'use a label key such as "node.kubernetes.io/not-ready", or leave it out with operator "Exists" to match every taint',
      );
    }
    if (operator !== "Equal" && operator !== "Exists") {
      throw new PolicyError(
        `${f}.operator`,
        t.operator,
        'operator must be "Equal" or "Exists"',
        'write "Equal" (with a value) or "Exists" (without one)',
      );
    }
    if (key === "" && operator !== "Exists") {
      throw new PolicyError(
        `${f}.operator`,
        t.operator ?? "Equal",
        'an empty key matches every taint only with operator "Exists"',
        'set operator: "Exists", or give a key',
      );
    }
    if (operator === "Exists" && value !== "") {
      throw new PolicyError(
        `${f}.value`,
        t.value,
        'value must be empty when operator is "Exists"',
        'remove value, or use operator "Equal"',
      );
    }
    if (typeof value !== "string" || !LABEL_VALUE.test(value) || value.length > 63) {
      throw new PolicyError(
        `${f}.value`,
        t.value,
        "not a valid taint value",
        "use at most 63 letters, digits, '-', '_' or '.'",
      );
    }
    if (effect !== "" && !EFFECTS.includes(effect as string)) {
      throw new PolicyError(
        `${f}.effect`,
        t.effect,
        "unknown taint effect",
        `use one of ${EFFECTS.join(", ")}, or leave it out to match every effect`,
      );
    }
    if (t.tolerationSeconds !== undefined) {
      if (effect !== "NoExecute") {
        throw new PolicyError(
          `${f}.tolerationSeconds`,
          t.tolerationSeconds,
          'tolerationSeconds is only allowed with effect "NoExecute"',
          'set effect: "NoExecute", or remove tolerationSeconds',
        );
      }
      if (typeof t.tolerationSeconds !== "number" || !Number.isInteger(t.tolerationSeconds)) {
        throw new PolicyError(
          `${f}.tolerationSeconds`,
          t.tolerationSeconds,
          "must be a whole number of seconds",
          "write an integer such as 300",
        );
      }
    }
    const out: Toleration = { operator };
    if (key !== "") out.key = key;
    if (value !== "") out.value = value;
    if (effect !== "") out.effect = effect as Toleration["effect"];
    if (t.tolerationSeconds !== undefined) out.tolerationSeconds = t.tolerationSeconds as number;
    return out;
  });
}

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const SUFFIX_SCALE: Record<string, number> = {
  "": 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * Parses a Kubernetes resource quantity (`100m`, `64Mi`, `1.5`, `1e3`) to a number (approximate, for comparing),
 * throwing when the API server would reject it (bad syntax, or negative as a container resource).
 */
export function parseQuantity(field: string, value: unknown): number {
  const text = typeof value === "number" ? String(value) : value;
  const m = typeof text === "string" ? QUANTITY.exec(text) : null;
  if (!m) {
    throw new PolicyError(
      field,
      value,
      "not a valid Kubernetes quantity",
      'write a number with an optional suffix, e.g. "100m" (CPU) or "64Mi" (memory)',
    );
  }
  const suffix = m[3] ?? "";
  const scale = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : SUFFIX_SCALE[suffix];
  const n = Number(m[2]) * scale;
  if (m[1] === "-" && n !== 0) {
    throw new PolicyError(
      field,
      value,
      "a resource quantity must not be negative",
      'give zero or a positive amount, e.g. "50m"',
    );
  }
  return n;
}

/** Container resource requests and limits (`cpu`, `memory`, `ephemeral-storage`). */
export interface ResourceRequirements {
  /** Guaranteed amounts, e.g. `{ cpu: "10m", memory: "32Mi" }`. */
  requests?: Record<string, string>;
  /** Hard caps, e.g. `{ memory: "128Mi" }`. */
  limits?: Record<string, string>;
}

const RESOURCE_NAMES = ["cpu", "memory", "ephemeral-storage"];

/** Validates container resources: known names, valid non-negative quantities, and every request ≤ its limit. */
export function validateResources(field: string, resources: ResourceRequirements): ResourceRequirements {
  const parsed: Record<"requests" | "limits", Record<string, number>> = { requests: {}, limits: {} };
  const out: ResourceRequirements = {};
  for (const kind of ["limits", "requests"] as const) {
    const entries = resources[kind];
    if (entries === undefined) continue;
    const kept: Record<string, string> = {};
    out[kind] = kept;
    for (const name of Object.keys(entries).sort()) {
      if (!RESOURCE_NAMES.includes(name)) {
        throw new PolicyError(
          `${field}.${kind}`,
          name,
          "unsupported resource name",
          `use ${RESOURCE_NAMES.join(", ")}`,
        );
      }
      parsed[kind][name] = parseQuantity(`${field}.${kind}.${name}`, entries[name]);
      kept[name] = String(entries[name]);
    }
  }
  for (const name of Object.keys(parsed.requests)) {
    const limit = parsed.limits[name];
    if (limit !== undefined && parsed.requests[name] > limit) {
      throw new PolicyError(
        `${field}.requests.${name}`,
        resources.requests?.[name],
        `the request is above the limit ${resources.limits?.[name]}`,
        "make the request less than or equal to the limit",
      );
    }
  }
  return out;
}

// distribution/reference grammar (reference.go), anchored.
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const REFERENCE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);

/** Validates a container image reference (`[registry/]repo[:tag][@sha256:...]`) as the container runtimes parse it. */
export function validateImageReference(field: string, value: unknown): string {
  const m = typeof value === "string" ? REFERENCE.exec(value) : null;
  const fix =
    'write registry/repository[:tag][@sha256:<64 hex digits>] in lower case, e.g. "docker.io/library/python:3.12-alpine@sha256:..."';
  if (!m) throw new PolicyError(field, value, "not a valid image reference", fix);
  if (m[1].length > 255) throw new PolicyError(field, value, "the repository name is longer than 255 characters", fix);
  const digest = m[3];
  if (digest?.startsWith("sha256:") && digest.length !== 7 + 64) {
    throw new PolicyError(field, value, "a sha256 digest has exactly 64 hex digits", fix);
  }
  return value as string;
}

// ---------------------------------------------------------------------------------------------------------------
// Node-config ConfigMap + DaemonSet

/** The script's file name in the ConfigMap, and where the init container finds it. */
export const APPLY_SCRIPT_KEY = "apply-node-config.sh";
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

/** The ConfigMap and DaemonSet of the node-config delivery, as plain manifests. */
export function nodeConfigManifests(spec: NodeConfigSpec): {
  // biome-ignore lint/suspicious/noExplicitAny: plain manifests, validated by kubernetes-models in the tests
  configMap: Record<string, any>;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  daemonSet: Record<string, any>;
} {
  const checksum = scriptChecksum(spec.applyScript);
  const configMapName = `${spec.name}-${checksum.slice(0, 10)}`;
  const selector = {
    "app.kubernetes.io/name": "registry-mirrors-node-config",
    "app.kubernetes.io/instance": spec.name,
  };
  const labels = { ...spec.labels, ...selector, "app.kubernetes.io/managed-by": "pulumi" };
  const dirs = hostMountDirs(spec.paths);

  const configMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: configMapName, namespace: spec.namespace, labels },
    // Content-addressed and immutable: a pod always runs the script it was rolled out with.
    immutable: true,
    data: { [APPLY_SCRIPT_KEY]: spec.applyScript },
  };

  // biome-ignore lint/suspicious/noExplicitAny: a plain manifest
  const podSpec: Record<string, any> = {
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
        env: [
          { name: "NODE_ROOT", value: NODE_ROOT_IN_POD },
          { name: "RUNTIME_CTL", value: HOST_RUNTIME_CTL },
        ],
        // Privileged only because nsenter into PID 1's namespaces needs CAP_SYS_ADMIN, CAP_SYS_PTRACE and no
        // AppArmor/seccomp confinement; the main container has no privilege at all.
        securityContext: { privileged: true },
        resources: spec.resources ?? { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
        volumeMounts: [
          { name: "config", mountPath: CONFIG_MOUNT_PATH, readOnly: true },
          ...dirs.map((dir) => ({ name: volumeName(dir), mountPath: `${NODE_ROOT_IN_POD}${dir}` })),
        ],
      },
    ],
    containers: [
      {
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
      },
    ],
    volumes: [
      { name: "config", configMap: { name: configMapName, defaultMode: 0o444 } },
      ...dirs.map((dir) => ({ name: volumeName(dir), hostPath: { path: dir, type: "DirectoryOrCreate" } })),
    ],
  };

  const daemonSet = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: spec.name, namespace: spec.namespace, labels },
    spec: {
      selector: { matchLabels: selector },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: spec.maxUnavailable } },
      template: {
        metadata: { labels, annotations: { [CHECKSUM_ANNOTATION]: checksum, [MODE_ANNOTATION]: spec.mode } },
        spec: podSpec,
      },
    },
  };
  return { configMap, daemonSet };
}

// ---------------------------------------------------------------------------------------------------------------
// Registry pull secret (.dockerconfigjson)

/** One registry's credential as a user gives it: username + password, or `auth` (base64 of `user:password`), or both if they agree. */
export interface StaticCredentialInput {
  username?: string;
  password?: string;
  auth?: string;
}

/** A resolved credential. */
export interface RegistryCredential {
  username: string;
  password: string;
}

// A credential never appears in an error message.
const HIDDEN = "(hidden)";

/** Key docker, kubelet and `kubectl create secret docker-registry` use for Docker Hub. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";
const DOCKER_HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

/**
 * Validates a registry key (`host[:port]`) and returns the key the `.dockerconfigjson` needs. Docker Hub becomes
 * `https://index.docker.io/v1/`: kubelet matches short names like `nginx` only against that key.
 */
export function registryAuthKey(field: string, registry: unknown): string {
  if (typeof registry === "string" && /^[a-z]+:\/\//i.test(registry)) {
    throw new PolicyError(
      field,
      registry,
      "a registry key is a host[:port], not a URL",
      'write only the host and optional port, e.g. "ghcr.io" or "10.0.0.5:5000"',
    );
  }
  const host = parseHostPort(field, registry);
  return DOCKER_HUB_HOSTS.has(host) ? DOCKER_HUB_AUTH_KEY : host;
}

function decodeAuth(field: string, auth: string): RegistryCredential {
  const text = auth.trim();
  const valid = /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0 && text.length > 0;
  const decoded = valid ? Buffer.from(text, "base64").toString("utf8") : "";
  const colon = decoded.indexOf(":");
  if (!valid || colon <= 0) {
    throw new PolicyError(
      field,
      HIDDEN,
      'auth must be base64 of "username:password"',
      "encode it with `printf '%s' 'user:password' | base64 -w0`, or give username and password instead",
    );
  }
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Resolves username/password/auth to one credential, refusing missing parts and disagreeing duplicates. */
export function resolveStaticCredential(field: string, input: StaticCredentialInput): RegistryCredential {
  const { username, password, auth } = input;
  if (auth !== undefined) {
    const fromAuth = decodeAuth(`${field}.auth`, auth);
    if (username !== undefined && username !== fromAuth.username) {
      throw new PolicyError(
        `${field}.username`,
        HIDDEN,
        "username and auth are both given and disagree",
        "give either username + password or auth, or make them match",
      );
    }
    if (password !== undefined && password !== fromAuth.password) {
      throw new PolicyError(
        `${field}.password`,
        HIDDEN,
        "password and auth are both given and disagree",
        "give either username + password or auth, or make them match",
      );
    }
    return fromAuth;
  }
  if (typeof username !== "string" || username === "") {
    throw new PolicyError(
      `${field}.username`,
      username === undefined ? undefined : HIDDEN,
      "a username is required (or auth)",
      'give username and password, or auth = base64("user:password")',
    );
  }
  if (username.includes(":")) {
    throw new PolicyError(
      `${field}.username`,
      HIDDEN,
      "a username must not contain ':' (auth splits at the first one)",
      "use the registry's user name without ':'",
    );
  }
  if (typeof password !== "string" || password === "") {
    throw new PolicyError(
      `${field}.password`,
      password === undefined ? undefined : HIDDEN,
      "a password or token is required (or auth)",
      "give the password or access token for this registry",
    );
  }
  return { username, password };
}

/**
 * The `.dockerconfigjson` document: `{"auths": {key: {username, password, auth}}}`, keys sorted, compact like
 * `kubectl create secret docker-registry`.
 */
export function dockerConfigJson(credentials: Record<string, RegistryCredential>): string {
  const auths: Record<string, { username: string; password: string; auth: string }> = {};
  for (const key of Object.keys(credentials).sort()) {
    const { username, password } = credentials[key];
    auths[key] = { username, password, auth: Buffer.from(`${username}:${password}`, "utf8").toString("base64") };
  }
  return JSON.stringify({ auths });
}
