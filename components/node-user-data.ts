import * as pulumi from "@pulumi/pulumi";
import {
  type Compression,
  type MimePart,
  type UserDataFormat,
  type UserDataLimitTarget,
  fitUserData,
  refuseSecretApplyScript,
  renderNodeUserData,
} from "./core/userdata";
import { isKnown } from "./outputs";

/** The user data of a cloud-init node that runs the apply script: what the AWS and Alibaba Cloud helpers share. */
export interface NodeUserDataInputs {
  /** The node apply script, e.g. `MirrorDaemonConfig.applyScript`. A secret (it holds a credential) is refused. */
  applyScript: pulumi.Input<string>;
  /** `"cloud-config"` (default) or `"shell"`, used when the apply script is the only user data. */
  format?: pulumi.Input<UserDataFormat>;
  /** Your existing user data (a script, a `#cloud-config` or a MIME document), kept after ours. */
  userData?: pulumi.Input<string>;
  /** Your own MIME parts, kept after ours (and after `userData`) in this order. */
  userParts?: pulumi.Input<pulumi.Input<MimePart>[]>;
  /**
   * `"auto"` (default): the plain, reviewable form when it fits the limit, else the files inside are
   * carried gzip+base64 (the user data stays text). `true`: always compressed. `false`: never (over the
   * limit is then an error).
   */
  compress?: pulumi.Input<Compression>;
  /** Where the apply script is written on the node; default `/var/lib/registry-mirrors/apply-node-config.sh`. */
  scriptPath?: pulumi.Input<string>;
}

/** Base64 user data for `target`'s limit, from the shared inputs; refuses a secret apply script. */
export function nodeUserData(target: UserDataLimitTarget, args: NodeUserDataInputs): pulumi.Output<string> {
  const script = (
    pulumi.Output.isInstance(args.applyScript) ? args.applyScript : pulumi.output(args.applyScript)
  ) as pulumi.Output<string>;
  const rest = {
    format: args.format,
    userData: args.userData,
    userParts: args.userParts,
    compress: args.compress,
    scriptPath: args.scriptPath,
  };
  const render = (applyScript: string, secret: boolean, v: pulumi.Unwrap<typeof rest>) => {
    refuseSecretApplyScript(secret);
    return fitUserData(
      target,
      v.compress ?? "auto",
      (compress) =>
        renderNodeUserData({
          applyScript,
          format: v.format,
          userData: v.userData,
          userParts: v.userParts,
          scriptPath: v.scriptPath,
          compress,
        }),
      // cloud-config and shell scripts are read by cloud-init, which takes a gzipped document.
      { gzipReader: true },
    );
  };
  // The common case (a script Output, the rest plain) in one apply: fleets call this once per node group.
  if (isKnown(rest)) {
    return script.apply(async (applyScript) =>
      render(applyScript, await pulumi.isSecret(script), rest as pulumi.Unwrap<typeof rest>),
    );
  }
  return pulumi
    .output({ applyScript: script, secret: pulumi.isSecret(script), ...rest })
    .apply((v) => render(v.applyScript, v.secret, v));
}
