/**
 * The in-cluster pull-secret refresher as plain Kubernetes manifests: the ConfigMap holding the script and its config,
 * the ServiceAccount, one Role and RoleBinding per target namespace (get/patch on the one secret, by name), the
 * CronJob, and the Job that fills a new secret at once. The Pulumi layer only wraps them in resources. Its config is
 * in refresher-config.ts, its IAM/RAM policy documents in refresher-policies.ts.
 */
import { createHash } from "node:crypto";
import type { ObjectMeta } from "./manifest-types";
import {
  REFRESHER_CONFIG_KEY,
  REFRESHER_MOUNT_PATH,
  REFRESHER_SCRIPT_KEY,
  type RefresherConfig,
  refresherModules,
  refresherScript,
} from "./refresher-config";

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
