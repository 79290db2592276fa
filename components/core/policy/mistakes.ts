/** The article's mistakes: a registry given as a Docker Hub mirror, and insecure ranges that cover public space. */
import ipaddr from "ipaddr.js";
import { PolicyError } from "../errors";
import { isCidr } from "../host-port";
import { ANY_REGISTRY, DOCKER_HUB } from "./types";
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
