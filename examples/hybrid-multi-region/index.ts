/**
 * The seed article's hybrid-cloud scenario as one program: Docker node pools in AWS us-west-2, AWS China
 * (cn-north-1) and Alibaba Cloud cn-hangzhou, each getting its own region's Docker Hub mirrors, all of them
 * allowed to pull from the private 10.0.0.0/8 registries over plain HTTP.
 *
 * The seed picked the mirror with a shell `if` on $AWS_REGION at boot and overwrote daemon.json. Here one
 * catalog says which mirrors serve which region; RegionalMirrorSelector picks them per pool when you run
 * `pulumi preview`, so a reviewer sees every pool's daemon.json before any node gets it, and the apply script
 * merges the keys into the node's own file instead of replacing it.
 */
import * as pulumi from "@pulumi/pulumi";
import * as awsProvider from "@pulumi/aws/provider";
import * as ec2 from "@pulumi/aws/ec2";
import * as ssm from "@pulumi/aws/ssm";
import * as aliProvider from "@pulumi/alicloud/provider";
import * as ecs from "@pulumi/alicloud/ecs";
import { MirrorDaemonConfig, RegionalMirrorSelector, type UserCatalog } from "registry-mirrors";
import { launchTemplateUserData } from "registry-mirrors/aws";
import { ecsUserData } from "registry-mirrors/alicloud";

const config = new pulumi.Config();
const accelerator = `https://${config.require("acceleratorId")}.mirror.aliyuncs.com`;

/** Which mirrors serve which region, in one place (merged over the library's built-in catalog). */
const catalog: UserCatalog = {
  regions: {
    // Every region: the private registries on the corporate network, reached over plain HTTP.
    "*": { insecureRegistries: ["10.0.0.0/8"] },
    // The company's pull-through proxy in Oregon, then Google's Docker Hub mirror.
    "us-west-2": { registries: { "docker.io": [config.require("usWest2Proxy"), "https://mirror.gcr.io"] } },
    // AWS China: Docker Hub is slow or unreachable; the Alibaba Cloud accelerator is reachable from there.
    "cn-north-1": { registries: { "docker.io": [accelerator] } },
  },
};

/** The platform's Docker defaults, the same in every pool. */
const dockerDefaults = {
  execOpts: ["native.cgroupdriver=systemd"],
  logDriver: "json-file",
  logOpts: { "max-size": "100m" },
};

interface Pool {
  cloud: "aws" | "alicloud";
  region: string;
}
const pools: Pool[] = [
  { cloud: "aws", region: "us-west-2" },
  { cloud: "aws", region: "cn-north-1" },
  { cloud: "alicloud", region: "cn-hangzhou" },
];

const files: pulumi.Output<Record<string, string>>[] = [];
export const reasons: Record<string, pulumi.Output<string[]>> = {};

for (const pool of pools) {
  const name = pool.region;
  const selector = new RegionalMirrorSelector(`${name}-mirrors`, {
    cloud: pool.cloud,
    region: pool.region,
    userCatalog: catalog,
    // cn-hangzhou's Docker Hub mirror is the account's accelerator from the built-in Alibaba Cloud catalog.
    alicloudAcceleratorId: pool.cloud === "alicloud" ? config.require("acceleratorId") : undefined,
  });
  const mirrors = new MirrorDaemonConfig(`${name}-nodes`, {
    policy: selector.policy,
    runtimes: ["docker"],
    docker: selector.insecureRegistries.apply((insecureRegistries) => ({ ...dockerDefaults, insecureRegistries })),
  });

  let userData: pulumi.Output<string>;
  if (pool.cloud === "aws") {
    const provider = new awsProvider.Provider(`aws-${name}`, {
      region: pool.region,
      // AWS China is a separate partition with its own accounts: name its credentials profile.
      profile: pool.region.startsWith("cn-") ? config.get("awsChinaProfile") || undefined : undefined,
    });
    // Amazon's ECS-optimized Amazon Linux 2023 image: Docker preinstalled, published in every region.
    const ami = ssm.getParameterOutput(
      { name: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id" },
      { provider },
    );
    userData = launchTemplateUserData({ applyScript: mirrors.applyScript });
    new ec2.LaunchTemplate(
      `${name}-nodes`,
      {
        imageId: ami.value,
        instanceType: config.require("awsInstanceType"),
        userData,
        metadataOptions: { httpEndpoint: "enabled", httpTokens: "required" },
        updateDefaultVersion: true,
      },
      { provider },
    );
  } else {
    const provider = new aliProvider.Provider(`alicloud-${name}`, { region: pool.region });
    const image = ecs.getImagesOutput(
      { nameRegex: "^aliyun_3_x64_20G_alibase_", owners: "system", mostRecent: true },
      { provider },
    );
    // Alibaba Cloud Linux 3 has no Docker: install Docker CE after our part wrote daemon.json.
    const installDocker = [
      "#cloud-config",
      "runcmd:",
      "  - [dnf, config-manager, '--add-repo=https://mirrors.aliyun.com/docker-ce/linux/centos/docker-ce.repo']",
      "  - [dnf, install, -y, dnf-plugin-releasever-adapter, --repo, alinux3-plus]",
      "  - [dnf, install, -y, --nobest, docker-ce]",
      "  - [systemctl, enable, --now, docker]",
      "",
    ].join("\n");
    userData = ecsUserData({ applyScript: mirrors.applyScript, userData: installDocker });
    new ecs.EcsLaunchTemplate(
      `${name}-nodes`,
      {
        launchTemplateName: `${name}-docker-nodes`,
        imageId: image.images[0].id,
        instanceType: config.require("alicloudInstanceType"),
        userData,
      },
      { provider },
    );
  }

  reasons[name] = selector.reasons;
  files.push(
    pulumi.all([mirrors.files, mirrors.applyScript, userData]).apply(([nodeFiles, applyScript, encoded]) => {
      const text = Buffer.from(encoded, "base64").toString("utf8");
      return {
        ...Object.fromEntries(Object.entries(nodeFiles).map(([path, content]) => [`${name}/node${path}`, content])),
        [`${name}/apply-node-config.sh`]: applyScript,
        [`${name}/${text.startsWith("#cloud-config") ? "user-data.yaml" : "user-data.mime"}`]: text,
      };
    }),
  );
}

/** Every pool's node files under `<region>/`, and the user data its launch template receives (decoded). */
export const nodeFiles = pulumi.all(files).apply((perPool) => Object.assign({}, ...perPool) as Record<string, string>);
