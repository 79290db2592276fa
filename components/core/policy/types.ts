/** The mirror policy's types: what users write (`…Input`) and what normalisation gives (plain, validated). */
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

export const DOCKER_HUB_ALIASES = new Set([
  "docker.io",
  "index.docker.io",
  "registry-1.docker.io",
  "registry.hub.docker.com",
]);
export const CAPABILITY_ORDER: Capability[] = ["pull", "resolve", "push"];
export const PULL_FROM: PullFromMirror[] = ["all", "digest-only", "tag-only"];
export const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|μs|ms|s|m|h))+$/;
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** One mirror endpoint as a user writes it: a URL string, or this object for per-endpoint settings. */
export interface MirrorEndpointInput {
  /** Mirror URL with scheme, e.g. `https://mirror.example.com`. `http://` means plain HTTP. */
  url: string;
  /** Skip TLS verification for this endpoint (an `http://` URL is plain HTTP and needs no flag). */
  insecure?: boolean;
  /** Absolute path of a CA bundle on the node that signs the mirror's certificate. */
  caFile?: string;
  /**
   * The PEM text of the CA that signs the mirror's certificate (a self-hosted cache's private CA). The apply script
   * writes it where each runtime reads it: a file beside containerd's hosts.toml (its `ca`),
   * `/etc/docker/certs.d/<host:port>/ca.crt`, `/etc/containers/certs.d/<host:port>/ca.crt`; `restore` removes them.
   * Not with `caFile`.
   */
  ca?: string;
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
  /**
   * A Harbor proxy-cache project that proxies this registry: `url` is then Harbor's address only
   * (`https://harbor.example.com`) and the mirror becomes `https://harbor.example.com/v2/<project>` with containerd's
   * `override_path` (CRI-O/podman: `harbor.example.com/<project>`). Docker cannot address a project (it appends
   * `/v2/` to a host), so a Harbor project as a Docker Hub mirror is refused when Docker is among the runtimes.
   */
  harborProject?: string;
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
  /** The CA bundle as PEM text (parsed; certificate blocks only, ending in a newline). */
  ca?: string;
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
  /** The Harbor proxy-cache project the URL's path names (`/v2/<project>`, with `overridePath`). */
  harborProject?: string;
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
