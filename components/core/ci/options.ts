/** The options of the CI renderers: what the pipeline runs (DinD image, dockerd version, runner executor, ...). */
import { PolicyError } from "../errors";
import { checkKnownFields, isPlainObject } from "../policy";

/** The places in a CI pipeline that read mirror settings, one renderer each. */
export type CiTarget = "gitlab-dind" | "gitlab-runner" | "github-buildx" | "kaniko";

export const CI_TARGETS: readonly CiTarget[] = ["gitlab-dind", "gitlab-runner", "github-buildx", "kaniko"];

/** How the DinD service gets its mirrors: dockerd command-line flags, or a daemon.json mounted into it. */
export type DindConfigMode = "flags" | "daemon-json";

/** The GitLab Runner executor whose `config.toml` section is rendered. */
export type GitlabRunnerExecutor = "docker" | "kubernetes";

/** Options of the CI renderers. Every field is optional. */
export interface CiOptions {
  /**
   * The `docker:*-dind` image of the DinD service (default `docker:27.5.1-dind`). Pin a version: its tag tells which
   * dockerd runs, and dockerd 24.0.6 and older refuse a mirror URL with a path.
   */
  dindImage?: string;
  /**
   * The dockerd version the DinD service (or the runner host) runs, e.g. `"24.0.5"`. Default: read from a
   * `docker:X.Y.Z-dind` image tag; with a floating tag (`docker:dind`) the version is unknown and treated as old.
   */
  dockerVersion?: string;
  /** The DinD service's host name in the job (GitLab `alias`; default `docker`, which `DOCKER_HOST` points at). */
  serviceAlias?: string;
  /** `flags` (default): mirrors as dockerd flags in the service's `command`; `daemon-json`: a mounted daemon.json. */
  dindConfig?: DindConfigMode;
  /** Where the runner host (docker executor) keeps the daemon.json it mounts into the DinD service. */
  daemonJsonHostPath?: string;
  /** Name of the ConfigMap holding the DinD daemon.json (Kubernetes executor; default `dind-daemon-json`). */
  daemonJsonConfigMap?: string;
  /** The GitLab Runner executor of the `[[runners]]` fragment (default `docker`). */
  runnerExecutor?: GitlabRunnerExecutor;
  /** The runner's `name` in the `[[runners]]` fragment (left out by default: the fragment is merged into yours). */
  runnerName?: string;
  /** The repository path of the committed buildkitd.toml that `setup-buildx-action` reads (default `.github/buildkitd.toml`). */
  buildkitdConfigPath?: string;
  /** The setup-buildx action reference (default `docker/setup-buildx-action@v3`). */
  setupBuildxAction?: string;
  /** The Kaniko executor image of the GitLab job (default `gcr.io/kaniko-project/executor:v1.23.2-debug`). */
  kanikoImage?: string;
}

/** {@link CiOptions} with every default filled in. */
export interface ResolvedCiOptions {
  dindImage: string;
  /** `[major, minor, patch]`, or undefined when neither the option nor the image tag says. */
  dockerVersion?: [number, number, number];
  serviceAlias: string;
  dindConfig: DindConfigMode;
  daemonJsonHostPath: string;
  daemonJsonConfigMap: string;
  runnerExecutor: GitlabRunnerExecutor;
  runnerName?: string;
  buildkitdConfigPath: string;
  setupBuildxAction: string;
  kanikoImage: string;
}

export const DEFAULT_DIND_IMAGE = "docker:27.5.1-dind";
export const DEFAULT_KANIKO_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2-debug";
export const DEFAULT_SETUP_BUILDX_ACTION = "docker/setup-buildx-action@v3";

const OPTION_FIELDS = [
  "dindImage",
  "dockerVersion",
  "serviceAlias",
  "dindConfig",
  "daemonJsonHostPath",
  "daemonJsonConfigMap",
  "runnerExecutor",
  "runnerName",
  "buildkitdConfigPath",
  "setupBuildxAction",
  "kanikoImage",
] as const;

const VERSION = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/;
/** An image reference without spaces or quotes: `[registry/]name[:tag][@digest]`. */
const IMAGE = /^[a-z0-9]+(?:[._/:-][a-z0-9]+)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Parses `X.Y[.Z]` (a leading `v` allowed); undefined when it is not a version. */
export function parseDockerVersion(text: string): [number, number, number] | undefined {
  const m = VERSION.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** The dockerd version a `docker:X.Y.Z-dind` (or `docker:X.Y.Z`) image tag names, if it names one. */
export function dockerVersionOfImage(image: string): [number, number, number] | undefined {
  const tag = /:([^:/@]+)(?:@.*)?$/.exec(image)?.[1];
  if (tag === undefined) return undefined;
  const m = /^(\d+\.\d+(?:\.\d+)?)(?:-dind(?:-rootless|-alpine.*)?)?$/.exec(tag);
  return m ? parseDockerVersion(m[1]) : undefined;
}

/** True for dockerd 24.0.7 and newer, the first to accept a mirror URL with a path. */
export function acceptsMirrorPaths(version: [number, number, number] | undefined): boolean {
  if (version === undefined) return false;
  const [major, minor, patch] = version;
  return major > 24 || (major === 24 && (minor > 0 || patch >= 7));
}

function text(field: string, value: unknown, fallback: string, check: RegExp, example: string, what: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !check.test(value)) {
    throw new PolicyError(field, value, `not ${what}`, `write e.g. ${example}`);
  }
  return value;
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    throw new PolicyError(field, value, "unknown value", `use one of ${allowed.join(", ")}`);
  }
  return value as T;
}

/** Validates the CI options and fills in the defaults. */
export function resolveCiOptions(input: CiOptions = {}, field = "ci"): ResolvedCiOptions {
  if (!isPlainObject(input)) {
    throw new PolicyError(
      field,
      input,
      "CI options must be an object",
      'write e.g. { dindImage: "docker:27.5.1-dind" }',
    );
  }
  checkKnownFields(field, input, OPTION_FIELDS);
  const dindImage = text(
    `${field}.dindImage`,
    input.dindImage,
    DEFAULT_DIND_IMAGE,
    IMAGE,
    '"docker:27.5.1-dind"',
    "an image reference",
  );
  let dockerVersion: [number, number, number] | undefined;
  if (input.dockerVersion !== undefined) {
    dockerVersion = typeof input.dockerVersion === "string" ? parseDockerVersion(input.dockerVersion) : undefined;
    if (dockerVersion === undefined) {
      throw new PolicyError(
        `${field}.dockerVersion`,
        input.dockerVersion,
        "not a Docker version",
        'write the version dockerd runs, e.g. "24.0.5" (docker version --format "{{.Server.Version}}")',
      );
    }
    const ofImage = input.dindImage === undefined ? undefined : dockerVersionOfImage(dindImage);
    if (ofImage !== undefined && ofImage.join(".") !== dockerVersion.join(".")) {
      throw new PolicyError(
        `${field}.dockerVersion`,
        input.dockerVersion,
        `the DinD image ${dindImage} runs dockerd ${ofImage.join(".")}`,
        "leave dockerVersion out (the image tag says it), or make the two agree",
      );
    }
  } else {
    dockerVersion = dockerVersionOfImage(dindImage);
  }
  const absolute = /^\/[^\0:]*$/;
  return {
    dindImage,
    dockerVersion,
    serviceAlias: text(
      `${field}.serviceAlias`,
      input.serviceAlias,
      "docker",
      DNS_LABEL,
      '"docker"',
      "a host name label",
    ),
    dindConfig: oneOf(`${field}.dindConfig`, input.dindConfig, ["flags", "daemon-json"], "flags"),
    daemonJsonHostPath: text(
      `${field}.daemonJsonHostPath`,
      input.daemonJsonHostPath,
      "/etc/gitlab-runner/dind/daemon.json",
      absolute,
      '"/etc/gitlab-runner/dind/daemon.json" (an absolute path without ":")',
      "an absolute path on the runner host",
    ),
    daemonJsonConfigMap: text(
      `${field}.daemonJsonConfigMap`,
      input.daemonJsonConfigMap,
      "dind-daemon-json",
      DNS_LABEL,
      '"dind-daemon-json"',
      "a ConfigMap name",
    ),
    runnerExecutor: oneOf(`${field}.runnerExecutor`, input.runnerExecutor, ["docker", "kubernetes"], "docker"),
    runnerName:
      input.runnerName === undefined
        ? undefined
        : text(`${field}.runnerName`, input.runnerName, "", /^[^\0\n]{1,200}$/, '"dind-builds"', "a one-line name"),
    buildkitdConfigPath: text(
      `${field}.buildkitdConfigPath`,
      input.buildkitdConfigPath,
      ".github/buildkitd.toml",
      /^[A-Za-z0-9._][A-Za-z0-9._/-]*$/,
      '".github/buildkitd.toml" (a path in the repository)',
      "a relative path in the repository",
    ),
    setupBuildxAction: text(
      `${field}.setupBuildxAction`,
      input.setupBuildxAction,
      DEFAULT_SETUP_BUILDX_ACTION,
      /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+$/,
      `"${DEFAULT_SETUP_BUILDX_ACTION}"`,
      "an action reference (owner/name@ref)",
    ),
    kanikoImage: text(
      `${field}.kanikoImage`,
      input.kanikoImage,
      DEFAULT_KANIKO_IMAGE,
      IMAGE,
      `"${DEFAULT_KANIKO_IMAGE}"`,
      "an image reference",
    ),
  };
}
