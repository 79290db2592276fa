/**
 * PullThroughCache's pure builders: Distribution's configuration per upstream, the manifests (validated by
 * kubernetes-models), the policy fragment MirrorDaemonConfig takes, and the refusals of bad input.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { type PullThroughCacheInput, pullThroughCacheManifests } from "../../components/core/cache";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { expectPolicyError } from "./policy-error";

const CA = readFileSync(join(__dirname, "..", "support", "ca", "ca.pem"), "utf8");
const HUB_CREDS = {
  username: { name: "dockerhub-account", key: "username" },
  password: { name: "dockerhub-account", key: "password" },
};
const BASE: PullThroughCacheInput = {
  name: "cache",
  upstreams: [
    { registry: "docker.io", clusterIP: "10.96.0.50", credentials: HUB_CREDS },
    { registry: "ghcr.io", clusterIP: "10.96.0.51" },
    {
      registry: "quay.io",
      clusterIP: "10.96.0.52",
      storage: { s3: { bucket: "quay-cache-bucket", region: "us-west-2" } },
    },
    { registry: "registry.k8s.io", clusterIP: "10.96.0.53" },
    { registry: "harbor.internal:8443", clusterIP: "10.96.0.54", replicas: 1 },
  ],
  storage: { pvc: { storageClassName: "gp3", size: "100Gi" } },
  tls: { secretName: "cache-tls", ca: CA },
};

describe("pullThroughCacheManifests", () => {
  const m = pullThroughCacheManifests(BASE);

  it("renders manifests kubernetes-models accepts: a StatefulSet per PVC cache, a Deployment per bucket cache", () => {
    expect(m.caches.map((c) => [c.registry, c.workload.kind, c.address])).toEqual([
      ["docker.io", "StatefulSet", "10.96.0.50:5000"],
      ["ghcr.io", "StatefulSet", "10.96.0.51:5000"],
      ["quay.io", "Deployment", "10.96.0.52:5000"],
      ["registry.k8s.io", "StatefulSet", "10.96.0.53:5000"],
      ["harbor.internal:8443", "StatefulSet", "10.96.0.54:5000"],
    ]);
    for (const c of m.caches) {
      expect(() => new ConfigMap(c.configMap as never).validate()).not.toThrow();
      const W = c.workload.kind === "StatefulSet" ? StatefulSet : Deployment;
      expect(() => new W(c.workload as never).validate()).not.toThrow();
      expect(() => new Service(c.service as never).validate()).not.toThrow();
      expect(() => new PodDisruptionBudget(c.podDisruptionBudget as never).validate()).not.toThrow();
    }
    // The validation is real: a broken probe port is refused.
    const broken = structuredClone(m.caches[0].workload) as any;
    broken.spec.template.spec.containers[0].readinessProbe.httpGet.port = { bad: true };
    expect(() => new StatefulSet(broken).validate()).toThrow();
  });

  it("gives each cache its own storage, a fixed cluster IP, probes, limits, replicas and a PodDisruptionBudget", () => {
    const hub = m.caches[0];
    const spec = hub.workload.spec as any;
    expect(spec.replicas).toBe(2);
    expect(spec.volumeClaimTemplates[0].spec).toEqual({
      accessModes: ["ReadWriteOnce"],
      storageClassName: "gp3",
      resources: { requests: { storage: "100Gi" } },
    });
    const container = spec.template.spec.containers[0];
    expect(container.readinessProbe.httpGet).toEqual({ path: "/v2/", port: "registry", scheme: "HTTPS" });
    expect(container.livenessProbe.httpGet.scheme).toBe("HTTPS");
    expect(container.resources).toEqual({ limits: { memory: "512Mi" }, requests: { cpu: "100m", memory: "128Mi" } });
    expect(spec.template.spec.priorityClassName).toBe("system-cluster-critical");
    expect(hub.service.spec).toMatchObject({ type: "ClusterIP", clusterIP: "10.96.0.50" });
    expect(hub.podDisruptionBudget.spec).toEqual({ maxUnavailable: 1, selector: spec.selector });
    expect((m.caches[4].workload.spec as any).replicas).toBe(1);
    // The upstream credentials come from the Secret, never into the ConfigMap.
    expect(container.env).toContainEqual({
      name: "REGISTRY_PROXY_PASSWORD",
      valueFrom: { secretKeyRef: { name: "dockerhub-account", key: "password" } },
    });
    expect(hub.configMap.data["config.yml"]).not.toMatch(/password|username/);
  });

  it("writes Distribution's proxy configuration per upstream (remote URL, storage, TLS)", () => {
    const config = (i: number) => YAML.parse(m.caches[i].configMap.data["config.yml"]);
    expect(config(0).proxy).toEqual({ remoteurl: "https://registry-1.docker.io" });
    expect(config(1).proxy).toEqual({ remoteurl: "https://ghcr.io" });
    expect(config(4).proxy).toEqual({ remoteurl: "https://harbor.internal:8443" });
    expect(config(0).storage.filesystem).toEqual({ rootdirectory: "/var/lib/registry" });
    expect(config(2).storage.s3).toEqual({
      region: "us-west-2",
      bucket: "quay-cache-bucket",
      secure: true,
      rootdirectory: "/quay-io",
    });
    expect(config(0).http.tls).toEqual({
      certificate: "/etc/distribution/tls/tls.crt",
      key: "/etc/distribution/tls/tls.key",
    });
  });

  it("outputs the policy fragment MirrorDaemonConfig takes: each cache with its CA, delivered by the apply script", () => {
    expect(m.policy.registries["docker.io"]).toEqual({
      mirrors: [{ url: "https://10.96.0.50:5000", ca: CA }],
      upstreamFallback: true,
    });
    const r = renderNodeConfig({ policy: m.policy, runtimes: ["containerd"] });
    expect(r.files["/etc/containerd/certs.d/docker.io/10.96.0.50:5000.crt"]).toBe(CA);
    expect(r.files["/etc/containerd/certs.d/ghcr.io/hosts.toml"]).toContain(
      'ca = "/etc/containerd/certs.d/ghcr.io/10.96.0.51:5000.crt"',
    );
  });

  it("with plainHttp serves HTTP and marks every endpoint insecure explicitly", () => {
    const plain = pullThroughCacheManifests({ ...BASE, tls: { plainHttp: true } });
    expect(plain.policy.registries["ghcr.io"].mirrors).toEqual([{ url: "http://10.96.0.51:5000", insecure: true }]);
    expect(YAML.parse(plain.caches[0].configMap.data["config.yml"]).http.tls).toBeUndefined();
    const probe = (plain.caches[0].workload.spec as any).template.spec.containers[0].readinessProbe;
    expect(probe.httpGet.scheme).toBe("HTTP");
  });

  it("with cert-manager asks for a Certificate for every cache's address", () => {
    const cm = pullThroughCacheManifests({ ...BASE, tls: { certManager: { issuerName: "cluster-ca", ca: CA } } });
    expect(cm.certificate?.spec).toMatchObject({
      secretName: "cache-tls",
      ipAddresses: ["10.96.0.50", "10.96.0.51", "10.96.0.52", "10.96.0.53", "10.96.0.54"],
      issuerRef: { name: "cluster-ca", kind: "ClusterIssuer", group: "cert-manager.io" },
    });
  });

  it("with nodePort exposes each cache on its node port at the node address", () => {
    const np = pullThroughCacheManifests({
      ...BASE,
      exposure: "nodePort",
      upstreams: [{ registry: "docker.io", nodePort: 30500 }],
    });
    expect(np.caches[0].service.spec).toMatchObject({ type: "NodePort", ports: [{ nodePort: 30500, port: 5000 }] });
    expect(np.policy.registries["docker.io"].mirrors).toEqual([{ url: "https://127.0.0.1:30500", ca: CA }]);
  });
});

describe("pullThroughCacheManifests: bad input", () => {
  it("refuses a cache for an upstream already cached (Docker Hub aliases included)", () => {
    expectPolicyError(
      () =>
        pullThroughCacheManifests({
          ...BASE,
          upstreams: [
            { registry: "docker.io", clusterIP: "10.96.0.50" },
            { registry: "index.docker.io", clusterIP: "10.96.0.51" },
          ],
        }),
      "upstreams[1].registry",
      "index.docker.io",
      "keep one cache per upstream registry",
    );
  });

  it("refuses storage with no bucket and no PVC class", () => {
    expectPolicyError(
      () => pullThroughCacheManifests({ ...BASE, storage: undefined }),
      "upstreams[0].storage.pvc.storageClassName",
      "nothing",
      '{ pvc: { storageClassName: "gp3" } }',
    );
    expectPolicyError(
      () => pullThroughCacheManifests({ ...BASE, storage: { s3: { region: "us-west-2" } as never } }),
      "storage.s3.bucket",
      "nothing",
      "create the bucket",
    );
  });

  it("refuses a CA that does not parse, missing TLS, a cluster IP that is not one, plain credentials", () => {
    expectPolicyError(
      () => pullThroughCacheManifests({ ...BASE, tls: { secretName: "cache-tls", ca: "not a certificate" } }),
      "tls.ca",
      "not a certificate",
      "give the PEM text of the CA",
    );
    expectPolicyError(
      () => pullThroughCacheManifests({ ...BASE, tls: undefined as never }),
      "tls",
      "nothing",
      "{ plainHttp: true }",
    );
    expectPolicyError(
      () => pullThroughCacheManifests({ ...BASE, upstreams: [{ registry: "ghcr.io", clusterIP: "cache.svc" }] }),
      "upstreams[0].clusterIP",
      "cache.svc",
      "Service CIDR",
    );
    expectPolicyError(
      () =>
        pullThroughCacheManifests({
          ...BASE,
          upstreams: [{ registry: "ghcr.io", clusterIP: "10.96.0.51", credentials: "user:pass" as never }],
        }),
      "upstreams[0].credentials",
      "(redacted)",
      "username: { name",
    );
  });
});
