/**
 * The node apply plan: what the apply script writes on one node, the runtimes that read its drop-in files, and the
 * line between the script's engine and data parts (see node-script.ts).
 */
import type { NodeFile, RestartPolicy, RuntimeName } from "./render/types";
import type { ContainerdHostsFile } from "./render/containerd";

/** The line that starts the data part: everything above it is the engine. */
export const DATA_MARKER = "# ---- data: the files this policy writes; everything above is the engine ----";

/** The runtimes whose drop-in files the script writes as a group, in the order it applies them. */
export const FILE_GROUPS = ["crio", "podman", "k3s", "rke2", "buildkit"] as const;
export type FileGroup = (typeof FILE_GROUPS)[number];

/** A node file the apply script writes, and which runtime reads it (told once it changed). */
export interface ManagedFile extends NodeFile {
  /** The runtime that reads the file (from the renderers' tags); without it the file is just written. */
  runtime?: FileGroup;
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
  containerd?: {
    hostsDir: string;
    files: ContainerdHostsFile[];
    /**
     * Spegel (P2P) shares `hostsDir` (see core/p2p/spegel.ts): while it manages the folder the script keeps its files
     * in Spegel's `_backup/` and each live file as Spegel writes it, Spegel's hosts first. Without it the script
     * refuses to touch a folder Spegel manages.
     */
    spegel?: boolean;
  };
  /** Other drop-in files: CRI-O/podman registries.conf.d, k3s/RKE2 registries.yaml, buildkitd.toml, ... */
  files?: ManagedFile[];
  /**
   * The node watchdog's plan (`renderWatchPlan`'s JSON). With it, `apply` installs the watchdog as a systemd service
   * and `watch` runs it; without it, `apply` removes a watchdog service an earlier plan installed.
   */
  watch?: string;
}

/** The file groups and plain files by runtime, for callers that tag files (node-config). */
export function fileGroupOf(runtime: RuntimeName | undefined): FileGroup | undefined {
  return FILE_GROUPS.find((g) => g === runtime);
}
