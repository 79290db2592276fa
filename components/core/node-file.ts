/** The one check for a file placed on a node, whichever way it gets there (user data or the apply script). */
import { PolicyError } from "./errors";

/** What {@link checkNodeFile} checks: a file's node path, content and mode. */
export interface NodeFileFields {
  path: string;
  content: string;
  mode: number;
}

/** Where {@link checkNodeFile} reports a bad path, when not at `<field>.path`. */
export interface NodeFileCheckOptions {
  /** The input field that holds the path, e.g. `scriptPath`; default `<field>.path`. */
  pathField?: string;
}

// A quote, a backslash, a control character or white space (a shell would need quoting thought for them).
const UNSAFE_PATH_CHARACTER = /['"`\\\s\x00-\x1f\x7f]/;
/** The highest Unix permission bits: setuid, setgid and sticky plus rwx for owner, group and others. */
export const MAX_FILE_MODE = 0o7777;

/**
 * Checks a node path: absolute, naming a file (no trailing `/`), without `.` or `..` parts, and without a quote,
 * backslash, control character or white space. Returns the path.
 */
export function checkNodePath(field: string, path: unknown): string {
  if (
    typeof path !== "string" ||
    !path.startsWith("/") ||
    path.endsWith("/") ||
    UNSAFE_PATH_CHARACTER.test(path) ||
    path.split("/").some((part) => part === "." || part === "..")
  ) {
    throw new PolicyError(
      field,
      path,
      "not a plain absolute file path",
      'use an absolute path without . or .. parts, quotes, backslashes, control characters or white space, e.g. "/etc/containerd/certs.d/docker.io/hosts.toml"',
    );
  }
  return path;
}

/**
 * Checks a file placed on a node: its path (see {@link checkNodePath}), content ending in a newline (the content is
 * never shown in the error: it may hold a credential) and an integer mode from 0 to 0o7777. Errors name
 * `<field>.path` (or `options.pathField`), `<field>.content` and `<field>.mode`. Returns the file.
 */
export function checkNodeFile<F extends NodeFileFields>(field: string, file: F, options: NodeFileCheckOptions = {}): F {
  checkNodePath(options.pathField ?? `${field}.path`, file.path);
  if (typeof file.content !== "string" || !file.content.endsWith("\n")) {
    throw new PolicyError(
      `${field}.content`,
      "(content hidden)",
      "a node file must end with a newline",
      'end the content with a final newline ("\\n")',
    );
  }
  if (!Number.isInteger(file.mode) || file.mode < 0 || file.mode > MAX_FILE_MODE) {
    throw new PolicyError(
      `${field}.mode`,
      file.mode,
      "not a file mode",
      "give Unix permission bits from 0 to 0o7777, such as 0o644 (0o600 for a file holding a credential)",
    );
  }
  return file;
}

/**
 * The folder whose lock the node script takes for a node path, and the watchdog before it writes there: the path's
 * first two levels (/etc/docker for /etc/docker/certs.d/x/hosts.toml).
 */
export function lockFolder(path: string): string {
  const parts = path.split("/");
  return (parts.length > 3 ? parts.slice(0, 3) : parts.slice(0, -1)).join("/") || "/";
}
