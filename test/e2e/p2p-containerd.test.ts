/**
 * P2P on real containerd 1.6. Spegel: a hosts folder shared by Spegel and the apply script: Spegel's part written as
 * Spegel v0.7.4 writes it (test/support/spegel-node.ts), ours by the real apply script (containerd spegel), in both
 * orders. Spegel's node-local registry is stood in for by a counting HTTP endpoint that answers 404 (no peer has the
 * image, as Spegel answers then) or forwards to the upstream (a peer has it). docker.io is unreachable here, so a pull
 * that succeeds was served by the stand-in or our mirror. Dragonfly: the policy withDragonfly renders, written by the
 * apply script, with the same stand-in as dfdaemon's proxy (which must get the X-Dragonfly-Registry header).
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NodeApplyPlan } from "../../components/core/node-script";
import { withDragonfly } from "../../components/core/p2p";
import { normalisePolicy } from "../../components/core/policy";
import { renderContainerdHosts } from "../../components/core/render/containerd";
import { FakeNode, cleanupNodes } from "../support/apply-harness";
import { spegelConfigure } from "../support/spegel-node";
import { type Containerd, pushTestImage, type Registry, startContainerd, startRegistry, tmpDir } from "./lab";

const DIR = "/etc/containerd/certs.d";
const HUB = `${DIR}/docker.io/hosts.toml`;
const stops: Array<() => Promise<void>> = [];
const dirs: string[] = [];
let upstream: Registry;
let cache: Registry;
let containerd: Containerd;

/** The stand-in for Spegel's registry on the node: counts requests; 404 ("miss") or forwards to the upstream ("hit"). */
const standIn = { mode: "miss" as "miss" | "hit", paths: [] as string[], registries: [] as string[], url: "" };
let server: Server;

beforeAll(async () => {
  const dir = tmpDir("spegel-coexist");
  dirs.push(dir);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  for (const name of ["first", "second", "third", "fourth", "fifth", "sixth"])
    await pushTestImage(upstream.hostPort, `library/${name}`, "v1");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  stops.push(() => cache.stop());
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    standIn.paths.push(req.url ?? "");
    standIn.registries.push(String(req.headers["x-dragonfly-registry"] ?? ""));
    if (standIn.mode === "miss") {
      res.writeHead(404, { "content-type": "application/json" }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
      return;
    }
    const fwd = request(
      { host: "127.0.0.1", port: upstream.port, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(fwd);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  standIn.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  stops.push(() => new Promise((r) => server.close(() => r())));
  containerd = await startContainerd({ dir: join(dir, "containerd") });
  stops.push(() => containerd.stop());
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  cleanupNodes();
});

function planFor(): NodeApplyPlan {
  const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors: [cache.url] } } });
  return {
    restartPolicy: "never",
    containerd: { hostsDir: DIR, files: renderContainerdHosts(policy, { certsDir: DIR }), spegel: true },
  };
}

function node(): FakeNode {
  const n = new FakeNode();
  n.write(
    "/etc/containerd/config.toml",
    `version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${DIR}"\n`,
  );
  return n;
}

function applyOurs(n: FakeNode): void {
  const res = n.run(planFor(), "apply");
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
}

const spegelStarts = (n: FakeNode) => spegelConfigure(n.path(DIR), ["https://docker.io"], [standIn.url]);

async function pull(n: FakeNode, image: string) {
  return containerd.ctr([
    "--debug",
    "-n",
    "t",
    "images",
    "pull",
    "--snapshotter",
    "native",
    "--hosts-dir",
    n.path(DIR),
    `docker.io/library/${image}:v1`,
  ]);
}

describe("Spegel's hosts first, then our mirror, then the upstream, on real containerd", () => {
  const orders: Array<[string, (n: FakeNode) => void, string, string]> = [
    [
      "Spegel first, then the apply script",
      (n) => {
        spegelStarts(n);
        applyOurs(n);
      },
      "first",
      "second",
    ],
    [
      "the apply script first, then Spegel",
      (n) => {
        applyOurs(n);
        spegelStarts(n);
      },
      "third",
      "fourth",
    ],
  ];
  it.each(orders)("%s", async (_, setUp, missImage, hitImage) => {
    const n = node();
    setUp(n);
    const hosts = parse(n.read(HUB)) as { server: string; host: Record<string, unknown> };
    expect(hosts.server).toBe("https://registry-1.docker.io");
    expect(Object.keys(hosts.host)).toEqual([standIn.url, cache.url]);

    // No peer has the image: containerd asks Spegel's endpoint first, then our mirror serves it.
    standIn.mode = "miss";
    standIn.paths.length = 0;
    const manifest = `/v2/library/${missImage}/manifests/v1`;
    const miss = await pull(n, missImage);
    expect(miss.code, miss.stderr).toBe(0);
    expect(standIn.paths.some((p) => p.startsWith(manifest))).toBe(true);
    expect(cache.requests(manifest)).toBeGreaterThan(0);
    const log = miss.stderr;
    expect(log.indexOf(standIn.url.slice(7))).toBeGreaterThanOrEqual(0);
    expect(log.indexOf(standIn.url.slice(7))).toBeLessThan(log.indexOf(cache.hostPort));

    // A peer has it: Spegel's endpoint serves the pull and our mirror is not asked at all.
    standIn.mode = "hit";
    standIn.paths.length = 0;
    const hit = await pull(n, hitImage);
    expect(hit.code, hit.stderr).toBe(0);
    expect(standIn.paths.some((p) => p.startsWith(`/v2/library/${hitImage}/blobs/`))).toBe(true);
    expect(cache.requests(`/v2/library/${hitImage}/`)).toBe(0);
  });
});

describe("Dragonfly's proxy first (withDragonfly), then our mirror, then the upstream, on real containerd", () => {
  it("sends the registry header to the proxy, falls through to our mirror on a miss, and is served by it on a hit", async () => {
    const { policy } = normalisePolicy(
      withDragonfly({ registries: { "docker.io": { mirrors: [cache.url] } } }, { proxy: standIn.url }),
    );
    const n = node();
    const res = n.run(
      {
        restartPolicy: "never",
        containerd: { hostsDir: DIR, files: renderContainerdHosts(policy, { certsDir: DIR }) },
      },
      "apply",
    );
    expect(res.code, res.stderr).toBe(0);
    expect(Object.keys((parse(n.read(HUB)) as { host: Record<string, unknown> }).host)).toEqual([
      standIn.url,
      cache.url,
    ]);

    standIn.mode = "miss";
    standIn.paths.length = 0;
    standIn.registries.length = 0;
    const miss = await pull(n, "fifth");
    expect(miss.code, miss.stderr).toBe(0);
    expect(standIn.paths.some((p) => p.startsWith("/v2/library/fifth/manifests/v1"))).toBe(true);
    expect(new Set(standIn.registries)).toEqual(new Set(["https://registry-1.docker.io"]));
    expect(cache.requests("/v2/library/fifth/manifests/v1")).toBeGreaterThan(0);

    standIn.mode = "hit";
    standIn.paths.length = 0;
    const hit = await pull(n, "sixth");
    expect(hit.code, hit.stderr).toBe(0);
    expect(standIn.paths.some((p) => p.startsWith("/v2/library/sixth/blobs/"))).toBe(true);
    expect(cache.requests("/v2/library/sixth/")).toBe(0);
  });
});
