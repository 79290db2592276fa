import * as pulumi from "@pulumi/pulumi";
import { PolicyError } from "../core/errors";
import { type RegistryCredential, type StaticCredentialInput, resolveStaticCredential } from "../core/kubernetes";

/**
 * An Amazon ECR authorization token, read with the `aws.ecr.getAuthorizationToken` data source on every
 * `pulumi up`. The token is valid for 12 hours: run `pulumi up` (or `pulumi up --target` on the secret) at least
 * every 12 hours, e.g. from a scheduled CI job, or pods that start later fail to pull.
 */
export interface EcrTokenSource {
  /** 12-digit AWS account ID of the registry. Default: the provider's account. */
  registryId?: pulumi.Input<string>;
  /** Region of the registry. Default: the AWS provider's region. */
  region?: pulumi.Input<string>;
}

/**
 * An Alibaba Cloud Container Registry Enterprise Edition temporary credential, read with the
 * `alicloud.cs.getRegistryEnterpriseInstances` data source (`tempUsername` + `authorizationToken`). Alibaba Cloud
 * issues it for **one hour** (GetAuthorizationToken), so it suits short-lived uses only; for a long-lived pull
 * secret give a RAM user's fixed registry password as `username`/`password` instead (the only option for ACR
 * Personal Edition), or run ACK's `aliyun-acr-credential-helper`, which refreshes tokens inside the cluster.
 */
export interface AcrTokenSource {
  /** Instance ID of the ACR Enterprise Edition instance, e.g. `cri-xxxxxxxxxxxx`. */
  instanceId: pulumi.Input<string>;
}

/** One registry's credential: static (`username` + `password`, or `auth`), or a cloud token source. */
export interface RegistryCredentialInput {
  /** User name (with `password`). */
  username?: pulumi.Input<string>;
  /** Password or access token (with `username`). */
  password?: pulumi.Input<string>;
  /** base64 of `username:password`, as in a Docker config file. If given with username/password they must agree. */
  auth?: pulumi.Input<string>;
  /** Read an Amazon ECR token instead (valid 12 hours, refreshed on each `pulumi up`). */
  ecr?: EcrTokenSource;
  /** Read an Alibaba Cloud ACR Enterprise Edition temporary token instead (valid 1 hour). */
  acr?: AcrTokenSource;
}

const CREDENTIAL_FIELDS = ["username", "password", "auth", "ecr", "acr"];

/** Which source an entry uses; throws when it mixes sources or has none. Works on unresolved inputs (checks presence only). */
export function credentialSource(field: string, input: unknown): "static" | "ecr" | "acr" {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new PolicyError(
      field,
      "(not an object)",
      "a registry credential must be an object",
      "give { username, password }, { auth }, { ecr: {...} } or { acr: { instanceId } }",
    );
  }
  for (const key of Object.keys(input)) {
    if (!CREDENTIAL_FIELDS.includes(key)) {
      throw new PolicyError(
        `${field}.${key}`,
        key,
        "unknown credential field",
        `use only ${CREDENTIAL_FIELDS.join(", ")}`,
      );
    }
  }
  const entry = input as Record<string, unknown>;
  const has = (k: string) => entry[k] !== undefined;
  const sources = [
    has("username") || has("password") || has("auth") ? "static" : undefined,
    has("ecr") ? "ecr" : undefined,
    has("acr") ? "acr" : undefined,
  ].filter((s): s is "static" | "ecr" | "acr" => s !== undefined);
  if (sources.length !== 1) {
    throw new PolicyError(
      field,
      sources.length === 0 ? "(empty)" : sources.join(" + "),
      sources.length === 0 ? "no credential given" : "more than one credential source given",
      "give exactly one of: username + password, auth, ecr, acr",
    );
  }
  return sources[0];
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

/** Resolves one registry's credential input (static or token source) to a secret Output. */
export function credentialOutput(
  field: string,
  input: pulumi.Unwrap<RegistryCredentialInput> | RegistryCredentialInput,
  opts?: pulumi.InvokeOutputOptions,
): pulumi.Output<RegistryCredential> {
  const source = credentialSource(field, input);
  if (source === "ecr") return ecrCredential(input.ecr as EcrTokenSource, opts);
  if (source === "acr") return acrCredential(input.acr as AcrTokenSource, opts);
  const parts = { username: input.username, password: input.password, auth: input.auth };
  // Plain values are checked now, so a bad credential fails the preview with a clear message.
  if (Object.values(parts).every((v) => v === undefined || typeof v === "string")) {
    return pulumi.secret(resolveStaticCredential(field, parts as StaticCredentialInput));
  }
  return pulumi.secret(pulumi.output(parts).apply((p) => resolveStaticCredential(field, p as StaticCredentialInput)));
}
