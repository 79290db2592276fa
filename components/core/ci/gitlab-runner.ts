/**
 * GitLab Runner hosts: the `[[runners]]` section of `config.toml` that gives every job's DinD service the mirrors
 * (docker or Kubernetes executor), so pipelines need no per-project `command`. The runner host's own dockerd (which
 * pulls the job images) reads `/etc/docker/daemon.json`: render that with the node path (`renderNodeConfig`).
 */
import { stringify as toToml } from "smol-toml";
import type { Warnings } from "../errors";
import type { MirrorPolicy } from "../policy";
import { GENERATED_HEADER } from "../render/containerd";
import { dindDaemonJson, dindFlags, dindMirrors, yamlFile } from "./dind";
import type { ResolvedCiOptions } from "./options";

/** What {@link renderGitlabRunner} returns. */
export interface GitlabRunnerSettings {
  target: "gitlab-runner";
  /** The `[[runners]]` fragment: merge it into the runner's `config.toml` (it has no url or token). */
  configToml: string;
  /** The daemon.json the fragment mounts into the DinD service (`dindConfig: "daemon-json"`), else undefined. */
  daemonJson?: string;
  /** Every rendered file by its path under the output folder. */
  files: Record<string, string>;
  warnings: Warnings;
}

/** Renders the runner's `[[runners]]` section with the DinD service and its mirrors. */
export function renderGitlabRunner(policy: MirrorPolicy, options: ResolvedCiOptions): GitlabRunnerSettings {
  const warnings: Warnings = [];
  const settings = dindMirrors(policy, options, warnings, "GitLab Runner DinD service");
  const flagsMode = options.dindConfig === "flags";
  const service: Record<string, unknown> = { name: options.dindImage, alias: options.serviceAlias };
  if (flagsMode) service.command = dindFlags(settings);
  const daemonJson = flagsMode ? undefined : dindDaemonJson(settings);

  const runner: Record<string, unknown> = {};
  if (options.runnerName !== undefined) runner.name = options.runnerName;
  runner.executor = options.runnerExecutor;
  if (options.runnerExecutor === "docker") {
    runner.docker = {
      // DinD needs a privileged service; /certs/client shares the TLS client certificates the service creates.
      privileged: true,
      volumes: ["/certs/client", ...(flagsMode ? [] : [`${options.daemonJsonHostPath}:/etc/docker/daemon.json:ro`])],
      services: [service],
    };
  } else {
    runner.kubernetes = {
      privileged: true,
      ...(flagsMode
        ? {}
        : {
            volumes: {
              config_map: [
                {
                  name: options.daemonJsonConfigMap,
                  mount_path: "/etc/docker/daemon.json",
                  sub_path: "daemon.json",
                  read_only: true,
                },
              ],
            },
          }),
      services: [service],
    };
  }
  const note = flagsMode
    ? "# Every job on this runner gets this DinD service with the mirrors as dockerd flags: jobs list no docker:dind\n# service of their own.\n"
    : `# The DinD service of every job on this runner mounts ${options.runnerExecutor === "docker" ? options.daemonJsonHostPath : `the ConfigMap ${options.daemonJsonConfigMap}`} as its daemon.json.\n`;
  const configToml = `${GENERATED_HEADER}${note}${toToml({ runners: [runner] }).trimEnd()}\n`;
  const files: Record<string, string> = { "gitlab-runner/config.toml": configToml };
  if (daemonJson !== undefined) {
    if (options.runnerExecutor === "docker") files["gitlab-runner/daemon.json"] = daemonJson;
    else
      files["gitlab-runner/dind-daemon-json-configmap.yaml"] = yamlFile({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: options.daemonJsonConfigMap },
        data: { "daemon.json": daemonJson },
      });
  }
  return { target: "gitlab-runner", configToml, daemonJson, files, warnings };
}
