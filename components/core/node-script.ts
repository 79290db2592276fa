/**
 * Assembles the node apply script: the **engine** (the sh, Python, jq and awk sources in `node/`, plus constants from
 * the library's tables; it changes only with the library version) followed by the **data** part (the files the policy
 * renders, as plain here-documents, and the few settings of the plan). One POSIX sh file on the node; byte-identical
 * for identical inputs. The contract between the parts is written at the top of each file in `node/`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PolicyError } from "./errors";
import { checkNodeFile, checkNodePath, lockFolder } from "./node-file";
import { checkWatchPlan, WATCH_DIR, WATCH_UNIT } from "./node-watch";
import { ECR_DIR, ECR_UNIT, ecrTokens, TEMPLATE_SUFFIX } from "./node-ecr";
import { checkRestartPolicy } from "./restart-policy";
import type { ContainerdHostsFile } from "./render/containerd";
import {
  DOCKER_RELOADABLE_KEYS,
  DOCKER_RELOAD_EMPTY_VALUES,
  DOCKER_RELOAD_RESETS_WHEN_REMOVED,
  DOCKERD_KEYS,
} from "./render/docker-keys";
import type { NodeFile, RestartPolicy, RuntimeName } from "./render/types";
import { nodeAction, RUNTIMES } from "./runtimes";
import { heredocDelimiter, shellQuote } from "./shell";

/** The library version the engine belongs to (kept equal to package.json's by a test). */
export const ENGINE_VERSION = "0.1.0";
/** The line that starts the data part: everything above it is the engine. */
export const DATA_MARKER = "# ---- data: the files this policy writes; everything above is the engine ----";

/** The runtimes whose drop-in files the script writes as a group, in the order it applies them. */
export const FILE_GROUPS = ["crio", "podman", "k3s", "rke2", "buildkit"] as const;
export type FileGroup = (typeof FILE_GROUPS)[number];

/** A node file the apply script writes, and which runtime reads it (told once it changed). */
export interface ManagedFile extends NodeFile {
  /** The runtime that reads the file (from the renderers' tags); without it the file is just written. */
  runtime?: FileGroup;
}

/** Everything the node apply script applies to one node. */
export interface NodeApplyPlan {
  /** Whether the script may restart a runtime when a changed setting needs it (else it refuses and changes nothing). */
  restartPolicy: RestartPolicy;
  /** Keys merged into `/etc/docker/daemon.json`; every other key of the node's file is kept. */
  docker?: { desired: Record<string, unknown> };
  /**
   * containerd `hosts.toml` files, with absolute paths under `hostsDir` (the folder `config_path` points at). A file
   * with `ecrAuth` mirrors gets their ECR token on the node from a refresher the script installs (with a systemd timer).
   */
  containerd?: {
    hostsDir: string;
    files: ContainerdHostsFile[];
    /**
     * Spegel (P2P) shares `hostsDir` (see core/p2p/spegel.ts): while it manages the folder the script keeps its files
     * in Spegel's `_backup/` and each live file as Spegel writes it, Spegel's hosts first. Without it the script
     * refuses to touch a folder Spegel manages.
     */
    spegel?: boolean;
  };
  /** Other drop-in files: CRI-O/podman registries.conf.d, k3s/RKE2 registries.yaml, buildkitd.toml, ... */
  files?: ManagedFile[];
  /**
   * The node watchdog's plan (`renderWatchPlan`'s JSON). With it, `apply` installs the watchdog as a systemd service
   * and `watch` runs it; without it, `apply` removes a watchdog service an earlier plan installed.
   */
  watch?: string;
}

export { ECR_DIR, ECR_UNIT, TEMPLATE_SUFFIX } from "./node-ecr";
export { WATCH_DIR, WATCH_UNIT } from "./node-watch";

/** The CRI registry table of containerd's config.toml, per config version. */
const CONTAINERD_REGISTRY_TABLES: Record<1 | 2 | 3, string> = {
  1: "plugins.cri.registry",
  2: 'plugins."io.containerd.grpc.v1.cri".registry',
  3: 'plugins."io.containerd.cri.v1.images".registry',
};

/** The parts of the engine a plan needs: the prelude and main always, the rest by what the plan writes. */
export interface EngineParts {
  docker: boolean;
  containerd: boolean;
  /** The ECR token refresher (a containerd file has ECR mirrors). */
  ecr: boolean;
  /** Drop-in files of other runtimes (or plain files). */
  files: boolean;
  /** The node watchdog (the plan has a watch plan). */
  watchdog: boolean;
  /** containerd's hosts folder shared with Spegel (`containerd.spegel`). */
  spegel?: boolean;
}

/** Each engine part: its sh source and the helper programs it writes into $WORK (name there, source file). */
const PARTS: Array<{ part: keyof EngineParts | "always"; sh?: string; helpers: Array<[string, string]> }> = [
  { part: "always", sh: "prelude.sh", helpers: [] },
  {
    part: "docker",
    sh: "docker.sh",
    helpers: [
      ["merge.py", "merge.py"],
      ["merge.jq", "merge.jq"],
    ],
  },
  {
    part: "containerd",
    sh: "containerd.sh",
    helpers: [
      ["inspect.py", "inspect.py"],
      ["scan.awk", "scan.awk"],
    ],
  },
  // containerd always needs ecr.sh: a policy without ECR mirrors removes a refresher an earlier one installed.
  { part: "containerd", sh: "ecr.sh", helpers: [] },
  { part: "spegel", sh: "spegel.sh", helpers: [] },
  {
    part: "ecr",
    helpers: [
      ["ecr-refresh", "ecr-token-refresh.sh"],
      ["ecr-service", "ecr-token.service"],
      ["ecr-timer", "ecr-token.timer"],
    ],
  },
  { part: "files", sh: "files.sh", helpers: [] },
  // Always: a plan without the watchdog removes the service an earlier one installed.
  { part: "always", sh: "watchdog.sh", helpers: [] },
  {
    part: "watchdog",
    sh: "watch.sh",
    helpers: [
      ["watchdog.py", "watchdog.py"],
      ["wd_plan.py", "wd_plan.py"],
      ["wd_state.py", "wd_state.py"],
      ["wd_probe.py", "wd_probe.py"],
      ["wd_files.py", "wd_files.py"],
      ["wd_dog.py", "wd_dog.py"],
      ["check.py", "check.py"],
      ["watchdog-service", `${WATCH_UNIT}.service`],
    ],
  },
  { part: "always", sh: "main.sh", helpers: [] },
];

/**
 * The sh parts without their indentation: sh does not need it, and it is about 3% of the gzipped engine, which user
 * data carries. Safe for these sources: their only multi-line strings are Python programs written from column 0.
 */
function unindent(text: string): string {
  return text.replace(/^[ \t]+/gm, "");
}

/** The sh parts' end-of-line comments after a function's `{` or an `if ...; then` (no quote in the latter). */
function stripLineEndComments(text: string): string {
  return text.replace(/^(\w+\(\) \{) # .*$/gm, "$1").replace(/^(\s*if [^'"\n]*; then) # [^'"\n]*$/gm, "$1");
}

/** Full-line comments of the node sources (not the shebang or shellcheck directives): the sources document, the
 * rendered engine stays small enough for user data. */
function stripComments(text: string): string {
  return text
    .split("\n")
    .filter((line) => !/^\s*#(?!!| shellcheck )/.test(line))
    .join("\n");
}

const sources = new Map<string, string>();
/** The text of a file of the node code (`node/NAME`), as shipped in the package. */
export function nodeSource(name: string): string {
  let text = sources.get(name);
  if (text === undefined) {
    text = readFileSync(join(__dirname, "node", name), "utf8");
    sources.set(name, text);
  }
  return text;
}

const SAFE_PATH = /^\/[A-Za-z0-9._+@:[\]/-]+$/;
const MAX_LOCKS = 7; // one file descriptor per locked folder, 3 to 9

// The data part is read back with `read`: on top of the node-file check, a path keeps to characters that need no
// quoting thought (IPv6 hosts appear as [::1]:5000 folders; the script runs with globbing off).
function checkPath(field: string, path: unknown): string {
  checkNodePath(field, path);
  if (typeof path !== "string" || !SAFE_PATH.test(path)) {
    throw new PolicyError(
      field,
      path,
      "not a plain absolute file path",
      'use an absolute path of letters, digits and ._-+@:[] without . or .. parts, e.g. "/etc/containerd/certs.d/docker.io/hosts.toml"',
    );
  }
  return path;
}

function checkFile(field: string, file: NodeFile, seen: Set<string>): void {
  checkNodeFile(field, file);
  const path = checkPath(`${field}.path`, file.path);
  if (seen.has(path)) {
    throw new PolicyError(`${field}.path`, path, "the same file is listed twice", "list each node file once");
  }
  seen.add(path);
  const reserved = [".registry-mirrors.bak", ".registry-mirrors.created", ".registry-mirrors.keys", TEMPLATE_SUFFIX];
  if (reserved.some((suffix) => path.endsWith(suffix)) || path.startsWith(`${ECR_DIR}/`)) {
    throw new PolicyError(
      `${field}.path`,
      path,
      "this name is reserved for the script's backups and its ECR token refresher",
      "choose another file name",
    );
  }
}

/** A word for the data part: as is when it needs no quoting, else single-quoted. */
function word(value: string): string {
  return /^[A-Za-z0-9._/@:+=,[\]-]+$/.test(value) ? value : shellQuote(value);
}

function heredoc(command: string, content: string): string {
  const delimiter = heredocDelimiter(content);
  return `${command} <<'${delimiter}'\n${content}${delimiter}`;
}

const engines = new Map<string, string>();
/**
 * The engine: the node code a plan needs and the constants from the library's tables. The same bytes for every policy
 * with the same parts; it changes only when the library does (or the plan starts or stops writing a runtime's files).
 */
export function renderNodeEngine(parts: EngineParts): string {
  const used = PARTS.filter((p) => p.part === "always" || parts[p.part]);
  const names = [...new Set(used.filter((p) => p.part !== "always").map((p) => p.part))];
  const key = names.join(" ");
  const cached = engines.get(key);
  if (cached !== undefined) return cached;
  const list = (keys: readonly string[]) => shellQuote(` ${keys.join(" ")} `);
  const empty = Object.keys(DOCKER_RELOAD_EMPTY_VALUES)
    .sort()
    .map((k) => `${k}=${JSON.stringify(DOCKER_RELOAD_EMPTY_VALUES[k])}`);
  const constants = [
    ...(parts.docker
      ? [
          `DOCKER_RELOADABLE=${list(DOCKER_RELOADABLE_KEYS)}`,
          `DOCKER_RESETS=${list(DOCKER_RELOAD_RESETS_WHEN_REMOVED)}`,
          `DOCKER_EMPTY=${list(empty)}`,
        ]
      : []),
    ...(parts.containerd
      ? [
          `CTD_TEMPLATE=${TEMPLATE_SUFFIX}`,
          ...([1, 2, 3] as const).map((v) => `CTD_TABLE_${v}=${shellQuote(CONTAINERD_REGISTRY_TABLES[v])}`),
          `ECR_NODE_DIR=${ECR_DIR}`,
          `ECR_UNIT=${ECR_UNIT}`,
        ]
      : []),
    `FILE_GROUPS=${shellQuote([...FILE_GROUPS, "files"].join(" "))}`,
    `WATCH_NODE_DIR=${WATCH_DIR}`,
    `WATCH_UNIT=${WATCH_UNIT}`,
  ];
  const groupAction = [
    "group_action() {",
    "  case $1 in",
    ...FILE_GROUPS.map((group) => `    ${group}) echo ${[nodeAction(group), ...RUNTIMES[group].units].join(" ")} ;;`),
    "    *) echo none ;;",
    "  esac",
    "}",
  ];
  const ecrFiles = [
    "ecr-refresh 755 ecr-token-refresh",
    `ecr-service 644 ${ECR_UNIT}.service`,
    `ecr-timer 644 ${ECR_UNIT}.timer`,
    "ecr-list 644 ecr-token.list",
  ];
  const helpers = used.flatMap((p) => p.helpers);
  const engineFiles = [
    "engine_files() {",
    ...(helpers.length === 0 && !parts.ecr ? ["  :"] : []),
    ...helpers.map(([name, source]) => heredoc(`  cat >"$WORK/${name}"`, stripComments(nodeSource(source)))),
    ...(parts.ecr ? [heredoc(`  cat >"$WORK/ecr.files"`, `${ecrFiles.join("\n")}\n`)] : []),
    "}",
  ];
  // The sh parts' shellcheck directives become one line at the top (each source is checked with its own).
  const codes = new Set(["SC2317"]);
  const sh = used.flatMap((p) => {
    if (!p.sh) return [];
    const text = stripComments(nodeSource(p.sh)).replace(
      /^\s*# shellcheck (?:disable=(\S+)|shell=sh).*\n/gm,
      (_, c) => {
        for (const code of c?.split(",") ?? []) codes.add(code);
        return "";
      },
    );
    return [unindent(stripLineEndComments(text)).trimEnd()];
  });
  const engine = [
    "#!/bin/sh",
    `# shellcheck disable=${[...codes].sort().join(",")}`,
    "# Rendered by registry-mirrors (do not edit; change the policy and render again).",
    `# registry-mirrors node engine ${ENGINE_VERSION}${key ? ` (${key})` : ""}`,
    "# sh apply-node-config.sh [apply|restore|watch [--once]|check [--readiness]]; env NODE_ROOT RUNTIME_CTL VERIFY_SECONDS",
    "# LOCK_SECONDS DOCKER_HOST CONTAINERD_ADDRESS; docs: components/core/node/ in the package",
    constants.join("\n"),
    ...sh,
    groupAction.join("\n"),
    engineFiles.join("\n"),
    "",
  ].join("\n");
  engines.set(key, engine);
  return engine;
}

/** Checks the plan and renders the data part: the plan's settings and files, ending with `main "$@"`. */
export function renderNodeData(plan: NodeApplyPlan): string {
  checkRestartPolicy(plan.restartPolicy);
  const seen = new Set<string>(["/etc/docker/daemon.json"]);
  const written: string[] = [];
  const lines: string[] = [];

  if (plan.docker) {
    for (const key of Object.keys(plan.docker.desired)) {
      if (!DOCKERD_KEYS[key]) {
        throw new PolicyError(
          `docker.desired["${key}"]`,
          key,
          "dockerd does not know this daemon.json key",
          "render the Docker settings with renderDocker, which validates them",
        );
      }
    }
    written.push("/etc/docker/daemon.json");
    lines.push(
      heredoc("  node_file docker /etc/docker/daemon.json 644", `${JSON.stringify(plan.docker.desired, null, 2)}\n`),
    );
  }

  if (plan.containerd) {
    const dir = checkPath("containerd.hostsDir", plan.containerd.hostsDir);
    const spegel = plan.containerd.spegel;
    if (spegel !== undefined && typeof spegel !== "boolean") {
      throw new PolicyError(
        "containerd.spegel",
        spegel,
        "must be true or false",
        "write true when Spegel runs on the nodes",
      );
    }
    seen.add("/etc/containerd/config.toml");
    written.push("/etc/containerd/config.toml");
    lines.push(`  containerd_hosts_dir ${word(dir)}`);
    const byPath = plan.containerd.files.map((file, i) => [file, i] as const);
    byPath.sort(([a], [b]) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const [file, i] of byPath) {
      const field = `containerd.files[${i}]`;
      checkFile(field, file, seen);
      if (!file.path.startsWith(`${dir}/`)) {
        throw new PolicyError(
          `${field}.path`,
          file.path,
          `not under the hosts folder ${dir}`,
          `put hosts.toml files at ${dir}/<registry>/hosts.toml`,
        );
      }
      const tokens = ecrTokens(field, file);
      if (tokens.length > 0 && spegel === true) {
        throw new PolicyError(
          `${field}.ecrAuth`,
          file.path,
          "Spegel copies each mirror's headers once, so the ECR token the node refreshes would expire in its copy",
          "leave ECR mirrors out of a policy for nodes that run Spegel",
        );
      }
      const command = `  node_file containerd ${word(file.path)} ${file.mode.toString(8)}${tokens.length > 0 ? " ecr" : ""}`;
      lines.push(heredoc(command, file.content));
      for (const [region, table] of tokens) lines.push(`  ecr_token ${region} ${word(file.path)} ${word(table)}`);
      written.push(file.path);
    }
  }

  for (const [i, file] of (plan.files ?? []).entries()) {
    checkFile(`files[${i}]`, file, seen);
    if (file.runtime !== undefined && !FILE_GROUPS.includes(file.runtime)) {
      throw new PolicyError(
        `files[${i}].runtime`,
        file.runtime,
        "not a runtime that reads a drop-in file",
        `use one of ${FILE_GROUPS.join(", ")}, or leave it out`,
      );
    }
  }
  // Grouped by runtime in the order the script applies them; plain files last.
  for (const group of [...FILE_GROUPS, undefined]) {
    for (const file of (plan.files ?? []).filter((f) => f.runtime === group)) {
      lines.push(heredoc(`  node_file ${group ?? "files"} ${word(file.path)} ${file.mode.toString(8)}`, file.content));
      written.push(file.path);
    }
  }

  if (plan.watch !== undefined && plan.containerd?.spegel === true) {
    throw new PolicyError(
      "watch",
      "a watchdog plan",
      "the watchdog rewrites the live hosts.toml files, which Spegel owns when containerd spegel is set",
      "leave the watchdog out on nodes that run Spegel (Spegel's own endpoint already falls through in 200 ms)",
    );
  }
  if (plan.watch !== undefined) lines.push(heredoc("  watch_plan", checkWatchPlan(plan.watch)));

  const folders = [...new Set(written.map(lockFolder))].sort();
  if (folders.length > MAX_LOCKS) {
    throw new PolicyError(
      "files",
      folders.join(" "),
      `the script locks each top folder it writes, at most ${MAX_LOCKS}`,
      "keep the node files in fewer top folders (such as /etc/docker, /etc/containerd)",
    );
  }
  return [
    DATA_MARKER,
    "node_data() {",
    `  restart_policy ${plan.restartPolicy}`,
    ...(folders.length > 0 ? [`  lock_folders ${folders.map(word).join(" ")}`] : []),
    ...lines,
    "}",
    'main "$@"',
    "",
  ].join("\n");
}

/**
 * Renders the node apply script (`sh apply-node-config.sh [apply|restore]`): the engine, then the data part. It
 * merges the Docker keys into the node's daemon.json keeping every other key, writes each file atomically with one
 * backup, does nothing when nothing changed, reloads (or restarts, when needed and allowed) only the runtimes whose
 * files changed, checks they came back, and puts the previous files back when they did not. Deterministic.
 *
 * State it leaves on the node, beside each file: `FILE.registry-mirrors.bak` (the node's own version, kept from the
 * first change on; `FILE.registry-mirrors.created` when there was none), `daemon.json.registry-mirrors.keys` (the
 * daemon.json keys it manages) and `<hostsDir>/.registry-mirrors.files` (the hosts.toml files it wrote). For a
 * hosts.toml with ECR mirrors it writes `hosts.toml.registry-mirrors.template` and installs the ECR token refresher
 * in /etc/containerd/registry-mirrors with a systemd timer. It leaves the empty lock file `.registry-mirrors.lock` in
 * each top folder it writes; a run waits for another one on the same folder.
 */
export function renderApplyScript(plan: NodeApplyPlan): string {
  const data = renderNodeData(plan);
  return renderNodeEngine(engineParts(plan)) + data;
}

/** The engine parts a (checked) plan needs. */
export function engineParts(plan: NodeApplyPlan): EngineParts {
  const containerdFiles = plan.containerd?.files ?? [];
  return {
    docker: plan.docker !== undefined,
    containerd: plan.containerd !== undefined,
    ecr: containerdFiles.some((f) => (f.ecrAuth ?? []).length > 0),
    files: (plan.files ?? []).length > 0,
    watchdog: plan.watch !== undefined,
    ...(plan.containerd?.spegel === true ? { spegel: true } : {}),
  };
}

/** Splits an apply script into its engine and data parts (undefined when it has no data marker). */
export function splitApplyScript(script: string): { engine: string; data: string } | undefined {
  const at = script.indexOf(`\n${DATA_MARKER}\n`);
  if (at < 0) return undefined;
  return { engine: script.slice(0, at + 1), data: script.slice(at + 1) };
}

/** The engine version an apply script names (`# registry-mirrors node engine X`), if any. */
export function engineVersionOf(script: string): string | undefined {
  return /^# registry-mirrors node engine (\S+)(?: \(.*\))?$/m.exec(script)?.[1];
}

/** The file groups and plain files by runtime, for callers that tag files (node-config). */
export function fileGroupOf(runtime: RuntimeName | undefined): FileGroup | undefined {
  return FILE_GROUPS.find((g) => g === runtime);
}

/** The watchdog plan an apply script carries in its data part (`watch_plan`), parsed; undefined without one. */
export function watchPlanOf(script: string): { stateDir: string; metricsFile: string | null } | undefined {
  const data = splitApplyScript(script)?.data;
  const start = data ? /^ {2}watch_plan <<'(\S+)'\n/m.exec(data) : null;
  if (!data || !start) return undefined;
  const from = start.index + start[0].length;
  const end = data.indexOf(`\n${start[1]}\n`, from - 1);
  return end < 0 ? undefined : JSON.parse(data.slice(from, end + 1));
}
