/**
 * The mirror policy: types, normalisation and validation with clear errors. Pure: no Pulumi import.
 */
import { PolicyError, type Warnings } from "../errors";
import { checkDeadMirror } from "../regions/dead-mirrors";
import { checkKnownFields, checkPlainData, isPlainObject, normaliseEndpoint, optionalBoolean } from "./endpoint";
import { checkAcrAsDockerHubMirror } from "./mistakes";
import { ANY_REGISTRY, DOCKER_HUB, type MirrorEndpoint, type MirrorPolicy, type RegistryMirrors } from "./types";
import { isDockerHubName, normaliseRegistryName } from "./url";

export * from "./ca";
export * from "./endpoint";
export * from "./harbor";
export * from "./mistakes";
export * from "./types";
export * from "./url";

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
  checkPlainData(field, input);
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
    const name = normaliseRegistryName(entryField, key, warnings);
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
      const endpoint = normaliseEndpoint(mirrorField, m, { allowPath, warnings });
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
