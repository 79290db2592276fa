import * as pulumi from "@pulumi/pulumi";
import type { MirrorPolicyInput } from "./core/policy";
import type { DockerSettingsInput } from "./core/render/docker";
import type { RuntimeRenderOptions } from "./core/render/runtimes";
import type { RestartPolicy, RuntimeName } from "./core/render/types";
import { RenderedNodeConfig, renderNodeConfig } from "./core/render/node-config";
import { encodeUserData } from "./core/render/userdata";
// Loads no Kubernetes SDK at import time: createNodeConfigResources loads it when it creates resources.
import { createNodeConfigResources, NodeConfigKubernetesArgs } from "./kubernetes/node-config";
import { computeOutput } from "./known";

/** Arguments of {@link MirrorDaemonConfig}. */
export interface MirrorDaemonConfigArgs {
  /**
   * Docker Hub mirrors, tried in order (shorthand for `policy.registries["docker.io"].mirrors`), e.g.
   * `["https://<id>.mirror.aliyuncs.com"]`.
   */
  mirrors?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * The full mirror policy: per upstream registry (`docker.io`, `ghcr.io`, `*`, ...) an ordered list of mirrors.
   * Takes a `RegionalMirrorSelector`'s `policy` output as is.
   */
  policy?: pulumi.Input<MirrorPolicyInput>;
  /** Docker daemon settings written beside the mirrors (`execOpts`, `logDriver`, `logOpts`, `insecureRegistries`, ...). */
  docker?: pulumi.Input<DockerSettingsInput>;
  /** Runtimes to configure: `docker`, `containerd`, `crio`, `podman`, `k3s`, `rke2`, `buildkit`, `bottlerocket`. Default docker + containerd. */
  runtimes?: pulumi.Input<pulumi.Input<RuntimeName>[]>;
  /**
   * `"never"` (default): the apply script only reloads (Docker mirrors and insecure registries reload on SIGHUP;
   * containerd reads hosts.toml live) and fails with a message when a change needs a restart.
   * `"if-needed"`: it restarts a runtime when a changed setting requires it (without `liveRestore`, a Docker restart
   * stops every container on the node).
   */
  restartPolicy?: pulumi.Input<RestartPolicy>;
  /** Options of the non-Docker formats: containerd certs folder, k3s/RKE2 registry auth. */
  runtimeOptions?: pulumi.Input<RuntimeRenderOptions>;
  /**
   * Configure the nodes of a running Kubernetes cluster: creates a ConfigMap and a DaemonSet that run the apply
   * script on every node. Omit it to deliver by cloud user data only.
   */
  kubernetes?: NodeConfigKubernetesArgs;
}

/**
 * Renders one mirror policy into every selected runtime's node files, the node apply script and cloud-init
 * user data; optionally rolls them out to a running cluster through a DaemonSet.
 */
export class MirrorDaemonConfig extends pulumi.ComponentResource {
  /** The normalised policy (registries sorted, aliases folded, duplicates dropped). */
  public readonly policy: pulumi.Output<RenderedNodeConfig["policy"]>;
  /** The daemon.json keys the apply script merges into the node's file (undefined without Docker). */
  public readonly daemonJson: pulumi.Output<string | undefined>;
  /** containerd hosts.toml files by node path. */
  public readonly containerdHosts: pulumi.Output<Record<string, string>>;
  /** Every rendered node file by node path. */
  public readonly files: pulumi.Output<Record<string, string>>;
  /** Bottlerocket settings TOML, when `bottlerocket` is among the runtimes. */
  public readonly bottlerocketSettings: pulumi.Output<string | undefined>;
  /** The POSIX sh script that applies the files on a node: `sh apply-node-config.sh [apply|restore]`. */
  public readonly applyScript: pulumi.Output<string>;
  /**
   * `#cloud-config` that writes and runs the apply script. Undefined when a node file holds a credential (mirror
   * headers, registry auth): credentials never go into user data; deliver those with `kubernetes`.
   */
  public readonly userData: pulumi.Output<string | undefined>;
  /** `userData`, base64-encoded (EC2 launch templates). */
  public readonly userDataBase64: pulumi.Output<string | undefined>;
  /** `userData`, gzip-compressed then base64-encoded (cloud-init accepts it; a quarter of the size). */
  public readonly userDataGzipBase64: pulumi.Output<string | undefined>;
  /** sha256 of the apply script: changes exactly when a node file changes. */
  public readonly checksum: pulumi.Output<string>;
  /** Warnings met while rendering (also logged). */
  public readonly warnings: pulumi.Output<string[]>;

  constructor(name: string, args: MirrorDaemonConfigArgs, opts?: pulumi.ComponentResourceOptions) {
    super("registry-mirrors:index:MirrorDaemonConfig", name, {}, opts);

    const inputs = {
      mirrors: args.mirrors,
      policy: args.policy,
      docker: args.docker,
      runtimes: args.runtimes,
      restartPolicy: args.restartPolicy,
      runtimeOptions: args.runtimeOptions,
    };
    const rendered = computeOutput(inputs, (i) => renderNodeConfig(i as Parameters<typeof renderNodeConfig>[0]));
    // Secret-ness is decided by the content (mirror headers, registry auth): one secret-aware copy of the rendering
    // feeds every value that may hold a credential (one Output instead of a pulumi.all + apply per value).
    const sensitive = rendered.apply((r) => (r.secret ? pulumi.secret(r) : pulumi.output(r)));

    rendered.apply((r) => r.warnings.forEach((w) => pulumi.log.warn(w, this)));

    this.policy = rendered.apply((r) => r.policy);
    this.daemonJson = rendered.apply((r) => r.daemonJson);
    this.containerdHosts = sensitive.apply((r) => r.containerdHosts);
    this.files = sensitive.apply((r) => r.files);
    this.bottlerocketSettings = rendered.apply((r) => r.bottlerocketSettings);
    this.applyScript = sensitive.apply((r) => r.applyScript);
    this.userData = rendered.apply((r) => r.userData);
    this.userDataBase64 = this.userData.apply((u) => (u === undefined ? undefined : encodeUserData(u, { gzip: false })));
    this.userDataGzipBase64 = this.userData.apply((u) => (u === undefined ? undefined : encodeUserData(u, { gzip: true })));
    this.checksum = rendered.apply((r) => r.checksum);
    this.warnings = rendered.apply((r) => r.warnings);

    if (args.kubernetes) {
      const content = sensitive.apply((r) => ({ applyScript: r.applyScript, paths: Object.keys(r.files), runtimes: r.runtimes }));
      createNodeConfigResources(this, name, args.kubernetes, content);
    }

    this.registerOutputs({ checksum: this.checksum });
  }
}
