/**
 * The one table of what each runtime reads on a node and how it takes a change. The renderers tag their files with
 * the runtime, the node script groups and reloads by it, and the DaemonSet mounts its folders.
 */
import type { RuntimeName } from "./render/types";

/** How a runtime takes a changed file. */
export type ChangeKind =
  /** Read on every pull or invocation: nothing to tell (containerd hosts.toml, podman/skopeo). */
  | "live"
  /** Re-read on SIGHUP: `systemctl reload UNIT` (dockerd's mirrors, CRI-O). */
  | "reload"
  /** Read only at start-up: `systemctl restart UNIT`, when the restart policy allows it (k3s, RKE2, BuildKit). */
  | "restart"
  /** Settings of the OS itself, given in user data at first boot (Bottlerocket): no node file. */
  | "boot";

/** What the library knows about one runtime on a node. */
export interface RuntimeSpec {
  /** Top node folders holding the files it reads (the node script locks them; the DaemonSet mounts them). */
  folders: readonly string[];
  /** How a changed file takes effect. */
  change: ChangeKind;
  /** The systemd units that may run it, tried in this order; the first one running is told. */
  units: readonly string[];
  /** True when its mirrors can be switched while it runs (a live file or a reload), so a watchdog may rewrite them. */
  liveMirrors: boolean;
}

export const RUNTIMES: Readonly<Record<RuntimeName, RuntimeSpec>> = {
  docker: { folders: ["/etc/docker"], change: "reload", units: ["docker"], liveMirrors: true },
  containerd: { folders: ["/etc/containerd"], change: "live", units: ["containerd"], liveMirrors: true },
  crio: { folders: ["/etc/containers"], change: "reload", units: ["crio"], liveMirrors: true },
  podman: { folders: ["/etc/containers"], change: "live", units: [], liveMirrors: true },
  k3s: { folders: ["/etc/rancher/k3s"], change: "restart", units: ["k3s", "k3s-agent"], liveMirrors: false },
  rke2: { folders: ["/etc/rancher/rke2"], change: "restart", units: ["rke2-server", "rke2-agent"], liveMirrors: false },
  buildkit: { folders: ["/etc/buildkit"], change: "restart", units: ["buildkit"], liveMirrors: false },
  bottlerocket: { folders: [], change: "boot", units: [], liveMirrors: false },
};

/** The node script's action for a runtime's changed file: none, reload or restart. */
export function nodeAction(runtime: RuntimeName): "none" | "reload" | "restart" {
  const change = RUNTIMES[runtime].change;
  switch (change) {
    case "live":
    case "boot":
      return "none";
    case "reload":
    case "restart":
      return change;
    default: {
      const never: never = change;
      throw new Error(`unknown change kind ${never}`);
    }
  }
}
