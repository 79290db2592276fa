/**
 * BuildKit configuration for CI builds behind a Docker Hub mirror. The library renders buildkitd.toml from the
 * same mirror policy the nodes use; this stack publishes it as a ConfigMap that Kubernetes CI runners mount into
 * their BuildKit jobs (gitlab-ci.yml), and the rendered file committed under rendered/ is what hosted runners
 * pass to `docker buildx create --buildkitd-config` (github-workflow.yml). Both pipelines run `pulumi preview` on
 * every merge/pull request and post the diff as a comment, so a mirror change is reviewed before it lands.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes/core/v1";
import { MirrorDaemonConfig } from "registry-mirrors";

const config = new pulumi.Config();

const builders = new MirrorDaemonConfig("builders", {
  policy: { registries: { "docker.io": { mirrors: config.requireObject<string[]>("dockerHubMirrors") } } },
  // BuildKit tries the mirrors in order, then Docker Hub itself.
  runtimes: ["buildkit"],
});

const buildkitdToml = builders.files.apply((files) => files["/etc/buildkit/buildkitd.toml"]);

const configMap = new k8s.ConfigMap("buildkitd-config", {
  metadata: {
    name: "buildkitd-config",
    namespace: config.require("runnerNamespace"),
    labels: { "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "registry-mirrors" },
  },
  data: { "buildkitd.toml": buildkitdToml },
});

export const configMapName = configMap.metadata.name;
export { buildkitdToml };

/** buildkitd.toml by its path under rendered/ (CI jobs on hosted runners read the committed copy). */
export const nodeFiles = builders.files.apply((files) =>
  Object.fromEntries(Object.entries(files).map(([path, content]) => [`node${path}`, content])),
);
