import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type * as k8s from "@pulumi/kubernetes";
import type { AcrTokenSource } from "./alicloud/acr-token";
import type { EcrTokenSource } from "./aws/ecr-token";
import { PolicyError } from "./core/errors";
import {
  DEFAULT_REFRESHER_IMAGE,
  type RefresherEndpoints,
  type RefresherRegistry,
  acrPullPolicy,
  acrRefresherRegistry,
  acrHostRegion,
  ecrHostParts,
  ecrPullPolicy,
  ecrRefresherRegistry,
  irsaTrustPolicy,
  podIdentityTrustPolicy,
  refresherManifests,
  refresherSchedule,
  rrsaTrustPolicy,
  validateDnsLabel,
  validateDnsSubdomain,
  validateImageReference,
  validateSchedule,
} from "./core/kubernetes";
import type { KubernetesObject } from "./kubernetes/node-config";

/**
 * The refresher's AWS identity, for ECR sources: exactly one of `irsa` or `podIdentity`. The pod gets temporary
 * credentials for the role and calls `ecr:GetAuthorizationToken`; a role the component creates may get a token and
 * pull from the renewed registries' repositories, nothing else.
 */
export interface RefresherAwsIdentity {
  /**
   * IAM Roles for Service Accounts. `{ oidcProviderArn }` (the cluster's IAM OIDC provider, e.g.
   * `cluster.identities` / `aws.iam.OpenIdConnectProvider`'s `arn`): the component creates the role, trusting only
   * the refresher's service account. `{ roleArn }`: an existing role whose trust policy allows
   * `system:serviceaccount:<namespace>:<name>` of the refresher, taken as given. The pod gets the projected token
   * (audience `sts.amazonaws.com`) and `AWS_ROLE_ARN` itself, so no webhook or service account annotation is needed.
   */
  irsa?: { oidcProviderArn?: pulumi.Input<string>; roleArn?: pulumi.Input<string> };
  /**
   * EKS Pod Identity (the `eks-pod-identity-agent` add-on must run). `{ clusterName }`: the component creates the
   * association, and the role too unless `roleArn` is given. `{}`: an association for the refresher's service
   * account exists already, taken as given.
   */
  podIdentity?: { clusterName?: pulumi.Input<string>; roleArn?: pulumi.Input<string> };
  /** The AWS provider for the role and the association (default: the ambient one). */
  provider?: pulumi.ProviderResource;
}

/** The refresher's Alibaba Cloud identity, for ACR sources: RAM Roles for Service Accounts (RRSA, ACK). */
export interface RefresherAlicloudIdentity {
  /**
   * The cluster's RRSA OIDC provider (`acs:ram::<account>:oidc-provider/ack-rrsa-<cluster id>`) and either the RAM
   * role to assume (`roleArn`, taken as given: its trust policy must allow the refresher's service account) or the
   * provider's issuer URL (`oidcIssuerUrl`, from the cluster's RRSA settings), with which the component creates the
   * role, trusting only the refresher's service account, allowed only to get a token of, and pull from, the
   * renewed instances.
   */
  rrsa: { oidcProviderArn: pulumi.Input<string>; roleArn?: pulumi.Input<string>; oidcIssuerUrl?: pulumi.Input<string> };
  /** Region of the ACR API when a registry host does not show it. */
  region?: string;
  /** The Alibaba Cloud provider for the RAM role (default: the ambient one). */
  provider?: pulumi.ProviderResource;
}

/**
 * An in-cluster refresher for a {@link RegistryCredentialSecret} whose registries use expiring tokens (ECR: 12 hours;
 * ACR Enterprise Edition: 1 hour): a CronJob renews every token well before it expires and JSON-patches the
 * `.dockerconfigjson` of the secret in each of its namespaces. Least privilege: a Role per namespace allows `get` and
 * `patch` on that one secret (`resourceNames`), nothing else; the cloud role may get a token and pull, nothing else.
 */
export interface PullSecretRefresherArgs {
  /** Needed when a registry uses an `ecr` source. */
  aws?: RefresherAwsIdentity;
  /** Needed when a registry uses an `acr` source. */
  alicloud?: RefresherAlicloudIdentity;
  /** Namespace of the CronJob and its service account. Default: the first of the secret's namespaces. */
  namespace?: string;
  /** Name of the CronJob, service account, Roles and RoleBindings (at most 52 characters). Default `<secretName>-refresher`. */
  name?: string;
  /**
   * Cron schedule (UTC on most clusters). Default: every 3 hours for ECR only, every 15 minutes with an ACR
   * source — a quarter of the shortest token validity, so two failed runs in a row still leave a valid token,
   * and a token older than half its validity (two failures) is reported stale.
   */
  schedule?: string;
  /**
   * Image with `python3` (3.8+). Default: `python:3.12-alpine` pinned by digest (the node-config DaemonSet's image).
   * For a private registry, copy it keeping the digest (`skopeo copy --all --preserve-digests`) and give that reference.
   */
  image?: string;
  /** Pull secrets in `namespace` for a private copy of the image. */
  imagePullSecrets?: string[];
  /**
   * Where the first token comes from. `false` (the default): the secret is created with an empty `{"auths":{}}`
   * and a Job runs the refresher at once, which `pulumi up` waits for — the token never enters Pulumi state or
   * passes through the machine running Pulumi, `pulumi up` needs no registry-reading cloud credentials, and a
   * broken identity fails the deployment now rather than twelve hours later. `true`: `pulumi up` reads the first
   * token (as without a refresher) and stores it in state (as a secret); the refresher takes over from its first
   * scheduled run. In both modes the secret's data is in `ignoreChanges`, so `pulumi up` never overwrites a newer
   * token with the one it knows.
   */
  tokenInState?: boolean;
  /** STS/ECR/ACR endpoint URL templates (`{region}`, `{domain}`), for VPC or FIPS endpoints. */
  endpoints?: RefresherEndpoints;
}

/** One registry entry the refresher renews. */
export interface RefresherSource {
  key: string;
  field: string;
  ecr?: EcrTokenSource;
  acr?: AcrTokenSource;
}

/** The settings {@link RegistryCredentialSecret} passes to its {@link PullSecretRefresher}. */
export interface PullSecretRefresherInputs {
  secretName: string;
  namespaces: string[];
  sources: RefresherSource[];
  settings: PullSecretRefresherArgs;
  provider?: pulumi.ProviderResource;
  /** The secrets the refresher patches. */
  secrets?: pulumi.Resource[];
}

const FIELD = "refresher";

function checkKeys(field: string, value: unknown, allowed: string[]): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new PolicyError(field, value, "must be an object", `give { ${allowed.join(", ")} }`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      throw new PolicyError(`${field}.${key}`, key, "unknown field", `use only ${allowed.join(", ")}`);
  }
  return value as Record<string, unknown>;
}

/** Validates the plain parts of the refresher's settings; throws a PolicyError naming the field. */
export function resolveRefresherArgs(
  secretName: string,
  namespaces: string[],
  sources: RefresherSource[],
  args: PullSecretRefresherArgs,
) {
  checkKeys(FIELD, args, [
    "aws",
    "alicloud",
    "namespace",
    "name",
    "schedule",
    "image",
    "imagePullSecrets",
    "tokenInState",
    "endpoints",
  ]);
  const name = validateDnsLabel(`${FIELD}.name`, args.name ?? `${secretName}-refresher`);
  if (name.length > 52)
    throw new PolicyError(
      `${FIELD}.name`,
      name,
      "a CronJob name has at most 52 characters",
      "set refresher.name to a shorter DNS label",
    );
  const kinds = [...new Set(sources.map((s) => (s.ecr ? "ecr" : "acr")))] as Array<"ecr" | "acr">;
  if (kinds.includes("ecr") && !args.aws)
    throw new PolicyError(
      `${FIELD}.aws`,
      undefined,
      "an ECR source needs an AWS identity for the refresher",
      "give refresher.aws: { irsa: { oidcProviderArn } } (or { irsa: { roleArn } }, or { podIdentity: { clusterName } })",
    );
  if (kinds.includes("acr") && !args.alicloud)
    throw new PolicyError(
      `${FIELD}.alicloud`,
      undefined,
      "an ACR source needs an Alibaba Cloud identity for the refresher",
      "give refresher.alicloud: { rrsa: { oidcProviderArn, oidcIssuerUrl } } (or { rrsa: { oidcProviderArn, roleArn } })",
    );
  if (args.aws && !kinds.includes("ecr"))
    throw new PolicyError(`${FIELD}.aws`, "(set)", "no registry uses an ECR source", "remove refresher.aws");
  if (args.alicloud && !kinds.includes("acr"))
    throw new PolicyError(`${FIELD}.alicloud`, "(set)", "no registry uses an ACR source", "remove refresher.alicloud");
  if (args.aws) {
    const aws = checkKeys(`${FIELD}.aws`, args.aws, ["irsa", "podIdentity", "provider"]);
    if ((aws.irsa === undefined) === (aws.podIdentity === undefined))
      throw new PolicyError(
        `${FIELD}.aws`,
        aws.irsa ? "irsa + podIdentity" : "(neither)",
        "give exactly one of irsa or podIdentity",
        "use irsa on clusters with an IAM OIDC provider, podIdentity where the EKS Pod Identity agent runs",
      );
    if (aws.irsa !== undefined) {
      const irsa = checkKeys(`${FIELD}.aws.irsa`, aws.irsa, ["oidcProviderArn", "roleArn"]);
      if ((irsa.oidcProviderArn === undefined) === (irsa.roleArn === undefined))
        throw new PolicyError(
          `${FIELD}.aws.irsa`,
          irsa.roleArn ? "oidcProviderArn + roleArn" : "(neither)",
          "give exactly one of oidcProviderArn (the role is created) or roleArn (an existing role)",
          "pass the cluster's IAM OIDC provider ARN, or the ARN of a role that trusts the refresher's service account",
        );
    } else {
      const pod = checkKeys(`${FIELD}.aws.podIdentity`, aws.podIdentity, ["clusterName", "roleArn"]);
      if (pod.roleArn !== undefined && pod.clusterName === undefined)
        throw new PolicyError(
          `${FIELD}.aws.podIdentity.roleArn`,
          "(set)",
          "a role is only used with an association the component creates",
          "give clusterName too, or leave both out when the association exists already",
        );
    }
  }
  if (args.alicloud) {
    const ali = checkKeys(`${FIELD}.alicloud`, args.alicloud, ["rrsa", "region", "provider"]);
    const rrsa = checkKeys(`${FIELD}.alicloud.rrsa`, ali.rrsa, ["oidcProviderArn", "roleArn", "oidcIssuerUrl"]);
    if (rrsa.oidcProviderArn === undefined)
      throw new PolicyError(
        `${FIELD}.alicloud.rrsa.oidcProviderArn`,
        undefined,
        "the OIDC provider is needed to assume the role (AssumeRoleWithOIDC)",
        "give the cluster's RRSA provider ARN, acs:ram::<account>:oidc-provider/ack-rrsa-<cluster id>",
      );
    if ((rrsa.roleArn === undefined) === (rrsa.oidcIssuerUrl === undefined))
      throw new PolicyError(
        `${FIELD}.alicloud.rrsa`,
        rrsa.roleArn ? "roleArn + oidcIssuerUrl" : "(neither)",
        "give exactly one of oidcIssuerUrl (the role is created) or roleArn (an existing role)",
        "pass the cluster's RRSA issuer URL, or the ARN of a RAM role that trusts the refresher's service account",
      );
  }
  // Hosts whose account/region the refresher must read from the host itself are checked now.
  for (const s of sources) {
    if (s.ecr && (s.ecr.registryId === undefined || s.ecr.region === undefined) && !ecrHostParts(s.key))
      ecrRefresherRegistry(s.field, s.key, {});
    if (s.acr && args.alicloud?.region === undefined && !acrHostRegion(s.key))
      acrRefresherRegistry(s.field, s.key, "", undefined);
  }
  const namespace = validateDnsLabel(`${FIELD}.namespace`, args.namespace ?? namespaces[0]);
  return {
    name,
    namespace,
    kinds,
    schedule: validateSchedule(`${FIELD}.schedule`, args.schedule ?? refresherSchedule(`${namespace}/${name}`, kinds)),
    image: validateImageReference(`${FIELD}.image`, args.image ?? DEFAULT_REFRESHER_IMAGE),
    imagePullSecrets: args.imagePullSecrets?.map((n, i) => validateDnsSubdomain(`${FIELD}.imagePullSecrets[${i}]`, n)),
    firstRun: !args.tokenInState,
  };
}

/**
 * The refresher of a {@link RegistryCredentialSecret} (created by it when `refresher` is set): the cloud identity,
 * the ConfigMap with the script, the service account, per-namespace RBAC, the CronJob and, when the secret starts
 * as a placeholder, the Job that fills it at once.
 */
export class PullSecretRefresher extends pulumi.ComponentResource {
  /** The CronJob (cast to `k8s.batch.v1.CronJob` to reach its spec). */
  public readonly cronJob: KubernetesObject;
  /** The Job that fills the secret on `pulumi up` (absent with `tokenInState`). */
  public readonly job?: KubernetesObject;
  public readonly serviceAccount: KubernetesObject;
  public readonly configMap: KubernetesObject;
  /** One per target namespace. */
  public readonly roles: KubernetesObject[];
  public readonly roleBindings: KubernetesObject[];
  /** The CronJob's schedule. */
  public readonly schedule: pulumi.Output<string>;
  /** The IAM role the pod assumes (created or given); absent for a Pod Identity association taken as given. */
  public readonly awsRoleArn?: pulumi.Output<string>;
  /** The RAM role the pod assumes (created or given). */
  public readonly alicloudRoleArn?: pulumi.Output<string>;

  constructor(name: string, inputs: PullSecretRefresherInputs, opts?: pulumi.ComponentResourceOptions) {
    super("registry-mirrors:index:PullSecretRefresher", name, {}, opts);
    const { settings: args, secretName, namespaces, sources } = inputs;
    const s = resolveRefresherArgs(secretName, namespaces, sources, args);
    this.schedule = pulumi.output(s.schedule);

    const registries: pulumi.Output<RefresherRegistry[]> = pulumi.all(
      sources.map((src) =>
        src.ecr
          ? pulumi
              .all([src.ecr.registryId, src.ecr.region])
              .apply(([registryId, region]) => ecrRefresherRegistry(src.field, src.key, { registryId, region }))
          : pulumi
              .output((src.acr as AcrTokenSource).instanceId)
              .apply((id) => acrRefresherRegistry(src.field, src.key, id, args.alicloud?.region)),
      ),
    );

    // Cloud identity: loaded here, each SDK subpath only on the path that creates its resources.
    const identityDeps: pulumi.Resource[] = [];
    let podAwsRoleArn: pulumi.Output<string> | undefined;
    if (args.aws) {
      const awsOpts: pulumi.CustomResourceOptions = {
        parent: this,
        ...(args.aws.provider ? { provider: args.aws.provider } : {}),
      };
      const iam = () => require("@pulumi/aws/iam") as typeof import("@pulumi/aws/iam");
      const createRole = (trust: pulumi.Input<string>) => {
        const role = new (iam().Role)(
          `${name}-refresher`,
          { assumeRolePolicy: trust, description: `registry-mirrors: renews the pull secret ${secretName}` },
          awsOpts,
        );
        identityDeps.push(
          new (iam().RolePolicy)(
            `${name}-refresher`,
            { role: role.id, policy: registries.apply(ecrPullPolicy) },
            awsOpts,
          ),
        );
        return role.arn;
      };
      if (args.aws.irsa) {
        const providerArn = args.aws.irsa.oidcProviderArn;
        podAwsRoleArn =
          providerArn !== undefined
            ? createRole(
                pulumi
                  .output(providerArn)
                  .apply((arn) => irsaTrustPolicy(`${FIELD}.aws.irsa.oidcProviderArn`, arn, s.namespace, s.name)),
              )
            : pulumi.output(args.aws.irsa.roleArn as pulumi.Input<string>);
        this.awsRoleArn = podAwsRoleArn;
      } else if (args.aws.podIdentity?.clusterName !== undefined) {
        const roleArn = args.aws.podIdentity.roleArn ?? createRole(podIdentityTrustPolicy());
        const eks = require("@pulumi/aws/eks") as typeof import("@pulumi/aws/eks");
        identityDeps.push(
          new eks.PodIdentityAssociation(
            `${name}-refresher`,
            { clusterName: args.aws.podIdentity.clusterName, namespace: s.namespace, serviceAccount: s.name, roleArn },
            awsOpts,
          ),
        );
        this.awsRoleArn = pulumi.output(roleArn);
      }
    }
    let podAlicloud: pulumi.Output<{ roleArn: string; oidcProviderArn: string }> | undefined;
    if (args.alicloud) {
      const rrsa = args.alicloud.rrsa;
      let roleArn: pulumi.Input<string>;
      if (rrsa.roleArn !== undefined) {
        roleArn = rrsa.roleArn;
      } else {
        const ram = require("@pulumi/alicloud/ram") as typeof import("@pulumi/alicloud/ram");
        const aliOpts: pulumi.CustomResourceOptions = {
          parent: this,
          ...(args.alicloud.provider ? { provider: args.alicloud.provider } : {}),
        };
        // RAM role and policy names are unique per account: the stack and component make them so.
        const roleName = `rm-${s.name.slice(0, 47)}-${uniqueSuffix(name)}`;
        const role = new ram.Role(
          `${name}-refresher`,
          {
            roleName,
            assumeRolePolicyDocument: pulumi
              .all([rrsa.oidcProviderArn, rrsa.oidcIssuerUrl as pulumi.Input<string>])
              .apply(([arn, issuer]) => rrsaTrustPolicy(arn, issuer, s.namespace, s.name)),
            description: `registry-mirrors: renews the pull secret ${secretName}`,
          },
          aliOpts,
        );
        const policy = new ram.Policy(
          `${name}-refresher`,
          { policyName: roleName, policyDocument: registries.apply(acrPullPolicy) },
          aliOpts,
        );
        identityDeps.push(
          new ram.RolePolicyAttachment(
            `${name}-refresher`,
            { policyName: policy.policyName, policyType: "Custom", roleName: role.roleName },
            aliOpts,
          ),
        );
        roleArn = role.arn;
      }
      this.alicloudRoleArn = pulumi.output(roleArn);
      podAlicloud = pulumi
        .all([roleArn, rrsa.oidcProviderArn])
        .apply(([arn, provider]) => ({ roleArn: arn, oidcProviderArn: provider }));
    }

    const manifests = pulumi.all([registries, podAwsRoleArn, podAlicloud]).apply(([regs, awsRoleArn, alicloud]) =>
      refresherManifests({
        name: s.name,
        namespace: s.namespace,
        image: s.image,
        schedule: s.schedule,
        imagePullSecrets: s.imagePullSecrets,
        firstRun: s.firstRun,
        config: { secretName, namespaces, registries: regs, ...(args.endpoints ? { endpoints: args.endpoints } : {}) },
        identity: { ...(awsRoleArn ? { awsRoleArn } : {}), ...(alicloud ? { alicloud } : {}) },
      }),
    );

    // Loaded here, not at the top: importing the package must not load the Kubernetes SDK.
    const core = require("@pulumi/kubernetes/core/v1") as typeof import("@pulumi/kubernetes/core/v1");
    const rbac = require("@pulumi/kubernetes/rbac/v1") as typeof import("@pulumi/kubernetes/rbac/v1");
    const batch = require("@pulumi/kubernetes/batch/v1") as typeof import("@pulumi/kubernetes/batch/v1");
    const k8sOpts: pulumi.CustomResourceOptions = {
      parent: this,
      ...(inputs.provider ? { provider: inputs.provider } : {}),
    };

    const configMap = new core.ConfigMap(
      `${name}-refresher`,
      { metadata: manifests.configMap.metadata, immutable: true, data: manifests.configMap.data },
      k8sOpts,
    );
    const serviceAccount = new core.ServiceAccount(
      `${name}-refresher`,
      { metadata: manifests.serviceAccount.metadata, automountServiceAccountToken: false },
      k8sOpts,
    );
    const roles: k8s.rbac.v1.Role[] = [];
    const roleBindings: k8s.rbac.v1.RoleBinding[] = [];
    namespaces.forEach((namespace, i) => {
      const role = new rbac.Role(
        `${name}-refresher-${namespace}`,
        { metadata: manifests.roles[i].metadata, rules: manifests.roles[i].rules },
        k8sOpts,
      );
      roles.push(role);
      roleBindings.push(
        new rbac.RoleBinding(
          `${name}-refresher-${namespace}`,
          {
            metadata: manifests.roleBindings[i].metadata,
            roleRef: manifests.roleBindings[i].roleRef,
            subjects: manifests.roleBindings[i].subjects,
          },
          { ...k8sOpts, dependsOn: [role, serviceAccount] },
        ),
      );
    });
    // The secrets exist before any run: the refresher only patches them.
    const runDeps = [configMap, serviceAccount, ...roleBindings, ...identityDeps, ...(inputs.secrets ?? [])];
    this.cronJob = new batch.CronJob(
      `${name}-refresher`,
      {
        metadata: manifests.cronJob.metadata,
        spec: manifests.cronJob.spec as unknown as pulumi.Input<k8s.types.input.batch.v1.CronJobSpec>,
      },
      { ...k8sOpts, dependsOn: runDeps },
    );
    if (s.firstRun) {
      const job = manifests.apply((m) => m.job as NonNullable<typeof m.job>);
      this.job = new batch.Job(
        `${name}-refresher-first-run`,
        { metadata: job.metadata, spec: job.spec as unknown as pulumi.Input<k8s.types.input.batch.v1.JobSpec> },
        { ...k8sOpts, dependsOn: runDeps },
      );
    }
    this.configMap = configMap;
    this.serviceAccount = serviceAccount;
    this.roles = roles;
    this.roleBindings = roleBindings;
    this.registerOutputs({
      schedule: this.schedule,
      awsRoleArn: this.awsRoleArn,
      alicloudRoleArn: this.alicloudRoleArn,
    });
  }
}

function uniqueSuffix(name: string): string {
  return createHash("sha256").update(`${pulumi.getProject()}/${pulumi.getStack()}/${name}`).digest("hex").slice(0, 8);
}
