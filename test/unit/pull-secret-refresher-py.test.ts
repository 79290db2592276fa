/**
 * The in-cluster pull-secret refresher (components/core/kubernetes/pull-secret-refresher.py) from vitest: it
 * compiles, and its Python tests (test/refresher) pass — fake STS, Pod Identity, ECR, ACR and Kubernetes API
 * endpoints on loopback, real HTTP and JSON patches — with the machine's python3 and with Python 3.8 (the oldest
 * version it supports) when pyenv has one.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
const SCRIPT = join(ROOT, "components", "core", "kubernetes", "pull-secret-refresher.py");

function python(bin: string, args: string[]) {
  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONPYCACHEPREFIX: join(tmpdir(), "rm-pycache") };
  const res = spawnSync(bin, args, { cwd: ROOT, encoding: "utf8", env, timeout: 240_000 });
  return { code: res.status, out: `${res.stdout}${res.stderr}` };
}

function python38(): string[] {
  const dir = "/root/.pyenv/versions";
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((v) => v.startsWith("3.8."))
    .map((v) => join(dir, v, "bin", "python3"))
    .filter((p) => existsSync(p));
}

describe("pull-secret-refresher.py", { timeout: 240_000 }, () => {
  it("compiles", () => {
    const res = python("python3", ["-m", "py_compile", SCRIPT]);
    expect(res.out).toBe("");
    expect(res.code).toBe(0);
  });

  for (const bin of ["python3", ...python38()]) {
    it(`passes its tests against fake endpoints (${bin})`, () => {
      const res = python(bin, ["-m", "unittest", "discover", "-s", "test/refresher", "-p", "test_*.py", "-v"]);
      expect(res.out).toMatch(/\nOK\n/);
      expect(res.out).toMatch(/^Ran 1[0-9] tests/m);
      expect(res.code).toBe(0);
    });
  }

  it("prints its usage and exits 2 without a config", () => {
    const res = python("python3", [SCRIPT]);
    expect(res.code).toBe(2);
    expect(res.out).toContain("usage: pull-secret-refresher.py CONFIG.json");
  });
});
