/**
 * BuildKit (buildkitd + buildctl built from the Go module proxy by scripts/build-containerd.sh, OCI worker with
 * Debian's runc) reading the rendered buildkitd.toml: a Dockerfile whose `FROM docker.io/library/...` image is
 * pulled through the lab's mirror. Docker Hub is unreachable here, so a build that succeeds was served by the
 * mirror; without the file the same build goes to Docker Hub and fails.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { normalisePolicy } from "../../components/core/policy";
import { renderBuildkitToml } from "../../components/core/render/buildkit";
import {
  buildLabTools,
  type Buildkitd,
  pushTestImage,
  type Registry,
  startBuildkitd,
  startRegistry,
  tmpDir,
} from "./lab";

const MANIFEST = "/v2/library/hello/manifests/v1";
const stops: Array<() => Promise<void>> = [];
const dirs: string[] = [];
let upstream: Registry;
let cache: Registry;
let context: string;

beforeAll(async () => {
  await buildLabTools();
  const dir = tmpDir("buildkit");
  dirs.push(dir);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  stops.push(() => cache.stop());
  context = join(dir, "context");
  mkdirSync(context, { recursive: true });
  writeFileSync(join(context, "Dockerfile"), "FROM docker.io/library/hello:v1\n");
}, 3_600_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function startWith(config: string): Promise<Buildkitd> {
  const dir = tmpDir("buildkitd");
  dirs.push(dir);
  const configFile = join(dir, "buildkitd.toml");
  writeFileSync(configFile, config);
  const daemon = await startBuildkitd({ dir: join(dir, "d"), configFile });
  stops.push(() => daemon.stop());
  return daemon;
}

/** Builds the FROM-only Dockerfile and exports the image as a tarball (so its layers are pulled too). */
async function build(daemon: Buildkitd) {
  const out = tmpDir("buildkit-out");
  dirs.push(out);
  return daemon.buildctl(
    [
      "build",
      "--frontend",
      "dockerfile.v0",
      "--local",
      `context=${context}`,
      "--local",
      `dockerfile=${context}`,
      "--output",
      `type=oci,dest=${join(out, "image.tar")}`,
    ],
    { timeoutMs: 170_000 },
  );
}

describe("buildkitd with the rendered buildkitd.toml", () => {
  it("pulls the FROM image of docker.io through the mirror (plain-HTTP mirror: http = true)", async () => {
    const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors: [cache.url] } } });
    const file = renderBuildkitToml(policy);
    expect(file.content).toContain(`[registry."${cache.hostPort}"]`);
    const daemon = await startWith(file.content);
    const before = cache.requests(MANIFEST);
    const res = await build(daemon);
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(cache.requests(MANIFEST)).toBeGreaterThan(before);
    expect(cache.requests("/v2/library/hello/blobs/")).toBeGreaterThan(0);
  });

  it("tries the mirrors in order: the CI example's public mirror (unreachable here) first, then the lab's", async () => {
    // The ci-buildkit example's policy shape (dockerHubMirrors) with the lab's cache after its default mirror.
    const { policy } = normalisePolicy({
      registries: { "docker.io": { mirrors: ["https://mirror.gcr.io", cache.url] } },
    });
    const daemon = await startWith(renderBuildkitToml(policy).content);
    const before = cache.requests(MANIFEST);
    const res = await build(daemon);
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(cache.requests(MANIFEST)).toBeGreaterThan(before);
    expect(daemon.logs()).toMatch(/trying next host.*mirror\.gcr\.io/);
  });

  it("accepts the CI example's committed buildkitd.toml (examples/ci-buildkit/rendered)", async () => {
    const committed = readFileSync(
      join(__dirname, "..", "..", "examples", "ci-buildkit", "rendered", "node", "etc", "buildkit", "buildkitd.toml"),
      "utf8",
    );
    expect(committed).toContain('[registry."docker.io"]');
    const daemon = await startWith(committed);
    const workers = await daemon.buildctl(["debug", "workers"]);
    expect(workers.code, workers.stderr).toBe(0);
    expect(daemon.logs()).not.toMatch(/failed to load config|unknown key/i);
  });

  it("control: without the mirror the same build goes to Docker Hub and fails, the mirror untouched", async () => {
    const daemon = await startWith("");
    const before = cache.requests(MANIFEST);
    const res = await build(daemon);
    expect(res.code).not.toBe(0);
    expect(`${res.stderr}\n${daemon.logs()}`).toMatch(/registry-1\.docker\.io|index\.docker\.io/);
    expect(cache.requests(MANIFEST)).toBe(before);
  });
});
