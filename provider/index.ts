/**
 * The components for every Pulumi language. Pulumi's componentProviderHost infers the package schema from the
 * classes exported here and their arguments' TSDoc, so their arguments are flat: a string where the TypeScript
 * API has a union of literals (the allowed values are named in the description), an endpoint object where it
 * takes `string | object`, a JSON string where it takes free-form JSON, and no provider argument (pass the
 * resource option `providers` instead). Each component turns its arguments into the TypeScript API's and calls
 * the same core renderers, so it writes byte for byte the node files a TypeScript program gets.
 */
import * as pulumi from "@pulumi/pulumi";
import { RegistryCredentialSecret as CredentialSecretComponent, type RegistryCredentialInput } from "registry-mirrors";
import {
  type DockerSettingsInput,
  encodeUserData,
  type MirrorEndpointInput,
  type MirrorPolicyInput,
  type NodeConfigInput,
  nodeConfigUserData,
  PolicyError,
  type RenderedNodeConfig,
  type RegionSelectionInput,
  type RuntimeRenderOptions,
  renderNodeConfig,
  selectMirrors,
} from "registry-mirrors/core";
import { createNodeConfigResources, type NodeConfigKubernetesArgs } from "registry-mirrors/kubernetes";

/** One mirror endpoint: its URL and optional per-endpoint settings. */
export interface MirrorEndpoint {
  /** Mirror URL with scheme, e.g. `https://mirror.example.com`. `http://` means plain HTTP. */
  url: string;
  /** Skip TLS verification for this endpoint (an `http://` URL is plain HTTP and needs no flag). */
  insecure?: boolean;
  /** Absolute path of a CA bundle on the node that signs the mirror's certificate. */
  caFile?: string;
  /** Absolute path of a client certificate on the node, for mirrors that require mutual TLS. */
  clientCertFile?: string;
  /** Absolute path of the client certificate's key on the node. */
  clientKeyFile?: string;
  /**
   * Operations this endpoint serves, each one of `pull`, `resolve`, `push`; default `["pull", "resolve"]`
   * (without `resolve`, tag pulls skip it).
   */
  capabilities?: string[];
  /** The URL already holds the full API path (containerd `override_path`); needed for ECR pull-through caches. */
  overridePath?: boolean;
  /** Connect timeout as a Go duration, e.g. `"3s"` (containerd `dial_timeout`). */
  dialTimeout?: string;
  /** Extra HTTP headers sent to the mirror. A header holding a credential must be a Pulumi secret. */
  headers?: Record<string, string>;
  /** Which pulls CRI-O/podman send to this mirror: `all` (default), `digest-only` or `tag-only`. */
  pullFromMirror?: string;
  /**
   * `ecr` (the only value): the mirror is an ECR registry (e.g. a pull-through cache); the node fetches a token
   * with its instance role and renews it, and containerd sends it as this mirror's `Authorization` header. The
   * token is never in the policy, the rendered files or Pulumi state.
   */
  auth?: string;
}

/** The mirrors of one upstream registry, in the order they are tried. */
export interface RegistryMirrors {
  /** Mirror endpoints, tried in this order. */
  mirrors: MirrorEndpoint[];
  /** Try the upstream registry itself after every mirror failed (default `true`). */
  upstreamFallback?: boolean;
}

/** The mirror policy: per upstream registry (or `*` for every other one), an ordered list of mirrors. */
export interface MirrorPolicy {
  /**
   * Keyed by upstream registry host (`docker.io`, `ghcr.io`, `quay.io`, `registry.k8s.io`, `10.0.0.5:5000`) or `*`
   * for every registry without its own entry.
   */
  registries: Record<string, RegistryMirrors>;
  /**
   * Allow mirror URLs with a path (`https://host/prefix`). dockerd up to 24.0.6 refuses them and will not start, so
   * they are refused unless you opt in knowing every node runs a newer Docker (or no Docker).
   */
  allowMirrorPaths?: boolean;
  /** Keep a known-dead public mirror with a warning instead of refusing it. */
  allowDeprecatedMirrors?: boolean;
}

/** The user's mirrors for the regions one catalog key matches. */
export interface CatalogRegion {
  /** Mirrors per upstream registry (`docker.io`, `ghcr.io`, `*`, ...), in the order they are tried. */
  registries?: Record<string, MirrorEndpoint[]>;
  /**
   * `vpc` when these mirrors are reachable only from inside the region's private network (tried first, skipped for
   * nodes whose network is `public`); `public` (default): tried after the private ones.
   */
  network?: string;
  /** Docker `insecure-registries` entries (`host:port` or CIDR such as `10.0.0.0/8`) for nodes in these regions. */
  insecureRegistries?: string[];
}

/** Arguments of {@link RegionalMirrorSelector}. */
export interface RegionalMirrorSelectorArgs {
  /** The cloud the nodes run in: `aws` or `alicloud`. */
  cloud: pulumi.Input<string>;
  /** The nodes' region id, e.g. `us-west-2` or `cn-hangzhou`. */
  region: pulumi.Input<string>;
  /** Upstream registries to mirror. Default `docker.io` plus those named in `ecrPullThrough` and `fallbacks`. */
  registries?: pulumi.Input<string[]>;
  /** `vpc` (default) for nodes inside the cloud's private network, `public` for nodes outside it. */
  network?: pulumi.Input<string>;
  /** AWS account that owns the ECR pull-through cache rules (12 digits). Needed with `ecrPullThrough`. */
  awsAccountId?: pulumi.Input<string>;
  /** ECR pull-through cache rules to use, upstream registry to repository prefix, e.g. `{"docker.io": "docker-hub"}`. */
  ecrPullThrough?: pulumi.Input<Record<string, string>>;
  /** Id of the Alibaba Cloud account's Docker Hub accelerator (`https://<id>.mirror.aliyuncs.com`). */
  alicloudAcceleratorId?: pulumi.Input<string>;
  /**
   * Your own mirrors per region id (`us-west-2`) or pattern (`cn-*`, `*`), merged over the built-in catalog. Every
   * key must match a known region; when several match, the most specific applies first.
   */
  userCatalog?: pulumi.Input<Record<string, CatalogRegion>>;
  /** Mirrors per registry tried in every region after the regional ones. */
  fallbacks?: pulumi.Input<Record<string, MirrorEndpoint[]>>;
  /** Try the upstream registry last (default true). */
  upstreamFallback?: pulumi.Input<boolean>;
  /** Keep known-dead public mirrors with a warning instead of refusing them. */
  allowDeprecatedMirrors?: pulumi.Input<boolean>;
  /** Accept user mirror URLs with a path (dockerd 24.0.6 and older refuse them). */
  allowMirrorPaths?: pulumi.Input<boolean>;
  /** Accept `userCatalog` insecure-registries CIDRs over public address space (`0.0.0.0/0`, ...) with a warning. */
  allowPublicInsecureRegistries?: pulumi.Input<boolean>;
}

/**
 * Picks the mirrors for the nodes' cloud region and outputs a validated mirror policy (`policy`) that
 * `MirrorDaemonConfig` takes as is: in-region private endpoints first, then regional public ones, the user's
 * fallbacks, then the upstream. Known-dead public mirrors are refused.
 */
export class RegionalMirrorSelector extends pulumi.ComponentResource {
  /** The ordered mirror policy for the region; pass it to `MirrorDaemonConfig`'s `policy`. */
  public readonly policy: pulumi.Output<MirrorPolicy>;
  /** The region the mirrors were chosen for. */
  public readonly region: pulumi.Output<string>;
  /** One plain line per chosen endpoint saying why it was chosen. */
  public readonly reasons: pulumi.Output<string[]>;
  /** Docker `insecure-registries` entries from the user catalog (e.g. `10.0.0.0/8`). */
  public readonly insecureRegistries: pulumi.Output<string[]>;
  /** Warnings (also logged): deprecated mirrors kept, duplicates dropped. */
  public readonly warnings: pulumi.Output<string[]>;

  constructor(name: string, args: RegionalMirrorSelectorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("registry-mirrors:index:RegionalMirrorSelector", name, {}, opts);
    const selection = pulumi.output(args).apply((a) => selectMirrors(selectionInput(a)));
    this.policy = selection.apply((s) => policyArgs(s.policy));
    this.region = selection.apply((s) => s.region);
    this.reasons = selection.apply((s) => s.reasons);
    this.insecureRegistries = selection.apply((s) => s.insecureRegistries);
    this.warnings = selection.apply((s) => s.warnings);
    selection.apply((s) => s.warnings.forEach((w) => pulumi.log.warn(w, this)));
    this.registerOutputs({ region: this.region });
  }
}

/** One default ulimit for containers (`default-ulimits`). */
export interface DockerUlimit {
  /** Soft limit. */
  soft: number;
  /** Hard limit (at least `soft`). */
  hard: number;
}

/** A pool Docker carves network subnets from (`default-address-pools`). */
export interface DockerAddressPool {
  /** The pool as a CIDR block, e.g. `"10.200.0.0/16"`. */
  base: string;
  /** Prefix length of each network taken from the pool, e.g. `24`. */
  size: number;
}

/**
 * Docker daemon settings written to `daemon.json` next to the mirrors. Every field is optional; a field left out is
 * not written, so the node keeps its own value (or dockerd's default).
 */
export interface DockerSettings {
  /** Registries Docker may reach over plain HTTP or with an unverified certificate: `host[:port]` or a CIDR block such as `10.0.0.0/8`. */
  insecureRegistries?: string[];
  /** Keep `insecureRegistries` ranges that cover public address space (refused by default). Not written to daemon.json. */
  allowPublicInsecureRegistries?: boolean;
  /** Runtime options, e.g. `["native.cgroupdriver=systemd"]` (what kubelet's systemd cgroup driver needs). */
  execOpts?: string[];
  /** Default logging driver for containers, e.g. `"json-file"`. */
  logDriver?: string;
  /** Options of the logging driver, e.g. `{"max-size": "100m", "max-file": "3"}`. */
  logOpts?: Record<string, string>;
  /** Keep containers running while dockerd restarts (`live-restore`). */
  liveRestore?: boolean;
  /** Layers pulled in parallel per pull (dockerd default 3). */
  maxConcurrentDownloads?: number;
  /** Layers pushed in parallel per push (dockerd default 5). */
  maxConcurrentUploads?: number;
  /** Attempts per layer download before a pull fails (dockerd default 5). */
  maxDownloadAttempts?: number;
  /** Absolute path of Docker's data folder (`data-root`), e.g. `"/data/docker"`. */
  dataRoot?: string;
  /** Storage driver, e.g. `"overlay2"`. */
  storageDriver?: string;
  /** Storage driver options, each `key=value`, e.g. `["overlay2.size=20G"]`. */
  storageOpts?: string[];
  /** DNS servers (IP addresses) for containers. */
  dns?: string[];
  /** DNS search domains for containers. */
  dnsSearch?: string[];
  /** DNS resolver options for containers, e.g. `["ndots:2"]`. */
  dnsOpts?: string[];
  /** Pools new networks take their subnets from. */
  defaultAddressPools?: DockerAddressPool[];
  /** Address and prefix of the default bridge, e.g. `"172.26.0.1/16"`. */
  bip?: string;
  /** MTU of the default bridge (68-65535). */
  mtu?: number;
  /** Debug logging of the daemon. */
  debug?: boolean;
  /** Daemon log level: `debug`, `info`, `warn`, `error` or `fatal`. */
  logLevel?: string;
  /** Engine labels, e.g. `{"pool": "gpu"}` (written as `["pool=gpu"]`). */
  labels?: Record<string, string>;
  /** Daemon features switched on or off, e.g. `{"buildkit": true}`. */
  features?: Record<string, boolean>;
  /** Registries Docker may push foreign (non-distributable) layers to: `host[:port]` or CIDR. */
  allowNondistributableArtifacts?: string[];
  /** Default ulimits of containers keyed by name, e.g. `{"nofile": {"soft": 65536, "hard": 65536}}`. */
  defaultUlimits?: Record<string, DockerUlimit>;
  /** OCI runtime used when a container names none, e.g. `"runc"` or `"nvidia"`. */
  defaultRuntime?: string;
  /** Seconds dockerd waits for containers to stop when it shuts down. */
  shutdownTimeout?: number;
  /**
   * Any other `daemon.json` keys, as the text of one JSON object, keys spelled as dockerd spells them (kebab-case),
   * e.g. `{"max-concurrent-downloads": 6}`. Each key is checked against the keys dockerd 20.10-27 accepts.
   */
  extraJson?: string;
}

/** Credentials for one registry host in k3s/RKE2 `registries.yaml`: `username` and `password`, or `auth`. */
export interface K3sRegistryAuth {
  /** Basic-auth user name (with `password`). */
  username?: string;
  /** Basic-auth password (with `username`). Pass it as a Pulumi secret. */
  password?: string;
  /** base64 of `user:password`, as in a Docker config.json `auth` field (instead of `username`/`password`). */
  auth?: string;
}

/** TLS settings for a registry host that is not (only) a mirror endpoint, e.g. a private upstream registry. */
export interface K3sRegistryTls {
  /** Absolute path of the CA bundle that signs the registry's certificate. */
  caFile?: string;
  /** Absolute path of the client certificate (mutual TLS); needs `keyFile`. */
  certFile?: string;
  /** Absolute path of the client key. */
  keyFile?: string;
  /** Skip verifying the registry's certificate. */
  insecureSkipVerify?: boolean;
}

/** Options of the non-Docker formats. */
export interface RuntimeOptions {
  /** containerd's `config_path` folder of hosts.toml files. Default `/etc/containerd/certs.d`. */
  containerdCertsDir?: string;
  /** k3s/RKE2: credentials per registry host (`host[:port]`); the file then becomes a secret. */
  k3sAuth?: Record<string, K3sRegistryAuth>;
  /** k3s/RKE2: extra TLS settings per registry host. */
  k3sTls?: Record<string, K3sRegistryTls>;
  /** k3s/RKE2: the nodes run with `--disable-default-registry-endpoint` (required for `upstreamFallback: false`). */
  k3sDefaultEndpointDisabled?: boolean;
}

/** Settings of the node mirror watchdog; any field left out takes its default. */
export interface WatchdogSettings {
  /** Seconds between probe rounds (default 30). */
  intervalSeconds?: number;
  /** Seconds between probes of a mirror that just failed (default 2). */
  suspectIntervalSeconds?: number;
  /** Longest back-off in seconds for a mirror that stays down (default 240). */
  maxBackoffSeconds?: number;
  /** TCP/TLS connect timeout of a probe in seconds. */
  connectTimeoutSeconds?: number;
  /** Seconds a probe waits for the first response byte. */
  firstByteTimeoutSeconds?: number;
  /** Failed probes in a row that take a mirror out. */
  failuresToDown?: number;
  /** Good probes in a row that put a mirror back. */
  successesToUp?: number;
  /** Random spread of the interval, as a fraction (default 0.2). */
  jitter?: number;
  /** Node folder of the watchdog's state (default `/var/lib/registry-mirrors/watchdog`). */
  stateDir?: string;
  /**
   * Node path of the Prometheus metrics for node_exporter's textfile collector (must end in `.prom`; default
   * `/var/lib/node_exporter/textfile_collector/registry_mirrors.prom`); an empty string for none.
   */
  metricsFile?: string;
}

/** A taint the node-config pods tolerate. */
export interface Toleration {
  /** Taint key; empty with operator `Exists` matches every taint. */
  key?: string;
  /** `Equal` (default) or `Exists`. */
  operator?: string;
  /** Taint value (with `Equal`). */
  value?: string;
  /** `NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty matches every effect. */
  effect?: string;
  /** With `NoExecute`: seconds the pod stays after the taint appears. */
  tolerationSeconds?: number;
}

/** Requests and limits of a container, e.g. `{"requests": {"cpu": "10m"}, "limits": {"memory": "128Mi"}}`. */
export interface ResourceRequirements {
  /** Requested `cpu`, `memory`, `ephemeral-storage`. */
  requests?: Record<string, string>;
  /** Limits of `cpu`, `memory`, `ephemeral-storage`. */
  limits?: Record<string, string>;
}

/**
 * Where the node-config DaemonSet runs and how it rolls out. The resources are created with the component's
 * Kubernetes provider (the resource option `providers`) or the default one.
 */
export interface KubernetesDelivery {
  /** Namespace of the ConfigMap and DaemonSet. Default `kube-system`. */
  namespace?: string;
  /** Name of the DaemonSet (a DNS label); the ConfigMap is `<name>-<checksum prefix>`. Default `<component name>-node-config`. */
  name?: string;
  /** Only nodes with these labels are configured. Default `{"kubernetes.io/os": "linux"}`. */
  nodeSelector?: Record<string, string>;
  /** The pod's `spec.affinity` as the text of a JSON object (`nodeAffinity`, `podAffinity`, `podAntiAffinity`). */
  affinityJson?: string;
  /** Taints the pods tolerate. Default: every taint (`[{"operator": "Exists"}]`). */
  tolerations?: Toleration[];
  /**
   * The image of both containers; it needs `sh`, `python3` (or `jq`) and `nsenter`. Default: Python's Alpine image
   * pinned by digest. Mirror it into your private registry first and give that reference here (keep the digest).
   */
  image?: string;
  /** Pull secrets in `namespace` for a private copy of the image. */
  imagePullSecrets?: string[];
  /** Requests/limits of the init container that runs the script. Default `10m`/`32Mi` requested, `128Mi` memory limit. */
  resources?: ResourceRequirements;
  /** How many nodes may be re-configured at once: a number (`"1"`, the default) or a percentage (`"10%"`). */
  maxUnavailable?: string;
  /** Priority class of the pods. Default `system-node-critical`. */
  priorityClassName?: string;
  /** `apply` (default) writes the configuration; `restore` rolls out the restore of each node's backup. */
  mode?: string;
  /** Keep the apply script in a Secret instead of a ConfigMap (needed when a node file holds a credential). */
  scriptInSecret?: boolean;
}

/** Arguments of {@link MirrorDaemonConfig}. */
export interface MirrorDaemonConfigArgs {
  /** Docker Hub mirror URLs, tried in order (shorthand for `policy.registries["docker.io"].mirrors`). */
  mirrors?: pulumi.Input<string[]>;
  /** The full mirror policy; takes a `RegionalMirrorSelector`'s `policy` output as is. */
  policy?: pulumi.Input<MirrorPolicy>;
  /** Docker daemon settings written beside the mirrors (`execOpts`, `logDriver`, `logOpts`, `insecureRegistries`, ...). */
  docker?: pulumi.Input<DockerSettings>;
  /**
   * Runtimes to configure, each one of `docker`, `containerd`, `crio`, `podman`, `k3s`, `rke2`, `buildkit`,
   * `bottlerocket`. Default docker and containerd.
   */
  runtimes?: pulumi.Input<string[]>;
  /**
   * `never` (default): the apply script only reloads, and fails with a message when a change needs a restart.
   * `if-needed`: it restarts a runtime when a changed setting requires it.
   */
  restartPolicy?: pulumi.Input<string>;
  /** Options of the non-Docker formats: containerd certs folder, k3s/RKE2 registry auth and TLS. */
  runtimeOptions?: pulumi.Input<RuntimeOptions>;
  /**
   * Run the node mirror watchdog (off by default): it probes every mirror from the node and takes the ones that
   * fail out of the runtimes' files until they answer again. `watchdogSettings` implies it.
   */
  watchdog?: pulumi.Input<boolean>;
  /** The watchdog's settings (`intervalSeconds`, `failuresToDown`, `stateDir`, `metricsFile`, ...). */
  watchdogSettings?: pulumi.Input<WatchdogSettings>;
  /**
   * Configure the nodes of a running Kubernetes cluster: a ConfigMap and a DaemonSet that run the apply script on
   * every node. Omit it to deliver by cloud user data only.
   */
  kubernetes?: KubernetesDelivery;
}

/**
 * Renders one mirror policy into every selected runtime's node files, the node apply script and cloud-init user
 * data; optionally rolls them out to a running cluster through a DaemonSet.
 */
export class MirrorDaemonConfig extends pulumi.ComponentResource {
  /** The POSIX sh script that applies the files on a node: `sh apply-node-config.sh [apply|restore|watch|check]`. */
  public readonly applyScript: pulumi.Output<string>;
  /** sha256 of the apply script: changes exactly when a node file changes. */
  public readonly checksum: pulumi.Output<string>;
  /** Every rendered node file by node path. */
  public readonly files: pulumi.Output<Record<string, string>>;
  /** The daemon.json keys the apply script merges into the node's file (absent without Docker). */
  public readonly daemonJson: pulumi.Output<string | undefined>;
  /** containerd hosts.toml files by node path. */
  public readonly containerdHosts: pulumi.Output<Record<string, string>>;
  /** Bottlerocket settings TOML, when `bottlerocket` is among the runtimes. */
  public readonly bottlerocketSettings: pulumi.Output<string | undefined>;
  /**
   * `#cloud-config` that writes and runs the apply script. Absent when a node file holds a credential: credentials
   * never go into user data; deliver those with `kubernetes`.
   */
  public readonly userData: pulumi.Output<string | undefined>;
  /** `userData`, base64-encoded (EC2 launch templates). */
  public readonly userDataBase64: pulumi.Output<string | undefined>;
  /** Warnings met while rendering (also logged). */
  public readonly warnings: pulumi.Output<string[]>;

  constructor(name: string, args: MirrorDaemonConfigArgs, opts?: pulumi.ComponentResourceOptions) {
    const { kubernetes, ...renderArgs } = args;
    // As the TypeScript component: arguments that arrive as plain values (no secret, no unknown, no dependency) are
    // rendered now, and their script goes in a ConfigMap unless a file holds a credential.
    const known = holdsOutput(renderArgs)
      ? undefined
      : renderNodeConfig(nodeConfigInput(renderArgs as pulumi.Unwrap<MirrorDaemonConfigArgs>));
    const rendered = known
      ? pulumi.output(known)
      : pulumi
          .output(renderArgs)
          .apply((a) => renderNodeConfig(nodeConfigInput(a as pulumi.Unwrap<MirrorDaemonConfigArgs>)));
    const sensitive = rendered.apply((r) => (r.secret ? pulumi.secret(r) : pulumi.output(r)));
    // As the TypeScript component: the node files are the component's recorded inputs, so a preview --diff shows
    // the lines that change.
    super("registry-mirrors:index:MirrorDaemonConfig", name, { nodeFiles: sensitive.apply((r) => r.files) }, opts);
    rendered.apply((r) => r.warnings.forEach((w) => pulumi.log.warn(w, this)));

    this.applyScript = sensitive.apply((r) => r.applyScript);
    this.checksum = rendered.apply((r) => r.checksum);
    this.files = sensitive.apply((r) => r.files);
    this.daemonJson = rendered.apply((r) => r.daemonJson);
    this.containerdHosts = sensitive.apply((r) => r.containerdHosts);
    this.bottlerocketSettings = rendered.apply((r) => r.bottlerocketSettings);
    this.userData = rendered.apply((r) => nodeConfigUserData(r));
    this.userDataBase64 = this.userData.apply((u) =>
      u === undefined ? undefined : encodeUserData(u, { gzip: false }),
    );
    this.warnings = rendered.apply((r) => r.warnings);

    if (kubernetes) {
      try {
        require.resolve("@pulumi/kubernetes");
      } catch {
        throw new PolicyError(
          "kubernetes",
          kubernetes,
          "the DaemonSet delivery needs @pulumi/kubernetes, which this package folder does not install",
          'add "@pulumi/kubernetes" to the dependencies in provider/package.json and run `pulumi install`',
        );
      }
      const content = sensitive.apply((r: RenderedNodeConfig) => ({
        applyScript: r.applyScript,
        paths: Object.keys(r.files),
        runtimes: r.runtimes,
      }));
      const scriptInSecret = kubernetes.scriptInSecret ?? known?.secret ?? true;
      createNodeConfigResources(this, name, { ...kubernetesArgs(kubernetes), scriptInSecret }, content);
    }
    this.registerOutputs({ checksum: this.checksum });
  }
}

/** One registry's credential: `username` and `password`, `auth`, or a cloud token source (`ecr` or `acr`). */
export interface RegistryCredential {
  /** User name (with `password`). */
  username?: pulumi.Input<string>;
  /** Password or access token (with `username`). Pass it as a Pulumi secret (e.g. a secret config value). */
  password?: pulumi.Input<string>;
  /**
   * base64 of `username:password`, as in a Docker config file (instead of `username`/`password`, or agreeing with
   * them). Pass it as a Pulumi secret.
   */
  auth?: pulumi.Input<string>;
  /**
   * Read an Amazon ECR token instead (valid 12 hours, renewed on each `pulumi up`). Needs `@pulumi/aws` in this
   * package's dependencies and an AWS provider (the resource option `providers`, or the default one).
   */
  ecr?: EcrToken;
  /**
   * Read an Alibaba Cloud ACR Enterprise Edition temporary token instead (valid 1 hour). Needs `@pulumi/alicloud` in
   * this package's dependencies and an Alibaba Cloud provider.
   */
  acr?: AcrToken;
}

/** Where an Amazon ECR token is read. */
export interface EcrToken {
  /** 12-digit AWS account ID of the registry. Default: the provider's account. */
  registryId?: pulumi.Input<string>;
  /** Region of the registry. Default: the AWS provider's region. */
  region?: pulumi.Input<string>;
}

/** Which ACR Enterprise Edition instance's temporary token is read. */
export interface AcrToken {
  /** Instance ID of the ACR Enterprise Edition instance, e.g. `cri-xxxxxxxxxxxx`. */
  instanceId: pulumi.Input<string>;
}

/** Arguments of {@link RegistryCredentialSecret}. */
export interface RegistryCredentialSecretArgs {
  /**
   * Credentials by registry host (`host[:port]`, e.g. `ghcr.io`, `123456789012.dkr.ecr.us-east-1.amazonaws.com`,
   * `docker.io`). Pass passwords and `auth` values as Pulumi secrets; the Secret's data and `dockerConfigJson` are
   * Pulumi secrets either way.
   */
  registries: pulumi.Input<Record<string, RegistryCredential>>;
  /**
   * Namespaces to create the Secret in (each must exist). The list itself is plain (one Secret per entry); an entry
   * may be an output, e.g. a Namespace's name. Default `["default"]`.
   */
  namespaces?: pulumi.Input<string>[];
  /**
   * Name of the Secret in every namespace: pods and service accounts reference it (read it from `secretName`).
   * Default `<component name>-<stack>`, so two stacks of one program never share (and fight over) one Secret.
   */
  secretName?: string;
  /**
   * Service accounts (in every namespace) whose `imagePullSecrets` get this Secret, by a server-side apply patch.
   * `imagePullSecrets` is an atomic list: the patch sets the whole list (this Secret plus `keepImagePullSecrets`)
   * and fails with a field-manager conflict, changing nothing, if another tool owns the list.
   */
  serviceAccounts?: string[];
  /** Other pull secrets the patched service accounts must keep (the list is replaced as a whole). */
  keepImagePullSecrets?: string[];
}

/**
 * A `kubernetes.io/dockerconfigjson` pull secret for one or more registries, in one or more namespaces, from static
 * credentials or a cloud token source (ECR, ACR); always a Pulumi secret. Optionally added to service accounts'
 * `imagePullSecrets`. The Secrets are created with the component's Kubernetes provider (the resource option
 * `providers`) or the default one.
 */
export class RegistryCredentialSecret extends pulumi.ComponentResource {
  /** Name of the Secret (the same in every namespace). */
  public readonly secretName: pulumi.Output<string>;
  /** Namespaces holding the Secret. */
  public readonly namespaces: pulumi.Output<string[]>;
  /** The keys of `auths` in the Secret, sorted (Docker Hub as `https://index.docker.io/v1/`). */
  public readonly registries: pulumi.Output<string[]>;
  /** The `.dockerconfigjson` document (a Pulumi secret). */
  public readonly dockerConfigJson: pulumi.Output<string>;

  constructor(name: string, args: RegistryCredentialSecretArgs, opts?: pulumi.ComponentResourceOptions) {
    super("registry-mirrors:index:RegistryCredentialSecret", name, {}, opts);
    requirePackage("@pulumi/kubernetes", "RegistryCredentialSecret", name);
    const registries = pulumi.Output.isInstance(args.registries)
      ? args.registries.apply(credentialsInput)
      : credentialsInput(args.registries as Record<string, RegistryCredential>);
    // The TypeScript component itself, as this component's only child: the same checks, names and Secrets.
    const secret = new CredentialSecretComponent(
      name,
      {
        registries,
        ...defined({
          namespaces: args.namespaces,
          secretName: args.secretName,
          serviceAccounts: args.serviceAccounts,
          keepImagePullSecrets: args.keepImagePullSecrets,
        }),
      },
      { parent: this },
    );
    this.secretName = secret.secretName;
    this.namespaces = secret.namespaces;
    this.registries = secret.registries;
    this.dockerConfigJson = secret.dockerConfigJson;
    this.registerOutputs({
      secretName: this.secretName,
      namespaces: this.namespaces,
      registries: this.registries,
      dockerConfigJson: this.dockerConfigJson,
    });
  }
}

/** A clear error when an optional SDK the arguments need is not installed beside this package. */
function requirePackage(pkg: string, field: string, value: unknown): void {
  try {
    require.resolve(pkg);
  } catch {
    throw new PolicyError(
      field,
      value,
      `needs ${pkg}, which this package folder does not install`,
      `add "${pkg}" to the dependencies in provider/package.json and run \`pulumi install\``,
    );
  }
}

function credentialsInput(map: Record<string, RegistryCredential>): Record<string, RegistryCredentialInput> {
  return Object.fromEntries(
    Object.entries(map ?? {}).map(([host, entry]) => {
      const given = defined(entry ?? {});
      if (given.ecr !== undefined) requirePackage("@pulumi/aws", `registries["${host}"].ecr`, given.ecr);
      if (given.acr !== undefined) requirePackage("@pulumi/alicloud", `registries["${host}"].acr`, given.acr);
      return [host, { ...given, ...(given.ecr === undefined ? {} : { ecr: defined(given.ecr) }) }];
    }),
  );
}

/** Whether a value holds an Output anywhere (the engine sends secret, unknown and dependent values as Outputs). */
function holdsOutput(value: unknown): boolean {
  if (pulumi.Output.isInstance(value)) return true;
  if (Array.isArray(value)) return value.some(holdsOutput);
  return typeof value === "object" && value !== null && Object.values(value).some(holdsOutput);
}

/** Drops the fields left out (the engine sends them as undefined or null). */
function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;
}

/** An endpoint with a URL only is the URL string, as a TypeScript program writes it. */
function endpointInput(endpoint: MirrorEndpoint): string | MirrorEndpointInput {
  const given = defined(endpoint);
  return Object.keys(given).length === 1 && typeof given.url === "string" ? given.url : (given as MirrorEndpointInput);
}

function endpointArgs(endpoint: string | MirrorEndpointInput): MirrorEndpoint {
  return typeof endpoint === "string" ? { url: endpoint } : { ...endpoint };
}

function mapValues<A, B>(record: Record<string, A>, f: (value: A) => B): Record<string, B> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, f(value)]));
}

function policyInput(policy: MirrorPolicy): MirrorPolicyInput {
  const given = defined(policy);
  return {
    ...given,
    registries: mapValues(policy.registries ?? {}, (entry) => {
      const { mirrors, ...rest } = defined(entry);
      return { ...rest, mirrors: (mirrors ?? []).map(endpointInput) };
    }),
  } as MirrorPolicyInput;
}

function policyArgs(policy: MirrorPolicyInput): MirrorPolicy {
  return {
    ...policy,
    registries: mapValues(policy.registries, (entry) => ({ ...entry, mirrors: entry.mirrors.map(endpointArgs) })),
  };
}

function selectionInput(args: pulumi.Unwrap<RegionalMirrorSelectorArgs>): RegionSelectionInput {
  const { userCatalog, fallbacks, ...rest } = defined(args);
  const mirrorLists = (lists: Record<string, MirrorEndpoint[]>) =>
    mapValues(lists, (mirrors) => mirrors.map(endpointInput));
  return {
    ...rest,
    ...(fallbacks === undefined ? {} : { fallbacks: mirrorLists(fallbacks) }),
    ...(userCatalog === undefined
      ? {}
      : {
          userCatalog: {
            regions: mapValues(userCatalog, (region) => {
              const { registries, ...other } = defined(region);
              return { ...other, ...(registries === undefined ? {} : { registries: mirrorLists(registries) }) };
            }),
          },
        }),
  } as RegionSelectionInput;
}

function dockerInput(docker: DockerSettings): DockerSettingsInput {
  const { extraJson, ...rest } = defined(docker);
  // The renderer checks every value, the literal ones (logLevel) included.
  return {
    ...rest,
    ...(extraJson === undefined ? {} : { extra: parseJsonObject("docker.extraJson", extraJson) }),
  } as DockerSettingsInput;
}

function runtimeOptionsInput(options: RuntimeOptions): RuntimeRenderOptions {
  const { containerdCertsDir, k3sAuth, k3sTls, k3sDefaultEndpointDisabled } = defined(options);
  const k3s = defined({
    auth: k3sAuth && mapValues(k3sAuth, defined),
    tls: k3sTls,
    defaultEndpointDisabled: k3sDefaultEndpointDisabled,
  });
  return {
    ...(containerdCertsDir === undefined ? {} : { containerd: { certsDir: containerdCertsDir } }),
    ...(Object.keys(k3s).length === 0 ? {} : { k3s }),
  } as RuntimeRenderOptions;
}

function nodeConfigInput(args: pulumi.Unwrap<MirrorDaemonConfigArgs>): NodeConfigInput {
  const { policy, docker, runtimeOptions, watchdog, watchdogSettings, ...rest } = defined(args);
  let watch: NodeConfigInput["watchdog"];
  if (watchdogSettings !== undefined) {
    const { metricsFile, ...settings } = defined(watchdogSettings);
    watch = {
      ...settings,
      ...(metricsFile === undefined ? {} : { metricsFile: metricsFile === "" ? false : metricsFile }),
    };
  } else if (watchdog === true) watch = true;
  return {
    ...rest,
    ...(policy === undefined ? {} : { policy: policyInput(policy) }),
    ...(docker === undefined ? {} : { docker: dockerInput(docker) }),
    ...(runtimeOptions === undefined ? {} : { runtimeOptions: runtimeOptionsInput(runtimeOptions) }),
    ...(watch === undefined ? {} : { watchdog: watch }),
  } as NodeConfigInput;
}

function kubernetesArgs(args: KubernetesDelivery): NodeConfigKubernetesArgs {
  const { affinityJson, maxUnavailable, tolerations, ...rest } = defined(args);
  return {
    ...rest,
    ...(affinityJson === undefined ? {} : { affinity: parseJsonObject("kubernetes.affinityJson", affinityJson) }),
    ...(tolerations === undefined ? {} : { tolerations: tolerations.map(defined) }),
    ...(maxUnavailable === undefined
      ? {}
      : { maxUnavailable: /^\d+$/.test(maxUnavailable) ? Number(maxUnavailable) : maxUnavailable }),
  } as NodeConfigKubernetesArgs;
}

function parseJsonObject(field: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PolicyError(
      field,
      text,
      `expected the text of one JSON object (${(err as Error).message})`,
      'write one JSON object, e.g. {"key": 1}',
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new PolicyError(
      field,
      text,
      "expected a JSON object, not an array or a scalar",
      'write one JSON object, e.g. {"key": 1}',
    );
  return value as Record<string, unknown>;
}
