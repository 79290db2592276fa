/** Checks of single Docker setting values, shared by the typed settings. */
import { PolicyError, type Warnings } from "../errors";
import { parseInsecureRegistry } from "../host-port";

export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Splits `key=value` (the form of `--log-opt`, `--exec-opt`, `--label`). The key must be non-empty; the value may be
 * empty or hold more `=` signs.
 */
export function parseKeyValue(field: string, text: unknown): [string, string] {
  if (typeof text !== "string" || !text.includes("=") || text.startsWith("=")) {
    throw new PolicyError(field, text, "expected key=value", 'write the option as key=value, e.g. "max-size=100m"');
  }
  const at = text.indexOf("=");
  return [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function stringList(field: string, value: unknown, example: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v.trim() === "")) {
    throw new PolicyError(field, value, "must be a list of non-empty strings", `write e.g. [${example}]`);
  }
  return value.map((v: string) => v.trim());
}

export function nonEmptyString(field: string, value: unknown, example: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new PolicyError(field, value, "must be a non-empty string", `write e.g. ${example}`);
  }
  return value.trim();
}

export function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new PolicyError(
      field,
      value,
      `must be a whole number from ${min} to ${max}`,
      `write a number such as ${Math.max(min, Math.min(max, 3))}`,
    );
  }
  return value;
}

export function boolean(field: string, value: unknown): boolean {
  if (typeof value !== "boolean")
    throw new PolicyError(field, value, "must be true or false", "write true or false without quotes");
  return value;
}

export function stringMap(field: string, value: unknown, example: string): Record<string, string> {
  if (!isPlainObject(value))
    throw new PolicyError(field, value, "must be an object of names to string values", `write e.g. ${example}`);
  const out: Record<string, string> = {};
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (key.trim() === "" || key.includes("=")) {
      throw new PolicyError(`${field}`, key, "not a valid option name", 'use a name without spaces or "="');
    }
    // dockerd wants strings ("max-file": "3"); a number or boolean from YAML is written as its text.
    if (typeof v === "string") out[key] = v;
    else if ((typeof v === "number" && Number.isFinite(v)) || typeof v === "boolean") out[key] = String(v);
    else throw new PolicyError(`${field}.${key}`, v, "must be a string", `write the value in quotes, e.g. ${example}`);
  }
  return out;
}

/** Deduplicates `host[:port]`/CIDR entries, keeping the first and warning about the rest. */
export function registryList(field: string, value: unknown, warnings: Warnings): string[] {
  if (!Array.isArray(value)) {
    throw new PolicyError(
      field,
      value,
      "must be a list of host[:port] or CIDR entries",
      'write e.g. ["10.0.0.0/8", "registry.local:5000"]',
    );
  }
  const out: string[] = [];
  value.forEach((entry, i) => {
    const parsed = parseInsecureRegistry(`${field}[${i}]`, entry);
    if (out.includes(parsed)) warnings.push(`${field}[${i}]: duplicate ${parsed} dropped`);
    else out.push(parsed);
  });
  return out;
}
