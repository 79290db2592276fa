/**
 * Reviewing node payloads: what `registry-mirrors diff` shows on a pull request. Reads `pulumi preview --json`
 * output (or two rendered payloads), decodes the user data and ConfigMaps it knows, and renders per resource the
 * unified diffs of the node files, with engine changes summarised in one line.
 */
import { comparePayloads, engineSummary, type ResourceReview } from "./compare";
import type { NodePayload } from "./payload";
import { PAYLOADS } from "./render";

export {
  comparePayloads,
  engineSummary,
  reviewStep,
  FileChange,
  ResourceReview,
  ResourceStep,
} from "./compare";
export {
  decodeResource,
  userDataText,
  DecodedField,
  DecodedResource,
  LaunchTemplateRef,
  PAYLOAD_FIELDS,
  SECRET_VALUE,
  UNKNOWN_VALUE,
} from "./decoders";
export { diffLines, splitLines, unifiedHunks, DiffLine } from "./line-diff";
export {
  isApplyScript,
  parseNodeData,
  readApplyScript,
  shellWords,
  EngineFacts,
  NodeData,
  NodeDataFile,
  NodeDataSettings,
} from "./node-data";
export {
  payloadFromApplyScript,
  payloadFromText,
  payloadFromUserData,
  NodePayload,
  PayloadFile,
  SETTINGS_LABEL,
} from "./payload";
export { previewSteps, reviewPreview, urnType } from "./preview";
export { PAYLOADS, renderReview, RenderReviewOptions, ReviewFormat } from "./render";

/** The review of two payloads (e.g. two rendered folders); empty when they deliver the same node files. */
export function reviewPayloads(before: NodePayload, after: NodePayload, name: string): ResourceReview[] {
  const notes = [engineSummary(before.engine, after.engine)].filter((n): n is string => n !== undefined);
  const files = comparePayloads(before, after);
  if (notes.length === 0 && files.length === 0) return [];
  return [{ urn: name, type: PAYLOADS, name, op: "compare", notes, files }];
}
