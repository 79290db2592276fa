/**
 * A node payload as a reviewer sees it: the files a node gets (from the data part of the apply script, and any other
 * file or part of the user data), the apply script's settings, and the engine's facts.
 */
import { DATA_MARKER } from "../node-script";
import { type MimePart, splitUserData, userDataFiles } from "../userdata";
import {
  type EngineFacts,
  isApplyScript,
  type NodeData,
  parseNodeData,
  readApplyScript,
  settingsLines,
} from "./node-data";

/** A file of a payload. */
export interface PayloadFile {
  /** The node path, or a label in parentheses for what is not a file (a user-data part, the settings). */
  path: string;
  content: string;
  mode?: number;
  /** Who reads it: a runtime from the data part, or `user data`. */
  runtime?: string;
}

/** What one resource delivers to its nodes. */
export interface NodePayload {
  files: PayloadFile[];
  /** The apply script's engine, when the payload holds an engine/data script. */
  engine?: EngineFacts;
}

/** The label of the apply script's settings in a payload's files. */
export const SETTINGS_LABEL = "(apply script settings)";

/** The payload of an apply script: its data part's files and settings, and its engine; an older script whole. */
export function payloadFromApplyScript(script: string, path = "(apply script)"): NodePayload {
  const read = readApplyScript(script);
  if (read === undefined) return { files: [{ path, content: script, mode: 0o700 }] };
  return dataPayload(read.data, read.engine);
}

function dataPayload(data: NodeData, engine: EngineFacts): NodePayload {
  const settings = settingsLines(data.settings);
  return {
    engine,
    files: [
      ...data.files.map((f) => ({ path: f.path, content: f.content, mode: f.mode, runtime: f.runtime })),
      ...(settings ? [{ path: SETTINGS_LABEL, content: settings }] : []),
    ],
  };
}

/**
 * The payload of decoded user data: the apply script's files, the other files it writes, and the parts it does not
 * write as files (the user's own scripts, a NodeConfig, Bottlerocket settings), each shown whole.
 */
export function payloadFromUserData(text: string): NodePayload {
  let parts: MimePart[];
  try {
    parts = splitUserData(text);
  } catch {
    // Not a cloud-init document (e.g. Bottlerocket's settings TOML): the text is what the node reads.
    return { files: [{ path: "(user data)", content: text, runtime: "user data" }] };
  }
  const files: PayloadFile[] = [];
  let engine: EngineFacts | undefined;
  for (const file of userDataFiles(text)) {
    if (file.engine) {
      // The node fetches the engine: its hash is what the reference pins.
      const { sha256, version, parts: engineParts } = file.engine;
      const payload = dataPayload(parseNodeData(file.content), { version, parts: engineParts, hash: sha256 });
      engine = payload.engine;
      files.push(...payload.files);
    } else if (isApplyScript(file.content)) {
      const payload = payloadFromApplyScript(file.content, file.path);
      engine = payload.engine;
      files.push(...payload.files);
    } else files.push({ path: file.path, content: file.content, mode: file.mode, runtime: "user data" });
  }
  parts.forEach((part, i) => {
    if (ownsFiles(part)) return;
    const name = part.filename ? `, ${part.filename}` : "";
    files.push({ path: `(user data part ${i + 1}: ${part.contentType}${name})`, content: part.content });
  });
  return { files, engine };
}

// A part of the library's own (cloud-config or shell form, named registry-mirrors*, or writing the apply script, its
// engine or its data part): its files are shown instead of the part.
function ownsFiles(part: MimePart): boolean {
  if (part.contentType !== "text/cloud-config" && part.contentType !== "text/x-shellscript") return false;
  if (part.filename?.startsWith("registry-mirrors")) return true;
  try {
    return userDataFiles(part.content).some((f) => isApplyScript(f.content) || f.content.includes(DATA_MARKER));
  } catch {
    return false;
  }
}

/** The payload of any text: user data, an apply script, or one file's content (shown whole under `label`). */
export function payloadFromText(text: string, label: string): NodePayload {
  if (isApplyScript(text)) return payloadFromApplyScript(text);
  if (/^(#cloud-config|#!|MIME-Version:|Content-Type:)/i.test(text)) return payloadFromUserData(text);
  return { files: [{ path: label, content: text }] };
}
