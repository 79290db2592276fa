import { gunzipSync, gzipSync } from "node:zlib";
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { yaml } from "../lazy-yaml";
import { PolicyError } from "../errors";
import { heredocDelimiter, shellQuote } from "../shell";
import type { NodeFile } from "./types";

/** Where user data puts the node apply script before running it. */
export const DEFAULT_APPLY_SCRIPT_PATH = "/var/lib/registry-mirrors/apply-node-config.sh";
/** Where the shell form puts a user's own script (run after the apply script). */
export const DEFAULT_USER_SCRIPT_PATH = "/var/lib/registry-mirrors/user-script.sh";
/** The MIME boundary used unless it occurs in a part (then a numbered variant is used). */
export const DEFAULT_MIME_BOUNDARY = "==REGISTRY-MIRRORS-BOUNDARY==";

/** What the user data delivers: the node apply script, plus optional files written before it runs. */
export interface UserDataArgs {
  /** The node apply script (POSIX sh, ending in a newline). A NodeFile flagged `secret` is refused. */
  applyScript: string | NodeFile;
  /** Where the script is written on the node; default {@link DEFAULT_APPLY_SCRIPT_PATH}. */
  scriptPath?: string;
  /** Files written before the script runs (e.g. a CA bundle). A file flagged `secret` is refused. */
  files?: NodeFile[];
  /**
   * Carry every file gzip-compressed and base64-encoded inside the user data (cloud-config
   * `encoding: gz+b64`; the shell form decodes with `base64 -d` and `gunzip`): about 45% of the size,
   * and the user data stays text, which every reader (EKS, ACK, Alibaba Cloud) takes.
   */
  compress?: boolean;
}

/** The shell form may also carry the user's own boot script, run after the apply script. */
export interface ShellUserDataArgs extends UserDataArgs {
  /** The user's own script (with its `#!` line), run after the apply script. */
  userScript?: string;
  /** Where the user's script is written; default {@link DEFAULT_USER_SCRIPT_PATH}. */
  userScriptPath?: string;
}

interface PlacedFile {
  path: string;
  content: string;
  mode: number;
  field: string;
}

/**
 * A `#cloud-config` document: `write_files` places the apply script (mode 0700) and any extra files,
 * `runcmd` runs the script once per instance. Rendered with the `yaml` library, deterministic.
 */
export function renderCloudConfig(args: UserDataArgs): string {
  const { script, files } = placeFiles(args);
  const writeFiles = [...files, script].map((f) => ({
    path: f.path,
    owner: "root:root",
    permissions: formatMode(f.mode),
    ...(args.compress
      ? { encoding: "gz+b64", content: gzipBytes(f.content).toString("base64") }
      : { content: f.content }),
  }));
  const doc = new (yaml().Document)({ write_files: writeFiles });
  // `runcmd: - [ path ]` runs the script directly (no shell); flow style keeps it readable.
  doc.set("runcmd", doc.createNode([doc.createNode([script.path], { flow: true })]));
  return `#cloud-config\n${doc.toString({ lineWidth: 0 })}`;
}

/**
 * A `#!/bin/sh` user-data script that writes the apply script (and extra files) with quoted
 * here-documents, then runs it; the user's own script, when given, runs after it.
 */
export function renderShellUserData(args: ShellUserDataArgs): string {
  const { script, files } = placeFiles(args);
  const placed = [...files, script];
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
    if (placed.some((f) => f.path === userScript.path)) {
      throw new PolicyError(
        "userScriptPath",
        userScript.path,
        "two files in the user data have the same path",
        "give the user script its own path",
      );
    }
    placed.push(userScript);
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
    if (args.compress) {
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
  if (args.userScript === undefined) lines.push(shellQuote(script.path));
  else {
    // The user's script (often what joins the node to its cluster) runs even when the mirrors failed;
    // the user data still exits non-zero so the failure shows in the boot log.
    lines.push("rc=0", `${shellQuote(script.path)} || rc=$?`, shellQuote(placed[placed.length - 1].path), 'exit "$rc"');
  }
  return `${lines.join("\n")}\n`;
}

function placeFiles(args: UserDataArgs): { script: PlacedFile; files: PlacedFile[] } {
  const given = typeof args.applyScript === "string" ? undefined : args.applyScript;
  if (given?.secret) refuseSecret("applyScript", given.path);
  const path = args.scriptPath ?? given?.path ?? DEFAULT_APPLY_SCRIPT_PATH;
  const content = typeof args.applyScript === "string" ? args.applyScript : args.applyScript.content;
  if (!content.startsWith("#!")) {
    throw new PolicyError(
      "applyScript",
      firstLine(content),
      "the apply script must start with a `#!` line",
      "pass the script rendered by renderApplyScript (it starts with `#!/bin/sh`)",
    );
  }
  const script = checkedFile(
    { path, content, mode: 0o700 },
    "applyScript",
    args.scriptPath !== undefined || !given ? "scriptPath" : "applyScript.path",
  );
  const files = (args.files ?? []).map((f, i) => {
    if (f.secret) refuseSecret(`files[${i}]`, f.path);
    return checkedFile(f, `files[${i}]`);
  });
  const seen = new Set<string>();
  for (const f of [...files, script]) {
    if (seen.has(f.path))
      throw new PolicyError(
        f.field,
        f.path,
        "two files in the user data have the same path",
        "give every file its own path",
      );
    seen.add(f.path);
  }
  return { script, files };
}

function checkedFile(
  f: { path: string; content: string; mode: number },
  field: string,
  pathField = `${field}.path`,
): PlacedFile {
  if (!f.path.startsWith("/") || /[\0-\x1f'"\\]/.test(f.path) || f.path.endsWith("/")) {
    throw new PolicyError(
      pathField,
      f.path,
      "a node file path must be absolute, name a file, and hold no quote, backslash or control character",
      'use a plain absolute path such as "/var/lib/registry-mirrors/apply-node-config.sh"',
    );
  }
  if (!f.content.endsWith("\n")) {
    throw new PolicyError(
      `${field}.content`,
      f.content.slice(-40),
      "node file content must end with a newline",
      "append a final newline to the content",
    );
  }
  if (!Number.isInteger(f.mode) || f.mode < 0 || f.mode > 0o7777) {
    throw new PolicyError(
      `${field}.mode`,
      f.mode,
      "a file mode must be Unix permission bits",
      "use a number such as 0o644 or 0o700",
    );
  }
  return { ...f, field };
}

/**
 * Throws when the apply script handed to a user-data helper is a secret: it then holds a credential
 * (mirror headers, registry auth), and credentials never go into user data.
 */
export function refuseSecretApplyScript(isSecret: boolean): void {
  if (isSecret) {
    throw new PolicyError(
      "applyScript",
      "(a secret value)",
      "the apply script is a secret, so it holds a credential (mirror headers or registry auth), and user data is readable by anyone allowed to describe the instance",
      "deliver this configuration with MirrorDaemonConfig's kubernetes DaemonSet, or drop the credential from the policy (e.g. use an instance role for ECR)",
    );
  }
}

function refuseSecret(field: string, path: string): never {
  throw new PolicyError(
    field,
    path,
    "this file holds a credential (secret: true), and user data is readable by anyone allowed to describe the instance or reach its metadata service",
    "keep credentials out of user data: deliver them with RegistryCredentialSecret or the DaemonSet, or fetch them on the node from a secret store",
  );
}

// ---------------------------------------------------------------------------------------------
// MIME multipart

/** One part of a MIME multipart user data document. */
export interface MimePart {
  /** Bare media type, e.g. `text/x-shellscript`, `text/cloud-config`, `application/node.eks.aws`. */
  contentType: string;
  /** The part's exact text. */
  content: string;
  /** Optional file name (cloud-init uses it to name the part on the node). */
  filename?: string;
}

/** Who reads the multipart document, which decides the content types it accepts. */
export type MimeTarget = "cloud-init" | "eks-al2023";

const CLOUD_INIT_CONTENT_TYPES = [
  "text/cloud-boothook",
  "text/cloud-config",
  "text/cloud-config-archive",
  "text/jinja2",
  "text/part-handler",
  "text/x-include-once-url",
  "text/x-include-url",
  "text/x-shellscript",
  "text/x-shellscript-per-boot",
  "text/x-shellscript-per-instance",
  "text/x-shellscript-per-once",
] as const;

/** Content types each target accepts. Amazon Linux 2023 EKS nodes add nodeadm's `NodeConfig` parts. */
export const MIME_CONTENT_TYPES: Record<MimeTarget, readonly string[]> = {
  "cloud-init": CLOUD_INIT_CONTENT_TYPES,
  "eks-al2023": [...CLOUD_INIT_CONTENT_TYPES, "application/node.eks.aws"],
};

/** Options of {@link renderMimeMultipart}. */
export interface MimeOptions {
  /** Which reader the document is for; default `cloud-init`. */
  target?: MimeTarget;
  /** Boundary to use; refused if it occurs in a part. Default {@link DEFAULT_MIME_BOUNDARY} (or a numbered variant). */
  boundary?: string;
}

/**
 * A MIME `multipart/mixed` document in the format EKS and cloud-init read, parts kept in the given
 * order and byte-exact (each part's last newline is followed by the delimiter line).
 */
export function renderMimeMultipart(parts: MimePart[], options: MimeOptions = {}): string {
  const target = options.target ?? "cloud-init";
  if (parts.length === 0)
    throw new PolicyError("parts", [], "a multipart document needs at least one part", "pass the parts to combine");
  parts.forEach((part, i) => checkPart(part, `parts[${i}]`, target));
  const boundary = chooseBoundary(parts, options.boundary);
  const out = ["MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="${boundary}"`, ""];
  for (const part of parts) {
    const encoding = transferEncoding(part);
    out.push(
      `--${boundary}`,
      `Content-Type: ${part.contentType}; charset="${encoding === "7bit" ? "us-ascii" : "utf-8"}"`,
      "MIME-Version: 1.0",
    );
    out.push(`Content-Transfer-Encoding: ${encoding}`);
    if (part.filename !== undefined) out.push(`Content-Disposition: attachment; filename="${part.filename}"`);
    out.push("", encoding === "base64" ? wrapBase64(part.content) : part.content);
  }
  out.push(`--${boundary}--`, "");
  return out.join("\n");
}

/**
 * ASCII parts go as 7bit text. Other text goes base64: cloud-init's Python email reading turns 8bit
 * UTF-8 into mojibake (seen with cloud-init 22.4). nodeadm reads its parts' bytes as they are, so a
 * non-ASCII NodeConfig stays 8bit.
 */
function transferEncoding(part: MimePart): "7bit" | "8bit" | "base64" {
  if (/^[\x00-\x7f]*$/.test(part.content)) return "7bit";
  return part.contentType === "application/node.eks.aws" ? "8bit" : "base64";
}

function wrapBase64(content: string): string {
  return wrapLines(Buffer.from(content, "utf8").toString("base64"));
}

/** Base64 text in lines of 76 characters, each ending in a newline. */
function wrapLines(encoded: string): string {
  return encoded.replace(/.{1,76}/g, "$&\n");
}

function checkPart(part: MimePart, field: string, target: MimeTarget): void {
  const accepted = MIME_CONTENT_TYPES[target];
  if (!accepted.includes(part.contentType)) {
    throw new PolicyError(
      `${field}.contentType`,
      part.contentType,
      `${target === "eks-al2023" ? "Amazon Linux 2023 EKS node" : "cloud-init"} user data does not accept this content type`,
      `use one of ${accepted.join(", ")} (a bare type; the charset is set from the content)`,
    );
  }
  if (part.filename !== undefined && !/^[A-Za-z0-9._-]+$/.test(part.filename)) {
    throw new PolicyError(
      `${field}.filename`,
      part.filename,
      "a part file name may hold only letters, digits, '.', '_' and '-'",
      'use a plain name such as "setup.sh"',
    );
  }
}

function chooseBoundary(parts: MimePart[], requested: string | undefined): string {
  const clashes = (b: string) => parts.some((p) => p.content.includes(b) || (p.filename ?? "").includes(b));
  if (requested !== undefined) {
    // RFC 2046: 1-70 characters from a restricted set, not ending in a space.
    if (!/^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/.test(requested)) {
      throw new PolicyError(
        "boundary",
        requested,
        "a MIME boundary is 1-70 characters of letters, digits and '()+_,-./:=?",
        'choose a boundary such as "==MYBOUNDARY=="',
      );
    }
    if (clashes(requested))
      throw new PolicyError(
        "boundary",
        requested,
        "the boundary occurs inside a part, which would cut that part short",
        "choose a boundary that no part contains, or leave it unset",
      );
    return requested;
  }
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? DEFAULT_MIME_BOUNDARY : `${DEFAULT_MIME_BOUNDARY}${n}`;
    if (!clashes(candidate)) return candidate;
  }
}

/**
 * Splits user data into parts: a MIME multipart document into its parts (7bit, 8bit or base64
 * transfer encodings; nested multiparts are refused), any other document into one part whose type
 * cloud-init would infer from its first line (`#cloud-config`, `#!`, `#cloud-boothook`, `#include`).
 */
export function splitUserData(text: string): MimePart[] {
  // A document written with CRLF line ends is read as LF; in an LF document a CR is part content.
  const body = /^[^\n]*\r\n/.test(text) ? text.replace(/\r\n/g, "\n") : text;
  const { headers, rest } = readHeaders(body);
  const contentType = headers.get("content-type");
  if (!contentType || !/^multipart\//i.test(contentType)) return [sniffPart(text)];
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary)
    throw new PolicyError(
      "userData",
      contentType,
      "the multipart Content-Type names no boundary",
      'add boundary="..." to the Content-Type header',
    );
  const delimiter = `--${boundary}`;
  const lines = rest.split("\n");
  const parts: MimePart[] = [];
  let current: string[] | undefined;
  let closed = false;
  for (const line of lines) {
    if (line === delimiter || line === `${delimiter}--`) {
      if (current) parts.push(readPart(current.join("\n"), parts.length));
      current = line === delimiter ? [] : undefined;
      if (line !== delimiter) {
        closed = true;
        break;
      }
    } else if (current) current.push(line);
  }
  if (!closed)
    throw new PolicyError(
      "userData",
      delimiter,
      "the multipart document has no closing delimiter",
      `end it with a line "${delimiter}--"`,
    );
  return parts;
}

function readPart(raw: string, index: number): MimePart {
  const { headers, rest } = readHeaders(raw);
  const contentType = (headers.get("content-type") ?? "text/plain").split(";")[0].trim().toLowerCase();
  if (contentType.startsWith("multipart/")) {
    throw new PolicyError(
      `userData.parts[${index}]`,
      contentType,
      "nested multipart documents are not supported",
      "flatten the nested parts into the top-level document",
    );
  }
  const encoding = (headers.get("content-transfer-encoding") ?? "7bit").toLowerCase();
  let content: string;
  if (encoding === "base64") content = Buffer.from(rest.replace(/\s+/g, ""), "base64").toString("utf8");
  else if (encoding === "7bit" || encoding === "8bit" || encoding === "binary") content = rest;
  else
    throw new PolicyError(
      `userData.parts[${index}]`,
      encoding,
      "this Content-Transfer-Encoding is not supported",
      "use 7bit, 8bit or base64",
    );
  const filename = /filename="?([^";]+)"?/i.exec(headers.get("content-disposition") ?? "")?.[1];
  return filename === undefined ? { contentType, content } : { contentType, content, filename };
}

function readHeaders(text: string): { headers: Map<string, string>; rest: string } {
  const headers = new Map<string, string>();
  const end = text.indexOf("\n\n");
  const head = end < 0 ? text : text.slice(0, end);
  // A header block is "Name: value" lines (continuations start with white space); anything else is a body.
  if (!/^[A-Za-z-]+:/.test(head)) return { headers, rest: text };
  let last = "";
  for (const line of head.split("\n")) {
    if (/^\s/.test(line) && last) headers.set(last, `${headers.get(last)} ${line.trim()}`);
    else {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (!m) return { headers: new Map(), rest: text };
      last = m[1].toLowerCase();
      headers.set(last, m[2]);
    }
  }
  return { headers, rest: end < 0 ? "" : text.slice(end + 2) };
}

function sniffPart(text: string): MimePart {
  const starts: Array<[string, string]> = [
    ["#cloud-config-archive", "text/cloud-config-archive"],
    ["#cloud-config", "text/cloud-config"],
    ["#cloud-boothook", "text/cloud-boothook"],
    ["#include-once", "text/x-include-once-url"],
    ["#include", "text/x-include-url"],
    ["#part-handler", "text/part-handler"],
    ["## template: jinja", "text/jinja2"],
    ["#!", "text/x-shellscript"],
  ];
  const found = starts.find(([prefix]) => text.startsWith(prefix));
  if (!found) {
    throw new PolicyError(
      "userData",
      firstLine(text),
      "cloud-init cannot tell what this user data is from its first line",
      "start it with #cloud-config, #! (a script) or #cloud-boothook, or pass it as a part with an explicit contentType",
    );
  }
  return { contentType: found[1], content: text };
}

// ---------------------------------------------------------------------------------------------
// Whole user data documents for a node

/** How the apply script is delivered when it is the only user data. */
export type UserDataFormat = "cloud-config" | "shell";

/** Inputs of {@link renderNodeUserData}. */
export interface NodeUserDataArgs extends UserDataArgs {
  /** `cloud-config` (default) or `shell`, when there are no user parts. */
  format?: UserDataFormat;
  /** The user's existing user data (a script, a `#cloud-config` or a MIME document), kept after ours. */
  userData?: string;
  /** The user's own parts, kept after ours and after `userData`, in order. */
  userParts?: MimePart[];
}

/**
 * User data for a cloud-init node (EC2, Alibaba Cloud ECS): the apply script alone as `#cloud-config`
 * or `#!/bin/sh`, or, when the user has parts of their own, MIME multipart with ours first. In MIME our
 * part is always the shell form: cloud-init merges cloud-config parts with list *replacement* by default,
 * so a user's own `runcmd` or `write_files` would silently drop ours.
 */
export function renderNodeUserData(args: NodeUserDataArgs): string {
  const userParts = collectUserParts(args.userData, args.userParts, "cloud-init");
  if (userParts.length === 0) return args.format === "shell" ? renderShellUserData(args) : renderCloudConfig(args);
  return renderMimeMultipart([scriptPart(args), ...userParts], { target: "cloud-init" });
}

/** The user's own parts (from their user data, then their part list), checked under the names they gave them. */
function collectUserParts(
  userData: string | undefined,
  userParts: MimePart[] | undefined,
  target: MimeTarget | undefined,
): MimePart[] {
  const fromData = userData !== undefined ? splitUserData(userData) : [];
  if (target !== undefined) {
    fromData.forEach((part, i) => checkPart(part, `userData.parts[${i}]`, target));
    (userParts ?? []).forEach((part, i) => checkPart(part, `userParts[${i}]`, target));
  }
  return [...fromData, ...(userParts ?? [])];
}

function scriptPart(args: UserDataArgs): MimePart {
  return { contentType: "text/x-shellscript", content: renderShellUserData(args), filename: "registry-mirrors.sh" };
}

/** The AMI families of EKS nodes, which read different user data. */
export type EksAmiFamily = "al2" | "al2023" | "bottlerocket";

/**
 * The AMI family of an EKS node group `amiType` (`AL2023_x86_64_STANDARD`, `AL2_ARM_64`,
 * `BOTTLEROCKET_x86_64_NVIDIA`, ...). `CUSTOM` needs `amiFamily`; Windows is not supported.
 */
export function eksAmiFamily(amiType: string, amiFamily?: EksAmiFamily): EksAmiFamily {
  const families: EksAmiFamily[] = ["al2", "al2023", "bottlerocket"];
  if (amiFamily !== undefined) {
    if (!families.includes(amiFamily))
      throw new PolicyError("amiFamily", amiFamily, "unknown AMI family", `use one of ${families.join(", ")}`);
    return amiFamily;
  }
  if (amiType.startsWith("AL2023_")) return "al2023";
  if (amiType.startsWith("AL2_")) return "al2";
  if (amiType.startsWith("BOTTLEROCKET_")) return "bottlerocket";
  if (amiType === "CUSTOM")
    throw new PolicyError(
      "amiFamily",
      undefined,
      "a CUSTOM AMI does not say which user data it reads",
      'set amiFamily to "al2023", "al2" or "bottlerocket" (the family the AMI was built from)',
    );
  if (amiType.startsWith("WINDOWS_"))
    throw new PolicyError(
      "amiType",
      amiType,
      "Windows nodes read PowerShell user data, which registry-mirrors does not render",
      "configure Windows nodes another way, or use a Linux amiType",
    );
  throw new PolicyError(
    "amiType",
    amiType,
    "unknown EKS amiType",
    "use the node group's amiType, e.g. AL2023_x86_64_STANDARD, AL2_x86_64 or BOTTLEROCKET_x86_64",
  );
}

/** Inputs of {@link renderEksUserData}. */
export interface EksUserDataArgs {
  /** Which AMI family the nodes run (see {@link eksAmiFamily}). */
  family: EksAmiFamily;
  /** The node apply script (AL2, AL2023). Refused for Bottlerocket, which runs no scripts and no Docker. */
  applyScript?: string;
  /** Where the script is written on the node; default {@link DEFAULT_APPLY_SCRIPT_PATH}. */
  scriptPath?: string;
  /** AL2023: containerd TOML for the NodeConfig part (see {@link EksNodeConfigArgs.containerdConfig}). */
  containerdConfig?: string;
  /** AL2023: cluster details, for self-managed nodes or custom AMIs (managed node groups get them from EKS). */
  cluster?: EksClusterDetails;
  /** Bottlerocket: the settings TOML (e.g. `MirrorDaemonConfig.bottlerocketSettings`). */
  bottlerocketSettings?: string;
  /** Bottlerocket: the user's own settings TOML, merged in. */
  userSettings?: string;
  /** AL2, AL2023: the user's existing user data, kept after ours. */
  userData?: string;
  /** AL2, AL2023: the user's own MIME parts, kept after ours, in order. */
  userParts?: MimePart[];
  /** AL2, AL2023: carry the apply script gzip+base64 inside its part (see {@link UserDataArgs.compress}). */
  compress?: boolean;
}

/**
 * EKS node user data. AL2 and AL2023: MIME multipart (what managed node groups require), ours first —
 * AL2023 with a `NodeConfig` part when containerd settings or cluster details are given, then the
 * script part that writes hosts.toml — then the user's parts. Bottlerocket: TOML settings.
 */
export function renderEksUserData(args: EksUserDataArgs): string {
  const target = args.family === "al2023" ? "eks-al2023" : args.family === "al2" ? "cloud-init" : undefined;
  const userParts = collectUserParts(args.userData, args.userParts, target);
  if (args.family === "bottlerocket") {
    refuseDockerOnBottlerocket({ applyScript: args.applyScript });
    if (userParts.length > 0) {
      throw new PolicyError(
        "userParts",
        userParts.map((p) => p.contentType),
        "Bottlerocket user data is TOML settings only; it reads no MIME parts or scripts",
        "put your own settings in userSettings (TOML)",
      );
    }
    if (args.bottlerocketSettings === undefined) {
      throw new PolicyError(
        "bottlerocketSettings",
        undefined,
        "Bottlerocket nodes need the Bottlerocket settings TOML",
        'add "bottlerocket" to the runtimes and pass MirrorDaemonConfig.bottlerocketSettings',
      );
    }
    return renderBottlerocketUserData({ settings: args.bottlerocketSettings, userSettings: args.userSettings });
  }
  if (args.applyScript === undefined) {
    throw new PolicyError(
      "applyScript",
      undefined,
      `${args.family.toUpperCase()} nodes get their mirrors from the apply script`,
      "pass MirrorDaemonConfig.applyScript",
    );
  }
  const notRead: Array<keyof EksUserDataArgs> = [
    "bottlerocketSettings",
    "userSettings",
    ...(args.family === "al2" ? (["containerdConfig", "cluster"] as const) : []),
  ];
  const unused = notRead.filter((k) => args[k] !== undefined);
  if (unused.length > 0) {
    throw new PolicyError(
      unused[0],
      "(set)",
      `${args.family.toUpperCase()} nodes do not read this setting`,
      `remove ${unused.join(", ")} for ${args.family.toUpperCase()} nodes`,
    );
  }
  const parts: MimePart[] = [];
  if (args.family === "al2023" && (args.containerdConfig !== undefined || args.cluster !== undefined)) {
    parts.push({
      contentType: "application/node.eks.aws",
      content: renderEksNodeConfig({ cluster: args.cluster, containerdConfig: args.containerdConfig }),
      filename: "registry-mirrors-nodeconfig.yaml",
    });
  }
  parts.push(
    scriptPart({ applyScript: args.applyScript, scriptPath: args.scriptPath, compress: args.compress }),
    ...userParts,
  );
  return renderMimeMultipart(parts, { target });
}

// ---------------------------------------------------------------------------------------------
// Reading back what user data writes (for review and tests)

/** A file that user data writes on the node. */
export interface UserDataFile {
  /** Absolute path on the node. */
  path: string;
  /** Exact content, decompressed. */
  content: string;
  /** Unix permission bits. */
  mode: number;
}

/**
 * The files that user data rendered by this module writes on a node: from a `#cloud-config`'s
 * `write_files` (plain, b64 or gz+b64) and from the shell form's here-documents (plain or compressed),
 * in every part of a MIME document. Shows a reviewer what a node gets even when the user data is
 * compressed. Parts it does not recognise (the user's own scripts) are skipped.
 */
export function userDataFiles(text: string): UserDataFile[] {
  const files: UserDataFile[] = [];
  for (const part of splitUserData(text)) {
    if (part.contentType === "text/cloud-config") files.push(...cloudConfigFiles(part.content));
    else if (part.contentType === "text/x-shellscript") files.push(...shellFiles(part.content));
  }
  return files;
}

function cloudConfigFiles(text: string): UserDataFile[] {
  const doc = (yaml().parse(text) ?? {}) as {
    write_files?: Array<{ path: string; content?: string; encoding?: string; permissions?: string }>;
  };
  return (doc.write_files ?? []).map((f) => {
    const raw = f.content ?? "";
    const encoding = f.encoding ?? "text/plain";
    let content = raw;
    if (["gz+b64", "gzip+base64", "gz+base64", "gzip+b64"].includes(encoding))
      content = gunzipSync(Buffer.from(raw, "base64")).toString("utf8");
    else if (["b64", "base64"].includes(encoding)) content = Buffer.from(raw, "base64").toString("utf8");
    return { path: f.path, content, mode: parseInt(f.permissions ?? "0644", 8) };
  });
}

function shellFiles(text: string): UserDataFile[] {
  const files = new Map<string, UserDataFile>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const plain = /^cat > '(.+)\.tmp' <<'([A-Z_0-9]+)'$/.exec(lines[i]);
    const packed = /^base64 -d > '(.+)\.tmp\.gz' <<'([A-Z_0-9]+)'$/.exec(lines[i]);
    const chmod = /^chmod (0[0-7]+) '(.+)\.tmp'$/.exec(lines[i]);
    if (plain || packed) {
      const [, path, delimiter] = (plain ?? packed) as RegExpExecArray;
      const end = lines.indexOf(delimiter, i + 1);
      const body = lines.slice(i + 1, end).join("\n");
      const content = plain ? `${body}\n` : gunzipSync(Buffer.from(body, "base64")).toString("utf8");
      files.set(path, { path, content, mode: 0o644 });
      i = end;
    } else if (chmod) {
      const file = files.get(chmod[2]);
      if (file) file.mode = parseInt(chmod[1], 8);
    }
  }
  return [...files.values()];
}

// ---------------------------------------------------------------------------------------------
// Encoding and size limits

/** Options of {@link encodeUserData}. */
export interface EncodeOptions {
  /** gzip before base64 (cloud-init reads gzip user data; EKS managed node groups do not). */
  gzip?: boolean;
}

/**
 * Base64 of the user data, optionally gzip-compressed first. The gzip header carries no file name and
 * a zero mtime, and its OS byte is pinned to Unix, so equal input gives equal output.
 */
export function encodeUserData(text: string, options: EncodeOptions = {}): string {
  return options.gzip ? gzipBytes(text).toString("base64") : Buffer.from(text, "utf8").toString("base64");
}

/** gzip at level 9 with no name and a zero mtime in the header; the OS byte is pinned to Unix. */
function gzipBytes(text: string): Buffer {
  const gz = gzipSync(Buffer.from(text, "utf8"), { level: 9 });
  gz[9] = 3; // OS = Unix, whatever platform rendered it
  return gz;
}

/** Where user data goes: AWS EC2 (16 KB before base64) or Alibaba Cloud ECS (32 KB, base64 included). */
export type UserDataLimitTarget = "ec2" | "ecs";

/** The user data size limits, in bytes. */
export const USER_DATA_LIMITS: Record<UserDataLimitTarget, { bytes: number; counted: string; cloud: string }> = {
  ec2: { bytes: 16384, counted: "before base64", cloud: "AWS EC2" },
  ecs: { bytes: 32768, counted: "after base64 (base64 included)", cloud: "Alibaba Cloud ECS" },
};

/**
 * Refuses user data over the target's limit. `encoded` is the base64 actually sent (it may be gzip);
 * without it the plain text is measured. Returns the size that was counted.
 */
export function checkUserDataSize(
  target: UserDataLimitTarget,
  text: string,
  encoded?: string,
  compressed?: boolean,
): number {
  const limit = USER_DATA_LIMITS[target];
  const rawBytes = encoded !== undefined ? Buffer.from(encoded, "base64") : Buffer.from(text, "utf8");
  const size = target === "ec2" ? rawBytes.length : (encoded?.length ?? base64Length(rawBytes.length));
  if (size > limit.bytes) {
    const alreadyCompressed = compressed ?? (rawBytes[0] === 0x1f && rawBytes[1] === 0x8b);
    const fixes = [
      ...(alreadyCompressed ? [] : ["compress it (compress: true)"]),
      "mirror fewer registries or drop unused settings",
      "or deliver the node files by the Kubernetes DaemonSet instead of user data",
    ];
    throw new PolicyError(
      "userData",
      `${size} bytes`,
      `${limit.cloud} user data is limited to ${limit.bytes} bytes (${limit.bytes / 1024} KB, counted ${limit.counted}); this is ${size - limit.bytes} bytes over`,
      fixes.join(", "),
    );
  }
  return size;
}

/** Encodes (see {@link encodeUserData}) and checks the size against the target's limit in one step. */
export function encodeCheckedUserData(target: UserDataLimitTarget, text: string, options: EncodeOptions = {}): string {
  const encoded = encodeUserData(text, options);
  checkUserDataSize(target, text, encoded);
  return encoded;
}

/** When user data is compressed: always, never, or (`"auto"`) only when the plain form is over the limit. */
export type Compression = boolean | "auto";

/**
 * Renders user data plain or with its files compressed (see {@link UserDataArgs.compress}), checks it
 * against the target's limit and returns it base64-encoded. `"auto"` keeps the plain, reviewable form
 * whenever it fits.
 */
export function fitUserData(
  target: UserDataLimitTarget,
  compress: Compression,
  render: (compress: boolean) => string,
): string {
  if (compress === "auto") {
    const plain = render(false);
    const size = target === "ec2" ? Buffer.byteLength(plain, "utf8") : base64Length(Buffer.byteLength(plain, "utf8"));
    if (size <= USER_DATA_LIMITS[target].bytes) return encodeUserData(plain);
  }
  const text = render(compress !== false);
  const encoded = encodeUserData(text);
  checkUserDataSize(target, text, encoded, compress !== false);
  return encoded;
}

function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3);
}

// ---------------------------------------------------------------------------------------------
// Amazon Linux 2023 (nodeadm) and Bottlerocket

/** Cluster details nodeadm needs when EKS does not supply them (self-managed nodes, custom AMIs). */
export interface EksClusterDetails {
  /** EKS cluster name. */
  name: string;
  /** API server endpoint URL. */
  apiServerEndpoint: string;
  /** Base64 cluster CA bundle. */
  certificateAuthority: string;
  /** Service CIDR, e.g. `10.100.0.0/16`. */
  cidr: string;
}

/** Inputs of {@link renderEksNodeConfig}. */
export interface EksNodeConfigArgs {
  /** Cluster details; leave unset for EKS managed node groups (EKS adds its own NodeConfig part). */
  cluster?: EksClusterDetails;
  /**
   * containerd TOML merged by nodeadm over its default config. AL2023 already sets
   * `config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"`, so mirrors need no entry here.
   */
  containerdConfig?: string;
}

const EKS_CLUSTER_KEYS: Array<keyof EksClusterDetails> = ["name", "apiServerEndpoint", "certificateAuthority", "cidr"];

/** The `NodeConfig` YAML (apiVersion `node.eks.aws/v1alpha1`) an `application/node.eks.aws` part carries. */
export function renderEksNodeConfig(args: EksNodeConfigArgs): string {
  const spec: Record<string, unknown> = {};
  if (args.cluster) {
    const cluster: Record<string, string> = {};
    for (const key of EKS_CLUSTER_KEYS) {
      const value = args.cluster[key];
      if (typeof value !== "string" || value === "") {
        throw new PolicyError(
          `cluster.${key}`,
          value,
          "nodeadm needs every cluster detail when it is given",
          `set cluster.${key} (from the aws.eks.Cluster outputs), or leave cluster unset for a managed node group`,
        );
      }
      cluster[key] = value;
    }
    spec.cluster = cluster;
  }
  if (args.containerdConfig !== undefined) {
    checkContainerdConfig(args.containerdConfig);
    spec.containerd = { config: args.containerdConfig };
  }
  if (Object.keys(spec).length === 0) {
    throw new PolicyError(
      "nodeConfig",
      args,
      "a NodeConfig needs cluster details or containerd settings",
      "set cluster or containerdConfig, or leave the NodeConfig part out",
    );
  }
  const doc = new (yaml().Document)({ apiVersion: "node.eks.aws/v1alpha1", kind: "NodeConfig", spec });
  return doc.toString({ lineWidth: 0 });
}

function checkContainerdConfig(config: string): void {
  let parsed: Record<string, unknown>;
  try {
    parsed = parseToml(config) as Record<string, unknown>;
  } catch (err) {
    throw new PolicyError(
      "containerdConfig",
      firstLine(config),
      `not valid TOML (${(err as Error).message.split("\n")[0]})`,
      "pass the TOML containerd reads, e.g. from the containerd renderer",
    );
  }
  const plugins = (parsed.plugins ?? {}) as Record<string, { registry?: { mirrors?: unknown } }>;
  for (const plugin of ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images"]) {
    if (plugins[plugin]?.registry?.mirrors !== undefined) {
      throw new PolicyError(
        "containerdConfig",
        `plugins."${plugin}".registry.mirrors`,
        "AL2023 sets config_path, and containerd refuses to load the CRI plugin when registry.mirrors is set with it (a broken node)",
        "drop registry.mirrors and deliver the mirrors as hosts.toml files (the apply script part writes them)",
      );
    }
  }
}

/** Inputs of {@link renderBottlerocketUserData}. */
export interface BottlerocketUserDataArgs {
  /** Settings TOML (e.g. from renderBottlerocketSettings). */
  settings: string;
  /** The user's own settings TOML (e.g. `settings.kubernetes` for self-managed nodes), merged in. */
  userSettings?: string;
  /** Refused when set: Bottlerocket runs no Docker daemon and no user-data scripts. */
  applyScript?: string;
  /** Refused when set (non-empty): Docker daemon settings have no Bottlerocket equivalent. */
  dockerSettings?: Record<string, unknown>;
}

/**
 * Bottlerocket user data: TOML settings. The user's settings are merged in; a key both set is an error
 * (no silent override). Docker-only settings and the apply script are refused.
 */
export function renderBottlerocketUserData(args: BottlerocketUserDataArgs): string {
  refuseDockerOnBottlerocket(args);
  const ours = parseSettings("settings", args.settings);
  // Without settings to merge, the renderer's text (and its header comment) goes out unchanged.
  if (args.userSettings === undefined) return args.settings.endsWith("\n") ? args.settings : `${args.settings}\n`;
  const text = stringifyToml(mergeTables(ours, parseSettings("userSettings", args.userSettings), ""));
  return text.endsWith("\n") ? text : `${text}\n`;
}

/** Throws when a Bottlerocket target is asked for what only a Docker (or script-running) node can take. */
export function refuseDockerOnBottlerocket(args: {
  applyScript?: unknown;
  dockerSettings?: Record<string, unknown>;
}): void {
  if (args.applyScript !== undefined) {
    throw new PolicyError(
      "applyScript",
      "(the node apply script)",
      "Bottlerocket runs no user-data scripts and has no Docker daemon.json",
      "pass bottlerocketSettings (the Bottlerocket settings TOML) instead of an apply script",
    );
  }
  const keys = Object.keys(args.dockerSettings ?? {});
  if (keys.length > 0) {
    throw new PolicyError(
      "docker",
      keys.sort(),
      "Bottlerocket has no Docker daemon, so Docker-only settings cannot apply",
      "remove the docker settings for Bottlerocket nodes; registry mirrors go in bottlerocketSettings",
    );
  }
}

function parseSettings(field: string, text: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new PolicyError(
      field,
      firstLine(text),
      `not valid TOML (${(err as Error).message.split("\n")[0]})`,
      "pass Bottlerocket settings as TOML, e.g. [settings.kubernetes] ...",
    );
  }
}

function mergeTables(
  ours: Record<string, unknown>,
  theirs: Record<string, unknown>,
  at: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...ours };
  for (const [key, value] of Object.entries(theirs)) {
    const path = at ? `${at}.${key}` : key;
    if (!(key in out)) out[key] = value;
    else if (isTable(out[key]) && isTable(value))
      out[key] = mergeTables(out[key] as Record<string, unknown>, value as Record<string, unknown>, path);
    else
      throw new PolicyError(
        "userSettings",
        path,
        "this setting is also set by the mirror settings",
        `remove ${path} from userSettings, or change it in the mirror policy`,
      );
  }
  return out;
}

function isTable(v: unknown): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

// ---------------------------------------------------------------------------------------------

function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0];
}
