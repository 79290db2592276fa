import { afterAll, describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { NodeApplyPlan } from "../../components/core/node-script";
import { FakeNode, cleanupNodes } from "../support/apply-harness";
import { daemonJsonText, MANAGED_BY_FUZZ, valueText, valuesAsText } from "../support/daemon-json-arb";

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

  it("jq refuses to give back a dropped key whose backed-up number it cannot keep, naming the key; python3 gives it back", () => {
    const MCD = "max-concurrent-downloads";
    for (const value of ["9007199254740993", "1e400", "1.0", "-0.0", '{"a": [2, 1.10]}']) {
      const node = new FakeNode();
      const own = `{"${MCD}": ${value}, "debug": true}\n`;
      node.write(DAEMON, own);
      expect(node.run(dockerPlan({ ...MIRRORS, [MCD]: 3 })).code).toBe(0);
      const live = node.read(DAEMON);
      const literal = value.startsWith("{") ? "1.10" : value;
      const res = node.run(dockerPlan(MIRRORS), undefined, { without: ["python3"] });
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(
        `registry-mirrors: docker: ${DAEMON}.registry-mirrors.bak holds ${literal} in "${MCD}", which jq cannot keep exactly. Fix: install python3; nothing was changed\n`,
      );
      expect(node.read(DAEMON)).toBe(live);
      expect(node.run(dockerPlan(MIRRORS)).code).toBe(0);
      expect(valuesAsText(node.path(DAEMON))[MCD]).toBe(valuesAsText(`${node.path(DAEMON)}.registry-mirrors.bak`)[MCD]);
    }
  });

  it("jq gives back a dropped key whose backed-up numbers it keeps exactly, though the backup holds others it cannot", () => {
    const node = new FakeNode();
    node.write(DAEMON, '{"max-concurrent-downloads": [5, 0.5], "mtu": 9007199254740993}\n');
    expect(node.run(dockerPlan({ ...MIRRORS, "max-concurrent-downloads": 3, mtu: 1500 })).code).toBe(0);
    // mtu stays managed: only max-concurrent-downloads goes back from the backup.
    const res = node.run(dockerPlan({ ...MIRRORS, mtu: 1500 }), undefined, { without: ["python3"] });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(JSON.parse(node.read(DAEMON))).toEqual({ ...MIRRORS, "max-concurrent-downloads": [5, 0.5], mtu: 1500 });
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
      // Under NODE_ROOT a link must lead into a folder the run writes (all the DaemonSet mounts).
      const targets = {
        daemon: "/etc/docker/cfg/daemon.json",
        toml: "/etc/containerd/cfg/config.toml",
        yaml: "/etc/rancher/cfg/registries.yaml",
      };
      node.write(targets.daemon, own);
      node.write(targets.toml, ownToml);
      node.write(targets.yaml, "configs: {}\n");
      mkdirSync(node.path("/etc/rancher/k3s"), { recursive: true });
      symlinkSync(targets.daemon, node.path(DAEMON)); // absolute: under NODE_ROOT on the node
      symlinkSync("../containerd/cfg/config.toml", node.path(CONFIG));
      symlinkSync(targets.yaml, node.path("/etc/rancher/k3s/registries.yaml"));
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
      expect(JSON.parse(node.read(targets.daemon))).toEqual({ "data-root": "/data/docker", ...MIRRORS });
      expect(node.read(targets.toml)).toContain('config_path = "/etc/containerd/certs.d"');
      expect(node.read(targets.yaml)).toBe("mirrors: {}\n");
      for (const folder of ["/etc/docker/cfg", "/etc/containerd/cfg", "/etc/rancher/cfg"])
        expect(temps(node, folder)).toEqual([]);
      expect(node.run(fullPlan, undefined, opts).stdout).toContain("docker: unchanged");
      const back = node.run(fullPlan, "restore", opts);
      expect(back.code, back.stderr).toBe(0);
      expect(links()).toEqual(before);
      expect(node.read(targets.daemon)).toBe(own);
      expect(node.read(targets.toml)).toBe(ownToml);
      expect(node.read(targets.yaml)).toBe("configs: {}\n");
    });
  }

  it("a dangling symlink: apply creates its target, restore removes the target and keeps the link", () => {
    const node = new FakeNode();
    mkdirSync(node.path("/etc/docker"), { recursive: true });
    symlinkSync("/etc/docker/own/daemon.json", node.path(DAEMON));
    expect(node.run(dockerPlan(MIRRORS)).code).toBe(0);
    expect(JSON.parse(node.read("/etc/docker/own/daemon.json"))).toEqual(MIRRORS);
    expect(node.run(dockerPlan(MIRRORS), "restore").code).toBe(0);
    expect(node.exists("/etc/docker/own/daemon.json")).toBe(false);
    expect(readlinkSync(node.path(DAEMON))).toBe("/etc/docker/own/daemon.json");
  });

  // The DaemonSet mounts only the folders the plan writes: a link out of them would be followed inside the pod.
  const outside: Array<[string, string, string, string]> = [
    ["an absolute link", DAEMON, "/opt/cfg/daemon.json", "/opt/cfg/daemon.json"],
    ["a relative link with ..", CONFIG, "../../opt/cfg/config.toml", "/opt/cfg/config.toml"],
    // The folder link is absolute: the pod follows it in its own filesystem (here: a folder beside NODE_ROOT).
    ["a link through a folder link", HUB, "hub/hosts.toml", "<pod>/hosts.toml"],
    [
      "a relative link into a folder that is not there",
      "/etc/rancher/k3s/registries.yaml",
      "../../../opt/none/registries.yaml",
      "/etc/rancher/k3s/../../../opt/none/registries.yaml",
    ],
  ];
  for (const [what, path, target, shown] of outside) {
    it(`refuses ${what} out of the folders the run writes (${path}) in one line, before writing anything`, () => {
      const node = new FakeNode();
      const pod = join(node.dir, "pod");
      mkdirSync(pod);
      mkdirSync(dirname(node.path(path)), { recursive: true });
      mkdirSync(dirname(node.path(HUB)), { recursive: true });
      mkdirSync(node.path("/opt/cfg"), { recursive: true });
      symlinkSync(pod, node.path(`${dirname(HUB)}/hub`));
      symlinkSync(target, node.path(path));
      for (const mode of ["apply", "restore"]) {
        const res = node.run(fullPlan, mode);
        expect(res.code).toBe(1);
        expect(res.stdout).toBe("");
        expect(res.stderr).toBe(
          `registry-mirrors: ${path} leads to ${shown.replace("<pod>", pod)}, outside the folders this run writes under NODE_ROOT (/etc/containerd /etc/docker /etc/rancher); nothing was changed. Fix: point the link into one of them, or make it a regular file\n`,
        );
        expect(res.calls).toEqual([]);
      }
      expect(readdirSync(node.path("/opt/cfg"))).toEqual([]);
      expect(readdirSync(pod)).toEqual([]);
      expect(node.exists("/opt/none")).toBe(false);
      expect(readdirSync(node.path(dirname(path))).filter((n) => n.includes(".registry-mirrors"))).toEqual([]);
      expect(lstatSync(node.path(path)).isSymbolicLink()).toBe(true);
    });
  }

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
// Three or four script runs a case: a third as many by default.
const GIVEN_RUNS = process.env.MERGE_FUZZ_RUNS ? FUZZ_RUNS : 25;

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

  it(`a managed key the policy drops goes back from the backup byte-identical, or jq refuses naming it (${GIVEN_RUNS} cases)`, () => {
    const GIVEN = "max-concurrent-downloads";
    let refused = 0;
    fc.assert(
      fc.property(daemonJsonText, valueText, ({ entries }, own) => {
        const node = new FakeNode();
        const kept = entries.filter(([k]) => k !== GIVEN);
        const text = `{${[...kept, [GIVEN, own]].map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(", ")}}\n`;
        node.write(DAEMON, text);
        // python3 keeps the node's file as the backup, byte for byte; then jq merges without the key.
        expect(node.run(dockerPlan({ ...MANAGED_BY_FUZZ, [GIVEN]: 3 })).code).toBe(0);
        const live = node.read(DAEMON);
        const res = node.run(dockerPlan(MANAGED_BY_FUZZ), undefined, { without: ["python3"] });
        if (res.code !== 0) {
          refused++;
          expect(res.stderr).toMatch(
            new RegExp(
              `^registry-mirrors: docker: /etc/docker/daemon\\.json( holds .+|\\.registry-mirrors\\.bak holds .+ in "${GIVEN}"), which jq cannot keep exactly\\. Fix: install python3; nothing was changed\n$`,
            ),
          );
          expect(node.read(DAEMON)).toBe(live);
          return;
        }
        const after = valuesAsText(node.path(DAEMON));
        const source = valuesAsText(`${node.path(DAEMON)}.registry-mirrors.bak`);
        for (const [k] of [...kept, [GIVEN]]) expect(after[k], k).toBe(source[k]);
        expect(node.run(dockerPlan(MANAGED_BY_FUZZ), "restore", { without: ["python3"] }).code).toBe(0);
        expect(node.read(DAEMON)).toBe(text);
      }),
      { numRuns: GIVEN_RUNS },
    );
    if (process.env.MERGE_FUZZ_RUNS) console.log(`given back by jq: ${GIVEN_RUNS} cases, ${refused} refused`);
  }, 3_600_000);
});
