/** POSIX sh text helpers shared by the node script and the user-data forms. */

/** Quotes `value` for sh: single quotes, with embedded single quotes closed, escaped and reopened. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/** A heredoc delimiter that does not occur as a line of `content`. */
export function heredocDelimiter(content: string): string {
  const lines = new Set(content.split("\n"));
  let delimiter = "REGISTRY_MIRRORS_EOF";
  for (let i = 2; lines.has(delimiter); i++) delimiter = `REGISTRY_MIRRORS_EOF_${i}`;
  return delimiter;
}

/** `command <<'DELIMITER'` followed by `content` and the delimiter (a delimiter `content` does not contain). */
export function heredoc(command: string, content: string): string {
  const delimiter = heredocDelimiter(content);
  return `${command} <<'${delimiter}'\n${content}${delimiter}`;
}
