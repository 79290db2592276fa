/**
 * Reads the data part of a node apply script (see node-script.ts and node/main.sh) back into the node files and
 * settings it applies, and splits an apply script into engine facts and data.
 */
import { PolicyError } from "../errors";
import { DATA_MARKER, engineFacts, splitApplyScript } from "../node-script";

/** A node file the data part writes. */
export interface NodeDataFile {
  path: string;
  /** Unix permission bits. */
  mode: number;
  /** `docker`, `containerd`, a drop-in group (`crio`, `k3s`, ...) or `files`. */
  runtime: string;
  content: string;
  /** The hosts.toml file gets ECR tokens on the node. */
  ecr: boolean;
}

/** The settings of a data part. */
export interface NodeDataSettings {
  restartPolicy?: string;
  lockFolders: string[];
  containerdHostsDir?: string;
  ecrTokens: Array<{ region: string; path: string; table: string }>;
  /** The node watchdog's plan (JSON), when the script has one. */
  watchPlan?: string;
}

/** What a data part applies. */
export interface NodeData {
  files: NodeDataFile[];
  settings: NodeDataSettings;
}

function bad(line: string, problem: string): never {
  throw new PolicyError(
    "data part",
    line,
    problem,
    "give the data part of an apply script rendered by registry-mirrors (the lines after its data marker)",
  );
}

/** The words of one data line: plain words and single-quoted ones (`'a'\''b'`), as the renderer writes them. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === " " || c === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) bad(line, "a quote is not closed");
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[++i];
    } else word = (word ?? "") + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The files and settings of a data part (the text from the data marker to its end). */
export function parseNodeData(data: string): NodeData {
  const lines = data.split("\n");
  const files: NodeDataFile[] = [];
  const settings: NodeDataSettings = { lockFolders: [], ecrTokens: [] };
  let i = lines.indexOf(DATA_MARKER) + 1;
  if (lines[i] !== "node_data() {") bad(lines[i] ?? "", 'expected "node_data() {" after the data marker');
  for (i++; i < lines.length && lines[i] !== "}"; i++) {
    const line = lines[i];
    const heredoc = /^(.*) <<'([A-Z_0-9]+)'$/.exec(line);
    const words = shellWords(heredoc ? heredoc[1] : line);
    switch (words[0]) {
      case "restart_policy":
        settings.restartPolicy = words[1];
        break;
      case "lock_folders":
        settings.lockFolders = words.slice(1);
        break;
      case "containerd_hosts_dir":
        settings.containerdHostsDir = words[1];
        break;
      case "ecr_token":
        if (words.length !== 4) bad(line, "ecr_token takes REGION PATH TABLE");
        settings.ecrTokens.push({ region: words[1], path: words[2], table: words[3] });
        break;
      case "watch_plan": {
        // The node watchdog's plan (JSON; it may hold credentials): kept, not shown as a file.
        if (!heredoc) bad(line, "watch_plan takes a here-document");
        const end = lines.indexOf(heredoc[2], i + 1);
        if (end < 0) bad(line, `the here-document has no closing ${heredoc[2]} line`);
        settings.watchPlan = `${lines.slice(i + 1, end).join("\n")}\n`;
        i = end;
        break;
      }
      case "node_file": {
        if (!heredoc || words.length < 4) bad(line, "node_file takes RUNTIME PATH MODE [ecr] and a here-document");
        const end = lines.indexOf(heredoc[2], i + 1);
        if (end < 0) bad(line, `the here-document has no closing ${heredoc[2]} line`);
        const body = lines.slice(i + 1, end);
        files.push({
          runtime: words[1],
          path: words[2],
          mode: Number.parseInt(words[3], 8),
          ecr: words[4] === "ecr",
          content: body.length > 0 ? `${body.join("\n")}\n` : "",
        });
        i = end;
        break;
      }
      default:
        bad(line, "not a statement of the data part");
    }
  }
  if (i >= lines.length) bad(lines[lines.length - 1], 'the data part does not end with "}"');
  return { files, settings };
}

/** The engine of an apply script, as a reviewer needs it. */
export interface EngineFacts {
  /** The library version the engine names, if any. */
  version?: string;
  /** The engine parts it holds (`docker containerd ecr files`). */
  parts: string[];
  /** sha256 of the engine text (hex). */
  hash: string;
}

/** An apply script's engine facts and data, or undefined for a script without a data part (older versions). */
export function readApplyScript(script: string): { engine: EngineFacts; data: NodeData } | undefined {
  const split = splitApplyScript(script);
  if (split === undefined) return undefined;
  const { version, parts, sha256 } = engineFacts(split.engine);
  return {
    engine: { version, parts, hash: sha256 },
    data: parseNodeData(split.data),
  };
}

/**
 * Whether a text is an apply script rendered by this library: its header (not a user-data script that merely embeds
 * one) says so.
 */
export function isApplyScript(text: string): boolean {
  if (!text.startsWith("#!")) return false;
  const head = text.split("\n", 6).slice(1);
  return head.some(
    (line) => line.startsWith("# Rendered by registry-mirrors") || line.startsWith("# registry-mirrors node engine "),
  );
}

/** The settings as lines (one statement each), for a diff. */
export function settingsLines(settings: NodeDataSettings): string {
  const lines = [
    ...(settings.restartPolicy !== undefined ? [`restart policy: ${settings.restartPolicy}`] : []),
    ...(settings.containerdHostsDir !== undefined ? [`containerd hosts folder: ${settings.containerdHostsDir}`] : []),
    ...(settings.lockFolders.length > 0 ? [`locked folders: ${settings.lockFolders.join(" ")}`] : []),
    ...settings.ecrTokens.map((t) => `ECR token: ${t.path} (${t.region}, table ${t.table})`),
  ];
  return lines.map((l) => `${l}\n`).join("");
}
