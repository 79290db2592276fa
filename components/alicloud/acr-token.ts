import * as pulumi from "@pulumi/pulumi";
import { PolicyError } from "../core/errors";
import type { RegistryCredential } from "../core/kubernetes";

/**
 * An Alibaba Cloud Container Registry Enterprise Edition temporary credential, read with the
 * `alicloud.cs.getRegistryEnterpriseInstances` data source (`tempUsername` + `authorizationToken`). Alibaba Cloud
 * issues it for **one hour** (GetAuthorizationToken). For a long-lived pull secret set `RegistryCredentialSecret`'s
 * `refresher` (a CronJob renews the token through RRSA every 15 minutes), or give a RAM user's fixed registry
 * password as `username`/`password` instead (the only option for ACR Personal Edition).
 */
export interface AcrTokenSource {
  /** Instance ID of the ACR Enterprise Edition instance, e.g. `cri-xxxxxxxxxxxx`. */
  instanceId: pulumi.Input<string>;
}

/** Reads an ACR Enterprise Edition temporary token (loads only `@pulumi/alicloud/cs`, and only when called). */
export function acrCredential(
  source: AcrTokenSource,
  opts?: pulumi.InvokeOutputOptions,
): pulumi.Output<RegistryCredential> {
  const cs = require("@pulumi/alicloud/cs") as typeof import("@pulumi/alicloud/cs");
  const instances = cs.getRegistryEnterpriseInstancesOutput({ ids: [source.instanceId], enableDetails: true }, opts);
  return pulumi.secret(
    pulumi.all([instances, source.instanceId]).apply(([result, id]) => {
      const instance = result.instances.find((i) => i.id === id);
      if (!instance?.tempUsername || !instance.authorizationToken) {
        throw new PolicyError(
          "acr.instanceId",
          id,
          "no ACR Enterprise Edition instance with a temporary token found",
          "check the instance ID (cri-...) and the region of the alicloud provider",
        );
      }
      return { username: instance.tempUsername, password: instance.authorizationToken };
    }),
  );
}
