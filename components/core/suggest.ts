/** Suggestions for a misspelt name, for error messages ("did you mean ...?"). */

/** Edit distance between two strings (insertions, deletions, substitutions). */
export function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The `count` names closest to `value` (edit distance, then alphabetical). */
export function nearestNames(value: string, names: readonly string[], count = 3): string[] {
  return [...names]
    .map((name) => ({ name, distance: levenshtein(value.toLowerCase(), name) }))
    .sort((a, b) => a.distance - b.distance || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, count)
    .map((n) => n.name);
}
