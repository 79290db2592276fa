import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { PolicyError } from "../components/core/errors";
import {
  type NodePayload,
  payloadFromApplyScript,
  payloadFromText,
  type ResourceReview,
  renderReview,
  reviewPayloads,
  reviewPreview,
  type ReviewFormat,
  userDataText,
} from "../components/core/review";

/** Thrown for input that cannot be read: exit code 2. */
export class UnreadableInput extends Error {}

export const DIFF_HELP = `Usage: registry-mirrors diff --preview FILE [--format markdown|text] [--title TEXT]
       registry-mirrors diff OLD NEW [--format markdown|text] [--title TEXT]

Shows what a change does to the nodes' files, for a pull/merge request review.

  --preview FILE    the output of \`pulumi preview --json\` ("-" reads stdin). Every resource whose node payload it
                    can decode is compared before/after: EC2 launch templates and instances, EKS node groups (through
                    their launch template), Alibaba Cloud ECS instances and launch templates, ESS scaling
                    configurations, ACK node pools, and the node-config DaemonSet's ConfigMap (a Secret is never
                    decoded: "secret, not shown"). Secret values and values computed during the update are named,
                    not shown.
  OLD NEW           two payloads, each a user-data file (text or base64), an apply script, or a rendered folder
                    (with apply-node-config.sh and/or node/<path> files, as \`registry-mirrors render\` writes).
  --format F        markdown (default; for a comment) or text.
  --title TEXT      the first line (default "registry-mirrors: node file changes").

Prints, per resource, unified diffs of the node files that changed; files added or removed are listed, an engine
change is one line ("engine 0.1.0 → 0.2.0"), resources with no node file change are left out.
A review tool, not a gate: the exit code is 0 whatever changed; 1 or 2 only when an input cannot be read.`;

function readInput(file: string, what: string): string {
  try {
    return file === "-" ? readFileSync(0, "utf8") : readFileSync(file, "utf8");
  } catch (err) {
    throw new UnreadableInput(`${what}: cannot read ${file}: ${(err as Error).message}`);
  }
}

function listTree(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? listTree(path) : [path];
    });
}

/** The payload of a file (user data, base64 user data or an apply script) or of a rendered folder. */
export function readPayload(path: string): NodePayload {
  if (!existsSync(path)) throw new UnreadableInput(`diff: ${path} does not exist`);
  if (!statSync(path).isDirectory()) {
    // A user-data file may hold the base64 a launch template takes.
    return payloadFromText(userDataText(readInput(path, "diff"), "auto"), path);
  }
  const script = join(path, "apply-node-config.sh");
  const nodeDir = join(path, "node");
  const payload: NodePayload = existsSync(script)
    ? payloadFromApplyScript(readInput(script, "diff"), "apply-node-config.sh")
    : { files: [] };
  if (existsSync(nodeDir)) {
    const known = new Set(payload.files.map((f) => f.path));
    for (const file of listTree(nodeDir)) {
      const nodePath = `/${relative(nodeDir, file).split("\\").join("/")}`;
      if (!known.has(nodePath)) payload.files.push({ path: nodePath, content: readInput(file, "diff") });
    }
  }
  if (!existsSync(script) && !existsSync(nodeDir))
    throw new UnreadableInput(`diff: ${path} has neither apply-node-config.sh nor a node/ folder`);
  return payload;
}

function parsePreview(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new PolicyError(
      "--preview",
      file,
      `not JSON (${(err as Error).message})`,
      "write the preview with `pulumi preview --json > preview.json` (stdout only, no other output)",
    );
  }
}

/** `registry-mirrors diff`: prints the review; returns the exit code (0 unless an input cannot be read). */
export function diffCommand(argv: string[], out: (text: string) => void, usage: (message: string) => never): number {
  let parsed: ReturnType<typeof parse>;
  const parse = (args: string[]) =>
    parseArgs({
      args,
      options: {
        preview: { type: "string" },
        format: { type: "string" },
        title: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    });
  try {
    parsed = parse(argv);
  } catch (err) {
    usage(`${(err as Error).message}\nRun "registry-mirrors diff --help" for the flags.`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(DIFF_HELP);
    return 0;
  }
  const format = (values.format ?? "markdown") as ReviewFormat;
  if (format !== "markdown" && format !== "text") usage(`--format must be markdown or text, not "${values.format}"`);
  let reviews: ResourceReview[];
  if (values.preview !== undefined) {
    if (positionals.length > 0) usage("give either --preview FILE or OLD NEW, not both");
    reviews = reviewPreview(parsePreview(readInput(values.preview, "--preview"), values.preview));
  } else {
    if (positionals.length !== 2) usage(`diff needs --preview FILE, or two payloads OLD NEW\n\n${DIFF_HELP}`);
    const [before, after] = positionals;
    reviews = reviewPayloads(readPayload(before), readPayload(after), `${before} → ${after}`);
  }
  out(renderReview(reviews, { format, title: values.title }).trimEnd());
  return 0;
}
