/** `registry-mirrors render --ci TARGET`: the mirror settings of CI pipelines, written as files into --out. */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type CiOptions, type CiTarget, CI_TARGETS, ciMirrorSettings } from "../components/core/ci";
import { PolicyError } from "../components/core/errors";
import { normalisePolicy } from "../components/core/policy";
import { type NodeConfigInput, resolvePolicyInput } from "../components/core/render/node-config";

/** The render flags `--ci` adds (parsed by `render` with the rest). */
export const CI_RENDER_OPTIONS = {
  ci: { type: "string", multiple: true },
  "docker-version": { type: "string" },
  "dind-image": { type: "string" },
  "dind-config": { type: "string" },
  "runner-executor": { type: "string" },
  "buildkitd-config-path": { type: "string" },
} as const;

export const CI_RENDER_HELP = `CI pipelines (instead of node files):
  --ci TARGET                   repeatable; ${CI_TARGETS.join(", ")}:
                                  gitlab-dind     DinD service: .gitlab-ci.yml services (dockerd flags), daemon.json,
                                                  a Kubernetes pod's DinD container
                                  gitlab-runner   config.toml [[runners]] section giving every job's DinD service the mirrors
                                  github-buildx   buildkitd.toml and the docker/setup-buildx-action step (and a GitLab script)
                                  kaniko          executor flags (--registry-mirror for Docker Hub, --registry-map for others)
                                written to DIR/<target>/...; the mirror flags and --policy apply, node flags do not
  --dind-image IMAGE            the DinD service image (default docker:27.5.1-dind)
  --docker-version V            the dockerd version it runs when the image tag does not say (24.0.6 and older refuse
                                a mirror URL with a path)
  --dind-config flags|daemon-json
                                mirrors as dockerd flags (default) or as a mounted daemon.json
  --runner-executor docker|kubernetes
                                the GitLab Runner executor of the config.toml section (default docker)
  --buildkitd-config-path P     where the workflow reads the committed buildkitd.toml (default .github/buildkitd.toml)`;

type CiValues = { [K in keyof typeof CI_RENDER_OPTIONS]?: K extends "ci" ? string[] : string } & Record<
  string,
  unknown
>;

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Node-only flags that mean nothing for a CI target: refused so they are not silently dropped. */
const NODE_ONLY = [
  "runtime",
  "restart-policy",
  "exec-opt",
  "log-driver",
  "log-opt",
  "live-restore",
  "max-concurrent-downloads",
];

/** Renders every `--ci` target; writes nothing unless all of them render. */
export function renderCi(
  values: CiValues,
  io: Io,
  write: boolean,
  toInput: (values: never) => NodeConfigInput & { flagWarnings?: string[] },
): number {
  for (const flag of [...NODE_ONLY, "insecure-registry"]) {
    if (values[flag] !== undefined) {
      throw new PolicyError(
        `--${flag}`,
        values[flag],
        "this flag sets node files, which --ci does not write",
        `leave --${flag} out, or run render without --ci for the nodes`,
      );
    }
  }
  const targets = values.ci ?? [];
  for (const t of targets) {
    if (!CI_TARGETS.includes(t as CiTarget))
      throw new PolicyError("--ci", t, "unknown CI target", `use one of ${CI_TARGETS.join(", ")}`);
  }
  const input = toInput(values as never);
  const { policy, warnings } = normalisePolicy(resolvePolicyInput(input.mirrors, input.policy));
  const options: CiOptions = {};
  if (values["dind-image"] !== undefined) options.dindImage = values["dind-image"];
  if (values["docker-version"] !== undefined) options.dockerVersion = values["docker-version"];
  if (values["dind-config"] !== undefined) options.dindConfig = values["dind-config"] as CiOptions["dindConfig"];
  if (values["runner-executor"] !== undefined)
    options.runnerExecutor = values["runner-executor"] as CiOptions["runnerExecutor"];
  if (values["buildkitd-config-path"] !== undefined) options.buildkitdConfigPath = values["buildkitd-config-path"];

  const files: Record<string, string> = {};
  for (const target of [...new Set(targets)] as CiTarget[]) {
    const settings = ciMirrorSettings(policy, target, options);
    for (const w of settings.warnings) warnings.push(`${target}: ${w}`);
    Object.assign(files, settings.files);
  }
  for (const w of warnings) io.err(`warning: ${w}`);
  if (!write) {
    io.out(`valid: ${targets.join(", ")}; ${Object.keys(files).length} files`);
    return 0;
  }
  const outDir = typeof values.out === "string" ? values.out : "out";
  for (const path of Object.keys(files).sort()) {
    const target = join(outDir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, files[path], { mode: 0o644 });
    io.out(`wrote ${target}`);
  }
  return 0;
}
