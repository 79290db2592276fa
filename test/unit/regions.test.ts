import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PolicyError } from "../../components/core/errors";
import { normalisePolicy } from "../../components/core/policy";
import {
  acceleratorUrl,
  acrEndpoints,
  ALICLOUD_REGIONS,
  alicloudRegion,
  AWS_REGIONS,
  awsRegion,
  checkDeadMirror,
  DEAD_MIRRORS,
  defaultEcrPullThrough,
  ECR_UPSTREAMS,
  ecrHost,
  ecrPullThroughUrl,
  findDeadMirror,
  formatRegions,
  knownRegionIds,
  levenshtein,
  listRegions,
  matchingEntries,
  nearestNames,
  regionKeyMatches,
  type RegionSelectionInput,
  selectMirrors,
  validateAcceleratorId,
  validateAwsAccountId,
  validateEcrPrefix,
  validateSelectionFields,
  validateUserCatalog,
} from "../../components/core/regions";

const GOLDEN = join(__dirname, "golden", "regions");
const ACCOUNT = "123456789012";

/** Asserts `fn` throws a PolicyError naming `field`, whose message contains every fragment. */
function expectPolicyError(fn: () => unknown, field: string, ...fragments: string[]): PolicyError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(PolicyError);
  const err = caught as PolicyError;
  expect(err.field).toBe(field);
  expect(err.message.startsWith(`${field}: `)).toBe(true);
  expect(err.message).toContain("Fix: ");
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

describe("AWS catalog", () => {
  it("covers the three partitions with their DNS suffixes", () => {
    const byPartition = (p: string) => AWS_REGIONS.filter((r) => r.partition === p).map((r) => r.id);
    expect(byPartition("aws-cn")).toEqual(["cn-north-1", "cn-northwest-1"]);
    expect(byPartition("aws-us-gov")).toEqual(["us-gov-east-1", "us-gov-west-1"]);
    expect(byPartition("aws")).toHaveLength(34);
    expect(byPartition("aws")).toEqual(
      expect.arrayContaining([
        "us-east-1",
        "us-west-2",
        "eu-central-1",
        "ap-southeast-7",
        "mx-central-1",
        "ca-west-1",
        "il-central-1",
      ]),
    );
    expect(new Set(AWS_REGIONS.map((r) => r.id)).size).toBe(AWS_REGIONS.length);
  });

  it.each([
    ["us-west-2", "123456789012.dkr.ecr.us-west-2.amazonaws.com"],
    ["cn-north-1", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"],
    ["cn-northwest-1", "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn"],
    ["us-gov-west-1", "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com"],
    ["eu-west-1", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"],
  ])("derives the ECR host of %s", (id, host) => {
    const region = awsRegion(id)!;
    expect(ecrHost(ACCOUNT, region)).toBe(host);
    expect(ecrPullThroughUrl(ACCOUNT, region, "docker-hub")).toBe(`https://${host}/v2/docker-hub`);
  });

  it.each([
    ["us-west-2", "aws"],
    ["cn-north-1", "aws-cn"],
    ["us-gov-east-1", "aws-us-gov"],
  ])(
    "selects an ECR endpoint in %s (partition %s) with override_path and the node-side ECR token",
    (region, partition) => {
      const s = selectMirrors({
        cloud: "aws",
        region,
        awsAccountId: ACCOUNT,
        ecrPullThrough: { "docker.io": "docker-hub" },
      });
      expect(s.partition).toBe(partition);
      const suffix = partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
      expect(s.policy.registries["docker.io"].mirrors).toEqual([
        { url: `https://${ACCOUNT}.dkr.ecr.${region}.${suffix}/v2/docker-hub`, overridePath: true, auth: "ecr" },
      ]);
      expect(s.policy.allowMirrorPaths).toBe(true);
      expect(normalisePolicy(s.policy).policy.registries[0].endpoints[0]).toMatchObject({
        overridePath: true,
        path: "/v2/docker-hub",
        auth: "ecr",
      });
      expect(s.reasons[0]).toContain("which the node fetches with its instance role");
    },
  );

  it("suggests the usual rule prefixes for the registries ECR can cache", () => {
    expect(
      defaultEcrPullThrough([
        "docker.io",
        "gcr.io",
        "ghcr.io",
        "quay.io",
        "registry.k8s.io",
        "public.ecr.aws",
        "registry.gitlab.com",
      ]),
    ).toEqual({
      "docker.io": "docker-hub",
      "ghcr.io": "github",
      "quay.io": "quay",
      "registry.k8s.io": "k8s",
      "public.ecr.aws": "ecr-public",
      "registry.gitlab.com": "gitlab",
    });
    for (const u of ECR_UPSTREAMS) expect(validateEcrPrefix("p", u.defaultPrefix)).toBe(u.defaultPrefix);
  });

  it("account ids must be 12 digits", () => {
    expect(validateAwsAccountId("awsAccountId", "012345678901")).toBe("012345678901");
    for (const bad of ["12345678901", "1234567890123", "12345678901a", 123456789012]) {
      expectPolicyError(() => validateAwsAccountId("awsAccountId", bad), "awsAccountId", "12 digits");
    }
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "aws",
          region: "us-west-2",
          awsAccountId: "1234",
          ecrPullThrough: { "docker.io": "docker-hub" },
        }),
      "awsAccountId",
      "exactly 12 digits",
      '"1234"',
    );
  });

  it("rule prefixes must fit ECR's limits", () => {
    expect(validateEcrPrefix("p", "ab")).toBe("ab");
    expect(validateEcrPrefix("p", "team/docker-hub")).toBe("team/docker-hub");
    expect(validateEcrPrefix("p", "a".repeat(30))).toBe("a".repeat(30));
    expectPolicyError(() => validateEcrPrefix("p", "a"), "p", "2 to 30 characters");
    expectPolicyError(() => validateEcrPrefix("p", "a".repeat(31)), "p", "2 to 30 characters");
    for (const bad of ["Docker-Hub", "docker_", "-hub", "docker hub", "hub//x", "hub!"]) {
      expectPolicyError(() => validateEcrPrefix("p", bad), "p", "lower-case letters");
    }
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "aws",
          region: "us-west-2",
          awsAccountId: ACCOUNT,
          ecrPullThrough: { "docker.io": "X" },
        }),
      'ecrPullThrough["docker.io"]',
      "2 to 30",
    );
  });

  it("refuses rules for registries ECR cannot cache, shared prefixes, and rules without an account", () => {
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "aws",
          region: "us-west-2",
          awsAccountId: ACCOUNT,
          ecrPullThrough: { "gcr.io": "gcr" },
        }),
      'ecrPullThrough["gcr.io"]',
      "cannot cache",
      "quay.io",
    );
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "aws",
          region: "us-west-2",
          awsAccountId: ACCOUNT,
          ecrPullThrough: { "docker.io": "cache", "quay.io": "cache" },
        }),
      'ecrPullThrough["quay.io"]',
      "already used for docker.io",
    );
    expectPolicyError(
      () => selectMirrors({ cloud: "aws", region: "us-west-2", ecrPullThrough: { "docker.io": "docker-hub" } }),
      "awsAccountId",
      "no account id",
    );
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "alicloud",
          region: "cn-hangzhou",
          awsAccountId: ACCOUNT,
          ecrPullThrough: { "docker.io": "docker-hub" },
        }),
      "ecrPullThrough",
      "only on AWS",
    );
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "aws",
          region: "us-west-2",
          awsAccountId: ACCOUNT,
          registries: ["docker.io"],
          ecrPullThrough: { "quay.io": "quay" },
        }),
      'ecrPullThrough["quay.io"]',
      "not in registries",
    );
  });

  it("uses ECR's public endpoint tier for nodes on the public network, after the user's private mirrors on vpc", () => {
    const base: RegionSelectionInput = {
      cloud: "aws",
      region: "eu-west-1",
      awsAccountId: ACCOUNT,
      ecrPullThrough: { "docker.io": "docker-hub" },
      userCatalog: {
        regions: {
          "eu-west-1": { network: "public", registries: { "docker.io": ["https://proxy.example.com"] } },
          "eu-*": { network: "vpc", registries: { "docker.io": ["http://10.1.2.3:5000"] } },
        },
      },
    };
    const ecr = `https://${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/v2/docker-hub`;
    const vpc = selectMirrors(base).policy.registries["docker.io"].mirrors.map((m) =>
      typeof m === "string" ? m : m.url,
    );
    expect(vpc).toEqual(["http://10.1.2.3:5000", ecr, "https://proxy.example.com"]);
    const pub = selectMirrors({ ...base, network: "public" });
    expect(pub.policy.registries["docker.io"].mirrors.map((m) => (typeof m === "string" ? m : m.url))).toEqual([
      "https://proxy.example.com",
      ecr,
    ]);
    expect(pub.reasons.join("\n")).toContain('skipped the mirrors of userCatalog["eu-*"] (network "vpc")');
    expect(pub.reasons.join("\n")).toContain("ECR's public endpoint");
  });
});

describe("Alibaba Cloud catalog", () => {
  it("lists the public-cloud regions once each, with closed ones marked", () => {
    expect(new Set(ALICLOUD_REGIONS.map((r) => r.id)).size).toBe(ALICLOUD_REGIONS.length);
    expect(ALICLOUD_REGIONS.filter((r) => r.status === "closed").map((r) => r.id)).toEqual([
      "ap-south-1",
      "ap-southeast-2",
    ]);
    expect(ALICLOUD_REGIONS.map((r) => r.id)).toEqual(
      expect.arrayContaining([
        "cn-hangzhou",
        "cn-beijing",
        "cn-shanghai",
        "cn-shenzhen",
        "cn-hongkong",
        "ap-southeast-1",
        "us-west-1",
        "eu-central-1",
        "me-east-1",
      ]),
    );
  });

  it.each(["cn-hangzhou", "cn-beijing", "cn-shenzhen", "cn-hongkong", "ap-southeast-1", "eu-central-1", "us-east-1"])(
    "derives the ACR endpoints of %s",
    (id) => {
      const region = alicloudRegion(id)!;
      expect(acrEndpoints(region)).toEqual({
        publicHost: `registry.${id}.aliyuncs.com`,
        vpcHost: `registry-vpc.${id}.aliyuncs.com`,
      });
      const s = selectMirrors({ cloud: "alicloud", region: id, registries: [`registry.${id}.aliyuncs.com`] });
      expect(s.policy.registries[`registry.${id}.aliyuncs.com`].mirrors).toEqual([
        `https://registry-vpc.${id}.aliyuncs.com`,
      ]);
      expect(
        selectMirrors({ cloud: "alicloud", region: id, network: "public", registries: [`registry.${id}.aliyuncs.com`] })
          .policy.registries,
      ).toEqual({});
    },
  );

  it("uses the account's Docker Hub accelerator", () => {
    expect(acceleratorUrl("abc123")).toBe("https://abc123.mirror.aliyuncs.com");
    const s = selectMirrors({ cloud: "alicloud", region: "cn-shanghai", alicloudAcceleratorId: "abc123" });
    expect(s.policy).toEqual({ registries: { "docker.io": { mirrors: ["https://abc123.mirror.aliyuncs.com"] } } });
    expect(s.reasons[0]).toBe(
      "docker.io #1 https://abc123.mirror.aliyuncs.com: Docker Hub accelerator of the Alibaba Cloud account (id abc123)",
    );
  });

  it("accelerator ids are one lower-case DNS label", () => {
    expect(validateAcceleratorId("a", "x1-y2")).toBe("x1-y2");
    for (const bad of ["ABC123", "abc_123", "abc.def", "-abc", "abc-", "", "a".repeat(64), 42]) {
      expectPolicyError(
        () => validateAcceleratorId("alicloudAcceleratorId", bad),
        "alicloudAcceleratorId",
        "DNS label",
        "Image Accelerator",
      );
    }
    expectPolicyError(
      () => selectMirrors({ cloud: "alicloud", region: "cn-hangzhou", alicloudAcceleratorId: "my_id" }),
      "alicloudAcceleratorId",
      '"my_id"',
    );
    expectPolicyError(
      () => selectMirrors({ cloud: "aws", region: "us-west-2", alicloudAcceleratorId: "abc" }),
      "alicloudAcceleratorId",
      'applies to cloud "alicloud"',
      "https://abc.mirror.aliyuncs.com",
    );
  });

  it("refuses a region Alibaba Cloud closed", () => {
    expectPolicyError(
      () => selectMirrors({ cloud: "alicloud", region: "ap-southeast-2" }),
      "region",
      "closed the Australia (Sydney) region",
    );
  });

  it("refuses an ACR registry host used as a Docker Hub mirror (the seed article's cn-north-1 line)", () => {
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "aws",
          region: "cn-north-1",
          userCatalog: {
            regions: { "cn-north-1": { registries: { "docker.io": ["https://registry.cn-north-1.aliyuncs.com"] } } },
          },
        }),
      'userCatalog.regions["cn-north-1"].registries["docker.io"][0]',
      "https://registry.cn-north-1.aliyuncs.com",
      "https://<id>.mirror.aliyuncs.com",
    );
  });
});

describe("region lookup", () => {
  it("refuses an unknown cloud", () => {
    expectPolicyError(
      () => selectMirrors({ cloud: "gcp" as never, region: "us-west1" }),
      "cloud",
      "unknown cloud",
      "alicloud, aws",
      '"gcp"',
    );
    expectPolicyError(() => validateSelectionFields({ cloud: undefined as never }), "cloud", "unknown cloud");
  });

  it("refuses an unknown region and lists the nearest names", () => {
    const err = expectPolicyError(
      () => selectMirrors({ cloud: "aws", region: "us-west-3" }),
      "region",
      "not a known aws region",
      "registry-mirrors regions --cloud aws",
    );
    expect(err.message).toMatch(/did you mean "us-west-[12]", "us-west-[12]"/);
    expectPolicyError(
      () => selectMirrors({ cloud: "alicloud", region: "cn-hangzou" }),
      "region",
      'did you mean "cn-hangzhou"',
    );
    // A region of the other cloud is not a region of this one.
    expectPolicyError(() => selectMirrors({ cloud: "aws", region: "cn-hangzhou" }), "region", "not a known aws region");
    expectPolicyError(() => selectMirrors({ cloud: "aws" } as RegionSelectionInput), "region", "a region is required");
  });

  it("ranks names by edit distance", () => {
    expect(levenshtein("kitten", "sitting")).toBe(3);
    expect(levenshtein("", "abc")).toBe(3);
    expect(nearestNames("eu-wst-1", knownRegionIds("aws"))[0]).toBe("eu-west-1");
    expect(nearestNames("CN-BEIJING", knownRegionIds("alicloud"))[0]).toBe("cn-beijing");
  });

  it("matches region patterns on whole ids", () => {
    expect(regionKeyMatches("cn-*", "cn-north-1")).toBe(true);
    expect(regionKeyMatches("cn-*", "us-west-2")).toBe(false);
    expect(regionKeyMatches("us-*-2", "us-west-2")).toBe(true);
    expect(regionKeyMatches("us-*-2", "us-west-1")).toBe(false);
    expect(regionKeyMatches("*", "anything")).toBe(true);
    expect(regionKeyMatches("us-west-2", "us-west-2")).toBe(true);
    expect(regionKeyMatches("us-.*", "us-west-2")).toBe(false);
  });
});

describe("user catalog", () => {
  it("applies every matching entry, most specific first, and unions insecure registries", () => {
    const entries = validateUserCatalog({
      regions: {
        "*": { registries: { "docker.io": ["https://global.example.com"] }, insecureRegistries: ["10.0.0.0/8"] },
        "cn-*": {
          registries: { "docker.io": ["https://cn.example.com"] },
          insecureRegistries: ["172.16.5.0/24", "10.0.0.0/8"],
        },
        "cn-north-1": { registries: { "docker.io": ["https://bj.example.com"] } },
        "cn-north-*": { registries: { "docker.io": ["https://north.example.com"] } },
      },
    });
    expect(matchingEntries(entries, "cn-north-1").map((e) => e.key)).toEqual(["cn-north-1", "cn-north-*", "cn-*", "*"]);
    const s = selectMirrors({
      cloud: "aws",
      region: "cn-north-1",
      userCatalog: {
        regions: Object.fromEntries(
          entries.map((e) => [
            e.key,
            {
              registries: { "docker.io": e.registries.get("docker.io")!.map((m) => m.url) },
              insecureRegistries: e.insecureRegistries,
            },
          ]),
        ),
      },
    });
    expect(s.policy.registries["docker.io"].mirrors).toEqual([
      "https://bj.example.com",
      "https://north.example.com",
      "https://cn.example.com",
      "https://global.example.com",
    ]);
    expect(s.insecureRegistries).toEqual(["10.0.0.0/8", "172.16.5.0/24"]);
  });

  it("normalises registry keys (Docker Hub aliases) and keeps endpoint objects as given", () => {
    const endpoint = { url: "https://harbor.internal/v2/dockerhub", overridePath: true, caFile: "/etc/pki/harbor.pem" };
    const s = selectMirrors({
      cloud: "aws",
      region: "us-east-1",
      allowMirrorPaths: true,
      userCatalog: { regions: { "us-east-1": { network: "vpc", registries: { "index.docker.io": [endpoint] } } } },
    });
    expect(s.policy.registries["docker.io"].mirrors).toEqual([endpoint]);
    expect(normalisePolicy(s.policy).warnings).toEqual([]);
  });

  it("refuses a region pattern that matches nothing, and a region key that is not a region", () => {
    expectPolicyError(
      () => validateUserCatalog({ regions: { "xx-*": {} } }),
      'userCatalog.regions["xx-*"]',
      "matches no known region",
    );
    expectPolicyError(
      () => validateUserCatalog({ regions: { "us-west-9": {} } }),
      'userCatalog.regions["us-west-9"]',
      "not a known region",
      "did you mean",
    );
    expectPolicyError(
      () => validateUserCatalog({ regions: { "US-WEST-2": {} } }),
      'userCatalog.regions["US-WEST-2"]',
      "lower-case",
    );
    // A pattern matching only the other cloud's regions is fine: one catalog can serve both clouds.
    expect(validateUserCatalog({ regions: { "cn-hang*": {} } })).toHaveLength(1);
  });

  it("refuses an entry whose mirror fails URL validation", () => {
    const bad = (mirror: unknown) =>
      selectMirrors({
        cloud: "aws",
        region: "us-west-2",
        userCatalog: { regions: { "us-west-2": { registries: { "docker.io": [mirror as string] } } } },
      });
    expectPolicyError(
      () => bad("mirror.example.com"),
      'userCatalog.regions["us-west-2"].registries["docker.io"][0]',
      "no scheme",
      "https://mirror.example.com",
    );
    expectPolicyError(
      () => bad("https://user:pw@mirror.example.com"),
      'userCatalog.regions["us-west-2"].registries["docker.io"][0]',
      "credentials",
    );
    expectPolicyError(
      () => bad("https://mirror.example.com/prefix"),
      'userCatalog.regions["us-west-2"].registries["docker.io"][0]',
      "allowMirrorPaths",
    );
    expectPolicyError(
      () => bad({ url: "https://m.example.com", bogus: 1 }),
      'userCatalog.regions["us-west-2"].registries["docker.io"][0].bogus',
      "unknown field",
    );
  });

  it("refuses malformed entries with the field and fix", () => {
    expectPolicyError(() => validateUserCatalog([]), "userCatalog", "regions map");
    expectPolicyError(
      () => validateUserCatalog({ regions: { "us-west-2": { network: "private" } } }),
      'userCatalog.regions["us-west-2"].network',
      "unknown network",
      '"vpc"',
    );
    expectPolicyError(
      () => validateUserCatalog({ regions: { "us-west-2": { insecureRegistries: ["10.0.0.0/33"] } } }),
      'userCatalog.regions["us-west-2"].insecureRegistries[0]',
      "CIDR",
    );
    expectPolicyError(
      () => validateUserCatalog({ regions: { "us-west-2": { mirrors: [] } } }),
      'userCatalog.regions["us-west-2"].mirrors',
      "unknown field",
    );
    expectPolicyError(
      () => validateUserCatalog({ regions: { "us-west-2": { registries: { "docker.io": "https://m.example.com" } } } }),
      'userCatalog.regions["us-west-2"].registries["docker.io"]',
      "list of mirrors",
    );
    expectPolicyError(() => validateUserCatalog({ regions: [] }), "userCatalog.regions", "map from region id");
    expectPolicyError(
      () => validateUserCatalog({ regions: { "us-west-2": ["https://m.example.com"] } }),
      'userCatalog.regions["us-west-2"]',
      "object with registries",
    );
    expectPolicyError(
      () => validateUserCatalog({ regions: { "us-west-2": { registries: ["https://m.example.com"] } } }),
      'userCatalog.regions["us-west-2"].registries',
      "map from registry host",
    );
    expectPolicyError(
      () => validateUserCatalog({ regions: { "us-west-2": { insecureRegistries: "10.0.0.0/8" } } }),
      'userCatalog.regions["us-west-2"].insecureRegistries',
      "must be a list",
    );
  });
});

describe("dead mirrors", () => {
  it.each(DEAD_MIRRORS.map((d) => [d.host, d.what]))(
    "refuses %s saying it %s, with the region's alternative",
    (host, what) => {
      const run = (allowDeprecatedMirrors?: boolean) =>
        selectMirrors({
          cloud: "alicloud",
          region: "cn-hangzhou",
          alicloudAcceleratorId: "abc123",
          allowDeprecatedMirrors,
          userCatalog: { regions: { "cn-*": { registries: { "docker.io": [`https://${host}`] } } } },
        });
      expectPolicyError(
        () => run(),
        'userCatalog.regions["cn-*"].registries["docker.io"][0]',
        what,
        "https://abc123.mirror.aliyuncs.com",
      );
      const kept = run(true);
      expect(kept.policy.registries["docker.io"].mirrors).toEqual([
        `https://${host}`,
        "https://abc123.mirror.aliyuncs.com",
      ]);
      expect(kept.warnings.join("\n")).toContain(`${what}; kept because allowDeprecatedMirrors is set`);
      expect(kept.reasons[0]).toContain("DEPRECATED");
    },
  );

  it("suggests the ECR pull-through cache on AWS, and checks fallbacks too", () => {
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "aws",
          region: "cn-northwest-1",
          awsAccountId: ACCOUNT,
          ecrPullThrough: { "docker.io": "docker-hub" },
          fallbacks: { "docker.io": ["https://registry.docker-cn.com"] },
        }),
      'fallbacks["docker.io"][0]',
      "was shut down in 2019",
      `https://${ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn/v2/docker-hub`,
    );
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "aws",
          region: "us-east-1",
          fallbacks: { "docker.io": ["https://hub-mirror.c.163.com"] },
        }),
      'fallbacks["docker.io"][0]',
      "incomplete blobs",
      "ACCOUNT.dkr.ecr.us-east-1.amazonaws.com",
    );
  });

  it("matches hosts whatever the scheme, port, case or path", () => {
    expect(findDeadMirror("https://Registry.Docker-CN.com/")?.host).toBe("registry.docker-cn.com");
    expect(findDeadMirror("http://reg-mirror.qiniu.com:443/x")?.host).toBe("reg-mirror.qiniu.com");
    expect(findDeadMirror("mirror.baidubce.com")?.host).toBe("mirror.baidubce.com");
    expect(findDeadMirror("https://mirror.gcr.io")).toBeUndefined();
    expect(findDeadMirror("https://not-registry.docker-cn.com.example.org")).toBeUndefined();
    expect(checkDeadMirror("f", "https://mirror.gcr.io")).toBeUndefined();
    expectPolicyError(
      () => checkDeadMirror("f", "https://dockerhub.azk8s.cn"),
      "f",
      "Azure China",
      "pull-through cache",
    );
  });
});

describe("selection", () => {
  const seed = JSON.parse(readFileSync(join(GOLDEN, "seed-inputs.json"), "utf8"));

  it.each(Object.keys(seed.cases))("matches the golden selection for the seed's %s", (name) => {
    const selection = selectMirrors({ ...seed.cases[name], userCatalog: seed.userCatalog });
    expect(`${JSON.stringify(selection, null, 2)}\n`).toBe(readFileSync(join(GOLDEN, `${name}.json`), "utf8"));
    // The policy goes into normalisePolicy (and so MirrorDaemonConfig) unchanged, without warnings.
    const { warnings } = normalisePolicy(selection.policy);
    expect(warnings).toEqual([]);
    // One reason per endpoint, plus one line per registry for what comes after the mirrors.
    const endpoints = Object.values(selection.policy.registries).reduce((n, r) => n + r.mirrors.length, 0);
    expect(selection.reasons.filter((r) => / #\d+ /.test(r))).toHaveLength(endpoints);
  });

  it("orders private, regional public, fallbacks, then the upstream", () => {
    const s = selectMirrors({
      cloud: "alicloud",
      region: "cn-beijing",
      alicloudAcceleratorId: "abc123",
      fallbacks: { "docker.io": ["https://mirror.gcr.io"] },
      userCatalog: {
        regions: {
          "cn-beijing": { registries: { "docker.io": ["https://proxy.bj.example.com"] } },
          "cn-*": { network: "vpc", registries: { "docker.io": ["http://10.0.0.5:5000"] } },
        },
      },
    });
    expect(s.policy.registries["docker.io"].mirrors).toEqual([
      "http://10.0.0.5:5000",
      "https://proxy.bj.example.com",
      "https://abc123.mirror.aliyuncs.com",
      "https://mirror.gcr.io",
    ]);
    expect(s.reasons).toEqual([
      'docker.io #1 http://10.0.0.5:5000: in-region private mirror from userCatalog["cn-*"]',
      'docker.io #2 https://proxy.bj.example.com: regional mirror from userCatalog["cn-beijing"]',
      "docker.io #3 https://abc123.mirror.aliyuncs.com: Docker Hub accelerator of the Alibaba Cloud account (id abc123)",
      "docker.io #4 https://mirror.gcr.io: global fallback from fallbacks",
      "docker.io: then the upstream docker.io when every mirror failed",
    ]);
  });

  it("disables the upstream when asked, and refuses a registry left with nothing to pull from", () => {
    const s = selectMirrors({
      cloud: "alicloud",
      region: "cn-beijing",
      alicloudAcceleratorId: "abc123",
      upstreamFallback: false,
    });
    expect(s.policy.registries["docker.io"]).toEqual({
      mirrors: ["https://abc123.mirror.aliyuncs.com"],
      upstreamFallback: false,
    });
    expect(s.reasons.at(-1)).toBe("docker.io: the upstream is never contacted (upstreamFallback is false)");
    expectPolicyError(
      () => selectMirrors({ cloud: "aws", region: "us-west-2", upstreamFallback: false }),
      "upstreamFallback",
      "no mirror in aws us-west-2",
      "ecrPullThrough",
    );
  });

  it("says so when a region has no mirror for a registry", () => {
    const s = selectMirrors({ cloud: "aws", region: "us-east-1", registries: ["docker.io", "ghcr.io"] });
    expect(s.policy).toEqual({ registries: {} });
    expect(s.reasons).toEqual([
      "docker.io: no mirror known in aws us-east-1, so pulls go straight to the upstream (give ecrPullThrough a rule for docker.io with awsAccountId, or a userCatalog entry)",
      "ghcr.io: no mirror known in aws us-east-1, so pulls go straight to the upstream (give ecrPullThrough a rule for ghcr.io with awsAccountId, or a userCatalog entry)",
    ]);
  });

  it("drops a duplicate mirror with a warning and ignores fallbacks for registries not mirrored", () => {
    const s = selectMirrors({
      cloud: "aws",
      region: "us-east-1",
      registries: ["docker.io"],
      fallbacks: {
        "docker.io": ["https://m.example.com", "https://M.example.com/"],
        "quay.io": ["https://q.example.com"],
      },
    });
    expect(s.policy.registries["docker.io"].mirrors).toEqual(["https://m.example.com"]);
    expect(s.warnings).toEqual([
      'fallbacks["quay.io"]: ignored, because "quay.io" is not in registries',
      "docker.io: https://m.example.com (global fallback from fallbacks) is listed earlier already; the later copy is dropped",
    ]);
  });

  it("refuses malformed fields with the field and fix", () => {
    expectPolicyError(
      () => selectMirrors({ cloud: "aws", region: "us-west-2", network: "private" as never }),
      "network",
      "unknown network",
    );
    expectPolicyError(
      () => selectMirrors({ cloud: "aws", region: "us-west-2", registries: [] }),
      "registries",
      "non-empty",
    );
    expectPolicyError(
      () => selectMirrors({ cloud: "aws", region: "us-west-2", registries: ["https://ghcr.io"] }),
      "registries[0]",
      "not a URL",
    );
    expectPolicyError(
      () => selectMirrors({ cloud: "aws", region: "us-west-2", upstreamFallback: "no" as never }),
      "upstreamFallback",
      "true or false",
    );
    expectPolicyError(
      () => selectMirrors({ cloud: "aws", region: "us-west-2", regoin: "x" } as never),
      "regoin",
      "unknown field",
    );
    expectPolicyError(
      () => selectMirrors({ cloud: "aws", region: "us-west-2", fallbacks: ["https://m.example.com"] as never }),
      "fallbacks",
      "map from registry",
    );
    expectPolicyError(
      () =>
        selectMirrors({
          cloud: "aws",
          region: "us-west-2",
          awsAccountId: ACCOUNT,
          ecrPullThrough: "docker-hub" as never,
        }),
      "ecrPullThrough",
      "map from upstream registry",
    );
    expectPolicyError(() => selectMirrors("us-west-2" as never), "selection", "cloud and region");
  });

  it("is deterministic and its policy always normalises (property)", () => {
    const regionArb = fc.oneof(
      fc.constantFrom(...AWS_REGIONS.map((r) => r.id)).map((region) => ({ cloud: "aws" as const, region })),
      fc
        .constantFrom(...ALICLOUD_REGIONS.filter((r) => r.status === "open").map((r) => r.id))
        .map((region) => ({ cloud: "alicloud" as const, region })),
    );
    const mirrorArb = fc.constantFrom(
      "https://a.example.com",
      "https://b.example.com:8443",
      "http://10.0.0.5:5000",
      "https://c.example.com",
    );
    const catalogArb = fc.dictionary(
      fc.constantFrom("*", "cn-*", "us-*", "us-west-2", "cn-hangzhou", "eu-*"),
      fc.record({
        network: fc.constantFrom<"vpc" | "public">("vpc", "public"),
        registries: fc.dictionary(
          fc.constantFrom("docker.io", "ghcr.io", "quay.io"),
          fc.array(mirrorArb, { maxLength: 3 }),
        ),
      }),
      { maxKeys: 4 },
    );
    fc.assert(
      fc.property(
        regionArb,
        catalogArb,
        fc.constantFrom<"vpc" | "public">("vpc", "public"),
        fc.boolean(),
        (where, regions, network, ecr) => {
          const input: RegionSelectionInput = {
            ...where,
            network,
            registries: ["docker.io", "ghcr.io", "quay.io"],
            userCatalog: { regions },
            ...(where.cloud === "aws" && ecr
              ? { awsAccountId: ACCOUNT, ecrPullThrough: { "docker.io": "docker-hub", "quay.io": "quay" } }
              : {}),
            ...(where.cloud === "alicloud" && ecr ? { alicloudAcceleratorId: "abc123" } : {}),
          };
          const a = selectMirrors(input);
          const b = selectMirrors(JSON.parse(JSON.stringify(input)));
          expect(JSON.stringify(a)).toBe(JSON.stringify(b));
          normalisePolicy(a.policy);
          for (const [registry, entry] of Object.entries(a.policy.registries)) {
            const urls = entry.mirrors.map((m) => (typeof m === "string" ? m : m.url));
            expect(new Set(urls).size).toBe(urls.length);
            const matching = Object.entries(regions).filter(([key]) => regionKeyMatches(key, where.region));
            const listed = (kind: string) =>
              new Set(matching.filter(([, e]) => e.network === kind).flatMap(([, e]) => e.registries[registry] ?? []));
            const vpcOnly = [...listed("vpc")].filter((u) => !listed("public").has(u));
            const publicOnly = [...listed("public")].filter((u) => !listed("vpc").has(u));
            if (network === "public") {
              // Mirrors reachable only inside the VPC are never chosen for nodes outside it.
              for (const u of vpcOnly) expect(urls).not.toContain(u);
            } else {
              // Private mirrors come before every regional public one.
              const lastPrivate = Math.max(-1, ...vpcOnly.map((u) => urls.indexOf(u)));
              const firstPublic = Math.min(urls.length, ...publicOnly.map((u) => urls.indexOf(u)));
              expect(lastPrivate).toBeLessThan(firstPublic);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("region list for the CLI", () => {
  it("lists every region of a cloud with its derived endpoints", () => {
    const text = formatRegions("aws");
    expect(text.split("\n")[0]).toBe(`aws: ${AWS_REGIONS.length} regions`);
    for (const r of AWS_REGIONS) expect(text).toContain(`  ${r.id} `);
    expect(text).toMatch(
      /cn-north-1 +China \(Beijing\) +aws-cn +https:\/\/ACCOUNT\.dkr\.ecr\.cn-north-1\.amazonaws\.com\.cn\/v2\/PREFIX/,
    );
    expect(text).not.toContain("alicloud:");
  });

  it("lists both clouds by default, closed Alibaba regions without endpoints", () => {
    const text = formatRegions();
    expect(text).toContain(`alicloud: ${ALICLOUD_REGIONS.length} regions`);
    expect(text).toContain(`aws: ${AWS_REGIONS.length} regions`);
    expect(text).toMatch(
      /cn-hangzhou +China \(Hangzhou\) +https:\/\/registry\.cn-hangzhou\.aliyuncs\.com {2}https:\/\/registry-vpc\.cn-hangzhou\.aliyuncs\.com \(VPC\)/,
    );
    expect(text).toMatch(/ap-southeast-2 +Australia \(Sydney\) +closed\n/);
    expect(listRegions().length).toBe(AWS_REGIONS.length + ALICLOUD_REGIONS.length);
    expectPolicyError(() => listRegions("azure" as never), "cloud", "unknown cloud");
  });
});
