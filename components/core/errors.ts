/**
 * An input the library refuses. The message always names the field, the value and the fix, so a
 * platform engineer reading a failed `pulumi preview` knows what to change without opening the source.
 */
export class PolicyError extends Error {
  readonly field: string;
  readonly value: unknown;
  readonly fix: string;

  constructor(field: string, value: unknown, problem: string, fix: string) {
    super(`${field}: ${problem} (got ${describeValue(value)}). Fix: ${fix}`);
    this.name = "PolicyError";
    this.field = field;
    this.value = value;
    this.fix = fix;
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** Collects warnings (not errors) met while normalising input, e.g. a duplicate mirror that was dropped. */
export type Warnings = string[];
