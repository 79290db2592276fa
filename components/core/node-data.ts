/**
 * The data part of the node apply script: the plan's files as plain here-documents and its few settings, checked
 * first (paths the script reads back, the folders it locks, what the engine can apply), ending with `main "$@"`.
 */
import { PolicyError } from "./errors";
import { ecrTokens, ECR_DIR, TEMPLATE_SUFFIX } from "./node-ecr";
import { checkNodeFile, checkNodePath, lockFolder } from "./node-file";
import { DATA_MARKER, FILE_GROUPS, type NodeApplyPlan } from "./node-plan";
import { checkWatchPlan } from "./node-watch";
import { checkRestartPolicy } from "./restart-policy";
import { DOCKERD_KEYS } from "./render/docker-keys";
import type { NodeFile } from "./render/types";
import { heredoc, shellQuote } from "./shell";

const SAFE_PATH = /^\/[A-Za-z0-9._+@:[\]/-]+$/;
const MAX_LOCKS = 7; // one file descriptor per locked folder, 3 to 9

// The data part is read back with `read`: on top of the node-file check, a path keeps to characters that need no
// quoting thought (IPv6 hosts appear as [::1]:5000 folders; the script runs with globbing off).
function checkPath(field: string, path: unknown): string {
  checkNodePath(field, path);
  if (typeof path !== "string" || !SAFE_PATH.test(path)) {
    throw new PolicyError(
      field,
      path,
      "not a plain absolute file path",
      'use an absolute path of letters, digits and ._-+@:[] without . or .. parts, e.g. "/etc/containerd/certs.d/docker.io/hosts.toml"',
    );
  }
  return path;
}

function checkFile(field: string, file: NodeFile, seen: Set<string>): void {
  checkNodeFile(field, file);
  const path = checkPath(`${field}.path`, file.path);
  if (seen.has(path)) {
    throw new PolicyError(`${field}.path`, path, "the same file is listed twice", "list each node file once");
  }
  seen.add(path);
  const reserved = [".registry-mirrors.bak", ".registry-mirrors.created", ".registry-mirrors.keys", TEMPLATE_SUFFIX];
  if (reserved.some((suffix) => path.endsWith(suffix)) || path.startsWith(`${ECR_DIR}/`)) {
    throw new PolicyError(
      `${field}.path`,
      path,
      "this name is reserved for the script's backups and its ECR token refresher",
      "choose another file name",
    );
  }
}

/** A word for the data part: as is when it needs no quoting, else single-quoted. */
function word(value: string): string {
  return /^[A-Za-z0-9._/@:+=,[\]-]+$/.test(value) ? value : shellQuote(value);
}

/** Checks the plan and renders the data part: the plan's settings and files, ending with `main "$@"`. */
export function renderNodeData(plan: NodeApplyPlan): string {
  checkRestartPolicy(plan.restartPolicy);
  const seen = new Set<string>(["/etc/docker/daemon.json"]);
  const written: string[] = [];
  const lines: string[] = [];

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
    lines.push(
      heredoc("  node_file docker /etc/docker/daemon.json 644", `${JSON.stringify(plan.docker.desired, null, 2)}\n`),
    );
  }

  if (plan.containerd) {
    const dir = checkPath("containerd.hostsDir", plan.containerd.hostsDir);
    const spegel = plan.containerd.spegel;
    if (spegel !== undefined && typeof spegel !== "boolean") {
      throw new PolicyError(
        "containerd.spegel",
        spegel,
        "must be true or false",
        "write true when Spegel runs on the nodes",
      );
    }
    seen.add("/etc/containerd/config.toml");
    written.push("/etc/containerd/config.toml");
    lines.push(`  containerd_hosts_dir ${word(dir)}`);
    const byPath = plan.containerd.files.map((file, i) => [file, i] as const);
    byPath.sort(([a], [b]) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const [file, i] of byPath) {
      const field = `containerd.files[${i}]`;
      checkFile(field, file, seen);
      if (!file.path.startsWith(`${dir}/`)) {
        throw new PolicyError(
          `${field}.path`,
          file.path,
          `not under the hosts folder ${dir}`,
          `put hosts.toml files at ${dir}/<registry>/hosts.toml`,
        );
      }
      const tokens = ecrTokens(field, file);
      if (tokens.length > 0 && spegel === true) {
        throw new PolicyError(
          `${field}.ecrAuth`,
          file.path,
          "Spegel copies each mirror's headers once, so the ECR token the node refreshes would expire in its copy",
          "leave ECR mirrors out of a policy for nodes that run Spegel",
        );
      }
      const command = `  node_file containerd ${word(file.path)} ${file.mode.toString(8)}${tokens.length > 0 ? " ecr" : ""}`;
      lines.push(heredoc(command, file.content));
      for (const [region, table] of tokens) lines.push(`  ecr_token ${region} ${word(file.path)} ${word(table)}`);
      written.push(file.path);
    }
  }

  for (const [i, file] of (plan.files ?? []).entries()) {
    checkFile(`files[${i}]`, file, seen);
    if (file.runtime !== undefined && !FILE_GROUPS.includes(file.runtime)) {
      throw new PolicyError(
        `files[${i}].runtime`,
        file.runtime,
        "not a runtime that reads a drop-in file",
        `use one of ${FILE_GROUPS.join(", ")}, or leave it out`,
      );
    }
  }
  // Grouped by runtime in the order the script applies them; plain files last.
  for (const group of [...FILE_GROUPS, undefined]) {
    for (const file of (plan.files ?? []).filter((f) => f.runtime === group)) {
      lines.push(heredoc(`  node_file ${group ?? "files"} ${word(file.path)} ${file.mode.toString(8)}`, file.content));
      written.push(file.path);
    }
  }

  if (plan.watch !== undefined && plan.containerd?.spegel === true) {
    throw new PolicyError(
      "watch",
      "a watchdog plan",
      "the watchdog rewrites the live hosts.toml files, which Spegel owns when containerd spegel is set",
      "leave the watchdog out on nodes that run Spegel (Spegel's own endpoint already falls through in 200 ms)",
    );
  }
  if (plan.watch !== undefined) lines.push(heredoc("  watch_plan", checkWatchPlan(plan.watch)));

  const folders = [...new Set(written.map(lockFolder))].sort();
  if (folders.length > MAX_LOCKS) {
    throw new PolicyError(
      "files",
      folders.join(" "),
      `the script locks each top folder it writes, at most ${MAX_LOCKS}`,
      "keep the node files in fewer top folders (such as /etc/docker, /etc/containerd)",
    );
  }
  return [
    DATA_MARKER,
    "node_data() {",
    `  restart_policy ${plan.restartPolicy}`,
    ...(folders.length > 0 ? [`  lock_folders ${folders.map(word).join(" ")}`] : []),
    ...lines,
    "}",
    'main "$@"',
    "",
  ].join("\n");
}
