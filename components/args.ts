/**
 * The policy and runtime options as component arguments: the core's types (`MirrorPolicyInput`, ...) with every
 * value a `pulumi.Input`, so a URL, a header or a credential can come from another resource, a stack reference or
 * an ESC environment. The components resolve them and hand the core plain values.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { Capability, MirrorAuth, PullFromMirror } from "./core/policy";
import type { ContainerdRenderOptions } from "./core/render/runtimes";
import type { K3sRegistryTls } from "./core/render/k3s";

/** One mirror endpoint (see `MirrorEndpointInput`), every field an Input. */
export interface MirrorEndpointArgs {
  /** Mirror URL with scheme, e.g. `https://mirror.example.com`. A secret URL is written in the clear: a URL is not a credential. */
  url: pulumi.Input<string>;
  /** Skip TLS verification for this endpoint. */
  insecure?: pulumi.Input<boolean>;
  /** Absolute path of a CA bundle on the node. */
  caFile?: pulumi.Input<string>;
  /** Absolute path of a client certificate on the node (mutual TLS). */
  clientCertFile?: pulumi.Input<string>;
  /** Absolute path of the client certificate's key on the node. */
  clientKeyFile?: pulumi.Input<string>;
  /** Operations this endpoint serves; default `["pull", "resolve"]`. */
  capabilities?: pulumi.Input<pulumi.Input<Capability>[]>;
  /** The URL already holds the full API path (containerd `override_path`). */
  overridePath?: pulumi.Input<boolean>;
  /** Connect timeout as a Go duration, e.g. `"3s"`. */
  dialTimeout?: pulumi.Input<string>;
  /**
   * Extra HTTP headers sent to the mirror. Pass a credential (`Authorization`) as a Pulumi secret
   * (`config.requireSecret`); any header makes the node files a secret, kept out of user data and ConfigMaps.
   */
  headers?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Which pulls CRI-O/podman send to this mirror; default `"all"`. */
  pullFromMirror?: pulumi.Input<PullFromMirror>;
  /** `"ecr"`: the node fetches an ECR token for this mirror (see `MirrorEndpointInput.auth`). */
  auth?: pulumi.Input<MirrorAuth>;
}

/** A mirror as an argument: its URL, or an endpoint object. */
export type MirrorArg = pulumi.Input<string> | pulumi.Input<MirrorEndpointArgs>;

/** The mirrors of one upstream registry (see `RegistryMirrorsInput`), every value an Input. */
export interface RegistryMirrorsArgs {
  /** Mirror endpoints, tried in this order. */
  mirrors: pulumi.Input<MirrorArg[]>;
  /** Try the upstream registry itself after every mirror failed (default `true`). */
  upstreamFallback?: pulumi.Input<boolean>;
}

/** The mirror policy (see `MirrorPolicyInput`), every value an Input; a `RegionalMirrorSelector`'s `policy` fits. */
export interface MirrorPolicyArgs {
  /** Keyed by upstream registry host (`docker.io`, `ghcr.io`, ...) or `*` for every registry without its own entry. */
  registries: pulumi.Input<Record<string, pulumi.Input<RegistryMirrorsArgs>>>;
  /** Allow mirror URLs with a path (dockerd up to 24.0.6 refuses them). */
  allowMirrorPaths?: pulumi.Input<boolean>;
  /** Keep a known-dead public mirror with a warning instead of refusing it. */
  allowDeprecatedMirrors?: pulumi.Input<boolean>;
}

/** Credentials for one registry host in k3s/RKE2 `registries.yaml`; pass them as Pulumi secrets. */
export type K3sRegistryAuthArgs =
  | { username: pulumi.Input<string>; password: pulumi.Input<string> }
  | { auth: pulumi.Input<string> };

/** k3s/RKE2 options (see `K3sRenderOptions`), every value an Input. */
export interface K3sRenderOptionsArgs {
  /** Credentials per registry host; the node files then become a secret (a Secret, never user data or a ConfigMap). */
  auth?: pulumi.Input<Record<string, pulumi.Input<K3sRegistryAuthArgs>>>;
  /** TLS settings per registry host beyond those derived from the mirror endpoints. */
  tls?: pulumi.Input<Record<string, pulumi.Input<K3sRegistryTls>>>;
  /** The nodes run with `--disable-default-registry-endpoint`; needed for `upstreamFallback: false`. */
  defaultEndpointDisabled?: pulumi.Input<boolean>;
}

/** Options of the non-Docker formats (see `RuntimeRenderOptions`), every value an Input. */
export interface RuntimeRenderOptionsArgs {
  /** containerd `hosts.toml` options. */
  containerd?: pulumi.Input<ContainerdRenderOptions>;
  /** k3s and RKE2 `registries.yaml` options. */
  k3s?: pulumi.Input<K3sRenderOptionsArgs>;
}
