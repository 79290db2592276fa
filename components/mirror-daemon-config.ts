import * as pulumi from "@pulumi/pulumi";
import type { MirrorPolicyArgs, RuntimeRenderOptionsArgs } from "./args";
import type { DockerSettingsInput } from "./core/render/docker";
import type { RestartPolicy, RuntimeName } from "./core/render/types";
import type { WatchdogSettingsInput } from "./core/watch-plan";
import { isPlainObject, normalisePolicy } from "./core/policy";
import {
  type NodeConfigInput,
  nodeConfigUserData,
  resolvePolicyInput,
  type RenderedNodeConfig,
  renderNodeConfig,
} from "./core/render/node-config";
import { encodeUserData, type NodeEngineFile, nodeEngineFile, userDataSizeWarning } from "./core/userdata";
// Loads no Kubernetes SDK at import time: createNodeConfigResources loads it when it creates resources.
import {
  createNodeConfigResources,
  type NodeConfigKubernetesArgs,
  refuseScriptInConfigMap,
} from "./kubernetes/node-config";
import { isKnown, OutputsOnDemand, onResource } from "./outputs";

/** Arguments of {@link MirrorDaemonConfig}. */
export interface MirrorDaemonConfigArgs {
  /**
   * Docker Hub mirrors, tried in order (shorthand for `policy.registries["docker.io"].mirrors`), e.g.
   * `["https://<id>.mirror.aliyuncs.com"]`.
   */
  mirrors?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * The full mirror policy: per upstream registry (`docker.io`, `ghcr.io`, `*`, ...) an ordered list of mirrors.
   * Takes a `RegionalMirrorSelector`'s `policy` output as is; every URL, endpoint and header in it may be an Output.
   * Pass a header that carries a credential as a secret: the node files are then a secret. A secret URL (e.g. from
   * an ESC environment) is not taken for a credential: a URL is written in the clear, as user data needs it.
   */
  policy?: pulumi.Input<MirrorPolicyArgs>;
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
  /** Options of the non-Docker formats: containerd certs folder, k3s/RKE2 registry auth (pass it as a secret). */
  runtimeOptions?: pulumi.Input<RuntimeRenderOptionsArgs>;
  /**
   * The node mirror watchdog (off by default): `true` for its defaults, or its settings (`intervalSeconds`,
   * `failuresToDown`, `successesToUp`, `stateDir`, `metricsFile`, ...). It probes every mirror from the node
   * (`GET /v2/`, 200 or 401 = up) and takes the ones that refuse, stall or vanish out of containerd's hosts.toml,
   * the CRI-O/podman drop-in and Docker's `registry-mirrors` (reload only), putting them back in the policy's order
   * when they answer again. With `kubernetes` the DaemonSet's long-running container runs it; otherwise the apply
   * script installs it as the systemd service `registry-mirrors-watchdog.service` (`restore` removes it).
   * `sh apply-node-config.sh check` then tells whether the node really uses the mirrors.
   *
   * Opt-in for now because of user-data size: the script then carries the watchdog (55 KB of Python) and its plan,
   * which repeats the files; a three-registry policy's user data grows from 13-15 KB to 36-44 KB, over EC2's 16 KB
   * limit in every form (see `NodeConfigInput.watchdog`). The DaemonSet delivery has no such limit.
   */
  watchdog?: pulumi.Input<WatchdogSettingsInput | true>;
  /**
   * Configure the nodes of a running Kubernetes cluster: creates a Secret (or, when nothing in the node files is a
   * credential, a ConfigMap; see `scriptInSecret`) and a DaemonSet that runs the apply script on every node. Omit it
   * to deliver by cloud user data only.
   */
  kubernetes?: NodeConfigKubernetesArgs;
}

/**
 * Checks, at construction, the registries of a policy that are known while others are Outputs (and the `mirrors`
 * list when only the policy is an Output), with the field paths and messages of the full check that runs when the
 * Outputs resolve. Entries not known yet stand in as empty entries; overrides not known yet allow (the full check
 * decides).
 */
function checkKnownParts(args: MirrorDaemonConfigArgs): void {
  const policy = args.policy;
  if (args.mirrors !== undefined && isKnown(args.mirrors) && policy !== undefined && !isKnown(policy)) {
    normalisePolicy(resolvePolicyInput(args.mirrors as string[], undefined));
  }
  const plainObject = (v: unknown): v is Record<string, unknown> =>
    isPlainObject(v) && !pulumi.Output.isInstance(v) && !(v instanceof Promise);
  if (!plainObject(policy)) return;
  const registries = policy.registries;
  if (!plainObject(registries)) return;
  const partial: Record<string, unknown> = {};
  for (const key of Object.keys(registries)) {
    const entry = registries[key];
    partial[key] = isKnown(entry) ? entry : { mirrors: [] };
  }
  const flag = (value: unknown) => (isKnown(value) ? value : true);
  normalisePolicy({
    ...policy,
    registries: partial,
    allowMirrorPaths: flag(policy.allowMirrorPaths),
    allowDeprecatedMirrors: flag(policy.allowDeprecatedMirrors),
  });
}

/**
 * Renders one mirror policy into every selected runtime's node files, the node apply script and cloud-init
 * user data; optionally rolls them out to a running cluster through a DaemonSet.
 */
export class MirrorDaemonConfig extends pulumi.ComponentResource {
  /** The rendering, when every input was known at construction. */
  private readonly known: RenderedNodeConfig | undefined;
  /** The rendering, when an input is an Output (not a secret: `pick` makes the credential-bearing parts secret). */
  private readonly rendered: pulumi.Output<RenderedNodeConfig> | undefined;
  // Outputs are made on first use: every Output costs the SDK a dozen promises, and a fleet of node groups reads one
  // or two of each component (`userData` alone costs as much as the rest of the rendering).
  private readonly outputs = new OutputsOnDemand();

  constructor(name: string, args: MirrorDaemonConfigArgs, opts?: pulumi.ComponentResourceOptions) {
    const policyArgs = { mirrors: args.mirrors, policy: args.policy };
    const settings = {
      docker: args.docker,
      runtimes: args.runtimes,
      restartPolicy: args.restartPolicy,
      runtimeOptions: args.runtimeOptions,
      watchdog: args.watchdog,
    };
    const settingsKnown = isKnown(settings);
    // Known inputs are rendered now, so a bad value fails the constructor (and the preview) with its message;
    // Outputs are rendered when they resolve, a failure then being an error on this component with the same text.
    const known =
      settingsKnown && isKnown(policyArgs)
        ? renderNodeConfig({ ...policyArgs, ...settings } as NodeConfigInput)
        : undefined;
    if (!known) checkKnownParts(args);
    if (known?.secret && args.kubernetes?.scriptInSecret === false) refuseScriptInConfigMap();
    let rendered: pulumi.Output<RenderedNodeConfig> | undefined;
    if (!known) {
      // The policy's own secretness is dropped: a secret mirror URL is not a credential. The rendering is a secret
      // exactly when a file holds one (a header, k3s/RKE2 auth); the other arguments keep their secretness.
      const policyOnly = args.mirrors === undefined && pulumi.Output.isInstance(args.policy);
      const policy = pulumi.unsecret(policyOnly ? (args.policy as pulumi.Output<unknown>) : pulumi.output(policyArgs));
      const render = (p: unknown, s: unknown) =>
        onResource(
          () => this,
          () => {
            const r = renderNodeConfig({ ...(policyOnly ? { policy: p } : (p as object)), ...(s as object) });
            r.warnings.forEach((w) => pulumi.log.warn(w, this));
            return r;
          },
        );
      rendered = settingsKnown
        ? policy.apply((p) => render(p, settings))
        : pulumi.all([policy, pulumi.output(settings)]).apply(([p, s]) => render(p, s));
    }
    // The node files are the component's inputs as the engine records them: `pulumi preview --diff` prints a changed
    // multi-line input as a line diff, so a policy change shows as the lines of the node files that change (outputs
    // are not shown in a preview). Secret files stay secret.
    const nodeFiles = known
      ? known.secret
        ? pulumi.secret(known.files)
        : known.files
      : (rendered as pulumi.Output<RenderedNodeConfig>).apply((r) => (r.secret ? pulumi.secret(r.files) : r.files));
    super("registry-mirrors:index:MirrorDaemonConfig", name, { nodeFiles }, opts);
    this.known = known;
    this.rendered = rendered;
    known?.warnings.forEach((w) => pulumi.log.warn(w, this));

    if (args.kubernetes) {
      const content = this.pick("kubernetes", (r) => ({
        applyScript: r.applyScript,
        paths: Object.keys(r.files),
        runtimes: r.runtimes,
      }));
      const scriptInSecret = args.kubernetes.scriptInSecret ?? known?.secret ?? true;
      createNodeConfigResources(this, name, { ...args.kubernetes, scriptInSecret }, content);
    }

    this.registerOutputs({});
  }

  /**
   * A part of the rendering as an Output, made once; `secret` when the part may hold a credential and the node
   * files do (mirror headers, registry auth).
   */
  private pick<T>(key: string, part: (r: RenderedNodeConfig) => T, secret = true): pulumi.Output<T> {
    return this.outputs.get(key, () => {
      const wrap = (r: RenderedNodeConfig): pulumi.Input<T> =>
        secret && r.secret ? (pulumi.secret(part(r)) as pulumi.Output<T>) : part(r);
      return (this.known ? pulumi.output(wrap(this.known)) : this.rendered?.apply(wrap)) as pulumi.Output<T>;
    });
  }

  /** The POSIX sh script that applies the files on a node: `sh apply-node-config.sh [apply|restore|watch]`. */
  get applyScript(): pulumi.Output<string> {
    return this.pick("applyScript", (r) => r.applyScript);
  }

  /** sha256 of the apply script: changes exactly when a node file changes. */
  get checksum(): pulumi.Output<string> {
    return this.pick("checksum", (r) => r.checksum, false);
  }

  /** The normalised policy (registries sorted, aliases folded, duplicates dropped); a secret when it may hold one. */
  get policy(): pulumi.Output<RenderedNodeConfig["policy"]> {
    return this.pick("policy", (r) => r.policy);
  }

  /** The daemon.json keys the apply script merges into the node's file (undefined without Docker). */
  get daemonJson(): pulumi.Output<string | undefined> {
    return this.pick("daemonJson", (r) => r.daemonJson, false);
  }

  /** containerd hosts.toml files by node path. */
  get containerdHosts(): pulumi.Output<Record<string, string>> {
    return this.pick("containerdHosts", (r) => r.containerdHosts);
  }

  /** Every rendered node file by node path. */
  get files(): pulumi.Output<Record<string, string>> {
    return this.pick("files", (r) => r.files);
  }

  /** Bottlerocket settings TOML, when `bottlerocket` is among the runtimes. */
  get bottlerocketSettings(): pulumi.Output<string | undefined> {
    return this.pick("bottlerocketSettings", (r) => r.bottlerocketSettings, false);
  }

  /**
   * `#cloud-config` that writes and runs the apply script (carried gzip+base64 inside it when the readable form is
   * over EC2's 16 KB). Undefined when a node file holds a credential (mirror headers, registry auth): credentials
   * never go into user data; deliver those with `kubernetes`.
   */
  get userData(): pulumi.Output<string | undefined> {
    return this.pick(
      "userData",
      (r) => {
        const text = nodeConfigUserData(r);
        const tooBig = text === undefined ? undefined : userDataSizeWarning("userData", text);
        if (tooBig) pulumi.log.warn(tooBig, this);
        return text;
      },
      false,
    );
  }

  /** `userData`, base64-encoded (EC2 launch templates). */
  get userDataBase64(): pulumi.Output<string | undefined> {
    return this.outputs.get("userDataBase64", () =>
      this.userData.apply((u) => (u === undefined ? undefined : encodeUserData(u, { gzip: false }))),
    );
  }

  /** `userData`, gzip-compressed then base64-encoded (cloud-init accepts it; about a third of the size). */
  get userDataGzipBase64(): pulumi.Output<string | undefined> {
    return this.outputs.get("userDataGzipBase64", () =>
      this.userData.apply((u) => (u === undefined ? undefined : encodeUserData(u, { gzip: true }))),
    );
  }

  /**
   * The apply script's engine as a file to upload where the user-data helpers' `engineUrl` points (`name`, `content`,
   * `sha256`): the library's own code, the same for every policy with the same runtimes.
   */
  get engineFile(): pulumi.Output<NodeEngineFile | undefined> {
    return this.pick("engineFile", (r) => nodeEngineFile(r.applyScript), false);
  }

  /** Warnings met while rendering (also logged). */
  get warnings(): pulumi.Output<string[]> {
    return this.pick("warnings", (r) => r.warnings, false);
  }
}
