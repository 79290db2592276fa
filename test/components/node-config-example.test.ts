/**
 * examples/existing-cluster under Pulumi mocks: the program runs, its DaemonSet and Secrets validate with
 * kubernetes-models, and the registry password appears only as a secret.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { type MockHandle, isSecretInput, plain, setupMocks } from "./mocks";

const PASSWORD = "example-Pw-5521";
let mocks: MockHandle;
let program: Record<string, unknown>;

beforeAll(async () => {
  mocks = await setupMocks();
  pulumi.runtime.setAllConfig({ "project:registryPassword": PASSWORD }, ["project:registryPassword"]);
  program = await import("../../examples/existing-cluster/index");
  await new Promise<void>((resolve) => (program.checksum as pulumi.Output<string>).apply(() => resolve()));
  for (let i = 0; i < 5; i++) await mocks.settle();
});

describe("examples/existing-cluster (mocks)", () => {
  it("creates the node-config ConfigMap and DaemonSet, valid for Kubernetes", () => {
    const [daemonSet] = mocks.ofType("kubernetes:apps/v1:DaemonSet");
    const [configMap] = mocks.ofType("kubernetes:core/v1:ConfigMap");
    expect(() => new DaemonSet(daemonSet.inputs as any).validate()).not.toThrow();
    expect(() => new ConfigMap(plain(configMap.inputs) as any).validate()).not.toThrow();
    expect(daemonSet.inputs.metadata).toMatchObject({
      name: "cluster-mirrors-node-config-stack",
      namespace: "kube-system",
    });
    const pod = daemonSet.inputs.spec.template.spec;
    expect(pod.initContainers[0].command).toEqual(["sh", "/config/apply-node-config.sh", "apply"]);
    expect(pod.volumes.filter((v: any) => v.hostPath).map((v: any) => v.hostPath.path)).toEqual(
      expect.arrayContaining(["/etc/containerd", "/etc/docker"]),
    );
  });

  it("creates the pull secret in both namespaces and patches their default service accounts, the password secret", () => {
    const secrets = mocks.ofType("kubernetes:core/v1:Secret");
    expect(secrets.map((s) => s.inputs.metadata.namespace)).toEqual(["default", "apps"]);
    for (const s of secrets) {
      expect(isSecretInput(s.inputs.data)).toBe(true);
      const data = plain(s.inputs.data);
      expect(() => new Secret({ ...s.inputs, data } as any).validate()).not.toThrow();
      const json = JSON.parse(Buffer.from(data[".dockerconfigjson"], "base64").toString());
      expect(json.auths["registry.example.com"]).toMatchObject({ username: "ci-puller", password: PASSWORD });
    }
    const patches = mocks.ofType("kubernetes:core/v1:ServiceAccountPatch");
    expect(patches.map((p) => `${p.inputs.metadata.namespace}/${p.inputs.metadata.name}`)).toEqual([
      "default/default",
      "apps/default",
    ]);
    const visible = JSON.stringify(
      mocks.resources.map((r) => (isSecretInput(r.inputs) ? null : r.inputs)),
      (_k, v) => (isSecretInput(v) ? null : v),
    );
    expect(visible).not.toContain(PASSWORD);
    expect(visible).not.toContain(Buffer.from(`ci-puller:${PASSWORD}`).toString("base64"));
  });
});
