/**
 * A fault-injecting HTTP reverse proxy on 127.0.0.1, standing in for a registry reached over a bad WAN link: every
 * request waits `latencyMs`, then fails with 503 at `failRate`, or is forwarded with its response body throttled
 * to `bytesPerSecond` (per response). Counts requests, failures and the body bytes it sent back.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Transform, type TransformCallback } from "node:stream";

export interface FaultProxyOptions {
  /** Where requests go, `http://127.0.0.1:PORT`. */
  target: string;
  /** Delay added before each request is answered or forwarded (ms). */
  latencyMs: number;
  /** Fraction of requests (0..1) answered 503 instead of forwarded. */
  failRate: number;
  /** Per-response bandwidth cap in bytes per second; 0 = no cap. */
  bytesPerSecond: number;
  /** Seed of the failure draws, so two runs fail the same sequence of requests. */
  seed?: number;
  /**
   * Answer like Docker Hub: every `/v2/` request without a bearer token gets 401 with a `WWW-Authenticate: Bearer`
   * challenge whose realm is this proxy's `/token`, which hands out anonymous tokens (the origin ignores them).
   */
  bearerAuth?: boolean;
}

export interface ProxyCounters {
  requests: number;
  failed: number;
  /** 401 challenges and tokens handed out (with `bearerAuth`). */
  auth: number;
  /** Response body bytes sent to clients. */
  bytes: number;
}

export interface FaultProxy {
  url: string;
  hostPort: string;
  counters: ProxyCounters;
  /** Zeroes the counters (between benchmark modes). */
  reset(): void;
  /** Changes latency, failure rate or bandwidth for the requests that follow. */
  configure(
    faults: Partial<Pick<FaultProxyOptions, "latencyMs" | "failRate" | "bytesPerSecond"> & { silent: boolean }>,
  ): void;
  close(): Promise<void>;
}

/** mulberry32: a tiny deterministic PRNG, enough for drawing failures. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Delays chunks so that the stream never runs faster than `bytesPerSecond`. */
class Throttle extends Transform {
  private next = 0;
  constructor(private readonly bytesPerSecond: number) {
    super();
  }
  _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const now = Date.now();
    // The chunk goes out at the end of its time slot; slots follow each other.
    this.next = Math.max(this.next, now) + (chunk.length * 1000) / this.bytesPerSecond;
    setTimeout(() => done(null, chunk), this.next - now);
  }
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  // silent: requests are read and never answered (a mirror that stalls; open connections included).
  const faults = {
    latencyMs: options.latencyMs,
    failRate: options.failRate,
    bytesPerSecond: options.bytesPerSecond,
    silent: false,
  };
  const random = prng(options.seed ?? 1);
  const counters: ProxyCounters = { requests: 0, failed: 0, auth: 0, bytes: 0 };
  let self = "";
  const sockets = new Set<Socket>();

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    counters.requests++;
    if (faults.silent) return;
    const fail = random() < faults.failRate;
    const { latencyMs, bytesPerSecond } = faults;
    setTimeout(() => {
      if (fail) {
        counters.failed++;
        const body = '{"errors":[{"code":"UNAVAILABLE","message":"injected failure"}]}\n';
        res.writeHead(503, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(req.method === "HEAD" ? undefined : body);
        return;
      }
      if (options.bearerAuth && answerAuth(req, res)) {
        counters.auth++;
        return;
      }
      const upstream = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          const counted = up.on("data", (chunk: Buffer) => (counters.bytes += chunk.length));
          (bytesPerSecond > 0 ? counted.pipe(new Throttle(bytesPerSecond)) : counted).pipe(res);
        },
      );
      upstream.on("error", () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.pipe(upstream);
    }, latencyMs);
  };

  /** Docker Hub's token dance, answered here; true when the request was an auth one. */
  const answerAuth = (req: IncomingMessage, res: ServerResponse): boolean => {
    const path = req.url ?? "/";
    if (path.startsWith("/token")) {
      const body = JSON.stringify({ token: "anonymous", access_token: "anonymous", expires_in: 300 });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
      return true;
    }
    if (path.startsWith("/v2/") && !/^Bearer /i.test(req.headers.authorization ?? "")) {
      const repo = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(path)?.[1];
      const scope = repo ? `,scope="repository:${repo}:pull"` : "";
      const body = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}\n';
      res.writeHead(401, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        "www-authenticate": `Bearer realm="${self}/token",service="bench-upstream"${scope}`,
        "docker-distribution-api-version": "registry/2.0",
      });
      res.end(req.method === "HEAD" ? undefined : body);
      return true;
    }
    return false;
  };

  const server: Server = createServer(handle);
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const port = (server.address() as AddressInfo).port;
  self = `http://127.0.0.1:${port}`;
  return {
    url: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    counters,
    configure(changes) {
      Object.assign(faults, changes);
    },
    reset() {
      counters.requests = 0;
      counters.failed = 0;
      counters.auth = 0;
      counters.bytes = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
