/**
 * What a format cannot express is refused with a PolicyError naming the field, the value and the fix (never
 * dropped silently); containerd-only tuning a format has no place for is dropped with a warning.
 */
import { describe, expect, it } from "vitest";
import type { PolicyError } from "../../components/core/errors";
import { normalisePolicy, type RegistryMirrorsInput } from "../../components/core/policy";
import { renderBottlerocketSettings } from "../../components/core/render/bottlerocket";
import { renderBuildkitToml } from "../../components/core/render/buildkit";
import { renderContainerdConfigFragment, renderContainerdHosts } from "../../components/core/render/containerd";
import { type K3sRegistriesOptions, renderK3sRegistries } from "../../components/core/render/k3s";
import { renderRegistriesConf } from "../../components/core/render/registries-conf";
import { renderRuntimeFiles } from "../../components/core/render/runtimes";
import { errorOf } from "./policy-error";

/** Registries as a test writes them: a mirror list is short for `{ mirrors: list }`. */
type Registries = Record<string, RegistryMirrorsInput | RegistryMirrorsInput["mirrors"]>;

function policy(input: Registries, allowMirrorPaths = true) {
  const registries = Object.fromEntries(
    Object.entries(input).map(([k, v]) => [k, Array.isArray(v) ? { mirrors: v } : v]),
  );
  return normalisePolicy({ registries, allowMirrorPaths }).policy;
}

/** Asserts the message names the field, shows the value and gives the fix. */
function expectNamed(err: PolicyError, field: string, value: string, fix: string): void {
  expect(err.field).toBe(field);
  expect(err.message.startsWith(`${field}: `)).toBe(true);
  expect(err.message).toContain(`(got ${value})`);
  expect(err.message.slice(err.message.indexOf("Fix: "))).toContain(fix);
}

const DOCKER = 'policy.registries["docker.io"]';
const M0 = `${DOCKER}.mirrors[0]`;

describe("CRI-O/podman registries.conf refuses what it cannot express", () => {
  it.each<[string, Registries, string, string, string]>([
    [
      '"*" (podman refuses prefix "*")',
      { "*": ["https://m.example.com"] },
      'policy.registries["*"]',
      '"*"',
      "list each registry to mirror by name",
    ],
    [
      "a per-mirror CA",
      { "docker.io": [{ url: "https://m.example.com", caFile: "/etc/pki/ca.pem" }] },
      `${M0}.caFile`,
      '"/etc/pki/ca.pem"',
      "/etc/containers/certs.d/m.example.com/ca.crt",
    ],
    [
      "a client certificate",
      {
        "docker.io": [
          { url: "https://m.example.com", clientCertFile: "/etc/pki/c.pem", clientKeyFile: "/etc/pki/c.key" },
        ],
      },
      `${M0}.clientCertFile`,
      '"/etc/pki/c.pem"',
      "client.cert and client.key",
    ],
    [
      "headers",
      { "docker.io": [{ url: "https://m.example.com", headers: { "X-Token": "secret-value" } }] },
      `${M0}.headers`,
      '["X-Token"]',
      "auth file",
    ],
    [
      "a mirror that does not serve pulls",
      { "docker.io": [{ url: "https://m.example.com", capabilities: ["push"] }] },
      `${M0}.capabilities`,
      '["push"]',
      'add "pull"',
    ],
    [
      "a path before /v2",
      { "docker.io": ["https://m.example.com/dockerhub"] },
      `${M0}.url`,
      '"https://m.example.com/dockerhub"',
      '"https://m.example.com/v2/<namespace>" with overridePath: true',
    ],
    [
      "a full API path not under /v2",
      { "docker.io": [{ url: "https://m.example.com/api", overridePath: true }] },
      `${M0}.url`,
      '"https://m.example.com/api"',
      "overridePath: true",
    ],
    [
      "pull-from-mirror on the mirror that becomes the location",
      {
        "docker.io": {
          mirrors: ["https://a.example.com", { url: "https://b.example.com", pullFromMirror: "tag-only" }],
          upstreamFallback: false,
        },
      },
      `${DOCKER}.mirrors[1].pullFromMirror`,
      '"tag-only"',
      "remove pullFromMirror from the last mirror",
    ],
  ])("%s", (_, registries, field, value, fix) => {
    expectNamed(
      errorOf(() => renderRegistriesConf(policy(registries))),
      field,
      value,
      fix,
    );
  });

  it("never prints a header value", () => {
    const err = errorOf(() =>
      renderRegistriesConf(
        policy({ "docker.io": [{ url: "https://m.example.com", headers: { "X-Token": "secret-value" } }] }),
      ),
    );
    expect(err.message).not.toContain("secret-value");
  });

  it("warns about containerd-only tuning it drops", () => {
    const warnings: string[] = [];
    renderRegistriesConf(
      policy({ "docker.io": [{ url: "https://m.example.com", dialTimeout: "3s", capabilities: ["pull"] }] }),
      { warnings },
    );
    expect(warnings).toEqual([
      `${M0}.capabilities: registries.conf has no capabilities; CRI-O/podman use this mirror for pulls (use pullFromMirror: "digest-only" to keep tag pulls off it)`,
      `${M0}.dialTimeout: registries.conf has no dial timeout; CRI-O/podman use their default`,
    ]);
  });

  it("an empty policy is a file with only the header", () => {
    expect(renderRegistriesConf({ registries: [] }).content).toMatch(/^# Written by registry-mirrors.*\n$/);
  });
});

describe("k3s/RKE2 registries.yaml refuses what it cannot express", () => {
  const k3s = (registries: Registries, options: Partial<K3sRegistriesOptions> = {}) =>
    renderK3sRegistries(policy(registries), { flavour: "k3s", ...options });

  it.each<[string, Registries, Partial<K3sRegistriesOptions>, string, string, string]>([
    [
      "headers",
      { "docker.io": [{ url: "https://m.example.com", headers: { Authorization: "Bearer x" } }] },
      {},
      `${M0}.headers`,
      '["Authorization"]',
      "auth option",
    ],
    [
      "upstreamFallback: false without the node flag",
      { "docker.io": { mirrors: ["https://m.example.com"], upstreamFallback: false } },
      {},
      `${DOCKER}.upstreamFallback`,
      "false",
      "--disable-default-registry-endpoint and pass defaultEndpointDisabled: true",
    ],
    [
      "upstreamFallback: true with the node flag",
      { "docker.io": ["https://m.example.com"] },
      { defaultEndpointDisabled: true },
      `${DOCKER}.upstreamFallback`,
      "true",
      "set upstreamFallback: false",
    ],
    [
      'a registry without mirrors next to "*"',
      { "*": ["https://m.example.com"], "quay.io": { mirrors: [] } },
      {},
      'policy.registries["quay.io"].mirrors',
      "[]",
      "give it a mirror",
    ],
    [
      "overridePath on a bare host",
      { "docker.io": [{ url: "https://m.example.com", overridePath: true }] },
      {},
      `${M0}.overridePath`,
      '"https://m.example.com"',
      "give the full API path",
    ],
    [
      "a client certificate without its key",
      { "docker.io": [{ url: "https://m.example.com", clientCertFile: "/etc/pki/c.pem" }] },
      {},
      `${M0}.clientKeyFile`,
      "nothing",
      "set clientKeyFile",
    ],
    [
      "a mirror that does not serve pulls",
      { "docker.io": [{ url: "https://m.example.com", capabilities: ["resolve"] }] },
      {},
      `${M0}.capabilities`,
      '["resolve"]',
      'add "pull"',
    ],
    [
      "two TLS settings for one host",
      {
        "docker.io": ["https://m.example.com/v2/a"],
        "ghcr.io": [{ url: "https://m.example.com/v2/b", insecure: true }],
      },
      {},
      'policy.registries["ghcr.io"].mirrors[0]',
      '"m.example.com"',
      "the same insecure/caFile",
    ],
    [
      "TLS option conflicting with a mirror's",
      { "docker.io": [{ url: "https://m.example.com", caFile: "/etc/pki/a.pem" }] },
      { tls: { "m.example.com": { caFile: "/etc/pki/b.pem" } } },
      'tls["m.example.com"]',
      '"m.example.com"',
      "the same insecure/caFile",
    ],
    [
      "a TLS option cert without key",
      { "docker.io": ["https://m.example.com"] },
      { tls: { "10.0.0.9:5000": { certFile: "/etc/pki/c.pem" } } },
      'tls["10.0.0.9:5000"]',
      '{"certFile":"/etc/pki/c.pem"}',
      "set both certFile and keyFile",
    ],
    [
      "a TLS option path that is not absolute",
      { "docker.io": ["https://m.example.com"] },
      { tls: { "10.0.0.9:5000": { caFile: "ca.pem" } } },
      'tls["10.0.0.9:5000"].caFile',
      '"ca.pem"',
      "give the full path",
    ],
    [
      "an auth host that is not a host",
      { "docker.io": ["https://m.example.com"] },
      { auth: { "https://m.example.com": { username: "u", password: "p" } } },
      'auth["https://m.example.com"]',
      '"https://m.example.com"',
      "write only the host",
    ],
  ])("%s", (_, registries, options, field, value, fix) => {
    expectNamed(
      errorOf(() => k3s(registries, options)),
      field,
      value,
      fix,
    );
  });

  it("refuses malformed credentials without printing them", () => {
    const err = errorOf(() =>
      k3s(
        { "docker.io": ["https://m.example.com"] },
        { auth: { "m.example.com": { username: "robot", password: "" } as never } },
      ),
    );
    expectNamed(
      err,
      'auth["m.example.com"]',
      '"(fields: password,username)"',
      "give either username and password, or auth",
    );
    expect(err.message).not.toContain("robot");
    const mixed = errorOf(() =>
      k3s(
        { "docker.io": ["https://m.example.com"] },
        { auth: { "m.example.com": { auth: "abc", password: "hunter2" } as never } },
      ),
    );
    expect(mixed.message).not.toContain("hunter2");
  });

  it("refuses an unknown flavour", () => {
    expectNamed(
      errorOf(() =>
        renderK3sRegistries(policy({ "docker.io": ["https://m.example.com"] }), { flavour: "k8s" as never }),
      ),
      "flavour",
      '"k8s"',
      'use "k3s" or "rke2"',
    );
  });

  it("accepts upstreamFallback: false on nodes started with --disable-default-registry-endpoint", () => {
    const file = k3s(
      { "docker.io": { mirrors: ["https://m.example.com"], upstreamFallback: false } },
      { defaultEndpointDisabled: true },
    );
    expect(file.content).toContain("      - https://m.example.com\n");
  });

  it("warns about containerd-only tuning and CRI-O-only pull-from-mirror it drops", () => {
    const warnings: string[] = [];
    k3s(
      {
        "docker.io": [
          {
            url: "https://m.example.com",
            dialTimeout: "3s",
            capabilities: ["pull", "resolve", "push"],
            pullFromMirror: "digest-only",
          },
        ],
      },
      { warnings },
    );
    expect(warnings).toEqual([
      `${M0}.capabilities: k3s has no capabilities setting; the endpoint is used for pull and resolve`,
      `${M0}.dialTimeout: k3s registries.yaml has no dial timeout; containerd's default applies`,
      `${M0}.pullFromMirror: applies to CRI-O/podman only; k3s uses the mirror for every pull`,
    ]);
  });
});

describe("BuildKit buildkitd.toml refuses what it cannot express", () => {
  it.each<[string, Registries, string, string, string]>([
    [
      "upstreamFallback: false",
      { "docker.io": { mirrors: ["https://m.example.com"], upstreamFallback: false } },
      `${DOCKER}.upstreamFallback`,
      "false",
      "set upstreamFallback: true, or leave buildkit out of runtimes",
    ],
    [
      "headers",
      { "docker.io": [{ url: "https://m.example.com", headers: { "X-Token": "t" } }] },
      `${M0}.headers`,
      '["X-Token"]',
      "Docker config.json",
    ],
    ['only "*"', { "*": ["https://m.example.com"] }, "policy.registries", '["*"]', "name the registries to mirror"],
    [
      "a path before /v2",
      { "docker.io": ["https://m.example.com/dockerhub"] },
      `${M0}.url`,
      '"https://m.example.com/dockerhub"',
      "overridePath: true",
    ],
    [
      "a client certificate without its key",
      { "docker.io": [{ url: "https://m.example.com", clientCertFile: "/etc/pki/c.pem" }] },
      `${M0}.clientKeyFile`,
      "nothing",
      "set clientKeyFile",
    ],
    [
      "two connection settings for one host",
      {
        "docker.io": ["https://m.example.com/v2/a"],
        "ghcr.io": [{ url: "https://m.example.com/v2/b", caFile: "/etc/pki/ca.pem" }],
      },
      'policy.registries["ghcr.io"].mirrors[0]',
      '"https://m.example.com/v2/b"',
      "the same scheme, insecure, caFile",
    ],
    [
      "a mirror that does not serve pulls",
      { "docker.io": [{ url: "https://m.example.com", capabilities: ["push"] }] },
      `${M0}.capabilities`,
      '["push"]',
      'add "pull"',
    ],
  ])("%s", (_, registries, field, value, fix) => {
    expectNamed(
      errorOf(() => renderBuildkitToml(policy(registries))),
      field,
      value,
      fix,
    );
  });

  it('skips "*" next to named registries, with a warning', () => {
    const warnings: string[] = [];
    const file = renderBuildkitToml(
      policy({ "*": ["https://any.example.com"], "docker.io": ["https://m.example.com"] }),
      { warnings },
    );
    expect(file.content).not.toContain("any.example.com");
    expect(file.content).toContain('[registry."docker.io"]\nmirrors = [ "m.example.com" ]\n');
    expect(warnings).toEqual([
      expect.stringMatching(/^policy\.registries\["\*"\]: BuildKit has no entry for every registry/),
    ]);
  });
});

describe("Bottlerocket settings refuse what they cannot express", () => {
  it.each<[string, Registries, string, string, string]>([
    [
      "skip-verify",
      { "docker.io": [{ url: "https://m.example.com", insecure: true }] },
      `${M0}.insecure`,
      "true",
      "remove insecure from this mirror",
    ],
    [
      "a CA",
      { "docker.io": [{ url: "https://m.example.com", caFile: "/etc/pki/ca.pem" }] },
      `${M0}.caFile`,
      '"/etc/pki/ca.pem"',
      "remove caFile from this mirror",
    ],
    [
      "a client certificate",
      { "docker.io": [{ url: "https://m.example.com", clientCertFile: "/etc/pki/c.pem" }] },
      `${M0}.clientCertFile`,
      '"/etc/pki/c.pem"',
      "remove clientCertFile",
    ],
    [
      "headers",
      { "docker.io": [{ url: "https://m.example.com", headers: { "X-Token": "t" } }] },
      `${M0}.headers`,
      '["X-Token"]',
      "remove headers",
    ],
    [
      "upstreamFallback: false",
      { "docker.io": { mirrors: ["https://m.example.com"], upstreamFallback: false } },
      `${DOCKER}.upstreamFallback`,
      "false",
      "set upstreamFallback: true, or leave bottlerocket out of runtimes",
    ],
    [
      'a registry without mirrors next to "*"',
      { "*": ["https://m.example.com"], "quay.io": { mirrors: [] } },
      'policy.registries["quay.io"].mirrors',
      "[]",
      "give it a mirror",
    ],
    [
      "overridePath on a bare host",
      { "docker.io": [{ url: "https://m.example.com", overridePath: true }] },
      `${M0}.overridePath`,
      '"https://m.example.com"',
      "give the full API path",
    ],
  ])("%s", (_, registries, field, value, fix) => {
    expectNamed(
      errorOf(() => renderBottlerocketSettings(policy(registries))),
      field,
      value,
      fix,
    );
  });

  it("accepts plain-HTTP mirrors (no TLS to configure)", () => {
    expect(
      renderBottlerocketSettings(policy({ "docker.io": [{ url: "http://10.0.0.5:5000", insecure: true }] })),
    ).toContain('endpoint = [ "http://10.0.0.5:5000" ]');
  });
});

describe("containerd refuses bad options and warns about pull-from-mirror", () => {
  it("refuses a certs folder that is not one absolute folder", () => {
    const p = policy({ "docker.io": ["https://m.example.com"] });
    expectNamed(
      errorOf(() => renderContainerdHosts(p, { certsDir: "certs.d" })),
      "certsDir",
      '"certs.d"',
      "give the folder containerd's config_path points at",
    );
    expectNamed(
      errorOf(() => renderContainerdHosts(p, { certsDir: "/etc/containerd/certs.d:/etc/docker/certs.d" })),
      "certsDir",
      '"/etc/containerd/certs.d:/etc/docker/certs.d"',
      "pass the first",
    );
  });

  it("refuses an unknown config version and a relative config_path", () => {
    expectNamed(
      errorOf(() => renderContainerdConfigFragment(1 as never)),
      "version",
      "1",
      "use 2 for containerd 1.x or 3 for containerd 2.x",
    );
    expectNamed(
      errorOf(() => renderContainerdConfigFragment(2, "/etc/containerd/certs.d:certs")),
      "configPath",
      '"/etc/containerd/certs.d:certs"',
      "give e.g.",
    );
  });

  it("warns that pull-from-mirror is CRI-O/podman only", () => {
    const warnings: string[] = [];
    renderContainerdHosts(policy({ "docker.io": [{ url: "https://m.example.com", pullFromMirror: "tag-only" }] }), {
      warnings,
    });
    expect(warnings).toEqual([
      expect.stringMatching(
        /^policy\.registries\["docker\.io"\]\.mirrors\[0\]\.pullFromMirror: containerd has no such setting; "tag-only" applies to CRI-O\/podman only/,
      ),
    ]);
  });
});

describe("renderRuntimeFiles", () => {
  const p = policy({
    "docker.io": [{ url: "https://m.example.com", dialTimeout: "3s" }],
    "ghcr.io": ["https://g.example.com"],
  });

  it("renders one drop-in for CRI-O and podman together, skips docker, returns Bottlerocket settings aside", () => {
    const out = renderRuntimeFiles(p, ["docker", "podman", "crio", "bottlerocket", "containerd"], {
      containerd: { certsDir: "/etc/docker/certs.d" },
    });
    expect(out.files.map((f) => f.path)).toEqual([
      "/etc/containers/registries.conf.d/50-registry-mirrors.conf",
      "/etc/docker/certs.d/docker.io/hosts.toml",
      "/etc/docker/certs.d/ghcr.io/hosts.toml",
    ]);
    expect(out.bottlerocket).toContain('registry = "ghcr.io"');
  });

  it("prefixes every warning with the runtime it is about", () => {
    const out = renderRuntimeFiles(p, ["crio", "podman", "k3s", "buildkit"]);
    expect(out.warnings).toEqual([
      `crio/podman: ${M0}.dialTimeout: registries.conf has no dial timeout; CRI-O/podman use their default`,
      `k3s: ${M0}.dialTimeout: k3s registries.yaml has no dial timeout; containerd's default applies`,
      `buildkit: ${M0}.dialTimeout: buildkitd.toml has no dial timeout; BuildKit's default applies`,
    ]);
  });

  it("passes the k3s options to both k3s and RKE2 (auth makes both files secret)", () => {
    const out = renderRuntimeFiles(p, ["k3s", "rke2"], {
      k3s: { auth: { "m.example.com": { username: "u", password: "p" } } },
    });
    expect(out.files.map((f) => [f.path, f.secret])).toEqual([
      ["/etc/rancher/k3s/registries.yaml", true],
      ["/etc/rancher/rke2/registries.yaml", true],
    ]);
  });

  it("lets a runtime's refusal through, naming the field", () => {
    const star = policy({ "*": ["https://m.example.com"] });
    expect(() => renderRuntimeFiles(star, ["containerd", "k3s"])).not.toThrow();
    expect(() => renderRuntimeFiles(star, ["containerd", "crio"])).toThrow(
      /^policy\.registries\["\*"\]: CRI-O\/podman registries\.conf has no entry for every registry/,
    );
  });
});

describe("an ECR endpoint whose token only containerd receives", () => {
  const ecr = {
    "docker.io": [
      {
        url: "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/v2/docker-hub",
        overridePath: true,
        auth: "ecr" as const,
      },
    ],
  };
  it.each(["crio", "k3s", "rke2", "buildkit", "bottlerocket"] as const)(
    "%s renders it with a warning that it will get a 401",
    (runtime) => {
      const { warnings } = renderRuntimeFiles(policy(ecr), [runtime]);
      expect(warnings).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            /auth: .*cannot send the ECR token.*401 from 123456789012\.dkr\.ecr\.us-west-2\.amazonaws\.com/,
          ),
        ]),
      );
    },
  );
  it("containerd gets no such warning", () => {
    const { warnings } = renderRuntimeFiles(policy(ecr), ["containerd"]);
    expect(warnings.filter((w) => w.includes("ECR token"))).toEqual([]);
  });
});
