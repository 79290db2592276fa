import { afterAll, describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from "node:fs";
import { basename, dirname } from "node:path";
import type { NodeApplyPlan } from "../../components/core/node-script";
import { FakeNode, cleanupNodes } from "../support/apply-harness";
import { daemonJsonText, MANAGED_BY_FUZZ, valuesAsText } from "../support/daemon-json-arb";

afterAll(cleanupNodes);

const DAEMON = "/etc/docker/daemon.json";
const CONFIG = "/etc/containerd/config.toml";
const HUB = "/etc/containerd/certs.d/docker.io/hosts.toml";
const ENGINES = [
  ["python3", []],
  ["jq", ["python3"]],
] as const;

const dockerPlan = (desired: Record<string, unknown>): NodeApplyPlan => ({
  restartPolicy: "if-needed",
  docker: { desired },
});
const MIRRORS = { "registry-mirrors": ["https://m1.example"] };

/** Files in a node folder whose name shows a temp file of the script. */
function temps(node: FakeNode, folder: string): string[] {
  return readdirSync(node.path(folder)).filter((name) => /\.registry-mirrors\.\d+$/.test(name));
}

describe("apply script: exact merges", { timeout: 120_000 }, () => {
  const exotic =
    '{"big": 9007199254740993, "huge": 123456789012345678901234567890, "over": 1e400, "tiny": 4.9e-325,\n' +
    ' "dec": 1.10000000000000000000001, "negzero": -0, "exp": 1E+5, "list": [0.1, 2.50, -7e-3], "s": "9.0"}\n';

  it("python3 writes every number it does not manage back with its source text", () => {
    const node = new FakeNode();
    node.write(DAEMON, exotic);
    const res = node.run(dockerPlan(MIRRORS));
    expect(res.code).toBe(0);
    const text = node.read(DAEMON);
    for (const literal of [
      "9007199254740993",
      "123456789012345678901234567890",
      "1e400",
      "4.9e-325",
      "1.10000000000000000000001",
      '"negzero": -0',
      "1E+5",
      "2.50",
      "-7e-3",
    ]) {
      expect(text).toContain(literal);
    }
    expect(text).not.toMatch(/Infinity|NaN/);
    expect(node.run(dockerPlan(MIRRORS), "restore").code).toBe(0);
    expect(node.read(DAEMON)).toBe(exotic);
  });

  it("jq refuses a file whose numbers it cannot keep, naming the number; nothing changes", () => {
    for (const value of ["9007199254740993", "1e400", "1.0", "-0.0"]) {
      const node = new FakeNode();
      const text = `{"a": ${value}}\n`;
      node.write(DAEMON, text);
      const res = node.run(dockerPlan(MIRRORS), undefined, { without: ["python3"] });
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(
        `registry-mirrors: docker: /etc/docker/daemon.json holds ${value}, which jq cannot keep exactly. Fix: install python3; nothing was changed\n`,
      );
      expect(node.read(DAEMON)).toBe(text);
      expect(node.exists(`${DAEMON}.registry-mirrors.bak`)).toBe(false);
    }
  });

  for (const [tool, without] of ENGINES) {
    it(`refuses NaN, Infinity and trailing data after the object (${tool})`, () => {
      for (const text of ['{"a": NaN}', '{"a": -Infinity}', '{"a": 1}\n{"b": 2}\n', '{"a": 1} []']) {
        const node = new FakeNode();
        node.write(DAEMON, text);
        const res = node.run(dockerPlan(MIRRORS), undefined, { without: [...without] });
        expect(res.code, text).toBe(1);
        expect(res.stderr.split("\n")).toHaveLength(2);
        expect(res.stderr).toMatch(/^registry-mirrors: docker: .*nothing was changed\n$/);
        expect(node.read(DAEMON)).toBe(text);
      }
    });
  }

  it("gives one line, not a traceback, for a lone surrogate or very deep nesting (python3)", () => {
    const surrogate = new FakeNode();
    surrogate.write(DAEMON, '{"k": "\\ud800"}');
    expect(surrogate.run(dockerPlan(MIRRORS)).code).toBe(0);
    expect(surrogate.read(DAEMON)).toContain('"k": "\\ud800"');
    const deep = new FakeNode();
    const text = `{"k": ${"[".repeat(5000)}${"]".repeat(5000)}}`;
    deep.write(DAEMON, text);
    const res = deep.run(dockerPlan(MIRRORS));
    expect(res).toMatchObject({
      code: 1,
      stderr: "registry-mirrors: docker: /etc/docker/daemon.json nests too deeply to merge; nothing was changed\n",
    });
    expect(deep.read(DAEMON)).toBe(text);
  });

  for (const [tool, without] of ENGINES) {
    it(`a managed key the policy drops gets the node's own value back; a key the node never had goes (${tool})`, () => {
      const node = new FakeNode();
      node.write(DAEMON, '{"log-driver": "journald", "debug": true}\n');
      const opts = { without: [...without] };
      expect(
        node.run(dockerPlan({ ...MIRRORS, "log-driver": "json-file", "max-concurrent-downloads": 5 }), undefined, opts)
          .code,
      ).toBe(0);
      expect(JSON.parse(node.read(DAEMON))).toMatchObject({ "log-driver": "json-file", "max-concurrent-downloads": 5 });
      const res = node.run(dockerPlan(MIRRORS), undefined, opts);
      expect(res.code).toBe(0);
      expect(JSON.parse(node.read(DAEMON))).toEqual({ ...MIRRORS, "log-driver": "journald", debug: true });
      // No longer managed: the node's key stays when the policy keeps not naming it.
      expect(node.run(dockerPlan(MIRRORS), undefined, opts).stdout).toBe("docker: unchanged\n");
      expect(node.run(dockerPlan(MIRRORS), "restore", opts).code).toBe(0);
      expect(node.read(DAEMON)).toBe('{"log-driver": "journald", "debug": true}\n');
    });
  }
});

describe("apply script: symlinks and special files", { timeout: 120_000 }, () => {
  const fullPlan: NodeApplyPlan = {
    restartPolicy: "if-needed",
    docker: { desired: MIRRORS },
    containerd: {
      hostsDir: "/etc/containerd/certs.d",
      files: [{ path: HUB, content: 'server = "https://registry-1.docker.io"\n', mode: 0o644 }],
    },
    files: [{ path: "/etc/rancher/k3s/registries.yaml", content: "mirrors: {}\n", mode: 0o600, runtime: "k3s" }],
  };

  for (const [tool, without] of ENGINES) {
    it(`writes through symlinked daemon.json, config.toml and drop-in files (absolute and relative links) and restore keeps the links (${tool})`, () => {
      const node = new FakeNode();
      const own = '{"data-root": "/data/docker"}\n';
      const ownToml = 'version = 2\nroot = "/var/lib/containerd"\n';
      node.write("/srv/cfg/daemon.json", own);
      node.write("/srv/cfg/config.toml", ownToml);
      node.write("/srv/cfg/registries.yaml", "configs: {}\n");
      mkdirSync(node.path("/etc/docker"), { recursive: true });
      mkdirSync(node.path("/etc/containerd"), { recursive: true });
      mkdirSync(node.path("/etc/rancher/k3s"), { recursive: true });
      symlinkSync("/srv/cfg/daemon.json", node.path(DAEMON)); // absolute: under NODE_ROOT on the node
      symlinkSync("../../srv/cfg/config.toml", node.path(CONFIG));
      symlinkSync("/srv/cfg/registries.yaml", node.path("/etc/rancher/k3s/registries.yaml"));
      const opts = { without: [...without] };
      const links = () =>
        [DAEMON, CONFIG, "/etc/rancher/k3s/registries.yaml"].map((p) => [
          lstatSync(node.path(p)).isSymbolicLink(),
          readlinkSync(node.path(p)),
        ]);
      const before = links();
      const res = node.run(fullPlan, undefined, opts);
      expect(res.code, res.stderr).toBe(0);
      expect(links()).toEqual(before);
      expect(JSON.parse(node.read("/srv/cfg/daemon.json"))).toEqual({ "data-root": "/data/docker", ...MIRRORS });
      expect(node.read("/srv/cfg/config.toml")).toContain('config_path = "/etc/containerd/certs.d"');
      expect(node.read("/srv/cfg/registries.yaml")).toBe("mirrors: {}\n");
      expect(temps(node, "/srv/cfg")).toEqual([]);
      expect(node.run(fullPlan, undefined, opts).stdout).toContain("docker: unchanged");
      const back = node.run(fullPlan, "restore", opts);
      expect(back.code, back.stderr).toBe(0);
      expect(links()).toEqual(before);
      expect(node.read("/srv/cfg/daemon.json")).toBe(own);
      expect(node.read("/srv/cfg/config.toml")).toBe(ownToml);
      expect(node.read("/srv/cfg/registries.yaml")).toBe("configs: {}\n");
    });
  }

  it("a dangling symlink: apply creates its target, restore removes the target and keeps the link", () => {
    const node = new FakeNode();
    mkdirSync(node.path("/etc/docker"), { recursive: true });
    mkdirSync(node.path("/srv"), { recursive: true });
    symlinkSync("/srv/daemon.json", node.path(DAEMON));
    expect(node.run(dockerPlan(MIRRORS)).code).toBe(0);
    expect(JSON.parse(node.read("/srv/daemon.json"))).toEqual(MIRRORS);
    expect(node.run(dockerPlan(MIRRORS), "restore").code).toBe(0);
    expect(node.exists("/srv/daemon.json")).toBe(false);
    expect(readlinkSync(node.path(DAEMON))).toBe("/srv/daemon.json");
  });

  const specials: Array<[string, (node: FakeNode, path: string) => void]> = [
    ["a folder", (node, path) => mkdirSync(node.path(path), { recursive: true })],
    [
      "a FIFO",
      (node, path) => {
        mkdirSync(dirname(node.path(path)), { recursive: true });
        expect(spawnSync("mkfifo", [node.path(path)]).status).toBe(0);
      },
    ],
    [
      "a socket",
      (node, path) => {
        mkdirSync(dirname(node.path(path)), { recursive: true });
        const py = `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(node.path(path))})`;
        expect(spawnSync("python3", ["-c", py]).status).toBe(0);
      },
    ],
    [
      "a symlink loop",
      (node, path) => {
        mkdirSync(dirname(node.path(path)), { recursive: true });
        symlinkSync(basename(path), node.path(path));
      },
    ],
  ];
  for (const [what, make] of specials) {
    for (const path of [DAEMON, CONFIG, HUB, "/etc/rancher/k3s/registries.yaml"]) {
      it(`refuses ${what} at ${path} in one line before reading anything`, () => {
        const node = new FakeNode();
        make(node, path);
        for (const mode of ["apply", "restore"]) {
          const res = node.run(fullPlan, mode);
          expect(res.code).toBe(1);
          expect(res.stdout).toBe("");
          expect(res.stderr).toBe(
            `registry-mirrors: ${path} is not a regular file; nothing was changed. Fix: move it away\n`,
          );
          expect(res.calls).toEqual([]);
        }
        expect(node.exists(`${DAEMON}.registry-mirrors.bak`) || node.exists(`${DAEMON}.registry-mirrors.created`)).toBe(
          false,
        );
      });
    }
  }

  it("an immutable daemon.json fails in one line and leaves no temp file and no backup behind", () => {
    const node = new FakeNode();
    node.write(DAEMON, "{}\n");
    const lock = spawnSync("chattr", ["+i", node.path(DAEMON)], { encoding: "utf8" });
    expect(lock.status, `chattr +i needs root on a filesystem with attributes: ${lock.stderr}`).toBe(0);
    try {
      const res = node.run(dockerPlan(MIRRORS));
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(
        "registry-mirrors: cannot replace /etc/docker/daemon.json (Operation not permitted); nothing was changed. Fix: chattr -i it\n",
      );
      expect(node.read(DAEMON)).toBe("{}\n");
      expect(temps(node, "/etc/docker")).toEqual([]);
      expect(readdirSync(node.path("/etc/docker")).sort()).toEqual(["daemon.json"]);
    } finally {
      spawnSync("chattr", ["-i", node.path(DAEMON)]);
    }
  });
});

const FUZZ_RUNS = Number(process.env.MERGE_FUZZ_RUNS ?? 75);

describe("apply script: fuzzed daemon.json through both merge engines", () => {
  for (const [tool, without] of ENGINES) {
    it(`every unmanaged value is byte-identical after apply, restore gives the file back, or the run is refused with a reason (${tool}, ${FUZZ_RUNS} cases)`, () => {
      let refused = 0;
      fc.assert(
        fc.property(daemonJsonText, ({ text, entries }) => {
          const node = new FakeNode();
          node.write(DAEMON, text);
          const plan = dockerPlan(MANAGED_BY_FUZZ);
          const res = node.run(plan, undefined, { without: [...without] });
          if (res.code !== 0) {
            refused++;
            expect(tool).toBe("jq");
            expect(res.stderr).toMatch(
              /^registry-mirrors: docker: \/etc\/docker\/daemon\.json holds .+, which jq cannot keep exactly\. Fix: install python3; nothing was changed\n$/,
            );
            expect(node.read(DAEMON)).toBe(text);
            return;
          }
          const before = valuesAsText(node.path(DAEMON));
          const source = valuesAsText(`${node.path(DAEMON)}.registry-mirrors.bak`);
          for (const [k] of entries) expect(before[k], k).toBe(source[k]);
          // The values as the source wrote them (the reader above normalises only strings' escapes and spacing).
          expect(node.run(plan, "restore", { without: [...without] }).code).toBe(0);
          expect(node.read(DAEMON)).toBe(text);
        }),
        { numRuns: FUZZ_RUNS },
      );
      if (process.env.MERGE_FUZZ_RUNS) console.log(`${tool}: ${FUZZ_RUNS} cases, ${refused} refused`);
    }, 3_600_000);
  }
});
