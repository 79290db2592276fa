/**
 * `registry-mirrors doctor --node-root DIR`: the node `check` against a copy of a node's files (an admin with a
 * node's /etc at hand, a disk image, a support bundle), without touching any runtime: each file is the one the
 * policy rendered (or the watchdog's effective one), each hosts.toml parses, containerd's config_path names the hosts
 * folder, the CRI-O/podman drop-in parses and is not shadowed by a later one, daemon.json holds the rendered keys.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { TEMPLATE_SUFFIX } from "../components/core/node-ecr";
import { watchPlanOf } from "../components/core/node-script";
import { REGISTRIES_CONF_DROPIN } from "../components/core/render/registries-conf";
import { readApplyScript } from "../components/core/review/node-data";
import { WATCHDOG_DEFAULTS } from "../components/core/watchdog-settings";

export const DOCTOR_HELP = `Usage: registry-mirrors doctor --node-root DIR (--script apply-node-config.sh | [render flags])

Checks a node's files under DIR (DIR/etc/..., as on the node) against what the policy renders, without touching
any runtime: the apply script given with --script, or the render flags and --policy file ("registry-mirrors render
--help"). One line per finding, "ok:", "note:" or "problem: ... Fix: ..."; exit 1 on any problem, 2 on bad usage.

Checked:
  - each node file is the rendered one, or the one the node watchdog wrote last (DIR/<its state folder>/state.json)
  - /etc/docker/daemon.json holds the rendered keys (registry-mirrors as rendered or as the watchdog left it)
  - each hosts.toml in containerd's hosts folder parses and has a [host] table (containerd 1.6 ignores it without)
  - containerd's config.toml (and the files it imports) sets config_path to the hosts folder, without the
    deprecated inline registry.mirrors
  - the CRI-O/podman drop-in parses, and no later drop-in in registries.conf.d redefines its registries

On the node itself, "sh apply-node-config.sh check" also asks the runtimes (docker info, containerd's version and
pull path) and probes the endpoints.`;

type Finding = { level: "ok" | "note" | "problem"; text: string; fix?: string };

const APPLY = "run the apply script again on the node: sh apply-node-config.sh apply";

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function sameJson(a: unknown, b: unknown): boolean {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : isObject(v)
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sorted(v[k])]),
          )
        : v;
  return JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
}

/** The `written` record of the watchdog's state.json: node path -> { sha256, mirrors? }. */
function watchdogWritten(root: string, stateDir: string): Record<string, { sha256?: string; mirrors?: unknown }> {
  const text = readText(join(root, stateDir, "state.json"));
  if (text === undefined) return {};
  try {
    const doc = JSON.parse(text) as unknown;
    return isObject(doc) && isObject(doc.written) ? (doc.written as Record<string, { sha256?: string }>) : {};
  } catch {
    return {};
  }
}

/** The config_path values a containerd config (and what it imports) sets, and whether it sets inline mirrors. */
function containerdConfigPaths(root: string, file: string, out: Finding[], seen = new Set<string>()) {
  const result = { paths: [] as string[], mirrors: false, read: [] as string[] };
  if (seen.has(file)) return result;
  seen.add(file);
  const text = readText(join(root, file));
  if (text === undefined) return result;
  result.read.push(file);
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    out.push({
      level: "problem",
      text: `${file} does not parse as TOML (${(err as Error).message.split("\n")[0]}); containerd will not start with it`,
      fix: "fix its syntax",
    });
    return result;
  }
  const plugins = isObject(doc.plugins) ? doc.plugins : {};
  for (const name of ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images"]) {
    const registry = isObject(plugins[name]) && isObject(plugins[name].registry) ? plugins[name].registry : undefined;
    if (!registry) continue;
    if (typeof registry.config_path === "string") result.paths.push(...registry.config_path.split(":"));
    if (isObject(registry.mirrors) && Object.keys(registry.mirrors).length > 0) result.mirrors = true;
  }
  const imports = Array.isArray(doc.imports) ? doc.imports.filter((i): i is string => typeof i === "string") : [];
  for (const imp of imports) {
    const full = imp.startsWith("/") ? imp : resolve(dirname(file), imp);
    const names = full.includes("*")
      ? (() => {
          const dir = dirname(full);
          const re = new RegExp(
            `^${full
              .slice(dir.length + 1)
              .replace(/\./g, "\\.")
              .replace(/\*/g, ".*")}$`,
          );
          try {
            return readdirSync(join(root, dir))
              .filter((n) => re.test(n))
              .sort()
              .map((n) => `${dir}/${n}`);
          } catch {
            return [];
          }
        })()
      : [full];
    for (const name of names) {
      const sub = containerdConfigPaths(root, name, out, seen);
      result.paths.push(...sub.paths);
      result.mirrors ||= sub.mirrors;
      result.read.push(...sub.read);
    }
  }
  return result;
}

/** The registry names (prefix, else location) a registries.conf (v2) defines. */
function registriesOf(doc: Record<string, unknown>): string[] {
  const entries = Array.isArray(doc.registry) ? doc.registry.filter(isObject) : [];
  return entries
    .map((r) => (typeof r.prefix === "string" ? r.prefix : typeof r.location === "string" ? r.location : ""))
    .filter(Boolean);
}

function checkDropIn(root: string, out: Finding[]): void {
  const text = readText(join(root, REGISTRIES_CONF_DROPIN));
  if (text === undefined) return; // reported as missing with the files
  let mine: string[];
  try {
    mine = registriesOf(parseToml(text) as Record<string, unknown>);
  } catch (err) {
    out.push({
      level: "problem",
      text: `${REGISTRIES_CONF_DROPIN} does not parse as TOML (${(err as Error).message.split("\n")[0]}); CRI-O and podman refuse every registries.conf then`,
      fix: APPLY,
    });
    return;
  }
  const dir = dirname(REGISTRIES_CONF_DROPIN);
  const base = REGISTRIES_CONF_DROPIN.slice(dir.length + 1);
  let names: string[] = [];
  try {
    names = readdirSync(join(root, dir))
      .filter((n) => n.endsWith(".conf"))
      .sort();
  } catch {
    names = [];
  }
  let shadowed = false;
  // containers/image reads the drop-ins in lexical order; a later file's entry for the same prefix replaces ours.
  for (const name of names.filter((n) => n > base)) {
    const later = readText(join(root, dir, name)) ?? "";
    let theirs: string[];
    try {
      theirs = registriesOf(parseToml(later) as Record<string, unknown>);
    } catch (err) {
      out.push({
        level: "problem",
        text: `${dir}/${name} does not parse as TOML (${(err as Error).message.split("\n")[0]}); CRI-O and podman refuse to load the registries configuration`,
        fix: `fix or remove ${dir}/${name}`,
      });
      shadowed = true;
      continue;
    }
    const both = theirs.filter((r) => mine.includes(r));
    if (both.length > 0) {
      shadowed = true;
      out.push({
        level: "problem",
        text: `${dir}/${name} is read after ${base} and redefines ${both.join(", ")}, so CRI-O and podman use its entries, not the mirrors`,
        fix: `remove those entries from ${dir}/${name}, or put the mirrors into the policy and delete the file`,
      });
    }
  }
  if (!shadowed)
    out.push({
      level: "ok",
      text: `${REGISTRIES_CONF_DROPIN} parses and no later drop-in redefines ${mine.join(", ")}`,
    });
}

/** Runs every check of the node files under `root` against the apply script; the findings in order. */
export function doctorFindings(root: string, script: string): Finding[] {
  const read = readApplyScript(script);
  if (read === undefined) {
    return [
      {
        level: "problem",
        text: "the script has no data part (not an apply script of this registry-mirrors, or an older one)",
        fix: "render it again with this registry-mirrors, or give the policy instead of --script",
      },
    ];
  }
  const out: Finding[] = [];
  const stateDir = watchPlanOf(script)?.stateDir ?? WATCHDOG_DEFAULTS.stateDir;
  const written = watchdogWritten(root, stateDir);
  const files = read.data.files;

  for (const f of files.filter((x) => x.runtime !== "docker")) {
    const target = f.ecr ? `${f.path}${TEMPLATE_SUFFIX}` : f.path;
    const current = readText(join(root, target));
    if (current === undefined) out.push({ level: "problem", text: `${target} is missing`, fix: APPLY });
    else if (current === f.content) out.push({ level: "ok", text: `${target} is the rendered file` });
    else if (written[target]?.sha256 === sha256(current))
      out.push({
        level: "ok",
        text: `${target} is the watchdog's effective file (without the endpoints it found down)`,
      });
    else
      out.push({
        level: "problem",
        text: `${target} is not the file this policy rendered (changed by hand or by another tool, or a stale apply)`,
        fix: `${APPLY}, or find who changed it`,
      });
  }

  const docker = files.find((x) => x.runtime === "docker");
  if (docker) {
    const path = "/etc/docker/daemon.json";
    const text = readText(join(root, path));
    const desired = JSON.parse(docker.content) as Record<string, unknown>;
    let doc: unknown;
    try {
      doc = text === undefined ? undefined : JSON.parse(text);
    } catch (err) {
      doc = err;
    }
    if (text === undefined) out.push({ level: "problem", text: `${path} is missing`, fix: APPLY });
    else if (!isObject(doc))
      out.push({
        level: "problem",
        text: `${path} is not a JSON object; dockerd will not start with it`,
        fix: "fix its syntax, then run the apply script",
      });
    else {
      const wrong = Object.keys(desired).filter((k) => {
        if (sameJson(doc[k], desired[k])) return false;
        return !(
          k === "registry-mirrors" &&
          written[path]?.mirrors !== undefined &&
          sameJson(doc[k], written[path].mirrors)
        );
      });
      if (wrong.length === 0) out.push({ level: "ok", text: `${path} holds the rendered keys` });
      for (const k of wrong)
        out.push({
          level: "problem",
          text: `${path} has ${k} = ${JSON.stringify(doc[k] ?? null)}, the policy renders ${JSON.stringify(desired[k])}`,
          fix: `${APPLY} (it reloads dockerd; no restart)`,
        });
    }
  }

  const hostsDir = read.data.settings.containerdHostsDir;
  if (hostsDir !== undefined) {
    let dirs: string[] = [];
    try {
      dirs = readdirSync(join(root, hostsDir)).sort();
    } catch {
      dirs = [];
    }
    for (const d of dirs) {
      const path = `${hostsDir}/${d}/hosts.toml`;
      const text = readText(join(root, path));
      if (text === undefined) continue;
      try {
        const doc = parseToml(text) as Record<string, unknown>;
        if (doc.host === undefined && doc.server !== undefined)
          out.push({
            level: "problem",
            text: `${path} has no [host] table; containerd 1.6 rejects it ("invalid host tree") and pulls from the registry itself`,
            fix: "add an empty [host] table, or render it with this registry-mirrors",
          });
      } catch (err) {
        out.push({
          level: "problem",
          text: `${path} does not parse as TOML (${(err as Error).message.split("\n")[0]}); containerd skips it and pulls from the registry itself`,
          fix: APPLY,
        });
      }
    }
    const config = "/etc/containerd/config.toml";
    if (!existsSync(join(root, config))) {
      out.push({
        level: "note",
        text: `no ${config}: containerd 1.x then reads no hosts folder (2.x reads /etc/containerd/certs.d:/etc/docker/certs.d)`,
        fix: `${APPLY} with restartPolicy "if-needed" (it sets config_path)`,
      });
    } else {
      const found = containerdConfigPaths(root, config, out);
      if (found.mirrors)
        out.push({
          level: "problem",
          text: `${found.read.join(", ")} set the deprecated inline registry.mirrors; with config_path containerd does not load its CRI plugin`,
          fix: "move those mirrors into the policy and delete the registry.mirrors tables",
        });
      if (found.paths.includes(hostsDir))
        out.push({ level: "ok", text: `containerd's config sets config_path to ${hostsDir}` });
      else
        out.push({
          level: "problem",
          text: `containerd's config (${found.read.join(", ")}) does not set config_path to ${hostsDir}${found.paths.length ? ` (it names ${found.paths.join(":")})` : ""}, so containerd ignores the hosts.toml files`,
          fix: `${APPLY} with restartPolicy "if-needed" (setting config_path needs a containerd restart)`,
        });
    }
  }

  if (files.some((x) => x.path === REGISTRIES_CONF_DROPIN)) checkDropIn(root, out);
  return out;
}

/** Parses the doctor's own flags; the rest are render flags. */
export function doctorCommand(
  argv: string[],
  out: (line: string) => void,
  fail: (message: string) => never,
  renderScript: (renderArgv: string[]) => string,
): number {
  let root: string | undefined;
  let scriptFile: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (name: string) => {
      if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
      const v = argv[++i];
      if (v === undefined) fail(`${name} needs a value\n\n${DOCTOR_HELP}`);
      return v;
    };
    if (a === "-h" || a === "--help") {
      out(DOCTOR_HELP);
      return 0;
    }
    if (a === "--node-root" || a.startsWith("--node-root=")) root = value("--node-root");
    else if (a === "--script" || a.startsWith("--script=")) scriptFile = value("--script");
    else rest.push(a);
  }
  if (root === undefined) fail(`--node-root DIR is required\n\n${DOCTOR_HELP}`);
  if (!existsSync(root) || !statSync(root).isDirectory()) fail(`--node-root: ${root} is not a folder`);
  if (scriptFile !== undefined && rest.length > 0)
    fail(`--script and render flags (${rest.join(" ")}) exclude each other: give one of them`);
  let script: string;
  if (scriptFile !== undefined) {
    const text = readText(scriptFile);
    if (text === undefined) fail(`--script: cannot read ${scriptFile}`);
    script = text;
  } else {
    if (rest.length === 0) fail(`give --script FILE or the policy (render flags)\n\n${DOCTOR_HELP}`);
    script = renderScript(rest);
  }
  const findings = doctorFindings(root, script);
  for (const f of findings)
    out(
      f.level === "problem"
        ? `problem: ${f.text}. Fix: ${f.fix}`
        : `${f.level}: ${f.text}${f.fix ? ` (${f.fix})` : ""}`,
    );
  const problems = findings.filter((f) => f.level === "problem").length;
  out(
    problems
      ? `doctor: ${problems} problem(s)`
      : "doctor: the files are the rendered ones and the runtimes' settings point at them",
  );
  return problems ? 1 : 0;
}
