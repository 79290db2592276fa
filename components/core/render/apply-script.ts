import { PolicyError } from "../errors";
import { EPILOGUE, prelude } from "./apply/common";
import { containerdSection } from "./apply/containerd";
import { dockerSection } from "./apply/docker";
import { filesSection } from "./apply/files";
import { ECR_DIR, TEMPLATE_SUFFIX } from "./apply/ecr";
import type { ContainerdHostsFile } from "./containerd";
import { DOCKERD_KEYS } from "./docker-keys";
import type { NodeFile, RestartPolicy } from "./types";

/** A node file the apply script writes, and which runtime to tell once it changed. */
export interface ManagedFile extends NodeFile {
  /**
   * Who reads the file: `crio` is reloaded (SIGHUP) when running; `k3s`, `rke2` and `buildkit` read it only at
   * start-up, so they are restarted when running and `restartPolicy` allows it. Without it the file is just written.
   */
  reload?: "crio" | "k3s" | "rke2" | "buildkit";
}

/** Everything the node apply script applies to one node. */
export interface NodeApplyPlan {
  /** Whether the script may restart a runtime when a changed setting needs it (else it refuses and changes nothing). */
  restartPolicy: RestartPolicy;
  /** Keys merged into `/etc/docker/daemon.json`; every other key of the node's file is kept. */
  docker?: { desired: Record<string, unknown> };
  /**
   * containerd `hosts.toml` files, with absolute paths under `hostsDir` (the folder `config_path` points at). A file
   * with `ecrAuth` mirrors gets their ECR token on the node from a refresher the script installs (with a systemd timer).
   */
  containerd?: { hostsDir: string; files: ContainerdHostsFile[] };
  /** Other drop-in files: CRI-O/podman registries.conf.d, k3s/RKE2 registries.yaml, buildkitd.toml, ... */
  files?: ManagedFile[];
}

// Paths are embedded in the script and used as folder names: keep them to characters that need no quoting
// thought (IPv6 hosts appear as [::1]:5000 folders).
const SAFE_PATH = /^\/[A-Za-z0-9._+@:[\]/-]+$/;
const RELOADS = ["crio", "k3s", "rke2", "buildkit"];
// One lock per folder, each on its own file descriptor: POSIX sh has 3 to 9.
const MAX_LOCKS = 7;

function checkPath(field: string, path: unknown): string {
  if (
    typeof path !== "string" ||
    !SAFE_PATH.test(path) ||
    path.split("/").some((part) => part === "." || part === "..") ||
    path.endsWith("/")
  ) {
    throw new PolicyError(
      field,
      path,
      "not a plain absolute file path",
      'use an absolute path of letters, digits and ._-+@:[] without . or .. parts, e.g. "/etc/containerd/certs.d/docker.io/hosts.toml"',
    );
  }
  return path;
}

/** The folder that locks a node path: its first two levels (/etc/docker for /etc/docker/certs.d/x/hosts.toml). */
function lockFolder(path: string): string {
  const parts = path.split("/");
  return (parts.length > 3 ? parts.slice(0, 3) : parts.slice(0, -1)).join("/") || "/";
}

function checkFile(field: string, file: NodeFile, seen: Set<string>): void {
  const path = checkPath(`${field}.path`, file.path);
  if (seen.has(path))
    throw new PolicyError(`${field}.path`, path, "the same file is listed twice", "list each node file once");
  seen.add(path);
  if (
    [".registry-mirrors.bak", ".registry-mirrors.created", ".registry-mirrors.keys", TEMPLATE_SUFFIX].some((suffix) =>
      path.endsWith(suffix),
    ) ||
    path.startsWith(`${ECR_DIR}/`)
  ) {
    throw new PolicyError(
      `${field}.path`,
      path,
      "this name is reserved for the script's backups and its ECR token refresher",
      "choose another file name",
    );
  }
  if (typeof file.content !== "string" || !file.content.endsWith("\n")) {
    throw new PolicyError(
      `${field}.content`,
      "(content hidden)",
      "a node file must end with a newline",
      'end the content with "\\n"',
    );
  }
  if (!Number.isInteger(file.mode) || file.mode < 0 || file.mode > 0o777) {
    throw new PolicyError(
      `${field}.mode`,
      file.mode,
      "not a file mode",
      "give permission bits such as 0o644 (0o600 for a file holding a credential)",
    );
  }
}

/**
 * Renders the node apply script: one POSIX sh script (`sh apply-node-config.sh [apply|restore]`) holding every desired
 * file. It merges the Docker keys into the node's daemon.json keeping every other key, writes each file atomically with
 * one backup, does nothing when nothing changed, reloads (or restarts, when needed and allowed) only the runtimes whose
 * files changed, checks they came back, and puts the previous files back when they did not. Deterministic.
 *
 * State it leaves on the node, beside each file: `FILE.registry-mirrors.bak` (the node's own version, kept from the
 * first change on; `FILE.registry-mirrors.created` when there was none), `daemon.json.registry-mirrors.keys` (the
 * daemon.json keys it manages, so a key the policy drops is removed on the next run) and
 * `<hostsDir>/.registry-mirrors.files` (the hosts.toml files it wrote, so a registry the policy drops loses its file).
 * For a hosts.toml with ECR mirrors (`ecrAuth`) it writes `hosts.toml.registry-mirrors.template` and installs the ECR
 * token refresher in /etc/containerd/registry-mirrors (script, list, tokens `token.REGION` mode 0600, and the
 * `registry-mirrors-ecr-token` service and timer, linked and enabled when systemd runs the node); the refresher writes
 * hosts.toml as template + token. A policy without ECR mirrors removes the refresher again.
 * `restore` mode uses them to put the node back as it was. It also leaves the empty lock file
 * `.registry-mirrors.lock` in each top folder it writes (/etc/docker, /etc/containerd, ...): a run waits for another
 * one on the same folder (cloud-init and the DaemonSet, two pods of a rollout) with flock, or without flock with a
 * `.registry-mirrors.lock.d` folder holding the owner's pid, removed at the end and taken over when the pid is gone.
 */
export function renderApplyScript(plan: NodeApplyPlan): string {
  if (plan.restartPolicy !== "never" && plan.restartPolicy !== "if-needed") {
    throw new PolicyError(
      "restartPolicy",
      plan.restartPolicy,
      "unknown restart policy",
      'use "never" (reload only) or "if-needed" (restart a runtime when a changed setting requires it)',
    );
  }
  const seen = new Set<string>(["/etc/docker/daemon.json"]);
  const written: string[] = [];
  const parts: string[] = [];

  if (plan.docker) {
    for (const key of Object.keys(plan.docker.desired)) {
      if (!DOCKERD_KEYS[key]) {
        throw new PolicyError(
          `docker.desired["${key}"]`,
          key,
          "dockerd does not know this daemon.json key",
          "render the Docker settings with renderDocker, which validates them",
        );
      }
    }
    written.push("/etc/docker/daemon.json");
    parts.push(dockerSection(plan.docker.desired));
  }

  if (plan.containerd) {
    const dir = checkPath("containerd.hostsDir", plan.containerd.hostsDir);
    seen.add("/etc/containerd/config.toml");
    plan.containerd.files.forEach((file, i) => {
      checkFile(`containerd.files[${i}]`, file, seen);
      if (!file.path.startsWith(`${dir}/`)) {
        throw new PolicyError(
          `containerd.files[${i}].path`,
          file.path,
          `not under the hosts folder ${dir}`,
          `put hosts.toml files at ${dir}/<registry>/hosts.toml`,
        );
      }
      if (file.ecrAuth !== undefined && !Array.isArray(file.ecrAuth)) {
        throw new PolicyError(
          `containerd.files[${i}].ecrAuth`,
          file.ecrAuth,
          "must be a list of { url, region }",
          "render the files with renderContainerdHosts",
        );
      }
    });
    written.push("/etc/containerd/config.toml", ...plan.containerd.files.map((f) => f.path));
    parts.push(containerdSection(dir, plan.containerd.files));
  }

  if (plan.files && plan.files.length > 0) {
    plan.files.forEach((file, i) => {
      checkFile(`files[${i}]`, file, seen);
      if (file.reload !== undefined && !RELOADS.includes(file.reload)) {
        throw new PolicyError(
          `files[${i}].reload`,
          file.reload,
          "unknown runtime to reload",
          `use one of ${RELOADS.join(", ")}, or leave it out`,
        );
      }
    });
    written.push(...plan.files.map((f) => f.path));
    parts.push(filesSection(plan.files));
  }

  if (!plan.docker && !plan.containerd && !(plan.files && plan.files.length > 0))
    parts.push('say "nothing to apply"\n');
  parts.push(EPILOGUE);
  const folders = [...new Set(written.map(lockFolder))].sort();
  if (folders.length > MAX_LOCKS) {
    throw new PolicyError(
      "files",
      folders.join(" "),
      `the script locks each top folder it writes, at most ${MAX_LOCKS}`,
      "keep the node files in fewer top folders (such as /etc/docker, /etc/containerd)",
    );
  }
  return [prelude(plan.restartPolicy, folders), ...parts].join("\n");
}
