import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { type MirrorPolicyInput, normalisePolicy } from "../../components/core/policy";
import { renderHostsToml } from "../../components/core/render/containerd";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { renderRegistriesConf } from "../../components/core/render/registries-conf";
import {
  assembleChunks,
  buildWatchPlan,
  renderWatchPlan,
  resolveWatchdogSettings,
  WATCHDOG_DEFAULTS,
  type WatchFile,
  watchdogBounds,
} from "../../components/core/watch-plan";
import { expectPolicyError } from "./policy-error";

const ECR = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/docker-hub";
const POLICY: MirrorPolicyInput = {
  allowMirrorPaths: true,
  registries: {
    "docker.io": {
      mirrors: ["https://m1.example.com", "http://10.0.0.5:5000", { url: ECR, overridePath: true, auth: "ecr" }],
    },
    "ghcr.io": {
      mirrors: ["https://m1.example.com", { url: "https://g2.example.com", insecure: true }],
      upstreamFallback: false,
    },
    "quay.io": { mirrors: ["https://q.example.com"] },
  },
};

function rendered(runtimes = ["docker", "containerd", "crio"] as const) {
  return renderNodeConfig({ policy: POLICY, runtimes: [...runtimes] });
}

function file(plan: ReturnType<typeof buildWatchPlan>, path: string): WatchFile {
  const f = plan.files.find((x) => x.path === path);
  if (!f) throw new Error(`no ${path} in the plan`);
  return f;
}

describe("buildWatchPlan", () => {
  const r = rendered();
  const plan = buildWatchPlan({ policy: r.policy, files: r.files });

  it("probes every endpoint of the policy once, at its registry API root", () => {
    expect(plan.endpoints.map((e) => [e.url, e.probeUrl])).toEqual([
      ["https://m1.example.com", "https://m1.example.com/v2/"],
      ["http://10.0.0.5:5000", "http://10.0.0.5:5000/v2/"],
      [ECR, "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/"],
      ["https://g2.example.com", "https://g2.example.com/v2/"],
      ["https://q.example.com", "https://q.example.com/v2/"],
    ]);
    const m1 = plan.endpoints[0];
    expect(m1.registries).toEqual(["docker.io", "ghcr.io"]);
    expect(m1.files).toEqual([
      "/etc/containerd/certs.d/docker.io/hosts.toml.registry-mirrors.template",
      "/etc/containerd/certs.d/ghcr.io/hosts.toml",
      "/etc/containers/registries.conf.d/50-registry-mirrors.conf",
      "/etc/docker/daemon.json",
    ]);
    const g2 = plan.endpoints[3];
    expect([g2.insecure, g2.files]).toEqual([true, []]);
  });

  it("probes a mirror behind a path prefix under that prefix, with its CA and client certificate", () => {
    const c = renderNodeConfig({
      policy: {
        allowMirrorPaths: true,
        registries: {
          "docker.io": {
            mirrors: [
              {
                url: "https://p.example.com/prefix",
                caFile: "/etc/pki/ca.pem",
                clientCertFile: "/etc/pki/c.pem",
                clientKeyFile: "/etc/pki/c.key",
              },
            ],
          },
        },
      },
      runtimes: ["containerd"],
    });
    const [ep] = buildWatchPlan({ policy: c.policy, files: c.files }).endpoints;
    expect(ep).toEqual({
      url: "https://p.example.com/prefix",
      probeUrl: "https://p.example.com/prefix/v2/",
      insecure: false,
      caFile: "/etc/pki/ca.pem",
      clientCertFile: "/etc/pki/c.pem",
      clientKeyFile: "/etc/pki/c.key",
      registries: ["docker.io"],
      files: ["/etc/containerd/certs.d/docker.io/hosts.toml"],
    });
  });

  it("rewrites hosts.toml, the CRI-O drop-in and daemon.json, each under the apply script's lock", () => {
    expect(plan.files.map((f) => [f.path, f.format, f.action, f.lock, f.reload])).toEqual([
      [
        "/etc/containerd/certs.d/docker.io/hosts.toml.registry-mirrors.template",
        "containerd-hosts",
        "rewrite",
        "/etc/containerd",
        undefined,
      ],
      ["/etc/containerd/certs.d/ghcr.io/hosts.toml", "containerd-hosts", "rewrite", "/etc/containerd", undefined],
      ["/etc/containerd/certs.d/quay.io/hosts.toml", "containerd-hosts", "rewrite", "/etc/containerd", undefined],
      [
        "/etc/containers/registries.conf.d/50-registry-mirrors.conf",
        "registries-conf",
        "rewrite",
        "/etc/containers",
        "crio",
      ],
      ["/etc/docker/daemon.json", "docker-daemon-json", "rewrite", "/etc/docker", "docker"],
    ]);
  });

  it("writes an ECR registry's template and lets the token refresher render hosts.toml", () => {
    const f = file(plan, "/etc/containerd/certs.d/docker.io/hosts.toml.registry-mirrors.template");
    expect(f.ecrRender).toBe("/etc/containerd/registry-mirrors/ecr-token-refresh");
    expect(assembleChunks(f.prefix as string, f.chunks ?? [], new Set())).toBe(
      r.files["/etc/containerd/certs.d/docker.io/hosts.toml"],
    );
  });

  it("never drops the last resort: without upstream fallback the last mirror stays", () => {
    const f = file(plan, "/etc/containerd/certs.d/ghcr.io/hosts.toml");
    expect(f.endpoints).toEqual(["https://m1.example.com"]);
    const all = assembleChunks(f.prefix!, f.chunks!, new Set(plan.endpoints.map((e) => e.url)));
    expect(parseToml(all)).toEqual({
      server: "https://g2.example.com",
      capabilities: ["pull", "resolve"],
      skip_verify: true,
      host: {},
    });
  });

  it("daemon.json: the Docker Hub mirrors in order", () => {
    const f = file(plan, "/etc/docker/daemon.json");
    expect(f.mirrors).toEqual(["https://m1.example.com", "http://10.0.0.5:5000"]);
    expect(f.content).toBe(r.files["/etc/docker/daemon.json"]);
  });

  it("reports k3s, RKE2 and BuildKit files, never rewrites them", () => {
    const k = renderNodeConfig({
      policy: { registries: { "docker.io": { mirrors: ["https://m1.example.com"] } } },
      runtimes: ["k3s", "rke2", "buildkit"],
    });
    const p = buildWatchPlan({ policy: k.policy, files: k.files });
    expect(p.files.map((f) => [f.path, f.runtime, f.action, f.endpoints, f.content])).toEqual([
      ["/etc/buildkit/buildkitd.toml", "buildkit", "report", ["https://m1.example.com"], undefined],
      ["/etc/rancher/k3s/registries.yaml", "k3s", "report", ["https://m1.example.com"], undefined],
      ["/etc/rancher/rke2/registries.yaml", "rke2", "report", ["https://m1.example.com"], undefined],
    ]);
  });

  it("is deterministic JSON with sorted keys, whatever the input order", () => {
    const text = renderWatchPlan({ policy: r.policy, files: r.files });
    const reversed = normalisePolicy({
      ...POLICY,
      registries: Object.fromEntries(Object.entries(POLICY.registries).reverse()),
    }).policy;
    const files = Object.fromEntries(Object.entries(r.files).reverse());
    expect(renderWatchPlan({ policy: reversed, files })).toBe(text);
    const sorted = (v: unknown): boolean =>
      Array.isArray(v)
        ? v.every(sorted)
        : typeof v === "object" && v !== null
          ? Object.keys(v).join() === Object.keys(v).sort().join() && Object.values(v).every(sorted)
          : true;
    expect(sorted(JSON.parse(text))).toBe(true);
    expect(text.endsWith("}\n")).toBe(true);
  });

  it("takes NodeFile lists as well as the path-to-content record", () => {
    const list = Object.entries(r.files).map(([path, content]) => ({ path, content, mode: 0o644 }));
    expect(buildWatchPlan({ policy: r.policy, files: list })).toEqual(plan);
  });
});

describe("watchdog settings", () => {
  it("has documented defaults", () => {
    const s = resolveWatchdogSettings();
    expect(s).toEqual({ ...WATCHDOG_DEFAULTS });
    const p = buildWatchPlan({ policy: rendered().policy, files: rendered().files, watchdog: { metricsFile: false } });
    expect(p.metricsFile).toBeNull();
    expect(p.timings.intervalSeconds).toBe(30);
  });

  it("takes every field", () => {
    const s = resolveWatchdogSettings({
      intervalSeconds: 10,
      suspectIntervalSeconds: 1,
      maxBackoffSeconds: 60,
      connectTimeoutSeconds: 2,
      firstByteTimeoutSeconds: 2,
      failuresToDown: 3,
      successesToUp: 1,
      jitter: 0,
      stateDir: "/run/rm",
      metricsFile: "/var/lib/prom/rm.prom",
    });
    expect(s).toMatchObject({
      intervalSeconds: 10,
      failuresToDown: 3,
      stateDir: "/run/rm",
      metricsFile: "/var/lib/prom/rm.prom",
    });
  });

  it.each([
    [{ interval: 5 }, "watchdog.interval", '"interval"', "intervalSeconds"],
    [{ intervalSeconds: 0 }, "watchdog.intervalSeconds", "0", "in that range"],
    [{ intervalSeconds: "30" }, "watchdog.intervalSeconds", '"30"', "in that range"],
    [{ intervalSeconds: 10, suspectIntervalSeconds: 20 }, "watchdog.suspectIntervalSeconds", "20", "in that range"],
    [{ intervalSeconds: 60, maxBackoffSeconds: 30 }, "watchdog.maxBackoffSeconds", "30", "in that range"],
    [{ failuresToDown: 1.5 }, "watchdog.failuresToDown", "1.5", "e.g. 2"],
    [{ successesToUp: 0 }, "watchdog.successesToUp", "0", "in that range"],
    [{ jitter: 0.9 }, "watchdog.jitter", "0.9", "in that range"],
    [{ connectTimeoutSeconds: Number.NaN }, "watchdog.connectTimeoutSeconds", "NaN", "in that range"],
    [{ stateDir: "var/lib/x" }, "watchdog.stateDir", '"var/lib/x"', "/var/lib/registry-mirrors/watchdog"],
    [{ stateDir: "/var/../x" }, "watchdog.stateDir", '"/var/../x"', "/var/lib/registry-mirrors/watchdog"],
    [{ metricsFile: "/var/lib/x.txt" }, "watchdog.metricsFile", '"/var/lib/x.txt"', ".prom"],
    [{ metricsFile: true }, "watchdog.metricsFile", "true", ".prom"],
  ])("refuses %j", (input, field, value, fix) => {
    expectPolicyError(() => resolveWatchdogSettings(input as never), field, value, fix);
  });

  it("refuses settings that are not an object", () => {
    expectPolicyError(() => resolveWatchdogSettings([] as never), "watchdog", "[]", "intervalSeconds: 30");
  });
});

describe("watchdogBounds", () => {
  it("states the defaults' figures, as watchdog.py's doc does", () => {
    const b = watchdogBounds(WATCHDOG_DEFAULTS);
    expect(b).toEqual({
      detectSeconds: 54.4,
      recoverSeconds: 316.8,
      probesPerHourHealthy: 120,
      fleetRequestsPerSecondHealthy: 333.3,
      fleetRequestsPerSecondMax: 1250,
    });
    const doc = readFileSync(join(__dirname, "..", "..", "components", "core", "node", "watchdog.py"), "utf8");
    for (const figure of [
      "54.4 s",
      "317 s",
      "333 requests/s",
      "1,250 requests/s",
      "[30]",
      "[2]",
      "[240]",
      "[K=2]",
      "[M=3]",
      "[0.2]",
    ]) {
      expect(doc).toContain(figure);
    }
  });

  it("scales with the interval and the fleet", () => {
    const b = watchdogBounds({ ...WATCHDOG_DEFAULTS, intervalSeconds: 60, maxBackoffSeconds: 600 }, 1000);
    expect(b.fleetRequestsPerSecondHealthy).toBe(16.7);
    expect(b.fleetRequestsPerSecondMax).toBe(62.5);
  });
});

// Random policies: each rewritable file, with any set of endpoints down, is what the renderer gives for the policy
// without them — so the watchdog's files are always files the library could have rendered.
const HOSTS = ["a.example.com", "b.example.com:5000", "10.0.0.7:5000", "c.example.com"];
const endpointArb = fc.record({
  host: fc.constantFrom(...HOSTS),
  scheme: fc.constantFrom("https", "http"),
  insecure: fc.boolean(),
  path: fc.constantFrom("", "/v2/ns"),
});
const policyArb = fc
  .uniqueArray(fc.constantFrom("docker.io", "ghcr.io", "quay.io", "10.0.0.9:5000"), { minLength: 1, maxLength: 4 })
  .chain((registries) =>
    fc
      .tuple(
        ...registries.map(() =>
          fc.record({
            mirrors: fc.uniqueArray(endpointArb, {
              minLength: 1,
              maxLength: 4,
              selector: (e) => `${e.scheme}${e.host}${e.path}`,
            }),
            upstreamFallback: fc.boolean(),
          }),
        ),
      )
      .map((entries) => ({
        allowMirrorPaths: true,
        registries: Object.fromEntries(
          registries.map((name, i) => [
            name,
            {
              upstreamFallback: entries[i].upstreamFallback,
              mirrors: entries[i].mirrors.map((e) => ({
                url: `${e.scheme}://${e.host}${e.path}`,
                insecure: e.scheme === "https" && e.insecure,
                overridePath: e.path !== "",
              })),
            },
          ]),
        ),
      })),
  );

describe("the effective files", () => {
  it("equal the renderer's output for the policy without the down endpoints, in the policy's order", () => {
    fc.assert(
      fc.property(policyArb, fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }), (input, flags) => {
        const { policy } = normalisePolicy(input);
        const r = renderNodeConfig({ policy: input, runtimes: ["containerd", "crio"] });
        const plan = buildWatchPlan({ policy, files: r.files });
        const down = new Set(plan.endpoints.filter((_, i) => flags[i]).map((e) => e.url));
        const filtered = {
          registries: policy.registries.map((entry) => {
            const last = entry.endpoints[entry.endpoints.length - 1];
            return {
              ...entry,
              endpoints: entry.endpoints.filter((e) => !down.has(e.url) || (!entry.upstreamFallback && e === last)),
            };
          }),
        };
        for (const f of plan.files) {
          const got = assembleChunks(f.prefix!, f.chunks!, down);
          if (f.format === "registries-conf") {
            expect(got).toBe(renderRegistriesConf(filtered).content);
          } else {
            const entry = filtered.registries.find(
              (e) => f.path === `/etc/containerd/certs.d/${e.registry}/hosts.toml`,
            );
            expect(got).toBe(renderHostsToml(entry!));
            const hosts = Object.keys((parseToml(got) as { host: object }).host);
            expect(hosts.every((h) => !down.has(h))).toBe(true);
          }
          expect(assembleChunks(f.prefix!, f.chunks!, new Set())).toBe(r.files[f.path]);
        }
      }),
      { numRuns: 150 },
    );
  });
});
