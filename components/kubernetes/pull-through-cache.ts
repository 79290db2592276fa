import * as pulumi from "@pulumi/pulumi";
import {
  type CacheStorageInput,
  type CacheTlsInput,
  type PullThroughCacheInput,
  type PullThroughCacheManifests,
  type UpstreamCredentialsRef,
  pullThroughCacheManifests,
  registrySlug,
} from "../core/cache";
import { PolicyError } from "../core/errors";
import type { ResourceRequirements } from "../core/kubernetes";
import type { MirrorPolicyInput } from "../core/policy";
import type { KubernetesObject } from "./node-config";

/** Upstream credentials: keys of a Secret you made, or a username and a password (a Pulumi secret) put in a new Secret. */
export type PullThroughCacheCredentials =
  | UpstreamCredentialsRef
  | { username: pulumi.Input<string>; password: pulumi.Input<string> };

/** A bucket the component creates for a cache (one per upstream). */
export type PullThroughCacheStorage =
  | CacheStorageInput
  /** A new S3 bucket (public access blocked, encrypted at rest); the pods reach it with `accessKey` or their IAM role. */
  | { s3: { create: true; bucket?: string; region: string; accessKey?: UpstreamCredentialsRef } }
  /** A new private OSS bucket named `bucket`. */
  | { oss: { create: true; bucket: string; region: string; internal?: boolean; accessKey: UpstreamCredentialsRef } };

/** One upstream registry of {@link PullThroughCache}. */
export interface PullThroughCacheUpstreamArgs {
  /** `docker.io`, `ghcr.io`, `quay.io`, `registry.k8s.io` or any `host[:port]`. */
  registry: string;
  /** What the cache pulls from; default `https://registry-1.docker.io` for Docker Hub, `https://<registry>` otherwise. */
  remoteUrl?: string;
  /** Upstream credentials (e.g. a Docker Hub account, to escape anonymous pull limits). */
  credentials?: PullThroughCacheCredentials;
  /** This cache's storage; default the component's `storage`. */
  storage?: PullThroughCacheStorage;
  /** The Service's fixed cluster IP (with the default exposure). */
  clusterIP?: string;
  /** The node port, with `exposure: "nodePort"`. */
  nodePort?: number;
  replicas?: number;
}

/** Arguments of {@link PullThroughCache}. */
export interface PullThroughCacheArgs {
  /** Namespace of every object (it must exist); default `kube-system`. */
  namespace?: string;
  /** The registries to cache, one cache each. */
  upstreams: PullThroughCacheUpstreamArgs[];
  /** Default storage of every cache: `{ pvc: { storageClassName } }`, an S3 or OSS bucket, or one the component creates. */
  storage?: PullThroughCacheStorage;
  /**
   * How nodes reach the caches without cluster DNS: `"clusterIP"` (default; a fixed Service IP per cache, through
   * kube-proxy's node rules) or `"nodePort"` (at `nodeAddress`, default 127.0.0.1).
   */
  exposure?: "clusterIP" | "nodePort";
  nodeAddress?: string;
  /** `{ secretName, ca }`, `{ certManager: { issuerName, ca } }` or `{ plainHttp: true }`. */
  tls: CacheTlsInput;
  /** Distribution image; default `docker.io/library/registry:2.8.3`. */
  image?: string;
  /** Replicas per cache; default 2. */
  replicas?: number;
  resources?: ResourceRequirements;
  serviceAccountName?: string;
  priorityClassName?: string;
  /** The Kubernetes provider (default: the ambient or parent's). */
  provider?: pulumi.ProviderResource;
  /** The AWS provider for buckets the component creates. */
  awsProvider?: pulumi.ProviderResource;
  /** The Alibaba Cloud provider for buckets the component creates. */
  alicloudProvider?: pulumi.ProviderResource;
}

/** The Kubernetes objects of one cache. */
export interface PullThroughCacheObjects {
  registry: string;
  configMap: KubernetesObject;
  /** A StatefulSet (PVC storage) or a Deployment (a bucket). */
  workload: KubernetesObject;
  service: KubernetesObject;
  podDisruptionBudget: KubernetesObject;
  /** The credentials Secret the component made from a username and password. */
  credentialsSecret?: KubernetesObject;
  /** The bucket the component created (an `aws.s3.Bucket` or `alicloud.oss.Bucket`). */
  bucket?: pulumi.CustomResource;
}

type Creds = { username: pulumi.Input<string>; password: pulumi.Input<string> };
const isRef = (c: PullThroughCacheCredentials): c is UpstreamCredentialsRef =>
  typeof (c as UpstreamCredentialsRef).username === "object" &&
  (c as UpstreamCredentialsRef).username !== null &&
  "key" in ((c as UpstreamCredentialsRef).username as object);

/**
 * Self-hosted pull-through caches in the cluster: CNCF Distribution in proxy mode, one per upstream registry, each with
 * its own storage (a PVC per replica by default, or an S3/OSS bucket the component can create), upstream credentials
 * from a Secret, TLS (your certificate, cert-manager's, or plain HTTP when you say so), probes, resource limits, a
 * PodDisruptionBudget, and a Service the nodes reach without cluster DNS. `policy` is the fragment `MirrorDaemonConfig`
 * takes as is (each cache's endpoint with its CA, delivered to the nodes by the apply script).
 */
export class PullThroughCache extends pulumi.ComponentResource {
  /** The mirror policy fragment: each upstream's cache, with its CA (or marked insecure for plain HTTP). */
  public readonly policy: pulumi.Output<MirrorPolicyInput>;
  /** The `host:port` of each cache, by upstream registry. */
  public readonly endpoints: pulumi.Output<Record<string, string>>;
  /** The objects of each cache, in `upstreams` order. */
  public readonly caches: PullThroughCacheObjects[];
  /** The cert-manager Certificate, with `tls.certManager`. */
  public readonly certificate?: pulumi.CustomResource;

  constructor(name: string, args: PullThroughCacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super("registry-mirrors:index:PullThroughCache", name, {}, opts);
    if (!Array.isArray(args.upstreams)) {
      throw new PolicyError(
        "upstreams",
        args.upstreams,
        "must be a list known when the program runs",
        'write upstreams: [{ registry: "docker.io", clusterIP: "10.96.0.50" }]',
      );
    }
    const childOpts: pulumi.CustomResourceOptions = {
      parent: this,
      ...(args.provider ? { provider: args.provider } : {}),
    };
    const buckets: Array<pulumi.CustomResource | undefined> = [];
    const bucketNames: Array<pulumi.Input<string> | undefined> = [];
    const credentialSecrets: Array<KubernetesObject | undefined> = [];
    const plainUpstreams = args.upstreams.map((u, i) => {
      const field = `upstreams[${i}]`;
      const storage = u.storage ?? args.storage;
      const slugName = `${name}-${i}`;
      // A default storage that creates buckets makes one per upstream: a name it gives gets the registry's slug.
      const bucketName = (b: string | undefined) =>
        b !== undefined && u.storage === undefined && args.upstreams.length > 1
          ? `${b}-${registrySlug(String(u.registry))}`
          : b;
      let plainStorage: CacheStorageInput | undefined = storage as CacheStorageInput | undefined;
      if (storage && "s3" in storage && (storage.s3 as { create?: boolean }).create) {
        const s = storage.s3 as { create: true; bucket?: string; region: string; accessKey?: UpstreamCredentialsRef };
        const bucket = createS3Bucket(this, `${slugName}-cache`, bucketName(s.bucket), args.awsProvider);
        buckets[i] = bucket;
        bucketNames[i] = bucket.bucket;
        plainStorage = {
          s3: { bucket: STAND_IN_BUCKET, region: s.region, ...(s.accessKey ? { accessKey: s.accessKey } : {}) },
        };
      } else if (storage && "oss" in storage && (storage.oss as { create?: boolean }).create) {
        const s = storage.oss as {
          create: true;
          bucket: string;
          region: string;
          internal?: boolean;
          accessKey: UpstreamCredentialsRef;
        };
        const bucket = createOssBucket(
          this,
          `${slugName}-cache`,
          bucketName(s.bucket) as string,
          args.alicloudProvider,
        );
        buckets[i] = bucket;
        bucketNames[i] = bucket.bucket;
        const { create: _create, ...rest } = s;
        plainStorage = { oss: rest };
      }
      let credentials: UpstreamCredentialsRef | undefined;
      if (u.credentials !== undefined) {
        if (isRef(u.credentials)) credentials = u.credentials;
        else
          credentials = this.credentialsSecret(
            `${field}.credentials`,
            `${name}-${i}-upstream`,
            u.credentials,
            args,
            childOpts,
            credentialSecrets,
            i,
          );
      }
      const plain: Record<string, unknown> = { ...u };
      delete plain.storage;
      if (credentials) plain.credentials = credentials;
      return { plain, storage: plainStorage };
    });
    const baseInput = (names: Array<string | undefined>): PullThroughCacheInput => {
      const upstreams = plainUpstreams.map(({ plain, storage }, i) => {
        const u = { ...plain };
        if (buckets[i] !== undefined && storage) {
          // A bucket the component created: its name once known (a stand-in while it is not, to check the rest now).
          const kind = "s3" in storage ? "s3" : "oss";
          const bucket = names[i] ?? STAND_IN_BUCKET;
          u.storage = { [kind]: { ...(storage as Record<string, Record<string, unknown>>)[kind], bucket } };
        } else if (storage !== undefined) {
          u.storage = storage;
        }
        return u as unknown as PullThroughCacheInput["upstreams"][number];
      });
      const { provider: _p, awsProvider: _a, alicloudProvider: _c, storage: _s, ...rest } = args;
      return { ...rest, name, upstreams };
    };
    // Checked now (with a stand-in for a bucket not yet created), so bad input fails the preview with a clear message.
    const checked = pullThroughCacheManifests(baseInput(bucketNames.map(() => undefined)));
    const manifests: pulumi.Output<PullThroughCacheManifests> = pulumi
      .all(bucketNames.map((b) => (b === undefined ? undefined : pulumi.output(b))))
      .apply((names) => pullThroughCacheManifests(baseInput(names as Array<string | undefined>)));

    // Loaded here, not at the top: importing the package must not load the Kubernetes SDK.
    const core = require("@pulumi/kubernetes/core/v1") as typeof import("@pulumi/kubernetes/core/v1");
    const apps = require("@pulumi/kubernetes/apps/v1") as typeof import("@pulumi/kubernetes/apps/v1");
    const policyV1 = require("@pulumi/kubernetes/policy/v1") as typeof import("@pulumi/kubernetes/policy/v1");

    let certificate: pulumi.CustomResource | undefined;
    if (checked.certificate) {
      const apiext = require("@pulumi/kubernetes/apiextensions") as typeof import("@pulumi/kubernetes/apiextensions");
      const cert = manifests.apply((m) => m.certificate);
      certificate = new apiext.CustomResource(
        `${name}-tls`,
        {
          apiVersion: "cert-manager.io/v1",
          kind: "Certificate",
          metadata: at(cert, "metadata"),
          spec: at(cert, "spec"),
        },
        childOpts,
      );
      this.certificate = certificate;
    }

    this.caches = checked.caches.map((c, i) => {
      const m = manifests.apply((all) => all.caches[i]);
      const n = `${name}-${c.registry}`;
      const configMap = new core.ConfigMap(
        n,
        { metadata: at(m, "configMap", "metadata"), data: at(m, "configMap", "data") },
        childOpts,
      );
      const deps = [
        configMap,
        ...(certificate ? [certificate] : []),
        ...(credentialSecrets[i] ? [credentialSecrets[i] as KubernetesObject] : []),
        ...(buckets[i] ? [buckets[i] as pulumi.CustomResource] : []),
      ];
      const workloadArgs = { metadata: at(m, "workload", "metadata"), spec: at(m, "workload", "spec") };
      const workload =
        c.workload.kind === "StatefulSet"
          ? new apps.StatefulSet(n, workloadArgs, { ...childOpts, dependsOn: deps })
          : new apps.Deployment(n, workloadArgs, { ...childOpts, dependsOn: deps });
      const service = new core.Service(
        n,
        { metadata: at(m, "service", "metadata"), spec: at(m, "service", "spec") },
        childOpts,
      );
      const podDisruptionBudget = new policyV1.PodDisruptionBudget(
        n,
        { metadata: at(m, "podDisruptionBudget", "metadata"), spec: at(m, "podDisruptionBudget", "spec") },
        childOpts,
      );
      const objects: PullThroughCacheObjects = {
        registry: c.registry,
        configMap: configMap as unknown as KubernetesObject,
        workload: workload as unknown as KubernetesObject,
        service: service as unknown as KubernetesObject,
        podDisruptionBudget: podDisruptionBudget as unknown as KubernetesObject,
      };
      if (credentialSecrets[i]) objects.credentialsSecret = credentialSecrets[i];
      if (buckets[i]) objects.bucket = buckets[i];
      return objects;
    });

    this.policy = manifests.apply((m) => m.policy);
    this.endpoints = manifests.apply((m) => Object.fromEntries(m.caches.map((c) => [c.registry, c.address])));
    this.registerOutputs({ policy: this.policy, endpoints: this.endpoints });
  }

  private credentialsSecret(
    field: string,
    secretName: string,
    creds: Creds,
    args: PullThroughCacheArgs,
    opts: pulumi.CustomResourceOptions,
    made: Array<KubernetesObject | undefined>,
    i: number,
  ): UpstreamCredentialsRef {
    if (typeof creds.password === "string") {
      throw new PolicyError(
        `${field}.password`,
        "(hidden)",
        "a plain-text password would be stored readable in the Pulumi state and program",
        "pass it as a Pulumi secret (config.requireSecret(...)), or name the keys of a Secret you made",
      );
    }
    const core = require("@pulumi/kubernetes/core/v1") as typeof import("@pulumi/kubernetes/core/v1");
    made[i] = new core.Secret(
      secretName,
      {
        metadata: {
          name: secretName,
          namespace: args.namespace ?? "kube-system",
          labels: { "app.kubernetes.io/part-of": "registry-mirrors", "app.kubernetes.io/managed-by": "pulumi" },
        },
        type: "Opaque",
        stringData: pulumi.secret({ username: pulumi.output(creds.username), password: pulumi.output(creds.password) }),
      },
      opts,
    ) as unknown as KubernetesObject;
    return { username: { name: secretName, key: "username" }, password: { name: secretName, key: "password" } };
  }
}

/** A field of a manifest inside an Output, as an Input any resource argument takes (the manifests are checked by
 * kubernetes-models in the tests). */
// biome-ignore lint/suspicious/noExplicitAny: see above
function at(o: pulumi.Output<unknown>, ...path: string[]): pulumi.Output<any> {
  return o.apply((v) => path.reduce<unknown>((x, k) => (x as Record<string, unknown> | undefined)?.[k], v));
}

/** The bucket name the settings are checked with before a created bucket's name is known. */
const STAND_IN_BUCKET = "bucket-being-created";

function createS3Bucket(
  parent: pulumi.Resource,
  name: string,
  bucketName: string | undefined,
  provider?: pulumi.ProviderResource,
): pulumi.CustomResource & { bucket: pulumi.Output<string> } {
  // Loaded only when a bucket is created: the AWS SDK is optional.
  const s3 = require("@pulumi/aws/s3") as typeof import("@pulumi/aws/s3");
  const opts = { parent, ...(provider ? { provider } : {}) };
  const bucket = new s3.Bucket(
    name,
    {
      ...(bucketName ? { bucket: bucketName } : {}),
      forceDestroy: false,
      tags: { "app.kubernetes.io/part-of": "registry-mirrors" },
    },
    opts,
  );
  new s3.BucketPublicAccessBlock(
    name,
    {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    opts,
  );
  return bucket;
}

function createOssBucket(
  parent: pulumi.Resource,
  name: string,
  bucketName: string,
  provider?: pulumi.ProviderResource,
): pulumi.CustomResource & { bucket: pulumi.Output<string> } {
  // Loaded only when a bucket is created: the Alibaba Cloud SDK is optional.
  const oss = require("@pulumi/alicloud/oss") as typeof import("@pulumi/alicloud/oss");
  const opts = { parent, ...(provider ? { provider } : {}) };
  const bucket = new oss.Bucket(name, { bucket: bucketName, storageClass: "Standard" }, opts);
  new oss.BucketAcl(name, { bucket: bucket.bucket, acl: "private" }, opts);
  return bucket as unknown as pulumi.CustomResource & { bucket: pulumi.Output<string> };
}
