/**
 * The cloud identity of the in-cluster pull-secret refresher: the IAM role (IRSA or EKS Pod Identity) for ECR
 * sources and the RAM role (RRSA) for ACR sources, each SDK subpath loaded only on the path that creates its
 * resources.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import {
  type RefresherRegistry,
  acrPullPolicy,
  ecrPullPolicy,
  irsaTrustPolicy,
  podIdentityTrustPolicy,
  rrsaTrustPolicy,
} from "./core/kubernetes";
import {
  REFRESHER_FIELD,
  type RefresherAlicloudIdentity,
  type RefresherAwsIdentity,
} from "./pull-secret-refresher-args";

/** What the identity's resources belong to and are named after. */
export interface RefresherIdentityScope {
  /** The component that parents the resources. */
  parent: pulumi.Resource;
  /** The component's name, which the resources' names start with. */
  name: string;
  secretName: string;
  /** The refresher's service account. */
  serviceAccount: { namespace: string; name: string };
  registries: pulumi.Output<RefresherRegistry[]>;
  /** Receives the resources a run of the refresher needs first. */
  identityDeps: pulumi.Resource[];
}

/**
 * The AWS identity: `podRoleArn` is the role the pod assumes itself (IRSA), `roleArn` the role the component reports
 * (created or given; absent for a Pod Identity association taken as given).
 */
export function refresherAwsIdentity(
  scope: RefresherIdentityScope,
  aws: RefresherAwsIdentity,
): { podRoleArn?: pulumi.Output<string>; roleArn?: pulumi.Output<string> } {
  const { parent, name, secretName, registries, identityDeps } = scope;
  const s = scope.serviceAccount;
  const awsOpts: pulumi.CustomResourceOptions = {
    parent,
    ...(aws.provider ? { provider: aws.provider } : {}),
  };
  const iam = () => require("@pulumi/aws/iam") as typeof import("@pulumi/aws/iam");
  const createRole = (trust: pulumi.Input<string>) => {
    const role = new (iam().Role)(
      `${name}-refresher`,
      { assumeRolePolicy: trust, description: `registry-mirrors: renews the pull secret ${secretName}` },
      awsOpts,
    );
    identityDeps.push(
      new (iam().RolePolicy)(`${name}-refresher`, { role: role.id, policy: registries.apply(ecrPullPolicy) }, awsOpts),
    );
    return role.arn;
  };
  if (aws.irsa) {
    const providerArn = aws.irsa.oidcProviderArn;
    const podRoleArn =
      providerArn !== undefined
        ? createRole(
            pulumi
              .output(providerArn)
              .apply((arn) => irsaTrustPolicy(`${REFRESHER_FIELD}.aws.irsa.oidcProviderArn`, arn, s.namespace, s.name)),
          )
        : pulumi.output(aws.irsa.roleArn as pulumi.Input<string>);
    return { podRoleArn, roleArn: podRoleArn };
  }
  if (aws.podIdentity?.clusterName !== undefined) {
    const roleArn = aws.podIdentity.roleArn ?? createRole(podIdentityTrustPolicy());
    const eks = require("@pulumi/aws/eks") as typeof import("@pulumi/aws/eks");
    identityDeps.push(
      new eks.PodIdentityAssociation(
        `${name}-refresher`,
        { clusterName: aws.podIdentity.clusterName, namespace: s.namespace, serviceAccount: s.name, roleArn },
        awsOpts,
      ),
    );
    return { roleArn: pulumi.output(roleArn) };
  }
  return {};
}

/** The Alibaba Cloud identity: the RAM role (created or given) and what the pod needs to assume it. */
export function refresherAlicloudIdentity(
  scope: RefresherIdentityScope,
  alicloud: RefresherAlicloudIdentity,
): { roleArn: pulumi.Output<string>; pod: pulumi.Output<{ roleArn: string; oidcProviderArn: string }> } {
  const { parent, name, secretName, registries, identityDeps } = scope;
  const s = scope.serviceAccount;
  const rrsa = alicloud.rrsa;
  let roleArn: pulumi.Input<string>;
  if (rrsa.roleArn !== undefined) {
    roleArn = rrsa.roleArn;
  } else {
    const ram = require("@pulumi/alicloud/ram") as typeof import("@pulumi/alicloud/ram");
    const aliOpts: pulumi.CustomResourceOptions = {
      parent,
      ...(alicloud.provider ? { provider: alicloud.provider } : {}),
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
  return {
    roleArn: pulumi.output(roleArn),
    pod: pulumi
      .all([roleArn, rrsa.oidcProviderArn])
      .apply(([arn, provider]) => ({ roleArn: arn, oidcProviderArn: provider })),
  };
}

function uniqueSuffix(name: string): string {
  return createHash("sha256").update(`${pulumi.getProject()}/${pulumi.getStack()}/${name}`).digest("hex").slice(0, 8);
}
