/** The container runtimes (and image builders) whose registry configuration the library renders. */
export type RuntimeName = "docker" | "containerd" | "crio" | "podman" | "k3s" | "rke2" | "buildkit" | "bottlerocket";

export const RUNTIME_NAMES: readonly RuntimeName[] = [
  "docker",
  "containerd",
  "crio",
  "podman",
  "k3s",
  "rke2",
  "buildkit",
  "bottlerocket",
];

/** A file as it lands on a node. */
export interface NodeFile {
  /** Absolute path on the node, e.g. `/etc/docker/daemon.json`. */
  path: string;
  /** Exact bytes (UTF-8), ending in a newline. */
  content: string;
  /** Unix permission bits, e.g. 0o644. */
  mode: number;
  /** True when the content may hold a credential: delivered as a Pulumi secret, never printed. */
  secret?: boolean;
  /** The runtime that reads the file, as the renderers tag it (see the runtime table in core/runtimes.ts). */
  runtime?: RuntimeName;
}

/** When the apply script may restart a runtime (a restart without live-restore stops every container). */
export type RestartPolicy = "never" | "if-needed";
