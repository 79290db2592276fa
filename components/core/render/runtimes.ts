import { checkKnownObject, type MirrorPolicy } from "../policy";
import { renderBottlerocketSettings } from "./bottlerocket";
import { renderBuildkitToml } from "./buildkit";
import { renderContainerdHosts } from "./containerd";
import { PolicyError } from "../errors";
import { type K3sRegistryAuth, type K3sRegistryTls, renderK3sEmbeddedRegistry, renderK3sRegistries } from "./k3s";
import { renderRegistriesConf } from "./registries-conf";
import type { NodeFile, RuntimeName } from "./types";

/** containerd options. */
export interface ContainerdRenderOptions {
  /** The folder the node's `config_path` points at (the first one when it lists two); default `/etc/containerd/certs.d`. */
  certsDir?: string;
  /**
   * `dial_timeout` of each mirror that sets no `dialTimeout`: a Go duration, or `false` for containerd's own 30 s.
   * Default `"5s"` (`DEFAULT_CONTAINERD_DIAL_TIMEOUT`; containerd 2.0+ uses it, 1.6/1.7 ignore it).
   */
  dialTimeout?: string | false;
  /**
   * Spegel (P2P, e.g. deployed with `registry-mirrors/kubernetes`' spegelRelease) shares the certs folder on these
   * nodes: the apply script keeps Spegel's hosts first in each hosts.toml and its own files in Spegel's `_backup/`
   * (see core/p2p/spegel.ts). Without it the script refuses to touch a folder Spegel manages.
   */
  spegel?: boolean;
}

/** k3s/RKE2 options (the same for both flavours). */
export interface K3sRenderOptions {
  /** Credentials per registry host (`configs.<host>.auth`); the registries.yaml file then becomes a secret. */
  auth?: Record<string, K3sRegistryAuth>;
  /** TLS settings per registry host beyond those derived from the mirror endpoints (`configs.<host>.tls`). */
  tls?: Record<string, K3sRegistryTls>;
  /** The nodes run with `--disable-default-registry-endpoint`; needed for `upstreamFallback: false`. */
  defaultEndpointDisabled?: boolean;
  /**
   * The embedded registry mirror (Spegel inside k3s/RKE2): `"server"` writes the server drop-in
   * (`embedded-registry: true`) and lists every registry in registries.yaml; `"agent"` only lists them (agents refuse
   * the server option).
   */
  embeddedRegistry?: "server" | "agent";
}

/** Options of the non-Docker renderers. */
export interface RuntimeRenderOptions {
  /** containerd `hosts.toml` options. */
  containerd?: ContainerdRenderOptions;
  /** k3s and RKE2 `registries.yaml` options. */
  k3s?: K3sRenderOptions;
}

/** What {@link renderRuntimeFiles} returns. */
export interface RuntimeFiles {
  /** Node files of every selected runtime, sorted by path (CRI-O and podman share one drop-in). */
  files: NodeFile[];
  /** Bottlerocket settings TOML (user data, not a node file), when `bottlerocket` is selected. */
  bottlerocket?: string;
  /** Settings a runtime has no place for and ignores (e.g. `dialTimeout` for CRI-O), and skipped `*` entries. */
  warnings: string[];
}

/** The file, tagged with the runtime that reads it (the node script tells that runtime about a change). */
function tag<F extends NodeFile>(file: F, runtime: RuntimeName): F {
  return { ...file, runtime };
}

/**
 * Renders the files of every selected runtime except Docker (rendered separately, since it merges into the
 * node's `daemon.json`). Throws a PolicyError when a selected runtime cannot express part of the policy.
 */
export function renderRuntimeFiles(
  policy: MirrorPolicy,
  runtimes: readonly RuntimeName[],
  options: RuntimeRenderOptions = {},
): RuntimeFiles {
  checkKnownObject("runtimeOptions", options, ["containerd", "k3s"]);
  if (options.containerd !== undefined)
    checkKnownObject("runtimeOptions.containerd", options.containerd, ["certsDir", "dialTimeout", "spegel"]);
  if (options.k3s !== undefined) {
    checkKnownObject("runtimeOptions.k3s", options.k3s, ["auth", "tls", "defaultEndpointDisabled", "embeddedRegistry"]);
    for (const [host, tls] of Object.entries(options.k3s.tls ?? {}))
      checkKnownObject(`runtimeOptions.k3s.tls["${host}"]`, tls, [
        "caFile",
        "certFile",
        "keyFile",
        "insecureSkipVerify",
      ]);
  }
  const warnings: string[] = [];
  const files: NodeFile[] = [];
  const selected = new Set(runtimes);
  // Each renderer gets its own list, so every warning can say which runtime it is about.
  const collect = <T>(runtime: string, render: (w: string[]) => T): T => {
    const own: string[] = [];
    const result = render(own);
    warnings.push(...own.map((text) => `${runtime}: ${text}`));
    return result;
  };

  if (selected.has("containerd")) {
    files.push(
      ...collect("containerd", (w) =>
        renderContainerdHosts(policy, {
          certsDir: options.containerd?.certsDir,
          dialTimeout: options.containerd?.dialTimeout,
          warnings: w,
        }),
      ).map((f) => tag(f, "containerd")),
    );
  }
  if (selected.has("crio") || selected.has("podman")) {
    const name = [selected.has("crio") ? "crio" : "", selected.has("podman") ? "podman" : ""].filter(Boolean).join("/");
    const reader = selected.has("crio") ? "crio" : "podman";
    files.push(
      tag(
        collect(name, (w) => renderRegistriesConf(policy, { warnings: w })),
        reader,
      ),
    );
  }
  const embedded = options.k3s?.embeddedRegistry;
  if (embedded !== undefined && embedded !== "server" && embedded !== "agent") {
    throw new PolicyError("k3s.embeddedRegistry", embedded, "unknown node role", 'use "server" or "agent"');
  }
  for (const flavour of ["k3s", "rke2"] as const) {
    if (selected.has(flavour)) {
      const { embeddedRegistry: _, ...k3s } = options.k3s ?? {};
      files.push(
        tag(
          collect(flavour, (w) =>
            renderK3sRegistries(policy, { ...k3s, embeddedRegistry: embedded !== undefined, flavour, warnings: w }),
          ),
          flavour,
        ),
      );
      if (embedded === "server") files.push(tag(renderK3sEmbeddedRegistry(flavour), flavour));
    }
  }
  if (selected.has("buildkit")) {
    files.push(
      tag(
        collect("buildkit", (w) => renderBuildkitToml(policy, { warnings: w })),
        "buildkit",
      ),
    );
  }
  const bottlerocket = selected.has("bottlerocket")
    ? collect("bottlerocket", (w) => renderBottlerocketSettings(policy, { warnings: w }))
    : undefined;

  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const result: RuntimeFiles = { files, warnings };
  if (bottlerocket !== undefined) result.bottlerocket = bottlerocket;
  return result;
}
