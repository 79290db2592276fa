/**
 * The buildkitd config `ciMirrorSettings(..., "github-buildx")` renders for buildx, read by a real buildkitd (BuildKit
 * 0.34.2 from scripts/build-containerd.sh, as the BuildKit e2e starts it): the inline config of the setup-buildx step
 * and the file it points at are the same bytes, and a Dockerfile whose base image is on Docker Hub (and one on GHCR)
 * builds with its base pulled through the lab's mirror. The committed buildkitd.toml of examples/ci-github-buildx
 * is accepted too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ciMirrorSettings } from "../../components/core/ci";
import {
  buildLabTools,
  type Buildkitd,
  pushTestImage,
  type Registry,
  startBuildkitd,
  startRegistry,
  tmpDir,
} from "./lab";

const stops: Array<() => Promise<void>> = [];
const dirs: string[] = [];
let upstream: Registry;
let cache: Registry;

beforeAll(async () => {
  await buildLabTools();
  const dir = tmpDir("ci-buildx");
  dirs.push(dir);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  await pushTestImage(upstream.hostPort, "acme/tools", "v2");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  stops.push(() => cache.stop());
}, 3_600_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function startWith(config: string): Promise<Buildkitd> {
  const dir = tmpDir("ci-buildkitd");
  dirs.push(dir);
  const configFile = join(dir, "buildkitd.toml");
  writeFileSync(configFile, config);
  const daemon = await startBuildkitd({ dir: join(dir, "d"), configFile });
  stops.push(() => daemon.stop());
  return daemon;
}

/** Builds a one-line Dockerfile `FROM image` and exports it as an OCI tarball (so the base's layers are pulled). */
async function build(daemon: Buildkitd, image: string) {
  const dir = tmpDir("ci-buildx-ctx");
  dirs.push(dir);
  const context = join(dir, "context");
  mkdirSync(context);
  writeFileSync(join(context, "Dockerfile"), `FROM ${image}\n`);
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
      `type=oci,dest=${join(dir, "image.tar")}`,
    ],
    { timeoutMs: 170_000 },
  );
}

describe("buildkitd with the buildx config rendered for CI", () => {
  it("builds FROM docker.io and FROM ghcr.io images with their bases pulled through the mirror", async () => {
    const settings = ciMirrorSettings(
      { registries: { "docker.io": { mirrors: [cache.url] }, "ghcr.io": { mirrors: [cache.url] } } },
      "github-buildx",
    );
    // The step hands buildx this exact text inline; the file form points at the same bytes.
    const step = parseYaml(settings.files["github-buildx/setup-buildx-step.yml"])[0];
    expect(step.uses).toBe("docker/setup-buildx-action@v3");
    expect(settings.githubStepInline).toMatchObject({ with: { "buildkitd-config-inline": settings.buildkitdToml } });
    expect(settings.files["github-buildx/buildkitd.toml"]).toBe(settings.buildkitdToml);
    // A loopback mirror is reachable from buildx's builder container only on the host network.
    expect(step.with["driver-opts"]).toBe("network=host");

    const daemon = await startWith(settings.buildkitdToml);
    const hub = cache.requests("/v2/library/hello/manifests/v1");
    const res = await build(daemon, "docker.io/library/hello:v1");
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(cache.requests("/v2/library/hello/manifests/v1")).toBeGreaterThan(hub);
    expect(cache.requests("/v2/library/hello/blobs/")).toBeGreaterThan(0);

    const ghcr = cache.requests("/v2/acme/tools/manifests/v2");
    const res2 = await build(daemon, "ghcr.io/acme/tools:v2");
    expect(res2.code, `${res2.stdout}\n${res2.stderr}`).toBe(0);
    expect(cache.requests("/v2/acme/tools/manifests/v2")).toBeGreaterThan(ghcr);
  });

  it("accepts the committed buildkitd.toml of examples/ci-github-buildx", async () => {
    const committed = readFileSync(
      join(__dirname, "..", "..", "examples", "ci-github-buildx", "rendered", "ci", "github-buildx", "buildkitd.toml"),
      "utf8",
    );
    expect(committed).toContain('[registry."docker.io"]');
    const daemon = await startWith(committed);
    const workers = await daemon.buildctl(["debug", "workers"]);
    expect(workers.code, workers.stderr).toBe(0);
    expect(daemon.logs()).not.toMatch(/failed to load config|unknown key/i);
  });
});
