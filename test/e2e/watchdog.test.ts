/**
 * The node watchdog (components/core/node/watchdog.py) on the lab: the apply script writes hosts.toml, the CRI-O/podman
 * drop-in and daemon.json into a NODE_ROOT for a policy whose first Docker Hub mirror is an endpoint this test
 * controls, and whose second is a pull-through cache. The first mirror then (c) goes silent after serving pulls,
 * (a) refuses connections, (b) accepts and never answers, (d) drops SYNs; each time the watchdog must take it out of all three files
 * within the documented time (watchdogBounds), `ctr --hosts-dir`, `skopeo copy --registries-conf` and `docker pull`
 * through a real dockerd 20.10 must then succeed from the cache, and once the mirror is back the files are the
 * rendered ones again. dockerd is only reloaded (the fake systemctl sends SIGHUP; its pid never changes), and a drop-in
 * edited by hand is left alone and reported.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { REGISTRIES_CONF_DROPIN } from "../../components/core/render/registries-conf";
import { renderWatchPlan, resolveWatchdogSettings, watchdogBounds } from "../../components/core/watch-plan";
import {
  type Containerd,
  freePort,
  pushTestImage,
  type Registry,
  run,
  startContainerd,
  startRegistry,
  tmpDir,
  waitFor,
} from "./lab";

const FAKE = join(__dirname, "fixtures", "apply", "fake-systemctl.sh");
const WATCHDOG = join(__dirname, "..", "..", "components", "core", "node", "watchdog.py");
const HOSTS = "/etc/containerd/certs.d/docker.io/hosts.toml";
const DAEMON = "/etc/docker/daemon.json";
const WATCH = {
  intervalSeconds: 2,
  suspectIntervalSeconds: 0.5,
  maxBackoffSeconds: 4,
  connectTimeoutSeconds: 1,
  firstByteTimeoutSeconds: 1.5,
  failuresToDown: 2,
  successesToUp: 2,
  jitter: 0.2,
};
const BOUNDS = watchdogBounds(resolveWatchdogSettings(WATCH));
// The write and the reload after the decision, and a busy shared machine.
const SLACK_SECONDS = 5;

// A listening socket with backlog 0 whose accept queue is full: the kernel drops further SYNs (a firewalled or
// overloaded mirror), so a client waits for its connect timeout. Prints "ready" once the queue is full.
const BLACKHOLE = `import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(0)
fill = []
for _ in range(4):
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex(("127.0.0.1", int(sys.argv[1])))
    fill.append(c)
time.sleep(0.5)
print("ready", flush=True)
time.sleep(3600)
`;

/**
 * A mirror endpoint on a fixed port that forwards to the cache, stalls (accepts, never answers), refuses, or drops
 * SYNs (blackhole).
 */
class ControlledMirror {
  mode: "forward" | "stall" | "refuse" | "blackhole" = "refuse";
  private server?: Server;
  private hole?: ChildProcess;
  private readonly pairs = new Set<{ client: Socket; upstream?: Socket }>();
  constructor(
    readonly port: number,
    private readonly target: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async set(mode: ControlledMirror["mode"]): Promise<void> {
    this.mode = mode;
    const hole = this.hole;
    this.hole = undefined;
    if (hole && hole.exitCode === null) {
      const gone = new Promise((resolve) => hole.once("exit", resolve));
      hole.kill("SIGKILL");
      await gone;
    }
    if (mode === "refuse" || mode === "blackhole") {
      for (const p of this.pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      this.pairs.clear();
      const server = this.server;
      this.server = undefined;
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
      if (mode === "blackhole") {
        const child = spawn("python3", ["-c", BLACKHOLE, String(this.port)], { stdio: ["ignore", "pipe", "inherit"] });
        this.hole = child;
        await new Promise<void>((resolve, reject) => {
          child.stdout?.on("data", (d) => String(d).includes("ready") && resolve());
          child.once("exit", (code) => reject(new Error(`the blackhole exited ${code}`)));
        });
      }
      return;
    }
    if (mode === "stall") {
      // Goes silent: open connections stay open and get nothing more.
      for (const p of this.pairs) {
        p.upstream?.unpipe(p.client);
        p.upstream?.destroy();
        p.upstream = undefined;
      }
    }
    if (!this.server) {
      const server = createServer((client) => {
        const pair: { client: Socket; upstream?: Socket } = { client };
        this.pairs.add(pair);
        client.on("error", () => undefined);
        client.on("close", () => {
          pair.upstream?.destroy();
          this.pairs.delete(pair);
        });
        if (this.mode !== "forward") return;
        const upstream = createConnection(this.target, "127.0.0.1");
        upstream.on("error", () => client.destroy());
        pair.upstream = upstream;
        client.pipe(upstream);
        upstream.pipe(client);
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(this.port, "127.0.0.1", () => resolve());
      });
      this.server = server;
    }
  }
}

let dir: string;
let root: string;
let state: string;
let upstream: Registry;
let cache: Registry;
let containerd: Containerd;
let mirror: ControlledMirror;
let rendered: ReturnType<typeof renderNodeConfig>;
let watchdog: ChildProcess;
let log = "";
let dockerPid = "";
const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  LAB_STATE: state,
  NODE_ROOT: root,
  RUNTIME_CTL: `sh ${FAKE}`,
  DOCKER_HOST: `unix://${join(dir, "docker.sock")}`,
  DOCKER_CONFIG: join(dir, "client"),
});

const read = (path: string) => readFileSync(join(root, path), "utf8");
const daemonMirrors = () => JSON.parse(read(DAEMON))["registry-mirrors"] as string[];
const pid = () => readFileSync(join(state, "docker.pid"), "utf8").trim();
const calls = () => readFileSync(join(state, "calls"), "utf8").trim().split("\n");
const status = () =>
  JSON.parse(read("/var/lib/registry-mirrors/watchdog/status.json")) as {
    endpoints: Record<string, { state: string; lastProbe: string | null }>;
    files: Record<string, { status: string }>;
  };

async function dockerMirrors(): Promise<string[]> {
  const res = await run("docker", ["info", "--format", "{{json .RegistryConfig.Mirrors}}"], { env: env() });
  expect(res.code, res.stderr).toBe(0);
  return (JSON.parse(res.stdout) as string[] | null) ?? [];
}

/** Waits for dockerd to report `expected` (the watchdog reloads it right after writing daemon.json). */
async function dockerReloaded(expected: string[]): Promise<void> {
  const want = JSON.stringify(expected.map((m) => `${m}/`));
  await waitFor(`docker info to list ${want}`, async () => JSON.stringify(await dockerMirrors()) === want, 10_000);
}

/** True when the first mirror is in none of the effective files. */
function withoutFirst(files: { hosts?: boolean; conf?: boolean; daemon?: boolean } = {}): boolean {
  const { hosts = true, conf = true, daemon = true } = files;
  return (
    (!hosts || !read(HOSTS).includes(`[host."${mirror.url}"]`)) &&
    (!conf || !read(REGISTRIES_CONF_DROPIN).includes(`location = "127.0.0.1:${mirror.port}"`)) &&
    (!daemon || !daemonMirrors().includes(mirror.url))
  );
}

/** True when every file is the rendered one again (daemon.json: its mirrors). */
function restored(conf = true): boolean {
  return (
    read(HOSTS) === rendered.files[HOSTS] &&
    (!conf || read(REGISTRIES_CONF_DROPIN) === rendered.files[REGISTRIES_CONF_DROPIN]) &&
    JSON.stringify(daemonMirrors()) === JSON.stringify([mirror.url, cache.url])
  );
}

async function pulls(tag: string): Promise<void> {
  const ref = `docker.io/library/hello:${tag}`;
  const ctr = await containerd.ctr(
    [
      "-n",
      "watchdog",
      "images",
      "pull",
      "--snapshotter",
      "native",
      "--hosts-dir",
      join(root, "etc/containerd/certs.d"),
      ref,
    ],
    { timeoutMs: 60_000 },
  );
  expect(ctr.code, `ctr: ${ctr.stderr}`).toBe(0);
  const out = join(dir, `skopeo-${tag}`);
  const skopeo = await run(
    "skopeo",
    ["--registries-conf", join(root, REGISTRIES_CONF_DROPIN), "copy", `docker://${ref}`, `dir:${out}`],
    { timeoutMs: 60_000 },
  );
  expect(skopeo.code, `skopeo: ${skopeo.stderr}`).toBe(0);
  const docker = await run("docker", ["pull", ref], { env: env(), timeoutMs: 60_000 });
  expect(docker.code, `docker: ${docker.stderr}`).toBe(0);
  expect(cache.requests(`/v2/library/hello/manifests/${tag}`)).toBeGreaterThan(0);
}

/** Injects a fault and returns the seconds until the first mirror is out of every file. */
async function failover(
  mode: "stall" | "refuse" | "blackhole",
  files?: Parameters<typeof withoutFirst>[0],
): Promise<number> {
  expect(restored(files?.conf !== false)).toBe(true);
  const start = Date.now();
  await mirror.set(mode);
  await waitFor("the watchdog to take the first mirror out", () => withoutFirst(files), 60_000);
  const seconds = (Date.now() - start) / 1000;
  await dockerReloaded([cache.url]);
  console.info(`watchdog e2e: ${mode}: the first mirror was out of every file after ${seconds.toFixed(1)} s`);
  return seconds;
}

async function recover(conf = true): Promise<number> {
  const start = Date.now();
  await mirror.set("forward");
  await waitFor("the watchdog to put the first mirror back", () => restored(conf), 60_000);
  const seconds = (Date.now() - start) / 1000;
  await dockerReloaded([mirror.url, cache.url]);
  console.info(`watchdog e2e: the files were the rendered ones again after ${seconds.toFixed(1)} s`);
  return seconds;
}

beforeAll(async () => {
  dir = tmpDir("watchdog");
  root = join(dir, "root");
  state = join(dir, "state");
  mkdirSync(join(root, "etc", "docker"), { recursive: true });
  mkdirSync(state);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  for (const tag of ["c", "a", "b", "d", "h", "first"]) await pushTestImage(upstream.hostPort, "library/hello", tag);
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  containerd = await startContainerd({ dir: join(dir, "containerd") });
  mirror = new ControlledMirror(await freePort(), cache.port);
  await mirror.set("forward");

  rendered = renderNodeConfig({
    policy: { registries: { "docker.io": { mirrors: [mirror.url, cache.url] } } },
    runtimes: ["docker", "containerd", "crio"],
  });
  writeFileSync(
    join(root, DAEMON),
    `${JSON.stringify({ labels: ["keep=me"], "max-concurrent-downloads": 2 }, null, 2)}\n`,
  );
  const sock = join(dir, "docker.sock");
  writeFileSync(
    join(state, "docker.cmd"),
    [
      "dockerd",
      ...["--config-file", join(root, DAEMON), "--data-root", join(dir, "data"), "--exec-root", join(dir, "exec")],
      ...["--pidfile", join(dir, "docker.pid"), "-H", `unix://${sock}`, "--containerd", containerd.address],
      "--iptables=false --ip6tables=false --bridge=none --storage-driver=vfs",
    ].join(" "),
  );
  writeFileSync(join(state, "docker.socket"), sock);
  const started = await run("sh", [FAKE, "start", "docker"], { env: env() });
  if (started.code !== 0) throw new Error(`dockerd did not start:\n${readFileSync(join(state, "docker.log"), "utf8")}`);
  dockerPid = pid();

  const script = join(dir, "apply-node-config.sh");
  writeFileSync(script, rendered.applyScript);
  const applied = await run("sh", [script], { env: { ...env(), VERIFY_SECONDS: "20" } });
  if (applied.code !== 0) throw new Error(`apply failed:\n${applied.stdout}\n${applied.stderr}`);

  const planFile = join(dir, "plan.json");
  writeFileSync(planFile, renderWatchPlan({ policy: rendered.policy, files: rendered.files, watchdog: WATCH }));
  watchdog = spawn("python3", [WATCHDOG, "--plan", planFile, "--root", root], {
    env: env(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  watchdog.stdout?.on("data", (d) => (log += d));
  watchdog.stderr?.on("data", (d) => (log += d));
  await waitFor(
    "the watchdog's first probes",
    () => {
      try {
        return Object.values(status().endpoints).every((e) => e.lastProbe !== null);
      } catch {
        return false;
      }
    },
    30_000,
  );
});

afterAll(async () => {
  if (watchdog && watchdog.exitCode === null) {
    const gone = new Promise((r) => watchdog.once("exit", r));
    watchdog.kill("SIGTERM");
    await gone;
  }
  await run("sh", [FAKE, "stop", "docker"], { env: env() });
  await run("umount", ["-l", join(dir, "data")]);
  await run("umount", ["-l", join(dir, "exec")]);
  await mirror?.set("refuse");
  await containerd?.stop();
  await cache?.stop();
  await upstream?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the watchdog on real runtimes", () => {
  it("starts with the rendered files, the mirror up, and serves pulls through it", async () => {
    expect(restored()).toBe(true);
    expect(status().endpoints[mirror.url].state).toBe("up");
    expect(await dockerMirrors()).toEqual([`${mirror.url}/`, `${cache.url}/`]);
    await pulls("first");
  });

  it(`(c) a mirror that goes silent after serving pulls is out within ${BOUNDS.detectSeconds} s; pulls go to the next one`, async () => {
    const seconds = await failover("stall");
    expect(seconds).toBeLessThanOrEqual(BOUNDS.detectSeconds + SLACK_SECONDS);
    expect(log).toMatch(
      new RegExp(`event=endpoint endpoint=${mirror.url} reason="2 failed probes in a row, last: [^"]*no answer`),
    );
    const daemon = JSON.parse(read(DAEMON));
    expect([daemon.labels, daemon["max-concurrent-downloads"]]).toEqual([["keep=me"], 2]);
    await pulls("c");
    expect(status().endpoints[mirror.url].state).toBe("down");
  });

  it(`restores the policy's order once the mirror answers again (within ${BOUNDS.recoverSeconds} s)`, async () => {
    const seconds = await recover();
    expect(seconds).toBeLessThanOrEqual(BOUNDS.recoverSeconds + SLACK_SECONDS);
    expect(log).toContain(`event=endpoint endpoint=${mirror.url} reason="2 good probes in a row" state=up`);
  });

  it("(a) a refusing mirror is out within the documented time; pulls succeed; then it comes back", async () => {
    const seconds = await failover("refuse");
    expect(seconds).toBeLessThanOrEqual(BOUNDS.detectSeconds + SLACK_SECONDS);
    await pulls("a");
    await recover();
  });

  it("(b) a mirror that accepts and never answers is out within the documented time; pulls succeed", async () => {
    const seconds = await failover("stall");
    expect(seconds).toBeLessThanOrEqual(BOUNDS.detectSeconds + SLACK_SECONDS);
    await pulls("b");
    await recover();
  });

  it("(d) a mirror that drops SYNs (full accept queue) is out within the documented time; pulls succeed", async () => {
    const seconds = await failover("blackhole");
    expect(seconds).toBeLessThanOrEqual(BOUNDS.detectSeconds + SLACK_SECONDS);
    expect(log).toContain("no connection within 1s");
    await pulls("d");
    await recover();
  });

  it("undoes an apply run that writes the desired files back while the mirror is down", async () => {
    await failover("refuse");
    const applied = await run("sh", [join(dir, "apply-node-config.sh")], { env: { ...env(), VERIFY_SECONDS: "20" } });
    expect(applied.code, `${applied.stdout}${applied.stderr}`).toBe(0);
    expect(applied.stdout).toContain("docker: reloaded");
    const start = Date.now();
    await waitFor("the watchdog to take the mirror out again", () => withoutFirst(), 10_000);
    await dockerReloaded([cache.url]);
    console.info(`watchdog e2e: an apply run was undone after ${((Date.now() - start) / 1000).toFixed(1)} s`);
    await recover();
  });

  it("leaves a drop-in edited by hand alone, says so, and still handles the other files", async () => {
    const edited = `${rendered.files[REGISTRIES_CONF_DROPIN]}# pinned by hand\n`;
    writeFileSync(join(root, REGISTRIES_CONF_DROPIN), edited);
    await failover("refuse", { conf: false });
    expect(read(REGISTRIES_CONF_DROPIN)).toBe(edited);
    expect(log).toContain(
      `event=left-alone file=${REGISTRIES_CONF_DROPIN} reason="changed by hand since the last apply`,
    );
    // status.json follows once the round (write, reload) is over.
    await waitFor(
      "status.json to say so",
      () => status().files[REGISTRIES_CONF_DROPIN].status === "left-alone",
      10_000,
    );
    await pulls("h");
    await recover(false);
    expect(read(REGISTRIES_CONF_DROPIN)).toBe(edited);
    writeFileSync(join(root, REGISTRIES_CONF_DROPIN), rendered.files[REGISTRIES_CONF_DROPIN]);
  });

  it("never restarted dockerd: the same pid, reloads only", () => {
    expect(pid()).toBe(dockerPid);
    const docker = calls().filter((c) => c.endsWith(" docker"));
    expect(docker.filter((c) => /^(restart|stop|start) /.test(c))).toEqual(["start docker"]);
    expect(docker.filter((c) => c === "reload docker").length).toBeGreaterThanOrEqual(12);
    expect(watchdog.exitCode).toBeNull();
  });
});
