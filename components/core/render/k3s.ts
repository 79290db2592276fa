import type { Document, Scalar } from "yaml";
import { yaml } from "../lazy-yaml";
import { PolicyError } from "../errors";
import { parseHostPort } from "../host-port";
import {
  absolutePath,
  ANY_REGISTRY,
  compareRegistries,
  type MirrorEndpoint,
  type MirrorPolicy,
  ecrTokenNotSentWarning,
} from "../policy";
import { containerdApiRoot, endpointField, GENERATED_HEADER } from "./containerd";
import type { NodeFile } from "./types";

/** Credentials for one registry host in `registries.yaml` (`configs.<host>.auth`). */
export type K3sRegistryAuth =
  | {
      /** Basic-auth user name. */
      username: string;
      /** Basic-auth password. */
      password: string;
    }
  | {
      /** base64 of `user:password`, as in a Docker config.json `auth` field. */
      auth: string;
    };

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

/** Options of {@link renderK3sRegistries}. */
export interface K3sRegistriesOptions {
  /** k3s writes `/etc/rancher/k3s/registries.yaml`, RKE2 `/etc/rancher/rke2/registries.yaml`. */
  flavour: "k3s" | "rke2";
  /** Credentials per registry host (`host[:port]`, a mirror's or an upstream's); the file then becomes a secret. */
  auth?: Record<string, K3sRegistryAuth>;
  /** Extra TLS settings per registry host; merged with those derived from mirror endpoints (a conflict is an error). */
  tls?: Record<string, K3sRegistryTls>;
  /**
   * The nodes run with `--disable-default-registry-endpoint` (k3s v1.26.13+ / RKE2 equivalents), so a registry in
   * this file is never pulled from its upstream. Required for `upstreamFallback: false`: registries.yaml itself
   * has no per-registry switch.
   */
  defaultEndpointDisabled?: boolean;
  /**
   * The cluster runs k3s/RKE2's embedded registry mirror (Spegel inside k3s, servers started with
   * `embedded-registry: true`, see {@link renderK3sEmbeddedRegistry}). It shares a registry between nodes only when
   * the registry is listed under `mirrors`, so every registry of the policy is listed, one without mirrors with no
   * endpoint: containerd then tries the peers first, the policy's mirrors next, the upstream last.
   */
  embeddedRegistry?: boolean;
  /** Receives a note for every setting k3s/RKE2 has no place for (`dialTimeout`, `capabilities`, `pullFromMirror`). */
  warnings?: string[];
}

interface TlsEntry {
  ca_file?: string;
  cert_file?: string;
  key_file?: string;
  insecure_skip_verify?: boolean;
}

/**
 * The endpoint URL k3s/RKE2 turn into the same containerd host: a path other than `/v2` is used as-is
 * (k3s sets `override_path`), so a policy path before `/v2` is written with `/v2` appended.
 */
export function fullApiUrl(field: string, endpoint: MirrorEndpoint, format: string): string {
  const root = containerdApiRoot(endpoint);
  if (root === "") {
    throw new PolicyError(
      `${field}.overridePath`,
      endpoint.url,
      `${format} treats a mirror URL without a path as https://host/v2, so overridePath on a bare host cannot be expressed`,
      'give the full API path in the URL (e.g. "https://host/v2/prefix") or remove overridePath',
    );
  }
  return `${endpoint.scheme}://${endpoint.host}${root === "/v2" ? "" : root}`;
}

/** Records one host's TLS settings; registries.yaml has one per host, so two different ones are a conflict. */
function mergeTls(tls: Map<string, TlsEntry>, host: string, entry: TlsEntry, field: string): void {
  const previous = tls.get(host);
  if (previous && JSON.stringify(previous) !== JSON.stringify(entry)) {
    throw new PolicyError(
      field,
      host,
      `registries.yaml holds one TLS setting per host, and "${host}" is given two different ones (${JSON.stringify(previous)} and ${JSON.stringify(entry)})`,
      "give every endpoint on the same host the same insecure/caFile/clientCertFile/clientKeyFile",
    );
  }
  tls.set(host, entry);
}

function endpointTls(field: string, e: MirrorEndpoint): TlsEntry {
  const entry: TlsEntry = {};
  if (e.caFile !== undefined) entry.ca_file = e.caFile;
  if (e.clientCertFile !== undefined) {
    if (e.clientKeyFile === undefined) {
      throw new PolicyError(
        `${field}.clientKeyFile`,
        undefined,
        "k3s/RKE2 need the client key as its own file (cert_file and key_file)",
        "set clientKeyFile to the key's absolute path",
      );
    }
    entry.cert_file = e.clientCertFile;
    entry.key_file = e.clientKeyFile;
  }
  if (e.insecure && e.scheme === "https") entry.insecure_skip_verify = true;
  return entry;
}

function authEntry(host: string, raw: K3sRegistryAuth): Record<string, string> {
  const field = `auth["${host}"]`;
  const value = raw as Record<string, unknown>;
  const keys = Object.keys(value ?? {})
    .sort()
    .join();
  const strings = Object.values(value ?? {}).every((v) => typeof v === "string" && v !== "" && !/[\r\n]/.test(v));
  if ((keys !== "password,username" && keys !== "auth") || !strings) {
    throw new PolicyError(
      field,
      `(fields: ${keys || "none"})`,
      "credentials are { username, password } or { auth } with non-empty single-line strings",
      "give either username and password, or auth (base64 of user:password)",
    );
  }
  return "auth" in raw ? { auth: raw.auth } : { username: raw.username, password: raw.password };
}

/** Quotes every key holding a colon (`host:port`), so no YAML reader takes it for anything but a string. */
function quoteColonKeys(doc: Document): void {
  const y = yaml();
  y.visit(doc, {
    Pair(_, pair) {
      if (y.isScalar(pair.key) && typeof pair.key.value === "string" && pair.key.value.includes(":")) {
        (pair.key as Scalar).type = y.Scalar.QUOTE_DOUBLE;
      }
    },
  });
}

/**
 * Renders k3s/RKE2 `registries.yaml`: `mirrors.<registry>.endpoint` (full URLs, policy order, `"*"` kept),
 * `configs.<host>.tls` derived from the endpoints' insecure/CA/client-cert settings (plus `options.tls`), and
 * `configs.<host>.auth` from `options.auth` (the file is then `secret`). k3s/RKE2 always try the upstream
 * last unless the nodes run with `--disable-default-registry-endpoint`; headers have no equivalent and are
 * refused. Changes take effect after a k3s/RKE2 restart.
 */
export function renderK3sRegistries(policy: MirrorPolicy, options: K3sRegistriesOptions): NodeFile {
  const flavour = options?.flavour;
  if (flavour !== "k3s" && flavour !== "rke2") {
    throw new PolicyError("flavour", flavour, "unknown k3s flavour", 'use "k3s" or "rke2"');
  }
  const format = flavour === "k3s" ? "k3s" : "RKE2";
  if (options.embeddedRegistry !== undefined && typeof options.embeddedRegistry !== "boolean") {
    throw new PolicyError("embeddedRegistry", options.embeddedRegistry, "must be true or false", "write true or false");
  }
  const hasCatchAll = policy.registries.some((r) => r.registry === ANY_REGISTRY && r.endpoints.length > 0);
  // Maps keep insertion order for every key (a plain object would move integer-like keys first).
  const mirrors = new Map<string, { endpoint: string[] }>();
  const tls = new Map<string, TlsEntry>();

  for (const entry of policy.registries) {
    const entryField = `policy.registries["${entry.registry}"]`;
    if (!entry.upstreamFallback && !options.defaultEndpointDisabled) {
      throw new PolicyError(
        `${entryField}.upstreamFallback`,
        false,
        `${format} always tries the upstream registry last; registries.yaml has no per-registry switch`,
        `set upstreamFallback: true, or start every node with --disable-default-registry-endpoint and pass defaultEndpointDisabled: true`,
      );
    }
    if (entry.upstreamFallback && options.defaultEndpointDisabled && entry.registry !== ANY_REGISTRY) {
      throw new PolicyError(
        `${entryField}.upstreamFallback`,
        true,
        `with --disable-default-registry-endpoint (defaultEndpointDisabled: true) ${format} never pulls a listed registry from its upstream`,
        "set upstreamFallback: false for this registry, or drop defaultEndpointDisabled",
      );
    }
    if (entry.endpoints.length === 0 && options.embeddedRegistry === true) {
      mirrors.set(entry.registry, {} as { endpoint: string[] });
      continue;
    }
    if (entry.endpoints.length === 0) {
      if (hasCatchAll && entry.registry !== ANY_REGISTRY) {
        throw new PolicyError(
          `${entryField}.mirrors`,
          [],
          `${format} drops a registry without endpoints, so the "*" mirrors would serve it`,
          'give it a mirror, or remove it from the policy (it is then served by the "*" mirrors)',
        );
      }
      continue;
    }
    mirrors.set(entry.registry, {
      endpoint: entry.endpoints.map((e, i) => {
        const field = endpointField(entry.registry, i);
        if (Object.keys(e.headers).length > 0) {
          throw new PolicyError(
            `${field}.headers`,
            Object.keys(e.headers),
            `${format} registries.yaml cannot send extra headers`,
            "give mirror credentials through the auth option (configs.<host>.auth) instead, or leave k3s/rke2 out of runtimes",
          );
        }
        if (!e.capabilities.includes("pull")) {
          throw new PolicyError(
            `${field}.capabilities`,
            e.capabilities,
            `${format} uses every endpoint for pulls`,
            'add "pull", or remove this mirror for k3s/rke2',
          );
        }
        if (e.capabilities.join() !== "pull,resolve")
          options.warnings?.push(
            `${field}.capabilities: ${format} has no capabilities setting; the endpoint is used for pull and resolve`,
          );
        if (e.dialTimeout !== undefined)
          options.warnings?.push(
            `${field}.dialTimeout: ${format} registries.yaml has no dial timeout; containerd's default applies`,
          );
        if (e.pullFromMirror !== "all")
          options.warnings?.push(
            `${field}.pullFromMirror: applies to CRI-O/podman only; ${format} uses the mirror for every pull`,
          );
        if (e.auth === "ecr") options.warnings?.push(ecrTokenNotSentWarning(field, format, e));
        mergeTls(tls, e.host, endpointTls(field, e), field);
        return fullApiUrl(field, e, format);
      }),
    });
  }

  for (const host of Object.keys(options.tls ?? {})) {
    const key = host === ANY_REGISTRY ? host : parseHostPort(`tls["${host}"]`, host);
    const t = (options.tls as Record<string, K3sRegistryTls>)[host];
    if (typeof t !== "object" || t === null) {
      throw new PolicyError(
        `tls["${host}"]`,
        t,
        "TLS settings are an object",
        'write { caFile: "/etc/pki/ca.pem" } (caFile, certFile, keyFile, insecureSkipVerify)',
      );
    }
    const entry: TlsEntry = {};
    const ca = absolutePath(`tls["${host}"].caFile`, t.caFile);
    const cert = absolutePath(`tls["${host}"].certFile`, t.certFile);
    const keyFile = absolutePath(`tls["${host}"].keyFile`, t.keyFile);
    if ((cert === undefined) !== (keyFile === undefined)) {
      throw new PolicyError(
        `tls["${host}"]`,
        { certFile: cert, keyFile },
        "a client certificate needs its key and the other way round",
        "set both certFile and keyFile, or neither",
      );
    }
    if (ca !== undefined) entry.ca_file = ca;
    if (cert !== undefined) entry.cert_file = cert;
    if (keyFile !== undefined) entry.key_file = keyFile;
    if (t.insecureSkipVerify === true) entry.insecure_skip_verify = true;
    if (Object.keys(tls.get(key) ?? {}).length === 0) tls.delete(key);
    mergeTls(tls, key, entry, `tls["${host}"]`);
  }
  for (const [host, entry] of tls) if (Object.keys(entry).length === 0) tls.delete(host);

  const configs = new Map<string, { auth?: Record<string, string>; tls?: TlsEntry }>();
  const auth = new Map<string, Record<string, string>>();
  for (const host of Object.keys(options.auth ?? {})) {
    const key = host === ANY_REGISTRY ? host : parseHostPort(`auth["${host}"]`, host);
    auth.set(key, authEntry(host, (options.auth as Record<string, K3sRegistryAuth>)[host]));
  }
  const hosts = [...new Set([...tls.keys(), ...auth.keys()])].sort(compareRegistries);
  for (const host of hosts) {
    const config: { auth?: Record<string, string>; tls?: TlsEntry } = {};
    if (auth.has(host)) config.auth = auth.get(host);
    if (tls.has(host)) config.tls = tls.get(host);
    configs.set(host, config);
  }

  const body = new Map<string, unknown>([["mirrors", mirrors]]);
  if (hosts.length > 0) body.set("configs", configs);
  const doc = new (yaml().Document)(body);
  quoteColonKeys(doc);
  const secret = auth.size > 0;
  const file: NodeFile = {
    path: `/etc/rancher/${flavour}/registries.yaml`,
    content: `${GENERATED_HEADER}${doc.toString({ lineWidth: 0 })}`,
    mode: secret ? 0o600 : 0o644,
  };
  if (secret) file.secret = true;
  return file;
}

/**
 * The server drop-in that turns on k3s/RKE2's embedded registry mirror: `/etc/rancher/<flavour>/config.yaml.d/
 * registry-mirrors.yaml` with `embedded-registry: true` (a drop-in, so the node's own config.yaml stays as it is). It
 * is a server option that enables the mirror for the whole cluster; agents only need the registries.yaml entries
 * (render it with `embeddedRegistry: true`). Takes effect after a k3s/RKE2 restart.
 */
export function renderK3sEmbeddedRegistry(flavour: "k3s" | "rke2"): NodeFile {
  if (flavour !== "k3s" && flavour !== "rke2") {
    throw new PolicyError("flavour", flavour, "unknown k3s flavour", 'use "k3s" or "rke2"');
  }
  return {
    path: `/etc/rancher/${flavour}/config.yaml.d/registry-mirrors.yaml`,
    content: `${GENERATED_HEADER}embedded-registry: true\n`,
    mode: 0o644,
  };
}
