/**
 * containerd 1.6 pulling through the rendered hosts.toml folder: docker.io and ghcr.io (unreachable here, so a
 * successful pull was served by a mirror), a `*` catch-all (`_default`) and a registry without upstream
 * fallback, each with a dead first mirror; then containerd with the CRI plugin and the rendered config fragment.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { normalisePolicy } from "../../components/core/policy";
import { renderContainerdConfigFragment, renderContainerdHosts } from "../../components/core/render/containerd";
import {
  containerdBaseConfig,
  type Containerd,
  freePort,
  pushTestImage,
  type Registry,
  startContainerd,
  startRegistry,
  tmpDir,
} from "./lab";

const stops: Array<() => Promise<void>> = [];
const dirs: string[] = [];
let upstream: Registry;
let cache: Registry;
let deadPort: number;
let certsDir: string;
let containerd: Containerd;

beforeAll(async () => {
  const dir = tmpDir("containerd-pull");
  dirs.push(dir);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  await pushTestImage(upstream.hostPort, "someorg/tool", "v1");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  stops.push(() => cache.stop());
  deadPort = await freePort(); // nothing listens here: the first mirror of every registry is dead

  const dead = { url: `http://127.0.0.1:${deadPort}`, dialTimeout: "2s" };
  const { policy } = normalisePolicy({
    registries: {
      "docker.io": { mirrors: [dead, cache.url] },
      "ghcr.io": { mirrors: [dead, cache.url] },
      "registry.k8s.io": {
        mirrors: [dead, { url: cache.url, headers: { "X-Mirror-Test": "1" } }],
        upstreamFallback: false,
      },
      "*": { mirrors: [dead, cache.url] },
      // One mirror and no upstream: the file has only `server` and an empty [host] table.
      "gcr.io": { mirrors: [cache.url], upstreamFallback: false },
    },
  });
  certsDir = join(dir, "certs.d");
  for (const file of renderContainerdHosts(policy, { certsDir })) {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.content, { mode: file.mode });
  }
  containerd = await startContainerd({ dir: join(dir, "containerd") });
  stops.push(() => containerd.stop());
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function pull(ref: string) {
  return containerd.ctr([
    "--debug",
    "-n",
    "t",
    "images",
    "pull",
    "--snapshotter",
    "native",
    "--hosts-dir",
    certsDir,
    ref,
  ]);
}

describe("containerd pulls through the rendered hosts.toml files", () => {
  it.each([
    ["docker.io/library/hello:v1", "/v2/library/hello/manifests/v1"],
    ["ghcr.io/someorg/tool:v1", "/v2/someorg/tool/manifests/v1"],
  ])("%s succeeds over the live mirror after the dead one", async (ref, manifestPath) => {
    const before = cache.requests(manifestPath);
    const res = await pull(ref);
    expect(res.code, res.stderr).toBe(0);
    // The dead mirror was tried first (the resolver logs each failed host), then the cache served the manifest.
    expect(res.stderr).toContain(`127.0.0.1:${deadPort}`);
    expect(res.stderr).toContain("trying next host");
    expect(cache.requests(manifestPath)).toBeGreaterThan(before);
    const list = await containerd.ctr(["-n", "t", "images", "ls", "-q"]);
    expect(list.stdout.split("\n")).toContain(ref);
  });

  it('uses _default/hosts.toml for a registry without its own folder ("*")', async () => {
    const before = cache.requests("/v2/someorg/tool/manifests/v1");
    const res = await pull("quay.io/someorg/tool:v1");
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(`127.0.0.1:${deadPort}`);
    expect(cache.requests("/v2/someorg/tool/manifests/v1")).toBeGreaterThan(before);
  });

  it("with upstreamFallback: false the last mirror is the server (top-level settings) and the upstream is never tried", async () => {
    const before = cache.requests("/v2/library/hello/manifests/v1");
    const ok = await pull("registry.k8s.io/library/hello:v1");
    expect(ok.code, ok.stderr).toBe(0);
    expect(cache.requests("/v2/library/hello/manifests/v1")).toBeGreaterThan(before);
    // An image no mirror has: with the upstream as last resort containerd would try it next; here it must not.
    const missing = await pull("registry.k8s.io/nope/missing:v1");
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`127.0.0.1:${deadPort}`);
    expect(cache.requests("/v2/nope/missing/manifests/v1")).toBeGreaterThan(0);
    expect(missing.stderr).not.toContain("https://registry.k8s.io/v2");
  });

  it("with a single mirror and no upstream, that mirror serves the pull (containerd accepts the file)", async () => {
    const before = cache.requests("/v2/someorg/tool/manifests/v1");
    const res = await pull("gcr.io/someorg/tool:v1");
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toContain("invalid `host` tree");
    expect(cache.requests("/v2/someorg/tool/manifests/v1")).toBeGreaterThan(before);
  });

  it("control: with upstreamFallback (docker.io) the same missing image is tried on the upstream last", async () => {
    const missing = await pull("docker.io/nope/missing:v1");
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("registry-1.docker.io");
  });
});

describe("containerd with the CRI plugin and the rendered config fragment", () => {
  async function startWithFragment(fragment: string) {
    const dir = tmpDir("containerd-cri");
    dirs.push(dir);
    const fragmentFile = join(dir, "registry-mirrors.toml");
    writeFileSync(fragmentFile, fragment);
    const configFile = join(dir, "config.toml");
    writeFileSync(configFile, `imports = [${JSON.stringify(fragmentFile)}]\n${containerdBaseConfig(dir, true)}`);
    const daemon = await startContainerd({ dir, configFile });
    stops.push(() => daemon.stop());
    return daemon;
  }

  it("starts with config_path set and the CRI plugin loaded (version 2 fragment as an imported file)", async () => {
    const fragment = renderContainerdConfigFragment(2, certsDir);
    expect(fragment).not.toContain("mirrors");
    const daemon = await startWithFragment(fragment);
    const logs = daemon.logs();
    expect(logs).toContain(`ConfigPath:${certsDir}`);
    expect(logs).not.toContain("mirrors cannot be set");
    expect(logs).not.toMatch(/failed to load plugin io\.containerd\.grpc\.v1\.cri/);
    const plugins = await daemon.ctr(["plugins", "ls"]);
    expect(plugins.stdout).toMatch(/io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/);
    await daemon.stop();
  });

  it("control: the same containerd refuses the CRI plugin when inline mirrors are added next to config_path", async () => {
    const fragment = `${renderContainerdConfigFragment(2, certsDir)}\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\nendpoint = ["${cache.url}"]\n`;
    const daemon = await startWithFragment(fragment);
    const plugins = await daemon.ctr(["plugins", "ls"]);
    expect(plugins.stdout).toMatch(/io\.containerd\.grpc\.v1\s+cri\s+\S+\s+error/);
    expect(daemon.logs()).toContain("cannot be set when `config_path` is provided");
    await daemon.stop();
  });
});
