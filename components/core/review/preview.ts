/**
 * Reads `pulumi preview --json` output. Its layout is the Pulumi CLI's `PreviewDigest` (sdk/pkg/display/json.go):
 * `{ config, steps: [{ op, urn, provider, oldState, newState, diffReasons, replaceReasons, detailedDiff }],
 * diagnostics, duration, changeSummary }`, each state an `apitype.ResourceV3` (`urn`, `type`, `inputs`, `outputs`,
 * `parent`, ...). Secret values are printed as `"[secret]"`, values computed during the update as the unknown
 * placeholder. A replacement is several steps of one URN (`create-replacement`, `replace`, `delete-replaced`).
 */
import { PolicyError } from "../errors";
import { decodeResource, UNKNOWN_VALUE } from "./decoders";
import { type ResourceReview, type ResourceStep, reviewStep } from "./compare";

interface StateJson {
  urn?: string;
  type?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

interface StepJson {
  op?: string;
  urn?: string;
  oldState?: StateJson | null;
  newState?: StateJson | null;
  diffReasons?: string[] | null;
  replaceReasons?: string[] | null;
}

const REPLACE_OPS = ["replace", "create-replacement", "delete-replaced"];

function invalid(value: unknown, problem: string): never {
  throw new PolicyError(
    "--preview",
    value,
    problem,
    "give the output of `pulumi preview --json` (one JSON document with a `steps` list)",
  );
}

/** The type of a URN (`urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME`): its last type, without the parents. */
export function urnType(urn: string): string {
  const parts = urn.split("::");
  const types = parts.length >= 4 ? parts[2] : "";
  return types.slice(types.lastIndexOf("$") + 1);
}

/** The preview's steps, one per URN in the order they first appear, with their payloads decoded. */
export function previewSteps(json: unknown): ResourceStep[] {
  if (json === null || typeof json !== "object" || Array.isArray(json)) invalid(typeof json, "not a JSON object");
  const raw = (json as { steps?: unknown }).steps ?? [];
  if (!Array.isArray(raw)) invalid(typeof raw, "`steps` is not a list");
  const byUrn = new Map<string, StepJson[]>();
  for (const [i, step] of (raw as StepJson[]).entries()) {
    if (step === null || typeof step !== "object" || typeof step.urn !== "string")
      invalid(`steps[${i}]`, "a step has no `urn`");
    const group = byUrn.get(step.urn) ?? [];
    group.push(step);
    byUrn.set(step.urn, group);
  }
  const steps: Array<ResourceStep & { oldState?: StateJson; newState?: StateJson }> = [];
  for (const [urn, group] of byUrn) {
    const oldState = group.find((s) => s.oldState)?.oldState ?? undefined;
    const newState = group.find((s) => s.newState)?.newState ?? undefined;
    const type = newState?.type ?? oldState?.type ?? urnType(urn);
    const ops = group.map((s) => s.op ?? "");
    const op = ops.find((o) => REPLACE_OPS.includes(o)) ? "replace" : ops[0];
    const reasons = group.flatMap((s) => [...(s.diffReasons ?? []), ...(s.replaceReasons ?? [])]);
    steps.push({
      urn,
      type,
      op,
      diffReasons: [...new Set(reasons.map((r) => r.replace(/[.[].*$/, "")))],
      oldDecoded: oldState ? decodeResource(type, oldState.inputs) : undefined,
      newDecoded: newState ? decodeResource(type, newState.inputs) : undefined,
      oldState,
      newState,
    });
  }
  for (const step of steps) {
    const ref = step.newDecoded?.launchTemplate ?? step.oldDecoded?.launchTemplate;
    if (ref === undefined) continue;
    if (ref.id === UNKNOWN_VALUE || ref.name === UNKNOWN_VALUE) {
      step.launchTemplate = "unknown";
      continue;
    }
    const lt = steps.find(
      (s) =>
        s.type === "aws:ec2/launchTemplate:LaunchTemplate" &&
        [s.oldState, s.newState].some((st) => {
          const ids = [st?.outputs?.id, st?.outputs?.name, st?.inputs?.name];
          return (ref.id !== undefined && ids.includes(ref.id)) || (ref.name !== undefined && ids.includes(ref.name));
        }),
    );
    if (lt !== undefined) step.launchTemplate = { urn: lt.urn, changed: lt.op !== "same" };
  }
  return steps.map(({ oldState: _o, newState: _n, ...step }) => step);
}

/** The reviews of every resource of a preview whose node payload changed (unchanged ones are left out). */
export function reviewPreview(json: unknown): ResourceReview[] {
  return previewSteps(json)
    .map(reviewStep)
    .filter((r) => r.notes.length > 0 || r.files.length > 0);
}
