/** Mirror URLs and registry names: parsed and checked the way dockerd does, a little stricter. */
import { PolicyError, type Warnings } from "../errors";
import { parseHostPort } from "../host-port";
import { ANY_REGISTRY, DOCKER_HUB, DOCKER_HUB_ALIASES, type MirrorEndpoint } from "./types";
export interface MirrorUrlOptions {
  /** Accept a path after the host (default false: old dockerd refuses it). */
  allowPath?: boolean;
  /** Where an internationalised host's warning goes (without it such a host is refused). */
  warnings?: Warnings;
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
      "remove the user:password part before the @ and give credentials through RegistryCredentialSecret or the runtime's auth settings",
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
  // The host as written must be canonical: the URL parser also reads 0x7f.0.0.1 or 2130706433 as 127.0.0.1.
  parseHostPort(field, /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(text)?.[1], options.warnings);
  const host = parseHostPort(field, url.host);
  return { url: `${protocol}://${host}${path}`, scheme: protocol, host, path };
}

/** True for every name Docker Hub goes by (`docker.io`, `index.docker.io`, `registry-1.docker.io`, ...), any case. */
export function isDockerHubName(name: string): boolean {
  return DOCKER_HUB_ALIASES.has(name.trim().toLowerCase());
}

/** Normalises an upstream registry key: lower case, Docker Hub aliases folded into `docker.io`, `*` kept. */
export function normaliseRegistryName(field: string, raw: unknown, warnings?: Warnings): string {
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
  const host = parseHostPort(field, raw, warnings);
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}
