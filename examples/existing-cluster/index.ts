/**
 * An existing cluster: every node gets the registry mirrors through a DaemonSet (no node replacement), and the
 * `apps` and `default` namespaces get a pull secret for a private registry, attached to their default service
 * accounts. Set `mode` to "restore" and run `pulumi up` to put every node's original files back before
 * `pulumi destroy`.
 */
import * as pulumi from "@pulumi/pulumi";
import { MirrorDaemonConfig, RegistryCredentialSecret } from "registry-mirrors";

const config = new pulumi.Config();
const mode = config.get("mode") ?? "apply";
if (mode !== "apply" && mode !== "restore") throw new Error(`mode: expected "apply" or "restore", got "${mode}"`);

const mirrors = new MirrorDaemonConfig("cluster-mirrors", {
  // Any value may be an Output, e.g. a mirror URL kept as a secret in an ESC environment (a URL is not a credential:
  // it is written in the clear). Node files computed from Outputs go in a Secret; known ones without a credential,
  // as here by default, in a ConfigMap.
  policy: {
    registries: {
      "docker.io": { mirrors: [config.getSecret("dockerHubMirror") ?? "https://mirror.gcr.io"] },
      "ghcr.io": { mirrors: [config.get("ghcrMirror") ?? "https://ghcr-mirror.example.com"] },
    },
  },
  runtimes: ["docker", "containerd"],
  // Mirrors reload without a restart (SIGHUP for Docker, hosts.toml read live by containerd): no pod is stopped.
  restartPolicy: "never",
  kubernetes: {
    namespace: "kube-system",
    image: config.get("nodeConfigImage") || undefined,
    // One node at a time first; raise it (e.g. "20%") once the first rollout looked good.
    maxUnavailable: 1,
    mode,
  },
});

const pullSecret = new RegistryCredentialSecret("registry-pull", {
  registries: {
    [config.get("privateRegistry") ?? "registry.example.com"]: {
      username: config.get("registryUser") ?? "ci-puller",
      password: config.requireSecret("registryPassword"),
    },
  },
  namespaces: ["default", "apps"],
  serviceAccounts: ["default"],
  // Pods and service accounts reference the Secret by name: the default, `registry-pull-<stack>`, keeps two stacks
  // apart; read it from `secretName`.
});

export const checksum = mirrors.checksum;
export const daemonJson = mirrors.daemonJson;
export const pullSecretName = pullSecret.secretName;
export const pullSecretNamespaces = pullSecret.namespaces;

/**
 * Every file the DaemonSet writes on a node, plus the apply script it runs, by path under rendered/ (what
 * `pulumi stack output nodeFiles` shows; the test suite compares it with the committed rendered/ folder).
 */
export const nodeFiles = pulumi.all([mirrors.files, mirrors.applyScript]).apply(([files, applyScript]) => ({
  ...Object.fromEntries(Object.entries(files).map(([path, content]) => [`node${path}`, content])),
  "apply-node-config.sh": applyScript,
}));
