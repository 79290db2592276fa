import * as pulumi from "@pulumi/pulumi";
import type { RegistryCredential } from "../core/kubernetes";

/**
 * An Amazon ECR authorization token, valid for 12 hours. With `RegistryCredentialSecret`'s `refresher`, a CronJob in
 * the cluster renews it. Without one, it is read with the `aws.ecr.getAuthorizationToken` data source on every
 * `pulumi up`: run `pulumi up` (or `pulumi up --target` on the secret) at least every 12 hours, e.g. from a
 * scheduled CI job, or pods that start later fail to pull.
 */
export interface EcrTokenSource {
  /** 12-digit AWS account ID of the registry. Default: the provider's account. */
  registryId?: pulumi.Input<string>;
  /** Region of the registry. Default: the AWS provider's region. */
  region?: pulumi.Input<string>;
}

/** Reads an ECR token (loads only `@pulumi/aws/ecr`, and only when called). */
export function ecrCredential(
  source: EcrTokenSource,
  opts?: pulumi.InvokeOutputOptions,
): pulumi.Output<RegistryCredential> {
  const ecr = require("@pulumi/aws/ecr") as typeof import("@pulumi/aws/ecr");
  const token = ecr.getAuthorizationTokenOutput({ registryId: source.registryId, region: source.region }, opts);
  return pulumi.secret(token.apply((t) => ({ username: t.userName, password: t.password })));
}
