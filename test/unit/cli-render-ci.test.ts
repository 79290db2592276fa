/** `registry-mirrors render --ci TARGET`: the CI files written into --out, and what it refuses. */
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { parse as parseYaml } from "yaml";
import { main } from "../../cli/main";
import { ciMirrorSettings } from "../../components/core/ci";

function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

function listFiles(dir: string, prefix = ""): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? listFiles(path, `${prefix}${name}/`) : [`${prefix}${name}`];
    })
    .sort();
}

const tmp = () => mkdtempSync(join(tmpdir(), "rm-cli-ci-"));

describe("registry-mirrors render --ci", () => {
  it("writes every target's files under --out, the same bytes as ciMirrorSettings", () => {
    const dir = tmp();
    const result = cli([
      "render",
      "--ci",
      "gitlab-dind",
      "--ci",
      "gitlab-runner",
      "--ci",
      "github-buildx",
      "--ci",
      "kaniko",
      "--mirror",
      "http://10.0.12.5:5000",
      "--mirror",
      "https://mirror.gcr.io",
      "--registry-mirror",
      "ghcr.io=https://ghcr-mirror.example.com",
      "--dind-image",
      "docker:24.0.5-dind",
      "--out",
      dir,
    ]);
    expect(result.code, result.err).toBe(0);
    expect(listFiles(dir)).toEqual([
      "github-buildx/buildkitd.toml",
      "github-buildx/gitlab-buildx-script.yml",
      "github-buildx/setup-buildx-step.yml",
      "gitlab-dind/daemon.json",
      "gitlab-dind/kubernetes-dind-container.yaml",
      "gitlab-dind/services.yml",
      "gitlab-runner/config.toml",
      "kaniko/executor-args.txt",
      "kaniko/gitlab-kaniko-job.yml",
    ]);
    const policy = {
      registries: {
        "docker.io": { mirrors: ["http://10.0.12.5:5000", "https://mirror.gcr.io"] },
        "ghcr.io": { mirrors: ["https://ghcr-mirror.example.com"] },
      },
    };
    for (const target of ["gitlab-dind", "gitlab-runner", "github-buildx", "kaniko"] as const)
      for (const [path, content] of Object.entries(
        ciMirrorSettings(policy, target, { dindImage: "docker:24.0.5-dind" }).files,
      ))
        expect(readFileSync(join(dir, path), "utf8"), path).toBe(content);
    expect(
      parseYaml(readFileSync(join(dir, "gitlab-dind/services.yml"), "utf8"))[".registry-mirrors-dind"].services[0].name,
    ).toBe("docker:24.0.5-dind");
    expect(parseToml(readFileSync(join(dir, "gitlab-runner/config.toml"), "utf8"))).toHaveProperty("runners");
    expect(result.err).toMatch(/warning: gitlab-dind: .*ghcr\.io/);
  });

  it("takes a policy file and the runner options", () => {
    const dir = tmp();
    const policyFile = join(dir, "policy.yaml");
    writeFileSync(policyFile, 'policy:\n  registries:\n    docker.io:\n      mirrors: ["https://m.example.com"]\n');
    const out = join(dir, "out");
    const result = cli([
      "render",
      "--ci",
      "gitlab-runner",
      "--policy",
      policyFile,
      "--runner-executor",
      "kubernetes",
      "--dind-config",
      "daemon-json",
      "--out",
      out,
    ]);
    expect(result.code, result.err).toBe(0);
    expect(listFiles(out)).toEqual(["gitlab-runner/config.toml", "gitlab-runner/dind-daemon-json-configmap.yaml"]);
    const toml = parseToml(readFileSync(join(out, "gitlab-runner/config.toml"), "utf8")) as any;
    expect(toml.runners[0].kubernetes.volumes.config_map[0].mount_path).toBe("/etc/docker/daemon.json");
  });

  it("refuses a path for an old dockerd and writes nothing", () => {
    const dir = tmp();
    const result = cli([
      "render",
      "--ci",
      "gitlab-dind",
      "--ci",
      "gitlab-runner",
      "--mirror",
      "https://m.example.com/hub",
      "--allow-mirror-paths",
      "--docker-version",
      "20.10.24",
      "--dind-image",
      "registry.local/dind:stable",
      "--out",
      dir,
    ]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('policy.registries["docker.io"].mirrors[0]');
    expect(result.err).toContain("dockerd 20.10.24 refuses");
    expect(listFiles(dir)).toEqual([]);
  });

  it("refuses an unknown target and node-only flags, naming the flag", () => {
    const unknown = cli(["render", "--ci", "jenkins", "--mirror", "https://m.example.com", "--out", tmp()]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('--ci: unknown CI target (got "jenkins")');
    const nodeFlag = cli(["render", "--ci", "kaniko", "--mirror", "https://m.example.com", "--runtime", "docker"]);
    expect(nodeFlag.code).toBe(1);
    expect(nodeFlag.err).toContain("--runtime: this flag sets node files");
  });

  it("validate --ci checks without writing", () => {
    const dir = join(tmp(), "never");
    const result = cli(["validate", "--ci", "github-buildx", "--mirror", "https://m.example.com", "--out", dir]);
    expect(result.code, result.err).toBe(0);
    expect(result.out).toMatch(/^valid: github-buildx; 3 files$/);
    expect(existsSync(dir)).toBe(false);
  });

  it("documents --ci in render --help", () => {
    expect(cli(["render", "--help"]).out).toContain("--ci TARGET");
  });
});
