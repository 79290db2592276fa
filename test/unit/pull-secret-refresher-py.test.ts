/**
 * The in-cluster pull-secret refresher (components/core/kubernetes/pull-secret-refresher.py) from vitest: it
 * compiles, and its Python tests (test/refresher) pass — fake STS, Pod Identity, ECR, ACR and Kubernetes API
 * endpoints on loopback, real HTTP and JSON patches — with the machine's python3 and with Python 3.8 (the oldest
 * version it supports) when pyenv has one.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { refresherManifests } from "../../components/core/kubernetes/refresher";
import {
  REFRESHER_CONFIG_KEY,
  REFRESHER_MODULE_KEYS,
  REFRESHER_SCRIPT_KEY,
} from "../../components/core/kubernetes/refresher-config";

const ROOT = join(__dirname, "..", "..");
const SCRIPT = join(ROOT, "components", "core", "kubernetes", "pull-secret-refresher.py");

function python(bin: string, args: string[], extra: Record<string, string | undefined> = {}) {
  const env = {
    ...process.env,
    PYTHONDONTWRITEBYTECODE: "1",
    PYTHONPYCACHEPREFIX: join(tmpdir(), "rm-pycache"),
    ...extra,
  };
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
  it.each([REFRESHER_SCRIPT_KEY, ...REFRESHER_MODULE_KEYS])("%s compiles", (name) => {
    const res = python("python3", ["-m", "py_compile", join(ROOT, "components", "core", "kubernetes", name)]);
    expect(res.out).toBe("");
    expect(res.code).toBe(0);
  });

  it("runs from its ConfigMap as the kubelet mounts it (keys as symlinks into ..data), finding its modules there", () => {
    const { data } = refresherManifests({
      name: "pull-refresher",
      namespace: "apps",
      image: "docker.io/library/python:3.12-alpine",
      schedule: "7 */3 * * *",
      firstRun: false,
      identity: { awsRoleArn: "arn:aws:iam::123456789012:role/r" },
      config: {
        secretName: "pull",
        namespaces: ["apps"],
        registries: [
          {
            key: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            source: "ecr",
            registryId: "123456789012",
            region: "us-east-1",
            domain: "amazonaws.com",
            safeAgeSeconds: 21600,
          },
        ],
      },
    }).configMap;
    expect(Object.keys(data).sort()).toEqual(
      [REFRESHER_CONFIG_KEY, REFRESHER_SCRIPT_KEY, ...REFRESHER_MODULE_KEYS].sort(),
    );
    const dir = mkdtempSync(join(tmpdir(), "rm-refresher-cm-"));
    try {
      mkdirSync(join(dir, "..2027_01_15_08_00_00.1"));
      symlinkSync("..2027_01_15_08_00_00.1", join(dir, "..data"));
      for (const [key, text] of Object.entries(data)) {
        writeFileSync(join(dir, "..2027_01_15_08_00_00.1", key), text);
        symlinkSync(join("..data", key), join(dir, key));
      }
      // No cloud identity and no API server: the run gets as far as both and says so, exit 1.
      const res = python("python3", [join(dir, REFRESHER_SCRIPT_KEY), join(dir, REFRESHER_CONFIG_KEY)], {
        AWS_ROLE_ARN: undefined,
        AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
        KUBERNETES_SERVICE_HOST: undefined,
      });
      expect(res.out).not.toContain("Traceback");
      expect(res.out).toContain("level=error event=token_failed registry=123456789012.dkr.ecr.us-east-1.amazonaws.com");
      expect(res.out).toContain("level=error event=kubernetes_failed");
      expect(res.code).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
