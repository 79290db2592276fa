import { afterAll, describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PolicyError } from "../../components/core/errors";
import { type NodeApplyPlan, renderApplyScript } from "../../components/core/node-script";
import { FakeNode, cleanupNodes } from "../support/apply-harness";

afterAll(cleanupNodes);

const DAEMON = "/etc/docker/daemon.json";
const NVIDIA = {
  runtimes: { nvidia: { path: "nvidia-container-runtime", runtimeArgs: [] } },
  "default-runtime": "nvidia",
  "data-root": "/data/docker",
};

const dockerPlan = (
  desired: Record<string, unknown>,
  restartPolicy: NodeApplyPlan["restartPolicy"] = "if-needed",
): NodeApplyPlan => ({ restartPolicy, docker: { desired } });
const mirrors = (...urls: string[]) => ({ "registry-mirrors": urls });

function json(node: FakeNode, path = DAEMON): Record<string, unknown> {
  return JSON.parse(node.read(path)) as Record<string, unknown>;
}

function mtime(node: FakeNode, path: string): number {
  return statSync(node.path(path)).mtimeMs;
}

function shellcheck(script: string): string {
  const res = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
  return res.status === 0 ? "" : res.stdout + res.stderr;
}

const FULL_PLAN: NodeApplyPlan = {
  restartPolicy: "if-needed",
  docker: {
    desired: {
      ...mirrors("https://m1.example", "http://10.0.0.5:5000"),
      "exec-opts": ["native.cgroupdriver=systemd"],
      "log-opts": { "max-size": "100m" },
    },
  },
  containerd: {
    hostsDir: "/etc/containerd/certs.d",
    files: [
      {
        path: "/etc/containerd/certs.d/docker.io/hosts.toml",
        content: 'server = "https://registry-1.docker.io"\n',
        mode: 0o644,
      },
      {
        path: "/etc/containerd/certs.d/_default/hosts.toml",
        content: '[host."https://any.example"]\n  capabilities = ["pull", "resolve"]\n',
        mode: 0o644,
      },
    ],
  },
  files: [
    {
      path: "/etc/containers/registries.conf.d/50-registry-mirrors.conf",
      content: '[[registry]]\nprefix = "docker.io"\n',
      mode: 0o644,
      runtime: "crio",
    },
    { path: "/etc/rancher/k3s/registries.yaml", content: "configs: {}\n", mode: 0o600, runtime: "k3s", secret: true },
    { path: "/etc/buildkit/buildkitd.toml", content: '[registry."docker.io"]\n', mode: 0o644, runtime: "buildkit" },
    { path: "/etc/rancher/rke2/registries.yaml", content: "mirrors: {}\n", mode: 0o600, runtime: "rke2" },
    { path: "/etc/other/extra.conf", content: "x = 1\n", mode: 0o644 },
  ],
};

describe("renderApplyScript: the script itself", { timeout: 60_000 }, () => {
  it("passes shellcheck -s sh for full, Docker-only, containerd-only, files-only and empty plans, both restart policies", () => {
    const plans: NodeApplyPlan[] = [
      FULL_PLAN,
      { ...FULL_PLAN, restartPolicy: "never" },
      { restartPolicy: "never", docker: FULL_PLAN.docker },
      { restartPolicy: "if-needed", containerd: FULL_PLAN.containerd },
      { restartPolicy: "if-needed", files: FULL_PLAN.files },
      { restartPolicy: "never" },
    ];
    for (const plan of plans) expect(shellcheck(renderApplyScript(plan))).toBe("");
  }, 60_000);

  it("is POSIX sh with set -eu, and embeds content in quoted heredocs", () => {
    const script = renderApplyScript(FULL_PLAN);
    expect(script.startsWith("#!/bin/sh\n")).toBe(true);
    expect(script).toContain("\nset -eu\n");
    expect(script).toMatch(
      /<<'REGISTRY_MIRRORS_EOF'\nserver = "https:\/\/registry-1\.docker\.io"\nREGISTRY_MIRRORS_EOF\n/,
    );
  });

  it("is deterministic: the same plan gives byte-identical scripts, and a different plan a different one", () => {
    fc.assert(
      fc.property(
        fc.array(fc.webUrl({ validSchemes: ["https"] }), { maxLength: 3 }),
        fc.constantFrom<NodeApplyPlan["restartPolicy"]>("never", "if-needed"),
        fc.string({ maxLength: 40 }),
        (urls, restartPolicy, text) => {
          const plan: NodeApplyPlan = {
            restartPolicy,
            docker: { desired: mirrors(...urls) },
            files: [{ path: "/etc/x/a.conf", content: `${text}\n`, mode: 0o644 }],
          };
          const a = renderApplyScript(plan);
          expect(renderApplyScript(structuredClone(plan))).toBe(a);
          const other: NodeApplyPlan = {
            ...plan,
            files: [{ path: "/etc/x/a.conf", content: `${text}!\n`, mode: 0o644 }],
          };
          expect(renderApplyScript(other)).not.toBe(a);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("embeds content whose lines look like the heredoc delimiter without cutting it short", () => {
    const node = new FakeNode();
    const content = "REGISTRY_MIRRORS_EOF\n$HOME `x` \\n 'q'\n";
    const res = node.run({ restartPolicy: "never", files: [{ path: "/etc/x/tricky.conf", content, mode: 0o644 }] });
    expect(res.code).toBe(0);
    expect(node.read("/etc/x/tricky.conf")).toBe(content);
  });

  it("refuses a bad usage with exit 2", () => {
    const res = new FakeNode().run({ restartPolicy: "never" }, "apply-now");
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("usage: sh");
  });
});

describe("renderApplyScript refuses a bad plan, naming the field and the fix", () => {
  const cases: Array<[string, NodeApplyPlan, RegExp]> = [
    [
      "an unknown restart policy",
      { restartPolicy: "always" as never },
      /^restartPolicy: unknown restart policy \(got "always"\)\. Fix: use "never"/,
    ],
    [
      "an unknown daemon key",
      dockerPlan({ "registry-mirror": [] }),
      /^docker\.desired\["registry-mirror"\]: dockerd does not know .*Fix: render the Docker settings with renderDocker/,
    ],
    [
      "a relative hosts folder",
      { restartPolicy: "never", containerd: { hostsDir: "etc/containerd/certs.d", files: [] } },
      /^containerd\.hostsDir: not a plain absolute file path \(got "etc\/containerd\/certs\.d"\)\. Fix:/,
    ],
    [
      "a hosts file outside the folder",
      {
        restartPolicy: "never",
        containerd: {
          hostsDir: "/etc/containerd/certs.d",
          files: [{ path: "/etc/hosts.toml", content: "\n", mode: 0o644 }],
        },
      },
      /^containerd\.files\[0\]\.path: not under the hosts folder \/etc\/containerd\/certs\.d .*Fix:/,
    ],
    [
      "a path with ..",
      { restartPolicy: "never", files: [{ path: "/etc/../root/x", content: "\n", mode: 0o644 }] },
      /^files\[0\]\.path: not a plain absolute file path .*Fix:/,
    ],
    [
      "a path with a quote",
      { restartPolicy: "never", files: [{ path: "/etc/x'y", content: "\n", mode: 0o644 }] },
      /^files\[0\]\.path: not a plain absolute file path/,
    ],
    [
      "the same file twice",
      {
        restartPolicy: "never",
        files: [
          { path: "/etc/a", content: "\n", mode: 0o644 },
          { path: "/etc/a", content: "\n", mode: 0o644 },
        ],
      },
      /^files\[1\]\.path: the same file is listed twice .*Fix: list each node file once/,
    ],
    [
      "daemon.json as a plain file",
      { restartPolicy: "never", files: [{ path: DAEMON, content: "{}\n", mode: 0o644 }] },
      /^files\[0\]\.path: the same file is listed twice/,
    ],
    [
      "content without a final newline",
      { restartPolicy: "never", files: [{ path: "/etc/a", content: "secret-value", mode: 0o644 }] },
      /^files\[0\]\.content: a node file must end with a newline \(got "\(content hidden\)"\)\. Fix:/,
    ],
    [
      "a bad mode",
      { restartPolicy: "never", files: [{ path: "/etc/a", content: "\n", mode: 0o10000 }] },
      /^files\[0\]\.mode: not a file mode \(got 4096\)\. Fix:/,
    ],
    [
      "a reserved backup name",
      { restartPolicy: "never", files: [{ path: "/etc/a.registry-mirrors.bak", content: "\n", mode: 0o644 }] },
      /^files\[0\]\.path: this name is reserved .*Fix:/,
    ],
    [
      "a runtime that reads no drop-in",
      { restartPolicy: "never", files: [{ path: "/etc/a", content: "\n", mode: 0o644, runtime: "docker" as never }] },
      /^files\[0\]\.runtime: not a runtime that reads a drop-in file \(got "docker"\)\. Fix: use one of crio, podman, k3s, rke2, buildkit/,
    ],
  ];
  for (const [what, plan, message] of cases) {
    it(`refuses ${what}`, () => {
      let error: unknown;
      try {
        renderApplyScript(plan);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PolicyError);
      expect((error as Error).message).toMatch(message);
    });
  }
});

describe("apply script: Docker daemon.json", { timeout: 60_000 }, () => {
  it("merges the desired keys and keeps every unmanaged key (NVIDIA runtime, data-root)", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify(NVIDIA));
    const res = node.run(dockerPlan({ ...mirrors("https://m1.example"), "log-driver": "json-file" }));
    expect(res.code).toBe(0);
    expect(json(node)).toEqual({ ...NVIDIA, ...mirrors("https://m1.example"), "log-driver": "json-file" });
    expect(res.stdout).toBe(
      "docker: wrote /etc/docker/daemon.json (docker is not running; it reads the file when it starts)\n",
    );
    expect(res.calls).toEqual(["is-active --quiet docker"]);
    expect(node.read(`${DAEMON}.registry-mirrors.bak`)).toBe(JSON.stringify(NVIDIA));
  });

  it("creates daemon.json when there is none, and restore removes it again", () => {
    const node = new FakeNode();
    expect(node.run(dockerPlan(mirrors("https://m1.example"))).code).toBe(0);
    expect(node.read(DAEMON)).toBe('{\n  "registry-mirrors": [\n    "https://m1.example"\n  ]\n}\n');
    const res = node.run(dockerPlan(mirrors("https://m1.example")), "restore");
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("docker: removed /etc/docker/daemon.json\n");
    expect(
      node.exists(DAEMON) ||
        node.exists(`${DAEMON}.registry-mirrors.created`) ||
        node.exists(`${DAEMON}.registry-mirrors.keys`),
    ).toBe(false);
  });

  it("reloads a running docker when only reloadable keys changed", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify({ ...NVIDIA, ...mirrors("https://old.example") }));
    node.setActive({ docker: true });
    const res = node.run(
      dockerPlan({ ...mirrors("https://new.example"), "insecure-registries": ["10.0.0.0/8"] }, "never"),
    );
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("docker: wrote /etc/docker/daemon.json\ndocker: reloaded\n");
    expect(res.calls.slice(0, 3)).toEqual(["is-active --quiet docker", "reload docker", "is-active --quiet docker"]);
  });

  it("second run is a no-op: no write, no systemctl call, mtime unchanged", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify(NVIDIA));
    node.setActive({ docker: true });
    const plan = dockerPlan({ ...mirrors("https://m1.example"), "exec-opts": ["native.cgroupdriver=systemd"] });
    expect(node.run(plan).code).toBe(0);
    const before = mtime(node, DAEMON);
    const content = node.read(DAEMON);
    const res = node.run(plan);
    expect(res).toMatchObject({ code: 0, stdout: "docker: unchanged\n", stderr: "", calls: [] });
    expect(mtime(node, DAEMON)).toBe(before);
    expect(node.read(DAEMON)).toBe(content);
  });

  it("does not rewrite a file that already holds the desired values in another layout", () => {
    const node = new FakeNode();
    const text = '{"registry-mirrors":["https://m1.example"],   "data-root": "/d"}';
    node.write(DAEMON, text);
    const res = node.run(dockerPlan(mirrors("https://m1.example")));
    expect(res).toMatchObject({ code: 0, stdout: "docker: unchanged\n", calls: [] });
    expect(node.read(DAEMON)).toBe(text);
    expect(node.exists(`${DAEMON}.registry-mirrors.bak`)).toBe(false);
  });

  it("leaves a corrupt daemon.json untouched and fails, naming the file and the parse error", () => {
    for (const without of [[], ["python3"]]) {
      const node = new FakeNode();
      const corrupt = '{"registry-mirrors": ["https://a",}\n';
      node.write(DAEMON, corrupt);
      node.setActive({ docker: true });
      const before = mtime(node, DAEMON);
      const res = node.run(dockerPlan(mirrors("https://m1.example")), undefined, { without });
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(
        /^registry-mirrors: docker: \/etc\/docker\/daemon\.json is not valid JSON \(.*(line|column).*\); nothing was changed\n$/,
      );
      expect(node.read(DAEMON)).toBe(corrupt);
      expect(mtime(node, DAEMON)).toBe(before);
      expect(res.calls).toEqual([]);
      expect(node.exists(`${DAEMON}.registry-mirrors.bak`)).toBe(false);
    }
  });

  it("refuses a daemon.json that is valid JSON but not an object", () => {
    const node = new FakeNode();
    node.write(DAEMON, '["registry-mirrors"]\n');
    const res = node.run(dockerPlan(mirrors("https://m1.example")));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("/etc/docker/daemon.json does not hold a JSON object");
  });

  it("uses jq when python3 is missing, with the same result as python3", () => {
    const existing = JSON.stringify({
      ...NVIDIA,
      "log-opts": { "max-file": "2" },
      labels: ["a=b"],
      debug: true,
      ü: "ß",
    });
    const plan = dockerPlan({ ...mirrors("https://m1.example"), "log-opts": { "max-size": "100m" }, debug: false });
    const [py, jq] = [[], ["python3"]].map((without) => {
      const node = new FakeNode();
      node.write(DAEMON, existing);
      expect(node.run(plan, undefined, { without }).code).toBe(0);
      return node.read(DAEMON);
    });
    expect(jq).toBe(py);
    expect(JSON.parse(py)).toEqual({
      ...NVIDIA,
      ...mirrors("https://m1.example"),
      "log-opts": { "max-size": "100m" },
      labels: ["a=b"],
      debug: false,
      ü: "ß",
    });
  });

  it("refuses and changes nothing when neither python3 nor jq is installed", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify(NVIDIA));
    const res = node.run(dockerPlan(mirrors("https://m1.example")), undefined, { without: ["python3", "jq"] });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      "registry-mirrors: docker: neither python3 nor jq is installed; one of them is needed to merge /etc/docker/daemon.json without losing its other keys; nothing was changed\n",
    );
    expect(node.read(DAEMON)).toBe(JSON.stringify(NVIDIA));
    expect(res.calls).toEqual([]);
  });

  it("restarts docker for a key that needs it only when restartPolicy allows, else writes nothing and names the keys", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify(NVIDIA));
    node.setActive({ docker: true });
    const plan = {
      ...mirrors("https://m1.example"),
      "exec-opts": ["native.cgroupdriver=systemd"],
      "log-driver": "local",
    };

    const refused = node.run(dockerPlan(plan, "never"));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'registry-mirrors: docker: changing exec-opts log-driver in /etc/docker/daemon.json needs a restart of docker, and restartPolicy is "never"; nothing was changed. Fix: set restartPolicy: "if-needed" (without live-restore a restart stops the node\'s containers), or apply it yourself in a maintenance window\n',
    );
    expect(refused.calls).toEqual(["is-active --quiet docker"]);
    expect(node.read(DAEMON)).toBe(JSON.stringify(NVIDIA));

    const allowed = node.run(dockerPlan(plan, "if-needed"));
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toBe("docker: wrote /etc/docker/daemon.json\ndocker: restarted\n");
    expect(allowed.calls).toContain("restart docker");
    expect(allowed.calls).not.toContain("reload docker");
  });

  it("removes a key it managed and the policy dropped; removing a key SIGHUP cannot undo needs a restart", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify(NVIDIA));
    expect(
      node.run(dockerPlan({ ...mirrors("https://m1.example"), "max-concurrent-downloads": 10, "shutdown-timeout": 30 }))
        .code,
    ).toBe(0);
    node.setActive({ docker: true });
    // max-concurrent-downloads resets on reload when it disappears: a reload is enough.
    const reload = node.run(dockerPlan({ ...mirrors("https://m1.example"), "shutdown-timeout": 30 }, "never"));
    expect(reload.code).toBe(0);
    expect(reload.calls).toContain("reload docker");
    expect(json(node)).toEqual({ ...NVIDIA, ...mirrors("https://m1.example"), "shutdown-timeout": 30 });
    // dockerd keeps the old shutdown-timeout when the key disappears and it only reloads.
    const refused = node.run(dockerPlan(mirrors("https://m1.example"), "never"));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("changing shutdown-timeout in /etc/docker/daemon.json needs a restart");
    const restart = node.run(dockerPlan(mirrors("https://m1.example"), "if-needed"));
    expect(restart.calls).toContain("restart docker");
    expect(json(node)).toEqual({ ...NVIDIA, ...mirrors("https://m1.example") });
  });

  for (const [tool, without] of [
    ["python3", []],
    ["jq", ["python3"]],
  ] as const) {
    it(`drops keys a reload undoes only when written empty with a reload: reloads a file holding [] / false, then writes the exact file (${tool})`, () => {
      const node = new FakeNode();
      node.write(DAEMON, JSON.stringify(NVIDIA));
      const all = {
        ...mirrors("https://m1.example"),
        "insecure-registries": ["10.0.0.0/8"],
        "allow-nondistributable-artifacts": ["r.example:5000"],
        labels: ["a=b"],
        debug: true,
        "live-restore": true,
      };
      expect(node.run(dockerPlan(all), undefined, { without: [...without] }).code).toBe(0);
      node.setActive({ docker: true });
      const res = node.run(dockerPlan(mirrors("https://m2.example"), "never"), undefined, { without: [...without] });
      expect(res).toMatchObject({
        code: 0,
        stdout: "docker: wrote /etc/docker/daemon.json\ndocker: reloaded\n",
        stderr: "",
      });
      expect(res.calls.filter((c) => /^(reload|restart) /.test(c))).toEqual(["reload docker"]);
      expect(
        node.daemonJsonSeen().map((seen) => ({ action: seen.action, json: JSON.parse(seen.content) as unknown })),
      ).toEqual([
        {
          action: "reload",
          json: {
            ...NVIDIA,
            ...mirrors("https://m2.example"),
            "insecure-registries": [],
            "allow-nondistributable-artifacts": [],
            labels: [],
            debug: false,
            "live-restore": false,
          },
        },
      ]);
      expect(json(node)).toEqual({ ...NVIDIA, ...mirrors("https://m2.example") });
      expect(
        node.run(dockerPlan(mirrors("https://m2.example"), "never"), undefined, { without: [...without] }),
      ).toMatchObject({ code: 0, stdout: "docker: unchanged\n", calls: [] });
    });
  }

  it("a policy change dropping insecure-registries while docker rejects the reload puts the previous file back", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify(NVIDIA));
    expect(node.run(dockerPlan({ ...mirrors("https://m1.example"), "insecure-registries": ["10.0.0.0/8"] })).code).toBe(
      0,
    );
    const before = node.read(DAEMON);
    node.setActive({ docker: true });
    const res = node.run(dockerPlan(mirrors("https://BREAK.example"), "never"));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("after the reload");
    expect(node.read(DAEMON)).toBe(before);
    expect(res.calls).not.toContain("restart docker");
  });

  it("never removes a key it did not write, even when the policy drops the same key later", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify({ ...NVIDIA, "log-driver": "journald" }));
    expect(node.run(dockerPlan(mirrors("https://m1.example"))).code).toBe(0);
    expect(json(node)["log-driver"]).toBe("journald");
  });

  it("puts the previous file back when docker does not come back after the restart, and fails", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify(NVIDIA));
    node.setActive({ docker: true });
    const res = node.run(dockerPlan({ ...mirrors("https://m1.example"), "log-driver": "BREAK" }));
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("docker: wrote /etc/docker/daemon.json\n");
    expect(res.stderr).toMatch(
      /^registry-mirrors: docker: docker did not come back within 2s after the restart .*the previous files were put back and docker restarted again\n$/,
    );
    expect(node.read(DAEMON)).toBe(JSON.stringify(NVIDIA));
    expect(node.exists(`${DAEMON}.registry-mirrors.bak`)).toBe(false);
    expect(node.exists(`${DAEMON}.registry-mirrors.keys`)).toBe(false);
    expect(res.calls.filter((c) => c === "restart docker")).toHaveLength(2);
    expect(node.isActive("docker")).toBe(true);
  });

  it("puts the previous file back when docker stops answering after a reload", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify({ ...NVIDIA, ...mirrors("https://old.example") }));
    node.setActive({ docker: true });
    const res = node.run(dockerPlan(mirrors("https://BREAK.example")));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("after the reload");
    expect(json(node)).toEqual({ ...NVIDIA, ...mirrors("https://old.example") });
    expect(res.calls.filter((c) => c === "reload docker")).toHaveLength(2);
  });

  it("restore puts back the node's original file after several applies, and reloads", () => {
    const node = new FakeNode();
    const original = `${JSON.stringify({ ...NVIDIA, ...mirrors("https://own.example") }, null, 4)}\n`;
    node.write(DAEMON, original, 0o640);
    expect(node.run(dockerPlan(mirrors("https://m1.example"))).code).toBe(0);
    expect(node.run(dockerPlan(mirrors("https://m2.example"))).code).toBe(0);
    node.setActive({ docker: true });
    const res = node.run(dockerPlan(mirrors("https://m2.example")), "restore");
    expect(res).toMatchObject({ code: 0, stdout: "docker: restored /etc/docker/daemon.json\ndocker: reloaded\n" });
    expect(node.read(DAEMON)).toBe(original);
    expect(statSync(node.path(DAEMON)).mode & 0o777).toBe(0o640);
    expect(node.exists(`${DAEMON}.registry-mirrors.bak`)).toBe(false);
    expect(node.run(dockerPlan(mirrors("https://m2.example")), "restore").stdout).toBe("docker: nothing to restore\n");
  });

  it("restore reloads only, even when applying added mirrors and insecure registries the node had none of: back byte for byte", () => {
    const node = new FakeNode();
    const original = `{ "data-root": "/data/docker",\n  "log-driver": "journald" }\n`;
    node.write(DAEMON, original, 0o600);
    expect(node.run(dockerPlan({ ...mirrors("https://m1.example"), "insecure-registries": ["10.0.0.0/8"] })).code).toBe(
      0,
    );
    node.setActive({ docker: true });
    const res = node.run(dockerPlan(mirrors("https://m1.example"), "never"), "restore");
    expect(res).toMatchObject({
      code: 0,
      stdout: "docker: reloaded\ndocker: restored /etc/docker/daemon.json\n",
      stderr: "",
    });
    expect(res.calls.filter((c) => /^(reload|restart) /.test(c))).toEqual(["reload docker"]);
    expect(JSON.parse(node.daemonJsonSeen()[0].content)).toEqual({
      "data-root": "/data/docker",
      "log-driver": "journald",
      "registry-mirrors": [],
      "insecure-registries": [],
    });
    expect(node.read(DAEMON)).toBe(original);
    expect(statSync(node.path(DAEMON)).mode & 0o777).toBe(0o600);
    expect(node.exists(`${DAEMON}.registry-mirrors.bak`) || node.exists(`${DAEMON}.registry-mirrors.keys`)).toBe(false);
  });

  it("restore of a daemon.json the script created reloads with empty mirrors, then removes the file", () => {
    const node = new FakeNode();
    expect(node.run(dockerPlan(mirrors("https://m1.example"))).code).toBe(0);
    node.setActive({ docker: true });
    const res = node.run(dockerPlan(mirrors("https://m1.example"), "never"), "restore");
    expect(res).toMatchObject({ code: 0, stdout: "docker: reloaded\ndocker: removed /etc/docker/daemon.json\n" });
    expect(node.daemonJsonSeen()).toEqual([{ action: "reload", content: '{\n  "registry-mirrors": []\n}\n' }]);
    expect(node.exists(DAEMON) || node.exists(`${DAEMON}.registry-mirrors.created`)).toBe(false);
  });

  it("restore whose reload fails leaves the applied file and its backup in place", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify({ BREAK: true }));
    expect(node.run(dockerPlan(mirrors("https://m1.example"))).code).toBe(0);
    const applied = node.read(DAEMON);
    node.setActive({ docker: true });
    const res = node.run(dockerPlan(mirrors("https://m1.example"), "never"), "restore");
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("after the reload");
    expect(node.read(DAEMON)).toBe(applied);
    expect(node.read(`${DAEMON}.registry-mirrors.bak`)).toBe(JSON.stringify({ BREAK: true }));
  });

  it("restore that would need a restart is refused under restartPolicy never", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify(NVIDIA));
    expect(node.run(dockerPlan({ "log-driver": "local" })).code).toBe(0);
    node.setActive({ docker: true });
    const res = node.run(dockerPlan({ "log-driver": "local" }, "never"), "restore");
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("changing log-driver in /etc/docker/daemon.json needs a restart");
    expect(json(node)["log-driver"]).toBe("local");
  });

  it("keeps the mode of the daemon.json it replaces", () => {
    const node = new FakeNode();
    node.write(DAEMON, "{}\n", 0o600);
    expect(node.run(dockerPlan(mirrors("https://m1.example"))).code).toBe(0);
    expect(statSync(node.path(DAEMON)).mode & 0o777).toBe(0o600);
  });

  it("property: merging never loses an unmanaged key, the python3 and jq paths agree, and a second run changes nothing", () => {
    const key = fc
      .stringMatching(/^[a-z][a-z-]{0,12}$/)
      .filter((k) => !["registry-mirrors", "log-opts", "debug"].includes(k));
    // Numbers jq writes back as written (the exact-number fuzz in apply-script-exact covers the others).
    const jqExact = (text: string) => !/[.eE]|-0\b|\d{16}/.test(text.replace(/"(?:[^"\\]|\\.)*"/g, '""'));
    const value = fc
      .jsonValue({ maxDepth: 2 })
      .filter(
        (v) =>
          JSON.stringify(v).length < 200 && !/[\uD800-\uDFFF]/.test(JSON.stringify(v)) && jqExact(JSON.stringify(v)),
      );
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 6 }), (existing) => {
        const plan = dockerPlan({ ...mirrors("https://m1.example"), "log-opts": { "max-size": "10m" }, debug: true });
        const results = [[], ["python3"]].map((without) => {
          const node = new FakeNode();
          node.write(DAEMON, JSON.stringify(existing));
          const first = node.run(plan, undefined, { without });
          expect(first.code).toBe(0);
          const second = node.run(plan, undefined, { without });
          expect(second.stdout).toBe("docker: unchanged\n");
          return json(node);
        });
        expect(results[1]).toEqual(results[0]);
        // What the node's file holds is existing as JSON (JSON has no -0: JSON.stringify writes it as 0).
        const onNode = JSON.parse(JSON.stringify(existing)) as Record<string, unknown>;
        for (const [k, v] of Object.entries(onNode)) expect(results[0][k]).toEqual(v);
      }),
      { numRuns: 15 },
    );
  }, 120_000);
});

describe("apply script: one run at a time", { timeout: 60_000 }, () => {
  const until = async (what: () => boolean) => {
    while (!what()) await new Promise((r) => setTimeout(r, 20));
  };

  for (const [kind, without, lock] of [
    ["flock", [], "/etc/docker/.registry-mirrors.lock"],
    ["a mkdir lock (no flock)", ["flock"], "/etc/docker/.registry-mirrors.lock.d"],
  ] as const) {
    it(`two overlapping runs serialize with ${kind}: the second waits, then finds nothing to do`, async () => {
      const node = new FakeNode();
      node.write(DAEMON, JSON.stringify(NVIDIA));
      node.setActive({ docker: true });
      const plan = dockerPlan(mirrors("https://m1.example"), "never");
      writeFileSync(join(node.fake, "hold"), "");
      node.clearCalls();
      const first = node.start(plan, undefined, { without: [...without] });
      await until(() => existsSync(join(node.fake, "held")));
      const second = node.start(plan, undefined, { without: [...without] });
      await until(() => second.stdout().includes("waiting"));
      expect(node.exists(DAEMON.replace("daemon.json", ".registry-mirrors.lock.d/pid"))).toBe(without.length > 0);
      rmSync(join(node.fake, "hold"));
      const [a, b] = [await first.done, await second.done];
      expect(a).toMatchObject({
        code: 0,
        stdout: "docker: wrote /etc/docker/daemon.json\ndocker: reloaded\n",
        stderr: "",
      });
      expect(b).toMatchObject({
        code: 0,
        stdout: `waiting for another run to finish (${lock})\ndocker: unchanged\n`,
        stderr: "",
      });
      expect(b.calls.filter((c) => c === "reload docker")).toHaveLength(1);
      // Each run removes its lock as it ends: nothing is left on the node.
      expect(
        node.exists("/etc/docker/.registry-mirrors.lock") || node.exists("/etc/docker/.registry-mirrors.lock.d"),
      ).toBe(false);
    });
  }

  it("a run waiting for a lock whose holder removes the file as it ends waits for the lock file now at that path", async () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify(NVIDIA));
    const lock = node.path("/etc/docker/.registry-mirrors.lock");
    const mark = (name: string) => join(node.fake, name);
    const holder = (script: string) => spawn("flock", [lock, "sh", "-c", script], { stdio: "ignore" });
    const gone = (name: string) => `while [ -e ${mark(name)} ]; do sleep 0.05; done`;
    for (const name of ["h.hold", "h.hold2", "d.hold"]) writeFileSync(mark(name), "");
    // H holds the lock, then removes the file (as a run does at its end) and keeps holding it a little longer.
    const h = holder(
      `touch ${mark("h.held")}; ${gone("h.hold")}; rm -f ${lock}; touch ${mark("h.unlinked")}; ${gone("h.hold2")}`,
    );
    await until(() => existsSync(mark("h.held")));
    const waiting = node.start(dockerPlan(mirrors("https://m1.example")), undefined, { env: { LOCK_SECONDS: "5" } });
    await until(() => waiting.stdout().includes("waiting"));
    rmSync(mark("h.hold"));
    await until(() => existsSync(mark("h.unlinked")));
    // D takes the new lock file at that path; then H lets go of the removed one.
    const d = holder(`touch ${mark("d.held")}; ${gone("d.hold")}`);
    await until(() => existsSync(mark("d.held")));
    rmSync(mark("h.hold2"));
    const res = await waiting.done;
    rmSync(mark("d.hold"));
    await Promise.all([h, d].map((p) => new Promise((r) => (p.exitCode === null ? p.on("close", r) : r(null)))));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("another run still holds /etc/docker/.registry-mirrors.lock after 5s");
    expect(node.read(DAEMON)).toBe(JSON.stringify(NVIDIA));
  });

  it("takes over a mkdir lock whose pid is gone", () => {
    const node = new FakeNode();
    const dead = spawnSync("true").pid;
    node.write("/etc/docker/.registry-mirrors.lock.d/pid", `${dead}\n`);
    const res = node.run(dockerPlan(mirrors("https://m1.example")), undefined, { without: ["flock"] });
    expect(res).toMatchObject({ code: 0, stderr: "" });
    expect(res.stdout).toBe(
      `took over /etc/docker/.registry-mirrors.lock.d from pid ${dead}, which is gone\ndocker: wrote /etc/docker/daemon.json (docker is not running; it reads the file when it starts)\n`,
    );
    expect(node.exists("/etc/docker/.registry-mirrors.lock.d")).toBe(false);
  });

  it("gives up after LOCK_SECONDS on a lock a live run holds, changing nothing and naming the lock", () => {
    const node = new FakeNode();
    node.write(DAEMON, JSON.stringify(NVIDIA));
    node.write("/etc/docker/.registry-mirrors.lock.d/pid", `${process.pid}\n`);
    const res = node.run(dockerPlan(mirrors("https://m1.example")), undefined, {
      without: ["flock"],
      env: { LOCK_SECONDS: "1" },
    });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("waiting for another run to finish (/etc/docker/.registry-mirrors.lock.d)\n");
    expect(res.stderr).toBe(
      "registry-mirrors: another run still holds /etc/docker/.registry-mirrors.lock.d after 1s; nothing was changed. Fix: run this again when it is done (a .lock.d folder whose pid is gone is taken over)\n",
    );
    expect(node.read(DAEMON)).toBe(JSON.stringify(NVIDIA));
    expect(node.read("/etc/docker/.registry-mirrors.lock.d/pid")).toBe(`${process.pid}\n`);
  });

  it("locks each top folder it writes, in order, and restore creates no folder", () => {
    const script = renderApplyScript(FULL_PLAN);
    expect(script.match(/^ {2}lock_folders .*$/gm)).toEqual([
      "  lock_folders /etc/buildkit /etc/containerd /etc/containers /etc/docker /etc/other /etc/rancher",
    ]);
    const node = new FakeNode();
    expect(node.run(FULL_PLAN, "restore").code).toBe(0);
    expect(node.exists("/etc")).toBe(false);
  });

  it("refuses a plan writing in more top folders than it can lock", () => {
    const files = ["a", "b", "c", "d", "e", "f", "g", "h"].map((d) => ({
      path: `/etc/${d}/x.conf`,
      content: "\n",
      mode: 0o644,
    }));
    expect(() => renderApplyScript({ restartPolicy: "never", files })).toThrow(
      /^files: the script locks each top folder it writes, at most 7 \(got "\/etc\/a \/etc\/b .*\/etc\/h"\)\. Fix: keep the node files in fewer top folders/,
    );
    expect(() => renderApplyScript({ restartPolicy: "never", files: files.slice(0, 7) })).not.toThrow();
  });
});

describe("apply script: credentials and modes", { timeout: 60_000 }, () => {
  it("never prints a file's content, in apply, restore or failure", () => {
    const node = new FakeNode();
    const secret = "password: hunter2-very-secret\n";
    node.setActive({ k3s: true });
    const plan: NodeApplyPlan = {
      restartPolicy: "never",
      files: [{ path: "/etc/rancher/k3s/registries.yaml", content: secret, mode: 0o600, runtime: "k3s", secret: true }],
    };
    const outputs = [
      node.run(plan),
      node.run({ ...plan, restartPolicy: "if-needed" }),
      node.run(plan, "restore"),
      node.run({ ...plan, restartPolicy: "if-needed" }, "restore"),
    ];
    for (const out of outputs) expect(out.stdout + out.stderr).not.toContain("hunter2");
    expect(outputs[0].code).toBe(1);
    expect(outputs[1].code).toBe(0);
  });

  it("writes a secret file with its mode (0600), never briefly readable by others", () => {
    const node = new FakeNode();
    expect(
      node.run({
        restartPolicy: "never",
        files: [{ path: "/etc/rancher/k3s/registries.yaml", content: "a: b\n", mode: 0o600 }],
      }).code,
    ).toBe(0);
    expect(statSync(node.path("/etc/rancher/k3s/registries.yaml")).mode & 0o777).toBe(0o600);
    expect(
      renderApplyScript({ restartPolicy: "never", files: [{ path: "/etc/a", content: "\n", mode: 0o600 }] }),
    ).toContain('(umask 077 && cat "$1" >"$t")');
  });

  it("runs with only the tools it declares (sh, coreutils, grep, awk, python3 or jq)", () => {
    // The harness PATH holds only SCRIPT_TOOLS: a full plan that succeeds proves nothing else is needed.
    const node = new FakeNode();
    const res = node.run(FULL_PLAN);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
  });
});
