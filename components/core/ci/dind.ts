/**
 * Docker-in-Docker in CI: the mirror settings of the `docker:*-dind` service, as dockerd flags (the service's
 * `command`) or as the daemon.json mounted into it, for GitLab's `services:` and for a Kubernetes pod.
 */
import { PolicyError, type Warnings } from "../errors";
import { yaml } from "../lazy-yaml";
import { ANY_REGISTRY, DOCKER_HUB, type MirrorPolicy } from "../policy";
import { endpointField } from "../render/containerd";
import { acceptsMirrorPaths, type ResolvedCiOptions } from "./options";

/** The mirror settings of dockerd in a DinD service. */
export interface DindMirrors {
  /** Docker Hub mirror URLs, in policy order. */
  mirrors: string[];
  /** `host[:port]` of https mirrors that skip certificate checks. */
  insecureRegistries: string[];
}

/** What {@link renderDind} returns. */
export interface DindSettings {
  target: "gitlab-dind";
  /** The DinD image the fragments run. */
  image: string;
  /** dockerd's flags, each flag and its value as separate items: `["--registry-mirror", "https://..."]`. */
  flags: string[];
  /** The same settings as daemon.json, to mount at `/etc/docker/daemon.json` instead of passing flags (never both). */
  daemonJson: string;
  /**
   * A `.gitlab-ci.yml` fragment to `include:`: the hidden job `.registry-mirrors-dind` whose `services:` hold the DinD
   * service, its alias and its `command`; build jobs `extends:` it.
   */
  gitlabServices: string;
  /** A Kubernetes pod's DinD sidecar container (privileged, dockerd flags as `args`), as YAML. */
  kubernetesContainer: Record<string, unknown>;
  /** A ConfigMap holding daemon.json, for pods that mount it instead of passing flags. */
  kubernetesConfigMap: Record<string, unknown>;
  /** Every rendered file by its path under the output folder. */
  files: Record<string, string>;
  warnings: Warnings;
}

function versionText(options: ResolvedCiOptions): string {
  return options.dockerVersion
    ? `dockerd ${options.dockerVersion.join(".")}`
    : `a dockerd of unknown version (the tag of ${options.dindImage} names none)`;
}

/**
 * The Docker Hub mirrors dockerd can use, refusing what dockerd cannot express from flags or daemon.json: headers
 * (credentials would sit in the job's command line), client certificates and CAs (they are files in
 * `/etc/docker/certs.d`, not settings), `upstreamFallback: false`, a path for dockerd 24.0.6 and older, and a policy
 * with no Docker Hub mirror dockerd can use. Mirrors dockerd cannot reach (`overridePath`) are left out with a warning.
 */
export function dindMirrors(
  policy: MirrorPolicy,
  options: ResolvedCiOptions,
  warnings: Warnings,
  runtime = "DinD",
): DindMirrors {
  const mirrors: string[] = [];
  const insecure: string[] = [];
  for (const entry of policy.registries) {
    if (entry.registry !== DOCKER_HUB) {
      if (entry.endpoints.length > 0) {
        const what = entry.registry === ANY_REGISTRY ? 'the "*" (every registry) entry' : entry.registry;
        warnings.push(
          `${runtime}: dockerd reads mirrors for Docker Hub only, so the ${entry.endpoints.length} mirror(s) of ${what} are left out (BuildKit/buildx and Kaniko use them)`,
        );
      }
      continue;
    }
    if (!entry.upstreamFallback) {
      throw new PolicyError(
        `policy.registries["${DOCKER_HUB}"].upstreamFallback`,
        false,
        "dockerd always tries Docker Hub after its mirrors, so a DinD service cannot keep pulls off Docker Hub",
        "set upstreamFallback: true, or build with Kaniko (--skip-default-registry-fallback)",
      );
    }
    entry.endpoints.forEach((e, i) => {
      const field = endpointField(DOCKER_HUB, i);
      if (Object.keys(e.headers).length > 0) {
        throw new PolicyError(
          `${field}.headers`,
          Object.keys(e.headers),
          "dockerd cannot send headers to a mirror, and a credential in the DinD service's flags would be printed in every job's log and pod spec",
          "remove the headers for DinD and log in with `docker login` from a masked CI variable, or use a mirror that allows anonymous pulls",
        );
      }
      if (e.overridePath) {
        // Left out rather than refused: it cannot break dockerd, only never answer it (as on the nodes).
        warnings.push(
          `${field}: ${e.url} is left out: with overridePath the URL already holds the registry API path, and dockerd appends /v2/ to a mirror URL (an ECR pull-through cache serves Docker Hub images to containerd and Kaniko, not to dockerd)`,
        );
        return;
      }
      if (e.path !== "" && !acceptsMirrorPaths(options.dockerVersion)) {
        throw new PolicyError(
          field,
          e.url,
          `the mirror URL has a path, which ${versionText(options)} refuses at start-up ("invalid mirror: path, query, or fragment at end of the URI"): the DinD service would not start`,
          "remove the path, or run docker:24.0.7-dind or newer (dindImage) and say so with dockerVersion if its tag does not",
        );
      }
      if (e.caFile !== undefined || e.clientCertFile !== undefined) {
        const setting = e.caFile !== undefined ? "caFile" : "clientCertFile";
        throw new PolicyError(
          `${field}.${setting}`,
          e[setting],
          "dockerd takes a mirror's CA and client certificate as files in /etc/docker/certs.d/<host>/, not as flags or daemon.json keys",
          `mount ca.crt (and client.cert/client.key) at /etc/docker/certs.d/${e.host}/ in the DinD service and remove ${setting} from the policy given to it`,
        );
      }
      if (!e.capabilities.includes("pull")) {
        warnings.push(`${runtime}: ${e.url} is left out because its capabilities do not include "pull"`);
        return;
      }
      if (e.auth === "ecr")
        warnings.push(
          `${field}.auth: dockerd cannot fetch an ECR token; it gets a 401 from ${e.host} and skips this mirror`,
        );
      if (e.dialTimeout !== undefined)
        warnings.push(`${field}.dialTimeout: dockerd has no per-mirror dial timeout; its default applies`);
      if (e.pullFromMirror !== "all")
        warnings.push(`${field}.pullFromMirror: dockerd sends every Docker Hub pull to ${e.url}`);
      mirrors.push(e.url);
      if (e.insecure && e.scheme === "https" && !insecure.includes(e.host)) insecure.push(e.host);
    });
  }
  if (mirrors.length === 0) {
    throw new PolicyError(
      "policy.registries",
      policy.registries.map((r) => r.registry),
      `${runtime} would get no mirror: dockerd mirrors Docker Hub only, and the policy has no Docker Hub mirror it can use`,
      'add mirrors under registries["docker.io"], or use BuildKit/buildx or Kaniko for the other registries',
    );
  }
  return { mirrors, insecureRegistries: insecure };
}

/** dockerd's flags for the mirrors, flag and value as separate items (the form GitLab's `command` and `args` take). */
export function dindFlags(settings: DindMirrors): string[] {
  return [
    ...settings.mirrors.flatMap((url) => ["--registry-mirror", url]),
    ...settings.insecureRegistries.flatMap((host) => ["--insecure-registry", host]),
  ];
}

/** The same settings as a daemon.json document (sorted keys, 2-space indent, final newline). */
export function dindDaemonJson(settings: DindMirrors): string {
  const doc: Record<string, string[]> = {};
  if (settings.insecureRegistries.length > 0) doc["insecure-registries"] = settings.insecureRegistries;
  doc["registry-mirrors"] = settings.mirrors;
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** The hidden job of the rendered services.yml that build jobs extend. */
export const GITLAB_DIND_JOB = ".registry-mirrors-dind";

const HEADER = "# Written by registry-mirrors from the mirror policy; edit the policy instead.\n";

export function yamlFile(value: unknown, comment?: string): string {
  const lines = comment ? `${comment.replace(/^/gm, "# ")}\n` : "";
  return `${HEADER}${lines}${yaml().stringify(value, { lineWidth: 0 })}`;
}

/** Renders the DinD service's mirror settings for GitLab CI and for a Kubernetes pod. */
export function renderDind(policy: MirrorPolicy, options: ResolvedCiOptions): DindSettings {
  const warnings: Warnings = [];
  const settings = dindMirrors(policy, options, warnings);
  const flags = dindFlags(settings);
  const daemonJson = dindDaemonJson(settings);
  const service: Record<string, unknown> = { name: options.dindImage, alias: options.serviceAlias };
  if (options.dindConfig === "flags") service.command = flags;
  const kubernetesContainer: Record<string, unknown> = {
    name: "dind",
    image: options.dindImage,
    ...(options.dindConfig === "flags" ? { args: flags } : {}),
    securityContext: { privileged: true },
    env: [{ name: "DOCKER_TLS_CERTDIR", value: "" }],
    ...(options.dindConfig === "daemon-json"
      ? {
          volumeMounts: [
            { name: options.daemonJsonConfigMap, mountPath: "/etc/docker/daemon.json", subPath: "daemon.json" },
          ],
        }
      : {}),
  };
  const kubernetesConfigMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: options.daemonJsonConfigMap },
    data: { "daemon.json": daemonJson },
  };
  const gitlabServices = yamlFile(
    { [GITLAB_DIND_JOB]: { services: [service] } },
    `${options.dindConfig === "flags" ? `The DinD service with the mirrors as dockerd flags (${versionText(options)}). Do not also mount a daemon.json\nwith these keys: dockerd refuses a setting given both ways.` : "The DinD service; its mirrors come from the daemon.json mounted at /etc/docker/daemon.json."}\nInclude this file (include: local) and give the build job extends: ${GITLAB_DIND_JOB}.`,
  );
  const files: Record<string, string> = {
    "gitlab-dind/services.yml": gitlabServices,
    "gitlab-dind/daemon.json": daemonJson,
    "gitlab-dind/kubernetes-dind-container.yaml": yamlFile(
      kubernetesContainer,
      "A DinD sidecar for a Kubernetes pod (e.g. a self-hosted runner's pod template): the build container reaches it\nat tcp://localhost:2375 (TLS off here: the pod's network namespace is shared only by its containers).",
    ),
  };
  if (options.dindConfig === "daemon-json")
    files["gitlab-dind/kubernetes-daemon-json-configmap.yaml"] = yamlFile(kubernetesConfigMap);
  return {
    target: "gitlab-dind",
    image: options.dindImage,
    flags,
    daemonJson,
    gitlabServices,
    kubernetesContainer,
    kubernetesConfigMap,
    files,
    warnings,
  };
}
