/** `render` and `validate`: the render flags, their parsing into the component's input, and the command. */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { PolicyError, redact } from "../components/core/errors";
import { checkInsecureRange, checkKnownFields } from "../components/core/policy";
import { type DockerSettingsInput, parseKeyValue } from "../components/core/render/docker";
import { type NodeConfigInput, renderNodeConfig } from "../components/core/render/node-config";
import { RUNTIME_NAMES, type RuntimeName } from "../components/core/render/types";
import type { MirrorInput } from "../components/core/regions/catalog";
import type { RegionSelection } from "../components/core/regions/select";
import { fail, type Io, type ParsedArgs, parseOrFail } from "./args";
import { writeOutput } from "./output";
import { checkEngineUrl } from "../components/core/userdata/engine-url";
import { REGION_OPTIONS, selectionFromFlags } from "./regions";
import { CI_RENDER_HELP, CI_RENDER_OPTIONS, renderCi } from "./render-ci";

export const RENDER_HELP = `Usage: registry-mirrors render [flags] --out DIR

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
                                  DIR/engine/<name>.sh          with --engine-url: the engine file to upload there
                                  DIR/bottlerocket.toml         Bottlerocket settings (with --runtime bottlerocket)
  --engine-url URL              user-data.yaml fetches the script's engine from this folder URL (the
                                files DIR/engine/ holds go there) instead of carrying it: a few KB
                                whatever the runtimes, the policy's files readable
  -h, --help                    this help

Errors go to stderr with the field, the value and the fix; nothing is written when an input is invalid.`;

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
  "engine-url": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type RenderValues = ReturnType<typeof parseRenderArgs>["values"];

function parseRenderArgs(argv: string[]): ParsedArgs<typeof RENDER_OPTIONS> {
  return parseOrFail(argv, RENDER_OPTIONS, "render");
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

export function render(argv: string[], io: Io, write: boolean): number {
  const { values } = parseRenderArgs(argv);
  if (values.help) {
    io.out(RENDER_HELP);
    return 0;
  }
  if (values.ci !== undefined) return renderCi(values, io, write, nodeConfigFromFlags);
  const { selection, flagWarnings, ...input } = nodeConfigFromFlags(values);
  if (values["engine-url"] !== undefined) checkEngineUrl("--engine-url", values["engine-url"]);
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
  writeOutput(values.out ?? "out", rendered, io, values["engine-url"]);
  if (rendered.secret)
    io.err(
      "note: a rendered file holds a credential; no user data was written (deliver it with the Kubernetes DaemonSet)",
    );
  return 0;
}

/** The apply script the render flags give (for `doctor`). */
export function applyScriptFromFlags(flags: string[]): string {
  const { selection, flagWarnings, ...input } = nodeConfigFromFlags(parseRenderArgs(flags).values);
  return renderNodeConfig(input).applyScript;
}
