/**
 * Property tests over random valid policies: every format's output parses with the real parser (smol-toml,
 * yaml) and reads back to the same policy (endpoints in order, flags, upstream fallback), and rendering is
 * deterministic (same bytes twice, and whatever order the registries were written in).
 */
import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { parse as parseToml } from "smol-toml";
import { parse as parseYaml } from "yaml";
import {
  type MirrorEndpoint,
  type MirrorEndpointInput,
  type MirrorPolicy,
  type MirrorPolicyInput,
  normalisePolicy,
} from "../../components/core/policy";
import { renderBottlerocketSettings } from "../../components/core/render/bottlerocket";
import { renderBuildkitToml } from "../../components/core/render/buildkit";
import { renderContainerdHosts } from "../../components/core/render/containerd";
import { renderK3sRegistries } from "../../components/core/render/k3s";
import { renderRegistriesConf } from "../../components/core/render/registries-conf";
import { renderRuntimeFiles } from "../../components/core/render/runtimes";

/**
 * Mirror hosts with fixed connection settings: formats that keep TLS settings per host (k3s, BuildKit) need every
 * endpoint on one host to agree, and a real mirror host has one certificate anyway.
 */
interface HostProfile {
  host: string;
  scheme: "http" | "https";
  insecure?: boolean;
  caFile?: string;
  clientCertFile?: string;
  clientKeyFile?: string;
}
const PROFILES: HostProfile[] = [
  { host: "mirror.example.com", scheme: "https" },
  { host: "cache.internal:8443", scheme: "https" },
  { host: "10.0.0.5:5000", scheme: "http" },
  { host: "insecure.example.com", scheme: "https", insecure: true },
  { host: "private-ca.example.com:5443", scheme: "https", caFile: "/etc/pki/ca.pem" },
  {
    host: "mtls.example.com",
    scheme: "https",
    caFile: "/etc/pki/mtls-ca.pem",
    clientCertFile: "/etc/pki/client.pem",
    clientKeyFile: "/etc/pki/client.key",
  },
];

/** A mirror URL path and whether it is the full API path (override_path). */
interface PathKind {
  path: string;
  overridePath: boolean;
}
const NAMESPACE_PATHS: PathKind[] = [
  { path: "", overridePath: false },
  { path: "/v2/docker-hub", overridePath: true },
  { path: "/v2", overridePath: true },
];
const PREFIX_PATHS: PathKind[] = [
  { path: "/prefix", overridePath: false },
  { path: "/proxy/v2", overridePath: false },
  { path: "/api/custom", overridePath: true },
];

interface Features {
  /** Which host profiles may appear. */
  profiles: HostProfile[];
  /** Which URL paths may appear. */
  paths: PathKind[];
  star: boolean;
  noFallback: boolean;
  headers: boolean;
  /** capabilities other than pull+resolve, dialTimeout, pullFromMirror (warned about where dropped). */
  tuning: boolean;
  /** Registries without mirrors. */
  empty: boolean;
}

const REGISTRIES = ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io", "gcr.io", "registry.example.com:5000"];

function endpointArb(f: Features): fc.Arbitrary<MirrorEndpointInput> {
  return fc
    .record({
      profile: fc.constantFrom(...f.profiles),
      path: fc.constantFrom(...f.paths),
      capabilities: f.tuning
        ? fc.constantFrom<MirrorEndpoint["capabilities"] | undefined>(undefined, ["pull"], ["pull", "resolve", "push"])
        : fc.constant(undefined),
      dialTimeout: f.tuning
        ? fc.option(fc.constantFrom("3s", "500ms", "1m30s"), { nil: undefined })
        : fc.constant(undefined),
      pullFromMirror: f.tuning
        ? fc.constantFrom<MirrorEndpoint["pullFromMirror"]>("all", "digest-only", "tag-only")
        : fc.constant<MirrorEndpoint["pullFromMirror"]>("all"),
      headers: f.headers
        ? fc.option(
            fc.dictionary(
              fc.constantFrom("X-Token", "Authorization", "X-Mirror"),
              fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !/[\r\n\0]/.test(s)),
              { minKeys: 1, maxKeys: 2 },
            ),
            { nil: undefined },
          )
        : fc.constant(undefined),
    })
    .map(({ profile, path, capabilities, dialTimeout, pullFromMirror, headers }) => {
      const e: MirrorEndpointInput = { url: `${profile.scheme}://${profile.host}${path.path}` };
      if (path.overridePath) e.overridePath = true;
      if (profile.insecure) e.insecure = true;
      if (profile.caFile) e.caFile = profile.caFile;
      if (profile.clientCertFile) e.clientCertFile = profile.clientCertFile;
      if (profile.clientKeyFile) e.clientKeyFile = profile.clientKeyFile;
      if (capabilities) e.capabilities = capabilities;
      if (dialTimeout) e.dialTimeout = dialTimeout;
      if (pullFromMirror !== "all") e.pullFromMirror = pullFromMirror;
      if (headers) e.headers = headers;
      return e;
    });
}

function policyArb(f: Features): fc.Arbitrary<MirrorPolicyInput> {
  const names = f.star ? [...REGISTRIES, "*"] : REGISTRIES;
  const entry = fc
    .record({
      // Unique URLs: a duplicate would be dropped by normalisation, which has its own tests.
      mirrors: fc.uniqueArray(endpointArb(f), { minLength: f.empty ? 0 : 1, maxLength: 4, selector: (e) => e.url }),
      upstreamFallback: f.noFallback ? fc.boolean() : fc.constant(true),
    })
    .map((e) => (e.mirrors.length === 0 ? { mirrors: [], upstreamFallback: true } : e));
  return fc.uniqueArray(fc.constantFrom(...names), { minLength: 1, maxLength: names.length }).chain((keys) =>
    fc.tuple(...keys.map(() => entry)).map((entries) => ({
      allowMirrorPaths: true,
      registries: Object.fromEntries(keys.map((k, i) => [k, entries[i]])),
    })),
  );
}

/** The same policy input with its registries written in reverse order. */
function reversed(input: MirrorPolicyInput): MirrorPolicyInput {
  return { ...input, registries: Object.fromEntries(Object.entries(input.registries).reverse()) };
}

/** The path containerd sends API calls under — the meaning of a policy URL, written out here independently. */
function apiRoot(e: MirrorEndpoint): string {
  if (e.overridePath) return e.path;
  if (e.path === "") return "/v2";
  return e.path.endsWith("/v2") ? e.path : `${e.path}/v2`;
}

const ALL: Features = {
  profiles: PROFILES,
  paths: [...NAMESPACE_PATHS, ...PREFIX_PATHS, { path: "", overridePath: true }],
  star: true,
  noFallback: true,
  headers: true,
  tuning: true,
  empty: true,
};
const RUNS = { numRuns: 150 };

/** Checks determinism and returns the normalised policy. */
function deterministic<T>(input: MirrorPolicyInput, render: (p: MirrorPolicy) => T): { policy: MirrorPolicy; out: T } {
  const policy = normalisePolicy(input).policy;
  const out = render(policy);
  expect(render(normalisePolicy(input).policy)).toEqual(out);
  expect(render(normalisePolicy(reversed(input)).policy)).toEqual(out);
  return { policy, out };
}

function endsWithOneNewline(text: string): void {
  expect(text.endsWith("\n") && !text.endsWith("\n\n")).toBe(true);
}

describe("containerd hosts.toml", () => {
  it("parses, and reads back to the policy: hosts in order, every setting, server = upstream or last mirror", () => {
    fc.assert(
      fc.property(policyArb(ALL), (input) => {
        const { policy, out: files } = deterministic(input, (p) => renderContainerdHosts(p));
        expect(files.map((f) => f.path)).toEqual(
          policy.registries.map(
            (r) => `/etc/containerd/certs.d/${r.registry === "*" ? "_default" : r.registry}/hosts.toml`,
          ),
        );
        files.forEach((file, i) => {
          endsWithOneNewline(file.content);
          const entry = policy.registries[i];
          const doc = parseToml(file.content) as Record<string, any>;
          const read = (url: string, t: Record<string, any>) => ({
            url,
            capabilities: t.capabilities,
            insecure: t.skip_verify === true,
            caFile: t.ca,
            clientCertFile: Array.isArray(t.client) ? t.client[0][0] : t.client,
            clientKeyFile: Array.isArray(t.client) ? t.client[0][1] : undefined,
            overridePath: t.override_path === true,
            dialTimeout: t.dial_timeout,
            headers: t.header ?? {},
          });
          const endpoints = Object.entries((doc.host ?? {}) as Record<string, any>).map(([url, t]) => read(url, t));
          const upstream =
            entry.registry === "docker.io" ? "https://registry-1.docker.io" : `https://${entry.registry}`;
          const fallback = entry.registry === "*" ? doc.server === undefined : doc.server === upstream;
          if (!fallback) endpoints.push(read(doc.server, doc));
          expect(fallback).toBe(entry.upstreamFallback);
          expect(endpoints).toEqual(
            entry.endpoints.map((e, j) => ({
              url: e.url,
              capabilities: e.capabilities,
              insecure: e.insecure,
              caFile: e.caFile,
              clientCertFile: e.clientCertFile,
              clientKeyFile: e.clientKeyFile,
              overridePath: e.overridePath,
              // Mirrors get the default dial timeout; the last resort (`server`) only its own.
              dialTimeout:
                e.dialTimeout ?? (!entry.upstreamFallback && j === entry.endpoints.length - 1 ? undefined : "5s"),
              headers: e.headers,
            })),
          );
          expect(file.secret === true).toBe(entry.endpoints.some((e) => Object.keys(e.headers).length > 0));
          expect(file.mode).toBe(file.secret ? 0o600 : 0o644);
        });
      }),
      RUNS,
    );
  });
});

/**
 * A copy of `input` with pull-from-mirror set on every mirror except a no-fallback registry's last one (that
 * one becomes the registry's location, which serves every pull).
 */
function withPullFromMirror(input: MirrorPolicyInput, pull: MirrorEndpoint["pullFromMirror"]): MirrorPolicyInput {
  const copy = JSON.parse(JSON.stringify(input)) as MirrorPolicyInput;
  if (pull === "all") return copy;
  for (const entry of Object.values(copy.registries)) {
    entry.mirrors.forEach((m, i) => {
      const last = i === entry.mirrors.length - 1 && entry.upstreamFallback === false;
      if (typeof m === "object" && !last) m.pullFromMirror = pull;
    });
  }
  return copy;
}

describe("CRI-O/podman registries.conf", () => {
  const features: Features = {
    ...ALL,
    profiles: PROFILES.filter((p) => !p.caFile),
    paths: NAMESPACE_PATHS,
    star: false,
    headers: false,
    tuning: false,
  };

  it("parses, and reads back to the policy: mirrors in order, insecure, pull-from-mirror, location", () => {
    fc.assert(
      fc.property(
        policyArb(features),
        fc.constantFrom<MirrorEndpoint["pullFromMirror"]>("all", "digest-only", "tag-only"),
        (generated, pull) => {
          const input = withPullFromMirror(generated, pull);
          const { policy, out: file } = deterministic(input, (p) => renderRegistriesConf(p));
          endsWithOneNewline(file.content);
          const doc = parseToml(file.content) as { registry?: Array<Record<string, any>> };
          const location = (e: MirrorEndpoint) => `${e.host}${apiRoot(e).slice(3)}`;
          const read = (doc.registry ?? []).map((r) => ({
            prefix: r.prefix,
            mirrors: [
              ...(r.mirror ?? []).map((m: Record<string, any>) => ({
                location: m.location,
                insecure: m.insecure === true,
                pull: m["pull-from-mirror"] ?? "all",
              })),
              ...(r.location !== r.prefix
                ? [{ location: r.location, insecure: r.insecure === true, pull: "all" }]
                : []),
            ],
            fallback: r.location === r.prefix,
          }));
          expect(read).toEqual(
            policy.registries.map((r) => ({
              prefix: r.registry,
              mirrors: r.endpoints.map((e) => ({
                location: location(e),
                insecure: e.insecure || e.scheme === "http",
                pull: e.pullFromMirror,
              })),
              fallback: r.upstreamFallback,
            })),
          );
        },
      ),
      RUNS,
    );
  });
});

describe("k3s/RKE2 registries.yaml", () => {
  const features: Features = {
    ...ALL,
    paths: [...NAMESPACE_PATHS, ...PREFIX_PATHS],
    noFallback: false,
    headers: false,
    empty: false,
  };

  it("parses (YAML 1.2 and 1.1 alike), and reads back to the policy: endpoints in order, TLS per host", () => {
    fc.assert(
      fc.property(policyArb(features), fc.constantFrom<"k3s" | "rke2">("k3s", "rke2"), (input, flavour) => {
        const { policy, out: file } = deterministic(input, (p) => renderK3sRegistries(p, { flavour }));
        expect(file.path).toBe(`/etc/rancher/${flavour}/registries.yaml`);
        endsWithOneNewline(file.content);
        const doc = parseYaml(file.content) as {
          mirrors: Record<string, { endpoint: string[] }>;
          configs?: Record<string, { tls: Record<string, unknown> }>;
        };
        expect(parseYaml(file.content, { version: "1.1" })).toEqual(doc);
        expect(Object.keys(doc.mirrors)).toEqual(policy.registries.map((r) => r.registry));
        for (const r of policy.registries) {
          expect(doc.mirrors[r.registry].endpoint).toEqual(
            r.endpoints.map((e) => `${e.scheme}://${e.host}${apiRoot(e) === "/v2" ? "" : apiRoot(e)}`),
          );
        }
        const used = new Set(policy.registries.flatMap((r) => r.endpoints.map((e) => e.host)));
        const expected: Record<string, { tls: Record<string, unknown> }> = {};
        for (const p of PROFILES.filter((p) => used.has(p.host))) {
          const tls: Record<string, unknown> = {};
          if (p.caFile) tls.ca_file = p.caFile;
          if (p.clientCertFile) Object.assign(tls, { cert_file: p.clientCertFile, key_file: p.clientKeyFile });
          if (p.insecure) tls.insecure_skip_verify = true;
          if (Object.keys(tls).length > 0) expected[p.host] = { tls };
        }
        expect(doc.configs ?? {}).toEqual(expected);
      }),
      RUNS,
    );
  });
});

describe("BuildKit buildkitd.toml", () => {
  const features: Features = {
    ...ALL,
    paths: NAMESPACE_PATHS,
    star: false,
    noFallback: false,
    headers: false,
    empty: false,
  };

  it("parses, and reads back to the policy: mirrors in order without scheme, http/insecure/ca/keypair per host", () => {
    fc.assert(
      fc.property(policyArb(features), (input) => {
        const { policy, out: file } = deterministic(input, (p) => renderBuildkitToml(p));
        endsWithOneNewline(file.content);
        const doc = parseToml(file.content) as { registry: Record<string, Record<string, any>> };
        for (const r of policy.registries) {
          expect(doc.registry[r.registry].mirrors).toEqual(r.endpoints.map((e) => `${e.host}${apiRoot(e).slice(3)}`));
        }
        const used = new Set(policy.registries.flatMap((r) => r.endpoints.map((e) => e.host)));
        for (const p of PROFILES) {
          const table = doc.registry[p.host] ?? {};
          const settings = { http: table.http, insecure: table.insecure, ca: table.ca, keypair: table.keypair };
          expect(settings).toEqual(
            used.has(p.host)
              ? {
                  http: p.scheme === "http" ? true : undefined,
                  insecure: p.insecure ? true : undefined,
                  ca: p.caFile ? [p.caFile] : undefined,
                  keypair: p.clientCertFile ? [{ key: p.clientKeyFile, cert: p.clientCertFile }] : undefined,
                }
              : { http: undefined, insecure: undefined, ca: undefined, keypair: undefined },
          );
        }
      }),
      RUNS,
    );
  });
});

describe("Bottlerocket settings", () => {
  const features: Features = {
    ...ALL,
    profiles: PROFILES.filter((p) => !p.caFile && !p.insecure),
    paths: [...NAMESPACE_PATHS, ...PREFIX_PATHS],
    noFallback: false,
    headers: false,
    empty: false,
  };

  it('parses, and reads back to the policy: one mirrors entry per registry, endpoints in order, "*" kept', () => {
    fc.assert(
      fc.property(policyArb(features), (input) => {
        const { policy, out } = deterministic(input, (p) => renderBottlerocketSettings(p));
        endsWithOneNewline(out);
        const doc = parseToml(out) as {
          settings: { "container-registry": { mirrors: Array<{ registry: string; endpoint: string[] }> } };
        };
        expect(doc.settings["container-registry"].mirrors).toEqual(
          policy.registries.map((r) => ({
            registry: r.registry,
            endpoint: r.endpoints.map((e) => `${e.scheme}://${e.host}${apiRoot(e) === "/v2" ? "" : apiRoot(e)}`),
          })),
        );
      }),
      RUNS,
    );
  });
});

describe("renderRuntimeFiles", () => {
  it("gives every selected runtime's files sorted by path, the same whatever order the runtimes are listed in", () => {
    const features: Features = {
      ...ALL,
      profiles: PROFILES.filter((p) => !p.caFile && !p.insecure),
      paths: NAMESPACE_PATHS,
      star: false,
      noFallback: false,
      headers: false,
      tuning: false,
      empty: false,
    };
    fc.assert(
      fc.property(
        policyArb(features),
        fc.shuffledSubarray(
          ["docker", "containerd", "crio", "podman", "k3s", "rke2", "buildkit", "bottlerocket"] as const,
          { minLength: 1 },
        ),
        (input, runtimes) => {
          const policy = normalisePolicy(input).policy;
          const out = renderRuntimeFiles(policy, runtimes);
          expect(renderRuntimeFiles(policy, [...runtimes].reverse())).toEqual(out);
          const paths = out.files.map((f) => f.path);
          expect(paths).toEqual([...paths].sort());
          expect(new Set(paths).size).toBe(paths.length);
          expect(paths.some((p) => p.startsWith("/etc/containerd/"))).toBe(runtimes.includes("containerd"));
          expect(paths.includes("/etc/containers/registries.conf.d/50-registry-mirrors.conf")).toBe(
            runtimes.includes("crio") || runtimes.includes("podman"),
          );
          expect(paths.includes("/etc/rancher/k3s/registries.yaml")).toBe(runtimes.includes("k3s"));
          expect(paths.includes("/etc/rancher/rke2/registries.yaml")).toBe(runtimes.includes("rke2"));
          expect(paths.includes("/etc/buildkit/buildkitd.toml")).toBe(runtimes.includes("buildkit"));
          expect(paths.some((p) => p.startsWith("/etc/docker/"))).toBe(false);
          expect(out.bottlerocket !== undefined).toBe(runtimes.includes("bottlerocket"));
          expect(out.warnings).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
