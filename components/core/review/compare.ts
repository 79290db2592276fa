/** Compares the node payloads of a resource before and after a change: the file diffs and one-line notes. */
import type { DecodedField, DecodedResource } from "./decoders";
import type { EngineFacts } from "./node-data";
import type { NodePayload, PayloadFile } from "./payload";
import { unifiedHunks } from "./line-diff";

/** One node file that differs. */
export interface FileChange {
  path: string;
  status: "added" | "removed" | "changed";
  /** Unified diff hunks (no header); for a removed file, or a file of a created/deleted resource, none. */
  hunks: string;
  runtime?: string;
  oldMode?: number;
  newMode?: number;
}

/** What a reviewer is shown for one resource. */
export interface ResourceReview {
  urn: string;
  type: string;
  name: string;
  op: string;
  /** One-line notes: the engine summary, hidden or unreadable payloads, a node group's launch template. */
  notes: string[];
  files: FileChange[];
}

/** One line on an engine change, or undefined when the engine is the same. */
export function engineSummary(before: EngineFacts | undefined, after: EngineFacts | undefined): string | undefined {
  if (before === undefined && after === undefined) return undefined;
  if (before === undefined)
    return `engine ${after?.version ?? "(no version)"} (the previous apply script has no engine/data split)`;
  if (after === undefined) return "engine removed (the new apply script has no engine/data split)";
  if (before.hash === after.hash) return undefined;
  const pieces: string[] = [];
  if (before.version !== after.version) pieces.push(`engine ${before.version ?? "?"} → ${after.version ?? "?"}`);
  const added = after.parts.filter((p) => !before.parts.includes(p)).map((p) => `+${p}`);
  const removed = before.parts.filter((p) => !after.parts.includes(p)).map((p) => `-${p}`);
  if (added.length + removed.length > 0)
    pieces.push(`${pieces.length > 0 ? "parts" : "engine parts"}: ${[...added, ...removed].join(" ")}`);
  if (pieces.length === 0) return `engine changed (same version ${after.version ?? "?"})`;
  return pieces.join("; ");
}

/** The file changes from one payload to another; with `listOnly`, files are listed without their content. */
export function comparePayloads(before: NodePayload | undefined, after: NodePayload | undefined, listOnly = false) {
  const oldFiles = new Map((before?.files ?? []).map((f) => [f.path, f] as const));
  const newFiles = new Map((after?.files ?? []).map((f) => [f.path, f] as const));
  const changes: FileChange[] = [];
  const meta = (f: PayloadFile) => (f.runtime !== undefined ? { runtime: f.runtime } : {});
  for (const [path, file] of newFiles) {
    const old = oldFiles.get(path);
    if (old === undefined) {
      changes.push({
        path,
        status: "added",
        hunks: listOnly ? "" : unifiedHunks("", file.content),
        ...meta(file),
        newMode: file.mode,
      });
    } else if (old.content !== file.content || old.mode !== file.mode) {
      changes.push({
        path,
        status: "changed",
        hunks: unifiedHunks(old.content, file.content),
        ...meta(file),
        oldMode: old.mode,
        newMode: file.mode,
      });
    }
  }
  for (const [path, file] of oldFiles) {
    if (!newFiles.has(path)) changes.push({ path, status: "removed", hunks: "", ...meta(file), oldMode: file.mode });
  }
  return changes;
}

/** A step of a preview, reduced to what the review needs. */
export interface ResourceStep {
  urn: string;
  type: string;
  op: string;
  oldDecoded?: DecodedResource;
  newDecoded?: DecodedResource;
  /** Top-level input keys the engine reports as changed (empty when it did not say). */
  diffReasons: string[];
  /** For an EKS node group: the launch template resource its reference resolves to in the same preview. */
  launchTemplate?: { urn: string; changed: boolean } | "unknown";
}

function note(field: DecodedField): string | undefined {
  switch (field.state) {
    case "secret":
      return `\`${field.field}\`: secret, not shown`;
    case "unknown":
      return `\`${field.field}\`: not known until the update runs (it depends on values computed during the update)`;
    case "error":
      return `\`${field.field}\`: could not be read (${field.message})`;
    default:
      return undefined;
  }
}

/** The review of one resource's step: notes and file changes (both empty when nothing a reviewer needs changed). */
export function reviewStep(step: ResourceStep): ResourceReview {
  const name = step.urn.slice(step.urn.lastIndexOf("::") + 2);
  const review: ResourceReview = { urn: step.urn, type: step.type, name, op: step.op, notes: [], files: [] };
  if (step.launchTemplate === "unknown") {
    review.notes.push("its launch template is not known until the update runs");
  } else if (step.launchTemplate?.changed) {
    review.notes.push(
      `rolls its nodes to the launch template \`${step.launchTemplate.urn}\` (its changes are shown there)`,
    );
  }
  const oldFields = new Map((step.oldDecoded?.fields ?? []).map((f) => [f.field, f] as const));
  const newFields = new Map((step.newDecoded?.fields ?? []).map((f) => [f.field, f] as const));
  const names = [...new Set([...oldFields.keys(), ...newFields.keys()])];
  const multiple = names.length > 1;
  const touched = (field: string) =>
    step.op !== "same" && (step.diffReasons.length === 0 || step.diffReasons.includes(field.replace(/\[.*$/, "")));
  for (const field of names) {
    const before = oldFields.get(field);
    const after = newFields.get(field);
    const hidden = [before, after].find((f) => f !== undefined && f.state !== "payload");
    if (hidden !== undefined) {
      const text = note(hidden);
      if (text !== undefined && touched(field)) review.notes.push(text);
      continue;
    }
    const oldPayload = before?.state === "payload" ? before.payload : undefined;
    const newPayload = after?.state === "payload" ? after.payload : undefined;
    const listOnly = oldPayload === undefined || newPayload === undefined;
    if (!listOnly) {
      const engine = engineSummary(oldPayload.engine, newPayload.engine);
      if (engine !== undefined) review.notes.push(multiple ? `\`${field}\`: ${engine}` : engine);
    }
    const changes = comparePayloads(oldPayload, newPayload, listOnly);
    review.files.push(...(multiple ? changes.map((c) => ({ ...c, path: `${field}: ${c.path}` })) : changes));
  }
  return review;
}
