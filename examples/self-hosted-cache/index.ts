/**
 * A self-hosted pull-through cache in the cluster and the cluster's own nodes pulling through it:
 *
 * - `PullThroughCache`: CNCF Distribution in proxy mode for docker.io, ghcr.io, quay.io and registry.k8s.io, each with
 *   its own PersistentVolumeClaims, TLS from your Secret, and a fixed cluster IP the nodes reach without cluster DNS.
 *   Docker Hub is pulled with an account (its token from Pulumi config, into a Secret only).
 * - `MirrorDaemonConfig`: takes the cache's `policy` output as is and writes every node's containerd hosts.toml,
 *   Docker's daemon.json and the CA files (the apply script delivers the CA; `restore` removes it), by a DaemonSet.
 *
 * The upstream stays each registry's fallback, so the cache's own image, and every pull while a cache is down, still
 * work on the nodes that run the caches.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { MirrorDaemonConfig, PullThroughCache } from "registry-mirrors";

const config = new pulumi.Config();
const mode = config.get("mode") ?? "apply";
if (mode !== "apply" && mode !== "restore") throw new Error(`mode: expected "apply" or "restore", got "${mode}"`);
const base = config.get("serviceCidrBase") ?? "10.96.0";
const caFile = config.get("caFile") ?? "cache-ca.crt";

const cache = new PullThroughCache("registry-cache", {
  namespace: "kube-system",
  upstreams: [
    {
      registry: "docker.io",
      clusterIP: `${base}.50`,
      credentials: {
        username: config.get("dockerHubUser") ?? "platform-bot",
        password: config.requireSecret("dockerHubToken"),
      },
    },
    { registry: "ghcr.io", clusterIP: `${base}.51` },
    { registry: "quay.io", clusterIP: `${base}.52` },
    { registry: "registry.k8s.io", clusterIP: `${base}.53` },
  ],
  storage: { pvc: { storageClassName: config.get("storageClassName") ?? "standard", size: "100Gi" } },
  tls: {
    secretName: config.get("tlsSecretName") ?? "registry-cache-tls",
    ca: readFileSync(isAbsolute(caFile) ? caFile : join(__dirname, caFile), "utf8"),
  },
  replicas: 2,
});

const nodes = new MirrorDaemonConfig("cluster-nodes", {
  policy: cache.policy,
  runtimes: ["docker", "containerd"],
  restartPolicy: "never",
  kubernetes: { namespace: "kube-system", maxUnavailable: 1, mode },
});

export const cacheEndpoints = cache.endpoints;
export const checksum = nodes.checksum;

/** Every file the DaemonSet writes on a node, plus the apply script, by path under rendered/. */
export const nodeFiles = pulumi.all([nodes.files, nodes.applyScript]).apply(([files, applyScript]) => ({
  ...Object.fromEntries(Object.entries(files).map(([path, content]) => [`node${path}`, content])),
  "apply-node-config.sh": applyScript,
}));
