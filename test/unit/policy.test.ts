import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { parseHostPort, parseInsecureRegistry } from "../../components/core/host-port";
import {
  ecrRegistryRegion,
  normalisePolicy,
  normaliseRegistryName,
  parseMirrorUrl,
} from "../../components/core/policy";
import { errorOf } from "./policy-error";

describe("mirror URL validation", () => {
  it.each([
    ["mirror.example.com", "no scheme", "https://mirror.example.com"],
    ["ftp://mirror.example.com", 'scheme "ftp"', "use https://"],
    ["https://user:pass@mirror.example.com", "credentials", "remove the user:password part"],
    ["https://mirror.example.com?x=1", "query", 'remove everything from "?"'],
    ["https://mirror.example.com#top", "fragment", 'remove everything from "#"'],
    ["https://mirror.example.com/dockerhub", "path", "allowMirrorPaths"],
    ["https://", "", "https://"],
    ["", "required", "https://mirror.example.com"],
  ])("refuses %j naming the field, the value and the fix", (url, problem, fix) => {
    const err = errorOf(() => parseMirrorUrl("mirrors[0]", url));
    expect(err.message).toContain("mirrors[0]");
    // A credential in the URL is shown as ***@.
    expect(err.message).toContain(JSON.stringify(url.replace("user:pass@", "***@")));
    expect(err.message).toContain(problem);
    expect(err.message).toContain(`Fix: `);
    expect(err.message).toContain(fix);
  });

  it("normalises case, default port and trailing slashes", () => {
    expect(parseMirrorUrl("m", "HTTPS://Mirror.Example.COM:443/").url).toBe("https://mirror.example.com");
    expect(parseMirrorUrl("m", "http://10.0.0.5:5000").url).toBe("http://10.0.0.5:5000");
    expect(parseMirrorUrl("m", "https://[fd00::1]:5000/").host).toBe("[fd00::1]:5000");
  });

  it("accepts a path only with the opt-in, without its trailing slash", () => {
    expect(parseMirrorUrl("m", "https://proxy.example.com/v2/dockerhub/", { allowPath: true })).toMatchObject({
      url: "https://proxy.example.com/v2/dockerhub",
      path: "/v2/dockerhub",
    });
  });
});

describe("registry names", () => {
  it.each(["docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"])("folds %s into docker.io", (name) => {
    expect(normaliseRegistryName("r", name)).toBe("docker.io");
  });
  it("keeps * and host:port", () => {
    expect(normaliseRegistryName("r", "*")).toBe("*");
    expect(normaliseRegistryName("r", "Harbor.Local:8443")).toBe("harbor.local:8443");
  });
  it("refuses a URL as a registry key, showing the host to write", () => {
    const err = errorOf(() => normaliseRegistryName("registries", "https://ghcr.io/"));
    expect(err.message).toMatch(/registry key is a host.*"ghcr\.io"/);
  });
  it.each(["ghcr.io/org", "bad host", "host:99999", "-bad.example"])("refuses %j", (name) => {
    expect(errorOf(() => normaliseRegistryName("registries", name)).message).toContain("host[:port]");
  });
});

describe("insecure registries", () => {
  it("accepts CIDRs and host:port, normalising the network address", () => {
    expect(parseInsecureRegistry("i", "10.1.2.3/8")).toBe("10.0.0.0/8");
    expect(parseInsecureRegistry("i", "fd00::1/8")).toBe("fd00::/8");
    expect(parseInsecureRegistry("i", "registry.local:5000")).toBe("registry.local:5000");
  });
  it.each(["10.0.0.0/33", "10.0.0/8", "300.0.0.0/8", "x/8"])("refuses CIDR %j", (v) => {
    const err = errorOf(() => parseInsecureRegistry("docker.insecureRegistries[0]", v));
    expect(err.message).toContain("docker.insecureRegistries[0]");
    expect(err.message).toContain("CIDR");
    expect(err.message).toContain("10.0.0.0/8");
  });
  it.each(["http://registry:5000", "reg istry", "registry:0"])("refuses host %j", (v) => {
    expect(errorOf(() => parseInsecureRegistry("i", v)).message).toContain("host[:port]");
  });
  it("parses IPv6 host:port", () => {
    expect(parseHostPort("h", "[FD00::1]:5000")).toBe("[fd00::1]:5000");
  });
});

describe("normalisePolicy", () => {
  it("sorts registries with * last, folds aliases and fills defaults", () => {
    const { policy, warnings } = normalisePolicy({
      registries: {
        "*": { mirrors: ["https://any.example.com"] },
        "quay.io": { mirrors: ["https://quay-mirror.example.com"], upstreamFallback: false },
        "index.docker.io": { mirrors: ["https://a.example.com/", "https://A.example.com", "https://b.example.com"] },
      },
    });
    expect(policy.registries.map((r) => r.registry)).toEqual(["docker.io", "quay.io", "*"]);
    expect(policy.registries[0].endpoints.map((e) => e.url)).toEqual([
      "https://a.example.com",
      "https://b.example.com",
    ]);
    expect(policy.registries[0].endpoints[0]).toMatchObject({
      capabilities: ["pull", "resolve"],
      insecure: false,
      overridePath: false,
      pullFromMirror: "all",
    });
    expect(policy.registries[1].upstreamFallback).toBe(false);
    expect(warnings).toEqual([expect.stringContaining("duplicate mirror https://a.example.com dropped")]);
  });

  it("refuses the same registry twice with different settings", () => {
    const err = errorOf(() =>
      normalisePolicy({
        registries: {
          "docker.io": { mirrors: ["https://a.example.com"] },
          "index.docker.io": { mirrors: ["https://b.example.com"] },
        },
      }),
    );
    expect(err.message).toContain("listed twice");
    expect(err.message).toContain("merge their mirrors");
  });

  it("drops an identical duplicate registry with a warning", () => {
    const { policy, warnings } = normalisePolicy({
      registries: {
        "docker.io": { mirrors: ["https://a.example.com"] },
        "index.docker.io": { mirrors: ["https://a.example.com"] },
      },
    });
    expect(policy.registries).toHaveLength(1);
    expect(warnings[0]).toContain("duplicate entry is dropped");
  });

  it.each([
    [{ url: "https://m.example.com", caFile: "certs/ca.pem" }, "caFile", "absolute path"],
    [{ url: "https://m.example.com", clientCertFile: "c.pem" }, "clientCertFile", "absolute path"],
    [{ url: "https://m.example.com", clientKeyFile: "/k.pem" }, "clientKeyFile", "set clientCertFile"],
    [
      { url: "https://m.example.com", capabilities: ["pull", "delete"] },
      "capabilities",
      '"pull", "resolve" and "push"',
    ],
    [{ url: "https://m.example.com", capabilities: [] }, "capabilities", "non-empty"],
    [{ url: "https://m.example.com", dialTimeout: "3 seconds" }, "dialTimeout", "Go duration"],
    [{ url: "https://m.example.com", headers: { "Bad Header": "x" } }, "headers", "header name"],
    [{ url: "https://m.example.com", pullFromMirror: "sometimes" }, "pullFromMirror", "digest-only"],
    [{ url: "https://m.example.com", insecure: "yes" }, "insecure", "true or false"],
    [{ url: "https://m.example.com", mirror: "typo" }, "mirror", "unknown field"],
  ])("refuses endpoint %j naming %s", (endpoint, field, fix) => {
    const err = errorOf(() => normalisePolicy({ registries: { "ghcr.io": { mirrors: [endpoint] } } }));
    expect(err.field).toContain(`policy.registries["ghcr.io"].mirrors[0]`);
    expect(err.message).toContain(field);
    expect(err.message).toContain(fix);
  });

  it("hides header values in errors", () => {
    const err = errorOf(() =>
      normalisePolicy({
        registries: {
          "ghcr.io": { mirrors: [{ url: "https://m.example.com", headers: { Authorization: "Bearer s3cret\n" } }] },
        },
      }),
    );
    expect(err.message).not.toContain("s3cret");
  });

  it.each([
    [{}, "registries"],
    [{ registries: [] }, "registries"],
    [{ registries: {}, extra: 1 }, "unknown field"],
    [{ registries: { "docker.io": { mirrors: "https://a.example.com" } } }, "list of mirror URLs"],
    [{ registries: { "docker.io": { mirrors: [], upstreamFallback: false } } }, "nothing to pull from"],
  ])("refuses policy %j", (input, message) => {
    expect(errorOf(() => normalisePolicy(input)).message).toContain(message);
  });

  it("is deterministic and idempotent over random policies", () => {
    const host = fc.constantFrom("a.example.com", "b.example.com", "10.0.0.5:5000", "mirror.local", "Mirror.Local");
    const endpoint = fc.record({
      url: fc.tuple(fc.constantFrom("http", "https"), host).map(([s, h]) => `${s}://${h}`),
      insecure: fc.boolean(),
      overridePath: fc.boolean(),
      capabilities: fc.subarray(["pull", "resolve", "push"] as const, { minLength: 1 }).map((a) => [...a]),
    });
    const registry = fc.constantFrom("docker.io", "ghcr.io", "quay.io", "registry.k8s.io", "*", "harbor.local:8443");
    const policy = fc.dictionary(
      registry,
      fc.record({ mirrors: fc.array(endpoint, { minLength: 1, maxLength: 4 }), upstreamFallback: fc.boolean() }),
    );
    fc.assert(
      fc.property(policy, (registries) => {
        const once = normalisePolicy({ registries });
        const again = normalisePolicy({ registries });
        expect(JSON.stringify(again)).toBe(JSON.stringify(once));
        // Feeding the normalised policy back in changes nothing.
        const back = Object.fromEntries(
          once.policy.registries.map((r) => [
            r.registry,
            {
              mirrors: r.endpoints.map(({ scheme: _s, host: _h, path: _p, ...rest }) => rest),
              upstreamFallback: r.upstreamFallback,
            },
          ]),
        );
        expect(normalisePolicy({ registries: back }).policy).toEqual(once.policy);
        const names = once.policy.registries.map((r) => r.registry);
        expect(new Set(names).size).toBe(names.length);
        if (names.includes("*")) expect(names[names.length - 1]).toBe("*");
      }),
    );
  });
});

describe('endpoint auth "ecr"', () => {
  const ECR = "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/v2/docker-hub";
  const withAuth = (endpoint: Record<string, unknown>) => ({
    allowMirrorPaths: true,
    registries: { "docker.io": { mirrors: [endpoint] } },
  });

  it("is kept on ECR registry hosts, commercial and China partitions, and absent when not set", () => {
    const { policy } = normalisePolicy(withAuth({ url: ECR, overridePath: true, auth: "ecr" }));
    expect(policy.registries[0].endpoints[0]).toMatchObject({ url: ECR, auth: "ecr", overridePath: true });
    const cn = normalisePolicy(
      withAuth({
        url: "https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/v2/docker-hub",
        overridePath: true,
        auth: "ecr",
      }),
    );
    expect(cn.policy.registries[0].endpoints[0].auth).toBe("ecr");
    expect(
      "auth" in normalisePolicy(withAuth({ url: ECR, overridePath: true })).policy.registries[0].endpoints[0],
    ).toBe(false);
    expect(ecrRegistryRegion("123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn")).toBe("cn-northwest-1");
    expect(ecrRegistryRegion("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com")).toBe("us-gov-west-1");
    expect(ecrRegistryRegion("public.ecr.aws")).toBeUndefined();
  });

  it.each([
    [{ url: ECR, auth: "iam" }, "mirrors[0].auth", '"iam"', "unknown mirror auth", 'use "ecr"'],
    [{ url: ECR, auth: true }, "mirrors[0].auth", "true", "unknown mirror auth", "leave auth out"],
    [
      { url: "https://mirror.example.com", auth: "ecr" },
      "mirrors[0].auth",
      '"https://mirror.example.com"',
      "needs an ECR registry URL",
      "remove auth for a mirror that is not ECR",
    ],
    [
      { url: "http://123456789012.dkr.ecr.us-west-2.amazonaws.com", auth: "ecr" },
      "mirrors[0].auth",
      "http://123456789012",
      "needs an ECR registry URL",
      "account's ECR registry host",
    ],
    [
      { url: "https://123456789012.dkr.ecr.us-west-2.amazonaws.com:8443", auth: "ecr" },
      "mirrors[0].auth",
      ":8443",
      "without a port",
      "account's ECR registry host",
    ],
    [
      { url: "https://12345.dkr.ecr.us-west-2.amazonaws.com", auth: "ecr" },
      "mirrors[0].auth",
      "12345.dkr",
      "needs an ECR registry URL",
      "account's ECR registry host",
    ],
    [
      { url: "https://public.ecr.aws", auth: "ecr" },
      "mirrors[0].auth",
      "public.ecr.aws",
      "needs an ECR registry URL",
      "remove auth",
    ],
    [
      { url: ECR, auth: "ecr", headers: { "X-Trace": "1" } },
      "mirrors[0].headers",
      "X-Trace",
      "written by the node's token refresher",
      "remove headers from this mirror",
    ],
  ])("refuses %j naming the field, the value and the fix", (endpoint, field, value, problem, fix) => {
    const err = errorOf(() => normalisePolicy(withAuth(endpoint)));
    expect(err.field).toBe(`policy.registries["docker.io"].${field}`);
    expect(err.message).toContain(value);
    expect(err.message).toContain(problem);
    expect(err.message).toContain(`Fix: `);
    expect(err.message).toContain(fix);
  });
});
