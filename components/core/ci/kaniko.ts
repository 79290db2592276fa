/**
 * Kaniko's executor flags for the mirror policy. `--registry-mirror` is for Docker Hub only (Kaniko maps it to
 * `index.docker.io`); other registries need `--registry-map REGISTRY=MIRROR` (the flag the pinned 1.23 has). Both
 * take `host[:port][/prefix]` without a scheme: plain HTTP is `--insecure-registry`, skip-verify
 * `--skip-tls-verify-registry`, a CA `--registry-certificate`, a client certificate `--registry-client-cert`.
 * Kaniko has no catch-all registry, no per-mirror headers and one fallback switch for every registry.
 */
import { PolicyError, type Warnings } from "../errors";
import { ANY_REGISTRY, DOCKER_HUB, type MirrorPolicy } from "../policy";
import { endpointField } from "../render/containerd";
import { namespacedLocation } from "../render/registries-conf";
import { yamlFile } from "./dind";
import type { ResolvedCiOptions } from "./options";

/** What {@link renderKaniko} returns. */
export interface KanikoSettings {
  target: "kaniko";
  /** The executor's flags, each `--flag=value` one item, in a stable order. */
  args: string[];
  /** A GitLab job running the Kaniko executor with the flags (its destination and context are the usual ones). */
  gitlabJob: Record<string, unknown>;
  /** Every rendered file by its path under the output folder. */
  files: Record<string, string>;
  warnings: Warnings;
}

/** Kaniko's name of a registry (the one its `--registry-map` keys are compared with). */
function kanikoRegistryName(registry: string): string {
  return registry === DOCKER_HUB ? "index.docker.io" : registry;
}

/** Renders Kaniko's mirror flags; refuses what Kaniko cannot express. */
export function renderKaniko(policy: MirrorPolicy, options: ResolvedCiOptions): KanikoSettings {
  const warnings: Warnings = [];
  const mirrorArgs: string[] = [];
  const hostArgs = new Map<string, string[]>();
  const fallbackOf: Array<{ registry: string; fallback: boolean }> = [];

  for (const entry of policy.registries) {
    if (entry.endpoints.length === 0) continue;
    const entryField = `policy.registries["${entry.registry}"]`;
    if (entry.registry === ANY_REGISTRY) {
      warnings.push(
        `${entryField}: Kaniko has no entry for every registry; these mirrors are not in its flags (name the registries to mirror them)`,
      );
      continue;
    }
    fallbackOf.push({ registry: entry.registry, fallback: entry.upstreamFallback });
    entry.endpoints.forEach((e, i) => {
      const field = endpointField(entry.registry, i);
      if (Object.keys(e.headers).length > 0) {
        throw new PolicyError(
          `${field}.headers`,
          Object.keys(e.headers),
          "Kaniko cannot send headers to a mirror, and a credential in its flags would be printed in the job log",
          "give Kaniko the mirror's credentials in /kaniko/.docker/config.json (from a masked CI variable) and remove the headers from the policy given to it",
        );
      }
      if (!e.capabilities.includes("pull")) {
        throw new PolicyError(
          `${field}.capabilities`,
          e.capabilities,
          "Kaniko uses every mirror for pulls",
          'add "pull", or remove this mirror from the policy given to Kaniko',
        );
      }
      if (e.dialTimeout !== undefined)
        warnings.push(`${field}.dialTimeout: Kaniko has no per-mirror dial timeout; its default applies`);
      if (e.pullFromMirror !== "all")
        warnings.push(`${field}.pullFromMirror: Kaniko uses the mirror for every pull of ${entry.registry}`);
      if (e.auth === "ecr")
        warnings.push(
          `${field}.auth: Kaniko does not get the node's ECR token; it authenticates to ${e.host} only with its own credentials (config.json or its ECR credential helper)`,
        );
      const location = namespacedLocation(field, e, "Kaniko", "kaniko");
      mirrorArgs.push(
        entry.registry === DOCKER_HUB
          ? `--registry-mirror=${location}`
          : `--registry-map=${kanikoRegistryName(entry.registry)}=${location}`,
      );
      const host: string[] = [];
      if (e.scheme === "http") host.push(`--insecure-registry=${e.host}`);
      else if (e.insecure) host.push(`--skip-tls-verify-registry=${e.host}`);
      if (e.caFile !== undefined) host.push(`--registry-certificate=${e.host}=${e.caFile}`);
      if (e.clientCertFile !== undefined) {
        if (e.clientKeyFile === undefined) {
          throw new PolicyError(
            `${field}.clientKeyFile`,
            undefined,
            "Kaniko needs the client key next to the certificate (--registry-client-cert HOST=CERT,KEY)",
            "set clientKeyFile to the key's absolute path",
          );
        }
        host.push(`--registry-client-cert=${e.host}=${e.clientCertFile},${e.clientKeyFile}`);
      }
      const previous = hostArgs.get(e.host);
      if (previous !== undefined && previous.join() !== host.join()) {
        throw new PolicyError(
          field,
          e.url,
          `Kaniko's settings are per host, and another mirror on ${e.host} needs different ones (${previous.join(" ") || "none"} vs ${host.join(" ") || "none"})`,
          "give every mirror on the same host the same scheme, insecure, caFile and client certificate",
        );
      }
      hostArgs.set(e.host, host);
    });
  }

  if (mirrorArgs.length === 0) {
    throw new PolicyError(
      "policy.registries",
      policy.registries.map((r) => r.registry),
      'Kaniko would get no mirror: it has no entry for every registry ("*")',
      "name the registries to mirror (docker.io, ghcr.io, ...) in the policy given to Kaniko",
    );
  }
  const noFallback = fallbackOf.filter((f) => !f.fallback);
  if (noFallback.length > 0 && noFallback.length < fallbackOf.length) {
    throw new PolicyError(
      `policy.registries["${noFallback[0].registry}"].upstreamFallback`,
      false,
      `Kaniko has one switch (--skip-default-registry-fallback) for every mapped registry, and ${fallbackOf
        .filter((f) => f.fallback)
        .map((f) => f.registry)
        .join(", ")} keep${fallbackOf.length - noFallback.length === 1 ? "s" : ""} the upstream fallback`,
      "give every registry the same upstreamFallback in the policy given to Kaniko",
    );
  }

  const args = [
    ...mirrorArgs,
    ...[...hostArgs.keys()].sort().flatMap((host) => hostArgs.get(host) ?? []),
    ...(noFallback.length > 0 ? ["--skip-default-registry-fallback"] : []),
  ];
  const gitlabJob = {
    image: { name: options.kanikoImage, entrypoint: [""] },
    script: [
      [
        "/kaniko/executor",
        '--context "$CI_PROJECT_DIR"',
        '--dockerfile "$CI_PROJECT_DIR/Dockerfile"',
        '--destination "$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA"',
        ...args.map((a) => `"${a}"`),
      ].join(" "),
    ],
  };
  return {
    target: "kaniko",
    args,
    gitlabJob,
    files: {
      "kaniko/executor-args.txt": `${args.join("\n")}\n`,
      "kaniko/gitlab-kaniko-job.yml": yamlFile(
        { "build-image": gitlabJob },
        "A GitLab job building with Kaniko behind the mirrors (--registry-mirror is Docker Hub's; --registry-map the others').",
      ),
    },
    warnings,
  };
}
