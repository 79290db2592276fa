/**
 * The seed article's mistakes through the components, under Pulumi mocks: dead public mirrors and an Alibaba Cloud
 * Container Registry host as a Docker Hub mirror refused by MirrorDaemonConfig and RegionalMirrorSelector at
 * construction; a public insecure-registries range refused by the selector unless overridden.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { PolicyError } from "../../components/core/errors";
import { MirrorDaemonConfig } from "../../components/mirror-daemon-config";
import { RegionalMirrorSelector } from "../../components/regional-mirror-selector";
import { setupMocks, unwrap } from "./mocks";

function refusal(make: () => unknown): PolicyError {
  try {
    make();
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error("expected a PolicyError at construction, nothing was thrown");
}

describe("the article's mistakes, through the components", () => {
  beforeAll(async () => {
    await setupMocks({}, false);
  });

  it("MirrorDaemonConfig({ mirrors }) refuses registry.docker-cn.com and reg-mirror.qiniu.com", () => {
    for (const [host, what] of [
      ["registry.docker-cn.com", "was shut down in 2019"],
      ["reg-mirror.qiniu.com", "was shut down in 2020"],
    ]) {
      const err = refusal(() => new MirrorDaemonConfig(`dead-${host}`, { mirrors: [`https://${host}`] }));
      expect(err.field).toBe('policy.registries["docker.io"].mirrors[0]');
      expect(err.value).toBe(`https://${host}`);
      expect(err.message).toContain(what);
      expect(err.fix).toContain("allowDeprecatedMirrors: true");
    }
  });

  it("MirrorDaemonConfig refuses an ACR registry host as the Docker Hub mirror (the article's §3.2 script)", () => {
    const err = refusal(
      () =>
        new MirrorDaemonConfig("acr", {
          policy: { registries: { "docker.io": { mirrors: ["https://registry-vpc.cn-hangzhou.aliyuncs.com"] } } },
        }),
    );
    expect(err.field).toBe('policy.registries["docker.io"].mirrors[0]');
    expect(err.message).toContain("not a Docker Hub accelerator");
    expect(err.fix).toContain("https://<id>.mirror.aliyuncs.com");
  });

  it("MirrorDaemonConfig keeps a dead mirror under policy.allowDeprecatedMirrors", async () => {
    const kept = new MirrorDaemonConfig("kept", {
      mirrors: ["https://hub-mirror.c.163.com"],
      policy: { registries: {}, allowDeprecatedMirrors: true },
    });
    expect(await unwrap(kept.applyScript)).toContain("hub-mirror.c.163.com");
    expect((await unwrap(kept.warnings)).join("\n")).toContain("kept because policy.allowDeprecatedMirrors is set");
  });

  it("a selector that kept a dead mirror hands MirrorDaemonConfig a policy it accepts", async () => {
    const selector = new RegionalMirrorSelector("kept-selector", {
      cloud: "alicloud",
      region: "cn-beijing",
      alicloudAcceleratorId: "a1b2c3d4",
      fallbacks: { "docker.io": ["https://registry.docker-cn.com"] },
      allowDeprecatedMirrors: true,
    });
    const nodes = new MirrorDaemonConfig("kept-nodes", { policy: selector.policy });
    const script = await unwrap(nodes.applyScript);
    expect(script).toContain("https://a1b2c3d4.mirror.aliyuncs.com");
    expect(script).toContain("registry.docker-cn.com");
  });

  it("RegionalMirrorSelector refuses a dead mirror and an ACR host among its fallbacks", () => {
    const dead = refusal(
      () =>
        new RegionalMirrorSelector("dead", {
          cloud: "aws",
          region: "cn-north-1",
          fallbacks: { "docker.io": ["https://reg-mirror.qiniu.com"] },
        }),
    );
    expect(dead.field).toBe('fallbacks["docker.io"][0]');
    expect(dead.message).toContain("was shut down in 2020");
    const acr = refusal(
      () =>
        new RegionalMirrorSelector("acr", {
          cloud: "alicloud",
          region: "cn-hangzhou",
          fallbacks: { "docker.io": ["https://registry.cn-hangzhou.aliyuncs.com"] },
        }),
    );
    expect(acr.field).toBe('fallbacks["docker.io"][0]');
    expect(acr.fix).toContain("https://<id>.mirror.aliyuncs.com");
  });

  it("RegionalMirrorSelector refuses a public insecure range unless allowPublicInsecureRegistries", async () => {
    const userCatalog = { regions: { "*": { insecureRegistries: ["0.0.0.0/0"] } } };
    const err = refusal(() => new RegionalMirrorSelector("open", { cloud: "aws", region: "us-east-1", userCatalog }));
    expect(err.field).toBe('userCatalog.regions["*"].insecureRegistries[0]');
    expect(err.message).toContain("public address space");
    expect(err.fix).toContain("allowPublicInsecureRegistries: true");
    const kept = new RegionalMirrorSelector("open-ok", {
      cloud: "aws",
      region: "us-east-1",
      userCatalog,
      allowPublicInsecureRegistries: true,
    });
    expect(await unwrap(kept.insecureRegistries)).toEqual(["0.0.0.0/0"]);
    expect((await unwrap(kept.warnings)).join("\n")).toContain("kept because allowPublicInsecureRegistries is set");
  });

  it("an override given as an Output leaves private ranges alone", async () => {
    const later = new RegionalMirrorSelector("open-later", {
      cloud: "aws",
      region: "us-east-1",
      userCatalog: { regions: { "*": { insecureRegistries: ["10.0.0.0/8"] } } },
      allowPublicInsecureRegistries: pulumi.output(false),
    });
    expect(await unwrap(later.insecureRegistries)).toEqual(["10.0.0.0/8"]);
  });
});
