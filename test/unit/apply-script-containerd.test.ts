import { afterAll, describe, expect, it } from "vitest";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import type { NodeApplyPlan } from "../../components/core/node-script";
import { FakeNode, cleanupNodes } from "../support/apply-harness";

afterAll(cleanupNodes);

const CONFIG = "/etc/containerd/config.toml";
const DIR = "/etc/containerd/certs.d";
const HUB = `${DIR}/docker.io/hosts.toml`;
const HUB_TOML =
  'server = "https://registry-1.docker.io"\n\n[host."https://m1.example"]\n  capabilities = ["pull", "resolve"]\n';
const GHCR = `${DIR}/ghcr.io/hosts.toml`;

const plan = (
  restartPolicy: NodeApplyPlan["restartPolicy"] = "if-needed",
  files = [{ path: HUB, content: HUB_TOML, mode: 0o644 }],
): NodeApplyPlan => ({
  restartPolicy,
  containerd: { hostsDir: DIR, files },
});

const DEFAULT_16 = readFileSync(join(__dirname, "..", "support", "containerd-1.6-default.toml"), "utf8");

/** The CRI registry table of a parsed config.toml, for its version. */
function registryOf(text: string): Record<string, unknown> {
  const doc = parseToml(text) as Record<string, any>;
  const cri = { 1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.images" }[
    (doc.version ?? 1) as 1 | 2 | 3
  ];
  return doc.plugins?.[cri]?.registry ?? {};
}

// Each config, read with python3's tomllib and with the awk fallback (python3 taken away).
const READERS: Array<[string, string[]]> = [
  ["python3", []],
  ["awk", ["python3"]],
];

describe("apply script: containerd config_path", { timeout: 60_000 }, () => {
  const editable: Array<[string, string]> = [
    ['containerd 1.6\'s default config (config_path = "" and an empty mirrors table)', DEFAULT_16],
    [
      "a version 2 config without a registry table",
      'version = 2\nroot = "/var/lib/containerd"\n\n[grpc]\n  address = "/run/containerd/containerd.sock"\n',
    ],
    [
      "a version 2 registry table without config_path, with auth configs",
      'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n\n  [plugins."io.containerd.grpc.v1.cri".registry.configs."r.example".auth]\n    username = "u"\n',
    ],
    [
      "containerd 2's version 3 layout with single quotes",
      "version = 3\nroot = '/var/lib/containerd'\n\n[plugins]\n  [plugins.'io.containerd.cri.v1.images']\n    snapshotter = 'overlayfs'\n\n    [plugins.'io.containerd.cri.v1.images'.registry]\n      config_path = ''\n",
    ],
    ["a version 1 config with the CRI plugin on", 'root = "/var/lib/containerd"\n\n[plugins.cri.registry]\n'],
  ];
  for (const [what, config] of editable) {
    for (const [reader, without] of READERS) {
      it(`sets config_path in ${what} (${reader}), restarting a running containerd`, () => {
        const node = new FakeNode();
        node.write(CONFIG, config);
        node.setActive({ containerd: true });
        const res = node.run(plan(), undefined, { without });
        expect(res.stderr).toBe("");
        expect(res.code).toBe(0);
        expect(res.stdout).toBe(
          `containerd: wrote ${HUB}\ncontainerd: set config_path in ${CONFIG}\ncontainerd: restarted\n`,
        );
        expect(res.calls.slice(0, 2)).toEqual(["is-active --quiet containerd", "restart containerd"]);
        const written = node.read(CONFIG);
        expect(registryOf(written).config_path).toBe(DIR);
        // Every other line survives: the edit is one line replaced or added.
        const added = written.split("\n").filter((l) => !config.split("\n").includes(l));
        expect(added.map((l) => l.trim()).filter((l) => l !== "")).toEqual(
          config.includes("[plugins") || config.includes("config_path")
            ? ['config_path = "/etc/containerd/certs.d"']
            : ['[plugins."io.containerd.grpc.v1.cri".registry]', 'config_path = "/etc/containerd/certs.d"'],
        );
        expect(node.read(HUB)).toBe(HUB_TOML);
        expect(node.read(`${CONFIG}.registry-mirrors.bak`)).toBe(config);
        // Second run: nothing to do, and no systemctl call.
        expect(node.run(plan(), undefined, { without })).toMatchObject({
          code: 0,
          stdout: "containerd: unchanged\n",
          calls: [],
        });
      });
    }
  }

  it("writes a minimal config when the node has none, without restarting a containerd that is not running", () => {
    const node = new FakeNode();
    const res = node.run(plan());
    expect(res.code).toBe(0);
    expect(node.read(CONFIG)).toBe(
      'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n',
    );
    expect(res.calls).toEqual(["is-active --quiet containerd"]);
    expect(node.run(plan(), "restore").stdout).toBe(`containerd: removed ${HUB}\ncontainerd: removed ${CONFIG}\n`);
    expect(node.exists(CONFIG) || node.exists(HUB)).toBe(false);
  });

  const ready: Array<[string, string]> = [
    [
      "config_path already set",
      `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${DIR}"\n`,
    ],
    [
      "EKS AL2023's two-folder config_path",
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/etc/containerd/certs.d:/etc/docker/certs.d"\n',
    ],
    [
      "Docker's containerd.io config with CRI disabled",
      '#   Copyright 2018-2022 Docker Inc.\ndisabled_plugins = ["cri"]\n\n#root = "/var/lib/containerd"\n',
    ],
    [
      "a version 2 config with CRI disabled over two lines",
      'version = 2\ndisabled_plugins = [\n  "io.containerd.grpc.v1.cri",\n]\n',
    ],
  ];
  for (const [what, config] of ready) {
    for (const [reader, without] of READERS) {
      it(`leaves config.toml alone with ${what} (${reader}): hosts.toml only, no restart`, () => {
        const node = new FakeNode();
        node.write(CONFIG, config);
        node.setActive({ containerd: true });
        const res = node.run(plan("never"), undefined, { without });
        expect(res).toMatchObject({ code: 0, stdout: `containerd: wrote ${HUB}\n`, stderr: "", calls: [] });
        expect(node.read(CONFIG)).toBe(config);
      });
    }
  }

  it("refuses, writing nothing, when config_path is missing and restartPolicy is never", () => {
    const node = new FakeNode();
    node.write(CONFIG, DEFAULT_16);
    node.setActive({ containerd: true });
    const res = node.run(plan("never"));
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      'registry-mirrors: containerd: /etc/containerd/config.toml does not set config_path, so containerd would ignore the hosts.toml mirrors; setting it needs a restart, and restartPolicy is "never"; nothing was changed. Fix: set restartPolicy: "if-needed" (a containerd restart keeps running containers), or add config_path = "/etc/containerd/certs.d" to its CRI registry table and restart containerd yourself\n',
    );
    expect(node.read(CONFIG)).toBe(DEFAULT_16);
    expect(node.exists(HUB)).toBe(false);
  });

  const conflicts: Array<[string, string, RegExp]> = [
    [
      "inline registry.mirrors",
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["https://m.example"]\n',
      /sets the deprecated inline registry\.mirrors, which containerd refuses together with config_path/,
    ],
    [
      "inline mirrors as a dotted key",
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  mirrors."docker.io".endpoint = ["https://m.example"]\n',
      /inline registry\.mirrors/,
    ],
    [
      "inline mirrors in version 1",
      '[plugins.cri.registry.mirrors."docker.io"]\n  endpoint = ["https://m.example"]\n',
      /inline registry\.mirrors/,
    ],
    [
      "registry.configs.<host>.tls",
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.configs."r.example".tls]\n  insecure_skip_verify = true\n',
      /sets the deprecated inline registry\.tls, which containerd refuses together with config_path/,
    ],
  ];
  for (const [what, config, message] of conflicts) {
    for (const [reader, without] of READERS) {
      it(`refuses to touch a config with ${what} (${reader})`, () => {
        const node = new FakeNode();
        node.write(CONFIG, config);
        node.setActive({ containerd: true });
        const res = node.run(plan(), undefined, { without });
        expect(res.code).toBe(1);
        expect(res.stderr).toMatch(message);
        expect(res.stderr).toContain("nothing was changed. Fix: move those settings into the policy");
        expect(node.read(CONFIG)).toBe(config);
        expect(node.exists(HUB)).toBe(false);
        expect(res.calls).toEqual([]);
      });
    }
  }

  it("follows imports (a relative glob from /, a relative path from config.toml's folder) to the file whose CRI section counts", () => {
    const node = new FakeNode();
    const main =
      'version = 2\nimports = ["etc/containerd/conf.d/*.toml", "extra.toml"]\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/elsewhere"\n';
    const dropIn =
      'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.9"\n';
    node.write(CONFIG, main);
    node.write("/etc/containerd/conf.d/10-cri.toml", dropIn);
    node.write("/etc/containerd/extra.toml", 'version = 2\n[debug]\n  level = "info"\n');
    for (const [, without] of READERS) {
      const res = node.run(plan(), undefined, { without });
      expect(res.stderr).toBe("");
      expect(res.stdout).toContain("containerd: set config_path in /etc/containerd/conf.d/10-cri.toml\n");
      expect(node.read(CONFIG)).toBe(main);
      expect(registryOf(node.read("/etc/containerd/conf.d/10-cri.toml")).config_path).toBe(DIR);
      expect(node.run(plan(), "restore").code).toBe(0);
      expect(node.read("/etc/containerd/conf.d/10-cri.toml")).toBe(dropIn);
    }
  });

  it("refuses when an imported file sets inline mirrors, naming that file", () => {
    const node = new FakeNode();
    node.write(CONFIG, 'version = 2\nimports = ["/etc/containerd/mirrors.toml"]\n');
    node.write(
      "/etc/containerd/mirrors.toml",
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["https://m.example"]\n',
    );
    const res = node.run(plan());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      "containerd: /etc/containerd/mirrors.toml sets the deprecated inline registry.mirrors",
    );
  });

  it("refuses when config_path points at another folder", () => {
    const node = new FakeNode();
    node.write(
      CONFIG,
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/registries"\n',
    );
    const res = node.run(plan());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      'sets config_path = "/etc/containerd/registries", which does not include /etc/containerd/certs.d',
    );
    expect(node.exists(HUB)).toBe(false);
  });

  it("refuses a config that is not valid TOML, naming the parse error", () => {
    const node = new FakeNode();
    node.write(CONFIG, "version = 2\n[plugins\n");
    const res = node.run(plan());
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^registry-mirrors: containerd: \/etc\/containerd\/config\.toml is not valid \(.*line 2.*\); nothing was changed/,
    );
  });

  it("refuses an unsupported config version", () => {
    const node = new FakeNode();
    node.write(CONFIG, "version = 7\n");
    for (const [, without] of READERS) {
      const res = node.run(plan(), undefined, { without });
      expect(res.stderr).toContain("is not valid (unsupported config version 7)");
    }
  });

  it("puts everything back when containerd does not come back after the restart", () => {
    const node = new FakeNode();
    node.write(CONFIG, DEFAULT_16);
    node.setActive({ containerd: true });
    // The fake systemctl fails a restart while the containerd folder holds the word BREAK.
    const res = node.run(plan("if-needed", [{ path: HUB, content: "# BREAK\n", mode: 0o644 }]));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("containerd: containerd did not come back within 2s after the restart");
    expect(node.read(CONFIG)).toBe(DEFAULT_16);
    expect(
      node.exists(HUB) ||
        node.exists(`${CONFIG}.registry-mirrors.bak`) ||
        node.exists(`${DIR}/.registry-mirrors.files`),
    ).toBe(false);
    expect(node.isActive("containerd")).toBe(true);
  });

  it("rewrites changed hosts.toml files without any restart, and removes the file of a registry the policy dropped", () => {
    const node = new FakeNode();
    node.write(CONFIG, `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${DIR}"\n`);
    node.write(GHCR, "# the node's own ghcr.io file\n");
    node.setActive({ containerd: true });
    expect(
      node.run(
        plan("never", [
          { path: HUB, content: HUB_TOML, mode: 0o644 },
          { path: GHCR, content: 'server = "https://ghcr.io"\n', mode: 0o644 },
        ]),
      ).code,
    ).toBe(0);
    const res = node.run(plan("never", [{ path: HUB, content: `${HUB_TOML}# v2\n`, mode: 0o600 }]));
    expect(res).toMatchObject({
      code: 0,
      stdout: `containerd: wrote ${HUB}\ncontainerd: restored ${GHCR}\n`,
      calls: [],
    });
    expect(node.read(GHCR)).toBe("# the node's own ghcr.io file\n");
    expect(statSync(node.path(HUB)).mode & 0o777).toBe(0o600);
  });

  it("restore puts back hosts files and config.toml, restarting containerd only when allowed", () => {
    const node = new FakeNode();
    node.write(CONFIG, DEFAULT_16);
    expect(node.run(plan()).code).toBe(0);
    node.setActive({ containerd: true });
    const refused = node.run(plan("never"), "restore");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("putting back /etc/containerd/config.toml needs a restart");
    expect(node.exists(HUB)).toBe(true);
    const res = node.run(plan(), "restore");
    expect(res).toMatchObject({
      code: 0,
      stdout: `containerd: removed ${HUB}\ncontainerd: restored ${CONFIG}\ncontainerd: restarted\n`,
    });
    expect(node.read(CONFIG)).toBe(DEFAULT_16);
  });
});

describe("apply script: other runtimes' files", { timeout: 60_000 }, () => {
  const CRIO = "/etc/containers/registries.conf.d/50-registry-mirrors.conf";
  const K3S = "/etc/rancher/k3s/registries.yaml";
  const BUILDKIT = "/etc/buildkit/buildkitd.toml";
  const files = (restartPolicy: NodeApplyPlan["restartPolicy"], suffix = ""): NodeApplyPlan => ({
    restartPolicy,
    files: [
      { path: CRIO, content: `[[registry]]\nprefix = "docker.io"${suffix}\n`, mode: 0o644, runtime: "crio" },
      { path: K3S, content: `mirrors: {}${suffix}\n`, mode: 0o600, runtime: "k3s" },
      { path: BUILDKIT, content: `debug = false${suffix}\n`, mode: 0o644, runtime: "buildkit" },
      { path: "/etc/other/extra.conf", content: `x = 1${suffix}\n`, mode: 0o644 },
    ],
  });

  it("writes every file when nothing runs, with no reload or restart", () => {
    const node = new FakeNode();
    const res = node.run(files("never"));
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      `crio: wrote ${CRIO}\nk3s: wrote ${K3S}\nbuildkit: wrote ${BUILDKIT}\nfiles: wrote /etc/other/extra.conf\n`,
    );
    expect(res.calls).toEqual([
      "is-active --quiet crio",
      "is-active --quiet k3s",
      "is-active --quiet k3s-agent",
      "is-active --quiet buildkit",
    ]);
    expect(node.run(files("never")).calls).toEqual([]);
  });

  it("reloads a running CRI-O (SIGHUP) even under restartPolicy never", () => {
    const node = new FakeNode();
    node.setActive({ crio: true });
    const res = node.run({ restartPolicy: "never", files: files("never").files!.slice(0, 1) });
    expect(res).toMatchObject({ code: 0, stdout: `crio: wrote ${CRIO}\ncrio: reloaded\n` });
    expect(res.calls).toContain("reload crio");
  });

  it("restarts a running k3s agent only when allowed; under never it writes nothing and says how to allow it", () => {
    const node = new FakeNode();
    node.setActive({ "k3s-agent": true });
    const k3s = (p: NodeApplyPlan["restartPolicy"]): NodeApplyPlan => ({
      restartPolicy: p,
      files: files(p).files!.slice(1, 2),
    });
    const refused = node.run(k3s("never"));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'registry-mirrors: k3s: the new files take effect only after a restart of k3s-agent, and restartPolicy is "never"; nothing was changed. Fix: set restartPolicy: "if-needed", or restart k3s-agent yourself in a maintenance window after allowing it\n',
    );
    expect(node.exists(K3S)).toBe(false);
    const res = node.run(k3s("if-needed"));
    expect(res).toMatchObject({ code: 0, stdout: `k3s: wrote ${K3S}\nk3s: restarted k3s-agent\n` });
    expect(statSync(node.path(K3S)).mode & 0o777).toBe(0o600);
  });

  it("puts a file back when its runtime does not come back", () => {
    const node = new FakeNode();
    node.setActive({ buildkit: true });
    node.write(BUILDKIT, "debug = true\n");
    const res = node.run({
      restartPolicy: "if-needed",
      files: [{ path: BUILDKIT, content: "BREAK = 1\n", mode: 0o644, runtime: "buildkit" }],
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("buildkit: buildkit did not come back");
    expect(node.read(BUILDKIT)).toBe("debug = true\n");
  });

  it("reports unchanged files, and restore puts every one back", () => {
    const node = new FakeNode();
    node.write(CRIO, "# the node's own drop-in\n");
    expect(node.run(files("if-needed")).code).toBe(0);
    expect(node.run(files("if-needed")).stdout).toBe(
      `crio: unchanged ${CRIO}\nk3s: unchanged ${K3S}\nbuildkit: unchanged ${BUILDKIT}\nfiles: unchanged /etc/other/extra.conf\n`,
    );
    const res = node.run(files("if-needed"), "restore");
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      `crio: restored ${CRIO}\nk3s: removed ${K3S}\nbuildkit: removed ${BUILDKIT}\nfiles: removed /etc/other/extra.conf\n`,
    );
    expect(node.read(CRIO)).toBe("# the node's own drop-in\n");
  });
});
