/**
 * Kaniko's executor (1.23.2, built from the Go module proxy by scripts/build-containerd.sh) run with the flags
 * `ciMirrorSettings(..., "kaniko")` renders: a Dockerfile whose base image is on Docker Hub (`--registry-mirror`) and
 * one on GHCR (`--registry-map`) build with their bases pulled through the lab's mirror, and without the flags the
 * same build goes to Docker Hub and fails.
 *
 * No container and no namespaces: the executor runs on the host as the unprivileged user nobody (`--force`, which
 * Kaniko wants outside a container), so it can write only to what the test gives it. Kaniko keeps its work folder at
 * /kaniko (given another with --kaniko-dir it copies /kaniko there and deletes it), so the test creates /kaniko owned
 * by nobody and removes it afterwards. A FROM-only Dockerfile makes Kaniko skip unpacking the base image into `/`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ciMirrorSettings } from "../../components/core/ci";
import { labTool, pushTestImage, type Registry, run, runOk, startRegistry, tmpDir } from "./lab";

const NOBODY = "65534";
const KANIKO_DIR = "/kaniko";
const stops: Array<() => Promise<void>> = [];
let dir: string;
let executor: string;
let upstream: Registry;
let cache: Registry;
let createdKanikoDir = false;
let builds = 0;

beforeAll(async () => {
  executor = join((await labTool("kaniko")).bin, "executor");
  if (existsSync(KANIKO_DIR)) {
    // Only a leftover of this test (owned by nobody) is reused.
    expect(String(statSync(KANIKO_DIR).uid), `${KANIKO_DIR} exists and is not this test's`).toBe(NOBODY);
    for (const entry of readdirSync(KANIKO_DIR)) rmSync(join(KANIKO_DIR, entry), { recursive: true, force: true });
  } else {
    mkdirSync(KANIKO_DIR);
  }
  createdKanikoDir = true;
  await runOk("chown", [`${NOBODY}:${NOBODY}`, KANIKO_DIR]);
  dir = tmpDir("ci-kaniko");
  await runOk("chmod", ["755", dir]);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  await pushTestImage(upstream.hostPort, "acme/tools", "v2");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  stops.push(() => cache.stop());
}, 3_600_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (createdKanikoDir) rmSync(KANIKO_DIR, { recursive: true, force: true });
});

/** Runs the executor as nobody on a one-line Dockerfile `FROM image`, writing the image as a tarball. */
async function kaniko(image: string, flags: string[]) {
  // A file Kaniko finds in /kaniko from an earlier build it tries to chown to root, which nobody cannot.
  for (const entry of readdirSync(KANIKO_DIR)) rmSync(join(KANIKO_DIR, entry), { recursive: true, force: true });
  const work = join(dir, `build-${++builds}`);
  const context = join(work, "context");
  mkdirSync(context, { recursive: true });
  writeFileSync(join(context, "Dockerfile"), `FROM ${image}\n`);
  // Kaniko copies the Dockerfile into /kaniko keeping its owner, which nobody can only do for its own files.
  await runOk("chown", ["-R", `${NOBODY}:${NOBODY}`, work]);
  const tar = join(work, "image.tar");
  const res = await run(
    "setpriv",
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      "--",
      executor,
      "--force",
      "--no-push",
      "--destination=registry.invalid/app:ci",
      `--tar-path=${tar}`,
      `--context=dir://${context}`,
      `--dockerfile=${join(context, "Dockerfile")}`,
      ...flags,
    ],
    { env: { PATH: process.env.PATH, HOME: work, DOCKER_CONFIG: join(work, "docker") }, timeoutMs: 170_000 },
  );
  return { ...res, out: `${res.stdout}\n${res.stderr}`, tar };
}

describe("Kaniko's executor with the rendered flags", () => {
  it("pulls a Docker Hub base (--registry-mirror) and a GHCR base (--registry-map) through the mirror", async () => {
    const settings = ciMirrorSettings(
      { registries: { "docker.io": { mirrors: [cache.url] }, "ghcr.io": { mirrors: [cache.url] } } },
      "kaniko",
    );
    expect(settings.args).toEqual([
      `--registry-mirror=${cache.hostPort}`,
      `--registry-map=ghcr.io=${cache.hostPort}`,
      `--insecure-registry=${cache.hostPort}`,
    ]);
    const hub = cache.requests("/v2/library/hello/manifests/v1");
    const res = await kaniko("docker.io/library/hello:v1", settings.args);
    expect(res.code, res.out).toBe(0);
    expect(res.out).toContain(`from mapped registry ${cache.hostPort}`);
    expect(cache.requests("/v2/library/hello/manifests/v1")).toBeGreaterThan(hub);
    expect(cache.requests("/v2/library/hello/blobs/")).toBeGreaterThan(0);
    expect(statSync(res.tar).size).toBeGreaterThan(0);

    const ghcr = cache.requests("/v2/acme/tools/manifests/v2");
    const res2 = await kaniko("ghcr.io/acme/tools:v2", settings.args);
    expect(res2.code, res2.out).toBe(0);
    expect(cache.requests("/v2/acme/tools/manifests/v2")).toBeGreaterThan(ghcr);
  });

  it("with --skip-default-registry-fallback (upstreamFallback: false) fails on a miss instead of going upstream", async () => {
    const settings = ciMirrorSettings(
      { registries: { "docker.io": { mirrors: [cache.url], upstreamFallback: false } } },
      "kaniko",
    );
    expect(settings.args).toContain("--skip-default-registry-fallback");
    const res = await kaniko("docker.io/library/absent:v1", settings.args);
    expect(res.code).not.toBe(0);
    expect(res.out).toContain("image not found on any configured mapped registries");
  });

  it("control: without the flags the same build goes to Docker Hub and fails, the mirror untouched", async () => {
    const before = cache.requests("/v2/library/hello/manifests/v1");
    const res = await kaniko("docker.io/library/hello:v1", []);
    expect(res.code).not.toBe(0);
    expect(res.out).toMatch(/index\.docker\.io|registry-1\.docker\.io/);
    expect(cache.requests("/v2/library/hello/manifests/v1")).toBe(before);
  });
});
