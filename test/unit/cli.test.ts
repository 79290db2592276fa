import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { parse as parseYaml } from "yaml";
import { main } from "../../cli/main";
import { userDataFiles, userDataSizeWarning } from "../../components/core/userdata";

function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "rm-cli-"));
}

function listFiles(dir: string, prefix = ""): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? listFiles(path, `${prefix}${name}/`) : [`${prefix}${name}`];
    })
    .sort();
}

describe("registry-mirrors render", () => {
  it("writes the seed's single-node configuration where a node reads it", () => {
    const dir = tmp();
    const result = cli([
      "render",
      "--mirror",
      "https://a1b2c3.mirror.aliyuncs.com",
      "--exec-opt",
      "native.cgroupdriver=systemd",
      "--log-driver",
      "json-file",
      "--log-opt",
      "max-size=100m",
      "--insecure-registry",
      "10.0.0.0/8",
      "--out",
      dir,
    ]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(listFiles(dir)).toEqual([
      "apply-node-config.sh",
      "node/etc/containerd/certs.d/docker.io/hosts.toml",
      "node/etc/docker/daemon.json",
      "user-data.yaml",
    ]);
    expect(result.out).toContain(`wrote ${join(dir, "node/etc/docker/daemon.json")}`);
    const daemon = JSON.parse(readFileSync(join(dir, "node/etc/docker/daemon.json"), "utf8"));
    expect(daemon).toMatchObject({
      "registry-mirrors": ["https://a1b2c3.mirror.aliyuncs.com"],
      "exec-opts": ["native.cgroupdriver=systemd"],
      "log-driver": "json-file",
      "log-opts": { "max-size": "100m" },
      "insecure-registries": ["10.0.0.0/8"],
    });
    const hosts = parseToml(readFileSync(join(dir, "node/etc/containerd/certs.d/docker.io/hosts.toml"), "utf8"));
    expect(Object.keys(hosts.host as object)).toEqual(["https://a1b2c3.mirror.aliyuncs.com"]);
    const cloudConfig = readFileSync(join(dir, "user-data.yaml"), "utf8");
    expect(cloudConfig.startsWith("#cloud-config\n")).toBe(true);
    expect(JSON.stringify(parseYaml(cloudConfig))).toContain("registry-mirrors");
    expect(statSync(join(dir, "apply-node-config.sh")).mode & 0o111).not.toBe(0);
  });

  it("renders every runtime with per-registry mirrors, order kept", () => {
    const dir = tmp();
    const result = cli([
      "render",
      ...["docker", "containerd", "crio", "podman", "k3s", "rke2", "buildkit", "bottlerocket"].flatMap((r) => [
        "--runtime",
        r,
      ]),
      "--registry-mirror",
      "docker.io=https://hub-1.example.com",
      "--registry-mirror",
      "docker.io=https://hub-2.example.com",
      "--registry-mirror",
      "ghcr.io=http://10.0.0.5:5000",
      "--out",
      dir,
    ]);
    // The CLI warns exactly when user-data.yaml is over a cloud's limit (every runtime's engine is close to EC2's).
    const userData = readFileSync(join(dir, "user-data.yaml"), "utf8");
    const tooBig = userDataSizeWarning(join(dir, "user-data.yaml"), userData);
    expect(result.err).toBe(tooBig ? `warning: ${tooBig}` : "");
    expect(result.code).toBe(0);
    const files = listFiles(dir);
    expect(files).toContain("node/etc/containerd/certs.d/ghcr.io/hosts.toml");
    expect(files).toContain("node/etc/rancher/k3s/registries.yaml");
    expect(files).toContain("node/etc/rancher/rke2/registries.yaml");
    expect(files).toContain("node/etc/buildkit/buildkitd.toml");
    expect(files).toContain("bottlerocket.toml");
    expect(files.some((f) => f.startsWith("node/etc/containers/registries.conf.d/"))).toBe(true);
    const daemon = JSON.parse(readFileSync(join(dir, "node/etc/docker/daemon.json"), "utf8"));
    expect(daemon["registry-mirrors"]).toEqual(["https://hub-1.example.com", "https://hub-2.example.com"]);
  });

  it("--engine-url: user-data.yaml fetches the engine, which is written under engine/ to upload", () => {
    const dir = tmp();
    const url = "https://artifacts.example.com/registry-mirrors/";
    const result = cli(["render", "--mirror", "https://m.example.com", "--engine-url", url, "--out", dir]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    const [engine] = listFiles(dir).filter((f) => f.startsWith("engine/"));
    expect(engine).toMatch(/^engine\/registry-mirrors-engine-0\.1\.0-[0-9a-f]{16}\.sh$/);
    const script = readFileSync(join(dir, "apply-node-config.sh"), "utf8");
    const engineText = readFileSync(join(dir, engine), "utf8");
    expect(script.startsWith(engineText)).toBe(true);
    const [file] = userDataFiles(readFileSync(join(dir, "user-data.yaml"), "utf8"));
    expect(file.engine?.url).toBe(`${url}${engine.slice("engine/".length)}`);
    expect(engineText + file.content).toBe(script);

    const bad = cli(["render", "--mirror", "https://m.example.com", "--engine-url", "s3://bucket/x", "--out", tmp()]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--engine-url: .*s3: is not http\(s\).*Fix: /);
  });

  it("reads a YAML policy file with the component's argument shape", () => {
    const dir = tmp();
    const file = join(dir, "policy.yaml");
    writeFileSync(
      file,
      [
        "policy:",
        "  registries:",
        "    quay.io:",
        '      mirrors: ["https://quay-mirror.example.com"]',
        "runtimes: [containerd]",
        "",
      ].join("\n"),
    );
    const result = cli(["render", "--policy", file, "--out", join(dir, "out")]);
    expect(result.err).toBe("");
    expect(existsSync(join(dir, "out/node/etc/containerd/certs.d/quay.io/hosts.toml"))).toBe(true);
    expect(existsSync(join(dir, "out/node/etc/docker/daemon.json"))).toBe(false);
  });

  it.each([
    [["--mirror", "mirror.example.com"], "mirrors[0]", "no scheme"],
    [["--mirror", "https://m.example.com", "--log-opt", "max-size"], "--log-opt", "="],
    [["--mirror", "https://m.example.com", "--insecure-registry", "10.0.0.0/40"], "insecure", "CIDR"],
    [["--mirror", "https://m.example.com", "--runtime", "lxd"], "--runtime", "unknown runtime"],
    [["--registry-mirror", "ghcr.io"], "--registry-mirror", "REGISTRY=URL"],
  ])("refuses %j before writing anything", (args, field, problem) => {
    const dir = tmp();
    const result = cli(["render", ...args, "--out", join(dir, "out")]);
    expect(result.code).not.toBe(0);
    expect(result.err).toContain(field);
    expect(result.err).toContain(problem);
    expect(result.err).toContain("Fix:");
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  it.each([
    ["bad.json", '{ "mirrors": [', "not valid JSON"],
    ["bad.yaml", "mirrors: [\n  - : :", "not valid YAML"],
    ["unknown.yaml", 'mirror: ["https://m.example.com"]\n', "unknown field"],
  ])("refuses the policy file %s", (name, content, problem) => {
    const dir = tmp();
    writeFileSync(join(dir, name), content);
    const result = cli(["render", "--policy", join(dir, name), "--out", join(dir, "out")]);
    expect(result.code).toBe(1);
    expect(result.err).toContain(problem);
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  it("warns about a dropped duplicate mirror and still renders", () => {
    const dir = tmp();
    const result = cli([
      "render",
      "--mirror",
      "https://m.example.com",
      "--mirror",
      "https://M.example.com/",
      "--out",
      dir,
    ]);
    expect(result.code).toBe(0);
    expect(result.err).toContain("duplicate mirror https://m.example.com dropped");
  });

  it("documents every flag in --help and rejects unknown flags with a usage error", () => {
    const help = cli(["render", "--help"]);
    for (const flag of [
      "--mirror",
      "--registry-mirror",
      "--insecure-registry",
      "--exec-opt",
      "--log-driver",
      "--log-opt",
      "--policy",
      "--out",
      "--runtime",
    ]) {
      expect(help.out).toContain(flag);
    }
    const bad = cli(["render", "--mirrors", "x"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--mirrors");
  });

  it("validate checks without writing", () => {
    const result = cli(["validate", "--mirror", "https://m.example.com"]);
    expect(result.code).toBe(0);
    expect(result.out).toContain("valid: docker, containerd; docker.io (1 mirror)");
  });
});

describe("registry-mirrors for a cloud region", () => {
  it("renders the built-in catalog's mirrors for an Alibaba Cloud region and says why", () => {
    const dir = tmp();
    const result = cli([
      "render",
      "--cloud",
      "alicloud",
      "--region",
      "cn-hangzhou",
      "--accelerator-id",
      "a1b2c3d4",
      "--out",
      dir,
    ]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(result.out).toContain("alicloud cn-hangzhou");
    expect(result.out).toContain("Docker Hub accelerator");
    const daemon = JSON.parse(readFileSync(join(dir, "node/etc/docker/daemon.json"), "utf8"));
    expect(daemon["registry-mirrors"]).toEqual(["https://a1b2c3d4.mirror.aliyuncs.com"]);
  });

  it("adds --mirror as a fallback after the region's endpoints", () => {
    const dir = tmp();
    const result = cli([
      "render",
      "--cloud",
      "alicloud",
      "--region",
      "cn-hangzhou",
      "--accelerator-id",
      "a1b2c3d4",
      "--mirror",
      "https://fallback.example.com",
      "--out",
      dir,
    ]);
    expect(result.code).toBe(0);
    const daemon = JSON.parse(readFileSync(join(dir, "node/etc/docker/daemon.json"), "utf8"));
    expect(daemon["registry-mirrors"]).toEqual([
      "https://a1b2c3d4.mirror.aliyuncs.com",
      "https://fallback.example.com",
    ]);
  });

  it("refuses an unknown region, naming the nearest known ones", () => {
    const dir = tmp();
    const result = cli(["render", "--cloud", "aws", "--region", "us-wset-2", "--out", join(dir, "out")]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('"us-west-2"');
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  it("refuses region flags without --cloud and --cloud without --region", () => {
    expect(cli(["render", "--region", "us-west-2"]).err).toContain("--region needs --cloud");
    expect(cli(["render", "--cloud", "aws"]).err).toContain("--cloud needs --region");
  });

  it("lists regions per cloud", () => {
    const result = cli(["regions", "--cloud", "aws"]);
    expect(result.code).toBe(0);
    expect(result.out).toContain("cn-north-1");
    expect(result.out).toContain("amazonaws.com.cn");
    expect(result.out).toContain("us-gov-west-1");
  });
});
