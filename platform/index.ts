/**
 * The platform stack a new user starts from (`pulumi up` at the repository root runs it): picks the mirrors for
 * the nodes' cloud region, renders every runtime's files and the node apply script, and either
 *  - outputs the user data new nodes boot with (`userData`, base64 for an EC2 launch template or an Alibaba
 *    Cloud ECS instance / ESS scaling configuration; read it from node-pool stacks with a StackReference), and
 *  - with `configureCluster`, also rolls the files out to the nodes of the current Kubernetes cluster with a
 *    DaemonSet (no node replacement).
 */
import * as pulumi from "@pulumi/pulumi";
import {
  type CloudName,
  MirrorDaemonConfig,
  RegionalMirrorSelector,
  type RestartPolicy,
  type RuntimeName,
} from "registry-mirrors";
import { launchTemplateUserData } from "registry-mirrors/aws";
import { ecsUserData } from "registry-mirrors/alicloud";

const config = new pulumi.Config();
const cloud = config.require("cloud") as CloudName;
const acceleratorId = config.get("acceleratorId") || undefined;
const ownMirrors = config.getObject<string[]>("mirrors") ?? [];

const selector = new RegionalMirrorSelector("mirrors", {
  cloud,
  region: config.require("region"),
  registries: config.getObject<string[]>("registries"),
  alicloudAcceleratorId: acceleratorId,
  // Your own Docker Hub mirrors, tried after the region's built-in ones.
  fallbacks: ownMirrors.length > 0 ? { "docker.io": ownMirrors } : undefined,
});

const runtimes = config.getObject<RuntimeName[]>("runtimes") ?? ["docker", "containerd"];
const insecureRegistries = config.getObject<string[]>("insecureRegistries") ?? [];

const nodes = new MirrorDaemonConfig("nodes", {
  policy: selector.policy,
  runtimes,
  docker: runtimes.includes("docker") ? { insecureRegistries } : undefined,
  restartPolicy: (config.get("restartPolicy") ?? "never") as RestartPolicy,
  kubernetes: config.getBoolean("configureCluster") ? { namespace: "kube-system" } : undefined,
});

/** Base64 user data for new nodes: an `aws.ec2.LaunchTemplate`, or an Alibaba Cloud ECS instance or ESS scaling configuration. */
export const userData =
  cloud === "aws"
    ? launchTemplateUserData({ applyScript: nodes.applyScript })
    : ecsUserData({ applyScript: nodes.applyScript });
/** Why each mirror was chosen, in the order the runtimes try them. */
export const reasons = selector.reasons;
/** The daemon.json keys merged into each node's file. */
export const daemonJson = nodes.daemonJson;
/** sha256 of the apply script: changes exactly when a node file changes. */
export const checksum = nodes.checksum;

/** The node files by path under platform/rendered/, and the user data (decoded). */
export const nodeFiles = pulumi
  .all([nodes.files, nodes.applyScript, userData])
  .apply(([files, applyScript, encoded]) => ({
    ...Object.fromEntries(Object.entries(files).map(([path, content]) => [`node${path}`, content])),
    "apply-node-config.sh": applyScript,
    "user-data.yaml": Buffer.from(encoded, "base64").toString("utf8"),
  }));
