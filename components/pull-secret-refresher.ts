import * as pulumi from "@pulumi/pulumi";
import type * as k8s from "@pulumi/kubernetes";
import type { AcrTokenSource } from "./alicloud/acr-token";
import {
  type RefresherRegistry,
  acrRefresherRegistry,
  ecrRefresherRegistry,
  refresherManifests,
} from "./core/kubernetes";
import type { KubernetesObject } from "./kubernetes/node-config";
import { type PullSecretRefresherInputs, resolveRefresherArgs } from "./pull-secret-refresher-args";
import { refresherAlicloudIdentity, refresherAwsIdentity } from "./pull-secret-refresher-identity";

export {
  type PullSecretRefresherArgs,
  type PullSecretRefresherInputs,
  type RefresherAlicloudIdentity,
  type RefresherAwsIdentity,
  type RefresherSource,
  resolveRefresherArgs,
} from "./pull-secret-refresher-args";

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
    const scope = {
      parent: this,
      name,
      secretName,
      serviceAccount: { namespace: s.namespace, name: s.name },
      registries,
      identityDeps,
    };
    let podAwsRoleArn: pulumi.Output<string> | undefined;
    if (args.aws) {
      const aws = refresherAwsIdentity(scope, args.aws);
      podAwsRoleArn = aws.podRoleArn;
      if (aws.roleArn) this.awsRoleArn = aws.roleArn;
    }
    let podAlicloud: pulumi.Output<{ roleArn: string; oidcProviderArn: string }> | undefined;
    if (args.alicloud) {
      const alicloud = refresherAlicloudIdentity(scope, args.alicloud);
      this.alicloudRoleArn = alicloud.roleArn;
      podAlicloud = alicloud.pod;
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
