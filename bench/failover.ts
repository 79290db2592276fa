/**
 * `npm run bench:pull -- --failover`: pulls while the first endpoint of the policy fails, without and with the node
 * watchdog, on real clients, on loopback.
 *
 *   policy for docker.io: FIRST, mirror, upstream stand-in (the last one as `server`, `upstreamFallback: false`)
 *
 * FIRST is, per arm: healthy (a proxy to the origin); refusing (a free port); dropping SYNs (a listener with a full
 * accept queue); silent (accepts, never answers); stalling (a healthy proxy that goes silent --stall-after-s into
 * the arm, open connections included). Each arm runs twice: without the watchdog (the rendered files as they are)
 * and with the real watchdog.py running against the same files the clients read (NODE_ROOT = the arm's folder), so
 * its effective-config writes are what the clients see. The watchdog starts with the arm, the failure already there:
 * the same as a watchdog that was running when the endpoint failed (its first probe comes at a random point of the
 * first interval).
 *
 * Clients: `ctr images pull --hosts-dir` (containerd 1.6, one containerd per lane), `skopeo copy
 * --registries-conf` (the CRI-O/podman drop-in) and `docker pull` (dockerd 20.10, one per lane, reading the rendered
 * daemon.json; the watchdog reloads it with SIGHUP, and each pulled image is removed again). Each lane starts a pull, and when it ends the next, for
 * --window-s; so pulls start at every point of the arm. A pull attempt is killed after --attempt-cap-s and
 * retried after 1 s (as the kubelet retries a pull containerd cancelled for lack of progress:
 * `image_pull_progress_timeout`); a pull that has not got the image --cap-s after it started counts as timed out.
 *
 * Flags: --lanes 2 --window-s 60 --cap-s 60 --attempt-cap-s 20 --stall-after-s 12 --interval-s 10
 *        --arms healthy,refusing,syn-drop,silent,stall --json FILE
 * Prints figures and the goal check; asserts nothing about time.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { renderNodeConfig } from "../components/core/render/node-config";
import { REGISTRIES_CONF_DROPIN } from "../components/core/render/registries-conf";
import { renderWatchPlan } from "../components/core/watch-plan";
import {
  type Containerd,
  type Dockerd,
  freePort,
  type Registry,
  type RunResult,
  sleep,
  startContainerd,
  startDockerd,
  startRegistry,
  tmpDir,
} from "../test/e2e/lab";
import { type BlackHole, startSilent, startSynDrop } from "./black-holes";
import { type FaultProxy, startFaultProxy } from "./fault-proxy";
import { pushLayeredImage } from "./image";
import { fixed, flag, numberFlag, percentile, table } from "./lib";

const opts = {
  lanes: numberFlag("lanes", 2),
  windowS: numberFlag("window-s", 60),
  capS: numberFlag("cap-s", 60),
  attemptCapS: numberFlag("attempt-cap-s", 20),
  stallAfterS: numberFlag("stall-after-s", 12),
  intervalS: numberFlag("interval-s", 10),
  arms: flag("arms", "healthy,refusing,syn-drop,silent,stall").split(","),
  json: flag("json", ""),
};
const WATCHDOG = {
  intervalSeconds: opts.intervalS,
  suspectIntervalSeconds: 1,
  connectTimeoutSeconds: 2,
  firstByteTimeoutSeconds: 2,
  failuresToDown: 2,
  successesToUp: 3,
  metricsFile: false as const,
};
const REPO = "library/bench";
const TAG = "v1";
const REF = `docker.io/${REPO}:${TAG}`;
const WATCHDOG_PY = join(__dirname, "..", "components", "core", "node", "watchdog.py");
const ARM_LABEL: Record<string, string> = {
  healthy: "healthy",
  refusing: "refusing connections",
  "syn-drop": "dropping SYNs (full accept queue)",
  silent: "accepting, never answering",
  stall: `stalling ${opts.stallAfterS} s into the run`,
};

type Kind = "ctr" | "skopeo" | "docker";
const KINDS: Kind[] = ["ctr", "skopeo", "docker"];
interface Pull {
  kind: Kind;
  /** Seconds from the arm's start to this pull's start. */
  startS: number;
  ok: boolean;
  timedOut: boolean;
  attempts: number;
  seconds: number;
  error?: string;
}
interface Arm {
  arm: string;
  watchdog: boolean;
  pulls: Pull[];
  /** Seconds from the arm's start until the watchdog took FIRST out (with the watchdog and a failing FIRST). */
  removedAfterS?: number;
}

const live = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void> | void> = [];
let stopping = false;
async function cleanup(): Promise<void> {
  stopping = true;
  for (const child of live) child.kill("SIGKILL");
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

function errorOf(res: RunResult): string {
  const lines = res.stderr.trim().split("\n").filter(Boolean);
  const ctr = lines.find((l) => l.startsWith("ctr: "));
  const fatal = lines.map((l) => /level=fatal msg="(.*)"$/.exec(l)?.[1]).find((m) => m !== undefined);
  return (ctr ?? fatal ?? lines[lines.length - 1] ?? `exit ${res.code}`)
    .replace(/127\.0\.0\.1:\d+/g, "…")
    .slice(0, 200);
}

/**
 * Writes the rendered hosts.toml, drop-in and daemon.json under `root` (node paths); returns the client paths and the
 * plan. dockerd lists all three endpoints as mirrors (it always tries Docker Hub after them: unreachable here).
 */
function writeNodeFiles(root: string, mirrors: string[]) {
  const rendered = renderNodeConfig({
    policy: { registries: { "docker.io": { mirrors, upstreamFallback: false } } },
    runtimes: ["docker", "containerd", "crio"],
  });
  for (const [path, content] of Object.entries(rendered.files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  const plan = join(root, "watch-plan.json");
  writeFileSync(plan, renderWatchPlan({ policy: rendered.policy, files: rendered.files, watchdog: WATCHDOG }));
  return {
    certsDir: join(root, "etc/containerd/certs.d"),
    registriesConf: join(root, REGISTRIES_CONF_DROPIN),
    daemonJson: join(root, "etc/docker/daemon.json"),
    plan,
  };
}

/** The first endpoint of an arm; `start` is called at the arm's start (the stall's clock). */
async function firstEndpoint(arm: string, origin: Registry): Promise<BlackHole & { start?: () => void }> {
  switch (arm) {
    case "healthy":
    case "stall": {
      const proxy: FaultProxy = await startFaultProxy({
        target: origin.url,
        latencyMs: 0,
        failRate: 0,
        bytesPerSecond: 0,
      });
      let timer: NodeJS.Timeout | undefined;
      return {
        url: proxy.url,
        hostPort: proxy.hostPort,
        start:
          arm === "stall"
            ? () => {
                timer = setTimeout(() => proxy.configure({ silent: true }), opts.stallAfterS * 1000);
              }
            : undefined,
        close: () => {
          clearTimeout(timer);
          return proxy.close();
        },
      };
    }
    case "refusing": {
      const hostPort = `127.0.0.1:${await freePort()}`;
      return { url: `http://${hostPort}`, hostPort, close: async () => {} };
    }
    case "syn-drop":
      return startSynDrop();
    case "silent":
      return startSilent();
    default:
      throw new Error(`--arms: unknown arm "${arm}" (healthy, refusing, syn-drop, silent, stall)`);
  }
}

async function runArm(
  arm: string,
  watchdog: boolean,
  base: string,
  origin: Registry,
  mirror: FaultProxy,
  upstream: FaultProxy,
): Promise<Arm> {
  const dir = join(base, `${arm}-${watchdog ? "watch" : "plain"}`);
  const root = join(dir, "root");
  const first = await firstEndpoint(arm, origin);
  const files = writeNodeFiles(root, [first.url, mirror.url, upstream.url]);
  const daemons: Containerd[] = [];
  const dockerds: Dockerd[] = [];
  let dog: ChildProcess | undefined;
  const result: Arm = { arm, watchdog, pulls: [] };
  try {
    for (let i = 0; i < opts.lanes; i++) {
      daemons.push(await startContainerd({ dir: join(dir, `containerd-${i}`) }));
      dockerds.push(await startDockerd({ dir: join(dir, `dockerd-${i}`), configFile: files.daemonJson }));
    }
    // The watchdog's systemctl: `reload docker` is a SIGHUP to this arm's dockerds (as docker.service does).
    const ctl = join(dir, "systemctl.sh");
    writeFileSync(
      ctl,
      `for a; do last=$a; done\n[ "$1:$last" = reload:docker ] && kill -HUP ${dockerds.map((d) => d.pid).join(" ")}\nexit 0\n`,
    );
    const t0 = performance.now();
    const since = () => (performance.now() - t0) / 1000;
    first.start?.();
    if (watchdog) {
      const log = createWriteStream(join(dir, "watchdog.log"));
      dog = spawn("python3", [WATCHDOG_PY, "--plan", files.plan, "--root", root], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, RUNTIME_CTL: `sh ${ctl}` },
      });
      live.add(dog);
      dog.stdout?.on("data", (d: Buffer) => {
        log.write(d);
        const down =
          d.toString().includes(`event=endpoint`) &&
          d.toString().includes(first.url) &&
          /state=down/.test(d.toString());
        if (down && result.removedAfterS === undefined) result.removedAfterS = since();
      });
      dog.stderr?.pipe(log);
    }
    let n = 0;
    const pull = async (kind: Kind, attempt: (ns: string, timeoutMs: number) => Promise<RunResult>): Promise<Pull> => {
      const startS = since();
      const deadline = performance.now() + opts.capS * 1000;
      let attempts = 0;
      let error = "";
      while (!stopping) {
        attempts++;
        const left = deadline - performance.now();
        const res = await attempt(`p${n++}`, Math.min(opts.attemptCapS * 1000, left));
        if (res.code === 0) return { kind, startS, ok: true, timedOut: false, attempts, seconds: since() - startS };
        error =
          res.code === 124
            ? `attempt killed after ${fixed(Math.min(opts.attemptCapS, left / 1000), 0)} s`
            : errorOf(res);
        if (deadline - performance.now() < 1000) break;
        await sleep(1000);
      }
      return { kind, startS, ok: false, timedOut: true, attempts, seconds: since() - startS, error };
    };
    const lane = async (kind: Kind, i: number) => {
      while (since() < opts.windowS && !stopping) {
        const p =
          kind === "ctr"
            ? await pull("ctr", (ns, t) =>
                daemons[i].ctr(
                  ["-n", ns, "images", "pull", "--snapshotter", "native", "--hosts-dir", files.certsDir, REF],
                  { timeoutMs: t },
                ),
              )
            : kind === "docker"
              ? await pull("docker", async (_ns, t) => {
                  const res = await dockerds[i].docker(["pull", "--quiet", REF], { timeoutMs: t });
                  await dockerds[i].docker(["rmi", "--force", REF]);
                  return res;
                })
              : await pull("skopeo", (ns, t) => {
                  const out = join(dir, `skopeo-${ns}`);
                  return run(
                    "skopeo",
                    ["--registries-conf", files.registriesConf, "copy", "--quiet", `docker://${REF}`, `dir:${out}`],
                    t,
                  ).finally(() => rmSync(out, { recursive: true, force: true }));
                });
        result.pulls.push(p);
      }
    };
    await Promise.all(Array.from({ length: opts.lanes }, (_, i) => KINDS.map((kind) => lane(kind, i))).flat());
    return result;
  } finally {
    if (dog) {
      dog.kill("SIGTERM");
      live.delete(dog);
    }
    await Promise.all([...daemons, ...dockerds].map((d) => d.stop()));
    await first.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function stats(pulls: Pull[]) {
  const ok = pulls.filter((p) => p.ok).map((p) => p.seconds);
  return {
    n: pulls.length,
    ok: ok.length,
    timedOut: pulls.filter((p) => p.timedOut).length,
    p50: percentile(ok, 50),
    p95: percentile(ok, 95),
    max: ok.length ? Math.max(...ok) : Number.NaN,
    retried: pulls.filter((p) => p.attempts > 1).length,
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const base = tmpDir("bench-failover");
  cleanups.push(() => rmSync(base, { recursive: true, force: true }));
  const origin = await startRegistry({ dir: join(base, "origin") });
  cleanups.push(() => origin.stop());
  await pushLayeredImage(origin.hostPort, REPO, TAG, { layers: 2, layerBytes: 1024 * 1024 });
  const mirror = await startFaultProxy({ target: origin.url, latencyMs: 0, failRate: 0, bytesPerSecond: 0 });
  cleanups.push(() => mirror.close());
  const upstream = await startFaultProxy({ target: origin.url, latencyMs: 0, failRate: 0, bytesPerSecond: 0 });
  cleanups.push(() => upstream.close());

  const arms: Arm[] = [];
  for (const arm of opts.arms) {
    for (const watchdog of [false, true]) {
      if (stopping) return;
      process.stderr.write(`${ARM_LABEL[arm] ?? arm}, ${watchdog ? "with" : "without"} the watchdog ...\n`);
      arms.push(await runArm(arm, watchdog, base, origin, mirror, upstream));
    }
  }

  const s = (x: number) => fixed(x, 1);
  const rows: string[][] = [];
  for (const a of arms) {
    for (const kind of KINDS) {
      const st = stats(a.pulls.filter((p) => p.kind === kind));
      rows.push([
        ARM_LABEL[a.arm] ?? a.arm,
        a.watchdog ? "yes" : "no",
        kind,
        `${st.ok}/${st.n} (${fixed((100 * st.ok) / st.n, 0)}%)`,
        String(st.timedOut),
        String(st.retried),
        s(st.p50),
        s(st.p95),
        s(st.max),
        a.removedAfterS === undefined ? "-" : s(a.removedAfterS),
      ]);
    }
  }
  console.log(
    `\nFailover lab: image 2 x 1 MiB; ${opts.lanes} lanes per client, each pulling again as soon as its last pull ended, for ${opts.windowS} s.` +
      ` Attempt killed after ${opts.attemptCapS} s and retried after 1 s; a pull without the image ${opts.capS} s after it started is timed out.` +
      ` Watchdog: interval ${WATCHDOG.intervalSeconds} s, suspect interval ${WATCHDOG.suspectIntervalSeconds} s, connect ${WATCHDOG.connectTimeoutSeconds} s, first byte ${WATCHDOG.firstByteTimeoutSeconds} s, K=${WATCHDOG.failuresToDown}, M=${WATCHDOG.successesToUp}, jitter 0.2.\n`,
  );
  console.log("Seconds from a pull's start until the client has the image, over the pulls that got it.\n");
  console.log(
    table(
      [
        "first endpoint",
        "watchdog",
        "client",
        "got the image",
        "timed out",
        "retried",
        "p50",
        "p95",
        "max",
        "taken out after s",
      ],
      rows,
      ["l", "l", "l", "r", "r", "r", "r", "r", "r", "r"],
    ),
  );
  const errors = new Map<string, number>();
  for (const a of arms)
    for (const p of a.pulls)
      if (p.error)
        errors.set(
          `${a.arm}/${a.watchdog ? "watch" : "plain"} ${p.kind}: ${p.error}`,
          (errors.get(`${a.arm}/${a.watchdog ? "watch" : "plain"} ${p.kind}: ${p.error}`) ?? 0) + 1,
        );
  if (errors.size > 0) {
    console.log("\nLast error of each timed-out pull (count x arm client: message):");
    for (const [e, n] of [...errors].sort((x, y) => y[1] - x[1]).slice(0, 12)) console.log(`  ${n} x ${e}`);
  }
  console.log("\nGoal: with the watchdog, 100% success and p95 <= 2 x healthy p95 + one probe interval:");
  for (const kind of KINDS) {
    const healthy = arms.find((a) => a.arm === "healthy" && a.watchdog);
    if (!healthy) continue;
    const bound = 2 * stats(healthy.pulls.filter((p) => p.kind === kind)).p95 + WATCHDOG.intervalSeconds;
    for (const a of arms.filter((x) => x.watchdog && x.arm !== "healthy")) {
      const st = stats(a.pulls.filter((p) => p.kind === kind));
      const met = st.ok === st.n && st.p95 <= bound;
      console.log(
        `  ${kind} ${ARM_LABEL[a.arm]}: ${st.ok}/${st.n} got the image, p95 ${s(st.p95)} s vs ${s(bound)} s -> ${met ? "met" : "MISSED"}`,
      );
    }
  }
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ opts, watchdog: WATCHDOG, arms }, null, 1));
  console.log(`\nTotal run time ${fixed((Date.now() - started) / 1000, 0)} s.`);
}

/** Runs the failover arms and stops everything they started (`bench/pull.ts --failover` calls it). */
export function runFailover(): Promise<void> {
  return main()
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => cleanup());
}

if (require.main === module) void runFailover();
