import * as pulumi from "@pulumi/pulumi";
import {
  type EksAmiFamily,
  type Compression,
  type EksClusterDetails,
  type MimePart,
  eksAmiFamily,
  fitUserData,
  refuseDockerOnBottlerocket,
  refuseSecretApplyScript,
  renderEksUserData,
} from "../core/userdata";
import { type NodeUserDataInputs, nodeUserData } from "../node-user-data";

export { nodeEngineFileOf } from "../node-user-data";

/**
 * Arguments of {@link launchTemplateUserData}: user data for an `aws.ec2.LaunchTemplate` (or
 * `aws.ec2.Instance`) of plain EC2 nodes. For EKS node groups use {@link eksNodeUserData}.
 */
export interface LaunchTemplateUserDataArgs extends NodeUserDataInputs {}

/**
 * Base64 user data for `aws.ec2.LaunchTemplate.userData`: the apply script as `#cloud-config` (or shell),
 * or MIME multipart with your own parts after ours; compressed when needed, refused over EC2's 16 KB limit.
 *
 * ```ts
 * new aws.ec2.LaunchTemplate("nodes", { imageId, userData: launchTemplateUserData({ applyScript: mirrors.applyScript }) });
 * ```
 */
export function launchTemplateUserData(args: LaunchTemplateUserDataArgs): pulumi.Output<string> {
  return nodeUserData("ec2", args);
}

/**
 * Arguments of {@link eksNodeUserData}: user data for the launch template of an EKS node group (managed
 * or self-managed). Give what the node group's AMI family reads: the apply script for AL2 and AL2023,
 * the settings TOML for Bottlerocket.
 */
export interface EksNodeUserDataArgs {
  /** The node group's `amiType`: `AL2023_x86_64_STANDARD`, `AL2_x86_64`, `BOTTLEROCKET_ARM_64`, ... or `CUSTOM`. */
  amiType: pulumi.Input<string>;
  /** For `CUSTOM` AMIs: the family the image was built from (`al2023`, `al2` or `bottlerocket`). */
  amiFamily?: pulumi.Input<EksAmiFamily>;
  /** AL2, AL2023: the node apply script (`MirrorDaemonConfig.applyScript`); writes hosts.toml. Refused for Bottlerocket. */
  applyScript?: pulumi.Input<string>;
  /**
   * AL2023: containerd TOML for a `NodeConfig` part, merged by nodeadm over its default. Not needed for
   * mirrors: AL2023 already sets `config_path` to `/etc/containerd/certs.d:/etc/docker/certs.d`.
   */
  containerdConfig?: pulumi.Input<string>;
  /** AL2023 self-managed nodes or custom AMIs: cluster details for nodeadm (managed node groups get them from EKS). */
  cluster?: pulumi.Input<EksClusterDetails>;
  /** Bottlerocket: the settings TOML (`MirrorDaemonConfig.bottlerocketSettings`, with `bottlerocket` among the runtimes). */
  bottlerocketSettings?: pulumi.Input<string | undefined>;
  /** Bottlerocket: your own settings TOML (e.g. `[settings.kubernetes]` for self-managed nodes), merged in. */
  userSettings?: pulumi.Input<string>;
  /** AL2, AL2023: your existing user data (a script, a `#cloud-config` or a MIME document), kept after ours. */
  userData?: pulumi.Input<string>;
  /** AL2, AL2023: your own MIME parts (`text/x-shellscript`, `application/node.eks.aws`, ...), kept after ours in order. */
  userParts?: pulumi.Input<pulumi.Input<MimePart>[]>;
  /** Where the apply script is written on the node; default `/var/lib/registry-mirrors/apply-node-config.sh`. */
  scriptPath?: pulumi.Input<string>;
  /**
   * AL2, AL2023: `"auto"` (default) carries the apply script gzip+base64 inside its part only when the
   * plain document is over 16 KB; `true` always; `false` never. (EKS reads the MIME document itself, so
   * the whole document is never gzipped.)
   */
  compress?: pulumi.Input<Compression>;
  /** AL2, AL2023: fetch the engine from this folder URL (see {@link NodeUserDataInputs.engineUrl}). */
  engineUrl?: pulumi.Input<string>;
}

/**
 * Base64 user data for the launch template of an EKS node group: MIME multipart for AL2 and AL2023 (what
 * managed node groups require; EKS appends its own bootstrap parts after these), TOML settings for
 * Bottlerocket. Refused over EC2's 16 KB limit.
 *
 * ```ts
 * const lt = new aws.ec2.LaunchTemplate("nodes", {
 *   userData: eksNodeUserData({ amiType: "AL2023_x86_64_STANDARD", applyScript: mirrors.applyScript }),
 * });
 * new aws.eks.NodeGroup("nodes", { amiType: "AL2023_x86_64_STANDARD", launchTemplate: { id: lt.id, version: lt.latestVersion.apply(String) }, ... });
 * ```
 */
export function eksNodeUserData(args: EksNodeUserDataArgs): pulumi.Output<string> {
  // Refuse what is already wrong from the shape of the arguments, before any value resolves.
  if (typeof args.amiType === "string" && (args.amiFamily === undefined || typeof args.amiFamily === "string")) {
    if (eksAmiFamily(args.amiType, args.amiFamily as EksAmiFamily | undefined) === "bottlerocket")
      refuseDockerOnBottlerocket({ applyScript: args.applyScript });
  }
  const script = pulumi.output(args.applyScript);
  return pulumi
    .output({
      amiType: args.amiType,
      amiFamily: args.amiFamily,
      applyScript: script,
      secret: pulumi.isSecret(script),
      containerdConfig: args.containerdConfig,
      cluster: args.cluster,
      bottlerocketSettings: args.bottlerocketSettings,
      userSettings: args.userSettings,
      userData: args.userData,
      userParts: args.userParts,
      scriptPath: args.scriptPath,
      compress: args.compress,
      engineUrl: args.engineUrl,
    })
    .apply((v) => {
      refuseSecretApplyScript(v.secret);
      const family = eksAmiFamily(v.amiType, v.amiFamily);
      // Bottlerocket settings are a few hundred bytes of TOML: nothing to compress.
      const compress = family === "bottlerocket" ? false : (v.compress ?? "auto");
      return fitUserData(
        "ec2",
        compress,
        (compressed) =>
          renderEksUserData({
            family,
            applyScript: v.applyScript,
            scriptPath: v.scriptPath,
            containerdConfig: v.containerdConfig,
            cluster: v.cluster,
            bottlerocketSettings: v.bottlerocketSettings,
            userSettings: v.userSettings,
            userData: v.userData,
            userParts: v.userParts,
            engineUrl: v.engineUrl,
            compress: compressed,
          }),
        // AL2 reads its MIME document with cloud-init (gzip taken); AL2023's nodeadm and Bottlerocket do not.
        { gzipReader: family === "al2" },
      );
    });
}
