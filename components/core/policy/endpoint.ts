/** One mirror endpoint: its fields checked and normalised. */
import { PolicyError } from "../errors";
import { parseCaBundle } from "./ca";
import {
  CAPABILITY_ORDER,
  type Capability,
  GO_DURATION,
  HEADER_NAME,
  type MirrorAuth,
  type MirrorEndpoint,
  PULL_FROM,
  type PullFromMirror,
} from "./types";
import { type MirrorUrlOptions, parseMirrorUrl } from "./url";
/** Throws when `value` holds a key outside `allowed` — a typo there would otherwise be ignored silently. */
export function checkKnownFields(field: string, value: object, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new PolicyError(`${field}.${key}`, key, "unknown field", `remove it, or use one of: ${allowed.join(", ")}`);
    }
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `checkKnownFields` for a value that must be an object: a list or a scalar is refused first. */
export function checkKnownObject(field: string, value: unknown, allowed: readonly string[]): void {
  if (!isPlainObject(value))
    throw new PolicyError(
      field,
      value,
      "must be an object",
      `write { ${allowed[0]}: ... } (fields: ${allowed.join(", ")})`,
    );
  checkKnownFields(field, value, allowed);
}

/**
 * Refuses, anywhere inside user input, an object key JavaScript objects already have (`__proto__`, `constructor`,
 * `toString`, ...: a table lookup would find the built-in, an assignment would drop the key silently) and an object
 * whose prototype is not a plain object's (`{ __proto__: ... }` in a literal). Lists and scalars pass through.
 */
export function checkPlainData(field: string, value: unknown, depth = 0): void {
  if (typeof value !== "object" || value === null || depth > 64) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkPlainData(`${field}[${i}]`, v, depth + 1));
    return;
  }
  const proto = Object.getPrototypeOf(value);
  // Pulumi Outputs and other class instances are left to the field's own check.
  if (proto !== Object.prototype && proto !== null && Object.getPrototypeOf(proto) === Object.prototype) {
    throw new PolicyError(
      field,
      "(an object with a custom prototype)",
      "must be a plain object",
      "write a plain { ... } object without __proto__",
    );
  }
  if (proto !== Object.prototype && proto !== null) return;
  for (const key of Object.keys(value)) {
    if (key in Object.prototype) {
      throw new PolicyError(
        `${field}.${key}`,
        key,
        "this name is a built-in property of JavaScript objects, so it would be looked up or dropped instead of used",
        "remove it (no daemon.json key, registry, header or setting has this name)",
      );
    }
    checkPlainData(`${field}.${key}`, (value as Record<string, unknown>)[key], depth + 1);
  }
}

const ENDPOINT_FIELDS = [
  "url",
  "insecure",
  "caFile",
  "ca",
  "clientCertFile",
  "clientKeyFile",
  "capabilities",
  "overridePath",
  "dialTimeout",
  "headers",
  "pullFromMirror",
  "auth",
  "harborProject",
] as const;

/** `ACCOUNT.dkr.ecr.REGION.amazonaws.com` or `.amazonaws.com.cn`: a private ECR registry; group 1 is the region. */
const ECR_HOST = /^\d{12}\.dkr\.ecr\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$/;

/** The AWS region of a private ECR registry host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]`), or undefined. */
export function ecrRegistryRegion(host: string): string | undefined {
  return ECR_HOST.exec(host)?.[1];
}

export function absolutePath(field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !value.startsWith("/") || value.includes("\0")) {
    throw new PolicyError(
      field,
      value,
      "must be an absolute path on the node",
      'give the full path, e.g. "/etc/pki/mirror-ca.pem"',
    );
  }
  return value;
}

export function optionalBoolean(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean")
    throw new PolicyError(field, value, "must be true or false", `write true or false without quotes`);
  return value;
}

const GO_UNITS: Record<string, bigint> = { ns: 1n, us: 1000n, µs: 1000n, μs: 1000n, ms: 1000000n, s: 1000000000n };
GO_UNITS.m = 60n * GO_UNITS.s;
GO_UNITS.h = 60n * GO_UNITS.m;
const GO_MAX_DURATION = 2n ** 63n - 1n;

/** The nanoseconds of a Go duration that matches GO_DURATION (fractions truncated as Go does). */
export function goDurationNs(text: string): bigint {
  let total = 0n;
  for (const [, whole, fraction = "", unit] of text.matchAll(/(\d+)(?:\.(\d+))?(ns|us|µs|μs|ms|s|m|h)/g)) {
    const scale = GO_UNITS[unit];
    total += BigInt(whole) * scale + (BigInt(fraction || "0") * scale) / 10n ** BigInt(fraction.length);
  }
  return total;
}

/** Validates and normalises one endpoint (a URL string or an object). */
export function normaliseEndpoint(field: string, raw: unknown, options: MirrorUrlOptions = {}): MirrorEndpoint {
  const input: Record<string, unknown> = typeof raw === "string" ? { url: raw } : isPlainObject(raw) ? raw : {};
  if (typeof raw !== "string" && !isPlainObject(raw)) {
    throw new PolicyError(
      field,
      raw,
      "a mirror is a URL string or an object with a url",
      'write "https://mirror.example.com" or { url: "https://mirror.example.com" }',
    );
  }
  checkKnownFields(field, input, ENDPOINT_FIELDS);
  const harbor = input.harborProject !== undefined;
  const urlField = typeof raw === "string" ? field : `${field}.url`;
  const parsed = harbor
    ? harborProjectUrl(field, input.url, input.harborProject, input.overridePath)
    : parseMirrorUrl(urlField, input.url, options);

  let capabilities: Capability[] = ["pull", "resolve"];
  if (input.capabilities !== undefined) {
    const list = input.capabilities;
    if (!Array.isArray(list) || list.length === 0) {
      throw new PolicyError(
        `${field}.capabilities`,
        list,
        "must be a non-empty list",
        'use a subset of ["pull", "resolve", "push"]',
      );
    }
    for (const c of list) {
      if (!CAPABILITY_ORDER.includes(c as Capability)) {
        throw new PolicyError(
          `${field}.capabilities`,
          c,
          "unknown capability",
          'use only "pull", "resolve" and "push"',
        );
      }
    }
    capabilities = CAPABILITY_ORDER.filter((c) => list.includes(c));
  }

  const dialTimeout = input.dialTimeout;
  if (dialTimeout !== undefined && (typeof dialTimeout !== "string" || !GO_DURATION.test(dialTimeout))) {
    throw new PolicyError(
      `${field}.dialTimeout`,
      dialTimeout,
      "not a duration",
      'write a Go duration such as "3s", "500ms" or "1m30s"',
    );
  }
  if (dialTimeout !== undefined && goDurationNs(dialTimeout as string) > GO_MAX_DURATION) {
    throw new PolicyError(
      `${field}.dialTimeout`,
      dialTimeout,
      "longer than Go's longest duration (2562047h47m16.854775807s), so containerd would refuse it",
      'write a dial timeout of seconds, such as "3s"',
    );
  }

  const headers: Record<string, string> = {};
  if (input.headers !== undefined) {
    if (!isPlainObject(input.headers)) {
      throw new PolicyError(
        `${field}.headers`,
        input.headers,
        "must be an object of header names to values",
        'write { "X-Header": "value" }',
      );
    }
    for (const name of Object.keys(input.headers).sort()) {
      const value = input.headers[name];
      if (!HEADER_NAME.test(name)) {
        throw new PolicyError(
          `${field}.headers`,
          name,
          "not a valid HTTP header name",
          'use letters, digits and hyphens, e.g. "X-Mirror-Token"',
        );
      }
      if (typeof value !== "string" || /[\r\n\0]/.test(value)) {
        throw new PolicyError(
          `${field}.headers.${name}`,
          "(value hidden)",
          "a header value must be a single-line string",
          "remove line breaks from the value",
        );
      }
      headers[name] = value;
    }
  }

  const pullFromMirror = input.pullFromMirror ?? "all";
  if (!PULL_FROM.includes(pullFromMirror as PullFromMirror)) {
    throw new PolicyError(
      `${field}.pullFromMirror`,
      pullFromMirror,
      "unknown value",
      'use "all", "digest-only" or "tag-only"',
    );
  }

  const clientCertFile = absolutePath(`${field}.clientCertFile`, input.clientCertFile);
  const clientKeyFile = absolutePath(`${field}.clientKeyFile`, input.clientKeyFile);
  if (clientKeyFile !== undefined && clientCertFile === undefined) {
    throw new PolicyError(
      `${field}.clientKeyFile`,
      clientKeyFile,
      "a client key without a client certificate",
      "set clientCertFile too, or remove clientKeyFile",
    );
  }

  const endpoint: MirrorEndpoint = {
    ...parsed,
    insecure: optionalBoolean(`${field}.insecure`, input.insecure, false),
    capabilities,
    overridePath: harbor || optionalBoolean(`${field}.overridePath`, input.overridePath, false),
    headers,
    pullFromMirror: pullFromMirror as PullFromMirror,
  };
  const caFile = absolutePath(`${field}.caFile`, input.caFile);
  if (caFile !== undefined) endpoint.caFile = caFile;
  if (harbor) endpoint.harborProject = input.harborProject as string;
  if (input.ca !== undefined) endpoint.ca = checkCa(field, input.ca, endpoint);
  if (clientCertFile !== undefined) endpoint.clientCertFile = clientCertFile;
  if (clientKeyFile !== undefined) endpoint.clientKeyFile = clientKeyFile;
  if (dialTimeout !== undefined) endpoint.dialTimeout = dialTimeout as string;
  if (input.auth !== undefined) endpoint.auth = checkAuth(field, input.auth, endpoint);
  return endpoint;
}

/** Validates `auth` of the endpoint at `field`. */
export function checkAuth(field: string, value: unknown, endpoint: MirrorEndpoint): MirrorAuth {
  if (value !== "ecr") {
    throw new PolicyError(
      `${field}.auth`,
      value,
      "unknown mirror auth",
      'use "ecr" for an ECR registry (the node fetches its token), or leave auth out',
    );
  }
  if (endpoint.scheme !== "https" || ecrRegistryRegion(endpoint.host) === undefined) {
    throw new PolicyError(
      `${field}.auth`,
      endpoint.url,
      'auth "ecr" needs an ECR registry URL: https://ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn][/path], without a port',
      "point the mirror at the account's ECR registry host (RegionalMirrorSelector does), or remove auth for a mirror that is not ECR",
    );
  }
  if (Object.keys(endpoint.headers).length > 0) {
    throw new PolicyError(
      `${field}.headers`,
      Object.keys(endpoint.headers),
      "an ECR mirror's headers are written by the node's token refresher (Authorization)",
      "remove headers from this mirror (ECR takes only its token), or remove auth",
    );
  }
  return "ecr";
}

/** Validates `ca` (the CA's PEM text) of the endpoint at `field`: it parses, and the endpoint is verified HTTPS. */
function checkCa(field: string, value: unknown, endpoint: MirrorEndpoint): string {
  const ca = parseCaBundle(`${field}.ca`, value);
  if (endpoint.caFile !== undefined) {
    throw new PolicyError(
      `${field}.caFile`,
      endpoint.caFile,
      "both ca (the certificate, written to the node by the apply script) and caFile (a file already on the node) are set",
      "keep one: ca to have the script deliver the CA, or caFile when your provisioning places it",
    );
  }
  if (endpoint.scheme !== "https") {
    throw new PolicyError(
      `${field}.ca`,
      endpoint.url,
      "a CA certificate for a plain-HTTP mirror: nothing is verified over http://",
      "use the mirror's https:// URL, or remove ca",
    );
  }
  if (endpoint.insecure) {
    throw new PolicyError(
      `${field}.insecure`,
      true,
      "insecure skips the verification the CA is given for",
      "remove insecure (the CA makes the mirror's certificate verifiable), or remove ca",
    );
  }
  return ca;
}

/** A Harbor project name: lower-case letters and digits, words joined by one `.`, `_` or `-` (Harbor's own rule). */
export const HARBOR_PROJECT = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/**
 * The mirror URL of a Harbor proxy-cache project: `https://HARBOR/v2/PROJECT`, used with containerd's `override_path`
 * (containerd then asks `https://HARBOR/v2/PROJECT/library/nginx/manifests/...`, which Harbor serves from the project).
 */
function harborProjectUrl(
  field: string,
  url: unknown,
  project: unknown,
  overridePath: unknown,
): Pick<MirrorEndpoint, "url" | "scheme" | "host" | "path"> {
  const base = parseMirrorUrl(`${field}.url`, url, { allowPath: true });
  if (base.path !== "") {
    throw new PolicyError(
      `${field}.url`,
      url,
      "with harborProject the URL is Harbor's address only; the project gives the path",
      `write url: "${base.scheme}://${base.host}" and the project as harborProject`,
    );
  }
  if (typeof project !== "string" || project.length > 255 || !HARBOR_PROJECT.test(project)) {
    throw new PolicyError(
      `${field}.harborProject`,
      project,
      "not a Harbor project name (lower-case letters, digits, and single . _ - between them)",
      'give the name of the proxy-cache project as Harbor shows it, e.g. "dockerhub-proxy"',
    );
  }
  if (overridePath === false) {
    throw new PolicyError(
      `${field}.overridePath`,
      false,
      "a Harbor project is reached with override_path (the URL holds the API path /v2/PROJECT)",
      "remove overridePath: it is implied by harborProject",
    );
  }
  const path = `/v2/${project}`;
  return { url: `${base.url}${path}`, scheme: base.scheme, host: base.host, path };
}
