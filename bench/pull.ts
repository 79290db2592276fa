/**
 * `npm run bench:pull`: the seed's "100 nodes pull one image at once" test on real clients, on loopback.
 *
 *   origin registry  <-  fault proxy ("upstream": latency, failures, bandwidth cap)  <-  clients        (direct)
 *   origin registry  <-  fault proxy  <-  pull-through cache ("regional mirror")  <-  counting proxy  <-  clients
 *
 * Clients are containerd (`ctr images pull --hosts-dir`, one containerd per client so every pull fetches its own
 * layers) and skopeo (`skopeo copy --registries-conf ... dir:`), configured with the hosts.toml and registries.conf
 * this library renders. Mirrored, they pull `docker.io/library/bench:v1` with the policy: a dead endpoint (a free
 * port) first, then the mirror, then the fault proxy as the upstream's stand-in, written as the last endpoint
 * (`upstreamFallback: false`) so no request leaves the machine. Direct, they have no mirror configuration and pull
 * `127.0.0.1:PROXY/library/bench:v1` over plain HTTP. Modes, in order: direct, mirror with a cold cache, mirror
 * with a warm cache (after a bounded warm-up pull).
 *
 * A failed pull is retried (as a kubelet retries a failed image pull) after --backoff-s, up to --attempts within
 * --deadline-s; a ctr retry keeps the blobs its containerd already has, a skopeo retry starts over.
 *
 * Like Docker Hub, the upstream wants anonymous bearer tokens (401 challenge, then `/token`). Without a challenge
 * (--no-auth), docker-registry 2.8's pull-through cache pings its upstream under one global lock before every cache
 * miss, which serialises cold pulls behind the upstream's latency — a lab artefact the real Docker Hub never shows.
 *
 * Flags: --clients 50 --ctr-share 0.5 --layers 4 --layer-mib 2 --latency-ms 100 --fail-rate 0.32
 *        --upstream-kibps 512 (per response; 0 = no cap) --attempts 30 --backoff-s 1 --deadline-s 180 --seed 1
 *        --modes direct,cold,warm --no-auth --json FILE (every pull's attempts and errors)
 *        --failover: instead, the arms with a failing first endpoint without and with the node watchdog (failover.ts)
 * Prints figures; asserts nothing about time.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type MirrorPolicyInput, normalisePolicy } from "../components/core/policy";
import { renderContainerdHosts } from "../components/core/render/containerd";
import { renderRegistriesConf } from "../components/core/render/registries-conf";
import {
  type Containerd,
  freePort,
  type Registry,
  type RunResult,
  sleep,
  startContainerd,
  startRegistry,
  tmpDir,
} from "../test/e2e/lab";
import { type FaultProxy, type ProxyCounters, startFaultProxy } from "./fault-proxy";
import { imageBytes, pushLayeredImage } from "./image";
import { boolFlag, bytes, fixed, flag, mean, numberFlag, percentile, table } from "./lib";

const MIB = 1024 * 1024;
const opts = {
  clients: numberFlag("clients", 50),
  ctrShare: numberFlag("ctr-share", 0.5),
  layers: numberFlag("layers", 4),
  layerMib: numberFlag("layer-mib", 2),
  latencyMs: numberFlag("latency-ms", 100),
  failRate: numberFlag("fail-rate", 0.32),
  upstreamKibps: numberFlag("upstream-kibps", 512),
  attempts: numberFlag("attempts", 30),
  backoffS: numberFlag("backoff-s", 1),
  deadlineS: numberFlag("deadline-s", 180),
  seed: numberFlag("seed", 1),
  /** Upstream without Docker Hub's bearer-token challenge (see the fault proxy's `bearerAuth`). */
  noAuth: boolFlag("no-auth"),
  modes: flag("modes", "direct,cold,warm").split(","),
  /** Also write every pull (attempt times, errors) as JSON to this file. */
  json: flag("json", ""),
};
const REPO = "library/bench";
const TAG = "v1";
const REF = `docker.io/${REPO}:${TAG}`;

type Mode = "direct" | "cold" | "warm";
const MODE_LABEL: Record<Mode, string> = {
  direct: "direct (upstream only)",
  cold: "mirror, cold cache",
  warm: "mirror, warm cache",
};

/** One client's pull, retried like a kubelet retries a failed image pull. */
interface Pull {
  kind: "ctr" | "skopeo";
  /** Succeeded within the allowed attempts and deadline. */
  ok: boolean;
  /** Succeeded on the first attempt. */
  firstOk: boolean;
  attempts: number;
  /** From the first attempt's start to the end of the last one (time until the node has the image). */
  ms: number;
  /** Errors of the failed attempts. */
  errors: string[];
  /** Duration of each attempt (ms). */
  attemptMs: number[];
}

interface ModeResult {
  mode: Mode;
  pulls: Pull[];
  wallMs: number;
  upstream: ProxyCounters;
  mirror: ProxyCounters;
}

/** Everything started, stopped in reverse order on exit, error or signal. */
const cleanups: Array<() => Promise<void> | void> = [];
/** Client processes still running: killed by PID first when the benchmark stops early. */
const live = new Set<ChildProcess>();
/** The containerds of the mode that is running. */
const daemons = new Set<Containerd>();
let stopping = false;
async function cleanup(): Promise<void> {
  stopping = true;
  for (const child of live) child.kill("SIGKILL");
  await Promise.all([...daemons].map((d) => d.stop()));
  while (cleanups.length > 0) {
    const step = cleanups.pop() as () => Promise<void> | void;
    try {
      await step();
    } catch (err) {
      console.error(`cleanup: ${(err as Error).message}`);
    }
  }
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping everything this benchmark started`);
    void cleanup().then(() => process.exit(130));
  });
}

/** Runs a client to completion (killed after `timeoutMs`, code 124); never throws for a non-zero exit. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code: code ?? (signal ? 124 : 1), stdout, stderr });
    });
  });
}

/** The node files the mirrored modes ran with, printed with the results. */
const renderedFiles = new Map<string, string>();

function writeNodeFiles(policyInput: MirrorPolicyInput, dir: string): { certsDir: string; registriesConf: string } {
  const { policy } = normalisePolicy(policyInput);
  const certsDir = join(dir, "certs.d");
  for (const file of renderContainerdHosts(policy, { certsDir })) {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.content, { mode: file.mode });
    renderedFiles.set(file.path.slice(dir.length + 1), file.content);
  }
  const registriesConf = join(dir, "registries.conf");
  const conf = renderRegistriesConf(policy).content;
  writeFileSync(registriesConf, conf);
  renderedFiles.set("registries.conf (CRI-O/podman drop-in)", conf);
  return { certsDir, registriesConf };
}

/** The client's own error message: ctr's `ctr: ...` line, skopeo's fatal `msg`, else the last stderr line. */
function errorOf(res: RunResult): string {
  const lines = res.stderr.trim().split("\n").filter(Boolean);
  const ctr = lines.find((l) => l.startsWith("ctr: "));
  const fatal = lines.map((l) => /level=fatal msg="(.*)"$/.exec(l)?.[1]).find((m) => m !== undefined);
  const text = ctr ?? fatal?.replace(/\\"/g, '"') ?? lines[lines.length - 1] ?? `exit ${res.code}`;
  // Digests and ports differ from pull to pull; blank them so equal errors are counted together.
  return text.replace(/sha256:[0-9a-f]{64}/g, "sha256:…").slice(0, 400);
}

/** How the clients of a mode are invoked. */
interface ClientArgs {
  ctr: string[];
  skopeo(out: string): string[];
}

/** Clients with no mirror configuration, pulling from the upstream by its own name (what a node does without us). */
function directArgs(upstream: FaultProxy): ClientArgs {
  const ref = `${upstream.hostPort}/${REPO}:${TAG}`;
  return {
    ctr: ["images", "pull", "--plain-http", "--snapshotter", "native", ref],
    skopeo: (out) => ["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `dir:${out}`],
  };
}

/** Clients reading the hosts.toml and registries.conf rendered from `policy`, pulling `docker.io/...`. */
function mirroredArgs(policy: MirrorPolicyInput, dir: string): ClientArgs {
  const files = writeNodeFiles(policy, dir);
  return {
    ctr: ["images", "pull", "--snapshotter", "native", "--hosts-dir", files.certsDir, REF],
    skopeo: (out) => ["--registries-conf", files.registriesConf, "copy", "--quiet", `docker://${REF}`, `dir:${out}`],
  };
}

/** Runs every client at once; each pull has its own store, removed afterwards. */
async function runMode(
  mode: Mode,
  args: (modeDir: string) => ClientArgs,
  dir: string,
  upstream: FaultProxy,
  mirror: FaultProxy | undefined,
): Promise<ModeResult> {
  const modeDir = join(dir, mode);
  mkdirSync(modeDir, { recursive: true });
  const client = args(modeDir);
  const nCtr = Math.round(opts.clients * opts.ctrShare);
  const nSkopeo = opts.clients - nCtr;

  // One containerd per ctr client (as on real nodes): no pull finds another's layers in its content store.
  const mine: Containerd[] = [];
  try {
    for (let i = 0; i < nCtr && !stopping; i += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, nCtr - i) }, async (_, j) => {
          const d = await startContainerd({ dir: join(modeDir, `containerd-${i + j}`) });
          daemons.add(d);
          mine.push(d);
        }),
      );
    }
    upstream.reset();
    mirror?.reset();
    // A failed pull is retried after a pause, keeping what the client already has (a containerd keeps the blobs
    // it fetched, as a node does; skopeo starts over), up to --attempts or --deadline-s.
    const pull = async (kind: Pull["kind"], attempt: (timeoutMs: number) => Promise<RunResult>): Promise<Pull> => {
      const t0 = performance.now();
      const deadline = t0 + opts.deadlineS * 1000;
      const errors: string[] = [];
      const attemptMs: number[] = [];
      for (let n = 1; n <= opts.attempts && !stopping; n++) {
        const a0 = performance.now();
        const res = await attempt(Math.max(1000, deadline - a0));
        attemptMs.push(performance.now() - a0);
        if (res.code === 0)
          return { kind, ok: true, firstOk: n === 1, attempts: n, ms: performance.now() - t0, errors, attemptMs };
        errors.push(res.code === 124 ? `killed at the ${opts.deadlineS} s deadline` : errorOf(res));
        if (performance.now() + opts.backoffS * 1000 >= deadline)
          return { kind, ok: false, firstOk: false, attempts: n, ms: performance.now() - t0, errors, attemptMs };
        await sleep(opts.backoffS * 1000);
      }
      return {
        kind,
        ok: false,
        firstOk: false,
        attempts: attemptMs.length,
        ms: performance.now() - t0,
        errors,
        attemptMs,
      };
    };
    const t0 = performance.now();
    const pulls = await Promise.all([
      ...mine.map((d) =>
        pull("ctr", (timeoutMs) => run("ctr", ["--address", d.address, "-n", "bench", ...client.ctr], timeoutMs)),
      ),
      ...Array.from({ length: nSkopeo }, (_, i) => {
        const out = join(modeDir, `skopeo-${i}`);
        return pull("skopeo", (timeoutMs) => run("skopeo", client.skopeo(out), timeoutMs));
      }),
    ]);
    const wallMs = performance.now() - t0;
    return {
      mode,
      pulls,
      wallMs,
      upstream: { ...upstream.counters },
      mirror: { ...(mirror?.counters ?? { requests: 0, failed: 0, auth: 0, bytes: 0 }) },
    };
  } finally {
    await Promise.all(
      mine.map(async (d) => {
        await d.stop();
        daemons.delete(d);
      }),
    );
    rmSync(modeDir, { recursive: true, force: true });
  }
}

/**
 * Pulls through the mirror until a pull succeeds without fetching layers from the upstream (bounded), so the warm
 * mode starts with every blob in the cache: a blob the cache streamed while its own copy failed is not stored.
 */
async function warmUp(mirror: FaultProxy, upstream: FaultProxy, dir: string, size: number): Promise<number> {
  for (let attempt = 1; attempt <= 20 && !stopping; attempt++) {
    const out = join(dir, `warm-up-${attempt}`);
    const before = upstream.counters.bytes;
    const res = await run(
      "skopeo",
      ["copy", "--quiet", "--src-tls-verify=false", `docker://${mirror.hostPort}/${REPO}:${TAG}`, `dir:${out}`],
      opts.deadlineS * 1000,
    );
    rmSync(out, { recursive: true, force: true });
    if (res.code === 0 && upstream.counters.bytes - before < size / 100) return attempt;
    await sleep(1000);
  }
  throw new Error("the mirror could not be warmed in 20 pulls");
}

function stats(result: ModeResult, kind?: Pull["kind"]) {
  const pulls = result.pulls.filter((p) => kind === undefined || p.kind === kind);
  const ok = pulls.filter((p) => p.ok).map((p) => p.ms / 1000);
  return {
    n: pulls.length,
    ok: ok.length,
    firstOk: pulls.filter((p) => p.firstOk).length,
    attempts: mean(pulls.map((p) => p.attempts)),
    mean: mean(ok),
    p50: percentile(ok, 50),
    p95: percentile(ok, 95),
    max: ok.length ? Math.max(...ok) : NaN,
  };
}

async function main(): Promise<void> {
  const dir = tmpDir("bench-pull");
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();

  const origin: Registry = await startRegistry({ dir: join(dir, "origin") });
  cleanups.push(() => origin.stop());
  process.stderr.write(`building a ${opts.layers} x ${opts.layerMib} MiB image ...\n`);
  await pushLayeredImage(origin.hostPort, REPO, TAG, {
    layers: opts.layers,
    layerBytes: Math.round(opts.layerMib * MIB),
  });
  const size = await imageBytes(origin.url, REPO, TAG);

  const faults = { latencyMs: opts.latencyMs, failRate: opts.failRate, bytesPerSecond: opts.upstreamKibps * 1024 };
  const upstream = await startFaultProxy({ target: origin.url, ...faults, seed: opts.seed, bearerAuth: !opts.noAuth });
  cleanups.push(() => upstream.close());
  const dead = `http://127.0.0.1:${await freePort()}`;

  const results: ModeResult[] = [];
  let mirror: FaultProxy | undefined;
  let warmUpAttempts = 0;
  let cacheUrl = "";
  for (const mode of opts.modes as Mode[]) {
    if (stopping) return;
    if (!(mode in MODE_LABEL)) throw new Error(`--modes: unknown mode "${mode}" (direct, cold, warm)`);
    if (mode !== "direct" && !mirror) {
      // The cache checks its upstream when it starts: no injected faults until it runs.
      upstream.configure({ failRate: 0, latencyMs: 0 });
      const cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
      cleanups.push(() => cache.stop());
      cacheUrl = cache.url;
      upstream.configure(faults);
      mirror = await startFaultProxy({ target: cache.url, latencyMs: 0, failRate: 0, bytesPerSecond: 0 });
      cleanups.push(() => mirror?.close());
    }
    if (mode === "warm" && !results.some((r) => r.mode === "cold"))
      throw new Error("--modes: warm needs cold before it");
    if (mode === "warm") warmUpAttempts = await warmUp(mirror as FaultProxy, upstream, dir, size);
    // The mirrored policy: the dead endpoint first, then the regional mirror, then the upstream's stand-in.
    const mirrorUrl = mirror?.url;
    const args =
      mirrorUrl === undefined
        ? () => directArgs(upstream)
        : (modeDir: string) =>
            mirroredArgs(
              { registries: { "docker.io": { mirrors: [dead, mirrorUrl, upstream.url], upstreamFallback: false } } },
              modeDir,
            );
    process.stderr.write(`${MODE_LABEL[mode]}: ${opts.clients} clients ...\n`);
    results.push(await runMode(mode, args, dir, upstream, mode === "direct" ? undefined : mirror));
  }

  const direct = results.find((r) => r.mode === "direct");
  const directMean = direct ? stats(direct).mean : NaN;
  const s = (x: number) => fixed(x, 1);
  const pct = (a: number, n: number) => `${fixed((100 * a) / n, 0)}%`;
  const rows = results.map((r) => {
    const st = stats(r);
    return [
      MODE_LABEL[r.mode],
      `${st.ok}/${st.n} (${pct(st.ok, st.n)})`,
      pct(st.firstOk, st.n),
      fixed(st.attempts, 1),
      s(st.mean),
      s(st.p50),
      s(st.p95),
      s(st.max),
      s(r.wallMs / 1000),
      bytes(r.upstream.bytes),
      `${r.upstream.requests}/${r.upstream.auth}/${r.upstream.failed}`,
      r.mode === "direct" ? "-" : bytes(r.mirror.bytes),
      r.mode === "direct" ? "-" : fixed(directMean / st.mean),
    ];
  });
  const byKind = results.flatMap((r) =>
    (["ctr", "skopeo"] as const).map((kind) => {
      const st = stats(r, kind);
      return [
        MODE_LABEL[r.mode],
        kind,
        `${st.ok}/${st.n}`,
        pct(st.firstOk, st.n),
        fixed(st.attempts, 1),
        s(st.mean),
        s(st.p50),
        s(st.p95),
        s(st.max),
      ];
    }),
  );
  const nCtr = Math.round(opts.clients * opts.ctrShare);
  console.log(
    `\nPull lab: ${opts.clients} clients at once (${nCtr} ctr, ${opts.clients - nCtr} skopeo); image ${opts.layers} layers, ${bytes(size)} as pulled.` +
      ` Upstream: +${opts.latencyMs} ms per request, ${fixed(opts.failRate * 100, 1)}% of requests answered 503, ${opts.upstreamKibps > 0 ? `${opts.upstreamKibps} KiB/s per response` : "no bandwidth cap"},` +
      ` ${opts.noAuth ? "no auth challenge" : "anonymous bearer tokens like Docker Hub (auth = 401 challenges + token requests)"}.` +
      ` Mirrored policy: dead endpoint, mirror (pull-through cache), upstream. A failed pull is retried after ${opts.backoffS} s, up to ${opts.attempts} attempts within ${opts.deadlineS} s.` +
      `${warmUpAttempts ? ` Warm-up pulls before the warm mode: ${warmUpAttempts}.` : ""}\n`,
  );
  console.log(
    "Times in seconds until the client has the image (retries included), over clients that got it; ratio = direct mean / mode mean.\n",
  );
  console.log(
    table(
      [
        "Mode",
        "got the image",
        "1st attempt ok",
        "attempts",
        "mean",
        "p50",
        "p95",
        "max",
        "wall",
        "upstream bytes",
        "upstream req/auth/503",
        "mirror bytes",
        "direct/mode",
      ],
      rows,
      ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
    ),
  );
  console.log(
    `\n${table(["Mode", "client", "got the image", "1st attempt ok", "attempts", "mean", "p50", "p95", "max"], byKind, ["l", "l", "r", "r", "r", "r", "r", "r", "r"])}`,
  );

  const errors = new Map<string, number>();
  for (const r of results)
    for (const p of r.pulls)
      for (const e of p.errors)
        errors.set(`${r.mode} ${p.kind}: ${e}`, (errors.get(`${r.mode} ${p.kind}: ${e}`) ?? 0) + 1);
  if (errors.size > 0) {
    console.log("\nMost frequent errors of failed attempts (count x mode client: message):");
    for (const [e, n] of [...errors].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`  ${n} x ${e}`);
  }
  console.log("");
  for (const r of results.filter((x) => x.mode !== "direct")) {
    const st = stats(r);
    console.log(
      `Target (${MODE_LABEL[r.mode]}): 100% success despite the dead first endpoint -> ${pct(st.ok, st.n)} got the image, ${pct(st.firstOk, st.n)} on the first attempt;` +
        ` direct/mirrored >= 3.3 -> ${fixed(directMean / st.mean)}`,
    );
  }
  if (mirror)
    console.log(
      `\nEndpoints: dead ${dead}; mirror ${mirror.url} (counting proxy in front of the cache ${cacheUrl}); upstream ${upstream.url} (fault proxy in front of ${origin.url}).`,
    );
  for (const [path, content] of renderedFiles) console.log(`\nRendered ${path}:\n${content.trimEnd()}`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ opts, size, results }, null, 1));
  console.log(`\nTotal run time ${fixed((Date.now() - started) / 1000, 0)} s.`);
}

if (boolFlag("failover")) {
  // The failover arms (a failing first endpoint, without and with the node watchdog): bench/failover.ts.
  void (require("./failover") as typeof import("./failover")).runFailover();
} else {
  main()
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => cleanup());
}
