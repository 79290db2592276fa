/**
 * An input the library refuses. The message always names the field, the value and the fix, so a
 * platform engineer reading a failed `pulumi preview` knows what to change without opening the source.
 * Credentials never show: URL userinfo becomes `***@` anywhere in the message, and the value of a field that holds
 * credentials (a header's value, password, token, secret) is shown as `(redacted)`.
 */
export class PolicyError extends Error {
  readonly field: string;
  /** The refused value, redacted like the message. */
  readonly value: unknown;
  readonly fix: string;

  constructor(field: string, value: unknown, problem: string, fix: string) {
    const secret = SECRET_FIELD.test(field) || (/\.headers$/.test(field) && !isNameList(value));
    const shown = secret && value !== undefined ? REDACTED : redactValue(value);
    super(redact(`${field}: ${problem} (got ${describeValue(shown)}). Fix: ${fix}`));
    this.name = "PolicyError";
    this.field = field;
    this.value = shown;
    this.fix = redact(fix);
  }
}

/** What a refused credential's value shows as. */
export const REDACTED = "(redacted)";
/** A credential's field, or one header's value (`...headers.X-Token`). */
const SECRET_FIELD = /(^|[.[\]"])(password|token|secret|credentials?)["\]]*$|\.headers[.[]/i;
/** Header names (shown); anything else under `headers` may hold a value (hidden). */
const isNameList = (value: unknown): boolean =>
  (Array.isArray(value) ? value : [value]).every(
    (v) => typeof v === "string" && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v),
  );
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'`]*@/gi;
/** `user:password@host` without a scheme. */
const BARE_USERINFO = /(^|[\s"'`(=])[^\s/?#@:"'`(=]+:[^\s/?#@"'`]*@/g;

/** `text` with every URL's userinfo (`user:password@`) replaced by `***@`. */
export function redact(text: string): string {
  return text.replace(USERINFO, "$1***@").replace(BARE_USERINFO, "$1***@");
}

function redactValue(value: unknown): unknown {
  if (typeof value === "string") return redact(value);
  if (typeof value !== "object" || value === null) return value;
  try {
    const text = JSON.stringify(value);
    return text === undefined || redact(text) === text ? value : JSON.parse(redact(text));
  } catch {
    return value;
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === REDACTED) return REDACTED;
  if (typeof value === "function") return "a function";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  const text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** Collects warnings (not errors) met while normalising input, e.g. a duplicate mirror that was dropped. */
export type Warnings = string[];
