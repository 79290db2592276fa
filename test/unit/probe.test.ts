import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PolicyError } from "../../components/core/errors";
import { type MirrorPolicyInput, normalisePolicy } from "../../components/core/policy";
import {
  formatProbeTable,
  orderByProbe,
  probeMirror,
  probeMirrors,
  type ProbeResult,
  probeTargets,
  probeUrl,
  sortResults,
} from "../../components/core/regions/probe";

const live = (url: string, latencyMs: number, status = 200): ProbeResult => ({
  url,
  ok: true,
  latencyMs,
  status,
  reason: `HTTP ${status}`,
});
const dead = (url: string, reason = "connection refused"): ProbeResult => ({ url, ok: false, reason });

describe("orderByProbe", () => {
  const policy: MirrorPolicyInput = {
    registries: {
      "docker.io": {
        mirrors: [
          "https://a.example.com",
          { url: "https://b.example.com", insecure: true },
          "https://c.example.com",
          "https://d.example.com",
        ],
      },
      "quay.io": { mirrors: ["https://q1.example.com", "https://q2.example.com"], upstreamFallback: false },
    },
    allowMirrorPaths: false,
  };

  const measured = [
    live("https://a.example.com", 280),
    live("https://b.example.com/", 12),
    dead("https://c.example.com"),
    live("https://q2.example.com", 5),
    live("https://q1.example.com", 9),
  ];

  it("by default only drops failures: the policy order stays, whatever the latencies", () => {
    const out = orderByProbe(policy, measured);
    expect(out.policy.registries["docker.io"].mirrors).toEqual([
      "https://a.example.com",
      { url: "https://b.example.com", insecure: true },
      "https://d.example.com",
    ]);
    expect(out.policy.registries["quay.io"]).toEqual({
      mirrors: ["https://q1.example.com", "https://q2.example.com"],
      upstreamFallback: false,
    });
    expect(out.dropped).toEqual(["docker.io: https://c.example.com dropped (connection refused)"]);
  });

  it('with order "latency", moves a mirror ahead only when it is faster by more than the margin', () => {
    const out = orderByProbe(policy, measured, { order: "latency" });
    expect(out.policy.registries["docker.io"].mirrors).toEqual([
      { url: "https://b.example.com", insecure: true },
      "https://a.example.com",
      "https://d.example.com",
    ]);
    // 4 ms apart: noise, not a reason to reorder.
    expect(out.policy.registries["quay.io"]).toEqual({
      mirrors: ["https://q1.example.com", "https://q2.example.com"],
      upstreamFallback: false,
    });
    expect(out.policy.allowMirrorPaths).toBe(false);
    expect(out.dropped).toEqual(["docker.io: https://c.example.com dropped (connection refused)"]);
    expect(out.warnings).toEqual([]);
    expect(normalisePolicy(out.policy).warnings).toEqual([]);
  });

  it("never drops every mirror: keeps the catalog order and warns", () => {
    const out = orderByProbe(policy, [dead("https://q1.example.com"), dead("https://q2.example.com", "HTTP 503")]);
    expect(out.policy.registries["quay.io"].mirrors).toEqual(["https://q1.example.com", "https://q2.example.com"]);
    expect(out.warnings).toEqual([
      "quay.io: every mirror failed the probe (https://q1.example.com: connection refused; https://q2.example.com: HTTP 503); keeping the policy order",
    ]);
    expect(out.dropped).toEqual([]);
  });

  it('with order "latency", the margin decides, and nothing moves past a mirror without a result', () => {
    const quay = (latencyMarginMs: number) =>
      orderByProbe(policy, [live("https://q1.example.com", 150), live("https://q2.example.com", 60)], {
        order: "latency",
        latencyMarginMs,
      }).policy.registries["quay.io"].mirrors;
    expect(quay(100)).toEqual(["https://q1.example.com", "https://q2.example.com"]);
    expect(quay(50)).toEqual(["https://q2.example.com", "https://q1.example.com"]);
    const hub = orderByProbe(
      policy,
      [live("https://a.example.com", 500), live("https://c.example.com", 300), live("https://d.example.com", 1)],
      { order: "latency" },
    ).policy.registries["docker.io"].mirrors;
    // d beats c by 299 ms and moves ahead of it; b was not probed, so neither c nor d passes it.
    expect(hub).toEqual([
      "https://a.example.com",
      { url: "https://b.example.com", insecure: true },
      "https://d.example.com",
      "https://c.example.com",
    ]);
  });

  it("refuses an unknown order or a bad margin", () => {
    expect(() => orderByProbe(policy, [], { order: "fastest" as never })).toThrow(/probe\.order: unknown order/);
    expect(() => orderByProbe(policy, [], { latencyMarginMs: -1 })).toThrow(/probe\.latencyMarginMs: must be/);
  });

  it("lists distinct probe targets, with override_path and insecure carried over", () => {
    expect(
      probeTargets({
        registries: {
          a: { mirrors: ["https://m.example.com", { url: "https://e.example.com/v2/hub", overridePath: true }] },
          b: { mirrors: ["https://M.example.com/", { url: "https://s.example.com", insecure: true }] },
        },
      }),
    ).toEqual([
      { url: "https://m.example.com" },
      { url: "https://e.example.com/v2/hub", overridePath: true },
      { url: "https://s.example.com", insecure: true },
    ]);
  });
});

describe("probe URL, sorting and table", () => {
  it("probes the registry API base", () => {
    expect(probeUrl({ url: "https://m.example.com" })).toBe("https://m.example.com/v2/");
    expect(probeUrl({ url: "https://m.example.com/" })).toBe("https://m.example.com/v2/");
    expect(probeUrl({ url: "https://proxy.example.com/hub" })).toBe("https://proxy.example.com/hub/v2/");
    expect(probeUrl({ url: "https://1.dkr.ecr.us-west-2.amazonaws.com/v2/docker-hub", overridePath: true })).toBe(
      "https://1.dkr.ecr.us-west-2.amazonaws.com/v2/",
    );
  });

  it("sorts live first by latency, failures after in the given order", () => {
    expect(sortResults([dead("d1"), live("slow", 50), dead("d2"), live("fast", 3)]).map((r) => r.url)).toEqual([
      "fast",
      "slow",
      "d1",
      "d2",
    ]);
  });

  it("formats a table, best first", () => {
    expect(
      formatProbeTable([
        dead("http://127.0.0.1:9", "connection refused"),
        live("https://slow.example.com", 250, 401),
        live("https://fast.example.com", 7),
      ]),
    ).toBe(
      [
        "  1.     7 ms  https://fast.example.com  HTTP 200",
        "  2.   250 ms  https://slow.example.com  HTTP 401",
        "   -   failed  http://127.0.0.1:9        connection refused",
        "",
      ].join("\n"),
    );
    expect(formatProbeTable([])).toBe("no mirrors to probe\n");
  });

  it("refuses out-of-range limits", async () => {
    await expect(probeMirrors([], { timeoutMs: 0 })).rejects.toThrow(PolicyError);
    await expect(probeMirrors([], { concurrency: 1.5 })).rejects.toThrow(
      /probe\.concurrency: must be a whole number from 1 to 64/,
    );
  });
});

describe("probe against loopback servers", () => {
  const servers: Server[] = [];
  const urls: Record<string, string> = {};
  let inFlight = 0;
  let maxInFlight = 0;

  async function serve(name: string, handler: Parameters<typeof createServer>[1]): Promise<void> {
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    await serve("ok", (req, res) => res.writeHead(req.url === "/v2/" ? 200 : 404).end("{}"));
    await serve("auth", (_req, res) => res.writeHead(401, { "WWW-Authenticate": "Bearer realm=x" }).end());
    await serve("broken", (_req, res) => res.writeHead(503).end());
    await serve("prefixed", (req, res) => res.writeHead(req.url === "/hub/v2/" ? 200 : 404).end());
    // Never answers: the probe must give up on its own.
    await serve("silent", () => undefined);
    await serve("counted", (_req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        res.writeHead(200).end();
      }, 30);
    });
    // A port that was free a moment ago: nothing listens there.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    urls.refused = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
  });

  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it("reads 200 and 401 as alive and anything else as a failure with its reason", async () => {
    const results = await probeMirrors(
      [urls.refused, urls.broken, urls.ok, urls.auth, { url: `${urls.prefixed}/hub` }],
      { timeoutMs: 2000 },
    );
    const byUrl = Object.fromEntries(results.map((r) => [r.url, r]));
    expect(byUrl[urls.ok]).toMatchObject({ ok: true, status: 200, reason: "HTTP 200" });
    expect(byUrl[urls.auth]).toMatchObject({ ok: true, status: 401 });
    expect(byUrl[`${urls.prefixed}/hub`]).toMatchObject({ ok: true, status: 200 });
    expect(byUrl[urls.broken]).toMatchObject({
      ok: false,
      status: 503,
      reason: "HTTP 503 from /v2/ (not a registry API answer)",
    });
    expect(byUrl[urls.broken].latencyMs).toBeUndefined();
    expect(byUrl[urls.refused]).toEqual({ url: urls.refused, ok: false, reason: "connection refused" });
    expect(results.slice(0, 3).every((r) => r.ok)).toBe(true);
    expect(results.slice(3).map((r) => r.url)).toEqual([urls.refused, urls.broken]);
  });

  it("gives up on a mirror that never answers", async () => {
    expect(await probeMirror({ url: urls.silent }, 150)).toEqual({
      url: urls.silent,
      ok: false,
      reason: "no answer within 150 ms",
    });
  });

  it("bounds concurrency", async () => {
    maxInFlight = 0;
    const targets = Array.from({ length: 6 }, (_, i) => `${urls.counted}/n${i}`);
    const results = await probeMirrors(targets, { concurrency: 2 });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(maxInFlight).toBe(2);
  });
});

describe("probe determinism: jittery loopback mirrors, probed again and again", () => {
  const servers: Server[] = [];
  let seed = 42;
  // A seeded generator: the jitter differs on every request, the same on every run of the test.
  const jitter = (spread: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return Math.round((seed / 2 ** 31) * spread);
  };
  async function serve(delay: () => number): Promise<string> {
    const server = createServer((_req, res) => {
      setTimeout(() => res.writeHead(200).end("{}"), delay());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  let fast = "";
  let slow = "";
  let near1 = "";
  let near2 = "";
  let refused = "";

  beforeAll(async () => {
    fast = await serve(() => jitter(20));
    slow = await serve(() => 300 + jitter(100) - 50);
    // Two mirrors whose latencies overlap: which one measures faster changes from run to run.
    near1 = await serve(() => 35 + jitter(40));
    near2 = await serve(() => 35 + jitter(40));
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    refused = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
  });

  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  async function orders(options: Parameters<typeof orderByProbe>[2], runs = 6): Promise<Set<string>> {
    const policy: MirrorPolicyInput = {
      registries: {
        "docker.io": { mirrors: [slow, refused, fast] },
        "ghcr.io": { mirrors: [near1, near2] },
      },
    };
    const seen = new Set<string>();
    for (let i = 0; i < runs; i++) {
      const results = await probeMirrors(probeTargets(policy), { timeoutMs: 5000 });
      seen.add(JSON.stringify(orderByProbe(policy, results, options).policy));
    }
    return seen;
  }

  it("by default gives one order, the policy's, with the dead mirror dropped", async () => {
    const seen = await orders(undefined);
    expect([...seen]).toEqual([
      JSON.stringify({
        registries: { "docker.io": { mirrors: [slow, fast] }, "ghcr.io": { mirrors: [near1, near2] } },
      }),
    ]);
  });

  it('with order "latency" gives one order: the clearly faster mirror first, the close ones as listed', async () => {
    const seen = await orders({ order: "latency" });
    expect([...seen]).toEqual([
      JSON.stringify({
        registries: { "docker.io": { mirrors: [fast, slow] }, "ghcr.io": { mirrors: [near1, near2] } },
      }),
    ]);
  });

  it("without a margin the close mirrors do swap: the margin is what keeps the order", async () => {
    const seen = await orders({ order: "latency", latencyMarginMs: 0 }, 12);
    expect(seen.size).toBeGreaterThan(1);
  });
});
