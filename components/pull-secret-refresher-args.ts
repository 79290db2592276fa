/**
 * The settings of the in-cluster pull-secret refresher (PullSecretRefresher): the AWS and Alibaba Cloud
 * identities it may use, and the validation of its plain parts.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { AcrTokenSource } from "./alicloud/acr-token";
import type { EcrTokenSource } from "./aws/ecr-token";
import { PolicyError } from "./core/errors";
import {
  DEFAULT_REFRESHER_IMAGE,
  type RefresherEndpoints,
  acrRefresherRegistry,
  acrHostRegion,
  ecrHostParts,
  ecrRefresherRegistry,
  refresherSchedule,
  validateDnsLabel,
  validateDnsSubdomain,
  validateImageReference,
  validateSchedule,
} from "./core/kubernetes";

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

/** The field path of the refresher's settings in error messages. */
export const REFRESHER_FIELD = "refresher";
const FIELD = REFRESHER_FIELD;

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
