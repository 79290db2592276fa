/**
 * Two stacks of one program in one account, region and cluster: no physical name in common. Names the platform
 * fixes (a pull secret pods reference, the ECR credential secret's `ecr-pullthroughcache/` prefix) take a
 * user-settable name whose default carries the stack; given explicitly, the same names collide (the check can fail).
 */
import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { type RecordedResource, setupMocks } from "./mocks";

interface Options {
  /** Pass every settable name explicitly (the same in both stacks). */
  fixed: boolean;
}

/** The physical names a recorded resource claims, by kind (resources without one are auto-named by the provider). */
function physicalNames(r: RecordedResource): string[] {
  if (r.type.startsWith("kubernetes:")) {
    const meta = r.inputs.metadata;
    return meta?.name ? [`${r.type} ${meta.namespace ?? "default"}/${meta.name}`] : [];
  }
  if (r.type === "aws:secretsmanager/secret:Secret") return [`secretsmanager ${r.inputs.region}/${r.inputs.name}`];
  if (r.type === "aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    return [`ecr-rule ${r.inputs.region}/${r.inputs.ecrRepositoryPrefix}`];
  return [];
}

async function deploy(stack: string, { fixed }: Options): Promise<string[]> {
  const mocks = await setupMocks({}, false, stack);
  const { MirrorDaemonConfig } = await import("../../components/mirror-daemon-config");
  const { RegistryCredentialSecret } = await import("../../components/registry-credential-secret");
  const { RegionalMirrorSelector } = await import("../../components/regional-mirror-selector");
  const config = new MirrorDaemonConfig("mirrors", {
    mirrors: ["https://hub.example.com"],
    kubernetes: fixed ? { name: "mirrors" } : {},
  });
  const pull = new RegistryCredentialSecret("pull", {
    registries: { "ghcr.io": { username: "bot", password: pulumi.secret("p") } },
    namespaces: ["default", "apps"],
    ...(fixed ? { secretName: "pull" } : {}),
  });
  const selector = new RegionalMirrorSelector("ecr", {
    cloud: "aws",
    region: "eu-west-1",
    awsAccountId: "123456789012",
    registries: ["docker.io", "ghcr.io", "quay.io"],
    createPullThroughCache: true,
    ...(fixed ? { ecrPullThrough: { "docker.io": "docker-hub", "ghcr.io": "ghcr", "quay.io": "quay" } } : {}),
    pullThroughCredentials: {
      "docker.io": {
        username: "octo",
        accessToken: pulumi.secret("dckr_pat"),
        ...(fixed ? { secretName: "ecr-pullthroughcache/docker-hub" } : {}),
      },
      "ghcr.io": {
        username: "octo",
        accessToken: pulumi.secret("ghp"),
        ...(fixed ? { secretName: "ecr-pullthroughcache/ghcr" } : {}),
      },
    },
  });
  const waits: pulumi.Output<unknown>[] = [
    config.urn,
    config.checksum,
    pull.urn,
    ...pull.secrets.map((s) => s.urn),
    selector.policy,
  ];
  waits.push(...selector.pullThroughCacheResources.map((r) => r.urn));
  await Promise.all(waits.map((w) => new Promise((resolve) => w.apply(resolve))));
  for (let i = 0; i < 5; i++) await mocks.settle();
  return mocks.resources.flatMap(physicalNames).sort();
}

describe("two stacks of one program", () => {
  it("claim no physical name in common by default", async () => {
    const dev = await deploy("dev", { fixed: false });
    const prod = await deploy("prod", { fixed: false });
    // Every kind is there: DaemonSet + its script holder, the pull secret twice, the ECR rules and credential secrets.
    expect(dev.length).toBe(9);
    expect(dev.filter((n) => prod.includes(n))).toEqual([]);
    expect(dev).toContain("kubernetes:core/v1:Secret default/pull-dev");
    expect(dev).toContain("secretsmanager eu-west-1/ecr-pullthroughcache/dev/docker-hub-dev");
    expect(dev).toContain("ecr-rule eu-west-1/docker-hub-dev");
    expect(dev.find((n) => n.startsWith("kubernetes:apps/v1:DaemonSet"))).toBe(
      "kubernetes:apps/v1:DaemonSet kube-system/mirrors-node-config-dev",
    );
  });

  it("collide when the names are given explicitly (what the defaults avoid)", async () => {
    const dev = await deploy("dev", { fixed: true });
    const prod = await deploy("prod", { fixed: true });
    expect(dev.filter((n) => prod.includes(n))).toEqual(dev);
  });

  it("a stack name Kubernetes or ECR would refuse is shortened and hashed, still unique", async () => {
    const a = await deploy("Team_A.Production-Environment-With-A-Long-Name", { fixed: false });
    const b = await deploy("team-a-production-environment-with-a-long-name", { fixed: false });
    expect(a.filter((n) => b.includes(n))).toEqual([]);
    for (const name of a.filter((n) => n.startsWith("ecr-rule"))) {
      expect(name.split("/")[1].length).toBeLessThanOrEqual(30);
      expect(name.split("/")[1]).toMatch(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/);
    }
  });
});
