import { MirrorPolicyInput } from "../../../../components/core/policy";
import { DockerSettingsInput } from "../../../../components/core/render/docker";

/** The scenarios whose daemon.json is kept as a golden file (the e2e suite feeds each to a real dockerd). */
export const DOCKER_SCENARIOS: Record<string, { policy: MirrorPolicyInput; settings?: DockerSettingsInput }> = {
  // The seed article's single-node setup: Alibaba Cloud accelerator, systemd cgroups, bounded json-file logs.
  seed: {
    policy: { registries: { "docker.io": { mirrors: ["https://abc123xyz.mirror.aliyuncs.com"] } } },
    settings: { execOpts: ["native.cgroupdriver=systemd"], logDriver: "json-file", logOpts: { "max-size": "100m" } },
  },
  "multi-mirror": {
    policy: {
      registries: {
        "index.docker.io": {
          mirrors: [
            "https://abc123xyz.mirror.aliyuncs.com/",
            "https://mirror.gcr.io",
            { url: "https://registry.internal.example:5000", insecure: true },
            "http://cache.internal.example:5001",
          ],
        },
        "ghcr.io": { mirrors: ["https://ghcr-cache.internal.example"] },
      },
    },
    settings: {
      liveRestore: true,
      maxConcurrentDownloads: 10,
      logDriver: "json-file",
      logOpts: { "max-size": "50m", "max-file": "3" },
      labels: { pool: "build" },
    },
  },
  // An ECR pull-through cache (overridePath, a /v2/ path) is for containerd and CRI-O/podman only: Docker gets the
  // other mirror, and with the cache alone no registry-mirrors key at all.
  "ecr-pull-through": {
    policy: {
      registries: { "docker.io": { mirrors: [{ url: "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/v2/docker-hub", overridePath: true }, "https://mirror.gcr.io"] } },
      allowMirrorPaths: true,
    },
    settings: { execOpts: ["native.cgroupdriver=systemd"] },
  },
  "ecr-only": {
    policy: {
      registries: { "docker.io": { mirrors: [{ url: "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/v2/docker-hub", overridePath: true }] } },
      allowMirrorPaths: true,
    },
    settings: { execOpts: ["native.cgroupdriver=systemd"] },
  },
  // The seed's per-region script: one mirror plus the whole private network as insecure registries.
  "insecure-cidr": {
    policy: { registries: { "docker.io": { mirrors: ["https://registry-mirror.internal.example"] } } },
    settings: { insecureRegistries: ["10.0.0.0/8", "registry.local:5000", "fd00:1::/64"] },
  },
};
