/** A line diff (longest common subsequence) and its unified-diff rendering, for reviewing node files. */

/** One line of a diff: kept (`" "`), removed (`"-"`) or added (`"+"`). */
export interface DiffLine {
  op: " " | "-" | "+";
  text: string;
}

// Above this many cells the middle part is shown as removed then added: still a correct diff, just not minimal.
const MAX_CELLS = 4_000_000;

/** The lines of `a` and `b` as kept, removed and added lines, in order; a minimal edit for inputs of usual size. */
export function diffLines(a: string[], b: string[]): DiffLine[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const head = a.slice(0, start).map((text) => ({ op: " " as const, text }));
  const tail = a.slice(endA).map((text) => ({ op: " " as const, text }));
  return [...head, ...diffMiddle(a.slice(start, endA), b.slice(start, endB)), ...tail];
}

function diffMiddle(a: string[], b: string[]): DiffLine[] {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0 || n * m > MAX_CELLS) {
    return [...a.map((text) => ({ op: "-" as const, text })), ...b.map((text) => ({ op: "+" as const, text }))];
  }
  // lcs[i * (m + 1) + j]: length of the longest common subsequence of a[i..] and b[j..].
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] =
        a[i] === b[j] ? lcs[(i + 1) * width + j + 1] + 1 : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: " ", text: a[i++] });
      j++;
    } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) out.push({ op: "-", text: a[i++] });
    else out.push({ op: "+", text: b[j++] });
  }
  while (i < n) out.push({ op: "-", text: a[i++] });
  while (j < m) out.push({ op: "+", text: b[j++] });
  return out;
}

const NO_EOL = "\u0000no-eol";

/** The lines of a text; a last line without its newline is marked so that adding the newline shows as a change. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  else lines[lines.length - 1] += NO_EOL;
  return lines;
}

/**
 * A unified diff (`diff -u` layout, `context` lines around each change) from `before` to `after`, without the
 * `---`/`+++` header; "" when the texts are equal.
 */
export function unifiedHunks(before: string, after: string, context = 3): string {
  const lines = diffLines(splitLines(before), splitLines(after));
  const changed = lines.flatMap((line, at) => (line.op === " " ? [] : [at]));
  if (changed.length === 0) return "";
  const out: string[] = [];
  let k = 0;
  while (k < changed.length) {
    const from = Math.max(0, changed[k] - context);
    let to = Math.min(lines.length, changed[k] + context + 1);
    while (k + 1 < changed.length && changed[k + 1] - context <= to)
      to = Math.min(lines.length, changed[++k] + context + 1);
    k++;
    const hunk = lines.slice(from, to);
    // Line numbers of the hunk's first line on each side: count the lines of that side before it.
    const before = lines.slice(0, from);
    const oldStart = before.filter((l) => l.op !== "+").length;
    const newStart = before.filter((l) => l.op !== "-").length;
    const oldCount = hunk.filter((l) => l.op !== "+").length;
    const newCount = hunk.filter((l) => l.op !== "-").length;
    out.push(`@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@`);
    for (const line of hunk) {
      const noEol = line.text.endsWith(NO_EOL);
      out.push(`${line.op}${noEol ? line.text.slice(0, -NO_EOL.length) : line.text}`);
      if (noEol) out.push("\\ No newline at end of file");
    }
  }
  return `${out.join("\n")}\n`;
}

function range(start: number, count: number): string {
  // diff -u: an empty side names the line before it; a single line omits its count.
  if (count === 0) return `${start},0`;
  return count === 1 ? `${start + 1}` : `${start + 1},${count}`;
}
