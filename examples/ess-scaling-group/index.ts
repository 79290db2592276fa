/**
 * An Alibaba Cloud Auto Scaling (ESS) group of Docker hosts in cn-shanghai. Every instance it launches gets the
 * region's Docker Hub mirror (the account's accelerator) merged into /etc/docker/daemon.json at first boot —
 * the seed article's single-node daemon.json, without overwriting the file or restarting Docker.
 */
import * as pulumi from "@pulumi/pulumi";
import * as ecs from "@pulumi/alicloud/ecs";
import * as ess from "@pulumi/alicloud/ess";
import { MirrorDaemonConfig, RegionalMirrorSelector } from "registry-mirrors";
import { ecsUserData } from "registry-mirrors/alicloud";

const config = new pulumi.Config();
const region = new pulumi.Config("alicloud").require("region");

const selector = new RegionalMirrorSelector("mirrors", {
  cloud: "alicloud",
  region,
  alicloudAcceleratorId: config.require("acceleratorId"),
});

const mirrors = new MirrorDaemonConfig("hosts", {
  policy: selector.policy,
  runtimes: ["docker"],
  // The rest of the seed's daemon.json. A key not listed here (runtimes, data-root, ...) keeps the host's value.
  docker: { execOpts: ["native.cgroupdriver=systemd"], logDriver: "json-file", logOpts: { "max-size": "100m" } },
});

// Alibaba Cloud Linux 3 has no Docker: install Docker CE from Alibaba Cloud's mirror of its repository (the
// releasever adapter maps the OS's release to the CentOS 8 packages). This part runs after ours, so Docker reads
// the merged daemon.json when it first starts.
const installDocker = [
  "#cloud-config",
  "runcmd:",
  "  - [dnf, config-manager, '--add-repo=https://mirrors.aliyun.com/docker-ce/linux/centos/docker-ce.repo']",
  "  - [dnf, install, -y, dnf-plugin-releasever-adapter, --repo, alinux3-plus]",
  "  - [dnf, install, -y, --nobest, docker-ce]",
  "  - [systemctl, enable, --now, docker]",
  "",
].join("\n");

const userData = ecsUserData({ applyScript: mirrors.applyScript, userData: installDocker });

const image = ecs.getImagesOutput({ nameRegex: "^aliyun_3_x64_20G_alibase_", owners: "system", mostRecent: true });

const group = new ess.ScalingGroup("docker-hosts", {
  scalingGroupName: "docker-hosts",
  minSize: 1,
  maxSize: config.requireNumber("maxSize"),
  vswitchIds: config.requireObject<string[]>("vswitchIds"),
  removalPolicies: ["OldestScalingConfiguration", "OldestInstance"],
});

new ess.ScalingConfiguration("docker-hosts", {
  scalingGroupId: group.id,
  imageId: image.images[0].id,
  instanceType: config.require("instanceType"),
  securityGroupId: config.require("securityGroupId"),
  systemDiskCategory: "cloud_essd",
  userData,
  // A new configuration (a mirror change) takes effect for instances launched from now on.
  active: true,
  forceDelete: true,
});

export const scalingGroupId = group.id;
/** Why each mirror was chosen, in the order Docker tries them. */
export const mirrorReasons = selector.reasons;
export const daemonJson = mirrors.daemonJson;

/** The node files by path under rendered/, and the user data the scaling configuration receives (decoded). */
export const nodeFiles = pulumi
  .all([mirrors.files, mirrors.applyScript, userData])
  .apply(([files, applyScript, encoded]) => ({
    ...Object.fromEntries(Object.entries(files).map(([path, content]) => [`node${path}`, content])),
    "apply-node-config.sh": applyScript,
    "user-data.mime": Buffer.from(encoded, "base64").toString("utf8"),
  }));
