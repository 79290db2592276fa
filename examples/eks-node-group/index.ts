/**
 * An EKS managed node group (Amazon Linux 2023) in a commercial region whose containerd pulls Docker Hub, ECR
 * Public, Quay and registry.k8s.io images through the account's ECR pull-through cache in the same region.
 *
 * RegionalMirrorSelector creates the pull-through cache rules (and the Secrets Manager secret ECR needs for Docker
 * Hub) and picks the mirrors; MirrorDaemonConfig renders containerd's hosts.toml files and the apply script;
 * eksNodeUserData wraps the script as the MIME part EKS merges in front of its own bootstrap. The script's engine
 * (the library's node code) is an S3 object the nodes fetch through the VPC's S3 gateway endpoint, so the user data
 * carries only the policy's files, readable in a review.
 */
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as eks from "@pulumi/aws/eks";
import * as s3 from "@pulumi/aws/s3";
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

// The engine: the same file for every policy with these runtimes, named by its hash. Nodes download it without
// credentials, only through the VPC's S3 gateway endpoint (a policy limited to one aws:SourceVpce is not public), and
// check its sha256 before running it.
const engineBucket = new s3.Bucket("node-engine", { bucket: config.require("engineBucket"), forceDestroy: true });
new s3.BucketPolicy("node-engine", {
  bucket: engineBucket.id,
  policy: pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "NodesFetchTheEngineThroughTheVpcEndpoint",
        Effect: "Allow",
        Principal: "*",
        Action: "s3:GetObject",
        Resource: pulumi.interpolate`${engineBucket.arn}/registry-mirrors/*`,
        Condition: { StringEquals: { "aws:SourceVpce": config.require("s3EndpointId") } },
      },
    ],
  }),
});
const engine = mirrors.engineFile.apply((f) => f as NonNullable<typeof f>);
const engineObject = new s3.BucketObjectv2(
  "node-engine",
  {
    bucket: engineBucket.id,
    key: pulumi.interpolate`registry-mirrors/${engine.name}`,
    content: engine.content,
    contentType: "text/x-shellscript",
  },
  // A new engine is a new object; the old one stays for nodes of launch template versions still in use.
  { retainOnDelete: true },
);
const engineUrl = pulumi.interpolate`https://${engineBucket.bucket}.s3.${region}.amazonaws.com/registry-mirrors/`;

const userData = eksNodeUserData({ amiType, applyScript: mirrors.applyScript, engineUrl });

const launchTemplate = new ec2.LaunchTemplate(
  "nodes",
  {
    description: "EKS nodes with registry mirrors (registry-mirrors)",
    userData,
    // IMDSv2 only; hop limit 2 so pods that need the node role's credentials still reach it.
    metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 2 },
    updateDefaultVersion: true,
  },
  { dependsOn: [engineObject] },
);

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
/** The engine file the nodes fetch (its name holds its hash; upload nothing by hand). */
export const engineObjectKey = engineObject.key;
