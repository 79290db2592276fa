import * as pulumi from "@pulumi/pulumi";
import type * as k8s from "@pulumi/kubernetes";
import {
  DEFAULT_MAX_UNAVAILABLE,
  DEFAULT_NODE_CONFIG_IMAGE,
  NODE_CONFIG_DIRS,
  type DaemonSetManifest,
  type NodeConfigMode,
  type ResourceRequirements,
  type Toleration,
  hostMountDirs,
  nodeConfigManifests,
  validateDnsLabel,
  validateDnsSubdomain,
  validateImageReference,
  validateNodeSelector,
  validateResources,
  validateTolerations,
} from "../core/kubernetes";
import { PolicyError } from "../core/errors";
import type { RuntimeName } from "../core/render/types";
import { stackUniqueName } from "../names";
import { isKnown, onResource } from "../outputs";

/**
 * The pod's `spec.affinity`, passed through as given; a `k8s.types.input.core.v1.Affinity` fits. Typed without the
 * Kubernetes SDK so that the package root's declarations type-check where `@pulumi/kubernetes` is not installed.
 */
export interface Affinity {
  nodeAffinity?: pulumi.Input<object>;
  podAffinity?: pulumi.Input<object>;
  podAntiAffinity?: pulumi.Input<object>;
}

/**
 * A Kubernetes object this library creates (a `k8s.core.v1.Secret`, `ConfigMap` or `k8s.apps.v1.DaemonSet`), typed
 * without the Kubernetes SDK for the same reason as {@link Affinity}. Cast it to the SDK's class to reach its spec.
 */
export interface KubernetesObject extends pulumi.CustomResource {
  readonly apiVersion: pulumi.Output<string>;
  readonly kind: pulumi.Output<string>;
  readonly metadata: pulumi.Output<{ name: string; namespace: string }>;
}

/** Where the node-config DaemonSet runs and how it rolls out (the `kubernetes` argument of `MirrorDaemonConfig`). */
export interface NodeConfigKubernetesArgs {
  /** Namespace of the Secret (or ConfigMap) and DaemonSet. Default `"kube-system"`. */
  namespace?: pulumi.Input<string>;
  /**
   * Name of the DaemonSet (a DNS label); the Secret or ConfigMap holding the script is `<name>-<checksum prefix>`.
   * Default `<component name>-node-config-<stack>`, so two stacks of one program in one cluster do not share it.
   */
  name?: string;
  /** Only nodes with these labels are configured. Default `{ "kubernetes.io/os": "linux" }`. */
  nodeSelector?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Kubernetes node affinity/anti-affinity, passed through as given (`spec.affinity` of the pod). */
  affinity?: pulumi.Input<Affinity>;
  /** Taints the pods tolerate. Default: every taint (`[{ operator: "Exists" }]`), so tainted nodes get mirrors too. */
  tolerations?: pulumi.Input<pulumi.Input<Toleration>[]>;
  /**
   * The image of both containers. It needs `sh`, `python3` (or `jq`) and `nsenter`. Default: Python's Alpine
   * image pinned by digest. It must be pullable before any mirror exists: mirror it into your private registry
   * first and give that reference here (keep the digest).
   */
  image?: pulumi.Input<string>;
  /** Pull secrets in `namespace` for a private copy of the image (e.g. a `RegistryCredentialSecret`'s name). */
  imagePullSecrets?: string[];
  /** Requests/limits of the init container that runs the script. Default `10m`/`32Mi` requested, `128Mi` memory limit. */
  resources?: ResourceRequirements;
  /**
   * How many nodes may be re-configured at once (a number or a percentage such as `"10%"`, rounded up). Default
   * `"1%"`: 10,000 nodes finish in about half an hour with 1% of them reloading at a time (see
   * `DEFAULT_MAX_UNAVAILABLE`).
   */
  maxUnavailable?: number | string;
  /** Priority class of the pods. Default `"system-node-critical"`, so the pods are scheduled on full nodes too. */
  priorityClassName?: string;
  /**
   * `"apply"` (default) writes the configuration; `"restore"` rolls out the restore of each node's backup, to
   * remove the configuration cleanly before deleting the stack.
   */
  mode?: NodeConfigMode;
  /**
   * Where the DaemonSet reads the apply script from: a Secret (`true`) or a ConfigMap (`false`). A script that holds a
   * credential (mirror headers, k3s/RKE2 registry auth) always goes in a Secret: `false` is then refused, since anyone
   * who can read ConfigMaps in the namespace could read it. Default with `MirrorDaemonConfig`: a ConfigMap when the
   * node files are known when the program runs and hold no credential, a Secret otherwise (also when they are
   * computed from Outputs, as nothing can tell in advance). Default with `createNodeConfigResources`: a Secret.
   */
  scriptInSecret?: boolean;
  /** The Kubernetes provider to create the resources with (default: the ambient or parent's provider). */
  provider?: pulumi.ProviderResource;
}

/** What the DaemonSet delivers: the rendered apply script, which embeds every node file. */
export interface NodeConfigContent {
  /** The POSIX sh apply script (`sh apply-node-config.sh [apply|restore]`). */
  applyScript: string;
  /** Ignored: the checksum annotation is always recomputed from `applyScript`, so it cannot disagree with it. */
  checksum?: string;
  /** Node paths the script writes; each one's folder (e.g. `/etc/docker`) is mounted read-write. */
  paths?: string[];
  /** The runtimes the script configures; adds the folders they own (`containerd` → `/etc/containerd`, ...). */
  runtimes?: RuntimeName[];
}

/** The Kubernetes resources of the node-config delivery. */
export interface NodeConfigResources {
  /** Holds the apply script (absent with `scriptInSecret`). */
  configMap?: KubernetesObject;
  /** Holds the apply script with `scriptInSecret`. */
  secret?: KubernetesObject;
  daemonSet: KubernetesObject;
}

const RUNTIME_DIRS: Record<RuntimeName, string | undefined> = {
  docker: "/etc/docker",
  containerd: "/etc/containerd",
  crio: "/etc/containers",
  podman: "/etc/containers",
  k3s: "/etc/rancher",
  rke2: "/etc/rancher",
  buildkit: "/etc/buildkit",
  bottlerocket: undefined,
};

/** The node folders to mount: those of the written paths and of the runtimes; every known one when neither is given. */
export function nodeConfigDirs(content: Pick<NodeConfigContent, "paths" | "runtimes">): string[] {
  if (content.paths === undefined && content.runtimes === undefined) return [...NODE_CONFIG_DIRS];
  const fromRuntimes = (content.runtimes ?? []).map((r) => RUNTIME_DIRS[r]).filter((d): d is string => d !== undefined);
  return hostMountDirs([...(content.paths ?? []), ...fromRuntimes]);
}

/** {@link NodeConfigKubernetesArgs} with its Inputs resolved: what {@link resolveNodeConfigArgs} checks. */
export type ResolvedNodeConfigKubernetesArgs = Omit<
  NodeConfigKubernetesArgs,
  "namespace" | "nodeSelector" | "tolerations" | "image"
> & {
  namespace?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  image?: string;
};

/** The validated, defaulted plain settings; throws a PolicyError naming the field on bad input. */
export function resolveNodeConfigArgs(name: string, args: ResolvedNodeConfigKubernetesArgs) {
  const field = (f: string) => `kubernetes.${f}`;
  const maxUnavailable = args.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE;
  const validMax =
    (typeof maxUnavailable === "number" && Number.isInteger(maxUnavailable) && maxUnavailable >= 1) ||
    (typeof maxUnavailable === "string" && /^([1-9]\d?|100)%$/.test(maxUnavailable));
  if (!validMax) {
    throw new PolicyError(
      field("maxUnavailable"),
      maxUnavailable,
      "must be a whole number of nodes ≥ 1 or a percentage 1%-100%",
      'write e.g. 1 or "10%"',
    );
  }
  const mode = args.mode ?? "apply";
  if (mode !== "apply" && mode !== "restore") {
    throw new PolicyError(field("mode"), mode, "unknown mode", 'use "apply" or "restore"');
  }
  return {
    name: validateDnsLabel(field("name"), args.name ?? stackUniqueName(`${name}-node-config`, 63)),
    namespace: validateDnsLabel(field("namespace"), args.namespace ?? "kube-system"),
    image: validateImageReference(field("image"), args.image ?? DEFAULT_NODE_CONFIG_IMAGE),
    mode,
    nodeSelector:
      args.nodeSelector === undefined ? undefined : validateNodeSelector(field("nodeSelector"), args.nodeSelector),
    tolerations: validateTolerations(field("tolerations"), args.tolerations ?? [{ operator: "Exists" }]),
    resources: args.resources === undefined ? undefined : validateResources(field("resources"), args.resources),
    maxUnavailable,
    imagePullSecrets: args.imagePullSecrets?.map((n, i) => validateDnsSubdomain(field(`imagePullSecrets[${i}]`), n)),
    priorityClassName: validateDnsSubdomain(
      field("priorityClassName"),
      args.priorityClassName ?? "system-node-critical",
    ),
  };
}

/** Refuses a ConfigMap for a script that holds a credential. */
export function refuseScriptInConfigMap(): never {
  throw new PolicyError(
    "kubernetes.scriptInSecret",
    false,
    "the apply script holds a credential (mirror headers or k3s/RKE2 registry auth), and anyone who can read ConfigMaps in the namespace could read it",
    "remove scriptInSecret: false; the script then goes in a Secret",
  );
}

/**
 * Creates the Secret (or ConfigMap) holding the apply script and the DaemonSet that runs it on every node:
 * an init container runs `sh /config/apply-node-config.sh <mode>` against the node's folders mounted under `/host`,
 * reaching the node's systemd through `nsenter`; a tiny unprivileged main container keeps the pod Running.
 * Validates the known arguments right away (a bad value fails the preview with a clear message); those given as
 * Outputs are validated with the same messages when they resolve, as an error on `parent`.
 */
export function createNodeConfigResources(
  parent: pulumi.Resource,
  name: string,
  args: NodeConfigKubernetesArgs,
  content: pulumi.Input<NodeConfigContent>,
  opts?: pulumi.CustomResourceOptions,
): NodeConfigResources {
  const inputs = {
    namespace: args.namespace,
    image: args.image,
    nodeSelector: args.nodeSelector,
    tolerations: args.tolerations,
  };
  const known = isKnown(inputs) ? resolveNodeConfigArgs(name, args as ResolvedNodeConfigKubernetesArgs) : undefined;
  const scriptInSecret = args.scriptInSecret ?? true;
  // Loaded here, not at the top: importing the package must not load the Kubernetes SDK.
  const core = require("@pulumi/kubernetes/core/v1") as typeof import("@pulumi/kubernetes/core/v1");
  const apps = require("@pulumi/kubernetes/apps/v1") as typeof import("@pulumi/kubernetes/apps/v1");
  const resourceOpts: pulumi.CustomResourceOptions = {
    ...opts,
    parent,
    ...(args.provider ? { provider: args.provider } : {}),
  };

  const script = pulumi.output(content);
  const spec = pulumi
    .all([
      script,
      args.affinity,
      known ? undefined : pulumi.output(inputs),
      scriptInSecret ? false : pulumi.output(pulumi.isSecret(script)),
    ])
    .apply(([c, affinity, resolved, secret]) =>
      onResource(
        () => parent,
        () => {
          if (secret) refuseScriptInConfigMap();
          const settings =
            known ?? resolveNodeConfigArgs(name, { ...args, ...resolved } as ResolvedNodeConfigKubernetesArgs);
          return {
            ...settings,
            applyScript: c.applyScript,
            paths: nodeConfigDirs(c),
            affinity: affinity as Record<string, unknown> | undefined,
          };
        },
      ),
    );
  // Only the script itself is sensitive: names, mounts and the checksum stay readable in previews.
  let configMap: k8s.core.v1.ConfigMap | undefined;
  let secret: k8s.core.v1.Secret | undefined;
  let daemonSetManifest: pulumi.Output<DaemonSetManifest>;
  if (scriptInSecret) {
    const manifests = spec.apply((s) => nodeConfigManifests(s, { scriptInSecret: true }));
    daemonSetManifest = manifests.daemonSet;
    secret = new core.Secret(
      `${name}-node-config`,
      {
        metadata: pulumi.unsecret(manifests.secret.metadata),
        immutable: true,
        type: "Opaque",
        stringData: pulumi.secret(manifests.secret.stringData),
      },
      resourceOpts,
    );
  } else {
    const manifests = spec.apply((s) => nodeConfigManifests(s));
    daemonSetManifest = manifests.daemonSet;
    configMap = new core.ConfigMap(
      `${name}-node-config`,
      { metadata: pulumi.unsecret(manifests.configMap.metadata), immutable: true, data: manifests.configMap.data },
      resourceOpts,
    );
  }

  const daemonSet = new apps.DaemonSet(
    `${name}-node-config`,
    { metadata: pulumi.unsecret(daemonSetManifest.metadata), spec: pulumi.unsecret(daemonSetManifest.spec) },
    { ...resourceOpts, dependsOn: configMap ?? secret },
  );

  return { configMap, secret, daemonSet };
}
