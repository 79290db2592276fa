/**
 * `npm run bench:pull:cache`: the article's §4.2 self-hosted cache ("Harbor") arm. The cache is configured exactly as
 * `PullThroughCache` configures it: the `config.yml` its ConfigMap holds, served by the real Distribution binary
 * (Debian docker-registry 2.8) with the container's environment; only the listen address, data folder and TLS file
 * paths (the pod's port and mounts) are given as Distribution's `REGISTRY_*` overrides. Clients read the node files
 * rendered from the component's policy fragment (with its CA, delivered as the apply script writes it), plus the
 * upstream's stand-in as the last endpoint (`upstreamFallback: false`), so no request leaves the machine.
 *
 *   origin registry  <-  fault proxy ("upstream": latency, failures, bandwidth cap, bearer tokens)  <-  clients  (direct)
 *   origin registry  <-  fault proxy  <-  PullThroughCache's Distribution (TLS, nodePort address)  <-  clients
 *
 * Clients: ctr (`--hosts-dir`, one containerd each) and skopeo (`--registries-conf`, `--src-cert-dir` = the
 * containers-certs.d folder the apply script writes). Modes: direct, cache cold, cache warm (after a warm-up pull).
 * A failed pull is retried after --backoff-s, up to --attempts within --deadline-s.
 *
 * Flags: --clients 20 --ctr-share 0.5 --layers 4 --layer-mib 2 --latency-ms 100 --fail-rate 0.32
 *        --upstream-kibps 512 --attempts 30 --backoff-s 1 --deadline-s 180 --seed 1 --modes direct,cold,warm
 *        --plain-http (the cache without TLS; the fragment marks it insecure)
 * Prints figures; asserts nothing about time.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { type PullThroughCacheInput, pullThroughCacheManifests } from "../components/core/cache";
import type { MirrorEndpointInput, MirrorPolicyInput } from "../components/core/policy";
import { renderNodeConfig } from "../components/core/render/node-config";
import { REGISTRIES_CONF_DROPIN } from "../components/core/render/registries-conf";
import {
  type Containerd,
  type Registry,
  type RunResult,
  runOk,
  sleep,
  startContainerd,
  startDistribution,
  startRegistry,
  tmpDir,
} from "../test/e2e/lab";
import { type FaultProxy, startFaultProxy } from "./fault-proxy";
import { imageBytes, pushLayeredImage } from "./image";
import { boolFlag, bytes, fixed, flag, mean, numberFlag, percentile, table } from "./lib";

const MIB = 1024 * 1024;
const opts = {
  clients: numberFlag("clients", 20),
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
  modes: flag("modes", "direct,cold,warm").split(","),
  plainHttp: boolFlag("plain-http"),
};
const REPO = "library/bench";
const TAG = "v1";
const REF = `docker.io/${REPO}:${TAG}`;
type Mode = "direct" | "cold" | "warm";
const LABEL: Record<Mode, string> = {
  direct: "direct (upstream only)",
  cold: "PullThroughCache, cold",
  warm: "PullThroughCache, warm",
};

const cleanups: Array<() => Promise<void> | void> = [];
const children = new Set<ReturnType<typeof spawn>>();
async function cleanup(): Promise<void> {
  for (const c of children) c.kill("SIGKILL");
  while (cleanups.length > 0) {
    try {
      await (cleanups.pop() as () => Promise<void> | void)();
    } catch (err) {
      console.error(`cleanup: ${(err as Error).message}`);
    }
  }
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void cleanup().then(() => process.exit(130)));
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      children.delete(child);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? (signal ? 124 : 1), stdout, stderr });
    });
  });
}

async function freeNodePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 30000 + Math.floor(Math.random() * 2768);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port in the NodePort range");
}

/** A CA and a server certificate for 127.0.0.1, as a cluster's issuer would give the cache. */
async function makePki(dir: string): Promise<{ ca: string; caFile: string; cert: string; key: string }> {
  mkdirSync(dir, { recursive: true });
  const ssl = (args: string[]) => runOk("openssl", args, { cwd: dir });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await ssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-subj",
    "/CN=bench cache CA",
    "-days",
    "2",
  ]);
  await ssl(["req", ...ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=bench cache"]);
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await ssl([
    "x509",
    "-req",
    "-in",
    "tls.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "tls.crt",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  ]);
  return {
    ca: readFileSync(join(dir, "ca.crt"), "utf8"),
    caFile: join(dir, "ca.crt"),
    cert: join(dir, "tls.crt"),
    key: join(dir, "tls.key"),
  };
}

interface Pull {
  kind: "ctr" | "skopeo";
  ok: boolean;
  firstOk: boolean;
  attempts: number;
  ms: number;
}

interface ClientArgs {
  ctr: string[];
  skopeo(out: string): string[];
}

/** Writes the node files rendered from the policy under `dir` (containerd's folder as is, /etc/containers below dir). */
function nodeFiles(policy: MirrorPolicyInput, dir: string): ClientArgs {
  const certsDir = join(dir, "certs.d");
  const rendered = renderNodeConfig({
    policy,
    runtimes: ["containerd", "podman"],
    runtimeOptions: { containerd: { certsDir } },
  });
  for (const [path, content] of Object.entries(rendered.files)) {
    const target = path.startsWith(certsDir) ? path : join(dir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
  const conf = join(dir, REGISTRIES_CONF_DROPIN);
  const endpoint = policy.registries["docker.io"].mirrors[0] as MirrorEndpointInput;
  const certDir = join(dir, "etc/containers/certs.d", new URL(endpoint.url).host);
  return {
    ctr: ["images", "pull", "--snapshotter", "native", "--hosts-dir", certsDir, REF],
    skopeo: (out) => [
      "--registries-conf",
      conf,
      "copy",
      "--quiet",
      ...(endpoint.ca ? ["--src-cert-dir", certDir] : []),
      `docker://${REF}`,
      `dir:${out}`,
    ],
  };
}

async function runMode(mode: Mode, client: (dir: string) => ClientArgs, dir: string, upstream: FaultProxy) {
  const modeDir = join(dir, mode);
  mkdirSync(modeDir, { recursive: true });
  const args = client(modeDir);
  const nCtr = Math.round(opts.clients * opts.ctrShare);
  const daemons: Containerd[] = [];
  try {
    for (let i = 0; i < nCtr; i += 8) {
      daemons.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(8, nCtr - i) }, (_, j) =>
            startContainerd({ dir: join(modeDir, `containerd-${i + j}`) }),
          ),
        )),
      );
    }
    upstream.reset();
    const pull = async (kind: Pull["kind"], attempt: (t: number) => Promise<RunResult>): Promise<Pull> => {
      const t0 = performance.now();
      const deadline = t0 + opts.deadlineS * 1000;
      for (let n = 1; n <= opts.attempts; n++) {
        const res = await attempt(Math.max(1000, deadline - performance.now()));
        if (res.code === 0) return { kind, ok: true, firstOk: n === 1, attempts: n, ms: performance.now() - t0 };
        if (performance.now() + opts.backoffS * 1000 >= deadline)
          return { kind, ok: false, firstOk: false, attempts: n, ms: performance.now() - t0 };
        await sleep(opts.backoffS * 1000);
      }
      return { kind, ok: false, firstOk: false, attempts: opts.attempts, ms: performance.now() - t0 };
    };
    const t0 = performance.now();
    const pulls = await Promise.all([
      ...daemons.map((d) => pull("ctr", (t) => run("ctr", ["--address", d.address, "-n", "bench", ...args.ctr], t))),
      ...Array.from({ length: opts.clients - nCtr }, (_, i) =>
        pull("skopeo", (t) => run("skopeo", args.skopeo(join(modeDir, `skopeo-${i}`)), t)),
      ),
    ]);
    return { mode, pulls, wallMs: performance.now() - t0, upstream: { ...upstream.counters } };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    rmSync(modeDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const dir = tmpDir("bench-pull-cache");
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();
  const origin: Registry = await startRegistry({ dir: join(dir, "origin") });
  cleanups.push(() => origin.stop());
  await pushLayeredImage(origin.hostPort, REPO, TAG, {
    layers: opts.layers,
    layerBytes: Math.round(opts.layerMib * MIB),
  });
  const size = await imageBytes(origin.url, REPO, TAG);
  const faults = { latencyMs: opts.latencyMs, failRate: opts.failRate, bytesPerSecond: opts.upstreamKibps * 1024 };
  const upstream = await startFaultProxy({ target: origin.url, ...faults, seed: opts.seed, bearerAuth: true });
  cleanups.push(() => upstream.close());

  const pki = opts.plainHttp ? undefined : await makePki(join(dir, "pki"));
  const input: PullThroughCacheInput = {
    name: "bench",
    exposure: "nodePort",
    upstreams: [{ registry: "docker.io", nodePort: await freeNodePort(), remoteUrl: upstream.url }],
    storage: { pvc: { storageClassName: "standard" } },
    replicas: 1,
    tls: pki ? { secretName: "bench-tls", ca: pki.ca } : { plainHttp: true },
  };
  const manifests = pullThroughCacheManifests(input);
  const [c] = manifests.caches;
  const configFile = join(dir, "cache", "config.yml");
  mkdirSync(dirname(configFile), { recursive: true });
  writeFileSync(configFile, c.configMap.data["config.yml"]);
  const container = (c.workload.spec as any).template.spec.containers[0];
  const env: Record<string, string> = Object.fromEntries(
    (container.env as Array<{ name: string; value?: string }>)
      .filter((e) => e.value !== undefined)
      .map((e) => [e.name, e.value as string]),
  );
  Object.assign(env, {
    REGISTRY_HTTP_ADDR: c.address,
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, "cache", "data"),
    ...(pki ? { REGISTRY_HTTP_TLS_CERTIFICATE: pki.cert, REGISTRY_HTTP_TLS_KEY: pki.key } : {}),
  });
  const cacheUrl = `${pki ? "https" : "http"}://${c.address}`;
  // The cache asks its upstream when it starts: no injected faults until it runs.
  upstream.configure({ failRate: 0, latencyMs: 0 });
  const cache = await startDistribution({
    dir: join(dir, "cache"),
    configFile,
    env,
    url: cacheUrl,
    caFile: pki?.caFile,
  });
  cleanups.push(() => cache.stop());
  upstream.configure(faults);

  const fragment = manifests.policy;
  const endpoint = fragment.registries["docker.io"].mirrors[0] as MirrorEndpointInput;
  const mirrored: MirrorPolicyInput = {
    registries: { "docker.io": { mirrors: [endpoint, upstream.url], upstreamFallback: false } },
  };
  const direct = (): ClientArgs => {
    const ref = `${upstream.hostPort}/${REPO}:${TAG}`;
    return {
      ctr: ["images", "pull", "--plain-http", "--snapshotter", "native", ref],
      skopeo: (out) => ["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `dir:${out}`],
    };
  };
  const results = [];
  let warmUps = 0;
  for (const mode of opts.modes as Mode[]) {
    if (!(mode in LABEL)) throw new Error(`--modes: unknown mode "${mode}"`);
    if (mode === "warm") {
      for (warmUps = 1; warmUps <= 20; warmUps++) {
        const warmDir = join(dir, `warm-up-${warmUps}`);
        const before = upstream.counters.bytes;
        const res = await run(
          "skopeo",
          nodeFiles(mirrored, warmDir).skopeo(join(warmDir, "out")),
          opts.deadlineS * 1000,
        );
        rmSync(warmDir, { recursive: true, force: true });
        if (res.code === 0 && upstream.counters.bytes - before < size / 100) break;
        await sleep(1000);
      }
    }
    process.stderr.write(`${LABEL[mode]}: ${opts.clients} clients ...\n`);
    results.push(await runMode(mode, mode === "direct" ? direct : (d) => nodeFiles(mirrored, d), dir, upstream));
  }

  const directMean = (() => {
    const d = results.find((r) => r.mode === "direct");
    return d ? mean(d.pulls.filter((p) => p.ok).map((p) => p.ms / 1000)) : NaN;
  })();
  const pct = (a: number, n: number) => `${fixed((100 * a) / n, 0)}%`;
  const rows = results.flatMap((r) =>
    [undefined, "ctr", "skopeo"].map((kind) => {
      const pulls = r.pulls.filter((p) => kind === undefined || p.kind === kind);
      const ok = pulls.filter((p) => p.ok).map((p) => p.ms / 1000);
      const m = mean(ok);
      return [
        LABEL[r.mode as Mode],
        kind ?? "all",
        `${ok.length}/${pulls.length}`,
        pct(pulls.filter((p) => p.firstOk).length, pulls.length),
        fixed(mean(pulls.map((p) => p.attempts)), 1),
        fixed(m, 1),
        fixed(percentile(ok, 50), 1),
        fixed(percentile(ok, 95), 1),
        kind === undefined ? fixed(r.wallMs / 1000, 1) : "",
        kind === undefined ? bytes(r.upstream.bytes) : "",
        kind === undefined ? `${r.upstream.requests}/${r.upstream.auth}/${r.upstream.failed}` : "",
        kind === undefined && r.mode !== "direct" ? fixed(directMean / m) : "",
      ];
    }),
  );
  const nCtr = Math.round(opts.clients * opts.ctrShare);
  console.log(
    `\nSelf-hosted cache arm: PullThroughCache's config.yml on docker-registry ${pki ? "with TLS (the fragment's CA delivered as node files)" : "over plain HTTP (marked insecure)"}; ${opts.clients} clients at once (${nCtr} ctr, ${opts.clients - nCtr} skopeo); image ${opts.layers} layers, ${bytes(size)}.` +
      ` Upstream: +${opts.latencyMs} ms per request, ${fixed(opts.failRate * 100, 1)}% of requests answered 503, ${opts.upstreamKibps} KiB/s per response, bearer tokens like Docker Hub.` +
      ` Retries after ${opts.backoffS} s, up to ${opts.attempts} within ${opts.deadlineS} s.${warmUps ? ` Warm-up pulls: ${warmUps}.` : ""}\n`,
  );
  console.log(
    table(
      [
        "Mode",
        "client",
        "got the image",
        "1st attempt ok",
        "attempts",
        "mean",
        "p50",
        "p95",
        "wall",
        "upstream bytes",
        "upstream req/auth/503",
        "direct/mode",
      ],
      rows,
      ["l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
    ),
  );
  console.log(`\nThe cache's config.yml (PullThroughCache's ConfigMap):\n${c.configMap.data["config.yml"].trimEnd()}`);
  console.log(`\nTotal run time ${fixed((Date.now() - started) / 1000, 0)} s.`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
