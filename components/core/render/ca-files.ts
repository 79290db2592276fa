/**
 * The CA certificates the policy carries (`ca` of an endpoint), as node files where each runtime reads them:
 * containerd the file its hosts.toml names (`ca`), Docker `/etc/docker/certs.d/<host:port>/ca.crt`, CRI-O/podman
 * (containers-certs.d(5)) `/etc/containers/certs.d/<host:port>/ca.crt`. Plain node files: the apply script backs up
 * what was there and `restore` puts it back.
 */
import { PolicyError } from "../errors";
import type { MirrorPolicy } from "../policy";
import { containerdCaPath, DEFAULT_CONTAINERD_CERTS_DIR, endpointField } from "./containerd";
import type { NodeFile, RuntimeName } from "./types";

export const DOCKER_CERTS_DIR = "/etc/docker/certs.d";
export const CONTAINERS_CERTS_DIR = "/etc/containers/certs.d";

/** Runtimes the library cannot deliver a `ca` to (their CA setting is a node path given as `caFile`). */
const NO_CA_DELIVERY: RuntimeName[] = ["k3s", "rke2", "buildkit", "bottlerocket"];

/** The CA files of the policy's `ca` endpoints for the selected runtimes, sorted by path. */
export function renderCaFiles(
  policy: MirrorPolicy,
  runtimes: readonly RuntimeName[],
  certsDir = DEFAULT_CONTAINERD_CERTS_DIR,
): NodeFile[] {
  const files = new Map<string, NodeFile>();
  const byHost = new Map<string, { ca: string; field: string }>();
  for (const entry of policy.registries) {
    entry.endpoints.forEach((e, i) => {
      if (e.ca === undefined) return;
      const field = endpointField(entry.registry, i, "ca");
      const blocked = runtimes.find((r) => NO_CA_DELIVERY.includes(r));
      if (blocked !== undefined) {
        throw new PolicyError(
          field,
          e.url,
          `${blocked} reads a mirror's CA only from a node path, which the apply script does not write for it`,
          `place the CA on the nodes yourself and give its path as caFile, or leave ${blocked} out of runtimes`,
        );
      }
      const earlier = byHost.get(e.host);
      if (earlier !== undefined && earlier.ca !== e.ca) {
        throw new PolicyError(
          field,
          e.host,
          `a different CA than ${earlier.field} for the same host: Docker and CRI-O/podman keep one CA file per host:port`,
          "give every mirror on this host the same ca",
        );
      }
      byHost.set(e.host, { ca: e.ca, field: earlier?.field ?? field });
      if (runtimes.includes("containerd")) {
        const path = containerdCaPath(certsDir, entry.registry, e.host);
        files.set(path, { path, content: e.ca, mode: 0o644 });
      }
    });
  }
  for (const [host, { ca }] of byHost) {
    const dirs = [
      ...(runtimes.includes("docker") ? [DOCKER_CERTS_DIR] : []),
      ...(runtimes.includes("crio") || runtimes.includes("podman") ? [CONTAINERS_CERTS_DIR] : []),
    ];
    for (const dir of dirs) {
      const path = `${dir}/${host}/ca.crt`;
      files.set(path, { path, content: ca, mode: 0o644 });
    }
  }
  return [...files.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}
