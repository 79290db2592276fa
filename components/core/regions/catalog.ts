import { PolicyError } from "../errors";
import { nearestNames } from "../suggest";
import { parseInsecureRegistry } from "../host-port";
import { checkKnownFields, type MirrorEndpointInput, normaliseEndpoint, normaliseRegistryName } from "../policy";
import { ALICLOUD_REGIONS } from "./alicloud";
import { AWS_REGIONS } from "./aws";

/** The clouds with a built-in region catalog. */
export type CloudName = "aws" | "alicloud";
export const CLOUDS: readonly CloudName[] = ["alicloud", "aws"];

/** Whether a node reaches mirrors from inside the cloud's private network (`vpc`) or over the internet (`public`). */
export type NetworkKind = "vpc" | "public";

/** One mirror as the user writes it: a URL, or an endpoint object with per-endpoint settings. */
export type MirrorInput = string | MirrorEndpointInput;

/** The user's mirrors for the regions one catalog key matches. */
export interface UserCatalogRegion {
  /** Mirrors per upstream registry (`docker.io`, `ghcr.io`, `*`, ...), in the order they are tried. */
  registries?: Record<string, MirrorInput[]>;
  /**
   * `vpc` when these mirrors are reachable only from inside the region's private network: they are tried
   * first, and skipped for nodes whose network is `public`. Default `public`: tried after the private ones.
   */
  network?: NetworkKind;
  /** Docker `insecure-registries` entries (`host:port` or CIDR such as `10.0.0.0/8`) for nodes in these regions. */
  insecureRegistries?: string[];
}

/**
 * The user's own mirrors per region, merged over the built-in catalog. Keys are region ids (`us-west-2`) or
 * patterns with `*` (`cn-*`, `*`); every key must match a known region of some cloud, so a typo fails loudly.
 * When several keys match a region, all of them apply, the most specific first (an exact id, then the pattern
 * with the most literal characters).
 */
export interface UserCatalog {
  regions: Record<string, UserCatalogRegion>;
}

/** A validated user-catalog mirror: the input as given (for the policy) and its normalised URL. */
export interface CatalogMirror {
  input: MirrorInput;
  url: string;
  field: string;
}

/** A validated user-catalog entry. */
export interface CatalogEntry {
  key: string;
  network: NetworkKind;
  /** Normalised registry name to mirrors. */
  registries: Map<string, CatalogMirror[]>;
  insecureRegistries: string[];
}

/** Every region id of one cloud (or of both), sorted. */
export function knownRegionIds(cloud?: CloudName): string[] {
  const ids = [
    ...(cloud === undefined || cloud === "aws" ? AWS_REGIONS.map((r) => r.id) : []),
    ...(cloud === undefined || cloud === "alicloud" ? ALICLOUD_REGIONS.map((r) => r.id) : []),
  ];
  return [...new Set(ids)].sort();
}

/** Throws unless `value` is a cloud with a built-in catalog. */
export function validateCloud(field: string, value: unknown): CloudName {
  if (!CLOUDS.includes(value as CloudName)) {
    throw new PolicyError(
      field,
      value,
      "unknown cloud",
      `use one of: ${CLOUDS.join(", ")} (for other clouds or your own mirrors, pick the cloud your nodes run in and list the mirrors in userCatalog/fallbacks)`,
    );
  }
  return value as CloudName;
}

export { levenshtein, nearestNames } from "../suggest";

/** Throws a PolicyError for a region id not in `cloud`'s catalog, listing the nearest known names. */
export function unknownRegionError(field: string, cloud: CloudName, region: unknown): PolicyError {
  const near = typeof region === "string" ? nearestNames(region, knownRegionIds(cloud)) : [];
  const hint = near.length > 0 ? `did you mean ${near.map((n) => `"${n}"`).join(", ")}? ` : "";
  return new PolicyError(
    field,
    region,
    `not a known ${cloud} region`,
    `${hint}Give a region id such as ${cloud === "aws" ? '"us-west-2"' : '"cn-hangzhou"'}; \`registry-mirrors regions --cloud ${cloud}\` lists them all`,
  );
}

/** True when a catalog key (a region id, or a pattern where `*` matches any run of characters) matches `region`. */
export function regionKeyMatches(key: string, region: string): boolean {
  if (!key.includes("*")) return key === region;
  if (!/^[a-z0-9*-]+$/.test(key)) return false;
  // Only [a-z0-9-*] from here, so `*` is the only character with a meaning in a regular expression.
  return new RegExp(`^${key.split("*").join(".*")}$`).test(region);
}

/** How specific a key is: exact ids beat any pattern, longer literal text beats shorter. */
function specificity(key: string): number {
  return key.includes("*") ? key.replace(/\*/g, "").length : Number.MAX_SAFE_INTEGER;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Options of {@link validateMirrorList}. */
export interface MirrorListOptions {
  /** Accept mirror URLs with a path (the policy's `allowMirrorPaths`). */
  allowMirrorPaths?: boolean;
}

/** Validates a list of mirrors with the policy's own endpoint rules; duplicates are kept for the caller to report. */
export function validateMirrorList(field: string, value: unknown, options: MirrorListOptions = {}): CatalogMirror[] {
  if (!Array.isArray(value)) {
    throw new PolicyError(field, value, "must be a list of mirrors", 'write ["https://mirror.example.com"]');
  }
  return value.map((m, i) => {
    const itemField = `${field}[${i}]`;
    const endpoint = normaliseEndpoint(itemField, m, { allowPath: options.allowMirrorPaths });
    return {
      input: typeof m === "string" ? m.trim() : (m as MirrorEndpointInput),
      url: endpoint.url,
      field: itemField,
    };
  });
}

/**
 * Validates a user catalog: keys match known regions, mirrors pass the policy's URL rules, insecure entries are
 * `host[:port]` or CIDR. Returns the entries sorted by key. Dead mirrors are checked later, by the selection,
 * which knows the region's alternative.
 */
export function validateUserCatalog(
  value: unknown,
  field = "userCatalog",
  options: MirrorListOptions = {},
): CatalogEntry[] {
  if (!isPlainObject(value)) {
    throw new PolicyError(
      field,
      value,
      "a user catalog is an object with a regions map",
      'write { regions: { "us-west-2": { registries: { "docker.io": ["https://mirror.example.com"] } } } }',
    );
  }
  checkKnownFields(field, value, ["regions"]);
  const regions = value.regions;
  if (!isPlainObject(regions)) {
    throw new PolicyError(
      `${field}.regions`,
      regions,
      "must be a map from region id or pattern to mirrors",
      'write { "cn-*": { registries: { "docker.io": ["https://mirror.example.com"] } } }',
    );
  }
  const all = knownRegionIds();
  return Object.keys(regions)
    .sort()
    .map((key) => {
      const entryField = `${field}.regions["${key}"]`;
      if (!/^[a-z0-9*-]+$/.test(key)) {
        throw new PolicyError(
          entryField,
          key,
          "a region key holds only lower-case letters, digits, hyphens and *",
          'write a region id such as "us-west-2" or a pattern such as "cn-*"',
        );
      }
      if (key.includes("*")) {
        if (!all.some((r) => regionKeyMatches(key, r))) {
          throw new PolicyError(
            entryField,
            key,
            "this region pattern matches no known region of any cloud",
            `fix the pattern (it matches whole ids, e.g. "cn-*" or "us-*-2"); known regions include ${nearestNames(key.replace(/\*/g, ""), all).join(", ")}`,
          );
        }
      } else if (!all.includes(key)) {
        const near = nearestNames(key, all);
        throw new PolicyError(
          entryField,
          key,
          "not a known region of any cloud",
          `did you mean ${near.map((n) => `"${n}"`).join(", ")}? \`registry-mirrors regions\` lists them all`,
        );
      }
      const raw = regions[key];
      if (!isPlainObject(raw)) {
        throw new PolicyError(
          entryField,
          raw,
          "must be an object with registries",
          'write { registries: { "docker.io": ["https://mirror.example.com"] } }',
        );
      }
      checkKnownFields(entryField, raw, ["registries", "network", "insecureRegistries"]);
      const network = raw.network ?? "public";
      if (network !== "vpc" && network !== "public") {
        throw new PolicyError(
          `${entryField}.network`,
          network,
          "unknown network",
          'use "vpc" (mirrors reachable only inside the region\'s private network) or "public"',
        );
      }
      const registries = new Map<string, CatalogMirror[]>();
      if (raw.registries !== undefined) {
        if (!isPlainObject(raw.registries)) {
          throw new PolicyError(
            `${entryField}.registries`,
            raw.registries,
            "must be a map from registry host to a list of mirrors",
            'write { "docker.io": ["https://mirror.example.com"] }',
          );
        }
        for (const registryKey of Object.keys(raw.registries).sort()) {
          const registryField = `${entryField}.registries["${registryKey}"]`;
          const name = normaliseRegistryName(registryField, registryKey);
          const mirrors = validateMirrorList(registryField, raw.registries[registryKey], options);
          registries.set(name, [...(registries.get(name) ?? []), ...mirrors]);
        }
      }
      let insecureRegistries: string[] = [];
      if (raw.insecureRegistries !== undefined) {
        if (!Array.isArray(raw.insecureRegistries)) {
          throw new PolicyError(
            `${entryField}.insecureRegistries`,
            raw.insecureRegistries,
            "must be a list",
            'write ["10.0.0.0/8", "registry.internal:5000"]',
          );
        }
        insecureRegistries = raw.insecureRegistries.map((v, i) =>
          parseInsecureRegistry(`${entryField}.insecureRegistries[${i}]`, v),
        );
      }
      return { key, network, registries, insecureRegistries };
    });
}

/** The entries that apply to `region`, most specific first (ties by key, so the order never changes). */
export function matchingEntries(entries: readonly CatalogEntry[], region: string): CatalogEntry[] {
  return entries
    .filter((e) => regionKeyMatches(e.key, region))
    .sort((a, b) => specificity(b.key) - specificity(a.key) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
