/**
 * GitLab CI behind a Docker Hub mirror, as the article's pipeline builds: `docker build` and `docker push` in a
 * Docker-in-Docker service. The DinD service's settings are rendered from a mirror policy (`ciMirrorSettings`) instead of
 * the article's `DOCKER_REGISTRY_MIRROR` variable (its mirror has been dead since 2019):
 * - `rendered/ci/gitlab-dind/services.yml` (committed, included by gitlab-ci.yml): the job's own DinD service with the
 *   mirrors as dockerd flags, for docker-executor runners such as GitLab.com's;
 * - `rendered/ci/gitlab-runner/config.toml` and the ConfigMap `dind-daemon-json` this stack creates: for your own
 *   Kubernetes-executor runner, whose every job's DinD service mounts the daemon.json instead (use one form per runner:
 *   dockerd refuses a setting given both as a flag and in daemon.json).
 * The article's deploy stage (`kubectl set image`) is this stack's Deployment: the pipeline sets the image tag as stack
 * config and runs `pulumi up`, so every deploy is a reviewed, recorded update.
 */
import * as pulumi from "@pulumi/pulumi";
import * as apps from "@pulumi/kubernetes/apps/v1";
import * as core from "@pulumi/kubernetes/core/v1";
import { ciMirrorSettings, type MirrorPolicyInput } from "registry-mirrors";

const config = new pulumi.Config();
const policy: MirrorPolicyInput = {
  registries: { "docker.io": { mirrors: config.requireObject<string[]>("dockerHubMirrors") } },
};
const dindImage = config.require("dindImage");

// Refused here, before any pipeline runs: a mirror with a path for an old dockerd, credentials in flags, ...
const dind = ciMirrorSettings(policy, "gitlab-dind", { dindImage });
const runner = ciMirrorSettings(policy, "gitlab-runner", {
  dindImage,
  runnerExecutor: "kubernetes",
  dindConfig: "daemon-json",
});
for (const warning of [...dind.warnings, ...runner.warnings]) pulumi.log.warn(warning);

const daemonJson = new core.ConfigMap("dind-daemon-json", {
  metadata: {
    name: "dind-daemon-json",
    namespace: config.require("runnerNamespace"),
    // part-of registry-mirrors: `registry-mirrors diff` shows changes of daemon.json in merge requests.
    labels: { "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "registry-mirrors" },
  },
  data: { "daemon.json": runner.daemonJson ?? dind.daemonJson },
});

const labels = { "app.kubernetes.io/name": "shop" };
export const image = pulumi.interpolate`${config.require("appImage")}:${config.require("imageTag")}`;
const app = new apps.Deployment("shop", {
  metadata: { name: "shop", namespace: config.require("appNamespace"), labels },
  spec: {
    replicas: config.requireNumber("replicas"),
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: { containers: [{ name: "shop", image, ports: [{ containerPort: 8080 }] }] },
    },
  },
});

export const deployment = app.metadata.name;
export const daemonJsonConfigMap = daemonJson.metadata.name;
export const dindFlags = dind.flags;

/** The rendered CI files by their path under rendered/ (gitlab-ci.yml includes services.yml from there). */
export const nodeFiles = pulumi.output(
  Object.fromEntries(
    Object.entries({ ...dind.files, ...runner.files }).map(([path, content]) => [`ci/${path}`, content]),
  ),
);
