import { PolicyError } from "../errors";

/** A public Docker Hub mirror that is gone or closed to the public, and what happened to it. */
export interface DeadMirror {
  /** Host name, lower case. */
  host: string;
  /** What happened, as one clause: "was shut down in 2019". */
  what: string;
}

/**
 * Mirrors still copied from old blog posts (RUNTIMES.md). A node configured with one of them silently falls
 * back to Docker Hub, or worse, pulls incomplete blobs, so they are refused.
 */
export const DEAD_MIRRORS: readonly DeadMirror[] = [
  { host: "dockerhub.azk8s.cn", what: "is restricted to Azure China internal use and no longer serves the public" },
  { host: "docker.mirrors.sjtug.sjtu.edu.cn", what: "stopped serving Docker Hub images in 2024" },
  { host: "docker.mirrors.ustc.edu.cn", what: "is restricted to the USTC campus network" },
  { host: "hub-mirror.c.163.com", what: "is unreliable and serves incomplete blobs" },
  { host: "mirror.baidubce.com", what: "no longer resolves" },
  { host: "reg-mirror.qiniu.com", what: "was shut down in 2020" },
  { host: "registry.docker-cn.com", what: "was shut down in 2019" },
];

/** The dead-mirror entry for a mirror URL or host (port ignored), or undefined. */
export function findDeadMirror(urlOrHost: string): DeadMirror | undefined {
  const host = urlOrHost
    .trim()
    .toLowerCase()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//, "")
    .replace(/[/?#].*$/, "")
    .replace(/:\d+$/, "")
    .replace(/\.$/, "");
  return DEAD_MIRRORS.find((d) => d.host === host);
}

export interface DeadMirrorCheckOptions {
  /** Keep a dead mirror, with a warning, instead of refusing it. */
  allowDeprecatedMirrors?: boolean;
  /** The alternative to suggest, e.g. the region's ECR pull-through cache or Alibaba Cloud accelerator. */
  alternative?: string;
  /** How the override is spelled where the mirror came from (default `allowDeprecatedMirrors`). */
  overrideName?: string;
}

const GENERIC_ALTERNATIVE =
  "your cloud's registry mirror for the node's region (an ECR pull-through cache on AWS, the account's accelerator https://<id>.mirror.aliyuncs.com on Alibaba Cloud) or your own pull-through cache";

/**
 * Refuses a dead mirror with a PolicyError that says what happened to it and what to use instead; with
 * `allowDeprecatedMirrors` returns a warning instead. Returns undefined for a mirror not on the list.
 */
export function checkDeadMirror(field: string, url: string, options: DeadMirrorCheckOptions = {}): string | undefined {
  const dead = findDeadMirror(url);
  if (!dead) return undefined;
  const alternative = options.alternative ?? GENERIC_ALTERNATIVE;
  const override = options.overrideName ?? "allowDeprecatedMirrors";
  if (options.allowDeprecatedMirrors) {
    return `${field}: ${url} ${dead.what}; kept because ${override} is set. Consider ${alternative}`;
  }
  throw new PolicyError(
    field,
    url,
    `the public mirror ${dead.host} ${dead.what}`,
    `remove it and use ${alternative} (set ${override}: true only if you know it works from your network)`,
  );
}
