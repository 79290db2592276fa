/**
 * The node watchdog (components/core/node/watchdog.py) from vitest: it compiles, its Python unit tests pass
 * (test/node/test_watchdog.py; also under Python 3.6 when pyenv has one, the oldest version it supports), and it reads
 * the plans watch-plan.ts renders, assembling exactly the files the TypeScript side expects.
 */
import { describe, expect, it } from "vitest";
import { execFile, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECR_DIR, nodeSource, TEMPLATE_SUFFIX } from "../../components/core/node-script";

const ECR_REFRESHER = nodeSource("ecr-token-refresh.sh");
import { type MirrorPolicyInput, normalisePolicy } from "../../components/core/policy";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { assembleChunks, buildWatchPlan, renderWatchPlan } from "../../components/core/watch-plan";

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

describe("watchdog.py", { timeout: 120_000 }, () => {
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

describe("watchdog.py with the ECR token refresher", { timeout: 60_000 }, () => {
  it("writes the template without the down mirror; the refresher renders hosts.toml = template + token", async () => {
    const ecr = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/docker-hub";
    const dir = mkdtempSync(join(tmpdir(), "rm-watchdog-ecr-"));
    // The ECR endpoint answers 401 from loopback (its real host is not reachable here); the first mirror refuses.
    const server = createServer((_req, res) => res.writeHead(401).end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, "127.0.0.1", resolve));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise((resolve) => dead.close(resolve));
    try {
      const root = join(dir, "root");
      const policy: MirrorPolicyInput = {
        allowMirrorPaths: true,
        registries: {
          "docker.io": { mirrors: [`http://127.0.0.1:${deadPort}`, { url: ecr, overridePath: true, auth: "ecr" }] },
        },
      };
      const r = renderNodeConfig({ policy, runtimes: ["containerd"] });
      const hosts = "/etc/containerd/certs.d/docker.io/hosts.toml";
      const plan = JSON.parse(
        renderWatchPlan({ policy: r.policy, files: r.files, watchdog: { successesToUp: 1, metricsFile: false } }),
      );
      plan.endpoints[1].probeUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/`;
      writeFileSync(join(dir, "plan.json"), JSON.stringify(plan));
      // The node as the apply script leaves it: the template, the refresher, its list and a token.
      const put = (path: string, content: string, mode = 0o644) => {
        mkdirSync(join(root, path, ".."), { recursive: true });
        writeFileSync(join(root, path), content, { mode });
      };
      put(`${hosts}${TEMPLATE_SUFFIX}`, r.files[hosts], 0o600);
      put(`${ECR_DIR}/ecr-token-refresh`, ECR_REFRESHER, 0o755);
      put(`${ECR_DIR}/ecr-token.list`, `us-east-1 ${hosts} host.${JSON.stringify(ecr)}.header\n`);
      put(`${ECR_DIR}/token.us-east-1`, "QVdTOnNlY3JldC1wYXNzd29yZC0xMjM0\n", 0o600);
      const once = () =>
        new Promise<{ code: number; out: string }>((resolve) =>
          execFile(
            "python3",
            [WATCHDOG, "--plan", join(dir, "plan.json"), "--root", root, "--once"],
            { env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" }, timeout: 60_000 },
            (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, out: `${stdout}${stderr}` }),
          ),
        );
      expect((await once()).code).toBe(0);
      const second = await once();
      expect(second.code, second.out).toBe(0);
      expect(second.out).toContain("event=write");
      const template = readFileSync(join(root, `${hosts}${TEMPLATE_SUFFIX}`), "utf8");
      expect(template).not.toContain(`127.0.0.1:${deadPort}`);
      expect(template).toContain(`[host."${ecr}"]`);
      const live = readFileSync(join(root, hosts), "utf8");
      expect(live).toBe(
        `${template}\n[host."${ecr}".header]\nAuthorization = "Basic QVdTOnNlY3JldC1wYXNzd29yZC0xMjM0"\n`,
      );
      expect(statSync(join(root, hosts)).mode & 0o777).toBe(0o600);
      // The token never reaches the watchdog's output or status.
      expect(second.out).not.toContain("QVdTOnNlY3JldC1wYXNzd29yZC0xMjM0");
      expect(readFileSync(join(root, "var/lib/registry-mirrors/watchdog/status.json"), "utf8")).not.toContain("QVdTOn");
    } finally {
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
