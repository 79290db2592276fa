/**
 * The e2e lab: real registries, dockerd and containerd started on loopback by the test itself, each
 * in its own temp folder and on its own free port, and stopped by PID. Nothing here talks to the internet.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** Give up (kill, code 124) after this many milliseconds; default 120 s. */
  timeoutMs?: number;
}

/** Runs a command to completion and captures its output; never throws for a non-zero exit. */
export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 124 : 1), stdout, stderr });
    });
    // A command that exits without reading its input would otherwise raise EPIPE here.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** Runs a command and throws with its output when it fails. */
export async function runOk(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(cmd, args, options);
  if (result.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A new empty folder under the system temp folder. */
export function tmpDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `rm-${prefix}-`));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true; throws with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function httpStatus(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

/** A background process with its log file. */
export interface Daemon {
  pid: number;
  logs(): string;
  /** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
  stop(): Promise<void>;
  exited(): boolean;
}

function startDaemon(
  cmd: string,
  args: string[],
  logFile: string,
  env?: NodeJS.ProcessEnv,
): { child: ChildProcess; daemon: Daemon } {
  const fd = openSync(logFile, "a");
  const child = spawn(cmd, args, { stdio: ["ignore", fd, fd], env: env ?? process.env, detached: false });
  let done = false;
  const gone = new Promise<void>((resolve) =>
    child.on("exit", () => {
      done = true;
      resolve();
    }),
  );
  child.on("error", () => (done = true));
  const daemon: Daemon = {
    pid: child.pid ?? -1,
    logs: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
    exited: () => done,
    async stop() {
      if (done) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
  return { child, daemon };
}

export interface Registry extends Daemon {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` */
  hostPort: string;
  port: number;
  /** How many requests for a path containing `fragment` the registry logged (e.g. "/v2/library/hello/blobs/"). */
  requests(fragment: string): number;
}

export interface RegistryOptions {
  dir: string;
  /** Makes it a pull-through cache of this upstream URL (the upstream must be running first). */
  proxyRemote?: string;
  port?: number;
}

/** Starts `docker-registry` on 127.0.0.1 (a plain registry, or a pull-through cache with `proxyRemote`). */
export async function startRegistry(options: RegistryOptions): Promise<Registry> {
  const port = options.port ?? (await freePort());
  mkdirSync(options.dir, { recursive: true });
  const config = [
    "version: 0.1",
    "log:",
    "  level: info",
    "  accesslog:",
    "    disabled: false",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${join(options.dir, "data")}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    ...(options.proxyRemote ? ["proxy:", `  remoteurl: ${options.proxyRemote}`] : []),
    "",
  ].join("\n");
  const configFile = join(options.dir, "config.yml");
  writeFileSync(configFile, config);
  const logFile = join(options.dir, "registry.log");
  const { daemon } = startDaemon("docker-registry", ["serve", configFile], logFile, {
    ...process.env,
    OTEL_TRACES_EXPORTER: "none",
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`registry on ${url}`, async () => {
    if (daemon.exited()) throw new Error(`registry exited:\n${daemon.logs()}`);
    return (await httpStatus(`${url}/v2/`)) === 200;
  });
  return {
    ...daemon,
    url,
    hostPort: `127.0.0.1:${port}`,
    port,
    requests: (fragment) =>
      daemon
        .logs()
        .split("\n")
        .filter((l) => l.includes(fragment) && /"(GET|HEAD) /.test(l)).length,
  };
}

export interface DistributionOptions {
  /** Holds the log (and is where the caller keeps the config and data). */
  dir: string;
  /** The configuration file to serve, as given (e.g. a PullThroughCache ConfigMap's config.yml). */
  configFile: string;
  /** `REGISTRY_*` overrides Distribution reads over the file (address, data folder, TLS paths, secrets). */
  env: Record<string, string>;
  /** The `/v2/` URL to wait for (https with `ca`). */
  url: string;
  /** A CA file to trust while waiting for an https URL. */
  caFile?: string;
}

/** Starts `docker-registry serve CONFIG` (the Debian Distribution binary) on a configuration file given as is. */
export async function startDistribution(options: DistributionOptions): Promise<Registry> {
  mkdirSync(options.dir, { recursive: true });
  const { daemon } = startDaemon("docker-registry", ["serve", options.configFile], join(options.dir, "registry.log"), {
    ...process.env,
    OTEL_TRACES_EXPORTER: "none",
    ...options.env,
  });
  const u = new URL(options.url);
  const check = async () => {
    if (daemon.exited()) throw new Error(`registry exited:\n${daemon.logs()}`);
    const args = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2"];
    if (options.caFile) args.push("--cacert", options.caFile);
    const res = await run("curl", [...args, `${options.url}/v2/`], { timeoutMs: 5000 });
    return res.stdout === "200";
  };
  await waitFor(`registry on ${options.url}`, check);
  return {
    ...daemon,
    url: options.url,
    hostPort: u.host,
    port: Number(u.port),
    requests: (fragment) =>
      daemon
        .logs()
        .split("\n")
        .filter((l) => l.includes(fragment) && /"(GET|HEAD) /.test(l)).length,
  };
}

/**
 * Builds a one-layer OCI image without an engine (umoci) holding `/hello.txt` with `content`, and pushes it to
 * `hostPort/repo:tag` over plain HTTP.
 */
export async function pushTestImage(
  hostPort: string,
  repo: string,
  tag: string,
  content = `${repo}:${tag}\n`,
): Promise<void> {
  const dir = tmpDir("image");
  const layout = join(dir, "layout");
  const file = join(dir, "hello.txt");
  writeFileSync(file, content);
  await runOk("umoci", ["init", "--layout", layout]);
  await runOk("umoci", ["new", "--image", `${layout}:img`]);
  await runOk("umoci", ["insert", "--image", `${layout}:img`, file, "/hello.txt"]);
  await runOk("umoci", ["config", "--image", `${layout}:img`, "--config.cmd", "/hello.txt"]);
  try {
    await runOk("skopeo", [
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      `oci:${layout}:img`,
      `docker://${hostPort}/${repo}:${tag}`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Containerd extends Daemon {
  /** gRPC socket path. */
  address: string;
  configFile: string;
  root: string;
  state: string;
  /** Runs `ctr --address ADDRESS ...args`. */
  ctr(args: string[], options?: RunOptions): Promise<RunResult>;
}

export interface ContainerdOptions {
  dir: string;
  /**
   * Extra TOML appended to the generated config (root, state and grpc.address are always set, to stay inside `dir`).
   * Without `cri: true` the CRI plugin is disabled.
   */
  extraConfig?: string;
  /** Use this whole config file instead (it must set root/state/grpc address inside `dir`). */
  configFile?: string;
  cri?: boolean;
}

/** Paths a lab containerd uses inside `dir`. */
export function containerdPaths(dir: string): { root: string; state: string; address: string } {
  return { root: join(dir, "root"), state: join(dir, "state"), address: join(dir, "containerd.sock") };
}

/** The base config of a lab containerd (version 2 format, containerd 1.6). */
export function containerdBaseConfig(dir: string, cri = false): string {
  const p = containerdPaths(dir);
  return [
    "version = 2",
    `root = "${p.root}"`,
    `state = "${p.state}"`,
    cri ? "" : `disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
    "",
    "[grpc]",
    `  address = "${p.address}"`,
    "",
    "[ttrpc]",
    `  address = "${p.address}.ttrpc"`,
    "",
    "[debug]",
    `  address = "${p.address}.debug"`,
    '  level = "info"',
    "",
  ].join("\n");
}

/** Starts a containerd on its own socket, root and state (the CRI plugin off unless asked). */
export async function startContainerd(options: ContainerdOptions): Promise<Containerd> {
  mkdirSync(options.dir, { recursive: true });
  const p = containerdPaths(options.dir);
  let configFile = options.configFile;
  if (!configFile) {
    configFile = join(options.dir, "config.toml");
    writeFileSync(configFile, containerdBaseConfig(options.dir, options.cri) + (options.extraConfig ?? ""));
  }
  const logFile = join(options.dir, "containerd.log");
  const { daemon } = startDaemon("containerd", ["--config", configFile], logFile);
  const ctr = (args: string[], runOptions?: RunOptions) => run("ctr", ["--address", p.address, ...args], runOptions);
  await waitFor("containerd to answer", async () => {
    if (daemon.exited()) throw new Error(`containerd exited:\n${daemon.logs()}`);
    return existsSync(p.address) && (await ctr(["version"], { timeoutMs: 5000 })).code === 0;
  });
  return { ...daemon, address: p.address, configFile, root: p.root, state: p.state, ctr };
}

export interface Dockerd extends Daemon {
  /** Unix socket path; `docker -H unix://SOCKET`. */
  socket: string;
  dataRoot: string;
  /** Runs `docker -H unix://SOCKET ...args`. */
  docker(args: string[], options?: RunOptions): Promise<RunResult>;
  /** The mirrors `docker info` reports, in order. */
  mirrors(): Promise<string[]>;
}

export interface DockerdOptions {
  dir: string;
  /** The daemon.json dockerd reads (`--config-file`). */
  configFile: string;
  /** Wait for the API (default true); false to observe a daemon that refuses its config. */
  waitReady?: boolean;
  /** More dockerd flags after the lab's own, e.g. the `--registry-mirror` flags a DinD service is given. */
  args?: string[];
}

/**
 * Starts dockerd 20.10 against `configFile` with its own data root, exec root, socket and a containerd of its own;
 * networking and iptables off, vfs storage. `stop()` also stops its containerd and unmounts the data root.
 */
export async function startDockerd(options: DockerdOptions): Promise<Dockerd> {
  mkdirSync(options.dir, { recursive: true });
  const containerd = await startContainerd({ dir: join(options.dir, "containerd") });
  const socket = join(options.dir, "docker.sock");
  const dataRoot = join(options.dir, "data");
  const execRoot = join(options.dir, "exec");
  const args = [
    "--config-file",
    options.configFile,
    "--data-root",
    dataRoot,
    "--exec-root",
    execRoot,
    "--pidfile",
    join(options.dir, "docker.pid"),
    "-H",
    `unix://${socket}`,
    "--containerd",
    containerd.address,
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    "--storage-driver=vfs",
    ...(options.args ?? []),
  ];
  const logFile = join(options.dir, "dockerd.log");
  const { daemon } = startDaemon("dockerd", args, logFile, {
    ...process.env,
    DOCKER_CONFIG: join(options.dir, "client"),
  });
  const docker = (dargs: string[], runOptions?: RunOptions) =>
    run("docker", ["-H", `unix://${socket}`, ...dargs], {
      ...runOptions,
      env: { ...process.env, DOCKER_CONFIG: join(options.dir, "client"), ...runOptions?.env },
    });
  const stop = async () => {
    await daemon.stop();
    await containerd.stop();
    await run("umount", ["-l", dataRoot]);
    await run("umount", ["-l", execRoot]);
  };
  if (options.waitReady !== false) {
    try {
      await waitFor("dockerd to answer", async () => {
        if (daemon.exited()) throw new Error(`dockerd exited:\n${daemon.logs()}`);
        return (await docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 5000 })).code === 0;
      });
    } catch (err) {
      await stop();
      throw err;
    }
  }
  return {
    ...daemon,
    stop,
    socket,
    dataRoot,
    docker,
    async mirrors() {
      const res = await docker(["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
      if (res.code !== 0) throw new Error(`docker info failed: ${res.stderr}`);
      return (JSON.parse(res.stdout) as string[] | null) ?? [];
    },
  };
}

/** A runtime binary folder built from the Go module proxy by scripts/build-containerd.sh. */
export interface LabTool {
  /** `containerd`, `crictl` or `buildkit` */
  name: string;
  version: string;
  /** The folder holding its binaries (`.tools/NAME-VERSION/bin`). */
  bin: string;
}

const BUILD_SCRIPT = join(__dirname, "..", "..", "scripts", "build-containerd.sh");

function parseTools(stdout: string): LabTool[] {
  return stdout
    .trim()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [name, version, bin] = line.split(" ");
      return { name, version, bin };
    });
}

/** The tools scripts/build-containerd.sh builds (its `--list`, read synchronously so tests can be declared per version). */
export function labToolList(): LabTool[] {
  const res = spawnSync("bash", [BUILD_SCRIPT, "--list"], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`${BUILD_SCRIPT} --list failed: ${res.stderr}`);
  return parseTools(res.stdout);
}

let built: Promise<LabTool[]> | undefined;

/** Builds the lab's tools (scripts/build-containerd.sh; a cached run builds nothing) and returns them. */
export function buildLabTools(): Promise<LabTool[]> {
  built ??= runOk("bash", [BUILD_SCRIPT], { timeoutMs: 60 * 60_000 }).then((res) => parseTools(res.stdout));
  return built;
}

/** The built tool `name` (the only one, or the one of `version`). */
export async function labTool(name: string, version?: string): Promise<LabTool> {
  const tool = (await buildLabTools()).find((t) => t.name === name && (version === undefined || t.version === version));
  if (!tool) throw new Error(`scripts/build-containerd.sh builds no ${name} ${version ?? ""}`);
  return tool;
}

export interface Containerd2 extends Containerd {
  version: string;
  /** The folder of this version's `containerd` and `ctr`. */
  bin: string;
  /** Runs `crictl` against this containerd's CRI socket (needs `cri: true`). */
  crictl(args: string[], options?: RunOptions): Promise<RunResult>;
}

export interface Containerd2Options {
  dir: string;
  /** A containerd version scripts/build-containerd.sh builds, e.g. "2.1.9". */
  version: string;
  /** Load the CRI plugins (images, runtime, gRPC service); off by default. */
  cri?: boolean;
  /** Version-3 TOML appended to the generated config. */
  extraConfig?: string;
  /** Files the generated config imports (`imports = [...]`). */
  imports?: string[];
  /** Use this whole config file instead (it must set root/state/grpc address inside `dir`). */
  configFile?: string;
  /** Log level (default "debug": the resolver logs every host it tries). */
  logLevel?: string;
}

/** The base config of a lab containerd 2.x (version 3 format), with its own root, state and sockets under `dir`. */
export function containerd2BaseConfig(
  dir: string,
  options: { cri?: boolean; imports?: string[]; logLevel?: string } = {},
): string {
  const p = containerdPaths(dir);
  const disabled = options.cri
    ? []
    : ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"];
  return [
    "version = 3",
    `root = "${p.root}"`,
    `state = "${p.state}"`,
    ...(options.imports?.length ? [`imports = [${options.imports.map((f) => JSON.stringify(f)).join(", ")}]`] : []),
    ...(disabled.length ? [`disabled_plugins = [${disabled.map((n) => JSON.stringify(n)).join(", ")}]`] : []),
    "",
    "[grpc]",
    `  address = "${p.address}"`,
    "",
    "[ttrpc]",
    `  address = "${p.address}.ttrpc"`,
    "",
    "[debug]",
    `  address = "${p.address}.debug"`,
    `  level = "${options.logLevel ?? "debug"}"`,
    "",
    // NRI listens on one fixed socket per machine; the lab's daemons must not fight over it.
    `[plugins."io.containerd.nri.v1.nri"]`,
    "  disable = true",
    "",
  ].join("\n");
}

/**
 * Starts a containerd 2.x built by scripts/build-containerd.sh on its own socket, root and state, next to the
 * Debian containerd 1.6 of the lab. With `cri: true` the CRI plugins load with their default runc runtime handler
 * (enough for image pulls; no pod runs) and `crictl` talks to it.
 */
export async function startContainerd2(options: Containerd2Options): Promise<Containerd2> {
  const tool = await labTool("containerd", options.version);
  mkdirSync(options.dir, { recursive: true });
  const p = containerdPaths(options.dir);
  let configFile = options.configFile;
  if (!configFile) {
    configFile = join(options.dir, "config.toml");
    writeFileSync(configFile, containerd2BaseConfig(options.dir, options) + (options.extraConfig ?? ""));
  }
  const logFile = join(options.dir, "containerd.log");
  const { daemon } = startDaemon(join(tool.bin, "containerd"), ["--config", configFile], logFile);
  const ctr = (args: string[], runOptions?: RunOptions) =>
    run(join(tool.bin, "ctr"), ["--address", p.address, ...args], runOptions);
  let crictlBin: string | undefined;
  const crictl = async (args: string[], runOptions?: RunOptions) => {
    crictlBin ??= join((await labTool("crictl")).bin, "crictl");
    const endpoint = `unix://${p.address}`;
    return run(
      crictlBin,
      [
        "--config",
        join(options.dir, "crictl.yaml"),
        "--runtime-endpoint",
        endpoint,
        "--image-endpoint",
        endpoint,
        ...args,
      ],
      { timeoutMs: 120_000, ...runOptions },
    );
  };
  writeFileSync(join(options.dir, "crictl.yaml"), "timeout: 60\n");
  try {
    await waitFor(`containerd ${options.version} to answer`, async () => {
      if (daemon.exited()) throw new Error(`containerd ${options.version} exited:\n${daemon.logs()}`);
      return existsSync(p.address) && (await ctr(["version"], { timeoutMs: 5000 })).code === 0;
    });
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return {
    ...daemon,
    address: p.address,
    configFile,
    root: p.root,
    state: p.state,
    ctr,
    crictl,
    version: options.version,
    bin: tool.bin,
  };
}

export interface Buildkitd extends Daemon {
  /** `unix://SOCKET` */
  address: string;
  /** Runs `buildctl --addr ADDRESS ...args`. */
  buildctl(args: string[], options?: RunOptions): Promise<RunResult>;
}

export interface BuildkitdOptions {
  dir: string;
  /** The buildkitd.toml to read (`--config`); root, socket and worker come from flags. */
  configFile: string;
}

/**
 * Starts buildkitd (built by scripts/build-containerd.sh) as root with its own root folder and socket under `dir`:
 * the OCI worker with Debian's runc, native snapshotter, host network; the containerd worker off.
 */
export async function startBuildkitd(options: BuildkitdOptions): Promise<Buildkitd> {
  const tool = await labTool("buildkit");
  mkdirSync(options.dir, { recursive: true });
  const address = `unix://${join(options.dir, "buildkitd.sock")}`;
  const args = [
    "--config",
    options.configFile,
    "--root",
    join(options.dir, "root"),
    "--addr",
    address,
    "--oci-worker=true",
    "--oci-worker-binary=runc",
    "--oci-worker-snapshotter=native",
    "--oci-worker-net=host",
    "--containerd-worker=false",
    "--debug",
  ];
  const { daemon } = startDaemon(join(tool.bin, "buildkitd"), args, join(options.dir, "buildkitd.log"), {
    ...process.env,
    OTEL_TRACES_EXPORTER: "none",
  });
  const buildctl = (bargs: string[], runOptions?: RunOptions) =>
    run(join(tool.bin, "buildctl"), ["--addr", address, ...bargs], runOptions);
  try {
    await waitFor("buildkitd to answer", async () => {
      if (daemon.exited()) throw new Error(`buildkitd exited:\n${daemon.logs()}`);
      return (await buildctl(["debug", "workers"], { timeoutMs: 5000 })).code === 0;
    });
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return { ...daemon, address, buildctl };
}
