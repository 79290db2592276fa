/**
 * RegistryCredentialSecret with `refresher` under Pulumi mocks: the CronJob and first-run Job, the RBAC (exact
 * verbs, resources and resourceNames), the cloud identity wiring (IRSA, EKS Pod Identity, RRSA; created or taken as
 * given), `ignoreChanges` on the secret's data, the placeholder mode, and every manifest through kubernetes-models.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { Job } from "kubernetes-models/batch/v1/Job";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { PolicyError } from "../../components/core/errors";
import { DEFAULT_REFRESHER_IMAGE } from "../../components/core/kubernetes";
import {
  RegistryCredentialSecret,
  type RegistryCredentialSecretArgs,
} from "../../components/registry-credential-secret";
import { plain, registered, unwrap } from "./mocks";

const loaded = () => Object.keys(require.cache);
const sdkAtImport = loaded().filter((k) => /@pulumi[\\/](kubernetes|aws|alicloud)[\\/]/.test(k));

const ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const ACR = "main-registry.cn-hangzhou.cr.aliyuncs.com";
const OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789";
const RRSA_PROVIDER = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0123";
const RRSA_ISSUER = "https://oidc-ack-cn-hangzhou.oss-cn-hangzhou-internal.aliyuncs.com/c0123";
const ECR_TOKEN = "ecr-password-Kq93xT";
const source = (name: string) => readFileSync(join(__dirname, "../../components/core/kubernetes", name), "utf8");
const SCRIPT = source("pull-secret-refresher.py");

interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, any>;
}
const resources: Recorded[] = [];
const calls: string[] = [];
/** Resource options by `type name`, seen through a transformation the children inherit. */
const options = new Map<string, pulumi.CustomResourceOptions>();

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        resources.push({ type: args.type, name: args.name, inputs: args.inputs });
        const computed: Record<string, unknown> = {};
        if (args.type === "aws:iam/role:Role") computed.arn = `arn:aws:iam::123456789012:role/${args.name}-abc`;
        if (args.type === "alicloud:ram/role:Role")
          computed.arn = `acs:ram::1234567890123456:role/${args.inputs.roleName}`;
        return { id: args.custom ? `${args.name}-id` : "", state: { ...args.inputs, ...computed } };
      },
      call(args) {
        calls.push(args.token);
        if (args.token === "aws:ecr/getAuthorizationToken:getAuthorizationToken")
          return {
            userName: "AWS",
            password: ECR_TOKEN,
            authorizationToken: "x",
            expiresAt: "x",
            proxyEndpoint: "x",
            id: "e",
          };
        throw new Error(`no call mock for ${args.token}`);
      },
    },
    "project",
    "stack",
    false,
  );
});

async function create(name: string, args: RegistryCredentialSecretArgs) {
  const component = new RegistryCredentialSecret(name, args, {
    transformations: [
      (a) => {
        options.set(`${a.type} ${a.name}`, a.opts as pulumi.CustomResourceOptions);
        return undefined;
      },
    ],
  });
  await registered(component);
  const children = [
    ...component.secrets,
    ...(component.refresher
      ? [
          component.refresher,
          component.refresher.cronJob,
          component.refresher.configMap,
          component.refresher.serviceAccount,
          ...component.refresher.roles,
          ...component.refresher.roleBindings,
          ...(component.refresher.job ? [component.refresher.job] : []),
        ]
      : []),
  ];
  await Promise.all(children.map(registered));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  const mine = resources.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
  const of = (type: string) => mine.filter((r) => r.type === type);
  const one = (type: string) => {
    const found = of(type);
    expect(found, type).toHaveLength(1);
    return found[0];
  };
  return { component, mine, of, one };
}

function podSpec(cronJob: Recorded) {
  return cronJob.inputs.spec.jobTemplate.spec.template.spec;
}

function validateAll(mine: Recorded[]) {
  const models: Record<string, (o: any) => { validate(): void }> = {
    "kubernetes:batch/v1:CronJob": (o) => new CronJob({ apiVersion: "batch/v1", kind: "CronJob", ...o }),
    "kubernetes:batch/v1:Job": (o) => new Job({ apiVersion: "batch/v1", kind: "Job", ...o }),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": (o) =>
      new Role({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", ...o }),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": (o) =>
      new RoleBinding({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", ...o }),
    "kubernetes:core/v1:ConfigMap": (o) => new ConfigMap({ apiVersion: "v1", kind: "ConfigMap", ...o }),
    "kubernetes:core/v1:ServiceAccount": (o) => new ServiceAccount({ apiVersion: "v1", kind: "ServiceAccount", ...o }),
    "kubernetes:core/v1:ServiceAccountPatch": (o) =>
      new ServiceAccount({ apiVersion: "v1", kind: "ServiceAccount", ...o }),
    "kubernetes:core/v1:Secret": (o) => new Secret({ apiVersion: "v1", kind: "Secret", ...o, data: plain(o.data) }),
  };
  const kube = mine.filter((r) => r.type.startsWith("kubernetes:"));
  expect(kube.length).toBeGreaterThan(5);
  for (const r of kube) {
    expect(models[r.type], r.type).toBeDefined();
    expect(() => models[r.type](r.inputs).validate(), `${r.type} ${r.name}`).not.toThrow();
  }
}

describe("RegistryCredentialSecret with a refresher (mocks)", () => {
  it("loads no Kubernetes or cloud SDK at import", () => {
    expect(sdkAtImport).toEqual([]);
  });

  it("IRSA, role created: placeholder secret, exact RBAC, CronJob, first-run Job, role trust and policy", async () => {
    const { component, mine, of, one } = await create("ecr-pull", {
      registries: { [ECR]: { ecr: {} } },
      namespaces: ["apps", "jobs"],
      serviceAccounts: ["default"],
      refresher: { aws: { irsa: { oidcProviderArn: OIDC } } },
    });
    validateAll(mine);

    // The secret starts as an empty document; the token never reaches Pulumi (no data source call).
    const secrets = of("kubernetes:core/v1:Secret");
    expect(secrets.map((s) => s.inputs.metadata.namespace)).toEqual(["apps", "jobs"]);
    for (const s of secrets) {
      expect(Buffer.from(plain(s.inputs.data)[".dockerconfigjson"], "base64").toString()).toBe('{"auths":{}}');
      expect(options.get(`kubernetes:core/v1:Secret ${s.name}`)?.ignoreChanges).toEqual(["data", "stringData"]);
    }
    expect(calls).not.toContain("aws:ecr/getAuthorizationToken:getAuthorizationToken");
    expect(await unwrap(component.dockerConfigJson)).toBe('{"auths":{}}');
    expect(await unwrap(component.registries)).toEqual([ECR]);

    // RBAC: get and patch on that one secret, in each namespace, for the refresher's service account only.
    const roles = of("kubernetes:rbac.authorization.k8s.io/v1:Role");
    expect(roles.map((r) => [r.inputs.metadata.namespace, r.inputs.metadata.name])).toEqual([
      ["apps", "ecr-pull-stack-refresher"],
      ["jobs", "ecr-pull-stack-refresher"],
    ]);
    for (const r of roles)
      expect(r.inputs.rules).toEqual([
        { apiGroups: [""], resources: ["secrets"], resourceNames: ["ecr-pull-stack"], verbs: ["get", "patch"] },
      ]);
    const bindings = of("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding");
    for (const b of bindings) {
      expect(b.inputs.roleRef).toEqual({
        apiGroup: "rbac.authorization.k8s.io",
        kind: "Role",
        name: "ecr-pull-stack-refresher",
      });
      expect(b.inputs.subjects).toEqual([
        { kind: "ServiceAccount", name: "ecr-pull-stack-refresher", namespace: "apps" },
      ]);
    }
    expect(of("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")).toEqual([]);
    const sa = one("kubernetes:core/v1:ServiceAccount");
    expect(sa.inputs.metadata).toMatchObject({ name: "ecr-pull-stack-refresher", namespace: "apps" });
    expect(sa.inputs.metadata.annotations).toBeUndefined();

    // The ConfigMap: the script and its modules as committed, and the config it reads.
    const cm = one("kubernetes:core/v1:ConfigMap");
    expect(cm.inputs.immutable).toBe(true);
    expect(cm.inputs.metadata.name).toMatch(/^ecr-pull-stack-refresher-[0-9a-f]{10}$/);
    expect(cm.inputs.data["pull-secret-refresher.py"]).toBe(SCRIPT);
    expect(Object.keys(cm.inputs.data).sort()).toEqual([
      "config.json",
      "pull-secret-refresher.py",
      "refresher_clouds.py",
      "refresher_common.py",
      "refresher_kube.py",
    ]);
    for (const name of ["refresher_clouds.py", "refresher_common.py", "refresher_kube.py"]) {
      expect(cm.inputs.data[name]).toBe(source(name));
    }
    expect(JSON.parse(cm.inputs.data["config.json"])).toEqual({
      secretName: "ecr-pull-stack",
      namespaces: ["apps", "jobs"],
      registries: [
        {
          key: ECR,
          source: "ecr",
          registryId: "123456789012",
          region: "eu-west-1",
          domain: "amazonaws.com",
          safeAgeSeconds: 21600,
        },
      ],
    });

    // The CronJob: every 3 hours, one at a time, non-root, read-only, the IRSA token projected.
    const cron = one("kubernetes:batch/v1:CronJob");
    expect(cron.inputs.spec.schedule).toMatch(/^\d{1,2} \*\/3 \* \* \*$/);
    expect(cron.inputs.spec.concurrencyPolicy).toBe("Forbid");
    const pod = podSpec(cron);
    expect(pod.serviceAccountName).toBe("ecr-pull-stack-refresher");
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65534 });
    const [container] = pod.containers;
    expect(container.image).toBe(DEFAULT_REFRESHER_IMAGE);
    expect(container.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(container.command).toEqual(["python3", "/refresher/pull-secret-refresher.py", "/refresher/config.json"]);
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.env).toEqual([
      { name: "AWS_ROLE_ARN", value: "arn:aws:iam::123456789012:role/ecr-pull-refresher-abc" },
      { name: "AWS_WEB_IDENTITY_TOKEN_FILE", value: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token" },
    ]);
    expect(pod.volumes).toEqual([
      { name: "refresher", configMap: { name: cm.inputs.metadata.name, defaultMode: 0o444 } },
      {
        name: "aws-iam-token",
        projected: {
          defaultMode: 0o444,
          sources: [{ serviceAccountToken: { audience: "sts.amazonaws.com", expirationSeconds: 3600, path: "token" } }],
        },
      },
    ]);

    // The first-run Job: the same pod, named by its content; it waits for the secrets, RBAC and role policy.
    const job = one("kubernetes:batch/v1:Job");
    expect(job.inputs.metadata.name).toMatch(/^ecr-pull-stack-refresher-[0-9a-f]{10}$/);
    expect(job.inputs.spec.template).toEqual(cron.inputs.spec.jobTemplate.spec.template);
    const jobDeps = (options.get(`kubernetes:batch/v1:Job ecr-pull-refresher-first-run`)?.dependsOn ??
      []) as pulumi.Resource[];
    const depNames = await Promise.all(jobDeps.map((d) => unwrap(d.urn)));
    for (const part of [
      "Secret::ecr-pull-apps",
      "Secret::ecr-pull-jobs",
      "RoleBinding::ecr-pull-refresher-jobs",
      "RolePolicy::ecr-pull-refresher",
    ])
      expect(
        depNames.some((u) => u.endsWith(part)),
        part,
      ).toBe(true);

    // The IAM role: trusted by the cluster's OIDC provider for this one service account; token and pulls only.
    const role = one("aws:iam/role:Role");
    expect(JSON.parse(role.inputs.assumeRolePolicy)).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { Federated: OIDC },
          Action: "sts:AssumeRoleWithWebIdentity",
          Condition: {
            StringEquals: {
              "oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789:aud": "sts.amazonaws.com",
              "oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789:sub":
                "system:serviceaccount:apps:ecr-pull-stack-refresher",
            },
          },
        },
      ],
    });
    expect(JSON.parse(one("aws:iam/rolePolicy:RolePolicy").inputs.policy)).toEqual({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
        {
          Effect: "Allow",
          Action: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
          Resource: ["arn:aws:ecr:eu-west-1:123456789012:repository/*"],
        },
      ],
    });
    expect(await unwrap(component.refresher!.awsRoleArn!)).toBe(
      "arn:aws:iam::123456789012:role/ecr-pull-refresher-abc",
    );

    // Only the SDK subpaths that create resources were loaded.
    const aws = loaded().filter((k) => /@pulumi[\\/]aws[\\/]/.test(k));
    expect(aws.some((k) => /[\\/]iam[\\/]role\.js$/.test(k))).toBe(true);
    expect(aws.filter((k) => /@pulumi[\\/]aws[\\/](index\.js|ec2[\\/]|s3[\\/]|ecr[\\/])/.test(k))).toEqual([]);
    expect(loaded().filter((k) => /@pulumi[\\/]alicloud[\\/]/.test(k))).toEqual([]);
  });

  it("tokenInState: the first token comes from pulumi up (a secret), data still ignored afterwards, no first-run Job", async () => {
    const { mine, of } = await create("ecr-state", {
      registries: { [ECR]: { ecr: { registryId: "123456789012", region: "eu-west-1" } } },
      refresher: { aws: { irsa: { roleArn: "arn:aws:iam::123456789012:role/given" } }, tokenInState: true },
    });
    validateAll(mine);
    const [secret] = of("kubernetes:core/v1:Secret");
    expect(pulumi.runtime.isRpcSecret(secret.inputs.data)).toBe(true);
    const doc = JSON.parse(Buffer.from(plain(secret.inputs.data)[".dockerconfigjson"], "base64").toString());
    expect(doc.auths[ECR].password).toBe(ECR_TOKEN);
    expect(options.get(`kubernetes:core/v1:Secret ${secret.name}`)?.ignoreChanges).toEqual(["data", "stringData"]);
    expect(of("kubernetes:batch/v1:Job")).toEqual([]);
    // A role taken as given: nothing created in AWS, the ARN reaches the pod.
    expect(mine.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
    const [cron] = of("kubernetes:batch/v1:CronJob");
    expect(podSpec(cron).containers[0].env[0]).toEqual({
      name: "AWS_ROLE_ARN",
      value: "arn:aws:iam::123456789012:role/given",
    });
  });

  it("EKS Pod Identity: role with the pods.eks.amazonaws.com trust and an association; nothing injected by the component", async () => {
    const { mine, of, one } = await create("pi", {
      registries: { [ECR]: { ecr: {} } },
      namespaces: ["apps"],
      refresher: { aws: { podIdentity: { clusterName: "prod" } }, namespace: "registry-system" },
    });
    validateAll(mine);
    expect(JSON.parse(one("aws:iam/role:Role").inputs.assumeRolePolicy).Statement).toEqual([
      {
        Effect: "Allow",
        Principal: { Service: "pods.eks.amazonaws.com" },
        Action: ["sts:AssumeRole", "sts:TagSession"],
      },
    ]);
    expect(one("aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs).toMatchObject({
      clusterName: "prod",
      namespace: "registry-system",
      serviceAccount: "pi-stack-refresher",
      roleArn: "arn:aws:iam::123456789012:role/pi-refresher-abc",
    });
    const pod = podSpec(one("kubernetes:batch/v1:CronJob"));
    expect(pod.containers[0].env).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name)).toEqual(["refresher"]);
    expect(of("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")[0].inputs.subjects).toEqual([
      { kind: "ServiceAccount", name: "pi-stack-refresher", namespace: "registry-system" },
    ]);
  });

  it("EKS Pod Identity taken as given ({}): no AWS resource", async () => {
    const { mine } = await create("pi-given", {
      registries: { [ECR]: { ecr: {} } },
      refresher: { aws: { podIdentity: {} } },
    });
    expect(mine.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
    expect(mine.some((r) => r.type === "kubernetes:batch/v1:CronJob")).toBe(true);
  });

  it("ACR through RRSA, role created: RAM trust and policy, the OIDC env and token, a 15-minute schedule", async () => {
    const { mine, one, of } = await create("acr-pull", {
      registries: { [ACR]: { acr: { instanceId: "cri-abc123" } } },
      refresher: { alicloud: { rrsa: { oidcProviderArn: RRSA_PROVIDER, oidcIssuerUrl: RRSA_ISSUER } } },
    });
    validateAll(mine);
    const role = one("alicloud:ram/role:Role");
    expect(role.inputs.roleName).toMatch(/^rm-acr-pull-stack-refresher-[0-9a-f]{8}$/);
    expect(JSON.parse(role.inputs.assumeRolePolicyDocument)).toEqual({
      Version: "1",
      Statement: [
        {
          Effect: "Allow",
          Action: "sts:AssumeRole",
          Principal: { Federated: [RRSA_PROVIDER] },
          Condition: {
            StringEquals: {
              "oidc:aud": ["sts.aliyuncs.com"],
              "oidc:iss": [RRSA_ISSUER],
              "oidc:sub": ["system:serviceaccount:default:acr-pull-stack-refresher"],
            },
          },
        },
      ],
    });
    expect(JSON.parse(one("alicloud:ram/policy:Policy").inputs.policyDocument)).toEqual({
      Version: "1",
      Statement: [
        { Effect: "Allow", Action: ["cr:GetAuthorizationToken"], Resource: ["acs:cr:*:*:instance/cri-abc123"] },
        { Effect: "Allow", Action: ["cr:PullRepository"], Resource: ["acs:cr:*:*:repository/cri-abc123/*"] },
      ],
    });
    expect(one("alicloud:ram/rolePolicyAttachment:RolePolicyAttachment").inputs).toMatchObject({
      policyType: "Custom",
      roleName: role.inputs.roleName,
    });
    const cron = one("kubernetes:batch/v1:CronJob");
    expect(cron.inputs.spec.schedule).toMatch(/^\d{1,2}-59\/15 \* \* \* \*$/);
    const pod = podSpec(cron);
    expect(pod.containers[0].env).toEqual([
      { name: "ALIBABA_CLOUD_ROLE_ARN", value: `acs:ram::1234567890123456:role/${role.inputs.roleName}` },
      { name: "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", value: RRSA_PROVIDER },
      { name: "ALIBABA_CLOUD_OIDC_TOKEN_FILE", value: "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token" },
    ]);
    expect(pod.volumes[1].projected.sources[0].serviceAccountToken.audience).toBe("sts.aliyuncs.com");
    const config = JSON.parse(one("kubernetes:core/v1:ConfigMap").inputs.data["config.json"]);
    expect(config.registries).toEqual([
      { key: ACR, source: "acr", instanceId: "cri-abc123", region: "cn-hangzhou", safeAgeSeconds: 1800 },
    ]);
    expect(of("aws:iam/role:Role")).toEqual([]);
    const ali = loaded().filter((k) => /@pulumi[\\/]alicloud[\\/]/.test(k));
    expect(ali.some((k) => /[\\/]ram[\\/]role\.js$/.test(k))).toBe(true);
    expect(ali.filter((k) => /@pulumi[\\/]alicloud[\\/](index\.js|ecs[\\/]|cs[\\/])/.test(k))).toEqual([]);
  });

  it("RRSA role taken as given, a custom schedule, image and pull secret", async () => {
    const { mine, one } = await create("acr-given", {
      registries: { [ACR]: { acr: { instanceId: "cri-abc123" } } },
      refresher: {
        alicloud: { rrsa: { oidcProviderArn: RRSA_PROVIDER, roleArn: "acs:ram::1:role/given" } },
        schedule: "*/10 * * * *",
        image: `registry.example.com/tools/python:3.12-alpine@sha256:${"a".repeat(64)}`,
        imagePullSecrets: ["tools-pull"],
      },
    });
    validateAll(mine);
    expect(mine.filter((r) => r.type.startsWith("alicloud:"))).toEqual([]);
    const cron = one("kubernetes:batch/v1:CronJob");
    expect(cron.inputs.spec.schedule).toBe("*/10 * * * *");
    expect(podSpec(cron).imagePullSecrets).toEqual([{ name: "tools-pull" }]);
    expect(podSpec(cron).containers[0].env[0].value).toBe("acs:ram::1:role/given");
  });

  let bad = 0;
  const ecr = { [ECR]: { ecr: {} } };
  it.each<[string, RegistryCredentialSecretArgs, string, string]>([
    [
      "static credentials",
      { registries: { "ghcr.io": { username: "u", password: "Pw-Static-1" } }, refresher: {} },
      'registries["ghcr.io"]',
      "holds only ECR/ACR token sources",
    ],
    [
      "a registry map given as an Output",
      { registries: pulumi.output(ecr), refresher: { aws: { podIdentity: {} } } },
      "registries",
      "known at preview time",
    ],
    [
      "an ECR source without an AWS identity",
      { registries: ecr, refresher: {} },
      "refresher.aws",
      "needs an AWS identity",
    ],
    [
      "both IRSA fields",
      { registries: ecr, refresher: { aws: { irsa: { oidcProviderArn: OIDC, roleArn: "arn:aws:iam::1:role/r" } } } },
      "refresher.aws.irsa",
      "exactly one of oidcProviderArn",
    ],
    [
      "IRSA and Pod Identity",
      { registries: ecr, refresher: { aws: { irsa: { roleArn: "r" }, podIdentity: {} } } },
      "refresher.aws",
      "exactly one of irsa or podIdentity",
    ],
    [
      "an RRSA role without a way to get it",
      {
        registries: { [ACR]: { acr: { instanceId: "cri-1" } } },
        refresher: { alicloud: { rrsa: { oidcProviderArn: RRSA_PROVIDER } } },
      },
      "refresher.alicloud.rrsa",
      "exactly one of oidcIssuerUrl",
    ],
    [
      "an identity no registry needs",
      {
        registries: ecr,
        refresher: { aws: { podIdentity: {} }, alicloud: { rrsa: { oidcProviderArn: "p", roleArn: "r" } } },
      },
      "refresher.alicloud",
      "no registry uses an ACR source",
    ],
    [
      "an ECR host the refresher cannot read",
      { registries: { "ecr.example.com": { ecr: {} } }, refresher: { aws: { podIdentity: {} } } },
      'registries["ecr.example.com"]',
      "cannot tell the ECR account and region",
    ],
    [
      "a bad schedule",
      { registries: ecr, refresher: { aws: { podIdentity: {} }, schedule: "every 3 hours" } },
      "refresher.schedule",
      "not a five-field cron schedule",
    ],
    [
      "a name too long for a CronJob",
      { registries: ecr, refresher: { aws: { podIdentity: {} }, name: "r".repeat(53) } },
      "refresher.name",
      "at most 52 characters",
    ],
    [
      "an unknown refresher field",
      { registries: ecr, refresher: { aws: { podIdentity: {} }, events: true } as never },
      "refresher.events",
      "unknown field",
    ],
  ])("refuses %s with a clear message, creating nothing", (_what, args, field, problem) => {
    const before = resources.length;
    let error: unknown;
    try {
      new RegistryCredentialSecret(`bad-${++bad}`, args);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).field).toBe(field);
    expect((error as Error).message).toContain(problem);
    expect((error as Error).message).toContain("Fix: ");
    expect((error as Error).message).not.toContain("Pw-Static-1");
    expect(resources.slice(before).filter((r) => !r.type.startsWith("registry-mirrors:"))).toEqual([]);
  });
});
