import { PolicyError } from "../errors";
import { heredocDelimiter, shellQuote } from "../shell";
import {
  checkedFile,
  firstLine,
  formatMode,
  joinScriptCommand,
  placeFiles,
  type UserDataArgs,
  writtenFiles,
} from "./files";
import { gzipBytes, wrapLines } from "./limits";

/** Where the shell form puts a user's own script (run after the apply script). */
export const DEFAULT_USER_SCRIPT_PATH = "/var/lib/registry-mirrors/user-script.sh";

/** The shell form may also carry the user's own boot script, run after the apply script. */
export interface ShellUserDataArgs extends UserDataArgs {
  /** The user's own script (with its `#!` line), run after the apply script. */
  userScript?: string;
  /** Where the user's script is written; default {@link DEFAULT_USER_SCRIPT_PATH}. */
  userScriptPath?: string;
}

/**
 * A `#!/bin/sh` user-data script that writes the apply script (and extra files) with quoted
 * here-documents, then runs it; the user's own script, when given, runs after it.
 */
export function renderShellUserData(args: ShellUserDataArgs): string {
  const { script, files } = placeFiles(args);
  const placed = writtenFiles(script, files, args.compress, args.engineUrl);
  if (args.userScript !== undefined) {
    if (!args.userScript.startsWith("#!")) {
      throw new PolicyError(
        "userScript",
        firstLine(args.userScript),
        "a user script must start with a `#!` line",
        "start it with `#!/bin/sh` (or the interpreter it needs)",
      );
    }
    const userScript = checkedFile(
      { path: args.userScriptPath ?? DEFAULT_USER_SCRIPT_PATH, content: args.userScript, mode: 0o700 },
      "userScript",
      "userScriptPath",
    );
    if ([script, ...placed].some((f) => f.path === userScript.path)) {
      throw new PolicyError(
        "userScriptPath",
        userScript.path,
        "two files in the user data have the same path",
        "give the user script its own path",
      );
    }
    placed.push({ ...userScript, compress: args.compress === true || args.compress === "all" });
  }
  const lines = [
    "#!/bin/sh",
    "# registry-mirrors: writes the node apply script, then runs it.",
    "set -eu",
    "umask 077",
  ];
  for (const dir of [...new Set(placed.map((f) => dirname(f.path)))]) lines.push(`mkdir -p ${shellQuote(dir)}`);
  for (const f of placed) {
    // Write beside the target and rename, so a half-written file never sits at the real path.
    const tmp = `${f.path}.tmp`;
    if (f.compress) {
      // Through a file rather than a pipe: POSIX sh has no pipefail, and a bad decode must stop the script.
      const encoded = wrapLines(gzipBytes(f.content).toString("base64"));
      lines.push(`base64 -d > ${shellQuote(`${tmp}.gz`)} <<'REGISTRY_MIRRORS_EOF'`, `${encoded}REGISTRY_MIRRORS_EOF`);
      lines.push(`gunzip -c ${shellQuote(`${tmp}.gz`)} > ${shellQuote(tmp)}`, `rm -f ${shellQuote(`${tmp}.gz`)}`);
    } else {
      const delimiter = heredocDelimiter(f.content);
      lines.push(`cat > ${shellQuote(tmp)} <<'${delimiter}'`, f.content + delimiter);
    }
    lines.push(`chmod ${formatMode(f.mode)} ${shellQuote(tmp)}`, `mv -f ${shellQuote(tmp)} ${shellQuote(f.path)}`);
  }
  const join = joinScriptCommand(script, args.compress, args.engineUrl);
  // A fetched engine can fail to come: that is the apply's failure, not the user data's (the user's script still runs).
  const fetch = args.engineUrl !== undefined && join ? `${join} && ` : "";
  if (join && !fetch) lines.push(join);
  if (args.userScript === undefined) lines.push(`${fetch}${shellQuote(script.path)}`);
  else {
    // The user's script (often what joins the node to its cluster) runs even when the mirrors failed;
    // the user data still exits non-zero so the failure shows in the boot log.
    const user = shellQuote(placed[placed.length - 1].path);
    lines.push("rc=0", `${fetch}${shellQuote(script.path)} || rc=$?`, user, 'exit "$rc"');
  }
  return `${lines.join("\n")}\n`;
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}
