/**
 * An EKS managed node group (Amazon Linux 2023) in a commercial region whose containerd pulls Docker Hub, ECR
 * Public, Quay and registry.k8s.io images through the account's ECR pull-through cache in the same region.
 *
 * RegionalMirrorSelector creates the pull-through cache rules (and the Secrets Manager secret ECR needs for Docker
 * Hub) and picks the mirrors; MirrorDaemonConfig renders containerd's hosts.toml files and the apply script;
 * eksNodeUserData wraps the script as the MIME part EKS merges in front of its own bootstrap.
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
  // One rule per registry with AWS's usual prefixes (docker-hub, ecr-public, quay, k8s), in this account and region.
  createPullThroughCache: true,
  // ECR caches Docker Hub only with a Docker Hub account; the token is stored as a Secrets Manager secret.
  pullThroughCredentials: {
    "docker.io": {
      username: config.require("dockerHubUsername"),
      accessToken: config.requireSecret("dockerHubAccessToken"),
    },
  },
  // After the cache, Google's Docker Hub mirror; Docker Hub itself is tried last.
  fallbacks: { "docker.io": ["https://mirror.gcr.io"] },
});

// AL2023 runs containerd only, and already points its config_path at /etc/containerd/certs.d.
const mirrors = new MirrorDaemonConfig("nodes", { policy: selector.policy, runtimes: ["containerd"] });

const userData = eksNodeUserData({ amiType, applyScript: mirrors.applyScript });

const launchTemplate = new ec2.LaunchTemplate("nodes", {
  description: "EKS nodes with registry mirrors (registry-mirrors)",
  userData,
  // IMDSv2 only; hop limit 2 so pods that need the node role's credentials still reach it.
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
  // A new launch template version (a mirror change) replaces the nodes one at a time.
  launchTemplate: { id: launchTemplate.id, version: launchTemplate.latestVersion.apply((v) => String(v)) },
  updateConfig: { maxUnavailable: 1 },
});

export const nodeGroupName = nodeGroup.nodeGroupName;
/** Why each mirror was chosen, in the order containerd tries them. */
export const mirrorReasons = selector.reasons;
export const checksum = mirrors.checksum;

/**
 * The node files by path under rendered/: what containerd reads, the apply script, and the user data the launch
 * template receives (decoded). The test suite compares them with the committed rendered/ folder.
 */
export const nodeFiles = pulumi
  .all([mirrors.files, mirrors.applyScript, userData])
  .apply(([files, applyScript, encoded]) => ({
    ...Object.fromEntries(Object.entries(files).map(([path, content]) => [`node${path}`, content])),
    "apply-node-config.sh": applyScript,
    "user-data.mime": Buffer.from(encoded, "base64").toString("utf8"),
  }));
