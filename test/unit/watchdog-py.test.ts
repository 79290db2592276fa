/**
 * The node watchdog (components/core/node/watchdog.py) from vitest: it compiles, its Python unit tests pass
 * (test/node/test_watchdog.py; also under Python 3.6 when pyenv has one, the oldest version it supports), and it reads
 * the plans watch-plan.ts renders, assembling exactly the files the TypeScript side expects.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MirrorPolicyInput, normalisePolicy } from "../../components/core/policy";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { assembleChunks, buildWatchPlan } from "../../components/core/watch-plan";

const ROOT = join(__dirname, "..", "..");
const WATCHDOG = join(ROOT, "components", "core", "node", "watchdog.py");

function python(bin: string, args: string[], input?: string) {
  // No __pycache__ in the source tree (py_compile writes its output under the prefix).
  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONPYCACHEPREFIX: join(tmpdir(), "rm-pycache") };
  const res = spawnSync(bin, args, { cwd: ROOT, encoding: "utf8", input, env, timeout: 120_000 });
  return { code: res.status, out: `${res.stdout}${res.stderr}`, stdout: res.stdout };
}

/** Python 3.6 from pyenv, when this machine has one. */
function python36(): string[] {
  const dir = "/root/.pyenv/versions";
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((v) => v.startsWith("3.6."))
    .map((v) => join(dir, v, "bin", "python3"))
    .filter((p) => existsSync(p));
}

describe("watchdog.py", () => {
  it("compiles", () => {
    const res = python("python3", ["-m", "py_compile", WATCHDOG]);
    expect(res.out).toBe("");
    expect(res.code).toBe(0);
  });

  for (const bin of ["python3", ...python36()]) {
    it(`passes its unit tests (${bin})`, () => {
      const res = python(bin, ["-m", "unittest", "discover", "-s", "test/node", "-p", "test_*.py"]);
      expect(res.out).toMatch(/\nOK\n/);
      expect(res.code).toBe(0);
    });
  }

  it("prints its usage and exits 2 without a plan", () => {
    const res = python("python3", [WATCHDOG]);
    expect(res.code).toBe(2);
    expect(res.out).toContain("--plan FILE is required");
  });

  it("reads the rendered plan and assembles the same files as watch-plan.ts", () => {
    const input: MirrorPolicyInput = {
      allowMirrorPaths: true,
      registries: {
        "docker.io": {
          mirrors: [
            "https://m1.example.com",
            "http://10.0.0.5:5000",
            {
              url: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/docker-hub",
              overridePath: true,
              auth: "ecr",
            },
          ],
        },
        "ghcr.io": { mirrors: ["https://m1.example.com", "https://g2.example.com"], upstreamFallback: false },
        "quay.io": { mirrors: ["https://q1.example.com", "https://q2.example.com"] },
      },
    };
    const r = renderNodeConfig({ policy: input, runtimes: ["docker", "containerd", "crio"] });
    const plan = buildWatchPlan({ policy: normalisePolicy(input).policy, files: r.files });
    const urls = plan.endpoints.map((e) => e.url);
    // Every subset of the endpoints down.
    const downSets = Array.from({ length: 2 ** urls.length }, (_, n) => urls.filter((_, i) => n & (1 << i)));
    const driver = [
      "import json, sys",
      `sys.path.insert(0, ${JSON.stringify(join(ROOT, "components", "core", "node"))})`,
      "import watchdog",
      "data = json.load(sys.stdin)",
      "plan = watchdog.load_plan(json.dumps(data['plan']))",
      "out = [[watchdog.assemble(f['prefix'], f['chunks'], set(d)) for f in plan['files'] if 'chunks' in f] for d in data['down']]",
      "print(json.dumps(out))",
    ].join("\n");
    const res = python("python3", ["-c", driver], JSON.stringify({ plan, down: downSets }));
    expect(res.code, res.out).toBe(0);
    const got = JSON.parse(res.stdout) as string[][];
    const toml = plan.files.filter((f) => f.chunks);
    expect(toml.length).toBe(4);
    downSets.forEach((down, i) => {
      expect(got[i]).toEqual(toml.map((f) => assembleChunks(f.prefix!, f.chunks!, new Set(down))));
    });
  });
});
