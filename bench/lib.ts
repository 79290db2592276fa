/** Small helpers shared by the benchmarks: argument flags, statistics and Markdown tables. */

/** Reads `--name=value` / `--name value` from argv; `fallback` when absent. */
export function flag(name: string, fallback: string): string {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}` && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return fallback;
}

/** A numeric flag; throws with the flag name when it is not a finite number. */
export function numberFlag(name: string, fallback: number): number {
  const raw = flag(name, String(fallback));
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number, got "${raw}"`);
  return value;
}

/** True when `--name` is given (as a bare flag or `--name=true`). */
export function boolFlag(name: string): boolean {
  return process.argv.slice(2).some((a) => a === `--${name}` || a === `--${name}=true`);
}

/** The p-th percentile (0..100) by nearest rank; NaN for an empty list. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function mean(values: number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** `1234567` -> `1.18 MiB`. */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return "-";
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(2)} ${units[u]}`;
}

/** Fixed-point number, or "-" for NaN/undefined. */
export function fixed(n: number | undefined, digits = 2): string {
  return n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(digits);
}

/** A Markdown table with aligned columns (numbers right-aligned by the caller's choice of `align`). */
export function table(headers: string[], rows: string[][], align: Array<"l" | "r"> = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const pad = (s: string, i: number) => (align[i] === "r" ? s.padStart(widths[i]) : s.padEnd(widths[i]));
  const line = (cells: string[]) => `| ${cells.map((c, i) => pad(c ?? "", i)).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (align[i] === "r" ? `${"-".repeat(w + 1)}:` : `${"-".repeat(w + 2)}`)).join("|")}|`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}
