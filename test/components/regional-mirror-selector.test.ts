import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PolicyError } from "../../components/core/errors";
import { normalisePolicy } from "../../components/core/policy";
import { RegionalMirrorSelector } from "../../components/regional-mirror-selector";
import { type MockHandle, registered, setupMocks, unwrap } from "./mocks";

const ACCOUNT = "123456789012";
const callResults = {
  "aws:index/getRegion:getRegion": () => ({
    region: "us-west-2",
    name: "us-west-2",
    id: "us-west-2",
    description: "US West (Oregon)",
    endpoint: "ec2.us-west-2.amazonaws.com",
  }),
  "aws:index/getCallerIdentity:getCallerIdentity": () => ({
    accountId: "210987654321",
    arn: "arn:aws:iam::210987654321:root",
    id: "210987654321",
    userId: "x",
  }),
  "alicloud:index/getRegions:getRegions": () => ({
    current: true,
    id: "x",
    ids: ["cn-hangzhou"],
    name: "cn-hangzhou",
    regions: [{ id: "cn-hangzhou", localName: "华东 1", regionId: "cn-hangzhou" }],
  }),
};

/** Expects the constructor to throw a PolicyError naming `field`. */
function expectRefused(make: () => unknown, field: string, fragment: string): void {
  let caught: unknown;
  try {
    make();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(PolicyError);
  expect((caught as PolicyError).field).toBe(field);
  expect((caught as PolicyError).message).toContain(fragment);
  expect((caught as PolicyError).message).toContain("Fix: ");
}

/** A loopback server answering `/v2/` after `delayMs`; counts requests. */
async function registryStub(delayMs: number): Promise<{ url: string; hits: () => number; server: Server }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    setTimeout(() => res.writeHead(200).end("{}"), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits, server };
}

async function deadPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  await new Promise((r) => s.close(r));
  return url;
}

describe("RegionalMirrorSelector (deployment)", () => {
  let mocks: MockHandle;
  const servers: Server[] = [];
  beforeAll(async () => {
    mocks = await setupMocks(callResults, false);
  });
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  it("takes the region from the aws provider (getRegion call) and outputs an ordered, valid policy", async () => {
    mocks.reset();
    const sel = new RegionalMirrorSelector("aws-default", {
      cloud: "aws",
      awsAccountId: ACCOUNT,
      ecrPullThrough: { "docker.io": "docker-hub" },
      userCatalog: {
        regions: {
          "us-west-2": { registries: { "docker.io": ["https://us-west-2.proxy.registry.com"] } },
          "*": { insecureRegistries: ["10.0.0.0/8"] },
        },
      },
    });
    expect(await unwrap(sel.region)).toBe("us-west-2");
    expect(mocks.calls.map((c) => c.token)).toEqual(["aws:index/getRegion:getRegion"]);
    const policy = await unwrap(sel.policy);
    expect(policy.registries["docker.io"].mirrors).toEqual([
      { url: `https://${ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/v2/docker-hub`, overridePath: true, auth: "ecr" },
      "https://us-west-2.proxy.registry.com",
    ]);
    expect(normalisePolicy(policy).warnings).toEqual([]);
    expect(await unwrap(sel.insecureRegistries)).toEqual(["10.0.0.0/8"]);
    const reasons = await unwrap(sel.reasons);
    expect(reasons[0]).toMatch(
      /^docker\.io #1 https:\/\/123456789012\.dkr\.ecr\.us-west-2\.amazonaws\.com\/v2\/docker-hub: ECR pull-through cache rule "docker-hub"/,
    );
    expect(reasons[1]).toBe(
      'docker.io #2 https://us-west-2.proxy.registry.com: regional mirror from userCatalog["us-west-2"]',
    );
    expect(await unwrap(sel.probeResults)).toEqual([]);
    await registered(sel);
    expect(mocks.ofType("registry-mirrors:index:RegionalMirrorSelector").map((r) => r.name)).toEqual(["aws-default"]);
  });

  it("takes the region from the alicloud provider (getRegions current)", async () => {
    mocks.reset();
    const sel = new RegionalMirrorSelector("ali-default", { cloud: "alicloud", alicloudAcceleratorId: "abc123" });
    expect(await unwrap(sel.region)).toBe("cn-hangzhou");
    expect(mocks.calls).toEqual([{ token: "alicloud:index/getRegions:getRegions", args: { current: true } }]);
    expect(await unwrap(sel.policy)).toEqual({
      registries: { "docker.io": { mirrors: ["https://abc123.mirror.aliyuncs.com"] } },
    });
  });

  it("uses an explicit region without asking the provider, and the provider's account for ECR", async () => {
    mocks.reset();
    const sel = new RegionalMirrorSelector("explicit", {
      cloud: "aws",
      region: pulumi.output("cn-north-1"),
      ecrPullThrough: { "quay.io": "quay" },
      registries: ["quay.io"],
    });
    expect(await unwrap(sel.region)).toBe("cn-north-1");
    expect(await unwrap(sel.policy)).toEqual({
      registries: {
        "quay.io": {
          mirrors: [
            {
              url: "https://210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/v2/quay",
              overridePath: true,
              auth: "ecr",
            },
          ],
        },
      },
      allowMirrorPaths: true,
    });
    expect(mocks.calls.map((c) => c.token)).toEqual(["aws:index/getCallerIdentity:getCallerIdentity"]);
  });

  it("refuses known bad inputs in the constructor, before any apply", () => {
    expectRefused(
      () => new RegionalMirrorSelector("bad-cloud", { cloud: "gcp" as never, region: "us-west1" }),
      "cloud",
      "unknown cloud",
    );
    expectRefused(
      () => new RegionalMirrorSelector("bad-region", { cloud: "aws", region: "us-wset-2" }),
      "region",
      'did you mean "us-west-2"',
    );
    expectRefused(
      () => new RegionalMirrorSelector("bad-account", { cloud: "aws", awsAccountId: "12345" }),
      "awsAccountId",
      "12 digits",
    );
    expectRefused(
      () =>
        new RegionalMirrorSelector("bad-prefix", {
          cloud: "aws",
          awsAccountId: ACCOUNT,
          ecrPullThrough: { "docker.io": "D" },
        }),
      'ecrPullThrough["docker.io"]',
      "2 to 30",
    );
    expectRefused(
      () => new RegionalMirrorSelector("bad-accel", { cloud: "alicloud", alicloudAcceleratorId: "ab.cd" }),
      "alicloudAcceleratorId",
      "DNS label",
    );
    expectRefused(
      () => new RegionalMirrorSelector("bad-catalog", { cloud: "aws", userCatalog: { regions: { "zz-*": {} } } }),
      'userCatalog.regions["zz-*"]',
      "matches no known region",
    );
    expectRefused(
      () =>
        new RegionalMirrorSelector("bad-url", { cloud: "aws", fallbacks: { "docker.io": ["ftp://m.example.com"] } }),
      'fallbacks["docker.io"][0]',
      'scheme "ftp"',
    );
    // The region comes from the provider later, but a dead mirror is refused now, with the cloud's alternative.
    expectRefused(
      () =>
        new RegionalMirrorSelector("dead", {
          cloud: "alicloud",
          userCatalog: { regions: { "cn-*": { registries: { "docker.io": ["https://registry.docker-cn.com"] } } } },
        }),
      'userCatalog.regions["cn-*"].registries["docker.io"][0]',
      "shut down in 2019",
    );
  });

  it("keeps a dead mirror with allowDeprecatedMirrors, as a warning output", async () => {
    const sel = new RegionalMirrorSelector("dead-ok", {
      cloud: "alicloud",
      region: "cn-beijing",
      allowDeprecatedMirrors: true,
      fallbacks: { "docker.io": ["https://hub-mirror.c.163.com"] },
    });
    expect((await unwrap(sel.policy)).registries["docker.io"].mirrors).toEqual(["https://hub-mirror.c.163.com"]);
    expect((await unwrap(sel.warnings)).join("\n")).toContain(
      "incomplete blobs; kept because allowDeprecatedMirrors is set",
    );
  });

  it("probes when asked: the dead mirror dropped, the policy order kept, results as an output", async () => {
    const fast = await registryStub(0);
    const slow = await registryStub(300);
    servers.push(fast.server, slow.server);
    const dead = await deadPort();
    const userCatalog = { regions: { "eu-west-1": { registries: { "docker.io": [slow.url, dead, fast.url] } } } };
    const sel = new RegionalMirrorSelector("probed", {
      cloud: "aws",
      region: "eu-west-1",
      userCatalog,
      probe: { enabled: true, timeoutMs: 2000 },
    });
    const results = await unwrap(sel.probeResults);
    expect(results.map((r) => [r.url, r.ok])).toEqual([
      [fast.url, true],
      [slow.url, true],
      [dead, false],
    ]);
    expect((await unwrap(sel.policy)).registries["docker.io"].mirrors).toEqual([slow.url, fast.url]);
    expect((await unwrap(sel.reasons)).join("\n")).toContain(`docker.io: ${dead} dropped (connection refused)`);

    const byLatency = new RegionalMirrorSelector("probed-latency", {
      cloud: "aws",
      region: "eu-west-1",
      userCatalog,
      probe: { enabled: true, timeoutMs: 2000, order: "latency" },
    });
    expect((await unwrap(byLatency.policy)).registries["docker.io"].mirrors).toEqual([fast.url, slow.url]);
  });

  it("refuses a bad probe order at construction", () => {
    expectRefused(
      () =>
        new RegionalMirrorSelector("bad-order", {
          cloud: "aws",
          region: "eu-west-1",
          probe: { enabled: true, order: "fastest" as never },
        }),
      "probe.order",
      "unknown order",
    );
  });
});

describe("RegionalMirrorSelector (preview)", () => {
  let stub: Awaited<ReturnType<typeof registryStub>>;
  beforeAll(async () => {
    await setupMocks(callResults, true);
    stub = await registryStub(0);
  });
  afterAll(async () => {
    await new Promise((r) => stub.server.close(r));
  });

  it("does not probe during preview unless asked", async () => {
    const catalog = { regions: { "eu-west-1": { registries: { "docker.io": [stub.url] } } } };
    const quiet = new RegionalMirrorSelector("preview-quiet", {
      cloud: "aws",
      region: "eu-west-1",
      userCatalog: catalog,
      probe: { enabled: true },
    });
    expect(await unwrap(quiet.probeResults)).toEqual([]);
    expect((await unwrap(quiet.policy)).registries["docker.io"].mirrors).toEqual([stub.url]);
    expect(stub.hits()).toBe(0);
    const asked = new RegionalMirrorSelector("preview-asked", {
      cloud: "aws",
      region: "eu-west-1",
      userCatalog: catalog,
      probe: { enabled: true, duringPreview: true },
    });
    expect((await unwrap(asked.probeResults)).map((r) => r.ok)).toEqual([true]);
    expect(stub.hits()).toBe(1);
  });
});
