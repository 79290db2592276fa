/**
 * PullThroughCache under Pulumi mocks: the Kubernetes objects per upstream (validated by kubernetes-models), a bucket
 * created on request with the AWS SDK loaded only then, the upstream credentials Secret kept secret, and the policy
 * output taken by MirrorDaemonConfig as is.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { MirrorDaemonConfig, PullThroughCache } from "../../components";
import { isSecretInput, type MockHandle, plain, registered, setupMocks, unwrap } from "./mocks";

// After the imports above (the package root included), before any component is made.
const loaded = () => Object.keys(require.cache).filter((k) => /@pulumi[\\/](kubernetes|aws|alicloud)[\\/]/.test(k));
const sdkAtImport = loaded();
const CA = readFileSync(join(__dirname, "..", "support", "ca", "ca.pem"), "utf8");
let mocks: MockHandle;
beforeAll(async () => {
  mocks = await setupMocks();
});

async function settle(component: PullThroughCache) {
  await registered(component);
  await Promise.all(component.caches.map((c) => registered(c.workload)));
  await mocks.settle();
}

describe("PullThroughCache", () => {
  it("loads no Kubernetes or cloud SDK at import", () => {
    expect(sdkAtImport).toEqual([]);
  });

  it("creates per upstream a ConfigMap, StatefulSet, Service and PodDisruptionBudget kubernetes-models accepts", async () => {
    const cache = new PullThroughCache("pc", {
      upstreams: [
        { registry: "docker.io", clusterIP: "10.96.0.50" },
        { registry: "ghcr.io", clusterIP: "10.96.0.51" },
      ],
      storage: { pvc: { storageClassName: "standard" } },
      tls: { certManager: { issuerName: "cluster-ca", ca: CA } },
    });
    await settle(cache);
    const mine = mocks.resources.filter((r) => r.name.startsWith("pc-"));
    const byType = (t: string) => mine.filter((r) => r.type === t);
    expect(byType("kubernetes:apps/v1:StatefulSet").map((r) => r.name)).toEqual(["pc-docker.io", "pc-ghcr.io"]);
    for (const r of byType("kubernetes:apps/v1:StatefulSet"))
      expect(() => new StatefulSet(plain(r.inputs)).validate()).not.toThrow();
    for (const r of byType("kubernetes:core/v1:Service"))
      expect(() => new Service(plain(r.inputs)).validate()).not.toThrow();
    for (const r of byType("kubernetes:core/v1:ConfigMap"))
      expect(() => new ConfigMap(plain(r.inputs)).validate()).not.toThrow();
    for (const r of byType("kubernetes:policy/v1:PodDisruptionBudget"))
      expect(() => new PodDisruptionBudget(plain(r.inputs)).validate()).not.toThrow();
    const cert = byType("kubernetes:cert-manager.io/v1:Certificate");
    expect(cert.map((r) => plain(r.inputs).spec.ipAddresses)).toEqual([["10.96.0.50", "10.96.0.51"]]);
    expect(await unwrap(cache.endpoints)).toEqual({ "docker.io": "10.96.0.50:5000", "ghcr.io": "10.96.0.51:5000" });
  });

  it("creates an S3 bucket when asked (loading the AWS SDK only then) and puts its name in the cache's config", async () => {
    const cache = new PullThroughCache("s3c", {
      upstreams: [{ registry: "quay.io", clusterIP: "10.96.0.60" }],
      storage: { s3: { create: true, bucket: "example-quay-cache", region: "us-west-2" } },
      tls: { plainHttp: true },
    });
    await settle(cache);
    expect(loaded().some((k) => /@pulumi[\\/]aws[\\/]/.test(k))).toBe(true);
    expect(loaded().some((k) => /@pulumi[\\/]alicloud[\\/]/.test(k))).toBe(false);
    const mine = mocks.resources.filter((r) => r.name.startsWith("s3c-"));
    expect(mine.filter((r) => r.type.startsWith("aws:s3/")).map((r) => r.type)).toEqual([
      "aws:s3/bucket:Bucket",
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    ]);
    const deployment = mine.find((r) => r.type === "kubernetes:apps/v1:Deployment");
    expect(() => new Deployment(plain(deployment?.inputs)).validate()).not.toThrow();
    const configMap = mine.find((r) => r.type === "kubernetes:core/v1:ConfigMap");
    const config = YAML.parse(plain(configMap?.inputs).data["config.yml"]);
    expect(config.storage.s3).toEqual({
      bucket: "example-quay-cache",
      region: "us-west-2",
      rootdirectory: "/quay-io",
      secure: true,
    });
    expect(await unwrap(cache.policy)).toEqual({
      registries: {
        "quay.io": { mirrors: [{ url: "http://10.96.0.60:5000", insecure: true }], upstreamFallback: true },
      },
    });
  });

  it("makes one bucket per upstream from a default storage that creates them, each named after its registry", async () => {
    const cache = new PullThroughCache("oss", {
      upstreams: [
        { registry: "docker.io", clusterIP: "10.96.0.65" },
        { registry: "ghcr.io", clusterIP: "10.96.0.66" },
      ],
      storage: {
        oss: {
          create: true,
          bucket: "example-cache",
          region: "cn-hangzhou",
          accessKey: {
            username: { name: "oss-key", key: "id" },
            password: { name: "oss-key", key: "secret" },
          },
        },
      },
      tls: { plainHttp: true },
    });
    await settle(cache);
    const buckets = mocks.resources.filter((r) => r.name.startsWith("oss-") && r.type === "alicloud:oss/bucket:Bucket");
    expect(buckets.map((r) => r.inputs.bucket)).toEqual(["example-cache-docker-io", "example-cache-ghcr-io"]);
    const configs = mocks.resources.filter(
      (r) => r.name.startsWith("oss-") && r.type === "kubernetes:core/v1:ConfigMap",
    );
    expect(configs.map((r) => YAML.parse(plain(r.inputs).data["config.yml"]).storage.oss.bucket)).toEqual([
      "example-cache-docker-io",
      "example-cache-ghcr-io",
    ]);
    const deployment = mocks.resources.find(
      (r) => r.name === "oss-docker.io" && r.type === "kubernetes:apps/v1:Deployment",
    );
    expect(plain(deployment?.inputs).spec.template.spec.containers[0].env).toContainEqual({
      name: "REGISTRY_STORAGE_OSS_ACCESSKEYSECRET",
      valueFrom: { secretKeyRef: { name: "oss-key", key: "secret" } },
    });
  });

  it("keeps upstream credentials in a secret Secret, and refuses a plain-text password", async () => {
    const cache = new PullThroughCache("cred", {
      upstreams: [
        {
          registry: "docker.io",
          clusterIP: "10.96.0.70",
          credentials: { username: "bot", password: pulumi.secret("dckr_pat_example") },
        },
      ],
      storage: { pvc: { storageClassName: "standard" } },
      tls: { plainHttp: true },
    });
    await settle(cache);
    const secret = mocks.resources.find((r) => r.name === "cred-0-upstream");
    expect(isSecretInput(secret?.inputs.stringData)).toBe(true);
    const sts = mocks.resources.find((r) => r.name === "cred-docker.io" && r.type === "kubernetes:apps/v1:StatefulSet");
    expect(plain(sts?.inputs).spec.template.spec.containers[0].env).toContainEqual({
      name: "REGISTRY_PROXY_PASSWORD",
      valueFrom: { secretKeyRef: { name: "cred-0-upstream", key: "password" } },
    });
    expect(
      () =>
        new PullThroughCache("bad", {
          upstreams: [
            { registry: "docker.io", clusterIP: "10.96.0.71", credentials: { username: "u", password: "p" } },
          ],
          storage: { pvc: { storageClassName: "standard" } },
          tls: { plainHttp: true },
        }),
    ).toThrow(/upstreams\[0\]\.credentials\.password: a plain-text password.*Fix: pass it as a Pulumi secret/);
  });

  it("fails the preview on bad input with field, value and fix", () => {
    expect(
      () =>
        new PullThroughCache("dup", {
          upstreams: [
            { registry: "ghcr.io", clusterIP: "10.96.0.80" },
            { registry: "GHCR.io", clusterIP: "10.96.0.81" },
          ],
          storage: { pvc: { storageClassName: "standard" } },
          tls: { plainHttp: true },
        }),
    ).toThrow(/upstreams\[1\]\.registry: ghcr.io is already cached by upstreams\[0\]/);
  });

  it("feeds MirrorDaemonConfig directly: the nodes get the endpoint and the CA file", async () => {
    const cache = new PullThroughCache("feed", {
      upstreams: [{ registry: "docker.io", clusterIP: "10.96.0.90" }],
      storage: { pvc: { storageClassName: "standard" } },
      tls: { secretName: "feed-tls", ca: CA },
    });
    const nodes = new MirrorDaemonConfig("feed-nodes", { policy: cache.policy, runtimes: ["containerd", "docker"] });
    const files = await unwrap(nodes.files);
    expect(files["/etc/docker/certs.d/10.96.0.90:5000/ca.crt"]).toBe(CA);
    expect(files["/etc/containerd/certs.d/docker.io/hosts.toml"]).toContain(
      '[host."https://10.96.0.90:5000"]\ncapabilities = [ "pull", "resolve" ]\nca = "/etc/containerd/certs.d/docker.io/10.96.0.90:5000.crt"',
    );
    expect(JSON.parse(files["/etc/docker/daemon.json"])["registry-mirrors"]).toEqual(["https://10.96.0.90:5000"]);
  });
});
