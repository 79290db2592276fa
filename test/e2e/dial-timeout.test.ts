/**
 * The default `dial_timeout` of rendered hosts.toml mirrors on real containerd: 1.6 (Debian) has no such key and
 * must still accept the file (pull through the mirror, no "failed to decode hosts.toml"); 2.x must use it: with a
 * first mirror that drops SYNs (a full accept queue), a pull moves on after the dial timeout instead of
 * containerd's own 30 s per request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type BlackHole, startSynDrop } from "../../bench/black-holes";
import { normalisePolicy } from "../../components/core/policy";
import { renderContainerdConfigFragment, renderContainerdHosts } from "../../components/core/render/containerd";
import {
  buildLabTools,
  pushTestImage,
  type Registry,
  startContainerd,
  startContainerd2,
  startRegistry,
  tmpDir,
} from "./lab";

const IMAGE = "docker.io/library/hello:v1";
const MANIFEST = "/v2/library/hello/manifests/v1";
const VERSION2 = "2.4.2";
const stops: Array<() => Promise<void>> = [];
let dir: string;
let registry: Registry;
let synDrop: BlackHole;

beforeAll(async () => {
  await buildLabTools();
  dir = tmpDir("dial-timeout");
  registry = await startRegistry({ dir: join(dir, "registry") });
  stops.push(() => registry.stop());
  await pushTestImage(registry.hostPort, "library/hello", "v1");
  synDrop = await startSynDrop();
  stops.push(() => synDrop.close());
}, 3_600_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Renders docker.io -> `mirrors` (upstream fallback on) into a new certs.d folder; returns it and the file. */
function render(name: string, mirrors: string[], dialTimeout?: string): { certsDir: string; content: string } {
  const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors } } });
  const certsDir = join(dir, name, "certs.d");
  const [file] = renderContainerdHosts(policy, { certsDir, ...(dialTimeout ? { dialTimeout } : {}) });
  mkdirSync(dirname(file.path), { recursive: true });
  writeFileSync(file.path, file.content);
  return { certsDir, content: file.content };
}

describe("dial_timeout in rendered hosts.toml", () => {
  it("containerd 1.6 accepts the default (pulls through the mirror, no decode error)", async () => {
    const { certsDir, content } = render("c16", [registry.url]);
    expect(content).toContain('dial_timeout = "5s"');
    const containerd = await startContainerd({ dir: join(dir, "c16", "containerd") });
    stops.push(() => containerd.stop());
    const before = registry.requests(MANIFEST);
    const res = await containerd.ctr([
      "--debug",
      "-n",
      "t",
      "images",
      "pull",
      "--snapshotter",
      "native",
      "--hosts-dir",
      certsDir,
      IMAGE,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(registry.requests(MANIFEST)).toBeGreaterThan(before);
    expect(`${res.stderr}\n${containerd.logs()}`).not.toMatch(/failed to decode|invalid host/);
  });

  it(`containerd ${VERSION2} gives up on a SYN-dropping mirror after the dial timeout (ctr and CRI)`, async () => {
    const { certsDir } = render("c2", [synDrop.url, registry.url], "1s");
    const fragment = join(dir, "c2", "registry-mirrors.toml");
    writeFileSync(fragment, renderContainerdConfigFragment(3, certsDir));
    const daemon = await startContainerd2({
      dir: join(dir, "c2", "containerd"),
      version: VERSION2,
      cri: true,
      imports: [fragment],
    });
    stops.push(() => daemon.stop());
    for (const pull of [
      () => daemon.ctr(["-n", "t", "images", "pull", "--hosts-dir", certsDir, IMAGE], { timeoutMs: 120_000 }),
      () => daemon.crictl(["pull", IMAGE]),
    ]) {
      const before = registry.requests(MANIFEST);
      const t0 = performance.now();
      const res = await pull();
      const seconds = (performance.now() - t0) / 1000;
      expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
      expect(registry.requests(MANIFEST)).toBeGreaterThan(before);
      // containerd's own dial timeout is 30 s per request; the first request alone would take that long.
      expect(seconds).toBeLessThan(25);
    }
    expect(daemon.logs()).not.toMatch(/failed to decode/);
  });
});
