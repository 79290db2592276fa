/**
 * Validators for Kubernetes fields the node-config DaemonSet takes: each makes the check the API server would
 * make, so `pulumi preview` fails with a clear message instead of `pulumi up`.
 */
import { PolicyError } from "../errors";

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
