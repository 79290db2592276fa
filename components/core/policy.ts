import ipaddr from "ipaddr.js";
import { PolicyError, type Warnings } from "./errors";
import { isCidr, parseHostPort } from "./host-port";
import { checkDeadMirror } from "./regions/dead-mirrors";

/** What a mirror endpoint may be used for (containerd `capabilities`). */
export type Capability = "pull" | "resolve" | "push";
/** Which pulls CRI-O/podman send to a mirror (`pull-from-mirror`). */
export type PullFromMirror = "all" | "digest-only" | "tag-only";
/**
 * How the node authenticates to a mirror: `ecr` = the node fetches an ECR token with its instance role and
 * containerd sends it to this mirror (an ECR pull-through cache always asks for one).
 */
export type MirrorAuth = "ecr";

/** The registry key that means "every registry without its own entry". */
export const ANY_REGISTRY = "*";
/** Docker Hub, under the one name the policy uses for it. */
export const DOCKER_HUB = "docker.io";

const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);
const CAPABILITY_ORDER: Capability[] = ["pull", "resolve", "push"];
const PULL_FROM: PullFromMirror[] = ["all", "digest-only", "tag-only"];
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** One mirror endpoint as a user writes it: a URL string, or this object for per-endpoint settings. */
export interface MirrorEndpointInput {
  /** Mirror URL with scheme, e.g. `https://mirror.example.com`. `http://` means plain HTTP. */
  url: string;
  /** Skip TLS verification for this endpoint (an `http://` URL is plain HTTP and needs no flag). */
  insecure?: boolean;
  /** Absolute path of a CA bundle on the node that signs the mirror's certificate. */
  caFile?: string;
  /** Absolute path of a client certificate on the node, for mirrors that require mutual TLS. */
  clientCertFile?: string;
  /** Absolute path of the client certificate's key on the node. */
  clientKeyFile?: string;
  /** Operations this endpoint serves; default `["pull", "resolve"]` (without `resolve`, tag pulls skip it). */
  capabilities?: Capability[];
  /** The URL already holds the full API path (containerd `override_path`); needed for ECR pull-through caches. */
  overridePath?: boolean;
  /** Connect timeout as a Go duration, e.g. `"3s"` (containerd `dial_timeout`). */
  dialTimeout?: string;
  /** Extra HTTP headers sent to the mirror. A header holding a credential must be a Pulumi secret. */
  headers?: Record<string, string>;
  /** Which pulls CRI-O/podman send to this mirror; default `"all"`. */
  pullFromMirror?: PullFromMirror;
  /**
   * `"ecr"`: the mirror is an ECR registry (`https://ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/...`, e.g. a
   * pull-through cache). The node fetches a token with its instance role (`ecr:GetAuthorizationToken`) and renews
   * it before its 12 hours run out; containerd sends it as this mirror's `Authorization` header. The token is
   * never in the policy, the rendered files or Pulumi state. CRI-O/podman need their own ECR auth.
   */
  auth?: MirrorAuth;
}

/** The mirrors of one upstream registry, in the order they are tried. */
export interface RegistryMirrorsInput {
  /** Mirror endpoints, tried in this order. */
  mirrors: Array<string | MirrorEndpointInput>;
  /** Try the upstream registry itself after every mirror failed (default `true`). */
  upstreamFallback?: boolean;
}

/** The mirror policy: per upstream registry (or `*` for every other one), an ordered list of mirrors. */
export interface MirrorPolicyInput {
  /**
   * Keyed by upstream registry host (`docker.io`, `ghcr.io`, `quay.io`, `registry.k8s.io`, `10.0.0.5:5000`)
   * or `*` for every registry without its own entry.
   */
  registries: Record<string, RegistryMirrorsInput>;
  /**
   * Allow mirror URLs with a path (`https://host/prefix`). dockerd up to 24.0.6 refuses them and will not
   * start, so they are refused unless you opt in knowing every node runs a newer Docker (or no Docker).
   */
  allowMirrorPaths?: boolean;
  /**
   * Keep a known-dead public mirror (`DEAD_MIRRORS`: `registry.docker-cn.com`, `reg-mirror.qiniu.com`, ...) with a
   * warning instead of refusing it. Only for a mirror you know still answers from your network.
   */
  allowDeprecatedMirrors?: boolean;
}

/** A validated, normalised mirror endpoint. */
export interface MirrorEndpoint {
  /** `scheme://host[:port][/path]`, host lower-case, no trailing slash. */
  url: string;
  scheme: "http" | "https";
  /** `host[:port]` */
  host: string;
  /** Empty or `/path` without trailing slash. */
  path: string;
  insecure: boolean;
  caFile?: string;
  clientCertFile?: string;
  clientKeyFile?: string;
  capabilities: Capability[];
  overridePath: boolean;
  dialTimeout?: string;
  /** Sorted by name. */
  headers: Record<string, string>;
  pullFromMirror: PullFromMirror;
  /** Present only when set: the node fetches the mirror's credential (see {@link MirrorEndpointInput.auth}). */
  auth?: MirrorAuth;
}

/** A validated, normalised registry entry. */
export interface RegistryMirrors {
  /** Normalised upstream host (`docker.io` for every Docker Hub alias) or `*`. */
  registry: string;
  endpoints: MirrorEndpoint[];
  upstreamFallback: boolean;
}

/** A validated, normalised policy: registries sorted by name with `*` last, so output never reorders. */
export interface MirrorPolicy {
  registries: RegistryMirrors[];
}

export interface MirrorUrlOptions {
  /** Accept a path after the host (default false: old dockerd refuses it). */
  allowPath?: boolean;
}

/**
 * Validates a mirror URL the way dockerd's `ValidateMirror` does, and a little stricter: the scheme must be
 * written out and be http or https; no `user:pass@`, query or fragment; a path only with `allowPath`.
 */
export function parseMirrorUrl(
  field: string,
  raw: unknown,
  options: MirrorUrlOptions = {},
): Pick<MirrorEndpoint, "url" | "scheme" | "host" | "path"> {
  if (typeof raw !== "string" || raw.trim() === "") {
    throw new PolicyError(field, raw, "a mirror URL is required", 'give a URL such as "https://mirror.example.com"');
  }
  const text = raw.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (!scheme) {
    throw new PolicyError(
      field,
      raw,
      "the mirror URL has no scheme",
      `write the scheme out: "https://${text.replace(/^\/+/, "")}" (or http:// for a plain-HTTP mirror)`,
    );
  }
  const protocol = scheme[1].toLowerCase();
  if (protocol !== "http" && protocol !== "https") {
    throw new PolicyError(
      field,
      raw,
      `scheme "${protocol}" is not supported by container runtimes`,
      "use https:// (or http:// for a plain-HTTP mirror)",
    );
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PolicyError(field, raw, "not a parsable URL", "write it as https://host[:port]");
  }
  if (url.hostname === "") {
    throw new PolicyError(
      field,
      raw,
      "the mirror URL has an empty host",
      'put the mirror\'s host name after the scheme, e.g. "https://mirror.example.com"',
    );
  }
  if (url.username !== "" || url.password !== "" || /^[a-z]+:\/\/[^/]*@/i.test(text)) {
    throw new PolicyError(
      field,
      raw,
      "credentials in a mirror URL end up in plain-text node files and logs",
      "remove user:pass@ and give credentials through RegistryCredentialSecret or the runtime's auth settings",
    );
  }
  if (text.includes("?") || url.search !== "") {
    throw new PolicyError(field, raw, "a mirror URL cannot have a query string", 'remove everything from "?"');
  }
  if (text.includes("#") || url.hash !== "") {
    throw new PolicyError(field, raw, "a mirror URL cannot have a fragment", 'remove everything from "#"');
  }
  const path = url.pathname.replace(/\/+$/, "");
  if (path !== "" && !options.allowPath) {
    throw new PolicyError(
      field,
      raw,
      `the mirror URL has a path ("${url.pathname}"), which dockerd 24.0.6 and older refuse ("invalid mirror: path, query, or fragment at end of the URI")`,
      "remove the path, or set allowMirrorPaths: true if every node runs dockerd 24.0.7+ or no Docker",
    );
  }
  const host = parseHostPort(field, url.host);
  return { url: `${protocol}://${host}${path}`, scheme: protocol, host, path };
}

/** True for every name Docker Hub goes by (`docker.io`, `index.docker.io`, `registry-1.docker.io`, ...), any case. */
export function isDockerHubName(name: string): boolean {
  return DOCKER_HUB_ALIASES.has(name.trim().toLowerCase());
}

/** Normalises an upstream registry key: lower case, Docker Hub aliases folded into `docker.io`, `*` kept. */
export function normaliseRegistryName(field: string, raw: unknown): string {
  if (raw === ANY_REGISTRY) return ANY_REGISTRY;
  if (typeof raw === "string" && /^[a-z]+:\/\//i.test(raw.trim())) {
    throw new PolicyError(
      field,
      raw,
      "a registry key is a host, not a URL",
      `write only the host, e.g. "${raw
        .trim()
        .replace(/^[a-z]+:\/\//i, "")
        .replace(/\/.*$/, "")}"`,
    );
  }
  const host = parseHostPort(field, raw);
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/** Throws when `value` holds a key outside `allowed` — a typo there would otherwise be ignored silently. */
export function checkKnownFields(field: string, value: object, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new PolicyError(`${field}.${key}`, key, "unknown field", `remove it, or use one of: ${allowed.join(", ")}`);
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const ENDPOINT_FIELDS = [
  "url",
  "insecure",
  "caFile",
  "clientCertFile",
  "clientKeyFile",
  "capabilities",
  "overridePath",
  "dialTimeout",
  "headers",
  "pullFromMirror",
  "auth",
] as const;

/** `ACCOUNT.dkr.ecr.REGION.amazonaws.com` or `.amazonaws.com.cn`: a private ECR registry; group 1 is the region. */
const ECR_HOST = /^\d{12}\.dkr\.ecr\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$/;

/** The AWS region of a private ECR registry host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]`), or undefined. */
export function ecrRegistryRegion(host: string): string | undefined {
  return ECR_HOST.exec(host)?.[1];
}

function absolutePath(field: string, value: unknown): string | undefined {
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

function optionalBoolean(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean")
    throw new PolicyError(field, value, "must be true or false", `write true or false without quotes`);
  return value;
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
  const parsed = parseMirrorUrl(typeof raw === "string" ? field : `${field}.url`, input.url, options);

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
    overridePath: optionalBoolean(`${field}.overridePath`, input.overridePath, false),
    headers,
    pullFromMirror: pullFromMirror as PullFromMirror,
  };
  const caFile = absolutePath(`${field}.caFile`, input.caFile);
  if (caFile !== undefined) endpoint.caFile = caFile;
  if (clientCertFile !== undefined) endpoint.clientCertFile = clientCertFile;
  if (clientKeyFile !== undefined) endpoint.clientKeyFile = clientKeyFile;
  if (dialTimeout !== undefined) endpoint.dialTimeout = dialTimeout as string;
  if (input.auth !== undefined) endpoint.auth = checkAuth(field, input.auth, endpoint);
  return endpoint;
}

/** Validates `auth` of the endpoint at `field`. */
function checkAuth(field: string, value: unknown, endpoint: MirrorEndpoint): MirrorAuth {
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

/**
 * Alibaba Cloud Container Registry hosts: Personal Edition `registry[-intl][-vpc].REGION.aliyuncs.com` and Enterprise
 * Edition instance hosts `*.cr.aliyuncs.com`. They serve the images pushed to your namespaces, not Docker Hub.
 */
const ACR_REGISTRY_HOST =
  /^(?:registry(?:-intl)?(?:-vpc)?\.[a-z0-9-]+\.aliyuncs\.com|[a-z0-9.-]+\.cr\.aliyuncs\.com)(?::\d+)?$/;

/** True for an Alibaba Cloud Container Registry host (`registry[-vpc].REGION.aliyuncs.com`, `*.cr.aliyuncs.com`). */
export function isAcrRegistryHost(host: string): boolean {
  return ACR_REGISTRY_HOST.test(host.toLowerCase());
}

/**
 * Refuses an Alibaba Cloud Container Registry host given as a Docker Hub mirror (the article's per-region script
 * does this): it is a registry, so Docker Hub pulls through it fail or hit whatever was pushed under that name.
 */
export function checkAcrAsDockerHubMirror(field: string, registry: string, url: string, host: string): void {
  if (registry !== DOCKER_HUB && registry !== ANY_REGISTRY) return;
  if (!isAcrRegistryHost(host)) return;
  throw new PolicyError(
    field,
    url,
    `${host} is an Alibaba Cloud Container Registry host, not a Docker Hub accelerator: it serves only the images pushed to your namespaces, so Docker Hub pulls through it fail${registry === ANY_REGISTRY ? ' (the "*" entry covers Docker Hub here)' : ""}`,
    "use the account's Docker Hub accelerator https://<id>.mirror.aliyuncs.com (Container Registry console, Image Tools > Image Accelerator; RegionalMirrorSelector's alicloudAcceleratorId), and pull your own images from the ACR host by their full name",
  );
}

/** Private, loopback and link-local blocks: the only ranges an `insecure-registries` CIDR may cover. */
const NON_PUBLIC_BLOCKS = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "fc00::/7",
  "::1/128",
  "fe80::/10",
].map((cidr) => ipaddr.parseCIDR(cidr));

/** True when a CIDR block (`a.b.c.d/n`, `x::/n`) reaches outside the private, loopback and link-local ranges. */
export function isPublicRange(cidr: string): boolean {
  const [address, bits] = ipaddr.parseCIDR(cidr);
  const addr =
    address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress()
      ? (address as ipaddr.IPv6).toIPv4Address()
      : address;
  const prefix = addr === address ? bits : bits - 96;
  return !NON_PUBLIC_BLOCKS.some(
    ([block, blockBits]) => block.kind() === addr.kind() && prefix >= blockBits && addr.match(block, blockBits),
  );
}

/**
 * Refuses an `insecure-registries` CIDR that covers public address space (`0.0.0.0/0`, `::/0`, any range beyond the
 * private, loopback and link-local blocks) unless `allowPublic`: the daemon would then accept a plain-HTTP or
 * unverified registry anywhere on the internet, so one spoofed DNS answer serves the node any image. A host entry
 * (`host:port`) names one registry and is not checked here.
 */
export function checkInsecureRange(
  field: string,
  entry: unknown,
  options: { allowPublic?: boolean; overrideName?: string } = {},
): string | undefined {
  if (typeof entry !== "string" || !isCidr(entry) || !isPublicRange(entry)) return undefined;
  const override = options.overrideName ?? "allowPublicInsecureRegistries";
  if (options.allowPublic) {
    return `${field}: ${entry} lets Docker pull without TLS verification from public addresses; kept because ${override} is set`;
  }
  throw new PolicyError(
    field,
    entry,
    "the range covers public address space, so Docker would pull over plain HTTP or without certificate checks from any such host, and a spoofed DNS answer could serve the nodes any image",
    `list only the private, loopback or link-local ranges your registries are in (e.g. "10.0.0.0/8"), or the registries themselves as host:port; ${override.startsWith("--") ? `pass ${override}` : `set ${override}: true`} only if you mean it`,
  );
}

/** Orders registries by name with `*` last: the order every renderer writes them in. */
export function compareRegistries(a: string, b: string): number {
  if (a === b) return 0;
  if (a === ANY_REGISTRY) return 1;
  if (b === ANY_REGISTRY) return -1;
  return a < b ? -1 : 1;
}

/**
 * Validates and normalises a policy. Throws a PolicyError on the first invalid field; returns warnings
 * for what it fixed silently-but-visibly (duplicate mirrors dropped, keeping the first).
 */
export function normalisePolicy(input: unknown, field = "policy"): { policy: MirrorPolicy; warnings: Warnings } {
  if (!isPlainObject(input)) {
    throw new PolicyError(
      field,
      input,
      "a policy is an object with a registries map",
      'write { registries: { "docker.io": { mirrors: ["https://mirror.example.com"] } } }',
    );
  }
  checkKnownFields(field, input, ["registries", "allowMirrorPaths", "allowDeprecatedMirrors"]);
  const allowPath = optionalBoolean(`${field}.allowMirrorPaths`, input.allowMirrorPaths, false);
  const allowDeprecatedMirrors = optionalBoolean(
    `${field}.allowDeprecatedMirrors`,
    input.allowDeprecatedMirrors,
    false,
  );
  const registries = input.registries;
  if (!isPlainObject(registries)) {
    throw new PolicyError(
      `${field}.registries`,
      registries,
      "must be a map from registry host to its mirrors",
      'write { "docker.io": { mirrors: ["https://mirror.example.com"] } }',
    );
  }

  const warnings: Warnings = [];
  const byName = new Map<string, { entry: RegistryMirrors; key: string }>();
  for (const key of Object.keys(registries)) {
    const entryField = `${field}.registries["${key}"]`;
    const name = normaliseRegistryName(entryField, key);
    const raw = registries[key];
    const entryInput = Array.isArray(raw) ? { mirrors: raw } : raw;
    if (!isPlainObject(entryInput)) {
      throw new PolicyError(
        entryField,
        raw,
        "must be an object with a mirrors list",
        'write { mirrors: ["https://mirror.example.com"] }',
      );
    }
    checkKnownFields(entryField, entryInput, ["mirrors", "upstreamFallback"]);
    if (!Array.isArray(entryInput.mirrors)) {
      throw new PolicyError(
        `${entryField}.mirrors`,
        entryInput.mirrors,
        "must be a list of mirror URLs",
        'write mirrors: ["https://mirror.example.com"]',
      );
    }
    const endpoints: MirrorEndpoint[] = [];
    entryInput.mirrors.forEach((m, i) => {
      const mirrorField = `${entryField}.mirrors[${i}]`;
      const endpoint = normaliseEndpoint(mirrorField, m, { allowPath });
      const kept = checkDeadMirror(mirrorField, endpoint.url, {
        allowDeprecatedMirrors,
        overrideName: `${field}.allowDeprecatedMirrors`,
      });
      if (kept) warnings.push(kept);
      // "*" covers Docker Hub unless Docker Hub has its own entry.
      if (name === DOCKER_HUB || (name === ANY_REGISTRY && !Object.keys(registries).some(isDockerHubName)))
        checkAcrAsDockerHubMirror(mirrorField, name, endpoint.url, endpoint.host);
      const earlier = endpoints.find((e) => e.url === endpoint.url);
      if (earlier) {
        warnings.push(`${entryField}.mirrors[${i}]: duplicate mirror ${endpoint.url} dropped (the first one is kept)`);
        return;
      }
      endpoints.push(endpoint);
    });
    const upstreamFallback = optionalBoolean(`${entryField}.upstreamFallback`, entryInput.upstreamFallback, true);
    if (endpoints.length === 0 && !upstreamFallback) {
      throw new PolicyError(
        `${entryField}.upstreamFallback`,
        false,
        "no mirrors and no upstream leaves nothing to pull from",
        "add a mirror, or set upstreamFallback: true",
      );
    }
    const entry: RegistryMirrors = { registry: name, endpoints, upstreamFallback };
    const previous = byName.get(name);
    if (previous) {
      if (JSON.stringify(previous.entry) !== JSON.stringify(entry)) {
        throw new PolicyError(
          entryField,
          key,
          `the registry "${name}" is listed twice (also as "${previous.key}") with different settings`,
          "keep one entry per registry and merge their mirrors into it",
        );
      }
      warnings.push(`${entryField}: same registry as "${previous.key}"; the duplicate entry is dropped`);
      continue;
    }
    byName.set(name, { entry, key });
  }
  const sorted = [...byName.values()].map((v) => v.entry).sort((a, b) => compareRegistries(a.registry, b.registry));
  return { policy: { registries: sorted }, warnings };
}

/** The mirrors of one registry, or undefined. */
export function registryEntry(policy: MirrorPolicy, registry: string): RegistryMirrors | undefined {
  return policy.registries.find((r) => r.registry === registry);
}

/** True when any endpoint carries a header: such a policy's rendered files may hold a credential. */
export function policyHasHeaders(policy: MirrorPolicy): boolean {
  return policy.registries.some((r) => r.endpoints.some((e) => Object.keys(e.headers).length > 0));
}

/**
 * The warning for an `auth: "ecr"` endpoint in a format other than containerd's: only containerd gets the token
 * the node fetches, so this runtime is answered 401 and skips the mirror unless it has its own credentials.
 */
export function ecrTokenNotSentWarning(field: string, runtime: string, endpoint: MirrorEndpoint): string {
  return `${field}.auth: ${runtime} cannot send the ECR token the node fetches for containerd; it gets a 401 from ${endpoint.host} and skips this mirror unless given its own credentials for it`;
}
