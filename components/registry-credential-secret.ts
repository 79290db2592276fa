import * as pulumi from "@pulumi/pulumi";
import { PolicyError } from "./core/errors";
import {
  PLACEHOLDER_DOCKER_CONFIG_JSON,
  type RegistryCredential,
  dockerConfigJson,
  registryAuthKey,
  validateDnsLabel,
  validateDnsSubdomain,
} from "./core/kubernetes";
// Loads no SDK at import time: the ECR/ACR SDK subpaths are required only when a token source is used.
import { type RegistryCredentialInput, credentialOutput, credentialSource } from "./credentials";
import type { KubernetesObject } from "./kubernetes/node-config";
import {
  PullSecretRefresher,
  type PullSecretRefresherArgs,
  type RefresherSource,
  resolveRefresherArgs,
} from "./pull-secret-refresher";
import { stackUniqueName } from "./names";
import { isKnown, onResource } from "./outputs";

export type { AcrTokenSource, EcrTokenSource, RegistryCredentialInput } from "./credentials";
export type {
  PullSecretRefresherArgs,
  RefresherAlicloudIdentity,
  RefresherAwsIdentity,
} from "./pull-secret-refresher";

/** Arguments of {@link RegistryCredentialSecret}. */
export interface RegistryCredentialSecretArgs {
  /**
   * Credentials by registry host (`host[:port]`, e.g. `ghcr.io`, `123456789012.dkr.ecr.us-east-1.amazonaws.com`,
   * `docker.io`): `{ username, password }`, `{ auth }`, `{ ecr: {...} }` or `{ acr: { instanceId } }`. Pass
   * passwords as Pulumi secrets (`config.requireSecret`); the Secret's data is a Pulumi secret either way.
   */
  registries: pulumi.Input<Record<string, pulumi.Input<RegistryCredentialInput>>>;
  /**
   * Namespaces to create the Secret in (each must exist), e.g. a `k8s.core.v1.Namespace`'s `metadata.name`. The
   * list itself is plain (one Secret per entry); a namespace given as an Output is checked when it resolves, and its
   * Secret's Pulumi name uses its position (`<name>-ns<index>`) instead of the namespace. Default `["default"]`.
   */
  namespaces?: pulumi.Input<string>[];
  /**
   * Name of the Secret in every namespace: pods and service accounts reference it (read it from `secretName`).
   * Default `<component name>-<stack>`, so two stacks of one program never share (and fight over) one Secret.
   */
  secretName?: string;
  /**
   * Service accounts (in every namespace) whose `imagePullSecrets` get this Secret, by a server-side apply patch.
   * `imagePullSecrets` is an atomic list: the patch sets the whole list (this Secret plus `keepImagePullSecrets`)
   * and fails with a field-manager conflict, changing nothing, if another tool owns the list.
   */
  serviceAccounts?: string[];
  /** Other pull secrets the patched service accounts must keep (the list is replaced as a whole). */
  keepImagePullSecrets?: string[];
  /** The Kubernetes provider (default: the ambient or parent's provider). */
  provider?: pulumi.ProviderResource;
  /**
   * Keep the secret valid in the cluster, without a scheduled `pulumi up`: a CronJob renews the ECR/ACR tokens
   * well before they expire and patches this secret in every namespace (see {@link PullSecretRefresherArgs}).
   * Every registry must then use an `ecr` or `acr` source, and `registries` must be a plain map (its values may
   * hold Outputs): static credentials belong in a second `RegistryCredentialSecret`, since the refresher owns the
   * whole `.dockerconfigjson`. The secret's data is in `ignoreChanges`; by default the token never enters state.
   */
  refresher?: PullSecretRefresherArgs;
}

/** The registries of a refreshed secret: a plain map of `ecr`/`acr` sources (their fields may be Outputs). */
function refresherSources(registries: RegistryCredentialSecretArgs["registries"]): RefresherSource[] {
  if (pulumi.Output.isInstance(registries) || registries instanceof Promise || typeof registries !== "object")
    throw new PolicyError(
      "registries",
      "(an Output)",
      "with a refresher the registry map must be known at preview time",
      "pass a plain object { host: { ecr: {...} } }; its values may hold Outputs",
    );
  const hosts = Object.keys(registries);
  if (hosts.length === 0)
    throw new PolicyError(
      "registries",
      registries,
      "no registry given",
      'add at least one entry, e.g. { "<account>.dkr.ecr.<region>.amazonaws.com": { ecr: {} } }',
    );
  const seen = new Map<string, string>();
  return hosts.map((host) => {
    const field = `registries["${host}"]`;
    const entry = registries[host];
    if (pulumi.Output.isInstance(entry) || entry instanceof Promise)
      throw new PolicyError(
        field,
        "(an Output)",
        "with a refresher each entry must be a plain object",
        "write { ecr: {...} } or { acr: { instanceId } }; its fields may be Outputs",
      );
    const source = credentialSource(field, entry);
    if (source === "static")
      throw new PolicyError(
        field,
        "username/password/auth",
        "a refreshed secret holds only ECR/ACR token sources (the refresher rewrites the whole document)",
        "put static credentials in a second RegistryCredentialSecret: pods and service accounts can list several pull secrets",
      );
    const key = registryAuthKey(field, host);
    const clash = seen.get(key);
    if (clash !== undefined)
      throw new PolicyError(
        "registries",
        host,
        `"${host}" and "${clash}" are the same registry`,
        "keep one entry per registry",
      );
    seen.set(key, host);
    const e = entry as RegistryCredentialInput;
    return { key, field, ...(source === "ecr" ? { ecr: e.ecr } : { acr: e.acr }) };
  });
}

function uniqueNames(
  field: string,
  values: string[] | undefined,
  check: (f: string, v: unknown) => string,
): string[] | undefined {
  if (values === undefined) return undefined;
  if (!Array.isArray(values))
    throw new PolicyError(field, values, "must be a list of names", `write ${field}: ["name"]`);
  values.forEach((v, i) => check(`${field}[${i}]`, v));
  const dup = values.find((v, i) => values.indexOf(v) !== i);
  if (dup !== undefined) throw new PolicyError(field, dup, "listed twice", "list each name once");
  return values;
}

/**
 * A `kubernetes.io/dockerconfigjson` pull secret for one or more registries, in one or more namespaces, from static
 * credentials or a cloud token source (ECR, ACR); always a Pulumi secret. Optionally added to service accounts'
 * `imagePullSecrets`.
 */
export class RegistryCredentialSecret extends pulumi.ComponentResource {
  /** Name of the Secret (the same in every namespace). */
  public readonly secretName: pulumi.Output<string>;
  /** Namespaces holding the Secret. */
  public readonly namespaces: pulumi.Output<string[]>;
  /** The keys of `auths` in the Secret, sorted (Docker Hub as `https://index.docker.io/v1/`). */
  public readonly registries: pulumi.Output<string[]>;
  /**
   * The `.dockerconfigjson` document (a Pulumi secret). With a `refresher` (and `tokenInState` unset) it is the
   * placeholder `{"auths":{}}` the secret starts with: the live document exists only in the cluster.
   */
  public readonly dockerConfigJson: pulumi.Output<string>;
  /** The Secret in each namespace. */
  public readonly secrets: KubernetesObject[];
  /** The in-cluster refresher, when `refresher` is set. */
  public readonly refresher?: PullSecretRefresher;

  constructor(name: string, args: RegistryCredentialSecretArgs, opts?: pulumi.ComponentResourceOptions) {
    super("registry-mirrors:index:RegistryCredentialSecret", name, {}, opts);

    const secretName = validateDnsSubdomain("secretName", args.secretName ?? stackUniqueName(name, 253));
    if (args.namespaces !== undefined && !Array.isArray(args.namespaces))
      throw new PolicyError(
        "namespaces",
        isKnown(args.namespaces) ? args.namespaces : "(an Output)",
        "must be a list (one Secret is created per namespace, so the list itself cannot be an Output)",
        'write namespaces: ["team-a", ns.metadata.name]',
      );
    const namespaceInputs: pulumi.Input<string>[] = args.namespaces ?? ["default"];
    if (namespaceInputs.length === 0)
      throw new PolicyError(
        "namespaces",
        namespaceInputs,
        "no namespace given",
        'list at least one namespace, or leave namespaces out for ["default"]',
      );
    const knownNamespaces = namespaceInputs.every(isKnown);
    if (knownNamespaces) uniqueNames("namespaces", namespaceInputs as string[], validateDnsLabel);
    const checkedNamespaces = pulumi.output(namespaceInputs).apply((list) =>
      onResource(
        () => this,
        () => uniqueNames("namespaces", list, validateDnsLabel) as string[],
      ),
    );
    const serviceAccounts = uniqueNames("serviceAccounts", args.serviceAccounts, validateDnsSubdomain) ?? [];
    const keep = uniqueNames("keepImagePullSecrets", args.keepImagePullSecrets, validateDnsSubdomain) ?? [];

    // Loaded here, not at the top: importing the package must not load the Kubernetes SDK.
    const core = require("@pulumi/kubernetes/core/v1") as typeof import("@pulumi/kubernetes/core/v1");
    const invokeOpts: pulumi.InvokeOutputOptions = { parent: this };

    const resolve = (map: Record<string, pulumi.Input<RegistryCredentialInput>>) => {
      const hosts = Object.keys(map);
      if (hosts.length === 0) {
        throw new PolicyError(
          "registries",
          map,
          "no registry given",
          'add at least one entry, e.g. { "ghcr.io": { username, password } }',
        );
      }
      const keys: Record<string, string> = {};
      for (const host of hosts) {
        const key = registryAuthKey(`registries["${host}"]`, host);
        const clash = Object.keys(keys).find((h) => keys[h] === key);
        if (clash)
          throw new PolicyError(
            "registries",
            host,
            `"${host}" and "${clash}" are the same registry`,
            "keep one entry per registry",
          );
        keys[host] = key;
      }
      const credentials = hosts.map((host) => {
        const field = `registries["${host}"]`;
        const entry = map[host];
        return pulumi.Output.isInstance(entry) || entry instanceof Promise
          ? pulumi.output(entry).apply((e) =>
              onResource(
                () => this,
                () => credentialOutput(field, e as RegistryCredentialInput, invokeOpts),
              ),
            )
          : credentialOutput(field, entry, invokeOpts);
      });
      return pulumi.all(credentials).apply((creds) => {
        const byKey: Record<string, RegistryCredential> = {};
        hosts.forEach((host, i) => (byKey[keys[host]] = creds[i]));
        return byKey;
      });
    };

    // A map known now is checked now, so a bad key fails the preview with a clear message; one known later fails
    // with the same message, as an error on this component.
    const registries = args.registries;
    const sources = args.refresher ? refresherSources(registries) : undefined;
    if (sources && !knownNamespaces)
      throw new PolicyError(
        "namespaces",
        "(an Output)",
        "with a refresher the namespaces must be known at preview time (its Role is made per namespace)",
        'write the namespaces as plain names, e.g. namespaces: ["team-a"]',
      );
    // Checked before any resource exists, so a bad refresher setting creates nothing.
    if (sources && args.refresher)
      resolveRefresherArgs(secretName, namespaceInputs as string[], sources, args.refresher);
    const placeholder = sources !== undefined && !args.refresher?.tokenInState;
    const credentials = placeholder
      ? undefined
      : pulumi.Output.isInstance(registries) || registries instanceof Promise
        ? pulumi.output(registries).apply((map) =>
            onResource(
              () => this,
              () => resolve(map as Record<string, RegistryCredentialInput>),
            ),
          )
        : resolve(registries as Record<string, pulumi.Input<RegistryCredentialInput>>);

    this.dockerConfigJson = pulumi.secret(
      credentials ? credentials.apply(dockerConfigJson) : pulumi.output(PLACEHOLDER_DOCKER_CONFIG_JSON),
    );
    this.registries = credentials
      ? pulumi.unsecret(credentials.apply((c) => Object.keys(c).sort()))
      : pulumi.output([...new Set((sources as RefresherSource[]).map((s) => s.key))].sort());
    this.secretName = pulumi.output(secretName);
    this.namespaces = checkedNamespaces;

    const childOpts: pulumi.CustomResourceOptions = {
      parent: this,
      ...(args.provider ? { provider: args.provider } : {}),
    };
    const labels = { "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "registry-mirrors" };
    const data = pulumi.secret(
      this.dockerConfigJson.apply((json) => ({ ".dockerconfigjson": Buffer.from(json, "utf8").toString("base64") })),
    );
    // Each namespace through the checked list, so a bad one never reaches the cluster.
    const namespaceOf = (i: number) => checkedNamespaces.apply((list) => list[i]);
    const resourceName = (i: number) => {
      const ns = namespaceInputs[i];
      return isKnown(ns) ? `${name}-${ns}` : `${name}-ns${i}`;
    };
    this.secrets = namespaceInputs.map(
      (namespace, i) =>
        new core.Secret(
          resourceName(i),
          {
            metadata: { name: secretName, namespace: knownNamespaces ? namespace : namespaceOf(i), labels },
            type: "kubernetes.io/dockerconfigjson",
            data,
          },
          // With a refresher the data is the refresher's: pulumi up must not write back the token it knows.
          sources ? { ...childOpts, ignoreChanges: ["data", "stringData"] } : childOpts,
        ),
    );
    if (sources && args.refresher) {
      this.refresher = new PullSecretRefresher(
        name,
        {
          secretName,
          namespaces: namespaceInputs as string[],
          sources,
          settings: args.refresher,
          provider: args.provider,
          secrets: this.secrets,
        },
        { parent: this },
      );
    }

    const pullSecrets = [...new Set([...keep, secretName])].sort().map((n) => ({ name: n }));
    namespaceInputs.forEach((namespace, i) => {
      for (const account of serviceAccounts) {
        new core.ServiceAccountPatch(
          `${resourceName(i)}-${account}`,
          {
            metadata: { name: account, namespace: knownNamespaces ? namespace : namespaceOf(i) },
            imagePullSecrets: pullSecrets,
          },
          { ...childOpts, dependsOn: [this.secrets[i]] },
        );
      }
    });

    this.registerOutputs({
      secretName: this.secretName,
      namespaces: this.namespaces,
      registries: this.registries,
      dockerConfigJson: this.dockerConfigJson,
    });
  }
}
