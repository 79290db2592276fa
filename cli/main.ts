import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { PolicyError } from "../components/core/errors";
import { checkKnownFields } from "../components/core/policy";
import { DockerSettingsInput, parseKeyValue } from "../components/core/render/docker";
import { NodeConfigInput, renderNodeConfig, RenderedNodeConfig } from "../components/core/render/node-config";
import { RUNTIME_NAMES, RuntimeName } from "../components/core/render/types";

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
  registry-mirrors help [command]

Run "registry-mirrors render --help" for the flags.`;

const RENDER_HELP = `Usage: registry-mirrors render [flags] --out DIR

Mirror policy:
  --mirror URL                  Docker Hub mirror, repeatable, tried in the order given
  --registry-mirror REG=URL     mirror for any registry (docker.io, ghcr.io, quay.io, host:port, or * for every
                                other registry), repeatable, order kept; an http:// URL means plain HTTP
  --policy FILE                 JSON or YAML file with the component's arguments:
                                { mirrors, policy: { registries, allowMirrorPaths }, docker, runtimes,
                                  restartPolicy, runtimeOptions }; flags add to it
  --allow-mirror-paths          accept mirror URLs with a path (dockerd 24.0.6 and older refuse them)
  --no-upstream REG             do not fall back to REG's upstream after its mirrors (repeatable)

Runtimes:
  --runtime NAME                repeatable; one of ${RUNTIME_NAMES.join(", ")}
                                (default: docker and containerd)
  --restart-policy P            never (default: reload only) | if-needed (restart a runtime when a changed
                                setting requires it)

Docker daemon settings:
  --insecure-registry H|CIDR    host:port or CIDR (10.0.0.0/8), repeatable
  --exec-opt X                  e.g. native.cgroupdriver=systemd, repeatable
  --log-driver D                e.g. json-file
  --log-opt k=v                 e.g. max-size=100m, repeatable
  --live-restore                keep containers running while dockerd restarts
  --max-concurrent-downloads N

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

function readPolicyFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    fail(`--policy: cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new PolicyError("--policy", file, `not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(err as Error).message.split("\n")[0]}`, "fix the syntax (a .json file is read as JSON, anything else as YAML)");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new PolicyError("--policy", file, "the file must hold an object", "write e.g. { \"mirrors\": [\"https://mirror.example.com\"] }");
  }
  checkKnownFields("--policy", parsed, ["mirrors", "policy", "docker", "runtimes", "restartPolicy", "runtimeOptions"]);
  return parsed as Record<string, unknown>;
}

const RENDER_OPTIONS = {
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
  try {
    return parseArgs({ args: argv, options: RENDER_OPTIONS, allowPositionals: false, strict: true });
  } catch (err) {
    fail(`${(err as Error).message}\nRun "registry-mirrors render --help" for the flags.`);
  }
}

/** Turns the render flags (and an optional policy file) into the input of `renderNodeConfig`. */
export function nodeConfigFromFlags(values: RenderValues): NodeConfigInput {
  const file = values.policy ? readPolicyFile(values.policy) : {};
  const input = { ...file } as NodeConfigInput & Record<string, unknown>;

  if (values.mirror?.length) input.mirrors = [...((file.mirrors as string[] | undefined) ?? []), ...values.mirror];

  const registryMirrors = values["registry-mirror"] ?? [];
  const noUpstream = values["no-upstream"] ?? [];
  if (registryMirrors.length || noUpstream.length || values["allow-mirror-paths"]) {
    const policy = { ...((input.policy as NodeConfigInput["policy"]) ?? { registries: {} }) };
    const registries = { ...(policy.registries ?? {}) };
    for (const spec of registryMirrors) {
      const eq = spec.indexOf("=");
      if (eq <= 0 || eq === spec.length - 1) {
        throw new PolicyError("--registry-mirror", spec, "expected REGISTRY=URL", "write e.g. --registry-mirror ghcr.io=https://ghcr-mirror.example.com (or *=URL for every other registry)");
      }
      const registry = spec.slice(0, eq).trim();
      const url = spec.slice(eq + 1).trim();
      const entry = registries[registry] ?? { mirrors: [] };
      registries[registry] = { ...entry, mirrors: [...entry.mirrors, url] };
    }
    for (const registry of noUpstream) {
      const entry = registries[registry];
      if (!entry) throw new PolicyError("--no-upstream", registry, "no mirrors are given for this registry", `add --registry-mirror ${registry}=URL first`);
      registries[registry] = { ...entry, upstreamFallback: false };
    }
    policy.registries = registries;
    if (values["allow-mirror-paths"]) policy.allowMirrorPaths = true;
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
  if (values["restart-policy"] !== undefined) input.restartPolicy = values["restart-policy"] as NodeConfigInput["restartPolicy"];

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
      throw new PolicyError("--max-concurrent-downloads", values["max-concurrent-downloads"], "must be a positive whole number", "write e.g. --max-concurrent-downloads 6");
    }
    docker.maxConcurrentDownloads = n;
    dockerFlags = true;
  }
  if (dockerFlags || file.docker !== undefined) input.docker = docker;
  return input;
}

/** Every file `render` writes, by path relative to the output folder. */
export function outputFiles(rendered: RenderedNodeConfig): Record<string, { content: string; mode: number }> {
  const files: Record<string, { content: string; mode: number }> = {};
  for (const [path, content] of Object.entries(rendered.files)) {
    files[join("node", path)] = { content, mode: 0o644 };
  }
  files["apply-node-config.sh"] = { content: rendered.applyScript, mode: 0o755 };
  if (rendered.userData !== undefined) files["user-data.yaml"] = { content: rendered.userData, mode: 0o644 };
  if (rendered.bottlerocketSettings !== undefined) files["bottlerocket.toml"] = { content: rendered.bottlerocketSettings, mode: 0o644 };
  return files;
}

function render(argv: string[], io: Io, write: boolean): number {
  const { values } = parseRenderArgs(argv);
  if (values.help) {
    io.out(RENDER_HELP);
    return 0;
  }
  const rendered = renderNodeConfig(nodeConfigFromFlags(values));
  for (const w of rendered.warnings) io.err(`warning: ${w}`);
  if (!write) {
    io.out(`valid: ${rendered.runtimes.join(", ")}; ${rendered.policy.registries.map((r) => `${r.registry} (${r.endpoints.length} mirror${r.endpoints.length === 1 ? "" : "s"})`).join(", ")}`);
    return 0;
  }
  const outDir = values.out ?? "out";
  const files = outputFiles(rendered);
  for (const [path, file] of Object.entries(files)) {
    const target = join(outDir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.content, { mode: file.mode });
    io.out(`wrote ${target}`);
  }
  if (rendered.secret) io.err("note: a rendered file holds a credential; no user data was written (deliver it with the Kubernetes DaemonSet)");
  return 0;
}

/** Runs the CLI; returns the exit code. */
export function main(argv: string[], io: Io = consoleIo): number {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "render":
        return render(rest, io, true);
      case "validate":
        return render(rest, io, false);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.out(rest[0] === "render" || rest[0] === "validate" ? RENDER_HELP : MAIN_HELP);
        return 0;
      default:
        throw new UsageError(`unknown command "${command}"\n\n${MAIN_HELP}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`registry-mirrors: ${err.message}`);
      return 2;
    }
    if (err instanceof PolicyError) {
      io.err(`registry-mirrors: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
