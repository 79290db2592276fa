/**
 * The DinD service's mirror settings on a real dockerd (the lab's 20.10, a second instance with its own data root,
 * exec root, pidfile and socket): started with exactly the flags `ciMirrorSettings(..., "gitlab-dind")` renders (and
 * with the command of the rendered GitLab Runner config.toml, read back with smol-toml), it lists the mirror and pulls
 * a Docker Hub image through the lab's pull-through cache, whose request log shows the pull. Docker Hub is
 * unreachable here, so a pull that succeeds was served by the mirror. The mounted-daemon.json form does the same; both
 * forms at once make dockerd refuse to start (why the renderer says "never both"); and a mirror with a path, which
 * the renderer refuses for dockerd 20.10, is refused by dockerd 20.10 itself.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { ciMirrorSettings } from "../../components/core/ci";
import { PolicyError } from "../../components/core/errors";
import { pushTestImage, type Registry, run, startDockerd, startRegistry, tmpDir, waitFor } from "./lab";

const MANIFEST = "/v2/library/hello/manifests/v1";
const stops: Array<() => Promise<void>> = [];
let dir: string;
let upstream: Registry;
let cache: Registry;
let dockerVersion: string;
let runs = 0;

beforeAll(async () => {
  dir = tmpDir("ci-dind");
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  stops.push(() => cache.stop());
  const version = await run("dockerd", ["--version"]);
  dockerVersion = /Docker version (\d+\.\d+\.\d+)/.exec(version.stdout)?.[1] ?? "";
  expect(dockerVersion, version.stdout).toMatch(/^20\.10\./);
}, 120_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const policy = () => ({ registries: { "docker.io": { mirrors: [cache.url] } } });
const options = () => ({ dindImage: `docker:${dockerVersion}-dind` });

/** Starts a dockerd of its own with `configFile` and `args`, pulls docker.io/library/hello:v1, and stops it. */
async function pullWith(configFile: string, args: string[]): Promise<{ mirrors: string[]; code: number; out: string }> {
  const dockerd = await startDockerd({ dir: join(dir, `dockerd-${++runs}`), configFile, args });
  try {
    const mirrors = await dockerd.mirrors();
    const pull = await dockerd.docker(["pull", "docker.io/library/hello:v1"], { timeoutMs: 120_000 });
    return { mirrors, code: pull.code, out: `${pull.stdout}\n${pull.stderr}` };
  } finally {
    await dockerd.stop();
  }
}

function emptyConfig(): string {
  const file = join(dir, `empty-${++runs}.json`);
  writeFileSync(file, "{}\n");
  return file;
}

describe("dockerd with the DinD service's rendered settings", () => {
  it("accepts exactly the rendered flags and pulls a Docker Hub image through the mirror", async () => {
    const settings = ciMirrorSettings(policy(), "gitlab-dind", options());
    expect(settings.flags).toEqual(["--registry-mirror", cache.url]);
    const before = cache.requests(MANIFEST);
    const res = await pullWith(emptyConfig(), settings.flags);
    expect(res.mirrors).toEqual([`${cache.url}/`]);
    expect(res.code, res.out).toBe(0);
    expect(cache.requests(MANIFEST)).toBeGreaterThan(before);
    expect(cache.requests("/v2/library/hello/blobs/")).toBeGreaterThan(0);
  });

  it("accepts the command of the rendered GitLab Runner config.toml service, read back with smol-toml", async () => {
    const runner = ciMirrorSettings(policy(), "gitlab-runner", options());
    const doc = parseToml(runner.configToml) as {
      runners: Array<{ docker: { services: Array<{ name: string; command: string[] }> } }>;
    };
    const service = doc.runners[0].docker.services[0];
    expect(service.name).toBe(`docker:${dockerVersion}-dind`);
    const before = cache.requests(MANIFEST);
    const res = await pullWith(emptyConfig(), service.command);
    expect(res.code, res.out).toBe(0);
    expect(cache.requests(MANIFEST)).toBeGreaterThan(before);
  });

  it("reads the rendered daemon.json (the mounted form) and pulls through the mirror", async () => {
    const settings = ciMirrorSettings(policy(), "gitlab-dind", { ...options(), dindConfig: "daemon-json" });
    const file = join(dir, "dind-daemon.json");
    writeFileSync(file, settings.daemonJson);
    const before = cache.requests(MANIFEST);
    const res = await pullWith(file, []);
    expect(res.mirrors).toEqual([`${cache.url}/`]);
    expect(res.code, res.out).toBe(0);
    expect(cache.requests(MANIFEST)).toBeGreaterThan(before);
  });

  it("refuses to start with the flags and the daemon.json at once, as the rendered services.yml warns", async () => {
    const settings = ciMirrorSettings(policy(), "gitlab-dind", options());
    expect(settings.gitlabServices).toContain("dockerd refuses a setting given both ways");
    const file = join(dir, "both.json");
    writeFileSync(file, settings.daemonJson);
    const dockerd = await startDockerd({
      dir: join(dir, `dockerd-${++runs}`),
      configFile: file,
      args: settings.flags,
      waitReady: false,
    });
    try {
      await waitFor("dockerd to refuse both forms", () => dockerd.exited(), 30_000);
      expect(dockerd.logs()).toMatch(/specified both as a flag and in the configuration file.*registry-mirrors/);
    } finally {
      await dockerd.stop();
    }
  });

  it("dockerd 20.10 refuses a mirror with a path, which the renderer refuses for it before any job runs", async () => {
    const withPath = { allowMirrorPaths: true, registries: { "docker.io": { mirrors: [`${cache.url}/hub`] } } };
    expect(() => ciMirrorSettings(withPath, "gitlab-dind", options())).toThrow(PolicyError);
    expect(() => ciMirrorSettings(withPath, "gitlab-dind", options())).toThrow(/dockerd 20\.10\.\d+ refuses/);
    const dockerd = await startDockerd({
      dir: join(dir, `dockerd-${++runs}`),
      configFile: emptyConfig(),
      args: ["--registry-mirror", `${cache.url}/hub`],
      waitReady: false,
    });
    try {
      await waitFor("dockerd to refuse the path", () => dockerd.exited(), 30_000);
      expect(dockerd.logs()).toContain("invalid mirror: path, query, or fragment at end of the URI");
    } finally {
      await dockerd.stop();
    }
  });

  it("control: without the flags the same pull goes to Docker Hub and fails, the mirror untouched", async () => {
    const before = cache.requests(MANIFEST);
    const res = await pullWith(emptyConfig(), []);
    expect(res.mirrors).toEqual([]);
    expect(res.code).not.toBe(0);
    expect(cache.requests(MANIFEST)).toBe(before);
  });
});
