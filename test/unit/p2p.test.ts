import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { DRAGONFLY_PROXY, SPEGEL_CHART_VERSION, spegelValues, withDragonfly } from "../../components/core/p2p";
import { normalisePolicy } from "../../components/core/policy";
import { renderContainerdHosts } from "../../components/core/render/containerd";
import { renderK3sEmbeddedRegistry, renderK3sRegistries } from "../../components/core/render/k3s";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { renderRuntimeFiles } from "../../components/core/render/runtimes";
import { errorOf, expectPolicyError } from "./policy-error";

const chart = JSON.parse(
  readFileSync(join(__dirname, "fixtures", `spegel-chart-${SPEGEL_CHART_VERSION}-values.json`), "utf8"),
) as { version: string; values: Record<string, { type: string; default: unknown }> };

/** Every leaf of `values` as "a.b.c" with its value (arrays are leaves, as the chart's table lists them). */
function leaves(values: Record<string, unknown>, prefix = ""): Array<[string, unknown]> {
  return Object.entries(values).flatMap(([k, v]) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? leaves(v as Record<string, unknown>, `${prefix}${k}.`)
      : [[`${prefix}${k}`, v] as [string, unknown]],
  );
}

/** The chart table's type of a value ("list", "bool", "string", "int", "object"). */
function chartType(v: unknown): string {
  if (Array.isArray(v)) return "list";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "string") return "string";
  if (Number.isInteger(v)) return "int";
  return typeof v;
}

/** Spegel's own check of a registry / mirror URL (pkg/oci/filter.go validateRegistryURL): http(s), no path/query/user. */
function spegelAccepts(url: string, wildcard: boolean): boolean {
  if (wildcard && (url === "_default" || url === "*")) return true;
  const u = new URL(url);
  return (
    (u.protocol === "http:" || u.protocol === "https:") &&
    u.pathname === "/" &&
    !url.endsWith("/") &&
    u.search === "" &&
    u.username === ""
  );
}

const POLICY = {
  registries: {
    "docker.io": { mirrors: ["https://m1.example", "http://10.0.0.9:5000"] },
    "ghcr.io": { mirrors: [{ url: "https://ghcr-cache.example/v2/ghcr", overridePath: true }] },
    "registry.k8s.io": { mirrors: [] },
  },
  allowMirrorPaths: true,
};

describe("Spegel chart values", () => {
  it("names every registry of the policy, keeps existing config (ours) and points at the hosts folder", () => {
    expect(spegelValues(POLICY, { certsDir: "/etc/containerd/certs.d/" })).toEqual({
      spegel: {
        mirroredRegistries: ["https://docker.io", "https://ghcr.io", "https://registry.k8s.io"],
        additionalMirrorTargets: [],
        containerdRegistryConfigPath: "/etc/containerd/certs.d",
        containerdMirrorAdd: true,
        prependExisting: true,
        resolveTags: true,
      },
    });
  });

  it("puts one shared mirror list into additionalMirrorTargets, in order, with mirrors: values", () => {
    const shared = ["https://mirror.example", "http://10.0.0.9:5000"];
    const values = spegelValues(
      { registries: { "docker.io": { mirrors: shared }, "*": { mirrors: shared }, "quay.io": { mirrors: shared } } },
      { mirrors: "values", resolveTags: false },
    );
    expect(values.spegel.additionalMirrorTargets).toEqual(shared);
    expect(values.spegel.mirroredRegistries).toEqual(["https://docker.io", "https://quay.io", "_default"]);
    expect(values.spegel.prependExisting).toBe(false);
    expect(values.spegel.resolveTags).toBe(false);
  });

  it(`sets only keys the pinned chart (${SPEGEL_CHART_VERSION}) has, each with the chart's type, and URLs Spegel accepts`, () => {
    const policies = [
      POLICY,
      { registries: { "*": { mirrors: ["https://a.example"] }, "10.0.0.5:5000": { mirrors: ["https://a.example"] } } },
    ];
    for (const [policy, mirrors] of [
      [policies[0], "hosts"],
      [policies[1], "values"],
      [policies[1], "hosts"],
    ] as const) {
      const values = spegelValues(policy, { mirrors });
      for (const [key, value] of leaves(values as unknown as Record<string, unknown>)) {
        expect(chart.values[key], `${key} is a value of the chart`).toBeDefined();
        expect(chartType(value), key).toBe(chart.values[key].type);
      }
      for (const r of values.spegel.mirroredRegistries) expect(spegelAccepts(r, true), r).toBe(true);
      for (const t of values.spegel.additionalMirrorTargets) expect(spegelAccepts(t, false), t).toBe(true);
    }
    // The chart's defaults that the ownership model relies on being overridden or kept.
    expect(chart.values["spegel.prependExisting"].default).toBe(false);
    expect(chart.values["spegel.containerdMirrorAdd"].default).toBe(true);
    expect(chart.values["spegel.containerdRegistryConfigPath"].default).toBe("/etc/containerd/certs.d");
  });

  it("is deterministic: the same policy in any key order gives the same values", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(Object.keys(POLICY.registries), { minLength: 1 }), (keys) => {
        const pick = (order: string[]) => ({
          allowMirrorPaths: true,
          registries: Object.fromEntries(order.map((k) => [k, (POLICY.registries as Record<string, unknown>)[k]])),
        });
        const sorted = [...keys].sort();
        expect(JSON.stringify(spegelValues(pick(keys) as never))).toBe(
          JSON.stringify(spegelValues(pick(sorted) as never)),
        );
      }),
    );
  });

  it("refuses what Spegel would lose, naming the field and the fix", () => {
    expectPolicyError(
      () => spegelValues({ registries: { "docker.io": { mirrors: ["https://m.example"], upstreamFallback: false } } }),
      'policy.registries["docker.io"].upstreamFallback',
      "false",
      "set upstreamFallback: true",
    );
    expectPolicyError(
      () =>
        spegelValues({
          registries: {
            "docker.io": {
              mirrors: [
                { url: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/hub", overridePath: true, auth: "ecr" },
              ],
            },
          },
          allowMirrorPaths: true,
        }),
      'policy.registries["docker.io"].mirrors[0].auth',
      '"ecr"',
      "leave ECR mirrors out",
    );
    expectPolicyError(
      () =>
        spegelValues(
          {
            registries: {
              "docker.io": { mirrors: ["https://a.example"] },
              "quay.io": { mirrors: ["https://b.example"] },
            },
          },
          { mirrors: "values" },
        ),
      'policy.registries["quay.io"].mirrors',
      "https://b.example",
      'use mirrors: "hosts"',
    );
    expectPolicyError(
      () => spegelValues(POLICY, { mirrors: "values" }),
      'policy.registries["ghcr.io"].mirrors',
      "https://ghcr-cache.example/v2/ghcr",
      'use mirrors: "hosts"',
    );
    expectPolicyError(
      () =>
        spegelValues(
          { registries: { "docker.io": { mirrors: [{ url: "https://a.example", dialTimeout: "2s" }] } } },
          { mirrors: "values" },
        ),
      'policy.registries["docker.io"].mirrors[0]',
      "https://a.example",
      "drop those settings",
    );
    expectPolicyError(() => spegelValues({ registries: {} }), "policy.registries", "{}", "list the registries");
    expectPolicyError(
      () => spegelValues(POLICY, { certsDir: "etc/certs.d" }),
      "spegel.certsDir",
      "etc/certs.d",
      "/etc/containerd/certs.d",
    );
    expectPolicyError(() => spegelValues(POLICY, { mirrors: "both" as never }), "spegel.mirrors", "both", '"hosts"');
  });
});

describe("Dragonfly", () => {
  it("puts dfdaemon's proxy first, in dfinit's hosts.toml form, then the policy's mirrors, then the upstream", () => {
    const { policy } = normalisePolicy(withDragonfly(POLICY));
    const files = renderContainerdHosts(policy);
    const hub = parseToml(files[0].content) as { server: string; host: Record<string, Record<string, unknown>> };
    expect(files[0].path).toBe("/etc/containerd/certs.d/docker.io/hosts.toml");
    expect(hub.server).toBe("https://registry-1.docker.io");
    expect(Object.keys(hub.host)).toEqual([DRAGONFLY_PROXY, "https://m1.example", "http://10.0.0.9:5000"]);
    expect(hub.host[DRAGONFLY_PROXY]).toEqual({
      capabilities: ["pull", "resolve"],
      dial_timeout: "5s",
      header: { "X-Dragonfly-Registry": "https://registry-1.docker.io" },
    });
    const ghcr = parseToml(files[1].content) as { host: Record<string, Record<string, unknown>> };
    expect(Object.keys(ghcr.host)).toEqual([DRAGONFLY_PROXY, "https://ghcr-cache.example/v2/ghcr"]);
    expect(ghcr.host["https://ghcr-cache.example/v2/ghcr"].override_path).toBe(true);
    expect(ghcr.host[DRAGONFLY_PROXY].header).toEqual({ "X-Dragonfly-Registry": "https://ghcr.io" });
    const k8s = parseToml(files[2].content) as { host: Record<string, unknown> };
    expect(Object.keys(k8s.host)).toEqual([DRAGONFLY_PROXY]);
  });

  it("sends no registry header for *, and is idempotent", () => {
    const once = withDragonfly({ registries: { "*": { mirrors: ["https://any.example"] } } }, { dialTimeout: "500ms" });
    expect(once.registries["*"].mirrors[0]).toEqual({
      url: DRAGONFLY_PROXY,
      capabilities: ["pull", "resolve"],
      dialTimeout: "500ms",
    });
    expect(withDragonfly(once, { dialTimeout: "500ms" })).toEqual(once);
  });

  it("refuses a proxy with a path and a bad dial timeout", () => {
    expectPolicyError(
      () => withDragonfly(POLICY, { proxy: "http://127.0.0.1:4001/x" }),
      "dragonfly.proxy",
      "127.0.0.1:4001/x",
      "remove the path",
    );
    const err = errorOf(() => withDragonfly(POLICY, { dialTimeout: "soon" }));
    expect(err.field).toBe('dragonfly(policy).registries["docker.io"].mirrors[0].dialTimeout');
    expect(err.message).toContain('"soon"');
  });
});

describe("k3s/RKE2 embedded registry (Spegel inside k3s)", () => {
  const policy = normalisePolicy(POLICY).policy;

  it("lists every registry in registries.yaml, one without mirrors with no endpoint", () => {
    const file = renderK3sRegistries(policy, { flavour: "k3s", embeddedRegistry: true });
    expect(parseYaml(file.content)).toEqual({
      mirrors: {
        "docker.io": { endpoint: ["https://m1.example", "http://10.0.0.9:5000"] },
        "ghcr.io": { endpoint: ["https://ghcr-cache.example/v2/ghcr"] },
        "registry.k8s.io": {},
      },
    });
    // Without the embedded registry a registry without mirrors is left out (k3s would do nothing with it).
    expect(Object.keys(parseYaml(renderK3sRegistries(policy, { flavour: "k3s" }).content).mirrors)).toEqual([
      "docker.io",
      "ghcr.io",
    ]);
  });

  it("writes the server drop-in with embedded-registry: true on servers only", () => {
    expect(parseYaml(renderK3sEmbeddedRegistry("rke2").content)).toEqual({ "embedded-registry": true });
    const server = renderRuntimeFiles(policy, ["k3s"], { k3s: { embeddedRegistry: "server" } }).files;
    expect(server.map((f) => [f.path, f.runtime])).toEqual([
      ["/etc/rancher/k3s/config.yaml.d/registry-mirrors.yaml", "k3s"],
      ["/etc/rancher/k3s/registries.yaml", "k3s"],
    ]);
    const agent = renderRuntimeFiles(policy, ["rke2"], { k3s: { embeddedRegistry: "agent" } }).files;
    expect(agent.map((f) => f.path)).toEqual(["/etc/rancher/rke2/registries.yaml"]);
    expect(parseYaml(agent[0].content).mirrors["registry.k8s.io"]).toEqual({});
    expectPolicyError(
      () => renderRuntimeFiles(policy, ["k3s"], { k3s: { embeddedRegistry: "yes" as never } }),
      "k3s.embeddedRegistry",
      "yes",
      '"server" or "agent"',
    );
  });
});

describe("renderNodeConfig with Spegel on the nodes", () => {
  it("carries the Spegel part of the engine only with runtimeOptions.containerd.spegel", () => {
    const withSpegel = renderNodeConfig({
      policy: POLICY,
      runtimes: ["containerd"],
      runtimeOptions: { containerd: { spegel: true } },
    });
    expect(withSpegel.applyScript).toContain("# registry-mirrors node engine 0.1.0 (containerd spegel)");
    const without = renderNodeConfig({ policy: POLICY, runtimes: ["containerd"] });
    expect(without.applyScript).toContain("# registry-mirrors node engine 0.1.0 (containerd)\n");
    // The hosts.toml files themselves are the same: Spegel's part is added on the node.
    expect(withSpegel.containerdHosts).toEqual(without.containerdHosts);
  });
});
