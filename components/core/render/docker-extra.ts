/** The raw `extra` daemon.json keys of the Docker settings: checked against the keys dockerd accepts. */
import { PolicyError, type Warnings } from "../errors";
import { DOCKERD_FLAG_SPELLINGS, DOCKERD_KEYS, closestDockerKey } from "./docker-keys";
import { SETTING_KEYS } from "./docker-settings-input";
import { isPlainObject } from "./docker-values";

function isJsonValue(value: unknown): boolean {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonValue);
  if (isPlainObject(value)) return Object.values(value).every(isJsonValue);
  return false;
}

/** Validates the raw `extra` keys against the keys dockerd accepts. */
export function extraSettings(
  extra: unknown,
  f: string,
  typed: Record<string, unknown>,
  warnings: Warnings,
): Record<string, unknown> {
  if (!isPlainObject(extra)) {
    throw new PolicyError(
      `${f}.extra`,
      extra,
      "must be an object of daemon.json keys to values",
      'write e.g. { "userland-proxy": false }',
    );
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(extra).sort()) {
    const field = `${f}.extra["${key}"]`;
    const value = extra[key];
    const info = DOCKERD_KEYS[key];
    const flagOf = DOCKERD_FLAG_SPELLINGS[key];
    if (flagOf) {
      throw new PolicyError(
        field,
        key,
        "this is the name of dockerd's command-line flag: dockerd accepts it in daemon.json but ignores it",
        `write "${flagOf}"`,
      );
    }
    if (!info) {
      throw new PolicyError(
        field,
        key,
        "dockerd does not know this daemon.json key and would refuse to start",
        `use the key as dockerd spells it; the closest known key is "${closestDockerKey(key)}"`,
      );
    }
    if (key === "registry-mirrors") {
      throw new PolicyError(
        field,
        key,
        "the mirrors come from the mirror policy",
        'put Docker Hub mirrors in the policy\'s registries["docker.io"].mirrors',
      );
    }
    const typedName = Object.entries(SETTING_KEYS).find(([, k]) => k === key)?.[0];
    if (typedName) {
      throw new PolicyError(
        field,
        key,
        `this key has a typed setting (${f}.${typedName})`,
        `set ${f}.${typedName} instead of ${key} in extra`,
      );
    }
    if (key in typed) throw new PolicyError(field, key, "this key is already set", "set it once");
    if (value === undefined || !isJsonValue(value)) {
      throw new PolicyError(
        field,
        value,
        "must be a JSON value (string, number, boolean, null, list or object)",
        "give the value exactly as it goes in daemon.json",
      );
    }
    if (info.nested) {
      if (!isPlainObject(value))
        throw new PolicyError(field, value, "must be an object", `write e.g. { "${info.nested[0]}": "..." }`);
      for (const inner of Object.keys(value)) {
        if (!info.nested.includes(inner)) {
          throw new PolicyError(
            `${field}.${inner}`,
            inner,
            "dockerd does not know this key and would refuse to start",
            `use one of ${info.nested.join(", ")}`,
          );
        }
      }
    }
    if (info.since)
      warnings.push(`${field}: needs dockerd ${info.since} or newer; an older dockerd refuses to start with it`);
    if (info.until)
      warnings.push(`${field}: removed after dockerd ${info.until}; a newer dockerd refuses to start with it`);
    if (key === "hosts" || key === "containerd") {
      warnings.push(
        `${field}: the stock docker.service already passes ${key === "hosts" ? "-H fd://" : "--containerd"} on the command line, and dockerd refuses a setting given both ways`,
      );
    }
    out[key] = value;
  }
  return out;
}
