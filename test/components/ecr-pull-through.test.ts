import * as pulumi from "@pulumi/pulumi";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createEcrPullThroughCache, validateEcrPullThroughCacheArgs } from "../../components/aws/ecr-pull-through";
import { PolicyError } from "../../components/core/errors";
import { RegionalMirrorSelector } from "../../components/regional-mirror-selector";
import { isSecretInput, plain, type RecordedResource, unwrap } from "./mocks";

const RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule";
const SECRET = "aws:secretsmanager/secret:Secret";
const VERSION = "aws:secretsmanager/secretVersion:SecretVersion";

// Own mocks (not setupMocks): the rule's credentialArn comes from the secret's `arn` output, which the engine
// computes; this mock fills it in the way AWS would, so the test can check the rule points at its secret.
const resources: RecordedResource[] = [];
const calls: string[] = [];

function settle(): Promise<void> {
  return new Promise((resolve) => {
    let turns = 0;
    const tick = () => (++turns >= 30 ? resolve() : setImmediate(tick));
    tick();
  });
}

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
}

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        resources.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? false });
        const state = { ...args.inputs };
        if (args.type === SECRET)
          state.arn = `arn:aws:secretsmanager:us-west-2:210987654321:secret:${plain(args.inputs.name)}-AbCdEf`;
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        calls.push(args.token);
        if (args.token === "aws:index/getCallerIdentity:getCallerIdentity")
          return { accountId: "210987654321", arn: "arn", id: "210987654321", userId: "u" };
        if (args.token === "aws:index/getRegion:getRegion") return { region: "us-west-2", name: "us-west-2" };
        throw new Error(`no call mock for ${args.token}`);
      },
    },
    "project",
    "stack",
    false,
  );
});

beforeEach(() => {
  resources.length = 0;
  calls.length = 0;
});

describe("createEcrPullThroughCache", () => {
  it("creates a rule per upstream and a secret (a Pulumi secret) for the credentialed ones", async () => {
    const created = createEcrPullThroughCache("ptc", {
      rules: { "docker.io": "docker-hub", "quay.io": "quay", "ghcr.io": "github", "registry.k8s.io": "k8s" },
      credentials: {
        "docker.io": { username: "octo", accessToken: "dckr_pat_plain" },
        "ghcr.io": {
          username: pulumi.output("octo"),
          accessToken: pulumi.secret("ghp_secret"),
          secretName: "ecr-pullthroughcache/shared/github",
        },
      },
      region: "eu-central-1",
    });
    await unwrap(created.rules["registry.k8s.io"].urn);
    await unwrap(created.rules["docker.io"].urn);
    await settle();
    const rules = resources.filter((r) => r.type === RULE);
    expect(
      rules.map((r) => [r.name, r.inputs.ecrRepositoryPrefix, r.inputs.upstreamRegistryUrl, r.inputs.region]),
    ).toEqual(
      expect.arrayContaining([
        ["ptc-docker-hub", "docker-hub", "registry-1.docker.io", "eu-central-1"],
        ["ptc-github", "github", "ghcr.io", "eu-central-1"],
        ["ptc-quay", "quay", "quay.io", "eu-central-1"],
        ["ptc-k8s", "k8s", "registry.k8s.io", "eu-central-1"],
      ]),
    );
    expect(rules).toHaveLength(4);
    const byPrefix = Object.fromEntries(rules.map((r) => [r.inputs.ecrRepositoryPrefix, r]));
    expect(plain(byPrefix["docker-hub"].inputs.credentialArn)).toBe(
      "arn:aws:secretsmanager:us-west-2:210987654321:secret:ecr-pullthroughcache/stack/docker-hub-AbCdEf",
    );
    expect(plain(byPrefix.github.inputs.credentialArn)).toBe(
      "arn:aws:secretsmanager:us-west-2:210987654321:secret:ecr-pullthroughcache/shared/github-AbCdEf",
    );
    expect(byPrefix.quay.inputs.credentialArn).toBeUndefined();
    expect(byPrefix.k8s.inputs.credentialArn).toBeUndefined();

    const secrets = resources.filter((r) => r.type === SECRET);
    // ECR requires the ecr-pullthroughcache/ prefix; the default name carries the stack, a given one is kept.
    expect(secrets.map((s) => s.inputs.name).sort()).toEqual([
      "ecr-pullthroughcache/shared/github",
      "ecr-pullthroughcache/stack/docker-hub",
    ]);
    const versions = resources.filter((r) => r.type === VERSION);
    expect(versions).toHaveLength(2);
    for (const v of versions) {
      // Secret even when the token was given as a plain string.
      expect(isSecretInput(v.inputs.secretString)).toBe(true);
    }
    const values = versions
      .map((v) => JSON.parse(plain(v.inputs.secretString)))
      .sort((a, b) => a.accessToken.localeCompare(b.accessToken));
    expect(values).toEqual([
      { accessToken: "dckr_pat_plain", username: "octo" },
      { accessToken: "ghp_secret", username: "octo" },
    ]);
  });

  it("uses an existing secret ARN instead of creating one", async () => {
    const created = createEcrPullThroughCache("arn", {
      rules: { "registry.gitlab.com": "gitlab" },
      credentialArns: { "registry.gitlab.com": "arn:aws:secretsmanager:us-east-1:1:secret:ecr-pullthroughcache/gl" },
    });
    await unwrap(created.rules["registry.gitlab.com"].urn);
    await settle();
    expect(resources.filter((r) => r.type === SECRET)).toEqual([]);
    expect(resources.find((r) => r.type === RULE)?.inputs.credentialArn).toBe(
      "arn:aws:secretsmanager:us-east-1:1:secret:ecr-pullthroughcache/gl",
    );
  });

  it("refuses rules ECR would refuse, with the field and fix", () => {
    expectRefused(() => validateEcrPullThroughCacheArgs({ rules: {} }), "rules", "no pull-through cache rule");
    expectRefused(
      () => validateEcrPullThroughCacheArgs({ rules: pulumi.output({ "quay.io": "quay" }) as never }),
      "rules",
      "known when the program runs",
    );
    expectRefused(
      () => validateEcrPullThroughCacheArgs({ rules: { "gcr.io": "gcr" } }),
      'rules["gcr.io"]',
      "cannot cache",
    );
    expectRefused(() => validateEcrPullThroughCacheArgs({ rules: { "quay.io": "Q" } }), 'rules["quay.io"]', "2 to 30");
    expectRefused(
      () => validateEcrPullThroughCacheArgs({ rules: { "quay.io": "same", "registry.k8s.io": "same" } }),
      'rules["registry.k8s.io"]',
      "already used for quay.io",
    );
    expectRefused(
      () => validateEcrPullThroughCacheArgs({ rules: { "docker.io": "docker-hub" } }),
      'credentials["docker.io"]',
      "needs credentials to cache Docker Hub",
    );
    expectRefused(
      () =>
        validateEcrPullThroughCacheArgs({
          rules: { "quay.io": "quay" },
          credentials: { "quay.io": { username: "u", accessToken: "t" } },
        }),
      'credentials["quay.io"]',
      "needs no credentials",
    );
    expectRefused(
      () => validateEcrPullThroughCacheArgs({ rules: { "quay.io": "quay" }, credentialArns: { "ghcr.io": "arn" } }),
      'credentials["ghcr.io"]',
      "without a rule",
    );
    expectRefused(
      () =>
        validateEcrPullThroughCacheArgs({
          rules: { "ghcr.io": "github" },
          credentials: { "ghcr.io": { username: "u", accessToken: "t" } },
          credentialArns: { "ghcr.io": "arn" },
        }),
      'credentialArns["ghcr.io"]',
      "both",
    );
    expectRefused(
      () =>
        validateEcrPullThroughCacheArgs({
          rules: { "ghcr.io": "github" },
          credentials: { "ghcr.io": { username: "u", accessToken: "t", secretName: "github-credential" } },
        }),
      'credentials["ghcr.io"].secretName',
      "ecr-pullthroughcache/",
    );
  });
});

describe("RegionalMirrorSelector with createPullThroughCache", () => {
  it("creates the rules as its children and feeds their endpoints into the policy", async () => {
    const sel = new RegionalMirrorSelector("fleet", {
      cloud: "aws",
      registries: ["docker.io", "quay.io", "registry.k8s.io"],
      createPullThroughCache: true,
      pullThroughCredentials: { "docker.io": { username: "octo", accessToken: pulumi.secret("dckr_pat") } },
    });
    const policy = await unwrap(sel.policy);
    await Promise.all(sel.pullThroughCacheResources.map((r) => unwrap(r.urn)));
    await settle();
    const base = "https://210987654321.dkr.ecr.us-west-2.amazonaws.com/v2";
    expect(policy.registries).toEqual({
      // Default prefixes carry the stack: a prefix is unique in an account and region.
      "docker.io": { mirrors: [{ url: `${base}/docker-hub-stack`, overridePath: true, auth: "ecr" }] },
      "quay.io": { mirrors: [{ url: `${base}/quay-stack`, overridePath: true, auth: "ecr" }] },
      "registry.k8s.io": { mirrors: [{ url: `${base}/k8s-stack`, overridePath: true, auth: "ecr" }] },
    });
    expect(calls.sort()).toEqual(["aws:index/getCallerIdentity:getCallerIdentity", "aws:index/getRegion:getRegion"]);
    const rules = resources.filter((r) => r.type === RULE);
    expect(rules.map((r) => r.name).sort()).toEqual(["fleet-docker-hub-stack", "fleet-k8s-stack", "fleet-quay-stack"]);
    // Children of the component (parented), so `pulumi preview` shows them under it.
    expect(sel.pullThroughCacheResources).toHaveLength(4);
    const version = resources.find((r) => r.type === VERSION)!;
    expect(isSecretInput(version.inputs.secretString)).toBe(true);
    expect(resources.find((r) => r.type === SECRET)?.inputs.name).toBe("ecr-pullthroughcache/stack/docker-hub-stack");
  });

  it("refuses createPullThroughCache off AWS or without the credentials ECR needs", () => {
    expectRefused(
      () =>
        new RegionalMirrorSelector("ali-ptc", {
          cloud: "alicloud",
          region: "cn-hangzhou",
          createPullThroughCache: true,
        }),
      "createPullThroughCache",
      "AWS only",
    );
    expectRefused(
      () => new RegionalMirrorSelector("no-cred", { cloud: "aws", region: "us-east-1", createPullThroughCache: true }),
      'credentials["docker.io"]',
      "needs credentials",
    );
    expectRefused(
      () =>
        new RegionalMirrorSelector("unknown-registries", {
          cloud: "aws",
          region: "us-east-1",
          createPullThroughCache: true,
          registries: pulumi.output(["quay.io"]),
        }),
      "registries",
      "must be known",
    );
    expectRefused(
      () =>
        new RegionalMirrorSelector("unknown-rules", {
          cloud: "aws",
          region: "us-east-1",
          createPullThroughCache: true,
          ecrPullThrough: pulumi.output({ "quay.io": "quay" }),
        }),
      "ecrPullThrough",
      "must be known",
    );
  });

  it("loads only the AWS SDK subpaths it needs", () => {
    const loaded = Object.keys(require.cache);
    expect(loaded.some((k) => /@pulumi[\\/]aws[\\/]ecr[\\/]index\.js$/.test(k))).toBe(true);
    expect(loaded.some((k) => /@pulumi[\\/]aws[\\/]index\.js$/.test(k))).toBe(false);
  });
});
