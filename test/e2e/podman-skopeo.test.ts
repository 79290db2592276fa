/**
 * skopeo 1.9 and podman 4.3 pulling through the rendered registries.conf drop-in: docker.io and ghcr.io
 * (unreachable here, so a successful pull was served by a mirror) with a dead first mirror, a registry without
 * upstream fallback (the last mirror becomes its location), and pull-from-mirror = "digest-only".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { normalisePolicy } from "../../components/core/policy";
import { renderRegistriesConf } from "../../components/core/render/registries-conf";
import { freePort, pushTestImage, type Registry, run, type RunResult, startRegistry, tmpDir } from "./lab";

const stops: Array<() => Promise<void>> = [];
const dirs: string[] = [];
let dir: string;
let upstream: Registry;
let cache: Registry;
let deadPort: number;
let confFile: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = tmpDir("podman-skopeo");
  dirs.push(dir);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  await pushTestImage(upstream.hostPort, "someorg/tool", "v1");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  stops.push(() => cache.stop());
  deadPort = await freePort();

  const dead = `http://127.0.0.1:${deadPort}`;
  const { policy } = normalisePolicy({
    registries: {
      "docker.io": { mirrors: [dead, cache.url] },
      "ghcr.io": { mirrors: [dead, cache.url] },
      "registry.k8s.io": { mirrors: [dead, cache.url], upstreamFallback: false },
      "quay.io": { mirrors: [{ url: cache.url, pullFromMirror: "digest-only" }] },
    },
  });
  const file = renderRegistriesConf(policy);
  confFile = join(dir, "50-registry-mirrors.conf");
  writeFileSync(confFile, file.content);
  // podman reads CONTAINERS_REGISTRIES_CONF; skopeo 1.9 ignores it and takes --registries-conf.
  env = { ...process.env, CONTAINERS_REGISTRIES_CONF: confFile };
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh folder for `skopeo copy ... dir:OUT`, removed after the tests. */
function out(): string {
  const d = tmpDir("skopeo-out");
  dirs.push(d);
  return d;
}

function skopeo(args: string[]): Promise<RunResult> {
  return run("skopeo", ["--debug", "--registries-conf", confFile, ...args]);
}

function podman(args: string[]): Promise<RunResult> {
  const base = [
    "--root",
    join(dir, "podman-root"),
    "--runroot",
    join(dir, "podman-run"),
    "--storage-driver",
    "vfs",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "none",
    "--log-level",
    "debug",
  ];
  return run("podman", [...base, ...args], { env });
}

/** Position in the debug log where skopeo/podman started trying `hostPort`, or -1. */
function triedAt(log: string, hostPort: string): number {
  return log.indexOf(`Trying to access \\"${hostPort}/`); // the debug log escapes the quotes
}

describe("skopeo through the rendered registries.conf drop-in", () => {
  it.each([
    ["docker.io/library/hello:v1", "library/hello"],
    ["ghcr.io/someorg/tool:v1", "someorg/tool"],
  ])("copies %s from the live mirror after the dead one", async (ref, repo) => {
    const before = cache.requests(`/v2/${repo}/manifests/v1`);
    const res = await skopeo(["copy", `docker://${ref}`, `dir:${out()}`]);
    expect(res.code, res.stderr).toBe(0);
    const dead = triedAt(res.stderr, `127.0.0.1:${deadPort}`);
    expect(dead).toBeGreaterThanOrEqual(0);
    expect(triedAt(res.stderr, cache.hostPort)).toBeGreaterThan(dead);
    expect(cache.requests(`/v2/${repo}/manifests/v1`)).toBeGreaterThan(before);
  });

  it("never contacts the upstream of a registry with upstreamFallback: false", async () => {
    const ok = await skopeo(["copy", "docker://registry.k8s.io/library/hello:v1", `dir:${out()}`]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(triedAt(ok.stderr, cache.hostPort)).toBeGreaterThan(triedAt(ok.stderr, `127.0.0.1:${deadPort}`));
    // An image no mirror has: with the upstream as last resort skopeo would try it next; here it must not.
    const missing = await skopeo(["inspect", "--no-tags", "docker://registry.k8s.io/nope/missing:v1"]);
    expect(missing.code).not.toBe(0);
    expect(triedAt(missing.stderr, cache.hostPort)).toBeGreaterThan(triedAt(missing.stderr, `127.0.0.1:${deadPort}`));
    expect(triedAt(missing.stderr, "registry.k8s.io")).toBe(-1);
    expect(missing.stderr).not.toContain("https://registry.k8s.io/v2");
  });

  it("control: with upstreamFallback (docker.io) the same missing image is tried on the upstream last", async () => {
    const missing = await skopeo(["inspect", "--no-tags", "docker://docker.io/nope/missing:v1"]);
    expect(missing.code).not.toBe(0);
    expect(triedAt(missing.stderr, "docker.io")).toBeGreaterThan(triedAt(missing.stderr, cache.hostPort));
  });

  it("uses a digest-only mirror for a digest pull and not for a tag pull", async () => {
    const digest = (
      await run("skopeo", [
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        `docker://${upstream.hostPort}/someorg/tool:v1`,
      ])
    ).stdout.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const byDigest = await skopeo(["inspect", "--no-tags", `docker://quay.io/someorg/tool@${digest}`]);
    expect(byDigest.code, byDigest.stderr).toBe(0);
    expect(triedAt(byDigest.stderr, cache.hostPort)).toBeGreaterThanOrEqual(0);

    const byTag = await skopeo(["inspect", "--no-tags", "docker://quay.io/someorg/tool:v1"]);
    expect(byTag.code).not.toBe(0); // quay.io itself is unreachable here, and the mirror is not asked
    expect(triedAt(byTag.stderr, cache.hostPort)).toBe(-1);
  });
});

describe("podman through the rendered registries.conf drop-in", () => {
  it.each([
    ["docker.io/library/hello:v1", "library/hello"],
    ["ghcr.io/someorg/tool:v1", "someorg/tool"],
  ])("pulls %s from the live mirror after the dead one", async (ref, repo) => {
    const before = cache.requests(`/v2/${repo}/manifests/v1`);
    const res = await podman(["pull", ref]);
    expect(res.code, res.stderr).toBe(0);
    const dead = triedAt(res.stderr, `127.0.0.1:${deadPort}`);
    expect(dead).toBeGreaterThanOrEqual(0);
    expect(triedAt(res.stderr, cache.hostPort)).toBeGreaterThan(dead);
    expect(cache.requests(`/v2/${repo}/manifests/v1`)).toBeGreaterThan(before);
    const images = await podman(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(images.stdout.split("\n")).toContain(ref);
  });
});
