import { gunzipSync } from "node:zlib";
import { yaml } from "../lazy-yaml";
import { readEngineReference } from "./engine-url";
import { splitUserData } from "./mime";

/** A file that user data writes on the node. */
export interface UserDataFile {
  /** Absolute path on the node. */
  path: string;
  /** Exact content, decompressed. */
  content: string;
  /** Unix permission bits. */
  mode: number;
  /**
   * For an apply script whose engine the node fetches (`engineUrl`): what it fetches. `content` is then the data part
   * alone (the engine is not in the user data).
   */
  engine?: { url: string; sha256: string; version?: string; parts: string[] };
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
  return joinScripts(files);
}

/**
 * The apply script travels as SCRIPT.engine and SCRIPT.data, joined on the node: read back as SCRIPT. With a fetched
 * engine it travels as SCRIPT.data, SCRIPT.engine-url and the fetcher SCRIPT.fetch: read back as SCRIPT holding the
 * data part, with `engine` telling what the node fetches (the fetcher, the library's code, is left out).
 */
function joinScripts(files: UserDataFile[]): UserDataFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const reference = (script: string) => {
    const ref = byPath.get(`${script}.engine-url`);
    return ref && byPath.has(`${script}.data`) ? readEngineReference(ref.content) : undefined;
  };
  const out: UserDataFile[] = [];
  for (const f of files) {
    const base = f.path.replace(/\.(engine|engine-url|fetch)$/, "");
    if (base !== f.path && byPath.has(`${base}.data`) && (f.path.endsWith(".engine") || reference(base))) continue;
    const script = f.path.endsWith(".data") ? f.path.slice(0, -5) : undefined;
    const engine = script !== undefined ? byPath.get(`${script}.engine`) : undefined;
    const fetched = script !== undefined ? reference(script) : undefined;
    if (script !== undefined && engine) out.push({ path: script, content: engine.content + f.content, mode: 0o700 });
    else if (script !== undefined && fetched)
      out.push({ path: script, content: f.content, mode: 0o700, engine: fetched });
    else out.push(f);
  }
  return out;
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
