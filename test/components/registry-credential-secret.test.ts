import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { Secret } from "kubernetes-models/v1/Secret";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { type MockHandle, type RecordedResource, isSecretInput, plain, registered, setupMocks, unwrap } from "./mocks";
import { PolicyError } from "../../components/core/errors";
import {
  RegistryCredentialSecret,
  type RegistryCredentialSecretArgs,
} from "../../components/registry-credential-secret";

const loadedFiles = () => Object.keys(require.cache);
const sdkAtImport = loadedFiles().filter((k) => /@pulumi[\\/](kubernetes|aws|alicloud)[\\/]/.test(k));

const ECR_TOKEN = "ecr-password-Kq93xT";
const ACR_TOKEN = "acr-temp-token-Zz81Lm";

let mocks: MockHandle;
beforeAll(async () => {
  mocks = await setupMocks({
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": (args) => ({
      authorizationToken: Buffer.from(`AWS:${ECR_TOKEN}`).toString("base64"),
      userName: "AWS",
      password: ECR_TOKEN,
      proxyEndpoint: `https://${args.registryId ?? "111111111111"}.dkr.ecr.${args.region ?? "us-east-1"}.amazonaws.com`,
      expiresAt: "2030-01-01T12:00:00Z",
      id: "ecr",
    }),
    "alicloud:cs/getRegistryEnterpriseInstances:getRegistryEnterpriseInstances": (args) => ({
      id: "acr",
      ids: args.ids,
      names: ["main"],
      instances: (args.ids as string[]).map((id) => ({
        id,
        name: "main",
        tempUsername: "cr_temp_user",
        authorizationToken: ACR_TOKEN,
        publicEndpoints: [],
        vpcEndpoints: [],
      })),
    }),
  });
});

async function create(name: string, args: RegistryCredentialSecretArgs) {
  const component = new RegistryCredentialSecret(name, args);
  await registered(component);
  await Promise.all(component.secrets.map(registered));
  await mocks.settle();
  const mine = mocks.resources.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
  return {
    component,
    mine,
    secrets: mine.filter((r) => r.type === "kubernetes:core/v1:Secret"),
    patches: mine.filter((r) => r.type === "kubernetes:core/v1:ServiceAccountPatch"),
  };
}

function decode(secret: RecordedResource): any {
  expect(isSecretInput(secret.inputs.data)).toBe(true);
  const data = plain(secret.inputs.data);
  return JSON.parse(Buffer.from(data[".dockerconfigjson"], "base64").toString("utf8"));
}

/** Every string reachable in `value` that did not arrive wrapped as a secret. */
function plainStrings(value: unknown, out: string[] = []): string[] {
  if (pulumi.runtime.isRpcSecret(value)) return out;
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => plainStrings(v, out));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => plainStrings(v, out));
  return out;
}

function expectNoCredentialOutsideSecrets(resources: RecordedResource[], credentials: string[]) {
  const visible = resources.flatMap((r) => plainStrings(r.inputs));
  expect(visible.length).toBeGreaterThan(0);
  for (const c of credentials) {
    for (const v of visible) {
      expect(v).not.toContain(c);
      // base64 forms (auth, the data field) hide a credential from a naive search.
      expect(Buffer.from(v, "base64").toString("utf8")).not.toContain(c);
    }
  }
}

describe("RegistryCredentialSecret (mocks)", () => {
  it("loads no Kubernetes or cloud SDK at import", () => {
    expect(sdkAtImport).toEqual([]);
  });

  it("the leak check finds a credential in a plain or base64 input (it can fail)", () => {
    const leaky = (inputs: Record<string, any>): RecordedResource[] => [{ type: "t", name: "n", custom: true, inputs }];
    expect(() => expectNoCredentialOutsideSecrets(leaky({ a: { b: ["x", "pw-LEAK"] } }), ["pw-LEAK"])).toThrow();
    expect(() =>
      expectNoCredentialOutsideSecrets(leaky({ d: Buffer.from("u:pw-LEAK").toString("base64") }), ["pw-LEAK"]),
    ).toThrow();
    expect(() => expectNoCredentialOutsideSecrets(leaky({ ok: "x" }), ["pw-LEAK"])).not.toThrow();
  });

  it("creates a kubernetes.io/dockerconfigjson Secret whose secret data decodes to a correct .dockerconfigjson", async () => {
    const { component, secrets, mine } = await create("pull", {
      registries: {
        "ghcr.io": { username: "bot", password: pulumi.secret("ghp_S3cretToken") },
        "docker.io": { auth: Buffer.from("hubuser:hub-Pa55:word").toString("base64") },
      },
    });
    expect(secrets).toHaveLength(1);
    const [secret] = secrets;
    expect(secret.inputs.type).toBe("kubernetes.io/dockerconfigjson");
    expect(secret.inputs.metadata).toMatchObject({ name: "pull-stack", namespace: "default" });
    expect(decode(secret)).toEqual({
      auths: {
        "ghcr.io": {
          username: "bot",
          password: "ghp_S3cretToken",
          auth: Buffer.from("bot:ghp_S3cretToken").toString("base64"),
        },
        "https://index.docker.io/v1/": {
          username: "hubuser",
          password: "hub-Pa55:word",
          auth: Buffer.from("hubuser:hub-Pa55:word").toString("base64"),
        },
      },
    });
    expect(() => new Secret({ ...secret.inputs, data: plain(secret.inputs.data) } as any).validate()).not.toThrow();

    expect(await pulumi.isSecret(component.dockerConfigJson)).toBe(true);
    expect(await unwrap(component.registries)).toEqual(["ghcr.io", "https://index.docker.io/v1/"]);
    expect(await unwrap(component.secretName)).toBe("pull-stack");
    expect(mine.find((r) => r.type === "registry-mirrors:index:RegistryCredentialSecret")?.custom).toBe(false);
    expectNoCredentialOutsideSecrets(mine, ["ghp_S3cretToken", "hub-Pa55:word"]);
  });

  it("makes plain (non-secret) passwords secret too, in every namespace, and patches service accounts", async () => {
    const { secrets, patches, mine } = await create("multi", {
      registries: pulumi.output({ "registry.example.com:5000": { username: "ci", password: "Plain-Pw-77" } }),
      namespaces: ["apps", "jobs"],
      secretName: "registry-pull",
      serviceAccounts: ["default", "builder"],
      keepImagePullSecrets: ["legacy-pull"],
    });
    expect(secrets.map((s) => s.inputs.metadata.namespace)).toEqual(["apps", "jobs"]);
    for (const s of secrets) {
      expect(s.inputs.metadata.name).toBe("registry-pull");
      expect(decode(s).auths["registry.example.com:5000"].password).toBe("Plain-Pw-77");
    }
    expect(patches.map((p) => `${p.inputs.metadata.namespace}/${p.inputs.metadata.name}`)).toEqual([
      "apps/default",
      "apps/builder",
      "jobs/default",
      "jobs/builder",
    ]);
    for (const p of patches) {
      expect(p.inputs.imagePullSecrets).toEqual([{ name: "legacy-pull" }, { name: "registry-pull" }]);
      // A server-side apply patch: no force, so another owner of the list makes it fail instead of being overwritten.
      expect(p.inputs.metadata.annotations?.["pulumi.com/patchForce"]).toBeUndefined();
      expect(() =>
        new ServiceAccount({ apiVersion: "v1", kind: "ServiceAccount", ...p.inputs } as any).validate(),
      ).not.toThrow();
    }
    expectNoCredentialOutsideSecrets(mine, ["Plain-Pw-77"]);
  });

  it("reads an ECR token through the data source, as a secret", async () => {
    const before = mocks.calls.length;
    const { secrets, mine } = await create("ecr", {
      registries: {
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com": { ecr: { registryId: "123456789012", region: "eu-west-1" } },
      },
    });
    const call = mocks.calls
      .slice(before)
      .find((c) => c.token === "aws:ecr/getAuthorizationToken:getAuthorizationToken");
    expect(call?.args).toMatchObject({ registryId: "123456789012", region: "eu-west-1" });
    expect(decode(secrets[0]).auths["123456789012.dkr.ecr.eu-west-1.amazonaws.com"]).toEqual({
      username: "AWS",
      password: ECR_TOKEN,
      auth: Buffer.from(`AWS:${ECR_TOKEN}`).toString("base64"),
    });
    expectNoCredentialOutsideSecrets(mine, [ECR_TOKEN]);
    // Only the ECR subpath of the AWS SDK was loaded, never the whole SDK.
    const aws = loadedFiles().filter((k) => /@pulumi[\\/]aws[\\/]/.test(k));
    expect(aws.some((k) => /[\\/]ecr[\\/]getAuthorizationToken\.js$/.test(k))).toBe(true);
    expect(aws.filter((k) => /@pulumi[\\/]aws[\\/](index\.js|ec2[\\/]|s3[\\/])/.test(k))).toEqual([]);
  });

  it("reads an ACR Enterprise Edition temporary token through the data source, as a secret", async () => {
    const before = mocks.calls.length;
    const { secrets, mine } = await create("acr", {
      registries: { "main-registry.cn-hangzhou.cr.aliyuncs.com": { acr: { instanceId: "cri-abc123" } } },
    });
    const call = mocks.calls
      .slice(before)
      .find((c) => c.token === "alicloud:cs/getRegistryEnterpriseInstances:getRegistryEnterpriseInstances");
    expect(call?.args).toMatchObject({ ids: ["cri-abc123"], enableDetails: true });
    expect(decode(secrets[0]).auths["main-registry.cn-hangzhou.cr.aliyuncs.com"]).toMatchObject({
      username: "cr_temp_user",
      password: ACR_TOKEN,
    });
    expectNoCredentialOutsideSecrets(mine, [ACR_TOKEN]);
  });

  const b64 = (s: string) => Buffer.from(s).toString("base64");
  let badCount = 0;
  it.each<[string, RegistryCredentialSecretArgs, string, string]>([
    ["an empty registry map", { registries: {} }, "registries", "no registry given"],
    [
      "a key that is not a host[:port]",
      { registries: { "ghcr.io/org": { username: "u", password: "p" } } },
      'registries["ghcr.io/org"]',
      "not a valid host[:port]",
    ],
    [
      "a URL as key",
      { registries: { "https://ghcr.io": { username: "u", password: "p" } } },
      'registries["https://ghcr.io"]',
      "not a URL",
    ],
    [
      "the same registry twice",
      {
        registries: {
          "docker.io": { username: "u", password: "p" },
          "index.docker.io": { username: "u", password: "p" },
        },
      },
      "registries",
      "are the same registry",
    ],
    [
      "password and auth disagreeing",
      { registries: { "ghcr.io": { username: "u", password: "Pw-One-91", auth: b64("u:Pw-Two-92") } } },
      'registries["ghcr.io"].password',
      "both given and disagree",
    ],
    [
      "two credential sources",
      { registries: { "ghcr.io": { username: "u", password: "p", ecr: {} } } },
      'registries["ghcr.io"]',
      "more than one credential source",
    ],
    [
      "an unknown credential field",
      { registries: { "ghcr.io": { user: "u" } as never } },
      'registries["ghcr.io"].user',
      "unknown credential field",
    ],
    [
      "a namespace that is not a DNS label",
      { registries: { "ghcr.io": { username: "u", password: "p" } }, namespaces: ["Team_A"] },
      "namespaces[0]",
      "not a valid DNS label",
    ],
    [
      "no namespace",
      { registries: { "ghcr.io": { username: "u", password: "p" } }, namespaces: [] },
      "namespaces",
      "no namespace given",
    ],
    [
      "a bad service account name",
      { registries: { "ghcr.io": { username: "u", password: "p" } }, serviceAccounts: ["Builder"] },
      "serviceAccounts[0]",
      "not a valid Kubernetes object name",
    ],
    [
      "a bad secret name",
      { registries: { "ghcr.io": { username: "u", password: "p" } }, secretName: "Pull_Secret" },
      "secretName",
      "not a valid Kubernetes object name",
    ],
  ])("refuses %s with a clear message, creating nothing", (_what, args, field, problem) => {
    const before = mocks.resources.length;
    let error: unknown;
    try {
      new RegistryCredentialSecret(`bad-${++badCount}`, args);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).field).toBe(field);
    expect((error as Error).message).toContain(problem);
    expect((error as Error).message).toContain("Fix: ");
    expect((error as Error).message).not.toMatch(/Pw-One-91|Pw-Two-92/);
    expect(mocks.resources.slice(before).filter((r) => r.custom)).toEqual([]);
  });
});
