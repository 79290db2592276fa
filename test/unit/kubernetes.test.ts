import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import type { PolicyError } from "../../components/core/errors";
import {
  CHECKSUM_ANNOTATION,
  DEFAULT_NODE_CONFIG_IMAGE,
  DOCKER_HUB_AUTH_KEY,
  HOST_RUNTIME_CTL,
  type NodeConfigSpec,
  dockerConfigJson,
  hostMountDirs,
  nodeConfigManifests,
  parseQuantity,
  registryAuthKey,
  resolveStaticCredential,
  scriptChecksum,
  validateDnsLabel,
  validateDnsSubdomain,
  validateImageReference,
  validateNodeSelector,
  validateResources,
  validateTolerations,
} from "../../components/core/kubernetes";
import { errorOf } from "./policy-error";
import { renderNodeConfig } from "../../components/core/render/node-config";

/** Asserts a PolicyError whose message names the field, the problem and a fix. */
function expectPolicyError(fn: () => unknown, field: string, problem: string | RegExp): PolicyError {
  const err = errorOf(fn);
  expect(err.field).toBe(field);
  expect(err.message.startsWith(`${field}: `)).toBe(true);
  if (typeof problem === "string") expect(err.message).toContain(problem);
  else expect(err.message).toMatch(problem);
  expect(err.message).toMatch(/\. Fix: \S/);
  return err;
}

const baseSpec: NodeConfigSpec = {
  name: "mirrors-node-config",
  namespace: "kube-system",
  image: DEFAULT_NODE_CONFIG_IMAGE,
  mode: "apply",
  applyScript: "#!/bin/sh\necho apply\n",
  paths: ["/etc/docker/daemon.json", "/etc/containerd/certs.d/docker.io/hosts.toml"],
  tolerations: [{ operator: "Exists" }],
  maxUnavailable: 1,
  priorityClassName: "system-node-critical",
};

describe("names", () => {
  it.each(["kube-system", "a", "ns-1", "x".repeat(63)])("accepts the namespace %j", (ns) => {
    expect(validateDnsLabel("namespace", ns)).toBe(ns);
  });

  it.each(["Kube-System", "-a", "a-", "a.b", "a_b", "", "x".repeat(64), 5])(
    "refuses the namespace %j naming the value and the fix",
    (ns) => {
      const err = expectPolicyError(
        () => validateDnsLabel("kubernetes.namespace", ns),
        "kubernetes.namespace",
        "not a valid DNS label",
      );
      expect(err.message).toContain(`(got ${JSON.stringify(ns)})`);
      expect(err.fix).toContain("lower-case");
    },
  );

  it("accepts dotted object names and refuses upper case", () => {
    expect(validateDnsSubdomain("secretName", "pull.secret-1")).toBe("pull.secret-1");
    expectPolicyError(
      () => validateDnsSubdomain("secretName", "Pull"),
      "secretName",
      "not a valid Kubernetes object name",
    );
  });

  it("checks node selector keys and values", () => {
    expect(
      validateNodeSelector("nodeSelector", { "node-role.kubernetes.io/worker": "", "kubernetes.io/os": "linux" }),
    ).toEqual({
      "kubernetes.io/os": "linux",
      "node-role.kubernetes.io/worker": "",
    });
    expectPolicyError(
      () => validateNodeSelector("nodeSelector", { "bad key!": "x" }),
      "nodeSelector key",
      "not a valid label key",
    );
    expectPolicyError(
      () => validateNodeSelector("nodeSelector", { pool: "has space" }),
      "nodeSelector.pool",
      "not a valid label value",
    );
  });
});

describe("tolerations", () => {
  it("accepts tolerate-all and typical tolerations, dropping empty fields", () => {
    expect(validateTolerations("tolerations", [{ operator: "Exists" }])).toEqual([{ operator: "Exists" }]);
    expect(
      validateTolerations("tolerations", [
        { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
        { key: "dedicated", value: "build", effect: "NoExecute", tolerationSeconds: 60 },
      ]),
    ).toEqual([
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
      { key: "dedicated", operator: "Equal", value: "build", effect: "NoExecute", tolerationSeconds: 60 },
    ]);
  });

  it.each([
    [[{ value: "x" }], "tolerations[0].operator", 'empty key matches every taint only with operator "Exists"'],
    [[{ key: "a", operator: "Exists", value: "x" }], "tolerations[0].value", "value must be empty"],
    [[{ key: "a", operator: "In" }], "tolerations[0].operator", '"Equal" or "Exists"'],
    [[{ key: "a", effect: "NoRun" }], "tolerations[0].effect", "unknown taint effect"],
    [
      [{ key: "a", effect: "NoSchedule", tolerationSeconds: 5 }],
      "tolerations[0].tolerationSeconds",
      'only allowed with effect "NoExecute"',
    ],
    [[{ key: "a", effect: "NoExecute", tolerationSeconds: 1.5 }], "tolerations[0].tolerationSeconds", "whole number"],
    [[{ key: "bad key", operator: "Exists" }], "tolerations[0].key", "not a valid taint key"],
    [[{ key: "a", value: "x y" }], "tolerations[0].value", "not a valid taint value"],
    [[{ key: "a", opertor: "Exists" }], "tolerations[0].opertor", "unknown toleration field"],
    [{ operator: "Exists" }, "tolerations", "must be a list"],
  ])("refuses %j as Kubernetes would", (value, field, problem) => {
    expectPolicyError(() => validateTolerations("tolerations", value), field, problem);
  });
});

describe("resource quantities", () => {
  it.each([
    ["100m", 0.1],
    ["64Mi", 64 * 2 ** 20],
    ["1.5", 1.5],
    ["1e3", 1000],
    ["2k", 2000],
    [".5Gi", 2 ** 29],
    ["0", 0],
  ])("parses %j", (text, value) => {
    expect(parseQuantity("q", text)).toBeCloseTo(value, 9);
  });

  it.each(["64MB", "1.2.3", "ten", "", "5 Mi", "Mi", "1mi"])("refuses %j", (text) => {
    const err = expectPolicyError(
      () => parseQuantity("resources.limits.memory", text),
      "resources.limits.memory",
      "not a valid Kubernetes quantity",
    );
    expect(err.fix).toContain("64Mi");
  });

  it("refuses a negative quantity", () => {
    expectPolicyError(
      () => parseQuantity("resources.requests.cpu", "-1"),
      "resources.requests.cpu",
      "must not be negative",
    );
  });

  it("refuses a request above its limit and an unknown resource name", () => {
    expectPolicyError(
      () => validateResources("resources", { requests: { memory: "256Mi" }, limits: { memory: "128Mi" } }),
      "resources.requests.memory",
      "the request is above the limit 128Mi",
    );
    expectPolicyError(
      () => validateResources("resources", { limits: { gpu: "1" } }),
      "resources.limits",
      "unsupported resource name",
    );
    expect(validateResources("resources", { requests: { cpu: "100m" }, limits: { cpu: "0.1" } })).toEqual({
      requests: { cpu: "100m" },
      limits: { cpu: "0.1" },
    });
  });
});

describe("image references", () => {
  it.each([
    DEFAULT_NODE_CONFIG_IMAGE,
    "alpine",
    "alpine:3.20",
    "registry.example.com:5000/tools/node-config:v1",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror/library/python:3.12-alpine",
    `ghcr.io/org/img@sha256:${"a".repeat(64)}`,
    "[::1]:5000/img:1",
  ])("accepts %j", (ref) => {
    expect(validateImageReference("image", ref)).toBe(ref);
  });

  it.each([
    "Alpine",
    "alpine:",
    "https://ghcr.io/org/img",
    "org//img",
    "img@sha256:abc",
    `img@sha256:${"a".repeat(65)}`,
    "img:-tag",
    "",
    "a b",
  ])("refuses %j", (ref) => {
    expectPolicyError(
      () => validateImageReference("kubernetes.image", ref),
      "kubernetes.image",
      /image reference|sha256 digest/,
    );
  });
});

describe("host mounts", () => {
  it("mounts exactly the folders of the written paths", () => {
    expect(
      hostMountDirs([
        "/etc/docker/daemon.json",
        "/etc/containerd/certs.d/ghcr.io/hosts.toml",
        "/etc/containerd/config.toml",
      ]),
    ).toEqual(["/etc/containerd", "/etc/docker"]);
    expect(hostMountDirs(["/etc/rancher/k3s/registries.yaml"])).toEqual(["/etc/rancher"]);
    expect(hostMountDirs([])).toEqual([]);
  });

  it("refuses a path outside the supported folders", () => {
    expectPolicyError(() => hostMountDirs(["/etc/dockerx/daemon.json"]), "paths", "only writes under");
    expectPolicyError(() => hostMountDirs(["/opt/certs.d/x/hosts.toml"]), "paths", "only writes under");
  });
});

describe("node-config manifests", () => {
  it("render a ConfigMap and DaemonSet that kubernetes-models accepts", () => {
    const { configMap, daemonSet } = nodeConfigManifests(baseSpec);
    // Typed manifests: they compile as kubernetes-models' own types, and validate at run time.
    expect(() => new ConfigMap(configMap).validate()).not.toThrow();
    expect(() => new DaemonSet(daemonSet).validate()).not.toThrow();
    expect(configMap.data["apply-node-config.sh"]).toBe(baseSpec.applyScript);
    expect(configMap.metadata.name).toBe(`mirrors-node-config-${scriptChecksum(baseSpec.applyScript).slice(0, 10)}`);
    expect(configMap.immutable).toBe(true);
  });

  it("with scriptInSecret, render a Secret and a DaemonSet whose script volume reads it", () => {
    const plain = nodeConfigManifests(baseSpec);
    const { secret, daemonSet } = nodeConfigManifests(baseSpec, { scriptInSecret: true });
    expect(() => new Secret(secret).validate()).not.toThrow();
    expect(() => new DaemonSet(daemonSet).validate()).not.toThrow();
    expect(secret.stringData).toEqual(plain.configMap.data);
    expect(secret.metadata).toEqual(plain.configMap.metadata);
    expect(secret.immutable).toBe(true);
    expect("configMap" in nodeConfigManifests(baseSpec, { scriptInSecret: true })).toBe(false);
    const volumes = daemonSet.spec.template.spec.volumes;
    expect(volumes[0]).toEqual({ name: "config", secret: { secretName: secret.metadata.name, defaultMode: 0o444 } });
    // Everything else is the ConfigMap variant's DaemonSet.
    expect({ ...daemonSet.spec.template.spec, volumes: volumes.slice(1) }).toEqual({
      ...plain.daemonSet.spec.template.spec,
      volumes: plain.daemonSet.spec.template.spec.volumes.slice(1),
    });
    expect(daemonSet.spec.template.metadata).toEqual(plain.daemonSet.spec.template.metadata);
  });

  it("kubernetes-models rejects a broken DaemonSet (the validation is real)", () => {
    const { daemonSet } = nodeConfigManifests(baseSpec);
    (daemonSet.spec.template.spec.containers[0].securityContext as any).privileged = "yes";
    expect(() => new DaemonSet(daemonSet as any).validate()).toThrow();
  });

  it("give the pod exactly the host access it needs", () => {
    const pod = nodeConfigManifests(baseSpec).daemonSet.spec.template.spec;
    expect(pod.hostPID).toBe(true);
    expect("hostNetwork" in pod).toBe(false);
    expect("hostIPC" in pod).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.priorityClassName).toBe("system-node-critical");
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);

    const [init] = pod.initContainers;
    expect(pod.initContainers).toHaveLength(1);
    expect(init.command).toEqual(["sh", "/config/apply-node-config.sh", "apply"]);
    expect(init.env).toEqual([
      { name: "NODE_ROOT", value: "/host" },
      { name: "RUNTIME_CTL", value: HOST_RUNTIME_CTL },
    ]);
    expect(HOST_RUNTIME_CTL).toBe("nsenter -t 1 -m -u -i -n -p -- systemctl");
    expect(init.securityContext).toEqual({ privileged: true });
    expect(init.volumeMounts).toEqual([
      { name: "config", mountPath: "/config", readOnly: true },
      { name: "host-etc-containerd", mountPath: "/host/etc/containerd" },
      { name: "host-etc-docker", mountPath: "/host/etc/docker" },
    ]);
    expect(pod.volumes).toEqual([
      {
        name: "config",
        configMap: { name: expect.stringMatching(/^mirrors-node-config-[0-9a-f]{10}$/), defaultMode: 0o444 },
      },
      { name: "host-etc-containerd", hostPath: { path: "/etc/containerd", type: "DirectoryOrCreate" } },
      { name: "host-etc-docker", hostPath: { path: "/etc/docker", type: "DirectoryOrCreate" } },
    ]);

    const [idle] = pod.containers;
    expect(pod.containers).toHaveLength(1);
    expect(idle.volumeMounts).toBeUndefined();
    expect(idle.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65534,
      runAsGroup: 65534,
      capabilities: { drop: ["ALL"] },
    });
    expect(idle.command.slice(0, 2)).toEqual(["sh", "-c"]);
  });

  it("roll out with maxUnavailable and carry the mode", () => {
    const ds = nodeConfigManifests({ ...baseSpec, maxUnavailable: "10%", mode: "restore" }).daemonSet;
    expect(ds.spec.updateStrategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: "10%", maxSurge: 0 },
    });
    expect(ds.spec.minReadySeconds).toBe(5);
    expect(ds.spec.template.spec.initContainers[0].command[2]).toBe("restore");
    expect(ds.spec.template.metadata.annotations["registry-mirrors.dev/mode"]).toBe("restore");
    // The selector must not depend on anything that changes (it is immutable on a DaemonSet).
    expect(ds.spec.selector.matchLabels).toEqual({
      "app.kubernetes.io/name": "registry-mirrors-node-config",
      "app.kubernetes.io/instance": "mirrors-node-config",
    });
  });

  it("change the checksum annotation when and only when the script changes", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.constantFrom<number | string>(1, 2, "25%"), (a, b, maxUnavailable) => {
        const ann = (script: string) =>
          nodeConfigManifests({ ...baseSpec, applyScript: script, maxUnavailable }).daemonSet.spec.template.metadata
            .annotations[CHECKSUM_ANNOTATION];
        expect(ann(a)).toBe(scriptChecksum(a));
        expect(ann(a) === ann(b)).toBe(a === b);
      }),
    );
  });

  it("are deterministic", () => {
    expect(JSON.stringify(nodeConfigManifests(baseSpec))).toBe(JSON.stringify(nodeConfigManifests({ ...baseSpec })));
  });
});

describe("registry keys", () => {
  it("writes Docker Hub under the key kubelet and docker match short names against", () => {
    for (const hub of ["docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"]) {
      expect(registryAuthKey("registries", hub)).toBe(DOCKER_HUB_AUTH_KEY);
    }
    expect(registryAuthKey("registries", "GHCR.io")).toBe("ghcr.io");
    expect(registryAuthKey("registries", "10.0.0.5:5000")).toBe("10.0.0.5:5000");
  });

  it.each(["https://ghcr.io", "ghcr.io/org", "host:99999", "", "bad host"])("refuses the key %j", (key) => {
    expectPolicyError(
      () => registryAuthKey('registries["x"]', key),
      'registries["x"]',
      /host\[:port\]|host name|registry host/,
    );
  });
});

describe("static credentials", () => {
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

  it("accepts username + password, auth, or both when they agree", () => {
    expect(resolveStaticCredential("r", { username: "u", password: "p:w" })).toEqual({
      username: "u",
      password: "p:w",
    });
    expect(resolveStaticCredential("r", { auth: b64("u:p:w") })).toEqual({ username: "u", password: "p:w" });
    expect(resolveStaticCredential("r", { username: "u", password: "p:w", auth: b64("u:p:w") })).toEqual({
      username: "u",
      password: "p:w",
    });
  });

  it("refuses password and auth that disagree, without printing either", () => {
    const err = expectPolicyError(
      () =>
        resolveStaticCredential('registries["ghcr.io"]', {
          username: "u",
          password: "s3cret-A",
          auth: b64("u:s3cret-B"),
        }),
      'registries["ghcr.io"].password',
      "password and auth are both given and disagree",
    );
    expect(err.message).not.toMatch(/s3cret|czNjcmV0/);
    expectPolicyError(
      () => resolveStaticCredential("r", { username: "v", auth: b64("u:p") }),
      "r.username",
      "username and auth are both given and disagree",
    );
  });

  it.each([
    [{ auth: "not base64!" }, "r.auth", "base64"],
    [{ auth: b64("nocolon") }, "r.auth", 'base64 of "username:password"'],
    [{ username: "user-Q7" }, "r.password", "a password or token is required"],
    [{ password: "pass-Z9" }, "r.username", "a username is required"],
    [{ username: "user:Q7", password: "pass-Z9" }, "r.username", "must not contain ':'"],
  ])("refuses %j", (input, field, problem) => {
    const err = expectPolicyError(() => resolveStaticCredential("r", input), field, problem);
    for (const v of Object.values(input)) expect(err.message).not.toContain(v);
  });

  it("round-trips any credential through auth", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((u) => !u.includes(":")),
        fc.string({ minLength: 1 }),
        (username, password) => {
          expect(resolveStaticCredential("r", { auth: b64(`${username}:${password}`) })).toEqual({
            username,
            password,
          });
        },
      ),
    );
  });
});

describe(".dockerconfigjson", () => {
  it("holds username, password and auth per registry, keys sorted", () => {
    const json = dockerConfigJson({
      "ghcr.io": { username: "bot", password: "tok" },
      [DOCKER_HUB_AUTH_KEY]: { username: "me", password: "pw:1" },
    });
    expect(json).toBe(
      JSON.stringify({
        auths: {
          "ghcr.io": { username: "bot", password: "tok", auth: Buffer.from("bot:tok").toString("base64") },
          "https://index.docker.io/v1/": {
            username: "me",
            password: "pw:1",
            auth: Buffer.from("me:pw:1").toString("base64"),
          },
        },
      }),
    );
  });

  it("is what `docker login` would decode for every credential", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.domain(),
          fc.record({
            username: fc.string({ minLength: 1 }).filter((u) => !u.includes(":")),
            password: fc.string({ minLength: 1 }),
          }),
        ),
        (creds) => {
          const parsed = JSON.parse(dockerConfigJson(creds));
          expect(Object.keys(parsed.auths)).toEqual(Object.keys(creds).sort());
          for (const [key, c] of Object.entries(creds)) {
            const decoded = Buffer.from(parsed.auths[key].auth, "base64").toString("utf8");
            expect(decoded).toBe(`${c.username}:${c.password}`);
          }
        },
      ),
    );
  });
});

describe("node-config manifests with the watchdog", () => {
  const watched = renderNodeConfig({
    mirrors: ["https://hub-1.example.com"],
    watchdog: { stateDir: "/var/lib/rm/state", metricsFile: "/var/lib/node_exporter/textfile/rm.prom" },
  }).applyScript;

  it("run `watch` as the long-running container, with the apply container's env and mounts plus the state folders", () => {
    const { daemonSet } = nodeConfigManifests({ ...baseSpec, applyScript: watched });
    expect(() => new DaemonSet(daemonSet).validate()).not.toThrow();
    const pod = daemonSet.spec.template.spec;
    const [init] = pod.initContainers;
    expect(init.env).toContainEqual({ name: "WATCHDOG_SERVICE", value: "0" });
    expect(pod.containers).toHaveLength(1);
    const [watch] = pod.containers;
    expect(watch.name).toBe("watchdog");
    expect(watch.command).toEqual(["sh", "/config/apply-node-config.sh", "watch"]);
    expect(watch.env).toEqual([
      { name: "NODE_ROOT", value: "/host" },
      { name: "RUNTIME_CTL", value: HOST_RUNTIME_CTL },
    ]);
    expect(watch.volumeMounts).toEqual([
      ...(init.volumeMounts ?? []),
      { name: "watch-state", mountPath: "/host/var/lib/rm/state" },
      { name: "watch-metrics", mountPath: "/host/var/lib/node_exporter/textfile" },
    ]);
    expect(pod.volumes.slice(-2)).toEqual([
      { name: "watch-state", hostPath: { path: "/var/lib/rm/state", type: "DirectoryOrCreate" } },
      { name: "watch-metrics", hostPath: { path: "/var/lib/node_exporter/textfile", type: "DirectoryOrCreate" } },
    ]);
  });

  it("make the watchdog container ready only when `check --readiness` passes (rollout status = mirrors effective)", () => {
    const { daemonSet } = nodeConfigManifests({ ...baseSpec, applyScript: watched });
    const [watch] = daemonSet.spec.template.spec.containers;
    expect(watch.readinessProbe).toEqual({
      exec: { command: ["sh", "/config/apply-node-config.sh", "check", "--readiness"] },
      initialDelaySeconds: 0,
      periodSeconds: 60,
      timeoutSeconds: 30,
      successThreshold: 1,
      failureThreshold: 2,
    });
    // The probe runs in the container that has the script, the node's folders and the watchdog's state.
    expect(watch.volumeMounts?.map((m) => m.mountPath)).toEqual(
      expect.arrayContaining(["/config", "/host/etc/docker", "/host/var/lib/rm/state"]),
    );
    expect(watch.env).toContainEqual({ name: "NODE_ROOT", value: "/host" });
    // kubernetes-models checks the probe's shape (an exec probe with whole-number timings).
    const broken = structuredClone(daemonSet);
    (broken.spec.template.spec.containers[0].readinessProbe as any).periodSeconds = "60s";
    expect(() => new DaemonSet(broken as any).validate()).toThrow();
    // The sleeper (no watch plan, or restore) has nothing to check.
    const idle = nodeConfigManifests({ ...baseSpec, applyScript: watched, mode: "restore" }).daemonSet;
    expect(idle.spec.template.spec.containers[0].readinessProbe).toBeUndefined();
  });

  it("keep the sleeper in restore mode and without a watch plan; no metrics mount without a metrics file", () => {
    for (const spec of [
      { ...baseSpec, applyScript: watched, mode: "restore" as const },
      { ...baseSpec, applyScript: renderNodeConfig({ mirrors: ["https://hub-1.example.com"] }).applyScript },
    ]) {
      const pod = nodeConfigManifests(spec).daemonSet.spec.template.spec;
      expect(pod.containers.map((c) => c.name)).toEqual(["idle"]);
      expect(pod.initContainers[0].env?.map((e) => e.name)).toEqual(["NODE_ROOT", "RUNTIME_CTL"]);
    }
    const noMetrics = renderNodeConfig({ mirrors: ["https://hub-1.example.com"], watchdog: { metricsFile: false } });
    const { daemonSet } = nodeConfigManifests({ ...baseSpec, applyScript: noMetrics.applyScript });
    expect(() => new DaemonSet(daemonSet).validate()).not.toThrow();
    expect(daemonSet.spec.template.spec.volumes.map((v) => v.name)).toContain("watch-state");
    expect(daemonSet.spec.template.spec.volumes.map((v) => v.name)).not.toContain("watch-metrics");
  });
});
