/**
 * The in-cluster pull-secret refresher as plain Kubernetes manifests and IAM/RAM policy documents: the ConfigMap
 * holding the script and its config, the ServiceAccount, one Role and RoleBinding per target namespace (get/patch on
 * the one secret, by name), the CronJob, and the Job that fills a new secret at once. The Pulumi layer only wraps
 * them in resources.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PolicyError } from "../errors";
import { DEFAULT_NODE_CONFIG_IMAGE, type ObjectMeta } from "./manifests";

/** File names in the refresher's ConfigMap, mounted at {@link REFRESHER_MOUNT_PATH}. */
export const REFRESHER_SCRIPT_KEY = "pull-secret-refresher.py";
export const REFRESHER_CONFIG_KEY = "config.json";
export const REFRESHER_MOUNT_PATH = "/refresher";
/** The script's modules, keys of the same ConfigMap: Python finds them in the script's folder. */
export const REFRESHER_MODULE_KEYS = ["refresher_common.py", "refresher_clouds.py", "refresher_kube.py"] as const;

/**
 * Default image of the refresher: the same pinned Python Alpine image as the node-config DaemonSet, so one copy in a
 * private registry serves both. The script needs only `python3` and its standard library (urllib, ssl, hmac, json).
 */
export const DEFAULT_REFRESHER_IMAGE = DEFAULT_NODE_CONFIG_IMAGE;

/** Validity of the tokens, in seconds: ECR 12 hours, ACR Enterprise Edition temporary tokens 1 hour. */
export const TOKEN_VALIDITY_SECONDS = { ecr: 12 * 3600, acr: 3600 } as const;

/**
 * A token is stale (a warning line and the `registry-mirrors.dev/stale` annotation) once older than half its
 * validity: the schedule renews it four times per validity, so stale means two renewals in a row failed, with half
 * the validity left to fix it.
 */
export const SAFE_AGE_SECONDS = { ecr: TOKEN_VALIDITY_SECONDS.ecr / 2, acr: TOKEN_VALIDITY_SECONDS.acr / 2 } as const;

/** The refresher program (Python 3.8+, standard library only). */
export function refresherScript(): string {
  return readFileSync(join(__dirname, REFRESHER_SCRIPT_KEY), "utf8");
}

/** The refresher's modules by file name ({@link REFRESHER_MODULE_KEYS}). */
export function refresherModules(): Record<string, string> {
  return Object.fromEntries(REFRESHER_MODULE_KEYS.map((key) => [key, readFileSync(join(__dirname, key), "utf8")]));
}

/** One registry the refresher renews, as its config gives it. */
export type RefresherRegistry =
  | { key: string; source: "ecr"; registryId: string; region: string; domain: string; safeAgeSeconds: number }
  | { key: string; source: "acr"; instanceId: string; region: string; safeAgeSeconds: number };

/** Endpoint URL templates (`{region}`, `{domain}`), to reach STS/ECR/ACR through VPC or FIPS endpoints. */
export interface RefresherEndpoints {
  /** AWS STS. Default `https://sts.{region}.{domain}`. */
  awsSts?: string;
  /** ECR API. Default `https://api.ecr.{region}.{domain}`. */
  ecr?: string;
  /** Alibaba Cloud STS. Default `https://sts.{region}.aliyuncs.com`. */
  alicloudSts?: string;
  /** ACR API. Default `https://cr.{region}.aliyuncs.com`. */
  acr?: string;
}

/** The refresher's config file (config.json). */
export interface RefresherConfig {
  secretName: string;
  namespaces: string[];
  registries: RefresherRegistry[];
  endpoints?: RefresherEndpoints;
}

const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d)\.(amazonaws\.com(?:\.cn)?)$/;
const ACR_HOST = /^[a-z0-9][-a-z0-9]*-registry(?:-vpc)?\.([a-z]{2}-[a-z0-9-]+)\.cr\.aliyuncs\.com$/;

/** Account, region and domain of an ECR registry host (`123456789012.dkr.ecr.us-east-1.amazonaws.com`). */
export function ecrHostParts(host: string): { registryId: string; region: string; domain: string } | undefined {
  const m = ECR_HOST.exec(host);
  return m ? { registryId: m[1], region: m[2], domain: m[3] } : undefined;
}

/** Region of an ACR Enterprise Edition registry host (`<instance>-registry[-vpc].<region>.cr.aliyuncs.com`). */
export function acrHostRegion(host: string): string | undefined {
  return ACR_HOST.exec(host)?.[1];
}

/** The ECR entry of the config, from the host and the source's own (resolved) registryId/region. */
export function ecrRefresherRegistry(
  field: string,
  key: string,
  source: { registryId?: string; region?: string },
): RefresherRegistry {
  const parts = ecrHostParts(key);
  const registryId = source.registryId ?? parts?.registryId;
  const region = source.region ?? parts?.region;
  if (!registryId || !region) {
    throw new PolicyError(
      field,
      key,
      "the refresher cannot tell the ECR account and region from this host",
      "use the registry's own host (<account>.dkr.ecr.<region>.amazonaws.com) or give ecr.registryId and ecr.region",
    );
  }
  const domain = parts?.domain ?? (region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com");
  return { key, source: "ecr", registryId, region, domain, safeAgeSeconds: SAFE_AGE_SECONDS.ecr };
}

/** The ACR entry of the config; the region comes from `region` or the host. */
export function acrRefresherRegistry(
  field: string,
  key: string,
  instanceId: string,
  region?: string,
): RefresherRegistry {
  const r = region ?? acrHostRegion(key);
  if (!r) {
    throw new PolicyError(
      field,
      key,
      "the refresher cannot tell the ACR region from this host",
      "use the instance's registry host (<name>-registry.<region>.cr.aliyuncs.com) or set refresher.alicloud.region",
    );
  }
  return { key, source: "acr", instanceId, region: r, safeAgeSeconds: SAFE_AGE_SECONDS.acr };
}

/**
 * The CronJob schedule: every 3 hours when only ECR tokens (12 h) are renewed, every 15 minutes with an ACR token
 * (1 h) — four renewals per validity, so two failed runs in a row still leave a valid token. The minute is spread
 * by the name, so many refreshers do not all call the cloud APIs at the same second.
 */
export function refresherSchedule(name: string, sources: ReadonlyArray<"ecr" | "acr">): string {
  const minute = createHash("sha256").update(name).digest()[0] % 60;
  if (sources.includes("acr")) return `${minute % 15}-59/15 * * * *`;
  return `${minute} */3 * * *`;
}

/** Validates a five-field cron schedule as the CronJob controller reads it (or a `@hourly`-style macro). */
export function validateSchedule(field: string, value: unknown): string {
  const macros = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];
  const fieldOk = (f: string) =>
    /^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/[0-9]+)?)*$/.test(f);
  if (
    typeof value !== "string" ||
    !(macros.includes(value) || (value.split(" ").length === 5 && value.split(" ").every(fieldOk)))
  ) {
    throw new PolicyError(
      field,
      value,
      "not a five-field cron schedule",
      'write e.g. "17 */3 * * *" (every 3 hours), and renew at least every quarter of the token validity',
    );
  }
  return value;
}

/** How the pod gets its cloud identity (the env and projected token it needs; EKS Pod Identity needs none). */
export interface RefresherPodIdentity {
  /** IRSA: the role to assume with the pod's projected service account token (audience `sts.amazonaws.com`). */
  awsRoleArn?: string;
  /** RRSA: the RAM role and the cluster's OIDC provider (token audience `sts.aliyuncs.com`). */
  alicloud?: { roleArn: string; oidcProviderArn: string };
}

/** The plain settings of the refresher's manifests. */
export interface RefresherSpec {
  /** Name of the CronJob, ServiceAccount, Roles and RoleBindings (a DNS label of at most 52 characters). */
  name: string;
  /** Namespace of the CronJob and its ServiceAccount. */
  namespace: string;
  image: string;
  schedule: string;
  config: RefresherConfig;
  identity: RefresherPodIdentity;
  imagePullSecrets?: string[];
  /** Also a Job that runs once now (and whenever the config changes), to fill a placeholder secret at once. */
  firstRun: boolean;
}

const IRSA_TOKEN_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
const RRSA_TOKEN_DIR = "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens";

/** The manifests of the refresher. */
export interface RefresherManifests {
  configMap: {
    apiVersion: "v1";
    kind: "ConfigMap";
    metadata: ObjectMeta;
    immutable: true;
    data: Record<string, string>;
  };
  serviceAccount: {
    apiVersion: "v1";
    kind: "ServiceAccount";
    metadata: ObjectMeta;
    automountServiceAccountToken: false;
  };
  roles: Array<{
    apiVersion: "rbac.authorization.k8s.io/v1";
    kind: "Role";
    metadata: ObjectMeta;
    rules: Array<{ apiGroups: string[]; resources: string[]; resourceNames: string[]; verbs: string[] }>;
  }>;
  roleBindings: Array<{
    apiVersion: "rbac.authorization.k8s.io/v1";
    kind: "RoleBinding";
    metadata: ObjectMeta;
    roleRef: { apiGroup: "rbac.authorization.k8s.io"; kind: "Role"; name: string };
    subjects: Array<{ kind: "ServiceAccount"; name: string; namespace: string }>;
  }>;
  cronJob: { apiVersion: "batch/v1"; kind: "CronJob"; metadata: ObjectMeta; spec: Record<string, unknown> };
  job?: { apiVersion: "batch/v1"; kind: "Job"; metadata: ObjectMeta; spec: Record<string, unknown> };
}

/** The refresher's manifests; names and content are a pure function of the spec. */
export function refresherManifests(spec: RefresherSpec): RefresherManifests {
  const selector = {
    "app.kubernetes.io/name": "registry-mirrors-pull-secret-refresher",
    "app.kubernetes.io/instance": spec.name,
  };
  const labels = {
    ...selector,
    "app.kubernetes.io/managed-by": "pulumi",
    "app.kubernetes.io/part-of": "registry-mirrors",
  };
  const configJson = `${JSON.stringify(spec.config, null, 2)}\n`;
  const data = { [REFRESHER_CONFIG_KEY]: configJson, [REFRESHER_SCRIPT_KEY]: refresherScript(), ...refresherModules() };
  const configHash = createHash("sha256").update(JSON.stringify(data)).digest("hex");
  const configMapName = `${spec.name}-${configHash.slice(0, 10)}`;

  const env: Array<{ name: string; value: string }> = [];
  const mounts = [{ name: "refresher", mountPath: REFRESHER_MOUNT_PATH, readOnly: true }];
  const volumes: Array<Record<string, unknown>> = [
    { name: "refresher", configMap: { name: configMapName, defaultMode: 0o444 } },
  ];
  const projected = (name: string, audience: string, dir: string) => {
    mounts.push({ name, mountPath: dir, readOnly: true });
    volumes.push({
      name,
      projected: {
        defaultMode: 0o444,
        sources: [{ serviceAccountToken: { audience, expirationSeconds: 3600, path: "token" } }],
      },
    });
  };
  if (spec.identity.awsRoleArn) {
    env.push(
      { name: "AWS_ROLE_ARN", value: spec.identity.awsRoleArn },
      { name: "AWS_WEB_IDENTITY_TOKEN_FILE", value: `${IRSA_TOKEN_DIR}/token` },
    );
    projected("aws-iam-token", "sts.amazonaws.com", IRSA_TOKEN_DIR);
  }
  if (spec.identity.alicloud) {
    env.push(
      { name: "ALIBABA_CLOUD_ROLE_ARN", value: spec.identity.alicloud.roleArn },
      { name: "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", value: spec.identity.alicloud.oidcProviderArn },
      { name: "ALIBABA_CLOUD_OIDC_TOKEN_FILE", value: `${RRSA_TOKEN_DIR}/token` },
    );
    projected("rrsa-oidc-token", "sts.aliyuncs.com", RRSA_TOKEN_DIR);
  }

  const podSpec = {
    serviceAccountName: spec.name,
    // The Kubernetes API token is needed (to patch the secrets); the SA itself does not mount one elsewhere.
    automountServiceAccountToken: true,
    enableServiceLinks: false,
    restartPolicy: "Never",
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65534,
      runAsGroup: 65534,
      seccompProfile: { type: "RuntimeDefault" },
    },
    ...(spec.imagePullSecrets?.length ? { imagePullSecrets: spec.imagePullSecrets.map((name) => ({ name })) } : {}),
    containers: [
      {
        name: "refresh",
        image: spec.image,
        imagePullPolicy: "IfNotPresent",
        command: [
          "python3",
          `${REFRESHER_MOUNT_PATH}/${REFRESHER_SCRIPT_KEY}`,
          `${REFRESHER_MOUNT_PATH}/${REFRESHER_CONFIG_KEY}`,
        ],
        ...(env.length ? { env } : {}),
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        },
        resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
        volumeMounts: mounts,
      },
    ],
    volumes,
  };
  const template = { metadata: { labels }, spec: podSpec };
  const meta = (namespace: string, name = spec.name): ObjectMeta => ({ name, namespace, labels });

  const manifests: RefresherManifests = {
    configMap: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: meta(spec.namespace, configMapName),
      immutable: true,
      data,
    },
    serviceAccount: {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: meta(spec.namespace),
      automountServiceAccountToken: false,
    },
    roles: spec.config.namespaces.map((namespace) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: meta(namespace),
      rules: [
        { apiGroups: [""], resources: ["secrets"], resourceNames: [spec.config.secretName], verbs: ["get", "patch"] },
      ],
    })),
    roleBindings: spec.config.namespaces.map((namespace) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta(namespace),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: spec.name },
      subjects: [{ kind: "ServiceAccount", name: spec.name, namespace: spec.namespace }],
    })),
    cronJob: {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: meta(spec.namespace),
      spec: {
        schedule: spec.schedule,
        concurrencyPolicy: "Forbid",
        startingDeadlineSeconds: 300,
        successfulJobsHistoryLimit: 1,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: { backoffLimit: 2, activeDeadlineSeconds: 300, template },
        },
      },
    },
  };
  if (spec.firstRun) {
    // Named by its content: a new config (or image, or identity) runs it again; pulumi up waits for it to finish.
    const jobHash = createHash("sha256").update(JSON.stringify(template)).digest("hex");
    manifests.job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: meta(spec.namespace, `${spec.name}-${jobHash.slice(0, 10)}`),
      // Retries absorb IAM/RAM propagation right after the role is created (backoff 10 s, 20 s, 40 s, 80 s).
      spec: { backoffLimit: 4, activeDeadlineSeconds: 600, template },
    };
  }
  return manifests;
}

/** The secret's content before the refresher's first run: an empty `auths`, which the API server accepts. */
export const PLACEHOLDER_DOCKER_CONFIG_JSON = '{"auths":{}}';

// ---------------------------------------------------------------- cloud identity documents

/** The service account subject `system:serviceaccount:<ns>:<name>`. */
export function serviceAccountSubject(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** IRSA trust policy: the cluster's OIDC provider may assume the role for this one service account. */
export function irsaTrustPolicy(field: string, oidcProviderArn: string, namespace: string, name: string): string {
  const m = /^arn:(aws[-a-z]*):iam::\d{12}:oidc-provider\/(.+)$/.exec(oidcProviderArn);
  if (!m) {
    throw new PolicyError(
      field,
      oidcProviderArn,
      "not an IAM OIDC provider ARN",
      "give the cluster's provider, e.g. arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE (aws.eks.Cluster identities / aws.iam.OpenIdConnectProvider arn)",
    );
  }
  const issuer = m[2];
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: oidcProviderArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${issuer}:aud`]: "sts.amazonaws.com",
            [`${issuer}:sub`]: serviceAccountSubject(namespace, name),
          },
        },
      },
    ],
  });
}

/** EKS Pod Identity trust policy (the association names the service account). */
export function podIdentityTrustPolicy(): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: "pods.eks.amazonaws.com" },
        Action: ["sts:AssumeRole", "sts:TagSession"],
      },
    ],
  });
}

function awsPartition(domain: string): string {
  return domain.endsWith(".cn") ? "aws-cn" : "aws";
}

/**
 * The refresher role's permissions: a token (`ecr:GetAuthorizationToken` has no resource scope) and pulls from the
 * renewed registries' repositories — an ECR token only carries the permissions of the identity that asked for it.
 */
export function ecrPullPolicy(registries: RefresherRegistry[]): string {
  const repos = registries
    .filter((r) => r.source === "ecr")
    .map((r) => `arn:${awsPartition(r.domain)}:ecr:${r.region}:${r.registryId}:repository/*`);
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
      {
        Effect: "Allow",
        Action: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        Resource: [...new Set(repos)].sort(),
      },
    ],
  });
}

/** RRSA trust policy of a RAM role: the cluster's OIDC provider, for this one service account. */
export function rrsaTrustPolicy(oidcProviderArn: string, issuerUrl: string, namespace: string, name: string): string {
  return JSON.stringify({
    Version: "1",
    Statement: [
      {
        Effect: "Allow",
        Action: "sts:AssumeRole",
        Principal: { Federated: [oidcProviderArn] },
        Condition: {
          StringEquals: {
            "oidc:aud": ["sts.aliyuncs.com"],
            "oidc:iss": [issuerUrl],
            "oidc:sub": [serviceAccountSubject(namespace, name)],
          },
        },
      },
    ],
  });
}

/** The RAM role's permissions: a temporary token of each ACR instance, and pulls from its repositories. */
export function acrPullPolicy(registries: RefresherRegistry[]): string {
  const ids = [...new Set(registries.flatMap((r) => (r.source === "acr" ? [r.instanceId] : [])))].sort();
  return JSON.stringify({
    Version: "1",
    Statement: [
      { Effect: "Allow", Action: ["cr:GetAuthorizationToken"], Resource: ids.map((id) => `acs:cr:*:*:instance/${id}`) },
      { Effect: "Allow", Action: ["cr:PullRepository"], Resource: ids.map((id) => `acs:cr:*:*:repository/${id}/*`) },
    ],
  });
}
