/**
 * The CI renderers (components/core/ci): golden files for representative policies (test/unit/golden/ci/<case>/,
 * regenerate with `UPDATE_GOLDEN=1 npx vitest run test/unit/ci.test.ts` and review the diff), properties over random
 * Docker Hub mirror lists, and every refusal with its field, value and fix.
 */
import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { parse as parseYaml } from "yaml";
import { Container } from "kubernetes-models/v1/Container";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Pod } from "kubernetes-models/v1/Pod";
import {
  acceptsMirrorPaths,
  dockerVersionOfImage,
  parseDockerVersion,
  resolveCiOptions,
} from "../../components/core/ci/options";
import { CI_TARGETS, type CiOptions, type CiTarget, ciMirrorSettings } from "../../components/core/ci";
import { type MirrorPolicyInput, normalisePolicy } from "../../components/core/policy";
import * as core from "../../components/core";
import * as root from "../../components";
import { expectPolicyError } from "./policy-error";

const GOLDEN = join(__dirname, "golden", "ci");
const update = process.env.UPDATE_GOLDEN === "1";

/** A shop's CI policy: a plain-HTTP cache and a public mirror for Docker Hub, a GHCR mirror, a self-signed cache. */
const SHOP: MirrorPolicyInput = {
  registries: {
    "docker.io": {
      mirrors: [
        "http://10.0.12.5:5000",
        { url: "https://cache.internal:8443", insecure: true },
        "https://mirror.gcr.io",
      ],
    },
    "ghcr.io": { mirrors: ["https://ghcr-mirror.example.com"] },
  },
};

const CASES: Array<{ name: string; policy: MirrorPolicyInput; target: CiTarget; options?: CiOptions }> = [
  { name: "dind-flags", policy: SHOP, target: "gitlab-dind" },
  { name: "dind-daemon-json", policy: SHOP, target: "gitlab-dind", options: { dindConfig: "daemon-json" } },
  { name: "runner-docker", policy: SHOP, target: "gitlab-runner", options: { runnerName: "dind-builds" } },
  {
    name: "runner-docker-daemon-json",
    policy: SHOP,
    target: "gitlab-runner",
    options: { dindConfig: "daemon-json", dindImage: "docker:24.0.5-dind" },
  },
  { name: "runner-kubernetes", policy: SHOP, target: "gitlab-runner", options: { runnerExecutor: "kubernetes" } },
  {
    name: "runner-kubernetes-daemon-json",
    policy: SHOP,
    target: "gitlab-runner",
    options: { runnerExecutor: "kubernetes", dindConfig: "daemon-json" },
  },
  { name: "buildx", policy: SHOP, target: "github-buildx" },
  {
    name: "buildx-loopback",
    policy: { registries: { "docker.io": { mirrors: ["http://127.0.0.1:5000"] } } },
    target: "github-buildx",
    options: { buildkitdConfigPath: "ci/buildkitd.toml" },
  },
  { name: "kaniko", policy: SHOP, target: "kaniko" },
  {
    name: "kaniko-tls",
    policy: {
      allowMirrorPaths: true,
      registries: {
        "docker.io": {
          mirrors: [{ url: "https://harbor.example.com/v2/dockerhub-proxy", overridePath: true }],
          upstreamFallback: false,
        },
        "quay.io": {
          mirrors: [
            {
              url: "https://quay-cache.example.com",
              caFile: "/kaniko/ssl/certs/cache-ca.pem",
              clientCertFile: "/kaniko/ssl/client.pem",
              clientKeyFile: "/kaniko/ssl/client.key",
            },
          ],
          upstreamFallback: false,
        },
      },
    },
    target: "kaniko",
  },
];

function golden(name: string, files: Record<string, string>): void {
  const dir = join(GOLDEN, name);
  if (update) {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
  }
  expect(existsSync(dir), `${dir} missing: run with UPDATE_GOLDEN=1`).toBe(true);
  const committed: Record<string, string> = {};
  for (const sub of readdirSync(dir))
    for (const file of readdirSync(join(dir, sub)))
      committed[`${sub}/${file}`] = readFileSync(join(dir, sub, file), "utf8");
  expect(files).toEqual(committed);
}

/** GitLab Runner's config.toml field names (gitlab-runner common/config.go, the toml tags of RunnerSettings,
 * DockerConfig, KubernetesConfig, KubernetesVolumes, KubernetesConfigMap and Service; documented in "Advanced
 * configuration"). Only the ones a runner section may hold that this renderer could write are listed. */
const RUNNER_FIELDS = ["name", "executor", "docker", "kubernetes"];
const DOCKER_FIELDS = ["privileged", "volumes", "services", "image", "tls_verify"];
const KUBERNETES_FIELDS = ["privileged", "volumes", "services", "image"];
const K8S_VOLUME_KINDS = ["host_path", "pvc", "config_map", "secret", "empty_dir", "csi", "nfs"];
const CONFIG_MAP_FIELDS = ["name", "mount_path", "sub_path", "read_only", "items"];
const SERVICE_FIELDS = ["name", "alias", "command", "entrypoint", "environment"];

function expectOnly(obj: Record<string, unknown>, allowed: string[], where: string): void {
  for (const key of Object.keys(obj)) expect(allowed, `${where}.${key} is not a GitLab Runner field`).toContain(key);
}

describe("golden files", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const settings = ciMirrorSettings(c.policy, c.target, c.options);
    golden(c.name, settings.files);
    for (const [path, content] of Object.entries(settings.files)) {
      expect(content.endsWith("\n"), path).toBe(true);
      if (path.endsWith(".json")) JSON.parse(content);
      if (path.endsWith(".toml")) parseToml(content);
      if (path.endsWith(".yml") || path.endsWith(".yaml")) parseYaml(content);
    }
  });
});

describe("gitlab-dind", () => {
  it("renders the Docker Hub mirrors as dockerd flags in policy order, --insecure-registry for skip-verify https", () => {
    const s = ciMirrorSettings(SHOP, "gitlab-dind");
    expect(s.flags).toEqual([
      "--registry-mirror",
      "http://10.0.12.5:5000",
      "--registry-mirror",
      "https://cache.internal:8443",
      "--registry-mirror",
      "https://mirror.gcr.io",
      "--insecure-registry",
      "cache.internal:8443",
    ]);
    expect(JSON.parse(s.daemonJson)).toEqual({
      "registry-mirrors": ["http://10.0.12.5:5000", "https://cache.internal:8443", "https://mirror.gcr.io"],
      "insecure-registries": ["cache.internal:8443"],
    });
    const services = parseYaml(s.gitlabServices)[".registry-mirrors-dind"].services;
    expect(services).toEqual([{ name: "docker:27.5.1-dind", alias: "docker", command: s.flags }]);
    expect(s.warnings).toEqual([expect.stringMatching(/Docker Hub only.*1 mirror\(s\) of ghcr\.io/)]);
  });

  it("renders a Kubernetes DinD container and ConfigMap that kubernetes-models accepts", () => {
    for (const dindConfig of ["flags", "daemon-json"] as const) {
      const s = ciMirrorSettings(SHOP, "gitlab-dind", { dindConfig });
      const container = new Container(s.kubernetesContainer as any);
      container.validate();
      const pod = new Pod({
        metadata: { name: "build" },
        spec: {
          containers: [{ name: "build", image: "docker:27.5.1" }, s.kubernetesContainer as any],
          volumes: [{ name: "dind-daemon-json", configMap: { name: "dind-daemon-json" } }],
        },
      });
      pod.validate();
      new ConfigMap(s.kubernetesConfigMap as any).validate();
      if (dindConfig === "flags") expect(s.kubernetesContainer.args).toEqual(s.flags);
      else expect(s.kubernetesContainer.args).toBeUndefined();
      const file = s.files["gitlab-dind/kubernetes-dind-container.yaml"];
      expect(parseYaml(file)).toEqual(s.kubernetesContainer);
    }
  });

  it("refuses a mirror with a path for dockerd 24.0.6 and older, and for an image tag that names no version", () => {
    const policy = { allowMirrorPaths: true, registries: { "docker.io": { mirrors: ["https://m.example.com/hub"] } } };
    expectPolicyError(
      () => ciMirrorSettings(policy, "gitlab-dind", { dindImage: "docker:24.0.6-dind" }),
      'policy.registries["docker.io"].mirrors[0]',
      '"https://m.example.com/hub"',
      "run docker:24.0.7-dind or newer",
    );
    expectPolicyError(
      () => ciMirrorSettings(policy, "gitlab-dind", { dindImage: "docker:dind" }),
      'policy.registries["docker.io"].mirrors[0]',
      "unknown version",
      "dockerVersion",
    );
    expectPolicyError(
      () =>
        ciMirrorSettings(policy, "gitlab-runner", { dockerVersion: "20.10.24", dindImage: "registry.local/dind:x" }),
      'policy.registries["docker.io"].mirrors[0]',
      "dockerd 20.10.24",
      "remove the path",
    );
    expect(ciMirrorSettings(policy, "gitlab-dind", { dindImage: "docker:24.0.7-dind" }).flags).toEqual([
      "--registry-mirror",
      "https://m.example.com/hub",
    ]);
    expect(
      ciMirrorSettings(policy, "gitlab-dind", { dindImage: "registry.local/dind:stable", dockerVersion: "25.0" }).flags,
    ).toEqual(["--registry-mirror", "https://m.example.com/hub"]);
  });

  it("refuses credentials (headers) in flags, certificate files, no upstream and no usable Docker Hub mirror; leaves out overridePath", () => {
    expectPolicyError(
      () =>
        ciMirrorSettings(
          {
            registries: {
              "docker.io": {
                mirrors: [{ url: "https://m.example.com", headers: { Authorization: "Basic c2VjcmV0" } }],
              },
            },
          },
          "gitlab-dind",
        ),
      'policy.registries["docker.io"].mirrors[0].headers',
      '["Authorization"]',
      "docker login",
    );
    const ecr = { url: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/docker-hub", overridePath: true };
    expectPolicyError(
      () =>
        ciMirrorSettings({ allowMirrorPaths: true, registries: { "docker.io": { mirrors: [ecr] } } }, "gitlab-dind", {
          dockerVersion: "27.5.1",
        }),
      "policy.registries",
      '["docker.io"]',
      'registries["docker.io"]',
    );
    const withFallback = ciMirrorSettings(
      { allowMirrorPaths: true, registries: { "docker.io": { mirrors: [ecr, "https://mirror.gcr.io"] } } },
      "gitlab-dind",
    );
    expect(withFallback.flags).toEqual(["--registry-mirror", "https://mirror.gcr.io"]);
    expect(withFallback.warnings.join()).toMatch(/mirrors\[0\]: .*left out: with overridePath/);
    expectPolicyError(
      () =>
        ciMirrorSettings(
          { registries: { "docker.io": { mirrors: [{ url: "https://m.example.com", caFile: "/etc/pki/ca.pem" }] } } },
          "gitlab-runner",
        ),
      'policy.registries["docker.io"].mirrors[0].caFile',
      '"/etc/pki/ca.pem"',
      "/etc/docker/certs.d/m.example.com/",
    );
    expectPolicyError(
      () =>
        ciMirrorSettings(
          { registries: { "docker.io": { mirrors: ["https://m.example.com"], upstreamFallback: false } } },
          "gitlab-dind",
        ),
      'policy.registries["docker.io"].upstreamFallback',
      "false",
      "upstreamFallback: true",
    );
    expectPolicyError(
      () => ciMirrorSettings({ registries: { "ghcr.io": { mirrors: ["https://g.example.com"] } } }, "gitlab-dind"),
      "policy.registries",
      '["ghcr.io"]',
      'registries["docker.io"]',
    );
  });

  it("never prints a credential: user:pass@ is refused before any flag is rendered", () => {
    const err = expectPolicyError(
      () =>
        ciMirrorSettings(
          { registries: { "docker.io": { mirrors: ["https://bot:hunter2@m.example.com"] } } },
          "gitlab-dind",
        ),
      'policy.registries["docker.io"].mirrors[0]',
      "m.example.com",
      "remove the user:password part",
    );
    expect(err.message).toContain("credentials in a mirror URL");
    expect(err.message).not.toContain("hunter2");
  });
});

describe("gitlab-runner", () => {
  it("renders a [[runners]] section whose fields are all GitLab Runner's own, with the DinD flags as the service command", () => {
    for (const runnerExecutor of ["docker", "kubernetes"] as const)
      for (const dindConfig of ["flags", "daemon-json"] as const) {
        const s = ciMirrorSettings(SHOP, "gitlab-runner", { runnerExecutor, dindConfig, runnerName: "builds" });
        const doc = parseToml(s.configToml) as any;
        expect(Object.keys(doc)).toEqual(["runners"]);
        expect(doc.runners).toHaveLength(1);
        const runner = doc.runners[0];
        expectOnly(runner, RUNNER_FIELDS, "runners");
        expect(runner.executor).toBe(runnerExecutor);
        expect(runner.name).toBe("builds");
        const section = runner[runnerExecutor];
        expectOnly(
          section,
          runnerExecutor === "docker" ? DOCKER_FIELDS : KUBERNETES_FIELDS,
          `runners.${runnerExecutor}`,
        );
        expect(section.privileged).toBe(true);
        expect(section.services).toHaveLength(1);
        expectOnly(section.services[0], SERVICE_FIELDS, `runners.${runnerExecutor}.services`);
        const dind = ciMirrorSettings(SHOP, "gitlab-dind", { dindConfig });
        if (dindConfig === "flags") expect(section.services[0].command).toEqual(dind.flags);
        else {
          expect(section.services[0].command).toBeUndefined();
          expect(s.daemonJson).toBe(dind.daemonJson);
        }
        if (runnerExecutor === "kubernetes" && dindConfig === "daemon-json") {
          expectOnly(section.volumes, K8S_VOLUME_KINDS, "runners.kubernetes.volumes");
          for (const cm of section.volumes.config_map) expectOnly(cm, CONFIG_MAP_FIELDS, "config_map");
          const manifest = parseYaml(s.files["gitlab-runner/dind-daemon-json-configmap.yaml"]);
          new ConfigMap(manifest).validate();
          expect(manifest.metadata.name).toBe(section.volumes.config_map[0].name);
        }
        if (runnerExecutor === "docker" && dindConfig === "daemon-json")
          expect(section.volumes).toContain("/etc/gitlab-runner/dind/daemon.json:/etc/docker/daemon.json:ro");
      }
  });
});

describe("github-buildx", () => {
  it("hands the BuildKit renderer's buildkitd.toml to setup-buildx inline and as a file", () => {
    const s = ciMirrorSettings(SHOP, "github-buildx");
    const toml = parseToml(s.buildkitdToml) as any;
    expect(toml.registry["docker.io"].mirrors).toEqual(["10.0.12.5:5000", "cache.internal:8443", "mirror.gcr.io"]);
    expect(toml.registry["ghcr.io"].mirrors).toEqual(["ghcr-mirror.example.com"]);
    expect(toml.registry["10.0.12.5:5000"]).toEqual({ http: true });
    expect(toml.registry["cache.internal:8443"]).toEqual({ insecure: true });
    expect(s.githubStepInline).toMatchObject({
      uses: "docker/setup-buildx-action@v3",
      with: { "buildkitd-config-inline": s.buildkitdToml },
    });
    expect(s.githubStepFile).toMatchObject({ with: { "buildkitd-config": ".github/buildkitd.toml" } });
    expect(s.gitlabScript[0]).toContain("--buildkitd-config buildkitd.toml");
    expect(s.warnings).toEqual([]);
  });

  it("puts a loopback mirror's builder on the host network and says why", () => {
    const s = ciMirrorSettings(
      { registries: { "docker.io": { mirrors: ["http://localhost:5000"] } } },
      "github-buildx",
    );
    expect(s.githubStepFile.with).toMatchObject({ "driver-opts": "network=host" });
    expect(s.gitlabScript[0]).toContain("--driver-opt network=host");
    expect(s.warnings.join()).toMatch(/loopback/);
  });

  it("refuses what buildkitd.toml cannot express (headers, no upstream), naming the field", () => {
    expectPolicyError(
      () =>
        ciMirrorSettings(
          { registries: { "docker.io": { mirrors: [{ url: "https://m.example.com", headers: { "X-Token": "t" } }] } } },
          "github-buildx",
        ),
      'policy.registries["docker.io"].mirrors[0].headers',
      '["X-Token"]',
      "config.json",
    );
  });
});

describe("kaniko", () => {
  it("uses --registry-mirror for Docker Hub (host without scheme) and --registry-map for the others", () => {
    const s = ciMirrorSettings(SHOP, "kaniko");
    expect(s.args).toEqual([
      "--registry-mirror=10.0.12.5:5000",
      "--registry-mirror=cache.internal:8443",
      "--registry-mirror=mirror.gcr.io",
      "--registry-map=ghcr.io=ghcr-mirror.example.com",
      "--insecure-registry=10.0.12.5:5000",
      "--skip-tls-verify-registry=cache.internal:8443",
    ]);
    expect((s.gitlabJob.script as string[])[0]).toContain('"--registry-map=ghcr.io=ghcr-mirror.example.com"');
  });

  it("keeps a mirror's namespace (ECR/Harbor path) as Kaniko's repository prefix, and skips the fallback when no registry keeps it", () => {
    const s = ciMirrorSettings(CASES.find((c) => c.name === "kaniko-tls")!.policy, "kaniko");
    expect(s.args).toContain("--registry-mirror=harbor.example.com/dockerhub-proxy");
    expect(s.args).toContain("--registry-certificate=quay-cache.example.com=/kaniko/ssl/certs/cache-ca.pem");
    expect(s.args).toContain(
      "--registry-client-cert=quay-cache.example.com=/kaniko/ssl/client.pem,/kaniko/ssl/client.key",
    );
    expect(s.args.at(-1)).toBe("--skip-default-registry-fallback");
  });

  it("refuses what Kaniko cannot do: headers, a catch-all only, mixed upstream fallback", () => {
    expectPolicyError(
      () =>
        ciMirrorSettings(
          {
            registries: {
              "quay.io": { mirrors: [{ url: "https://q.example.com", headers: { Authorization: "Bearer x" } }] },
            },
          },
          "kaniko",
        ),
      'policy.registries["quay.io"].mirrors[0].headers',
      '["Authorization"]',
      "/kaniko/.docker/config.json",
    );
    expectPolicyError(
      () => ciMirrorSettings({ registries: { "*": { mirrors: ["https://any.example.com"] } } }, "kaniko"),
      "policy.registries",
      '["*"]',
      "name the registries",
    );
    expectPolicyError(
      () =>
        ciMirrorSettings(
          {
            registries: {
              "docker.io": { mirrors: ["https://d.example.com"] },
              "ghcr.io": { mirrors: ["https://g.example.com"], upstreamFallback: false },
            },
          },
          "kaniko",
        ),
      'policy.registries["ghcr.io"].upstreamFallback',
      "false",
      "the same upstreamFallback",
    );
  });

  it("leaves the catch-all out with a warning when named registries remain", () => {
    const s = ciMirrorSettings(
      {
        registries: {
          "docker.io": { mirrors: ["https://d.example.com"] },
          "*": { mirrors: ["https://a.example.com"] },
        },
      },
      "kaniko",
    );
    expect(s.args).toEqual(["--registry-mirror=d.example.com"]);
    expect(s.warnings.join()).toMatch(/no entry for every registry/);
  });
});

describe("options", () => {
  it("reads dockerd's version from a docker:X.Y.Z-dind tag, and knows 24.0.7 is the first to take a path", () => {
    expect(dockerVersionOfImage("docker:24.0.5-dind")).toEqual([24, 0, 5]);
    expect(dockerVersionOfImage("docker:27.5-dind-rootless")).toEqual([27, 5, 0]);
    expect(dockerVersionOfImage("registry.local:5000/docker:26.1.4-dind")).toEqual([26, 1, 4]);
    expect(dockerVersionOfImage("docker:dind")).toBeUndefined();
    expect(dockerVersionOfImage("docker")).toBeUndefined();
    expect(parseDockerVersion("v20.10")).toEqual([20, 10, 0]);
    expect([[24, 0, 6], [23, 9, 9], undefined].map((v) => acceptsMirrorPaths(v as any))).toEqual([false, false, false]);
    expect(
      [
        [24, 0, 7],
        [24, 1, 0],
        [25, 0, 0],
      ].map((v) => acceptsMirrorPaths(v as any)),
    ).toEqual([true, true, true]);
  });

  it("refuses unknown options, a bad version, a version that contradicts the image tag, and unknown values", () => {
    expectPolicyError(() => resolveCiOptions({ dindImg: "x" } as any), "ci.dindImg", '"dindImg"', "dindImage");
    expectPolicyError(() => resolveCiOptions({ dockerVersion: "latest" }), "ci.dockerVersion", '"latest"', "24.0.5");
    expectPolicyError(
      () => resolveCiOptions({ dockerVersion: "24.0.5", dindImage: "docker:27.5.1-dind" }),
      "ci.dockerVersion",
      '"24.0.5"',
      "leave dockerVersion out",
    );
    expectPolicyError(() => resolveCiOptions({ dindConfig: "file" as any }), "ci.dindConfig", '"file"', "daemon-json");
    expectPolicyError(
      () => resolveCiOptions({ dindImage: "docker dind" }),
      "ci.dindImage",
      '"docker dind"',
      "docker:27",
    );
    expectPolicyError(
      () => ciMirrorSettings({ registries: { "docker.io": { mirrors: ["https://m.example.com"] } } }, "jenkins" as any),
      "target",
      '"jenkins"',
      "gitlab-dind",
    );
  });

  it("is exported from the package root and from registry-mirrors/core", () => {
    expect(root.ciMirrorSettings).toBe(ciMirrorSettings);
    expect(core.ciMirrorSettings).toBe(ciMirrorSettings);
    expect(root.CI_TARGETS).toEqual(CI_TARGETS);
  });

  it("takes a normalised policy as well as one as written", () => {
    const { policy } = normalisePolicy(SHOP);
    expect(ciMirrorSettings(policy, "kaniko").files).toEqual(ciMirrorSettings(SHOP, "kaniko").files);
  });
});

describe("properties", () => {
  const host = fc.constantFrom("mirror.example.com", "cache.internal:8443", "10.0.0.5:5000", "m2.example.org");
  const endpoint = fc.record({ host, scheme: fc.constantFrom("http", "https"), insecure: fc.boolean() });
  const mirrors = fc.uniqueArray(endpoint, { minLength: 1, maxLength: 5, selector: (e) => e.host });
  const toPolicy = (list: Array<{ host: string; scheme: string; insecure: boolean }>): MirrorPolicyInput => ({
    registries: {
      "docker.io": {
        mirrors: list.map((e) => ({ url: `${e.scheme}://${e.host}`, insecure: e.scheme === "https" && e.insecure })),
      },
    },
  });

  it("DinD flags, daemon.json, the runner's service command and Kaniko's mirrors all list the same mirrors in order", () => {
    fc.assert(
      fc.property(mirrors, (list) => {
        const policy = toPolicy(list);
        const dind = ciMirrorSettings(policy, "gitlab-dind");
        const urls = list.map((e) => `${e.scheme}://${e.host}`);
        const daemon = JSON.parse(dind.daemonJson);
        expect(daemon["registry-mirrors"]).toEqual(urls);
        const flagUrls = dind.flags.filter((_f, i) => dind.flags[i - 1] === "--registry-mirror");
        expect(flagUrls).toEqual(urls);
        const insecureHosts = [...new Set(list.filter((e) => e.scheme === "https" && e.insecure).map((e) => e.host))];
        expect(daemon["insecure-registries"] ?? []).toEqual(insecureHosts);
        expect(dind.flags.length).toBe(2 * (urls.length + insecureHosts.length));
        const runner = parseToml(ciMirrorSettings(policy, "gitlab-runner").configToml) as any;
        expect(runner.runners[0].docker.services[0].command).toEqual(dind.flags);
        const kaniko = ciMirrorSettings(policy, "kaniko");
        expect(kaniko.args.filter((a) => a.startsWith("--registry-mirror=")).map((a) => a.slice(18))).toEqual(
          list.map((e) => e.host),
        );
      }),
      { numRuns: 200 },
    );
  });

  it("renders the same bytes twice for every target", () => {
    fc.assert(
      fc.property(mirrors, fc.constantFrom(...CI_TARGETS), (list, target) => {
        const policy = toPolicy(list);
        expect(ciMirrorSettings(policy, target).files).toEqual(ciMirrorSettings(policy, target).files);
      }),
      { numRuns: 100 },
    );
  });
});
