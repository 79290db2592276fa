import { PolicyError, type Warnings } from "../errors";
import { ANY_REGISTRY, DOCKER_HUB, type MirrorPolicy, checkKnownFields, checkPlainData } from "../policy";
import { extraSettings } from "./docker-extra";
import { type DockerSettingsInput, SETTINGS_FIELDS } from "./docker-settings-input";
import { typedSettings } from "./docker-settings";
import { isPlainObject } from "./docker-values";

export {
  DOCKER_RELOADABLE_KEYS,
  DOCKER_RELOAD_EMPTY_VALUES,
  DOCKER_RELOAD_RESETS_WHEN_REMOVED,
  DOCKERD_KEYS,
} from "./docker-keys";

export type { DockerAddressPoolInput, DockerSettingsInput, DockerUlimitInput } from "./docker-settings-input";
export { parseKeyValue } from "./docker-values";

/** What `renderDocker` returns. */
export interface DockerRender {
  /** The file, as it lands on a node: sorted keys, 2-space indent, final newline. */
  daemonJson: string;
  /** The same keys as an object: what the node apply script merges into the node's existing file. */
  desired: Record<string, unknown>;
  /** Things the user should know: mirrors Docker ignores, settings it cannot honour, version caveats. */
  warnings: Warnings;
  /**
   * The warnings (also in `warnings`) about other registries' mirrors that Docker skips because it mirrors Docker Hub
   * only: noise when another runtime of the node uses them.
   */
  otherRegistryWarnings: Warnings;
}

/** Collects Docker Hub mirror URLs, the insecure hosts they need, and warnings for what Docker cannot use. */
function mirrorSettings(
  policy: MirrorPolicy,
  warnings: Warnings,
  otherRegistries: Warnings,
): { mirrors: string[]; insecure: string[] } {
  const mirrors: string[] = [];
  const insecure: string[] = [];
  const fullPath: string[] = [];
  for (const entry of policy.registries) {
    if (entry.registry !== DOCKER_HUB) {
      if (entry.endpoints.length > 0) {
        const what = entry.registry === ANY_REGISTRY ? 'the "*" (every registry) entry' : entry.registry;
        const warning = `docker: Docker reads mirrors for Docker Hub only, so the ${entry.endpoints.length} mirror(s) of ${what} are not in daemon.json; containerd, CRI-O/podman, k3s/RKE2 and BuildKit use them`;
        warnings.push(warning);
        otherRegistries.push(warning);
      }
      continue;
    }
    if (!entry.upstreamFallback) {
      warnings.push(
        "docker: Docker always tries Docker Hub after its mirrors; upstreamFallback: false cannot be enforced in daemon.json",
      );
    }
    for (const [i, e] of entry.endpoints.entries()) {
      if (e.harborProject !== undefined) {
        throw new PolicyError(
          `policy.registries["${entry.registry}"].mirrors[${i}].harborProject`,
          e.harborProject,
          `Docker's registry-mirrors takes a registry host and appends /v2/ to it, so it cannot pull Docker Hub images through the Harbor project ${e.url}`,
          `leave docker out of runtimes for this policy (containerd and CRI-O/podman use the project), give Docker nodes a mirror without a path, or pull on them by the project's own name (${e.host}/${e.harborProject}/library/nginx)`,
        );
      }
      if (!e.capabilities.includes("pull")) {
        warnings.push(
          `docker: ${e.url} is left out of registry-mirrors because its capabilities do not include "pull"`,
        );
        continue;
      }
      if (e.overridePath) {
        fullPath.push(e.url);
        continue;
      }
      mirrors.push(e.url);
      // dockerd talks plain HTTP to an http:// mirror without more ado (checked against dockerd 20.10), but it
      // verifies an https:// mirror's certificate unless the host is listed in insecure-registries.
      if (e.insecure && e.scheme === "https") insecure.push(e.host);
      if (e.caFile)
        warnings.push(
          `docker: Docker ignores caFile for ${e.url}; place the CA at /etc/docker/certs.d/${e.host}/ca.crt`,
        );
      if (e.clientCertFile)
        warnings.push(
          `docker: Docker ignores clientCertFile for ${e.url}; place client.cert and client.key in /etc/docker/certs.d/${e.host}/`,
        );
      if (Object.keys(e.headers).length > 0)
        warnings.push(`docker: Docker cannot send extra headers to ${e.url}; they are used by containerd only`);
      if (e.dialTimeout)
        warnings.push(
          `docker: Docker has no per-mirror dial timeout; dialTimeout of ${e.url} is used by containerd only`,
        );
      if (e.pullFromMirror !== "all")
        warnings.push(`docker: Docker sends every pull to ${e.url}; pullFromMirror is honoured by CRI-O/podman only`);
      if (e.path !== "")
        warnings.push(`docker: ${e.url} has a path, which dockerd 24.0.6 and older refuse at start-up`);
    }
    if (fullPath.length > 0) {
      // An ECR pull-through cache URL holds the API path and needs an ECR token: Docker appends /v2/ and sends no token.
      warnings.push(
        `docker: ${fullPath.join(", ")} left out of registry-mirrors: with overridePath the URL already holds the registry API path (as an ECR pull-through cache needs), but Docker appends /v2/ to a mirror URL (and dockerd 24.0.6 and older refuse a mirror with a path); containerd and CRI-O/podman use ${fullPath.length > 1 ? "them" : "it"}${mirrors.length === 0 ? ". Docker Hub has no other mirror for Docker, so daemon.json gets no registry-mirrors key and Docker pulls from Docker Hub" : ""}`,
      );
    }
  }
  return { mirrors, insecure };
}

/** Recursively sorts object keys (arrays keep their order) so the output never depends on input key order. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

/**
 * Renders Docker's `daemon.json`: `registry-mirrors` are the policy's Docker Hub mirrors in order, the daemon settings
 * are validated and written under their dockerd names, and keys are sorted. Throws a PolicyError for invalid input.
 */
export function renderDocker(policy: MirrorPolicy, settings: DockerSettingsInput = {}, field = "docker"): DockerRender {
  if (!isPlainObject(settings)) {
    throw new PolicyError(
      field,
      settings,
      "Docker settings must be an object",
      'write e.g. { execOpts: ["native.cgroupdriver=systemd"] }',
    );
  }
  checkPlainData(field, settings);
  checkKnownFields(field, settings, SETTINGS_FIELDS);
  const warnings: Warnings = [];
  const typed = typedSettings(settings, field, warnings);
  const extra = settings.extra === undefined ? {} : extraSettings(settings.extra, field, typed, warnings);
  const desired: Record<string, unknown> = { ...typed, ...extra };

  const otherRegistryWarnings: Warnings = [];
  const { mirrors, insecure } = mirrorSettings(policy, warnings, otherRegistryWarnings);
  if (mirrors.length > 0) desired["registry-mirrors"] = mirrors;
  if (insecure.length > 0) {
    const list = (desired["insecure-registries"] as string[] | undefined) ?? [];
    for (const host of insecure) if (!list.includes(host)) list.push(host);
    desired["insecure-registries"] = list;
  }

  const sorted = sortKeys(desired) as Record<string, unknown>;
  return { daemonJson: `${JSON.stringify(sorted, null, 2)}\n`, desired: sorted, warnings, otherRegistryWarnings };
}
