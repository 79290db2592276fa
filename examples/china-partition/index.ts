/**
 * An EKS managed node group in AWS China (cn-north-1, Beijing). The China partition has its own accounts, ARNs
 * (`arn:aws-cn:...`) and DNS suffix: ECR lives at `ACCOUNT.dkr.ecr.cn-north-1.amazonaws.com.cn`. Docker Hub is
 * slow or unreachable from there, so Docker Hub images come through an Alibaba Cloud accelerator (a public
 * endpoint, reachable from AWS China), while Quay, ECR Public and registry.k8s.io images come through the
 * account's ECR pull-through cache in the region.
 */
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as eks from "@pulumi/aws/eks";
import { MirrorDaemonConfig, RegionalMirrorSelector } from "registry-mirrors";
import { eksNodeUserData } from "registry-mirrors/aws";

const config = new pulumi.Config();
const region = new pulumi.Config("aws").require("region");
const amiType = "AL2023_x86_64_STANDARD";

const selector = new RegionalMirrorSelector("mirrors", {
  cloud: "aws",
  region,
  registries: ["docker.io", "public.ecr.aws", "quay.io", "registry.k8s.io"],
  // Rules for the upstreams that need no credentials; Docker Hub is served by the accelerator below instead.
  createPullThroughCache: true,
  ecrPullThrough: { "public.ecr.aws": "ecr-public", "quay.io": "quay", "registry.k8s.io": "k8s" },
  userCatalog: {
    regions: {
      // Reached over the internet from AWS China, so it is a "public" mirror, tried after the in-region ECR.
      [region]: { registries: { "docker.io": [`https://${config.require("acceleratorId")}.mirror.aliyuncs.com`] } },
    },
  },
});

const mirrors = new MirrorDaemonConfig("nodes", { policy: selector.policy, runtimes: ["containerd"] });

const userData = eksNodeUserData({ amiType, applyScript: mirrors.applyScript });

const launchTemplate = new ec2.LaunchTemplate("nodes", {
  description: "EKS nodes with registry mirrors (registry-mirrors)",
  userData,
  metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 2 },
  updateDefaultVersion: true,
});

const cluster = eks.getClusterOutput({ name: config.require("clusterName") });

const nodeGroup = new eks.NodeGroup("nodes", {
  clusterName: cluster.name,
  nodeRoleArn: config.require("nodeRoleArn"),
  subnetIds: cluster.vpcConfig.subnetIds,
  amiType,
  instanceTypes: [config.require("instanceType")],
  scalingConfig: { minSize: 1, desiredSize: 2, maxSize: 4 },
  launchTemplate: { id: launchTemplate.id, version: launchTemplate.latestVersion.apply((v) => String(v)) },
  updateConfig: { maxUnavailable: 1 },
});

export const nodeGroupName = nodeGroup.nodeGroupName;
/** Why each mirror was chosen, in the order containerd tries them. */
export const mirrorReasons = selector.reasons;
export const checksum = mirrors.checksum;

/** The node files by path under rendered/, and the user data the launch template receives (decoded). */
export const nodeFiles = pulumi
  .all([mirrors.files, mirrors.applyScript, userData])
  .apply(([files, applyScript, encoded]) => ({
    ...Object.fromEntries(Object.entries(files).map(([path, content]) => [`node${path}`, content])),
    "apply-node-config.sh": applyScript,
    "user-data.mime": Buffer.from(encoded, "base64").toString("utf8"),
  }));
