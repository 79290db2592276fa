/**
 * The watchdog through the apply script on the lab: renderNodeConfig with `watchdog` set, `apply` installs
 * registry-mirrors-watchdog.service (enabled by the real systemctl on NODE_ROOT, through the lab's fake systemctl),
 * `sh apply-node-config.sh watch --once` takes a refusing first mirror out of hosts.toml and the CRI-O/podman drop-in,
 * a real containerd then pulls from the next mirror, `check` reports the endpoint that is down and, against a real
 * dockerd, a daemon.json that was not reloaded; `restore` removes the service and the files.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { REGISTRIES_CONF_DROPIN } from "../../components/core/render/registries-conf";
import {
  type Containerd,
  freePort,
  pushTestImage,
  type Registry,
  run,
  startContainerd,
  startRegistry,
  tmpDir,
} from "./lab";

const FAKE = join(__dirname, "fixtures", "apply", "fake-systemctl.sh");
const HOSTS = "/etc/containerd/certs.d/docker.io/hosts.toml";
const UNIT = "registry-mirrors-watchdog.service";
const DAEMON = "/etc/docker/daemon.json";

let dir: string;
let root: string;
let state: string;
let script: string;
let upstream: Registry;
let cache: Registry;
let containerd: Containerd;
let refusing: string;
let rendered: ReturnType<typeof renderNodeConfig>;

const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  LAB_STATE: state,
  NODE_ROOT: root,
  RUNTIME_CTL: `sh ${FAKE}`,
  VERIFY_SECONDS: "20",
  DOCKER_HOST: `unix://${join(dir, "docker.sock")}`,
  DOCKER_CONFIG: join(dir, "client"),
});
const problems = (out: string) => out.split("\n").filter((l) => l.startsWith("problem: "));
const read = (path: string) => readFileSync(join(root, path), "utf8");
const linked = (path: string) => {
  try {
    return lstatSync(join(root, path)).isSymbolicLink();
  } catch {
    return false;
  }
};

beforeAll(async () => {
  dir = tmpDir("watchdog-script");
  root = join(dir, "root");
  state = join(dir, "state");
  mkdirSync(join(root, "etc", "docker"), { recursive: true });
  mkdirSync(state);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  await pushTestImage(upstream.hostPort, "library/hello", "watch");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  containerd = await startContainerd({ dir: join(dir, "containerd") });
  // A free port nobody listens on: connections are refused.
  refusing = `http://127.0.0.1:${await freePort()}`;
  rendered = renderNodeConfig({
    policy: { registries: { "docker.io": { mirrors: [refusing, cache.url] } } },
    runtimes: ["docker", "containerd", "crio"],
    docker: { insecureRegistries: [refusing.slice("http://".length), cache.hostPort] },
    watchdog: { failuresToDown: 1, connectTimeoutSeconds: 2, firstByteTimeoutSeconds: 2, metricsFile: false },
  });
  writeFileSync(join(root, DAEMON), "{}\n");
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
  script = join(dir, "apply-node-config.sh");
  writeFileSync(script, rendered.applyScript);
});

afterAll(async () => {
  if (state) await run("sh", [FAKE, "stop", "docker"], { env: env() });
  if (dir) {
    await run("umount", ["-l", join(dir, "data")]);
    await run("umount", ["-l", join(dir, "exec")]);
  }
  await containerd?.stop();
  await cache?.stop();
  await upstream?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the watchdog through the apply script", () => {
  it("apply writes the files and installs the service, enabled by systemctl on the node root", async () => {
    const res = await run("sh", [script, "apply"], { env: env() });
    expect(res.code, `${res.stdout}${res.stderr}`).toBe(0);
    expect(res.stdout).toContain(`watchdog: (re)started ${UNIT}`);
    expect(read(HOSTS)).toContain(`[host."${refusing}"]`);
    expect(read("/etc/registry-mirrors/apply-node-config.sh")).toBe(rendered.applyScript);
    // The real systemctl read the unit's [Install] section: linked and wanted by multi-user.target.
    expect(linked(`/etc/systemd/system/${UNIT}`)).toBe(true);
    expect(linked(`/etc/systemd/system/multi-user.target.wants/${UNIT}`)).toBe(true);
    const calls = readFileSync(join(state, "calls"), "utf8");
    expect(calls).toContain(`restart ${UNIT}`);
  });

  it("watch --once takes the refusing first mirror out; containerd pulls from the next one", async () => {
    const res = await run("sh", [script, "watch", "--once"], { env: env(), timeoutMs: 60_000 });
    expect(res.code, `${res.stdout}${res.stderr}`).toBe(0);
    expect(res.stdout).toContain(refusing);
    expect(read(HOSTS)).not.toContain(refusing);
    expect(read(HOSTS)).toContain(`[host."${cache.url}"]`);
    expect(read(REGISTRIES_CONF_DROPIN)).not.toContain(refusing.slice("http://".length));
    const status = JSON.parse(read("/var/lib/registry-mirrors/watchdog/status.json"));
    expect(status.endpoints[refusing].state).toBe("down");
    expect(status.endpoints[cache.url].state).toBe("up");

    const pull = await containerd.ctr(
      [
        ...["-n", "watch", "images", "pull", "--snapshotter", "native"],
        ...["--hosts-dir", join(root, "etc/containerd/certs.d"), "docker.io/library/hello:watch"],
      ],
      { timeoutMs: 60_000 },
    );
    expect(pull.code, pull.stderr).toBe(0);
    expect(cache.requests("/v2/library/hello/manifests/watch")).toBeGreaterThan(0);
  });

  it("check: the files are as the watchdog left them, dockerd uses them; the endpoint that is down is a problem", async () => {
    const res = await run("sh", [script, "check"], { env: env(), timeoutMs: 60_000 });
    expect(res.stdout).toContain(`ok: ${HOSTS} is the watchdog's effective file`);
    expect(res.stdout).toContain(`ok: dockerd uses daemon.json's mirrors ['${cache.url}']`);
    expect(res.stdout).toContain(`ok: ${cache.url} answers GET /v2/`);
    expect(problems(res.stdout)).toEqual([expect.stringContaining(`problem: ${refusing} does not answer GET /v2/`)]);
    expect(res.code).toBe(1);
  });

  it("check --readiness: the endpoint the watchdog took out is a note, not a failure (the node is ready)", async () => {
    const res = await run("sh", [script, "check", "--readiness"], { env: env(), timeoutMs: 60_000 });
    expect(res.code, res.stdout).toBe(0);
    expect(problems(res.stdout)).toEqual([]);
    expect(res.stdout).toContain(`note: ${refusing} is down (`);
    expect(res.stdout).toContain("the watchdog keeps it out of the effective files");
    expect(res.stdout).toContain(`ok: ${cache.url} answered the watchdog's last probe`);
    expect(res.stdout).toContain(`ok: ${HOSTS} is the watchdog's effective file`);
    expect(res.stdout).not.toContain("answers GET /v2/");
  });

  it("check: podman (containers/image) reads the CRI-O drop-in; a later drop-in that shadows it is a problem", async () => {
    const mirror = cache.hostPort;
    const dropIn = read(REGISTRIES_CONF_DROPIN);
    const ok = await run("sh", [script, "check"], { env: env(), timeoutMs: 60_000 });
    expect(ok.stdout).toContain(`ok: ${REGISTRIES_CONF_DROPIN} parses and no later drop-in redefines docker.io`);
    expect(ok.stdout).toContain(`ok: podman resolves docker.io through the drop-in: mirrors ['${mirror}']`);
    const later = join(root, "etc/containers/registries.conf.d/99-local.conf");
    writeFileSync(later, '[[registry]]\nprefix = "docker.io"\nlocation = "registry-1.docker.io"\n');
    try {
      for (const args of [["check"], ["check", "--readiness"]]) {
        const res = await run("sh", [script, ...args], { env: env(), timeoutMs: 60_000 });
        expect(problems(res.stdout)).toContainEqual(
          "problem: /etc/containers/registries.conf.d/99-local.conf is read after 50-registry-mirrors.conf and redefines docker.io, so CRI-O and podman use its entries, not the mirrors. Fix: remove those entries from /etc/containers/registries.conf.d/99-local.conf, or put the mirrors into the policy and delete the file",
        );
        expect(res.code).toBe(1);
      }
      // A drop-in podman refuses: check names podman's own error.
      writeFileSync(join(root, REGISTRIES_CONF_DROPIN), '[[registry]]\nprefix = "docker.io"\nlocation = 5\n');
      const broken = await run("sh", [script, "check"], { env: env(), timeoutMs: 60_000 });
      expect(problems(broken.stdout).join("\n")).toMatch(/is not the file this policy rendered/);
      expect(problems(broken.stdout).join("\n")).toMatch(/podman could not read the drop-in \(.+\)/);
    } finally {
      rmSync(later);
      writeFileSync(join(root, REGISTRIES_CONF_DROPIN), dropIn);
    }
  });

  it("check: a daemon.json dockerd was not reloaded for is a problem, with the reload as its fix", async () => {
    const daemon = JSON.parse(read(DAEMON));
    writeFileSync(
      join(root, DAEMON),
      `${JSON.stringify({ ...daemon, "registry-mirrors": [refusing, cache.url] }, null, 2)}\n`,
    );
    const res = await run("sh", [script, "check"], { env: env(), timeoutMs: 60_000 });
    expect(problems(res.stdout)).toEqual([
      `problem: dockerd uses the mirrors ['${cache.url}'], daemon.json lists ['${refusing}', '${cache.url}'] (it was not reloaded). Fix: reload it (SIGHUP; no restart): systemctl reload docker`,
      expect.stringContaining(`problem: ${refusing} does not answer GET /v2/`),
    ]);
    expect(res.code).toBe(1);
    // A node problem fails readiness too: only the endpoint the watchdog handles is forgiven.
    const ready = await run("sh", [script, "check", "--readiness"], { env: env(), timeoutMs: 60_000 });
    expect(problems(ready.stdout)).toEqual([expect.stringContaining("problem: dockerd uses the mirrors")]);
    expect(ready.code).toBe(1);
  });

  it("restore stops, disables and removes the service, and the files", async () => {
    const res = await run("sh", [script, "restore"], { env: env() });
    expect(res.code, `${res.stdout}${res.stderr}`).toBe(0);
    expect(res.stdout).toContain(`watchdog: removed ${UNIT}`);
    expect(linked(`/etc/systemd/system/${UNIT}`)).toBe(false);
    expect(linked(`/etc/systemd/system/multi-user.target.wants/${UNIT}`)).toBe(false);
    expect(existsSync(join(root, "etc/registry-mirrors"))).toBe(false);
    expect(existsSync(join(root, HOSTS))).toBe(false);
    const calls = readFileSync(join(state, "calls"), "utf8");
    expect(calls).toContain(`stop ${UNIT}`);
    expect(calls).toContain(`disable ${UNIT}`);
  });
});
