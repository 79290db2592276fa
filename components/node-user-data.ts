import * as pulumi from "@pulumi/pulumi";
import {
  type Compression,
  type MimePart,
  type UserDataFormat,
  type UserDataLimitTarget,
  fitUserData,
  refuseSecretApplyScript,
  renderNodeUserData,
  nodeEngineFile,
  type NodeEngineFile,
} from "./core/userdata";
import { PolicyError } from "./core/errors";
import { firstLine } from "./core/userdata/files";
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
  /**
   * Fetch the apply script's engine from this folder URL instead of carrying it in the user data (see
   * `nodeEngineFileOf`: upload that file there, e.g. as an S3 or OSS object). The user data then holds the readable
   * policy files, a 1.3 KB fetcher and the engine's URL and sha256: small whatever the runtimes, and a policy change
   * shows in a review as the lines that changed.
   */
  engineUrl?: pulumi.Input<string>;
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
    engineUrl: args.engineUrl,
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
          engineUrl: v.engineUrl,
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

/**
 * The engine file of an apply script, to upload where `engineUrl` points: its `name` (version and hash), `content`
 * and `sha256`. The same file for every policy with the same runtimes and library version.
 *
 * ```ts
 * const engine = nodeEngineFileOf(mirrors.applyScript);
 * new aws.s3.BucketObjectv2("engine", { bucket, key: engine.name.apply((n) => `registry-mirrors/${n}`), content: engine.content });
 * ```
 */
export function nodeEngineFileOf(applyScript: pulumi.Input<string>): pulumi.Output<NodeEngineFile> {
  return pulumi.output(applyScript).apply((script) => {
    const file = nodeEngineFile(script);
    if (file === undefined)
      throw new PolicyError(
        "applyScript",
        firstLine(script),
        "this apply script has no engine/data split, so there is no engine file",
        "pass MirrorDaemonConfig.applyScript (rendered by this library)",
      );
    return file;
  });
}
