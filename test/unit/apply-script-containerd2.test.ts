/**
 * The node apply script on containerd 2.x nodes (a fake `containerd` binary prints the version): from 2.1 CRI pulls
 * go through the transfer service unless a setting forces the local pull, and the transfer service reads a
 * `config_path` list as one folder that does not exist, bypassing every mirror. The script then sets
 * `use_local_image_pull = true`. It reads imports the 2.x way (key by key, the later file winning) and writes
 * version-3/4 configs. What the real binaries do is shown by test/e2e/containerd2*.test.ts.
 */
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseToml } from "smol-toml";
import type { NodeApplyPlan } from "../../components/core/node-script";
import { FakeNode, cleanupNodes } from "../support/apply-harness";

afterAll(cleanupNodes);

const CONFIG = "/etc/containerd/config.toml";
const DIR = "/etc/containerd/certs.d";
const HUB = `${DIR}/docker.io/hosts.toml`;
const HUB_TOML = 'server = "https://registry-1.docker.io"\n\n[host."https://m1.example"]\n  capabilities = ["pull"]\n';
const TWO = "/etc/containerd/certs.d:/etc/docker/certs.d";
const IMAGES = 'plugins."io.containerd.cri.v1.images"';

const plan = (restartPolicy: NodeApplyPlan["restartPolicy"] = "if-needed"): NodeApplyPlan => ({
  restartPolicy,
  containerd: { hostsDir: DIR, files: [{ path: HUB, content: HUB_TOML, mode: 0o644 }] },
});

/** `containerd --version` as `go install` builds print it, and as release builds do. */
const built = (v: string) => `containerd github.com/containerd/containerd/v2 ${v}+unknown `;
const release = (v: string) => `containerd github.com/containerd/containerd/v2 v${v} 0123456789abcdef`;

/** EKS AL2023 nodeadm's version-3 config.toml, with `discard` as discard_unpacked_layers. */
function al2023(discard: boolean): string {
  return [
    "version = 3",
    'root = "/var/lib/containerd"',
    'state = "/run/containerd"',
    "",
    "[grpc]",
    'address = "/run/containerd/containerd.sock"',
    "",
    "[plugins.'io.containerd.cri.v1.images']",
    `discard_unpacked_layers = ${discard}`,
    "",
    "[plugins.'io.containerd.cri.v1.images'.pinned_images]",
    'sandbox = "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.10"',
    "",
    "[plugins.'io.containerd.cri.v1.images'.registry]",
    `config_path = "${TWO}"`,
    "",
    "[plugins.'io.containerd.cri.v1.runtime'.containerd]",
    'default_runtime_name = "runc"',
    "",
  ].join("\n");
}

function images(text: string): Record<string, any> {
  return (parseToml(text) as Record<string, any>).plugins?.["io.containerd.cri.v1.images"] ?? {};
}

/** The lines of `after` that are not in `before`, trimmed. */
function added(before: string, after: string): string[] {
  const old = before.split("\n");
  return after
    .split("\n")
    .filter((l) => !old.includes(l))
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

const READERS: Array<[string, string[]]> = [
  ["python3", []],
  ["awk", ["python3"]],
];

describe("apply script: containerd 2.1+ with a config_path list", { timeout: 60_000 }, () => {
  for (const [reader, without] of READERS) {
    for (const [version, line] of [
      ["2.1.9", built("2.1.9")],
      ["2.4.2", release("2.4.2")],
    ]) {
      it(`${version} (${reader}): AL2023's config with discard_unpacked_layers = false gets use_local_image_pull = true, and a restart`, () => {
        const node = new FakeNode();
        const config = al2023(false);
        node.write(CONFIG, config);
        node.setActive({ containerd: true });
        const env = node.containerdBinary(line);
        const res = node.run(plan(), undefined, { without, env });
        expect(res.stderr).toBe("");
        expect(res.code).toBe(0);
        expect(res.stdout).toBe(
          `containerd: wrote ${HUB}\ncontainerd: set use_local_image_pull = true in ${CONFIG} (containerd ${version.slice(0, 3)}'s transfer service reads no config_path list)\ncontainerd: restarted\n`,
        );
        expect(res.calls.slice(0, 2)).toEqual(["is-active --quiet containerd", "restart containerd"]);
        const written = node.read(CONFIG);
        expect(added(config, written)).toEqual(["use_local_image_pull = true"]);
        expect(images(written)).toMatchObject({
          use_local_image_pull: true,
          discard_unpacked_layers: false,
          registry: { config_path: TWO },
        });
        expect(node.run(plan(), undefined, { without, env })).toMatchObject({
          code: 0,
          stdout: "containerd: unchanged\n",
          calls: [],
        });
        const back = node.run(plan(), "restore", { without, env });
        expect(back.stdout).toBe(`containerd: removed ${HUB}\ncontainerd: restored ${CONFIG}\ncontainerd: restarted\n`);
        expect(node.read(CONFIG)).toBe(config);
      });
    }

    it(`2.1 (${reader}): refuses under restartPolicy never, writing nothing and naming both fixes`, () => {
      const node = new FakeNode();
      node.write(CONFIG, al2023(false));
      node.setActive({ containerd: true });
      const res = node.run(plan("never"), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(
        `registry-mirrors: containerd: ${CONFIG} sets config_path = "${TWO}" (several folders), which containerd 2.1's transfer service, its CRI pull path here, does not read, so CRI pulls would bypass the mirrors; setting use_local_image_pull = true needs a restart, and restartPolicy is "never"; nothing was changed. Fix: set restartPolicy: "if-needed" (a containerd restart keeps running containers), or add use_local_image_pull = true to the [${IMAGES}] table of ${CONFIG} (or set config_path to the single folder ${DIR}) and restart containerd yourself\n`,
      );
      expect(node.read(CONFIG)).toBe(al2023(false));
      expect(node.exists(HUB)).toBe(false);
      expect(res.calls).toEqual(["is-active --quiet containerd"]);
    });

    it(`2.1 (${reader}): replaces a use_local_image_pull = false line`, () => {
      const node = new FakeNode();
      const config = al2023(false).replace(
        "discard_unpacked_layers = false\n",
        "discard_unpacked_layers = false\nuse_local_image_pull = false\n",
      );
      node.write(CONFIG, config);
      const res = node.run(plan(), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res.code).toBe(0);
      expect(added(config, node.read(CONFIG))).toEqual(["use_local_image_pull = true"]);
      expect(node.read(CONFIG).split("\n")).toHaveLength(config.split("\n").length);
    });

    it(`2.1 (${reader}): adds the CRI images table when the config has only its registry table`, () => {
      const node = new FakeNode();
      const config = `version = 3\n\n[${IMAGES}.registry]\n  config_path = "${TWO}"\n`;
      node.write(CONFIG, config);
      expect(node.run(plan(), undefined, { without, env: node.containerdBinary(built("2.1.9")) }).code).toBe(0);
      expect(added(config, node.read(CONFIG))).toEqual([`[${IMAGES}]`, "use_local_image_pull = true"]);
      expect(images(node.read(CONFIG))).toMatchObject({ use_local_image_pull: true, registry: { config_path: TWO } });
    });

    it(`2.1 (${reader}): a version-2 config.toml gets the key in the 2.x CRI images table (never migrated from version 2's)`, () => {
      const node = new FakeNode();
      const config = `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${TWO}"\n`;
      node.write(CONFIG, config);
      expect(node.run(plan(), undefined, { without, env: node.containerdBinary(built("2.1.9")) }).code).toBe(0);
      expect(added(config, node.read(CONFIG))).toEqual([`[${IMAGES}]`, "use_local_image_pull = true"]);
    });

    const local: Array<[string, string]> = [
      ["discard_unpacked_layers = true (AL2023's own setting)", "discard_unpacked_layers = true"],
      ["use_local_image_pull = true", "use_local_image_pull = true"],
      ["disable_snapshot_annotations = false", "disable_snapshot_annotations = false"],
      ["max_concurrent_downloads = 5", "max_concurrent_downloads = 5"],
      ["image_pull_with_sync_fs = true", "image_pull_with_sync_fs = true"],
    ];
    for (const [what, setting] of local) {
      it(`2.1 (${reader}): leaves the config alone when ${what} makes CRI pull locally`, () => {
        const node = new FakeNode();
        const config = `version = 3\n[${IMAGES}]\n  ${setting}\n[${IMAGES}.registry]\n  config_path = "${TWO}"\n`;
        node.write(CONFIG, config);
        node.setActive({ containerd: true });
        const res = node.run(plan("never"), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
        expect(res).toMatchObject({ code: 0, stdout: `containerd: wrote ${HUB}\n`, stderr: "", calls: [] });
        expect(node.read(CONFIG)).toBe(config);
      });
    }

    it(`2.1 (${reader}): registry auth configs make CRI pull locally too`, () => {
      const node = new FakeNode();
      const config = `version = 3\n[${IMAGES}.registry]\n  config_path = "${TWO}"\n[${IMAGES}.registry.configs."r.example".auth]\n  username = "u"\n`;
      node.write(CONFIG, config);
      const res = node.run(plan("never"), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res).toMatchObject({ code: 0, stdout: `containerd: wrote ${HUB}\n` });
      expect(node.read(CONFIG)).toBe(config);
    });

    it(`2.0 (${reader}): leaves a config_path list alone (2.0 pulls CRI images itself and reads every folder)`, () => {
      const node = new FakeNode();
      node.write(CONFIG, al2023(false));
      node.setActive({ containerd: true });
      const res = node.run(plan("never"), undefined, { without, env: node.containerdBinary(built("2.0.13")) });
      expect(res).toMatchObject({ code: 0, stdout: `containerd: wrote ${HUB}\n`, calls: [] });
      expect(node.read(CONFIG)).toBe(al2023(false));
    });

    it(`2.1 (${reader}): a single config_path folder needs nothing (the transfer service reads it)`, () => {
      const node = new FakeNode();
      const config = `version = 3\n[${IMAGES}.registry]\n  config_path = "${DIR}"\n`;
      node.write(CONFIG, config);
      const res = node.run(plan("never"), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res).toMatchObject({ code: 0, stdout: `containerd: wrote ${HUB}\n` });
    });

    it(`2.1 (${reader}): the CRI images plugin disabled needs nothing`, () => {
      const node = new FakeNode();
      const config = `version = 3\ndisabled_plugins = ["io.containerd.cri.v1.images"]\n[${IMAGES}.registry]\n  config_path = "${TWO}"\n`;
      node.write(CONFIG, config);
      const res = node.run(plan("never"), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res).toMatchObject({ code: 0, stdout: `containerd: wrote ${HUB}\n` });
    });
  }
});

describe("apply script: containerd 2.x config versions", { timeout: 60_000 }, () => {
  for (const [reader, without] of READERS) {
    it(`sets config_path in a version-4 config (2.3+'s default, config_path = '') (${reader})`, () => {
      const node = new FakeNode();
      const config = `version = 4\nroot = '/var/lib/containerd'\n\n[plugins]\n  [plugins.'io.containerd.cri.v1.images']\n    snapshotter = 'overlayfs'\n    use_local_image_pull = false\n\n    [plugins.'io.containerd.cri.v1.images'.registry]\n      config_path = ''\n`;
      node.write(CONFIG, config);
      const res = node.run(plan(), undefined, { without, env: node.containerdBinary(built("2.4.2")) });
      expect(res.stderr).toBe("");
      expect(res.stdout).toBe(`containerd: wrote ${HUB}\ncontainerd: set config_path in ${CONFIG}\n`);
      expect(added(config, node.read(CONFIG))).toEqual([`config_path = "${DIR}"`]);
    });

    it(`adds the version-3 CRI registry table to a version-4 config without one (${reader})`, () => {
      const node = new FakeNode();
      const config = "version = 4\nroot = '/var/lib/containerd'\n";
      node.write(CONFIG, config);
      expect(node.run(plan(), undefined, { without, env: node.containerdBinary(built("2.4.2")) }).code).toBe(0);
      expect(images(node.read(CONFIG)).registry).toEqual({ config_path: DIR });
    });
  }

  for (const [version, configVersion] of [
    ["2.0.13", 3],
    ["2.1.9", 3],
    ["2.4.2", 4],
  ] as const) {
    it(`writes a minimal version-${configVersion} config for containerd ${version} when the node has none`, () => {
      const node = new FakeNode();
      const res = node.run(plan(), undefined, { env: node.containerdBinary(built(version)) });
      expect(res.code).toBe(0);
      expect(node.read(CONFIG)).toBe(`version = ${configVersion}\n\n[${IMAGES}.registry]\n  config_path = "${DIR}"\n`);
    });
  }

  it("containerd 1.6 (Debian's version line) keeps the version-2 minimal config", () => {
    const node = new FakeNode();
    const env = node.containerdBinary("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3");
    expect(node.run(plan(), undefined, { env }).code).toBe(0);
    expect(node.read(CONFIG)).toMatch(/^version = 2\n/);
  });
});

describe("apply script: finding the node's containerd version", { timeout: 60_000 }, () => {
  /** Whether the run treated the AL2023 two-folder config as a 2.1+ transfer-service node. */
  function detected(node: FakeNode, env: Record<string, string> = {}): boolean {
    node.write(CONFIG, al2023(false));
    const res = node.run(plan(), undefined, { env });
    expect(res.code).toBe(0);
    return node.read(CONFIG).includes("use_local_image_pull = true");
  }

  it("runs containerd under NODE_ROOT (/usr/bin, /usr/local/bin) without CONTAINERD_BIN", () => {
    for (const dir of ["/usr/bin", "/usr/local/bin"]) {
      const node = new FakeNode();
      node.write(`${dir}/containerd`, `#!/bin/sh\necho '${release("2.1.5")}'\n`, 0o755);
      expect(detected(node)).toBe(true);
    }
  });

  it("reads EKS nodeadm's /etc/eks/containerd-version.txt when there is no binary", () => {
    const node = new FakeNode();
    node.write("/etc/eks/containerd-version.txt", `${release("2.1.4")}\n`);
    expect(detected(node)).toBe(true);
  });

  it("with no binary and no version file the version is unknown: the config is left as containerd 1.x would need", () => {
    expect(detected(new FakeNode())).toBe(false);
  });

  it("a binary that prints no version counts as unknown", () => {
    const node = new FakeNode();
    expect(detected(node, node.containerdBinary("containerd: command not understood"))).toBe(false);
  });
});

describe("apply script: containerd 2.x imports (key by key, the later file winning)", { timeout: 60_000 }, () => {
  const DROP_IN = "/etc/containerd/conf.d/10-cri.toml";
  const main = (discard: boolean, imports = '["conf.d/*.toml"]') =>
    al2023(discard).replace("version = 3\n", `version = 3\nimports = ${imports}\n`);
  const dropIn = (discard: boolean) =>
    `version = 3\n[${IMAGES}]\n  discard_unpacked_layers = ${discard}\n[${IMAGES}.pinned_images]\n  sandbox = "example.com/pause:1"\n`;

  for (const [reader, without] of READERS) {
    it(`a drop-in (relative glob, from config.toml's folder) setting discard_unpacked_layers = false wins over config.toml's true (${reader})`, () => {
      const node = new FakeNode();
      node.write(CONFIG, main(true));
      node.write(DROP_IN, dropIn(false));
      const res = node.run(plan(), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res.stderr).toBe("");
      // The drop-in has no config_path or use_local_image_pull: config.toml's config_path counts, the key goes there.
      expect(res.stdout).toContain(`set use_local_image_pull = true in ${CONFIG} `);
      expect(node.read(DROP_IN)).toBe(dropIn(false));
      expect(added(main(true), node.read(CONFIG))).toEqual(["use_local_image_pull = true"]);
    });

    it(`a drop-in setting discard_unpacked_layers = true wins over config.toml's false: nothing to change (${reader})`, () => {
      const node = new FakeNode();
      node.write(CONFIG, main(false));
      node.write(DROP_IN, dropIn(true));
      const res = node.run(plan("never"), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res).toMatchObject({ code: 0, stdout: `containerd: wrote ${HUB}\n` });
      expect(node.read(CONFIG)).toBe(main(false));
    });

    it(`a nested import's use_local_image_pull = false is the line replaced (${reader})`, () => {
      const node = new FakeNode();
      node.write(CONFIG, main(false, '["/etc/containerd/a.toml"]'));
      node.write("/etc/containerd/a.toml", 'version = 3\nimports = ["sub/b.toml"]\n');
      const b = `version = 3\n[${IMAGES}]\n  use_local_image_pull = false\n`;
      node.write("/etc/containerd/sub/b.toml", b);
      const res = node.run(plan(), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res.stderr).toBe("");
      expect(res.stdout).toContain("set use_local_image_pull = true in /etc/containerd/sub/b.toml ");
      expect(added(b, node.read("/etc/containerd/sub/b.toml"))).toEqual(["use_local_image_pull = true"]);
      expect(node.read(CONFIG)).toBe(main(false, '["/etc/containerd/a.toml"]'));
      expect(node.run(plan(), "restore", { without }).code).toBe(0);
      expect(node.read("/etc/containerd/sub/b.toml")).toBe(b);
    });

    it(`config.toml's config_path counts though a drop-in has a CRI section (1.x would take the drop-in's) (${reader})`, () => {
      const node = new FakeNode();
      const config = `version = 3\nimports = ["conf.d/*.toml"]\n[${IMAGES}.registry]\n  config_path = "${DIR}"\n`;
      node.write(CONFIG, config);
      node.write(DROP_IN, dropIn(false));
      const res = node.run(plan("never"), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res).toMatchObject({ code: 0, stdout: `containerd: wrote ${HUB}\n` });
      expect(node.read(DROP_IN)).toBe(dropIn(false));
    });

    it(`a drop-in's config_path = "" replaces config.toml's: the script sets it in the drop-in (${reader})`, () => {
      const node = new FakeNode();
      const config = `version = 3\nimports = ["conf.d/*.toml"]\n[${IMAGES}.registry]\n  config_path = "${DIR}"\n`;
      const empty = `version = 3\n[${IMAGES}.registry]\n  config_path = ""\n`;
      node.write(CONFIG, config);
      node.write(DROP_IN, empty);
      const res = node.run(plan(), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res.stdout).toContain(`containerd: set config_path in ${DROP_IN}\n`);
      expect(added(empty, node.read(DROP_IN))).toEqual([`config_path = "${DIR}"`]);
    });

    it(`refuses when an imported file sets inline mirrors, naming it (${reader})`, () => {
      const node = new FakeNode();
      node.write(CONFIG, main(true));
      node.write(
        DROP_IN,
        `version = 3\n[${IMAGES}.registry.mirrors."docker.io"]\n  endpoint = ["https://m.example"]\n`,
      );
      const res = node.run(plan(), undefined, { without, env: node.containerdBinary(built("2.1.9")) });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`containerd: ${DROP_IN} sets the deprecated inline registry.mirrors`);
    });
  }

  it("a version-2 drop-in's snapshot keys count only when its containerd table has runtimes (as 2.x migrates them)", () => {
    for (const [runtimes, changed] of [
      [false, true],
      [true, false],
    ] as const) {
      for (const [, without] of READERS) {
        const node = new FakeNode();
        node.write(CONFIG, main(false));
        node.write(
          DROP_IN,
          `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  discard_unpacked_layers = true\n${runtimes ? '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n' : ""}`,
        );
        expect(node.run(plan(), undefined, { without, env: node.containerdBinary(built("2.1.9")) }).code).toBe(0);
        expect(node.read(CONFIG).includes("use_local_image_pull = true")).toBe(changed);
      }
    }
  });
});
