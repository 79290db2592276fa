/**
 * An ACK (Alibaba Cloud Container Service for Kubernetes) node pool in cn-hangzhou whose containerd pulls Docker
 * Hub images through the account's accelerator, and the company's own images from Container Registry through
 * its VPC endpoint (no internet traffic, no traffic fees).
 */
import * as pulumi from "@pulumi/pulumi";
import * as cs from "@pulumi/alicloud/cs";
import { MirrorDaemonConfig, RegionalMirrorSelector } from "registry-mirrors";
import { ackNodePoolUserData } from "registry-mirrors/alicloud";

const config = new pulumi.Config();
const region = new pulumi.Config("alicloud").require("region");

const selector = new RegionalMirrorSelector("mirrors", {
  cloud: "alicloud",
  region,
  // Docker Hub, and the region's Container Registry (Personal Edition) the company pushes its images to.
  registries: ["docker.io", `registry.${region}.aliyuncs.com`],
  alicloudAcceleratorId: config.require("acceleratorId"),
});

// ACK node pools run containerd; its hosts.toml files are read live, so nothing restarts.
const mirrors = new MirrorDaemonConfig("nodes", { policy: selector.policy, runtimes: ["containerd"] });

const userData = ackNodePoolUserData({ applyScript: mirrors.applyScript });

const pool = new cs.NodePool("workers", {
  clusterId: config.require("clusterId"),
  nodePoolName: "workers",
  vswitchIds: config.requireObject<string[]>("vswitchIds"),
  instanceTypes: [config.require("instanceType")],
  // The provider takes the count as a string.
  desiredSize: String(config.requireNumber("desiredSize")),
  runtimeName: "containerd",
  systemDiskCategory: "cloud_essd",
  systemDiskSize: 120,
  // Runs after the node joined the cluster; pulls started after it use the mirrors.
  userData,
});

export const nodePoolId = pool.id;
/** Why each mirror was chosen, in the order containerd tries them. */
export const mirrorReasons = selector.reasons;
export const checksum = mirrors.checksum;

/** The node files by path under rendered/, and the user data the node pool receives (decoded). */
export const nodeFiles = pulumi
  .all([mirrors.files, mirrors.applyScript, userData])
  .apply(([files, applyScript, encoded]) => ({
    ...Object.fromEntries(Object.entries(files).map(([path, content]) => [`node${path}`, content])),
    "apply-node-config.sh": applyScript,
    "user-data.sh": Buffer.from(encoded, "base64").toString("utf8"),
  }));
