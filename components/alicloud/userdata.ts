import * as pulumi from "@pulumi/pulumi";
import { type Compression, fitUserData, refuseSecretApplyScript, renderShellUserData } from "../core/userdata";
import { type NodeUserDataInputs, nodeUserData } from "../node-user-data";

export { nodeEngineFileOf } from "../node-user-data";

/**
 * Arguments of {@link ecsUserData}: user data for `alicloud.ecs.Instance`, `alicloud.ess.ScalingConfiguration`
 * and `alicloud.ecs.EcsLaunchTemplate` (Linux images run it with cloud-init).
 */
export interface EcsUserDataArgs extends NodeUserDataInputs {}

/**
 * Base64 user data for Alibaba Cloud ECS instances and ESS scaling configurations. The provider passes a
 * value that decodes as base64 through unchanged (and would encode anything else), so base64 is the one
 * unambiguous form. The user data stays text (never whole-document gzip). Refused over ECS's 32 KB limit
 * (counted on the base64 text).
 *
 * ```ts
 * new alicloud.ess.ScalingConfiguration("nodes", { scalingGroupId, imageId, instanceType, userData: ecsUserData({ applyScript: mirrors.applyScript }) });
 * ```
 */
export function ecsUserData(args: EcsUserDataArgs): pulumi.Output<string> {
  return nodeUserData("ecs", args);
}

/** Arguments of {@link ackNodePoolUserData}: user data for an ACK node pool (`alicloud.cs.NodePool`). */
export interface AckNodePoolUserDataArgs {
  /** The node apply script, e.g. `MirrorDaemonConfig.applyScript`. A secret (it holds a credential) is refused. */
  applyScript: pulumi.Input<string>;
  /** Your own node pool script (with its `#!` line), run after the apply script. */
  userScript?: pulumi.Input<string>;
  /** Where the apply script is written on the node; default `/var/lib/registry-mirrors/apply-node-config.sh`. */
  scriptPath?: pulumi.Input<string>;
  /**
   * `"auto"` (default): the plain, reviewable form when it fits the limit, else the files inside are
   * carried gzip+base64 (the user data stays text). `true`: always compressed. `false`: never (over the
   * limit is then an error).
   */
  compress?: pulumi.Input<Compression>;
  /** Fetch the engine from this folder URL (see {@link NodeUserDataInputs.engineUrl}), e.g. an OSS bucket's. */
  engineUrl?: pulumi.Input<string>;
}

/**
 * Base64 shell user data for `alicloud.cs.NodePool.userData` (or `preUserData`). ACK wraps node pool
 * user data into its own initialisation and runs it as a script, so this is always the `#!/bin/sh` form
 * and never whole-document gzip. `userData` runs after the node joined, beside it turning Ready (hosts.toml is read live,
 * so later pulls use the mirrors); `preUserData` runs before ACK's own initialisation, when the container
 * runtime may not be installed yet. Refused over the 32 KB limit.
 *
 * ```ts
 * new alicloud.cs.NodePool("pool", { clusterId, vswitchIds, instanceTypes, userData: ackNodePoolUserData({ applyScript: mirrors.applyScript }) });
 * ```
 */
export function ackNodePoolUserData(args: AckNodePoolUserDataArgs): pulumi.Output<string> {
  const script = pulumi.output(args.applyScript);
  return pulumi
    .output({
      applyScript: script,
      secret: pulumi.isSecret(script),
      userScript: args.userScript,
      scriptPath: args.scriptPath,
      compress: args.compress,
      engineUrl: args.engineUrl,
    })
    .apply((v) => {
      refuseSecretApplyScript(v.secret);
      return fitUserData("ecs", v.compress ?? "auto", (compress) =>
        renderShellUserData({
          applyScript: v.applyScript,
          userScript: v.userScript,
          scriptPath: v.scriptPath,
          engineUrl: v.engineUrl,
          compress,
        }),
      );
    });
}
