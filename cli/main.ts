import { existsSync, mkdirSync, readFileSync, realpathSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig["options"]>;
import { parse as parseYaml } from "yaml";
import { PolicyError, redact } from "../components/core/errors";
import { DIFF_HELP, diffCommand, UnreadableInput } from "./diff";
import { CI_RENDER_HELP, CI_RENDER_OPTIONS, renderCi } from "./render-ci";
import { DOCTOR_HELP, doctorCommand } from "./doctor";
import { checkInsecureRange, checkKnownFields, parseMirrorUrl } from "../components/core/policy";
import { type DockerSettingsInput, parseKeyValue } from "../components/core/render/docker";
import {
  type NodeConfigInput,
  nodeConfigUserData,
  renderNodeConfig,
  type RenderedNodeConfig,
} from "../components/core/render/node-config";
import { RUNTIME_NAMES, type RuntimeName } from "../components/core/render/types";
import { userDataSizeWarning } from "../components/core/userdata";
import { defaultEcrPullThrough } from "../components/core/regions/aws";
import type { CloudName, MirrorInput, NetworkKind } from "../components/core/regions/catalog";
import { formatRegions } from "../components/core/regions/list";
import { formatProbeTable, probeMirrors, probeTargets, type ProbeTarget } from "../components/core/regions/probe";
import { type RegionSelection, selectMirrors } from "../components/core/regions/select";

/** Thrown for a usage problem: printed without a stack, exit code 2. */
export class UsageError extends Error {}

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const consoleIo: Io = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

const MAIN_HELP = `registry-mirrors — render container registry mirror configuration for every runtime

Usage:
  registry-mirrors render   [flags]   write node files, the apply script and cloud-init user data
  registry-mirrors validate [flags]   check the same flags/policy and print warnings, write nothing
  registry-mirrors regions  [--cloud aws|alicloud]
                                      list the built-in regions and the endpoints derived for each
  registry-mirrors probe    (--cloud C --region R [region flags] | --mirror URL ...) [--timeout MS] [--concurrency N]
                                      GET /v2/ on each mirror; print them best first with latency or failure
  registry-mirrors diff     --preview preview.json | OLD NEW   [--format markdown|text]
                                      the node file changes of a \`pulumi preview --json\` (or between two payloads),
                                      as unified diffs for a pull request comment; exit 0 whatever changed
  registry-mirrors doctor   --node-root DIR (--script FILE | [render flags])
                                      check a node's files under DIR against the policy, without touching
                                      a runtime; one line per finding with its fix, exit 1 on a problem
  registry-mirrors help [command]

Run "registry-mirrors render --help" for the flags.`;

const RENDER_HELP = `Usage: registry-mirrors render [flags] --out DIR

Mirrors for a cloud region (built-in catalog; see "registry-mirrors regions"):
  --cloud aws|alicloud          the nodes' cloud; needs --region
  --region R                    e.g. us-west-2, cn-north-1, cn-hangzhou
  --registry REG                registry to mirror, repeatable (default docker.io)
  --network vpc|public          vpc (default): private in-region endpoints first; public: none
  --account-id ID               AWS account (12 digits) whose ECR pull-through cache rules to use
  --accelerator-id ID           the Alibaba Cloud account's Docker Hub accelerator, https://<id>.mirror.aliyuncs.com
  With --cloud, --mirror and --registry-mirror become fallbacks tried after the region's endpoints.

Mirror policy:
  --mirror URL                  Docker Hub mirror, repeatable, tried in the order given
  --registry-mirror REG=URL     mirror for any registry (docker.io, ghcr.io, quay.io, host:port, or * for every
                                other registry), repeatable, order kept; an http:// URL means plain HTTP
  --policy FILE                 JSON or YAML file with the component's arguments:
                                { mirrors, policy: { registries, allowMirrorPaths }, docker, runtimes,
                                  restartPolicy, runtimeOptions }; flags add to it
  --allow-mirror-paths          accept mirror URLs with a path (dockerd 24.0.6 and older refuse them)
  --allow-deprecated-mirrors    keep a known-dead public mirror (registry.docker-cn.com, ...) with a warning
                                instead of refusing it
  --no-upstream REG             do not fall back to REG's upstream after its mirrors (repeatable)

Runtimes:
  --runtime NAME                repeatable; one of ${RUNTIME_NAMES.join(", ")}
                                (default: docker and containerd)
  --restart-policy P            never (default: reload only) | if-needed (restart a runtime when a changed
                                setting requires it)

Docker daemon settings:
  --insecure-registry H|CIDR    host:port or CIDR (10.0.0.0/8), repeatable; a CIDR over public address space
                                (0.0.0.0/0, ::/0, ...) is refused unless --allow-public-insecure-registries
  --exec-opt X                  e.g. native.cgroupdriver=systemd, repeatable
  --log-driver D                e.g. json-file
  --log-opt k=v                 e.g. max-size=100m, repeatable
  --live-restore                keep containers running while dockerd restarts
  --max-concurrent-downloads N

${CI_RENDER_HELP}

Output:
  --out DIR                     where to write (default ./out):
                                  DIR/node/<path on the node>   e.g. DIR/node/etc/docker/daemon.json
                                  DIR/apply-node-config.sh      the node apply script
                                  DIR/user-data.yaml            #cloud-config running the script
                                  DIR/bottlerocket.toml         Bottlerocket settings (with --runtime bottlerocket)
  -h, --help                    this help

Errors go to stderr with the field, the value and the fix; nothing is written when an input is invalid.`;

function fail(message: string): never {
  throw new UsageError(message);
}

/** Pseudo filesystems (proc, sysfs, cgroup, cgroup2, debugfs, securityfs, devpts) by their statfs magic. */
const SPECIAL_FS = new Set([0x9fa0, 0x62656572, 0x27e0eb, 0x63677270, 0x64626720, 0x73636673, 0x1cd1]);

/** --out: a folder or a path still to create, on a real filesystem; refused before anything is written. */
function checkOutDir(out: string): string {
  if (out.trim() === "") fail("--out: an empty folder name; nothing was written. Fix: give a folder, e.g. --out out");
  let probe = resolve(out);
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  const real = realpathSync(probe);
  if (existsSync(resolve(out)) && !statSync(resolve(out)).isDirectory())
    fail(
      `--out: ${out} exists and is not a folder; nothing was written. Fix: give a folder (it is created when missing)`,
    );
  if (/^\/(proc|sys|dev)(\/|$)/.test(real) || SPECIAL_FS.has(Number(statfsSync(real).type)))
    fail(
      `--out: ${out} is on a special filesystem (${real}); nothing was written. Fix: give a folder on a disk, e.g. --out out`,
    );
  return out;
}

function readPolicyFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    fail(`--policy: cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    // JSON.parse keeps the last of two equal keys silently; YAML's parser (a JSON superset) refuses them.
    parsed = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true });
    if (file.endsWith(".json")) parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new PolicyError(
      "--policy",
      file,
      `not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(err as Error).message.split("\n")[0]}`,
      "fix the syntax (a .json file is read as JSON, anything else as YAML)",
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new PolicyError(
      "--policy",
      file,
      "the file must hold an object",
      'write e.g. { "mirrors": ["https://mirror.example.com"] }',
    );
  }
  checkKnownFields("--policy", parsed, ["mirrors", "policy", "docker", "runtimes", "restartPolicy", "runtimeOptions"]);
  return parsed as Record<string, unknown>;
}

const REGION_OPTIONS = {
  cloud: { type: "string" },
  region: { type: "string" },
  registry: { type: "string", multiple: true },
  network: { type: "string" },
  "account-id": { type: "string" },
  "accelerator-id": { type: "string" },
  "allow-deprecated-mirrors": { type: "boolean" },
  "allow-public-insecure-registries": { type: "boolean" },
} as const;

const RENDER_OPTIONS = {
  ...REGION_OPTIONS,
  ...CI_RENDER_OPTIONS,
  mirror: { type: "string", multiple: true },
  "registry-mirror": { type: "string", multiple: true },
  "no-upstream": { type: "string", multiple: true },
  policy: { type: "string" },
  "allow-mirror-paths": { type: "boolean" },
  runtime: { type: "string", multiple: true },
  "restart-policy": { type: "string" },
  "insecure-registry": { type: "string", multiple: true },
  "exec-opt": { type: "string", multiple: true },
  "log-driver": { type: "string" },
  "log-opt": { type: "string", multiple: true },
  "live-restore": { type: "boolean" },
  "max-concurrent-downloads": { type: "string" },
  out: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type RenderValues = ReturnType<typeof parseRenderArgs>["values"];

function parseRenderArgs(argv: string[]) {
  return parseOrFail(argv, RENDER_OPTIONS, "render");
}

type RegionValues = {
  [K in keyof typeof REGION_OPTIONS]?: (typeof REGION_OPTIONS)[K]["type"] extends "boolean"
    ? boolean
    : (typeof REGION_OPTIONS)[K] extends { multiple: true }
      ? string[]
      : string;
};

/** Picks the region's mirrors from the built-in catalog; `fallbacks` come from --mirror / --registry-mirror. */
export function selectionFromFlags(
  values: RegionValues,
  fallbacks: Record<string, MirrorInput[]> = {},
  allowMirrorPaths = false,
): RegionSelection {
  if (values.region === undefined) fail('--cloud needs --region (run "registry-mirrors regions" for the list)');
  const registries = values.registry?.length ? values.registry : undefined;
  const wanted = registries ?? [...new Set(["docker.io", ...Object.keys(fallbacks)])];
  return selectMirrors({
    cloud: values.cloud as CloudName,
    region: values.region,
    registries,
    network: values.network as NetworkKind | undefined,
    awsAccountId: values["account-id"],
    ecrPullThrough: values["account-id"] !== undefined ? defaultEcrPullThrough(wanted) : undefined,
    alicloudAcceleratorId: values["accelerator-id"],
    fallbacks: Object.keys(fallbacks).length ? fallbacks : undefined,
    allowDeprecatedMirrors: values["allow-deprecated-mirrors"],
    allowMirrorPaths,
    allowPublicInsecureRegistries: values["allow-public-insecure-registries"],
  });
}

function parseRegistryMirror(spec: string): [string, string] {
  const eq = spec.indexOf("=");
  if (eq <= 0 || eq === spec.length - 1) {
    throw new PolicyError(
      "--registry-mirror",
      spec,
      "expected REGISTRY=URL",
      "write e.g. --registry-mirror ghcr.io=https://ghcr-mirror.example.com (or *=URL for every other registry)",
    );
  }
  return [spec.slice(0, eq).trim(), spec.slice(eq + 1).trim()];
}

/** Turns the render flags (and an optional policy file) into the input of `renderNodeConfig`. */
export function nodeConfigFromFlags(
  values: RenderValues,
): NodeConfigInput & { selection?: RegionSelection; flagWarnings?: string[] } {
  const file = values.policy ? readPolicyFile(values.policy) : {};
  const input = { ...file } as NodeConfigInput &
    Record<string, unknown> & { selection?: RegionSelection; flagWarnings?: string[] };
  const allowPublicInsecure = values["allow-public-insecure-registries"] ?? false;

  if (values.cloud !== undefined) {
    if (file.policy !== undefined || file.mirrors !== undefined) {
      throw new PolicyError(
        "--cloud",
        values.cloud,
        "the policy file already sets the mirrors",
        "use either --cloud/--region or a policy file with mirrors/policy, not both",
      );
    }
    const fallbacks: Record<string, MirrorInput[]> = {};
    const add = (registry: string, url: MirrorInput) => {
      fallbacks[registry] = [...(fallbacks[registry] ?? []), url];
    };
    for (const url of values.mirror ?? []) add("docker.io", url);
    for (const spec of values["registry-mirror"] ?? []) {
      const [registry, url] = parseRegistryMirror(spec);
      add(registry, url);
    }
    const selection = selectionFromFlags(values, fallbacks, values["allow-mirror-paths"] ?? false);
    input.selection = selection;
    input.policy = selection.policy;
    values = { ...values, mirror: undefined, "registry-mirror": undefined };
    if (selection.insecureRegistries.length) {
      values = {
        ...values,
        "insecure-registry": [...selection.insecureRegistries, ...(values["insecure-registry"] ?? [])],
      };
    }
  } else {
    for (const flag of ["region", "network", "account-id", "accelerator-id"] as const) {
      if (values[flag] !== undefined) fail(`--${flag} needs --cloud aws|alicloud`);
    }
  }

  if (values.mirror?.length) input.mirrors = [...((file.mirrors as string[] | undefined) ?? []), ...values.mirror];

  const registryMirrors = values["registry-mirror"] ?? [];
  const noUpstream = values["no-upstream"] ?? [];
  const allowDeprecated = values.cloud === undefined && values["allow-deprecated-mirrors"];
  if (registryMirrors.length || noUpstream.length || values["allow-mirror-paths"] || allowDeprecated) {
    const policy = { ...((input.policy as NodeConfigInput["policy"]) ?? { registries: {} }) };
    const registries = { ...(policy.registries ?? {}) };
    for (const spec of registryMirrors) {
      const [registry, url] = parseRegistryMirror(spec);
      const entry = registries[registry] ?? { mirrors: [] };
      registries[registry] = { ...entry, mirrors: [...entry.mirrors, url] };
    }
    for (const registry of noUpstream) {
      const entry = registries[registry];
      if (!entry)
        throw new PolicyError(
          "--no-upstream",
          registry,
          "no mirrors are given for this registry",
          `add --registry-mirror ${registry}=URL first`,
        );
      registries[registry] = { ...entry, upstreamFallback: false };
    }
    policy.registries = registries;
    if (values["allow-mirror-paths"]) policy.allowMirrorPaths = true;
    if (allowDeprecated) policy.allowDeprecatedMirrors = true;
    input.policy = policy;
  }

  if (values.runtime?.length) {
    for (const r of values.runtime) {
      if (!RUNTIME_NAMES.includes(r as RuntimeName)) {
        throw new PolicyError("--runtime", r, "unknown runtime", `use one of ${RUNTIME_NAMES.join(", ")}`);
      }
    }
    input.runtimes = values.runtime as RuntimeName[];
  }
  if (values["restart-policy"] !== undefined)
    input.restartPolicy = values["restart-policy"] as NodeConfigInput["restartPolicy"];

  if (
    file.docker !== undefined &&
    (typeof file.docker !== "object" || file.docker === null || Array.isArray(file.docker))
  )
    throw new PolicyError(
      "docker",
      file.docker,
      "Docker settings must be an object",
      'write e.g. { "execOpts": ["native.cgroupdriver=systemd"] }',
    );
  const docker: DockerSettingsInput = { ...((file.docker as DockerSettingsInput | undefined) ?? {}) };
  let dockerFlags = false;
  if (values["insecure-registry"]?.length) {
    docker.insecureRegistries = [...(docker.insecureRegistries ?? []), ...values["insecure-registry"]];
    dockerFlags = true;
  }
  if (values["exec-opt"]?.length) {
    docker.execOpts = [...(docker.execOpts ?? []), ...values["exec-opt"]];
    dockerFlags = true;
  }
  if (values["log-driver"] !== undefined) {
    docker.logDriver = values["log-driver"];
    dockerFlags = true;
  }
  if (values["log-opt"]?.length) {
    const logOpts: Record<string, string> = { ...(docker.logOpts ?? {}) };
    for (const kv of values["log-opt"]) {
      const [k, v] = parseKeyValue("--log-opt", kv);
      logOpts[k] = v;
    }
    docker.logOpts = logOpts;
    dockerFlags = true;
  }
  if (values["live-restore"]) {
    docker.liveRestore = true;
    dockerFlags = true;
  }
  if (values["max-concurrent-downloads"] !== undefined) {
    const n = Number(values["max-concurrent-downloads"]);
    if (!Number.isInteger(n) || n < 1) {
      throw new PolicyError(
        "--max-concurrent-downloads",
        values["max-concurrent-downloads"],
        "must be a positive whole number",
        "write e.g. --max-concurrent-downloads 6",
      );
    }
    docker.maxConcurrentDownloads = n;
    dockerFlags = true;
  }
  if (dockerFlags || file.docker !== undefined) input.docker = docker;
  // Checked here too, so the error names the flag or the policy file's field; Docker's settings then take the override.
  const fromFile = Array.isArray(file.docker && (file.docker as DockerSettingsInput).insecureRegistries)
    ? ((file.docker as DockerSettingsInput).insecureRegistries as unknown[]).length
    : 0;
  const warnings: string[] = [];
  (Array.isArray(docker.insecureRegistries) ? docker.insecureRegistries : []).forEach((entry, i) => {
    const field = i < fromFile ? `--policy docker.insecureRegistries[${i}]` : "--insecure-registry";
    const kept = checkInsecureRange(field, entry, {
      allowPublic: allowPublicInsecure,
      overrideName: "--allow-public-insecure-registries",
    });
    if (kept) warnings.push(kept);
  });
  if (warnings.length) {
    input.flagWarnings = warnings;
    docker.allowPublicInsecureRegistries = true;
  }
  return input;
}

/** Every file `render` writes, by path relative to the output folder. */
export function outputFiles(rendered: RenderedNodeConfig): Record<string, { content: string; mode: number }> {
  const files: Record<string, { content: string; mode: number }> = {};
  for (const [path, content] of Object.entries(rendered.files)) {
    files[join("node", path)] = { content, mode: 0o644 };
  }
  files["apply-node-config.sh"] = { content: rendered.applyScript, mode: 0o755 };
  const userData = nodeConfigUserData(rendered);
  if (userData !== undefined) files["user-data.yaml"] = { content: userData, mode: 0o644 };
  if (rendered.bottlerocketSettings !== undefined)
    files["bottlerocket.toml"] = { content: rendered.bottlerocketSettings, mode: 0o644 };
  return files;
}

function render(argv: string[], io: Io, write: boolean): number {
  const { values } = parseRenderArgs(argv);
  if (values.help) {
    io.out(RENDER_HELP);
    return 0;
  }
  if (values.ci !== undefined) return renderCi(values, io, write, nodeConfigFromFlags);
  const { selection, flagWarnings, ...input } = nodeConfigFromFlags(values);
  const rendered = renderNodeConfig(input);
  for (const w of flagWarnings ?? []) io.err(`warning: ${redact(w)}`);
  if (selection) {
    io.out(`${selection.cloud} ${selection.region} (${selection.regionName}):`);
    for (const reason of selection.reasons) io.out(`  ${reason}`);
    for (const w of selection.warnings) io.err(`warning: ${w}`);
  }
  // The ranges kept by the flag were reported under the flag's name above.
  const kept = (w: string) =>
    flagWarnings !== undefined && w.includes("kept because docker.allowPublicInsecureRegistries");
  for (const w of rendered.warnings) if (!kept(w)) io.err(`warning: ${w}`);
  if (!write) {
    io.out(
      `valid: ${rendered.runtimes.join(", ")}; ${rendered.policy.registries.map((r) => `${r.registry} (${r.endpoints.length} mirror${r.endpoints.length === 1 ? "" : "s"})`).join(", ")}`,
    );
    return 0;
  }
  const outDir = checkOutDir(values.out ?? "out");
  const files = outputFiles(rendered);
  const userData = files["user-data.yaml"];
  const tooBig = userData && userDataSizeWarning(join(outDir, "user-data.yaml"), userData.content);
  if (tooBig) io.err(`warning: ${tooBig}`);
  for (const path of Object.keys(files)) {
    const target = join(outDir, path);
    if (existsSync(target) && !statSync(target).isFile())
      fail(`--out: ${target} exists and is not a file; nothing was written. Fix: move it away or choose another --out`);
  }
  for (const [path, file] of Object.entries(files)) {
    const target = join(outDir, path);
    try {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, file.content, { mode: file.mode });
    } catch (err) {
      fail(`--out: cannot write ${target} (${(err as Error).message}). Fix: choose a folder you can write`);
    }
    io.out(`wrote ${target}`);
  }
  if (rendered.secret)
    io.err(
      "note: a rendered file holds a credential; no user data was written (deliver it with the Kubernetes DaemonSet)",
    );
  return 0;
}

function regions(argv: string[], io: Io): number {
  const { values } = parseOrFail(argv, { cloud: { type: "string" }, help: { type: "boolean", short: "h" } }, "regions");
  if (values.help) {
    io.out(
      "Usage: registry-mirrors regions [--cloud aws|alicloud]\n\nLists every built-in region with the endpoints the library derives for it.",
    );
    return 0;
  }
  io.out(formatRegions(values.cloud as CloudName | undefined));
  return 0;
}

const PROBE_HELP = `Usage: registry-mirrors probe (--cloud C --region R [--registry REG] [--network N] [--account-id ID]
                              [--accelerator-id ID] | --mirror URL ...) [--timeout MS] [--concurrency N]

Sends GET /v2/ to each mirror (200 or 401 means alive), at most --concurrency at a time (default 4), each
bounded by --timeout milliseconds (default 3000), and prints them best first with latency or failure.
Exit code 0 when at least one mirror answered, 1 when none did.`;

async function probe(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrFail(
    argv,
    {
      ...REGION_OPTIONS,
      mirror: { type: "string", multiple: true },
      timeout: { type: "string" },
      concurrency: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    "probe",
  );
  if (values.help) {
    io.out(PROBE_HELP);
    return 0;
  }
  let targets: Array<string | ProbeTarget>;
  if (values.cloud !== undefined) {
    targets = probeTargets(selectionFromFlags(values).policy);
  } else if (values.mirror?.length) {
    targets = values.mirror;
    values.mirror.forEach((m, i) => parseMirrorUrl(`--mirror[${i}]`, m, { allowPath: true }));
  } else {
    fail(`probe needs --cloud and --region, or --mirror URL\n\n${PROBE_HELP}`);
  }
  const number = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new PolicyError(
        `--${flag}`,
        value,
        "must be a positive whole number",
        `write e.g. --${flag} ${flag === "timeout" ? 3000 : 4}`,
      );
    return n;
  };
  const results = await probeMirrors(targets, {
    timeoutMs: number("timeout", values.timeout),
    concurrency: number("concurrency", values.concurrency),
  });
  io.out(formatProbeTable(results));
  return results.some((r) => r.ok) ? 0 : 1;
}

function parseOrFail<T extends ParseArgsOptionsConfig>(argv: string[], options: T, command: string) {
  try {
    return parseArgs<{ args: string[]; options: T; allowPositionals: false; strict: true }>({
      args: argv,
      options,
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    fail(`${(err as Error).message}\nRun "registry-mirrors ${command} --help" for the flags.`);
  }
}

function report(err: unknown, io: Io): number {
  if (err instanceof UsageError || err instanceof UnreadableInput) {
    io.err(`registry-mirrors: ${redact(err.message)}`);
    return 2;
  }
  if (err instanceof PolicyError) {
    io.err(`registry-mirrors: ${err.message}`);
    return 1;
  }
  throw err;
}

/** Runs the CLI; returns the exit code (a promise for `probe`, which waits on the network). */
export function main(argv: string[], io: Io = consoleIo): number | Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "render":
        return render(rest, io, true);
      case "validate":
        return render(rest, io, false);
      case "regions":
        return regions(rest, io);
      case "probe":
        return probe(rest, io).catch((err) => report(err, io));
      case "diff":
        return diffCommand(rest, io.out, fail);
      case "doctor":
        return doctorCommand(rest, io.out, fail, (flags) => {
          const { selection, flagWarnings, ...input } = nodeConfigFromFlags(parseRenderArgs(flags).values);
          return renderNodeConfig(input).applyScript;
        });
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.out(
          rest[0] === "render" || rest[0] === "validate"
            ? RENDER_HELP
            : rest[0] === "probe"
              ? PROBE_HELP
              : rest[0] === "diff"
                ? DIFF_HELP
                : rest[0] === "doctor"
                  ? DOCTOR_HELP
                  : MAIN_HELP,
        );
        return 0;
      default:
        throw new UsageError(`unknown command "${command}"\n\n${MAIN_HELP}`);
    }
  } catch (err) {
    return report(err, io);
  }
}
