import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { type MockHandle, type RecordedResource, isSecretInput, plain, registered, setupMocks } from "./mocks";
import { PolicyError } from "../../components/core/errors";
import type { NodeConfigContent, NodeConfigKubernetesArgs } from "../../components/kubernetes/node-config";

const loaded = (fragment: string) => Object.keys(require.cache).some((k) => k.includes(fragment));

// Checked before anything else in this file loads: the subpath itself must not load any SDK.
const sdkBeforeImport = ["@pulumi/kubernetes", "@pulumi/aws", "@pulumi/alicloud"].filter(loaded);
let nodeConfig: typeof import("../../components/kubernetes/node-config");
let sdkAfterImport: string[] = [];

class Parent extends pulumi.ComponentResource {
  constructor(name: string) {
    super("test:index:Parent", name, {}, {});
  }
}

let mocks: MockHandle;
beforeAll(async () => {
  mocks = await setupMocks();
  await import("../../components/kubernetes");
  nodeConfig = await import("../../components/kubernetes/node-config");
  sdkAfterImport = ["@pulumi/kubernetes", "@pulumi/aws", "@pulumi/alicloud"].filter(loaded);
});

async function build(
  name: string,
  args: NodeConfigKubernetesArgs,
  content: NodeConfigContent | pulumi.Output<NodeConfigContent>,
) {
  const parent = new Parent(name);
  const res = nodeConfig.createNodeConfigResources(parent, name, args, pulumi.output(content));
  await registered(res.daemonSet);
  await registered((res.configMap ?? res.secret)!);
  await mocks.settle();
  const mine = (type: string) => mocks.resources.filter((r) => r.type === type && r.name === `${name}-node-config`);
  return {
    res,
    daemonSet: mine("kubernetes:apps/v1:DaemonSet")[0],
    configMap: mine("kubernetes:core/v1:ConfigMap")[0],
    secret: mine("kubernetes:core/v1:Secret")[0],
  };
}

const podOf = (ds: RecordedResource) => ds.inputs.spec.template.spec;
const checksumOf = (ds: RecordedResource) =>
  ds.inputs.spec.template.metadata.annotations["registry-mirrors.dev/config-checksum"];

describe("node-config DaemonSet (mocks)", () => {
  it("loads no Kubernetes or cloud SDK until resources are created", () => {
    expect(sdkBeforeImport).toEqual([]);
    expect(sdkAfterImport).toEqual([]);
  });

  it("creates a ConfigMap and a DaemonSet that kubernetes-models accepts", async () => {
    const script = "#!/bin/sh\necho one\n";
    const { daemonSet, configMap, secret } = await build(
      "basic",
      { scriptInSecret: false },
      { applyScript: script, runtimes: ["docker", "containerd"] },
    );
    expect(secret).toBeUndefined();
    expect(() => new ConfigMap(configMap.inputs as any).validate()).not.toThrow();
    expect(() => new DaemonSet(daemonSet.inputs as any).validate()).not.toThrow();
    expect(configMap.inputs.data["apply-node-config.sh"]).toBe(script);
    expect(configMap.inputs.metadata.namespace).toBe("kube-system");
    // The default name carries the stack, so two stacks of one program in one cluster do not share a DaemonSet.
    expect(daemonSet.inputs.metadata).toMatchObject({ name: "basic-node-config-stack", namespace: "kube-system" });
    expect(podOf(daemonSet).volumes[0].configMap.name).toBe(configMap.inputs.metadata.name);
    // The fleet-scale defaults (BENCHMARKS.md, rollout): 1% of the nodes at a time, no surge, 5 s ready to count.
    expect(daemonSet.inputs.spec.updateStrategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: "1%", maxSurge: 0 },
    });
    expect(daemonSet.inputs.spec.minReadySeconds).toBe(5);
    expect(podOf(daemonSet).priorityClassName).toBe("system-node-critical");
    expect(podOf(daemonSet).tolerations).toEqual([{ operator: "Exists" }]);
  });

  it("with the watchdog, its container's readiness probe runs `check --readiness` (kubernetes-models accepts it)", async () => {
    const { renderNodeConfig } = await import("../../components/core/render/node-config");
    const { applyScript } = renderNodeConfig({ mirrors: ["https://hub-1.example.com"], watchdog: true });
    const { daemonSet } = await build("ready", {}, { applyScript, runtimes: ["docker", "containerd"] });
    expect(() => new DaemonSet(daemonSet.inputs as any).validate()).not.toThrow();
    const [watch] = podOf(daemonSet).containers;
    expect(watch.name).toBe("watchdog");
    expect(watch.readinessProbe.exec.command).toEqual(["sh", "/config/apply-node-config.sh", "check", "--readiness"]);
    expect(watch.readinessProbe).toMatchObject({ initialDelaySeconds: 0, periodSeconds: 60, failureThreshold: 2 });
  });

  it("gives the pod exactly the host mounts and privileges it needs", async () => {
    const { daemonSet } = await build(
      "mounts",
      {},
      { applyScript: "x", runtimes: ["docker", "containerd", "crio", "k3s"] },
    );
    const pod = podOf(daemonSet);
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.hostIPC).toBeUndefined();
    expect(pod.automountServiceAccountToken).toBe(false);
    const hostPaths = pod.volumes.filter((v: any) => v.hostPath).map((v: any) => v.hostPath);
    expect(hostPaths).toEqual(
      ["/etc/containerd", "/etc/containers", "/etc/docker", "/etc/rancher"].map((path) => ({
        path,
        type: "DirectoryOrCreate",
      })),
    );
    const [init] = pod.initContainers;
    expect(init.securityContext).toEqual({ privileged: true });
    expect(init.volumeMounts.filter((m: any) => m.readOnly !== true).map((m: any) => m.mountPath)).toEqual([
      "/host/etc/containerd",
      "/host/etc/containers",
      "/host/etc/docker",
      "/host/etc/rancher",
    ]);
    expect(init.volumeMounts.filter((m: any) => m.readOnly === true)).toEqual([
      { name: "config", mountPath: "/config", readOnly: true },
    ]);
    for (const c of pod.containers) {
      expect(c.securityContext.privileged).toBe(false);
      expect(c.securityContext.capabilities).toEqual({ drop: ["ALL"] });
      expect(c.volumeMounts).toBeUndefined();
    }
  });

  it("mounts only the folders of the paths the script writes", async () => {
    const { daemonSet } = await build("paths", {}, { applyScript: "x", paths: ["/etc/docker/daemon.json"] });
    expect(
      podOf(daemonSet)
        .volumes.filter((v: any) => v.hostPath)
        .map((v: any) => v.hostPath.path),
    ).toEqual(["/etc/docker"]);
  });

  it("changes the checksum annotation when and only when the script changes", async () => {
    const a1 = (await build("sum-a1", {}, { applyScript: "#!/bin/sh\necho a\n" })).daemonSet;
    const a2 = (
      await build(
        "sum-a2",
        { maxUnavailable: 3, namespace: "ops" },
        { applyScript: "#!/bin/sh\necho a\n", checksum: "ignored" },
      )
    ).daemonSet;
    const b = (await build("sum-b", {}, { applyScript: "#!/bin/sh\necho b\n" })).daemonSet;
    expect(checksumOf(a1)).toMatch(/^[0-9a-f]{64}$/);
    expect(checksumOf(a1)).toBe(checksumOf(a2));
    expect(checksumOf(b)).not.toBe(checksumOf(a1));
  });

  it("passes the user's scheduling and rollout settings through", async () => {
    const { daemonSet } = await build(
      "custom",
      {
        namespace: "node-config",
        name: "mirrors",
        nodeSelector: { "node.kubernetes.io/instance-type": "m5.large" },
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [{ key: "eks.amazonaws.com/compute-type", operator: "NotIn", values: ["fargate"] }],
                },
              ],
            },
          },
        },
        tolerations: [{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }],
        image: "registry.example.com/tools/python:3.12-alpine",
        resources: { requests: { cpu: "20m", memory: "48Mi" }, limits: { memory: "96Mi" } },
        maxUnavailable: "20%",
        priorityClassName: "platform-critical",
        imagePullSecrets: ["tools-pull"],
        mode: "restore",
      },
      { applyScript: "x" },
    );
    expect(() => new DaemonSet(daemonSet.inputs as any).validate()).not.toThrow();
    const pod = podOf(daemonSet);
    expect(daemonSet.inputs.metadata).toMatchObject({ name: "mirrors", namespace: "node-config" });
    expect(pod.nodeSelector).toEqual({ "node.kubernetes.io/instance-type": "m5.large" });
    expect(
      pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]
        .values,
    ).toEqual(["fargate"]);
    expect(pod.tolerations).toEqual([{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }]);
    expect(pod.initContainers[0].image).toBe("registry.example.com/tools/python:3.12-alpine");
    expect(pod.containers[0].image).toBe("registry.example.com/tools/python:3.12-alpine");
    expect(pod.initContainers[0].resources).toEqual({
      requests: { cpu: "20m", memory: "48Mi" },
      limits: { memory: "96Mi" },
    });
    expect(pod.initContainers[0].command).toEqual(["sh", "/config/apply-node-config.sh", "restore"]);
    expect(daemonSet.inputs.spec.updateStrategy.rollingUpdate.maxUnavailable).toBe("20%");
    expect(pod.priorityClassName).toBe("platform-critical");
    expect(pod.imagePullSecrets).toEqual([{ name: "tools-pull" }]);
  });

  it("keeps a secret script in a Secret, never in a ConfigMap", async () => {
    const script = "#!/bin/sh\nAUTH=c2VjcmV0\n";
    const { daemonSet, configMap, secret } = await build(
      "secret",
      { scriptInSecret: true },
      pulumi.secret({ applyScript: script }),
    );
    expect(configMap).toBeUndefined();
    expect(isSecretInput(secret.inputs.stringData)).toBe(true);
    // Only the script is secret: the DaemonSet and the names stay reviewable in a preview.
    expect(isSecretInput(secret.inputs.metadata)).toBe(false);
    expect(isSecretInput(daemonSet.inputs.spec)).toBe(false);
    expect(isSecretInput(daemonSet.inputs.metadata)).toBe(false);
    const manifest = { ...secret.inputs, stringData: plain(secret.inputs.stringData) };
    expect(() => new Secret(manifest as any).validate()).not.toThrow();
    expect(manifest.stringData["apply-node-config.sh"]).toBe(script);
    const volume = podOf(daemonSet).volumes[0];
    expect(volume).toEqual({ name: "config", secret: { secretName: secret.inputs.metadata.name, defaultMode: 0o444 } });
    expect(() => new DaemonSet(daemonSet.inputs as any).validate()).not.toThrow();
  });

  it("keeps the script in a Secret by default", async () => {
    const { configMap, secret, daemonSet } = await build("default-holder", {}, { applyScript: "#!/bin/sh\n" });
    expect(configMap).toBeUndefined();
    expect(isSecretInput(secret.inputs.stringData)).toBe(true);
    expect(podOf(daemonSet).volumes[0].secret.secretName).toBe(secret.inputs.metadata.name);
  });

  it("takes the namespace, image, node selector and tolerations as Outputs", async () => {
    const { daemonSet, secret } = await build(
      "outputs",
      {
        namespace: pulumi.output("platform"),
        image: pulumi.output("registry.example.com/tools/node-config:1.0"),
        nodeSelector: { pool: pulumi.output("gpu") },
        tolerations: pulumi.output([{ key: pulumi.output("gpu"), operator: "Exists" as const }]),
      },
      { applyScript: "#!/bin/sh\n" },
    );
    expect(daemonSet.inputs.metadata.namespace).toBe("platform");
    expect(secret.inputs.metadata.namespace).toBe("platform");
    const pod = podOf(daemonSet);
    expect(pod.nodeSelector).toEqual({ pool: "gpu" });
    expect(pod.tolerations).toEqual([{ key: "gpu", operator: "Exists" }]);
    expect(pod.initContainers[0].image).toBe("registry.example.com/tools/node-config:1.0");
    expect(() => new DaemonSet(daemonSet.inputs as any).validate()).not.toThrow();
  });

  it.each<[NodeConfigKubernetesArgs, string, string]>([
    [{ namespace: "Kube_System" }, "kubernetes.namespace", "not a valid DNS label"],
    [{ name: "Mirrors" }, "kubernetes.name", "not a valid DNS label"],
    [{ tolerations: [{ value: "x" }] }, "kubernetes.tolerations[0].operator", 'only with operator "Exists"'],
    [
      { resources: { limits: { memory: "128MB" } } },
      "kubernetes.resources.limits.memory",
      "not a valid Kubernetes quantity",
    ],
    [{ image: "https://registry.example.com/img" }, "kubernetes.image", "not a valid image reference"],
    [{ maxUnavailable: 0 }, "kubernetes.maxUnavailable", "≥ 1"],
    [{ maxUnavailable: "150%" }, "kubernetes.maxUnavailable", "percentage"],
    [{ mode: "remove" as never }, "kubernetes.mode", "unknown mode"],
    [{ nodeSelector: { "bad key": "x" } }, "kubernetes.nodeSelector key", "not a valid label key"],
    [{ imagePullSecrets: ["Tools_Pull"] }, "kubernetes.imagePullSecrets[0]", "not a valid Kubernetes object name"],
  ])("refuses %j before creating anything", (args, field, problem) => {
    const before = mocks.resources.length;
    let error: unknown;
    try {
      nodeConfig.createNodeConfigResources(
        new Parent(`bad-${field}`),
        "bad",
        args,
        pulumi.output({ applyScript: "x" }),
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).field).toBe(field);
    expect((error as Error).message).toContain(problem);
    expect((error as Error).message).toContain("Fix: ");
    expect(mocks.resources.slice(before).filter((r) => r.custom)).toEqual([]);
  });

  it("loads the Kubernetes SDK once resources are created", () => {
    expect(loaded("@pulumi/kubernetes")).toBe(true);
  });
});
