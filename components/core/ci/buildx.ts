/**
 * `docker buildx` in CI: the buildkitd.toml its BuildKit builder reads, for `docker/setup-buildx-action` (inline or
 * as a committed file) and for `docker buildx create` in a GitLab job.
 */
import * as ipaddr from "ipaddr.js";
import type { Warnings } from "../errors";
import type { MirrorPolicy } from "../policy";
import { renderBuildkitToml } from "../render/buildkit";
import { yamlFile } from "./dind";
import type { ResolvedCiOptions } from "./options";

/** What {@link renderBuildx} returns. */
export interface BuildxSettings {
  target: "github-buildx";
  /** buildkitd.toml: the builder's whole configuration (mirrors and the per-host settings they need). */
  buildkitdToml: string;
  /** The setup-buildx step with the file inline (`buildkitd-config-inline`). */
  githubStepInline: Record<string, unknown>;
  /** The setup-buildx step reading the committed file (`buildkitd-config: <buildkitdConfigPath>`). */
  githubStepFile: Record<string, unknown>;
  /** Shell lines for a GitLab job (DinD or a runner host): create and select a builder with the file. */
  gitlabScript: string[];
  /** Every rendered file by its path under the output folder. */
  files: Record<string, string>;
  warnings: Warnings;
}

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  if (name === "localhost") return true;
  return ipaddr.isValid(name) && ipaddr.process(name).range() === "loopback";
}

/** Renders the buildkitd configuration of a buildx builder and the CI steps that hand it over. */
export function renderBuildx(policy: MirrorPolicy, options: ResolvedCiOptions): BuildxSettings {
  const warnings: Warnings = [];
  const buildkitdToml = renderBuildkitToml(policy, { warnings }).content;
  const loopback = [...new Set(policy.registries.flatMap((r) => r.endpoints.map((e) => e.host)).filter(isLoopback))];
  const driverOpts = loopback.length > 0 ? { "driver-opts": "network=host" } : {};
  if (loopback.length > 0)
    warnings.push(
      `buildx: ${loopback.join(", ")} is a loopback address, which inside the builder's container is the container itself; the steps use driver-opts network=host so the builder shares the runner's network`,
    );
  const githubStepInline = {
    name: "Set up Docker Buildx behind the registry mirrors",
    uses: options.setupBuildxAction,
    with: { ...driverOpts, "buildkitd-config-inline": buildkitdToml },
  };
  const githubStepFile = {
    name: "Set up Docker Buildx behind the registry mirrors",
    uses: options.setupBuildxAction,
    with: { ...driverOpts, "buildkitd-config": options.buildkitdConfigPath },
  };
  const gitlabScript = [
    `docker buildx create --name mirrored --driver docker-container${loopback.length > 0 ? " --driver-opt network=host" : ""} --buildkitd-config buildkitd.toml --use --bootstrap`,
  ];
  return {
    target: "github-buildx",
    buildkitdToml,
    githubStepInline,
    githubStepFile,
    gitlabScript,
    files: {
      "github-buildx/buildkitd.toml": buildkitdToml,
      "github-buildx/setup-buildx-step.yml": yamlFile(
        [githubStepFile],
        `The workflow step (GitHub Actions) that starts the buildx builder with ${options.buildkitdConfigPath}:\ncommit github-buildx/buildkitd.toml there, or use buildkitd-config-inline with the file's content.`,
      ),
      "github-buildx/gitlab-buildx-script.yml": yamlFile(
        { script: gitlabScript },
        "A GitLab job's lines (DinD or a runner host with Docker) that start a buildx builder with buildkitd.toml\n(from the repository or an artifact) before `docker buildx build`.",
      ),
    },
    warnings,
  };
}
