/**
 * The mirror health probe against real endpoints on loopback: a docker-registry (live, fast), a node HTTP
 * server that answers /v2/ only after a delay (live, slow), one that answers after the timeout, and a port
 * nobody listens on (dead). The probe ranks live-fast, live-slow and reports the rest; the selection's policy
 * loses the dead mirrors and keeps its order, unless latency order is asked for.
 */
import { rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalisePolicy } from "../../components/core/policy";
import { formatProbeTable, orderByProbe, probeMirrors, probeTargets } from "../../components/core/regions/probe";
import { selectMirrors } from "../../components/core/regions/select";
import { freePort, type Registry, startRegistry, tmpDir } from "./lab";

const SLOW_MS = 400;
const TIMEOUT_MS = 1500;
const stops: Array<() => Promise<void>> = [];
let registry: Registry;
let slowUrl: string;
let stuckUrl: string;
let deadUrl: string;
let slowHits = 0;

/** A registry stand-in that answers `GET /v2/` with 200 after `delayMs`. */
async function delayedServer(delayMs: number, onRequest: () => void = () => undefined): Promise<string> {
  const server: Server = createServer((req, res) => {
    onRequest();
    const timer = setTimeout(
      () =>
        res.writeHead(req.url === "/v2/" ? 200 : 404, { "Docker-Distribution-API-Version": "registry/2.0" }).end("{}"),
      delayMs,
    );
    res.on("close", () => clearTimeout(timer));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  stops.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const dir = tmpDir("probe");
  stops.push(async () => rmSync(dir, { recursive: true, force: true }));
  registry = await startRegistry({ dir: join(dir, "registry") });
  stops.push(() => registry.stop());
  slowUrl = await delayedServer(SLOW_MS, () => slowHits++);
  stuckUrl = await delayedServer(TIMEOUT_MS * 4);
  deadUrl = `http://127.0.0.1:${await freePort()}`;
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

describe("probe against loopback registries", () => {
  it("orders live-fast, live-slow and reports the dead and the stuck ones with their reasons", async () => {
    const results = await probeMirrors([deadUrl, slowUrl, stuckUrl, registry.url], {
      timeoutMs: TIMEOUT_MS,
      concurrency: 4,
    });
    expect(results.map((r) => r.url)).toEqual([registry.url, slowUrl, deadUrl, stuckUrl]);
    expect(results[0]).toMatchObject({ ok: true, status: 200 });
    expect(results[1]).toMatchObject({ ok: true, status: 200 });
    // The slow server delays its answer by SLOW_MS: its measured latency cannot be below that.
    expect(results[1].latencyMs).toBeGreaterThanOrEqual(SLOW_MS - 5);
    expect(results[0].latencyMs).toBeLessThan(results[1].latencyMs!);
    expect(results[2]).toEqual({ url: deadUrl, ok: false, reason: "connection refused" });
    expect(results[3]).toEqual({ url: stuckUrl, ok: false, reason: `no answer within ${TIMEOUT_MS} ms` });

    const table = formatProbeTable(results).split("\n");
    expect(table[0]).toMatch(new RegExp(`^ {2}1\\. +\\d+ ms  ${registry.url} +HTTP 200$`));
    expect(table[1]).toMatch(new RegExp(`^ {2}2\\. +\\d+ ms  ${slowUrl} +HTTP 200$`));
    expect(table[2]).toMatch(new RegExp(`^ {3}- +failed  ${deadUrl} +connection refused$`));
  });

  it("drops the dead mirror from a region's selection, keeping its order unless latency order is asked for", async () => {
    const selection = selectMirrors({
      cloud: "aws",
      region: "us-west-2",
      userCatalog: {
        regions: { "us-west-2": { network: "vpc", registries: { "docker.io": [deadUrl, slowUrl, registry.url] } } },
      },
    });
    const before = slowHits;
    const results = await probeMirrors(probeTargets(selection.policy), { timeoutMs: TIMEOUT_MS });
    expect(slowHits).toBe(before + 1);
    const ordered = orderByProbe(selection.policy, results);
    expect(ordered.policy.registries["docker.io"].mirrors).toEqual([slowUrl, registry.url]);
    expect(ordered.dropped).toEqual([`docker.io: ${deadUrl} dropped (connection refused)`]);
    expect(normalisePolicy(ordered.policy).warnings).toEqual([]);
    const byLatency = orderByProbe(selection.policy, results, { order: "latency" });
    expect(byLatency.policy.registries["docker.io"].mirrors).toEqual([registry.url, slowUrl]);
  });

  it("keeps the policy order when every mirror fails, with a warning", async () => {
    const selection = selectMirrors({
      cloud: "alicloud",
      region: "cn-hangzhou",
      fallbacks: { "docker.io": [deadUrl, stuckUrl] },
    });
    const ordered = orderByProbe(
      selection.policy,
      await probeMirrors(probeTargets(selection.policy), { timeoutMs: 300 }),
    );
    expect(ordered.policy.registries["docker.io"].mirrors).toEqual([deadUrl, stuckUrl]);
    expect(ordered.warnings[0]).toContain("every mirror failed the probe");
  });
});
