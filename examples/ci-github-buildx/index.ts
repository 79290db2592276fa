/**
 * GitHub Actions builds with `docker buildx` behind registry mirrors. `ciMirrorSettings(policy, "github-buildx")`
 * renders the buildkitd.toml that `docker/setup-buildx-action` hands to the builder: committed under rendered/ (the
 * workflow's build job reads it with `buildkitd-config`, so a policy change is a reviewed file change), and published as
 * the ConfigMap `buildkitd-config` for self-hosted runners in the cluster, which `registry-mirrors diff` shows line by
 * line in the pull request. Unlike dockerd, BuildKit mirrors every registry: here Docker Hub and GHCR.
 */
import * as pulumi from "@pulumi/pulumi";
import * as core from "@pulumi/kubernetes/core/v1";
import { ciMirrorSettings, type MirrorPolicyInput } from "registry-mirrors";

const config = new pulumi.Config();
const ghcrMirrors = config.requireObject<string[]>("ghcrMirrors");
const policy: MirrorPolicyInput = {
  registries: {
    "docker.io": { mirrors: config.requireObject<string[]>("dockerHubMirrors") },
    ...(ghcrMirrors.length > 0 ? { "ghcr.io": { mirrors: ghcrMirrors } } : {}),
  },
};

const buildx = ciMirrorSettings(policy, "github-buildx", {
  buildkitdConfigPath: "examples/ci-github-buildx/rendered/ci/github-buildx/buildkitd.toml",
});
for (const warning of buildx.warnings) pulumi.log.warn(warning);

const configMap = new core.ConfigMap("buildkitd-config", {
  metadata: {
    name: "buildkitd-config",
    namespace: config.require("runnerNamespace"),
    labels: { "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "registry-mirrors" },
  },
  data: { "buildkitd.toml": buildx.buildkitdToml },
});

export const configMapName = configMap.metadata.name;
export const buildkitdToml = buildx.buildkitdToml;

/** The rendered files by their path under rendered/ (the workflow reads buildkitd.toml from there). */
export const nodeFiles = pulumi.output(
  Object.fromEntries(Object.entries(buildx.files).map(([path, content]) => [`ci/${path}`, content])),
);
