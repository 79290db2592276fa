/**
 * The node engine: the sh, Python, jq and awk sources in `node/` a plan needs, plus constants from the library's
 * tables. It changes only with the library version; the contract with the data part is at the top of each file in
 * `node/`.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ECR_DIR, ECR_UNIT, TEMPLATE_SUFFIX } from "./node-ecr";
import { FILE_GROUPS, type NodeApplyPlan } from "./node-plan";
import { WATCH_DIR, WATCH_UNIT } from "./node-watch";
import {
  DOCKER_RELOADABLE_KEYS,
  DOCKER_RELOAD_EMPTY_VALUES,
  DOCKER_RELOAD_RESETS_WHEN_REMOVED,
} from "./render/docker-keys";
import { nodeAction, RUNTIMES } from "./runtimes";
import { heredoc, shellQuote } from "./shell";

/** The library version the engine belongs to (kept equal to package.json's by a test). */
export const ENGINE_VERSION = "0.1.0";

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

/** The header line naming the engine: `# registry-mirrors node engine VERSION (PARTS)`. */
const ENGINE_HEADER = /^# registry-mirrors node engine (\S+)(?: \((.*)\))?$/m;

/** The engine version an apply script names (`# registry-mirrors node engine X`), if any. */
export function engineVersionOf(script: string): string | undefined {
  return ENGINE_HEADER.exec(script)?.[1];
}

/** What an engine's text says of itself (its header's version and parts) and its sha256: how reviews and engine URLs name it. */
export function engineFacts(engine: string): { version?: string; parts: string[]; sha256: string } {
  const header = ENGINE_HEADER.exec(engine);
  return {
    ...(header ? { version: header[1] } : {}),
    parts: header?.[2] ? header[2].split(" ") : [],
    sha256: createHash("sha256").update(engine).digest("hex"),
  };
}
