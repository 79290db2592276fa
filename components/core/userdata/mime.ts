import { PolicyError } from "../errors";
import { firstLine } from "./files";
import { wrapLines } from "./limits";

/** The MIME boundary used unless it occurs in a part (then a numbered variant is used). */
export const DEFAULT_MIME_BOUNDARY = "==REGISTRY-MIRRORS-BOUNDARY==";

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

export function checkPart(part: MimePart, field: string, target: MimeTarget): void {
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
