import * as pulumi from "@pulumi/pulumi";
import { type AcrTokenSource, acrCredential } from "./alicloud/acr-token";
import { type EcrTokenSource, ecrCredential } from "./aws/ecr-token";
import { PolicyError } from "./core/errors";
import { type RegistryCredential, type StaticCredentialInput, resolveStaticCredential } from "./core/kubernetes";
import { onResource } from "./outputs";

export type { AcrTokenSource, EcrTokenSource };

/** One registry's credential: static (`username` + `password`, or `auth`), or a cloud token source. */
export interface RegistryCredentialInput {
  /** User name (with `password`). */
  username?: pulumi.Input<string>;
  /** Password or access token (with `username`). */
  password?: pulumi.Input<string>;
  /** base64 of `username:password`, as in a Docker config file. If given with username/password they must agree. */
  auth?: pulumi.Input<string>;
  /** Read an Amazon ECR token instead (valid 12 hours; renewed by the `refresher`, or on each `pulumi up`). */
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
  return pulumi.secret(
    pulumi.output(parts).apply((p) =>
      onResource(
        () => opts?.parent,
        () => resolveStaticCredential(field, p as StaticCredentialInput),
      ),
    ),
  );
}
