/**
 * The mirror settings of the places a CI pipeline reads them from, rendered from the same policy as the nodes:
 * the DinD service, GitLab Runner's `config.toml`, buildx's buildkitd.toml and Kaniko's flags. Pure: no Pulumi.
 */
import { PolicyError } from "../errors";
import { type MirrorPolicy, type MirrorPolicyInput, normalisePolicy } from "../policy";
import { type BuildxSettings, renderBuildx } from "./buildx";
import { type DindSettings, renderDind } from "./dind";
import { type GitlabRunnerSettings, renderGitlabRunner } from "./gitlab-runner";
import { type KanikoSettings, renderKaniko } from "./kaniko";
import { CI_TARGETS, type CiOptions, type CiTarget, resolveCiOptions } from "./options";

export type { BuildxSettings } from "./buildx";
export type { DindSettings } from "./dind";
export type { GitlabRunnerSettings } from "./gitlab-runner";
export type { KanikoSettings } from "./kaniko";
export {
  CI_TARGETS,
  type CiOptions,
  type CiTarget,
  DEFAULT_DIND_IMAGE,
  type DindConfigMode,
  type GitlabRunnerExecutor,
  type ResolvedCiOptions,
  resolveCiOptions,
} from "./options";
export { renderBuildx, renderDind, renderGitlabRunner, renderKaniko };

/** The settings of one CI target; `target` tells which. */
export type CiMirrorSettings = DindSettings | GitlabRunnerSettings | BuildxSettings | KanikoSettings;

/** The settings type of a given target. */
export type CiMirrorSettingsOf<T extends CiTarget> = Extract<CiMirrorSettings, { target: T }>;

function isNormalised(policy: MirrorPolicy | MirrorPolicyInput): policy is MirrorPolicy {
  return Array.isArray((policy as { registries?: unknown }).registries);
}

/**
 * Renders the mirror settings of one CI target from a mirror policy (as written, or already normalised):
 * `gitlab-dind` (the DinD service's flags or daemon.json), `gitlab-runner` (config.toml), `github-buildx`
 * (buildkitd.toml and the setup-buildx step) or `kaniko` (executor flags). Throws a PolicyError naming the field, the
 * value and the fix for a policy the target cannot express; `warnings` lists what it left out.
 */
export function ciMirrorSettings<T extends CiTarget>(
  policy: MirrorPolicy | MirrorPolicyInput,
  target: T,
  options: CiOptions = {},
): CiMirrorSettingsOf<T> {
  if (!CI_TARGETS.includes(target)) {
    throw new PolicyError("target", target, "unknown CI target", `use one of ${CI_TARGETS.join(", ")}`);
  }
  const normalised = isNormalised(policy) ? { policy, warnings: [] } : normalisePolicy(policy);
  const resolved = resolveCiOptions(options);
  const settings = render(normalised.policy, target, resolved);
  settings.warnings.unshift(...normalised.warnings);
  return settings as CiMirrorSettingsOf<T>;
}

function render(
  policy: MirrorPolicy,
  target: CiTarget,
  options: ReturnType<typeof resolveCiOptions>,
): CiMirrorSettings {
  switch (target) {
    case "gitlab-dind":
      return renderDind(policy, options);
    case "gitlab-runner":
      return renderGitlabRunner(policy, options);
    case "github-buildx":
      return renderBuildx(policy, options);
    case "kaniko":
      return renderKaniko(policy, options);
    default: {
      const never: never = target;
      throw new PolicyError("target", never, "unknown CI target", `use one of ${CI_TARGETS.join(", ")}`);
    }
  }
}
