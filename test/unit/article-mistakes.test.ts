/**
 * The seed article's own mistakes — dead public mirrors, an Alibaba Cloud Container Registry host as a Docker Hub
 * mirror, insecure-registries over public space — refused in the policy core and at every entry point built on it
 * (the render pipeline, the CLI's render/validate with --mirror or --policy FILE, the selector).
 */
import * as fc from "fast-check";
import { mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../cli/main";
import { checkInsecureRange, isAcrRegistryHost, isPublicRange, normalisePolicy } from "../../components/core/policy";
import { DEAD_MIRRORS } from "../../components/core/regions/dead-mirrors";
import { selectMirrors } from "../../components/core/regions/select";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { errorOf, expectPolicyError } from "./policy-error";

const hub = (mirrors: unknown[], extra: Record<string, unknown> = {}) => ({
  registries: { "docker.io": { mirrors } },
  ...extra,
});

function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("dead public mirrors, refused by the policy core", () => {
  it.each(DEAD_MIRRORS.map((d) => [d.host, d.what]))("refuses %s: it %s", (host, what) => {
    const err = expectPolicyError(
      () => normalisePolicy(hub(["https://mirror.gcr.io", `https://${host}`])),
      'policy.registries["docker.io"].mirrors[1]',
      `https://${host}`,
      "policy.allowDeprecatedMirrors: true",
    );
    expect(err.message).toContain(`the public mirror ${host} ${what}`);
  });

  it("includes the article's registry.docker-cn.com and reg-mirror.qiniu.com", () => {
    const hosts = DEAD_MIRRORS.map((d) => d.host);
    expect(hosts).toContain("registry.docker-cn.com");
    expect(hosts).toContain("reg-mirror.qiniu.com");
  });

  it("refuses them for any registry, as an endpoint object too, whatever the case or port", () => {
    expectPolicyError(
      () => normalisePolicy({ registries: { "*": { mirrors: [{ url: "https://Registry.Docker-CN.com:443" }] } } }),
      'policy.registries["*"].mirrors[0]',
      "registry.docker-cn.com",
      "allowDeprecatedMirrors",
    );
  });

  it("keeps one with allowDeprecatedMirrors, with a warning", () => {
    const { policy, warnings } = normalisePolicy(
      hub(["https://reg-mirror.qiniu.com"], { allowDeprecatedMirrors: true }),
    );
    expect(policy.registries[0].endpoints.map((e) => e.url)).toEqual(["https://reg-mirror.qiniu.com"]);
    expect(warnings).toEqual([
      expect.stringContaining(
        'policy.registries["docker.io"].mirrors[0]: https://reg-mirror.qiniu.com was shut down in 2020; kept because policy.allowDeprecatedMirrors is set',
      ),
    ]);
  });

  it("refuses a non-boolean allowDeprecatedMirrors", () => {
    expectPolicyError(
      () => normalisePolicy(hub(["https://mirror.gcr.io"], { allowDeprecatedMirrors: "yes" })),
      "policy.allowDeprecatedMirrors",
      "yes",
      "true or false",
    );
  });

  it("reaches the render pipeline's mirrors shortcut (what MirrorDaemonConfig({ mirrors }) renders)", () => {
    expectPolicyError(
      () => renderNodeConfig({ mirrors: ["https://registry.docker-cn.com"] }),
      'policy.registries["docker.io"].mirrors[0]',
      "https://registry.docker-cn.com",
      "allowDeprecatedMirrors",
    );
    const kept = renderNodeConfig({
      mirrors: ["https://registry.docker-cn.com"],
      policy: { registries: {}, allowDeprecatedMirrors: true },
    });
    expect(kept.warnings.join("\n")).toContain("was shut down in 2019; kept because");
  });

  it("a selection that kept a dead mirror renders: the override travels with its policy", () => {
    const selection = selectMirrors({
      cloud: "aws",
      region: "cn-north-1",
      fallbacks: { "docker.io": ["https://registry.docker-cn.com"] },
      allowDeprecatedMirrors: true,
    });
    expect(selection.policy.allowDeprecatedMirrors).toBe(true);
    expect(() => normalisePolicy(selection.policy)).not.toThrow();
    expect(() =>
      selectMirrors({
        cloud: "aws",
        region: "cn-north-1",
        fallbacks: { "docker.io": ["https://registry.docker-cn.com"] },
      }),
    ).toThrow(/was shut down in 2019/);
  });
});

describe("an Alibaba Cloud Container Registry host as a Docker Hub mirror", () => {
  const acrHosts = [
    "registry.cn-hangzhou.aliyuncs.com",
    "registry-vpc.cn-hangzhou.aliyuncs.com",
    "registry-intl.ap-southeast-1.aliyuncs.com",
    "registry-intl-vpc.ap-southeast-1.aliyuncs.com",
    "myinstance-registry.cn-hangzhou.cr.aliyuncs.com",
    "myinstance-registry-vpc.cn-shanghai.cr.aliyuncs.com",
  ];

  it.each(acrHosts)("refuses %s for docker.io with the explanation and the accelerator", (host) => {
    const err = expectPolicyError(
      () => normalisePolicy(hub([`https://${host}`])),
      'policy.registries["docker.io"].mirrors[0]',
      `https://${host}`,
      "https://<id>.mirror.aliyuncs.com",
    );
    expect(err.message).toContain("is an Alibaba Cloud Container Registry host, not a Docker Hub accelerator");
  });

  it('refuses one under "*" when "*" covers Docker Hub, and accepts it when Docker Hub has its own entry', () => {
    const star = { "*": { mirrors: ["https://registry.cn-beijing.aliyuncs.com"] } };
    expectPolicyError(
      () => normalisePolicy({ registries: star }),
      'policy.registries["*"].mirrors[0]',
      "registry.cn-beijing.aliyuncs.com",
      "https://<id>.mirror.aliyuncs.com",
    );
    expect(() =>
      normalisePolicy({ registries: { ...star, "docker.io": { mirrors: ["https://abc.mirror.aliyuncs.com"] } } }),
    ).not.toThrow();
  });

  it("accepts the accelerator, and an ACR host mirroring another registry", () => {
    expect(() => normalisePolicy(hub(["https://a1b2c3d4.mirror.aliyuncs.com"]))).not.toThrow();
    expect(() =>
      normalisePolicy({ registries: { "ghcr.io": { mirrors: ["https://registry.cn-hangzhou.aliyuncs.com"] } } }),
    ).not.toThrow();
    expect(isAcrRegistryHost("a1b2c3d4.mirror.aliyuncs.com")).toBe(false);
    expect(isAcrRegistryHost("registry.cn-hangzhou.aliyuncs.com.example.org")).toBe(false);
  });

  it("is refused in the selector's fallbacks too", () => {
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "alicloud",
          region: "cn-hangzhou",
          fallbacks: { "docker.io": ["https://registry-vpc.cn-hangzhou.aliyuncs.com"] },
        }),
      'fallbacks["docker.io"][0]',
      "registry-vpc.cn-hangzhou.aliyuncs.com",
      "https://<id>.mirror.aliyuncs.com",
    );
  });
});

describe("insecure-registries over public address space", () => {
  it.each([
    "0.0.0.0/0",
    "::/0",
    "8.8.8.0/24",
    "100.64.0.0/10",
    "172.0.0.0/8",
    "192.0.0.0/2",
    "2001:db8::/32",
    "::ffff:0.0.0.0/96",
  ])("%s is public", (cidr) => {
    expect(isPublicRange(cidr)).toBe(true);
    expectPolicyError(
      () => checkInsecureRange("docker.insecureRegistries[0]", cidr),
      "docker.insecureRegistries[0]",
      cidr,
      "allowPublicInsecureRegistries: true",
    );
  });

  it.each([
    "10.0.0.0/8",
    "10.20.0.0/16",
    "172.16.0.0/12",
    "172.31.255.0/24",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "fd00::/8",
    "fe80::/10",
    "::1/128",
    "::ffff:10.0.0.0/104",
  ])("%s is private, loopback or link-local", (cidr) => {
    expect(isPublicRange(cidr)).toBe(false);
    expect(checkInsecureRange("f", cidr)).toBeUndefined();
  });

  it("any block inside 10.0.0.0/8 passes; any block wider than /8 is public", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 24 - 1 }), fc.integer({ min: 8, max: 32 }), (low, bits) => {
        const ip = `10.${(low >> 16) & 255}.${(low >> 8) & 255}.${low & 255}`;
        return !isPublicRange(`${ip}/${bits}`);
      }),
    );
    fc.assert(fc.property(fc.ipV4(), fc.integer({ min: 0, max: 7 }), (ip, bits) => isPublicRange(`${ip}/${bits}`)));
  });

  it("host entries name one registry and are not ranges", () => {
    expect(checkInsecureRange("f", "registry.example.com:5000")).toBeUndefined();
    expect(checkInsecureRange("f", "8.8.8.8:5000")).toBeUndefined();
  });

  it("the override keeps a public range with a warning", () => {
    expect(checkInsecureRange("f", "0.0.0.0/0", { allowPublic: true })).toContain(
      "kept because allowPublicInsecureRegistries is set",
    );
  });

  it("the selector refuses a public range from the user catalog unless allowPublicInsecureRegistries", () => {
    const input = {
      cloud: "aws" as const,
      region: "us-west-2",
      userCatalog: { regions: { "*": { insecureRegistries: ["0.0.0.0/0"] } } },
    };
    expectPolicyError(
      () => selectMirrors(input),
      'userCatalog.regions["*"].insecureRegistries[0]',
      "0.0.0.0/0",
      "allowPublicInsecureRegistries: true",
    );
    const kept = selectMirrors({ ...input, allowPublicInsecureRegistries: true });
    expect(kept.insecureRegistries).toEqual(["0.0.0.0/0"]);
    expect(kept.warnings.join("\n")).toContain("kept because allowPublicInsecureRegistries is set");
  });
});

describe("the CLI refuses them in render and validate", () => {
  const tmp = () => mkdtempSync(join(tmpdir(), "rm-article-"));

  it.each([
    ["render", "https://registry.docker-cn.com", "was shut down in 2019"],
    ["validate", "https://reg-mirror.qiniu.com", "was shut down in 2020"],
    ["render", "https://registry.cn-hangzhou.aliyuncs.com", "not a Docker Hub accelerator"],
    ["validate", "https://registry-vpc.cn-shanghai.aliyuncs.com", "not a Docker Hub accelerator"],
  ])("%s --mirror %s", (command, url, problem) => {
    const out = tmp();
    const result = cli([command, "--mirror", url, "--out", out]);
    expect(result.code).toBe(1);
    expect(result.err).toContain(`policy.registries["docker.io"].mirrors[0]: `);
    expect(result.err).toContain(problem);
    expect(result.err).toContain(`(got "${url}")`);
    expect(result.err).toContain("Fix: ");
    expect(existsSync(join(out, "apply-node-config.sh"))).toBe(false);
  });

  it("--policy FILE with a dead mirror, and --allow-deprecated-mirrors keeping it", () => {
    const dir = tmp();
    const file = join(dir, "policy.yaml");
    writeFileSync(file, 'policy:\n  registries:\n    "*":\n      mirrors: ["https://hub-mirror.c.163.com"]\n');
    const refused = cli(["render", "--policy", file, "--out", join(dir, "a")]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('policy.registries["*"].mirrors[0]: the public mirror hub-mirror.c.163.com');
    const kept = cli(["render", "--policy", file, "--allow-deprecated-mirrors", "--out", join(dir, "b")]);
    expect(kept.code).toBe(0);
    expect(kept.err).toContain("kept because policy.allowDeprecatedMirrors is set");
    expect(existsSync(join(dir, "b", "apply-node-config.sh"))).toBe(true);
  });

  it("--insecure-registry 0.0.0.0/0, from a flag or the policy file, unless --allow-public-insecure-registries", () => {
    const dir = tmp();
    const flag = cli(["validate", "--mirror", "https://mirror.gcr.io", "--insecure-registry", "0.0.0.0/0"]);
    expect(flag.code).toBe(1);
    expect(flag.err).toContain("--insecure-registry: the range covers public address space");
    expect(flag.err).toContain('(got "0.0.0.0/0")');
    expect(flag.err).toContain("pass --allow-public-insecure-registries only if you mean it");
    const file = join(dir, "policy.json");
    writeFileSync(
      file,
      JSON.stringify({ mirrors: ["https://mirror.gcr.io"], docker: { insecureRegistries: ["::/0"] } }),
    );
    const fromFile = cli(["validate", "--policy", file]);
    expect(fromFile.code).toBe(1);
    expect(fromFile.err).toContain("--policy docker.insecureRegistries[0]: the range covers public address space");
    const kept = cli(["validate", "--policy", file, "--allow-public-insecure-registries"]);
    expect(kept.code).toBe(0);
    expect(kept.err).toContain("kept because --allow-public-insecure-registries is set");
    expect(errorOf(() => checkInsecureRange("x", "0.0.0.0/0")).field).toBe("x");
  });
});
