import { createHash } from "node:crypto";
import { PolicyError, redact } from "../errors";
import { checkRestartPolicy } from "../restart-policy";
import {
  ANY_REGISTRY,
  DOCKER_HUB,
  isDockerHubName,
  type MirrorPolicy,
  type MirrorPolicyInput,
  checkPlainData,
  normalisePolicy,
  policyHasHeaders,
} from "../policy";
import { type DockerSettingsInput, renderDocker } from "./docker";
import { fileGroupOf, type ManagedFile, type NodeApplyPlan } from "../node-plan";
import { renderApplyScript } from "../node-script";
import { renderRuntimeFiles, type RuntimeRenderOptions } from "./runtimes";
import { DEFAULT_CONTAINERD_CERTS_DIR } from "./containerd";
import { renderCaFiles } from "./ca-files";
import { renderCloudConfig, USER_DATA_LIMITS } from "../userdata";
import { type NodeFile, type RestartPolicy, RUNTIME_NAMES, type RuntimeName } from "./types";
import { renderWatchPlan, type WatchdogSettingsInput } from "../watch-plan";

/** Everything a node needs, as plain values: the input of `renderNodeConfig`. */
export interface NodeConfigInput {
  /** Docker Hub mirrors, in order: shorthand for `policy.registries["docker.io"].mirrors`. */
  mirrors?: string[];
  /** The full mirror policy. Combined with `mirrors` only when it has no docker.io entry. */
  policy?: MirrorPolicyInput;
  /** Docker daemon settings merged into daemon.json beside the mirrors. */
  docker?: DockerSettingsInput;
  /** Which runtimes' files to render (default docker + containerd). */
  runtimes?: RuntimeName[];
  /** When the apply script may restart a runtime (default "never": reloads only). */
  restartPolicy?: RestartPolicy;
  /** Options passed to the non-Docker renderers (containerd certs folder, k3s auth, ...). */
  runtimeOptions?: RuntimeRenderOptions;
  /**
   * The node mirror watchdog: `true` for the defaults, or its settings (probe interval, hysteresis, state folder,
   * metrics file). The apply script then carries the watchdog's plan: `apply` installs it as the systemd service
   * `registry-mirrors-watchdog.service` (the DaemonSet runs it as its long-running container instead), `watch` runs
   * it in the foreground. It takes endpoints that refuse, stall or vanish out of the runtimes' files and puts them
   * back when they answer again; `check` then verifies the node (files, dockerd's mirrors, config_path, endpoints).
   * Opt-in for now because of user-data size: the plan repeats the files (6.0 KB for three registries with five
   * mirrors, docker + containerd) and the engine gains watchdog.py and check.py (55 KB; the whole engine is 26 KB
   * gzip), so that policy's cloud-config grows from 15.2 KB (engine compressed) / 13.4 KB (all compressed) to
   * 44.2 KB / 36.0 KB: over EC2's 16 KB in every form. Deliver it with `kubernetes`, or by a file your own
   * provisioning places, until the watchdog ships in the node image.
   */
  watchdog?: WatchdogSettingsInput | true;
}

/** What `renderNodeConfig` produces: every node file and the apply script (user data: `nodeConfigUserData`). */
export interface RenderedNodeConfig {
  policy: MirrorPolicy;
  runtimes: RuntimeName[];
  /** The daemon.json keys this library manages (merged into the node's file), when Docker is a target. */
  daemonJson?: string;
  /** Every node file by absolute path (daemon.json holds only the managed keys; the script merges them). */
  files: Record<string, string>;
  /** containerd hosts.toml files by absolute path. */
  containerdHosts: Record<string, string>;
  /** Bottlerocket settings TOML (user data for Bottlerocket nodes), when selected. */
  bottlerocketSettings?: string;
  applyScript: string;
  /** sha256 of the apply script: changes exactly when a node file changes. */
  checksum: string;
  /** True when some file may hold a credential (mirror headers, registry auth). */
  secret: boolean;
  warnings: string[];
}

export const DEFAULT_RUNTIMES: RuntimeName[] = ["docker", "containerd"];

/** Builds the policy from the `mirrors` shorthand and/or a full policy. */
export function resolvePolicyInput(
  mirrors: string[] | undefined,
  policy: MirrorPolicyInput | undefined,
): MirrorPolicyInput {
  if (mirrors !== undefined && !Array.isArray(mirrors)) {
    throw new PolicyError(
      "mirrors",
      mirrors,
      "must be a list of Docker Hub mirror URLs",
      'write mirrors: ["https://mirror.example.com"]',
    );
  }
  if (!policy) {
    if (!mirrors || mirrors.length === 0) {
      throw new PolicyError(
        "mirrors",
        mirrors,
        "no mirrors given",
        "give mirrors (Docker Hub mirror URLs) or a policy with at least one registry",
      );
    }
    return { registries: { [DOCKER_HUB]: { mirrors } } };
  }
  if (!mirrors || mirrors.length === 0) return policy;
  const registries = policy.registries ?? {};
  const hubKey = Object.keys(registries).find(isDockerHubName);
  if (hubKey) {
    throw new PolicyError(
      "mirrors",
      mirrors,
      `both mirrors and policy.registries["${hubKey}"] set Docker Hub mirrors`,
      "list the Docker Hub mirrors in one place only",
    );
  }
  return { ...policy, registries: { ...registries, [DOCKER_HUB]: { mirrors } } };
}

function checkRuntimes(runtimes: unknown): RuntimeName[] {
  if (!Array.isArray(runtimes) || runtimes.length === 0) {
    throw new PolicyError("runtimes", runtimes, "must be a non-empty list", `choose from ${RUNTIME_NAMES.join(", ")}`);
  }
  for (const r of runtimes) {
    if (!RUNTIME_NAMES.includes(r)) {
      throw new PolicyError("runtimes", r, "unknown runtime", `use one of ${RUNTIME_NAMES.join(", ")}`);
    }
  }
  return RUNTIME_NAMES.filter((r) => runtimes.includes(r));
}

/**
 * `#cloud-config` that writes and runs the apply script: the readable form when it fits EC2's 16 KB, else the one
 * carrying the script's engine gzip+base64 (its data part readable), else all of it compressed. Undefined when a file holds a credential (credentials never go into user data).
 * Apart from `renderNodeConfig` because it costs as much as the rest of the rendering and many programs never use it.
 */
export function nodeConfigUserData(
  rendered: Pick<RenderedNodeConfig, "applyScript" | "secret">,
  options: { engineUrl?: string } = {},
): string | undefined {
  if (rendered.secret) return undefined;
  if (options.engineUrl !== undefined)
    return renderCloudConfig({ applyScript: rendered.applyScript, engineUrl: options.engineUrl });
  for (const compress of [false, true] as const) {
    const text = renderCloudConfig({ applyScript: rendered.applyScript, compress });
    if (Buffer.byteLength(text, "utf8") <= USER_DATA_LIMITS.ec2.bytes) return text;
  }
  return renderCloudConfig({ applyScript: rendered.applyScript, compress: "all" });
}

/**
 * Renders every selected runtime's node files, the node apply script and the cloud-init user data from one
 * policy. Pure and deterministic: the same input gives byte-identical output.
 */
export function renderNodeConfig(input: NodeConfigInput): RenderedNodeConfig {
  for (const [key, value] of Object.entries(input)) checkPlainData(key, value);
  const runtimes = checkRuntimes(input.runtimes ?? DEFAULT_RUNTIMES);
  const restartPolicy = input.restartPolicy === undefined ? "never" : checkRestartPolicy(input.restartPolicy);
  const { policy, warnings } = normalisePolicy(resolvePolicyInput(input.mirrors, input.policy));

  if (runtimes.length === 1 && runtimes[0] === "docker") {
    const others = policy.registries.filter((r) => r.registry !== DOCKER_HUB);
    if (others.length === policy.registries.length) {
      const only = others.map((r) => r.registry).join(", ");
      throw new PolicyError(
        "runtimes",
        runtimes,
        `Docker reads mirrors for Docker Hub only, and the policy has none (only ${only}${others.some((r) => r.registry === ANY_REGISTRY) ? '; "*" is not a Docker Hub mirror' : ""})`,
        'add "containerd" (or crio/podman/k3s) to runtimes, or give Docker Hub mirrors',
      );
    }
  }

  const files: NodeFile[] = [];
  const plan: NodeApplyPlan = { restartPolicy };
  let daemonJson: string | undefined;
  if (runtimes.includes("docker")) {
    const docker = renderDocker(policy, input.docker);
    daemonJson = docker.daemonJson;
    // Docker's note that it skips non-Docker-Hub mirrors matters only when no other runtime uses them.
    const dockerOnly = runtimes.length === 1;
    warnings.push(...docker.warnings.filter((w) => dockerOnly || !docker.otherRegistryWarnings.includes(w)));
    plan.docker = { desired: docker.desired };
    files.push({ path: "/etc/docker/daemon.json", content: docker.daemonJson, mode: 0o644 });
  } else if (input.docker !== undefined) {
    throw new PolicyError(
      "docker",
      "(settings)",
      "Docker settings given but docker is not in runtimes",
      'add "docker" to runtimes or remove the docker settings',
    );
  }

  const others = renderRuntimeFiles(
    policy,
    runtimes.filter((r) => r !== "docker"),
    input.runtimeOptions ?? {},
  );
  warnings.push(...others.warnings);
  const containerdHosts: Record<string, string> = {};
  const managed: ManagedFile[] = [];
  const certsDir = (input.runtimeOptions?.containerd?.certsDir ?? DEFAULT_CONTAINERD_CERTS_DIR).replace(/\/+$/, "");
  for (const file of others.files) {
    const { runtime, ...plain } = file;
    files.push(plain);
    if (runtime === "containerd") containerdHosts[file.path] = file.content;
    else managed.push({ ...plain, runtime: fileGroupOf(runtime) });
  }
  for (const file of renderCaFiles(policy, runtimes, certsDir)) {
    files.push(file);
    managed.push({ path: file.path, content: file.content, mode: file.mode });
  }
  if (runtimes.includes("containerd")) {
    const hosts = others.files.filter((f) => f.runtime === "containerd").map(({ runtime, ...f }) => f);
    plan.containerd = { hostsDir: certsDir, files: hosts };
    if (input.runtimeOptions?.containerd?.spegel === true) plan.containerd.spegel = true;
  }
  if (managed.length > 0) plan.files = managed;
  if (input.watchdog !== undefined) {
    plan.watch = renderWatchPlan({
      policy,
      files,
      containerdDialTimeout: input.runtimeOptions?.containerd?.dialTimeout,
      watchdog: input.watchdog === true ? {} : (input.watchdog as WatchdogSettingsInput),
    });
  }

  const applyScript = renderApplyScript(plan);
  const secret = policyHasHeaders(policy) || files.some((f) => f.secret === true);
  const sortedFiles = Object.fromEntries(
    files.map((f) => [f.path, f.content] as const).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return {
    policy,
    runtimes,
    daemonJson,
    files: sortedFiles,
    containerdHosts,
    bottlerocketSettings: others.bottlerocket,
    applyScript,
    checksum: createHash("sha256").update(applyScript).digest("hex"),
    secret,
    warnings: warnings.map(redact),
  };
}
