/**
 * What Spegel's `configuration` and `cleanup` commands do to a node's containerd hosts folder (v0.7.4,
 * pkg/oci/containerd.go AddMirrorConfiguration / CleanupMirrorConfiguration), on a test node's folder:
 * - first start: everything in the folder moves into `_backup/` (only when `_backup/` does not exist yet);
 * - every start: everything but `_backup/` is removed, then each mirrored registry gets `REGISTRY/hosts.toml` =
 *   `server = 'UPSTREAM'` (none for `_default`), one `[host.'TARGET']` block per mirror target
 *   (`capabilities = ['pull', 'resolve']`, `dial_timeout = '200ms'`), and with prependExisting a blank line and the
 *   `[host.X]` tables of `_backup/REGISTRY/hosts.toml` re-serialised by go-toml (literal strings, sorted keys);
 *   the backup's other files are copied beside it;
 * - cleanup: everything but `_backup/` is removed and `_backup/`'s entries move back.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parse } from "smol-toml";

const BACKUP = "_backup";

/** The go-toml v2 form of one value in a table (what Spegel's existingHosts writes back). */
function goTomlValue(value: unknown): string {
  if (typeof value === "string") return value.includes("'") ? JSON.stringify(value) : `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(goTomlValue).join(", ")}]`;
  return String(value);
}

/** `[host.'URL']` and its keys as go-toml v2 marshals them: plain keys sorted, then sub-tables. */
function goTomlHost(url: string, table: Record<string, unknown>): string {
  const keys = Object.keys(table).sort();
  const plain = keys.filter((k) => typeof table[k] !== "object" || Array.isArray(table[k]));
  const subs = keys.filter((k) => !plain.includes(k));
  const lines = [`[host.'${url}']`, ...plain.map((k) => `${k} = ${goTomlValue(table[k])}`)];
  for (const sub of subs) {
    const inner = table[sub] as Record<string, unknown>;
    lines.push(
      "",
      `[host.'${url}'.${sub}]`,
      ...Object.keys(inner)
        .sort()
        .map((k) => `${k} = ${goTomlValue(inner[k])}`),
    );
  }
  return `${lines.join("\n")}\n`;
}

function existingHosts(dir: string, host: string): string {
  const file = join(dir, BACKUP, host, "hosts.toml");
  if (!existsSync(file)) return "";
  const hosts = (parse(readFileSync(file, "utf8")).host ?? {}) as Record<string, Record<string, unknown>>;
  return Object.entries(hosts)
    .map(([url, table]) => goTomlHost(url, table))
    .join("\n")
    .trim();
}

function clear(dir: string): void {
  for (const name of readdirSync(dir)) if (name !== BACKUP) rmSync(join(dir, name), { recursive: true, force: true });
}

/** Spegel's `configuration` command. `registries`: `https://docker.io`, `http://10.0.0.5:5000` or `_default`. */
export function spegelConfigure(dir: string, registries: string[], targets: string[], prependExisting = true): void {
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, BACKUP))) {
    const names = readdirSync(dir);
    mkdirSync(join(dir, BACKUP));
    for (const name of names) renameSync(join(dir, name), join(dir, BACKUP, name));
  }
  clear(dir);
  for (const registry of registries) {
    const url = registry === "_default" ? undefined : new URL(registry);
    const host = url ? url.host : "_default";
    const server = url ? (url.href === "https://docker.io/" ? "https://registry-1.docker.io" : url.origin) : "";
    const blocks = targets.map((t) => `[host.'${t}']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'`);
    let text = `${server ? `server = '${server}'\n\n` : ""}${blocks.join("\n\n")}`.trim();
    const existing = prependExisting ? existingHosts(dir, host) : "";
    if (existing !== "") {
      const from = join(dir, BACKUP, host);
      for (const entry of readdirSync(from, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile() || entry.name === "hosts.toml") continue;
        const source = join(entry.parentPath, entry.name);
        const target = join(dir, host, relative(from, source));
        mkdirSync(join(target, ".."), { recursive: true });
        cpSync(source, target);
      }
      text = `${text}\n\n${existing}`;
    }
    mkdirSync(join(dir, host), { recursive: true });
    writeFileSync(join(dir, host, "hosts.toml"), text);
  }
}

/** Spegel's `cleanup` command (its Helm chart's post-delete hook runs it on every node). */
export function spegelCleanup(dir: string): void {
  const backup = join(dir, BACKUP);
  if (!existsSync(backup)) return;
  clear(dir);
  for (const name of readdirSync(backup)) renameSync(join(backup, name), join(dir, name));
  rmSync(backup, { recursive: true, force: true });
}
