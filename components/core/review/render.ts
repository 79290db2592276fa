/** Renders reviews as Markdown (a pull/merge request comment) or plain text (a terminal). */
import type { FileChange, ResourceReview } from "./compare";

export type ReviewFormat = "markdown" | "text";

/** Options of {@link renderReview}. */
export interface RenderReviewOptions {
  format?: ReviewFormat;
  /** Title line. */
  title?: string;
  /**
   * Markdown only: past this many characters, further diffs are replaced by one line each (GitHub comments hold
   * 65,536 characters). Default 60,000.
   */
  maxChars?: number;
}

/** The type of a review comparing two payloads rather than a resource's states. */
export const PAYLOADS = "payloads";

const DEFAULT_TITLE = "registry-mirrors: node file changes";

function mode(m: number | undefined): string {
  return m === undefined ? "" : `0${m.toString(8).padStart(3, "0")}`;
}

function fileLabel(change: FileChange): string {
  const facts = [
    ...(change.runtime !== undefined ? [change.runtime] : []),
    ...(change.oldMode !== undefined && change.newMode !== undefined && change.oldMode !== change.newMode
      ? [`mode ${mode(change.oldMode)} → ${mode(change.newMode)}`]
      : []),
  ];
  return facts.length > 0 ? ` (${facts.join(", ")})` : "";
}

function header(change: FileChange): string {
  // A node path as git shows it (a/etc/...); a label such as "(apply script settings)" as it is.
  const [a, b] = change.path.startsWith("/") ? ["a", "b"] : ["before:", "after:"];
  const name = change.path.startsWith("/") ? change.path : ` ${change.path}`;
  const from = change.status === "added" ? "/dev/null" : `${a}${name}`;
  const to = change.status === "removed" ? "/dev/null" : `${b}${name}`;
  return `--- ${from}\n+++ ${to}\n`;
}

/** A code fence longer than any backtick run in the text, so the text cannot close it. */
function fence(text: string): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  return "`".repeat(longest + 1);
}

function lists(review: ResourceReview): string[] {
  const added = review.files.filter((f) => f.status === "added").map((f) => f.path);
  const removed = review.files.filter((f) => f.status === "removed").map((f) => f.path);
  return [
    ...(added.length > 0 ? [[`files added: `, added] as const] : []),
    ...(removed.length > 0 ? [[`files removed: `, removed] as const] : []),
  ].map(([label, paths]) => `${label}${paths.join(", ")}`);
}

function renderText(reviews: ResourceReview[], title: string): string {
  const out = [title, ""];
  for (const review of reviews) {
    if (review.type === PAYLOADS) out.push(`== ${review.name}`);
    else out.push(`== ${review.type} ${review.name} (${review.op})`, `   ${review.urn}`);
    for (const line of [...review.notes, ...lists(review)]) out.push(`   ${line.replace(/`/g, "")}`);
    for (const change of review.files) {
      if (change.hunks === "") continue;
      out.push(`${header(change)}${change.hunks}`.trimEnd());
    }
    out.push("");
  }
  return `${out.join("\n").trimEnd()}\n`;
}

function renderMarkdown(reviews: ResourceReview[], title: string, maxChars: number): string {
  const out: string[] = [`### ${title}`, ""];
  let size = out.join("\n").length;
  const omitted: string[] = [];
  const push = (...lines: string[]) => {
    for (const text of lines) {
      out.push(text);
      size += text.length + 1;
    }
  };
  for (const review of reviews) {
    if (review.type === PAYLOADS) push(`#### ${review.name}`, "");
    else push(`#### \`${review.name}\` (${review.type}, ${review.op})`, "", `<sub>\`${review.urn}\`</sub>`, "");
    const code = (paths: string[]) => paths.map((p) => `\`${p}\``).join(", ");
    const added = review.files.filter((f) => f.status === "added").map((f) => f.path);
    const removed = review.files.filter((f) => f.status === "removed").map((f) => f.path);
    const bullets = [
      ...review.notes,
      ...(added.length > 0 ? [`files added: ${code(added)}`] : []),
      ...(removed.length > 0 ? [`files removed: ${code(removed)}`] : []),
    ];
    for (const line of bullets) push(`- ${line}`);
    if (bullets.length > 0) push("");
    for (const change of review.files) {
      if (change.hunks === "") continue;
      const body = `${header(change)}${change.hunks}`;
      const ticks = fence(body);
      const block = `\`${change.path}\`${fileLabel(change)}\n\n${ticks}diff\n${body}${ticks}\n`;
      if (size + block.length > maxChars) {
        omitted.push(`${review.name}: ${change.path}`);
        continue;
      }
      push(block);
    }
  }
  if (omitted.length > 0) {
    push(
      `<sub>Diffs left out to keep this comment under ${maxChars} characters (run \`registry-mirrors diff\` on the preview locally to see them): ${omitted.map((o) => `\`${o}\``).join(", ")}</sub>`,
    );
  }
  return `${out.join("\n").trimEnd()}\n`;
}

/** The reviews as one document; says so in one line when no node payload changed. */
export function renderReview(reviews: ResourceReview[], options: RenderReviewOptions = {}): string {
  const title = options.title ?? DEFAULT_TITLE;
  if (reviews.length === 0) {
    const line = "No node file changes.";
    return options.format === "text" ? `${title}\n\n${line}\n` : `### ${title}\n\n${line}\n`;
  }
  return options.format === "text"
    ? renderText(reviews, title)
    : renderMarkdown(reviews, title, options.maxChars ?? 60_000);
}
