/**
 * The node apply script against a real dockerd 20.10 whose daemon.json lives in a temp NODE_ROOT. A fake systemctl
 * (fixtures/apply/fake-systemctl.sh) manages that dockerd by PID: SIGHUP for reload, kill + start for restart.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { normalisePolicy } from "../../components/core/policy";
import { NodeApplyPlan, renderApplyScript } from "../../components/core/render/apply-script";
import { DockerSettingsInput, renderDocker } from "../../components/core/render/docker";
import { Containerd, Registry, pushTestImage, run, startContainerd, startRegistry, tmpDir } from "./lab";

const FAKE = join(__dirname, "fixtures", "apply", "fake-systemctl.sh");
const ORIGINAL = `${JSON.stringify({ labels: ["keep=me"], runtimes: { custom: { path: "runc" } }, "registry-mirrors": ["https://own.example"] }, null, 4)}\n`;

let dir: string;
let root: string;
let state: string;
let sock: string;
let containerd: Containerd;
let upstream: Registry;
let cache: Registry;
const daemonJson = () => join(root, "etc", "docker", "daemon.json");

const ctl = (...args: string[]) => run("sh", [FAKE, ...args], { env: { ...process.env, LAB_STATE: state } });
const pid = () => readFileSync(join(state, "docker.pid"), "utf8").trim();
const docker = (args: string[]) => run("docker", ["-H", `unix://${sock}`, ...args], { env: { ...process.env, DOCKER_CONFIG: join(dir, "client") } });

async function mirrors(): Promise<string[]> {
  const res = await docker(["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
  expect(res.code).toBe(0);
  return (JSON.parse(res.stdout) as string[] | null) ?? [];
}

function plan(mirrorUrls: string[], settings: DockerSettingsInput = {}, restartPolicy: NodeApplyPlan["restartPolicy"] = "never", allowMirrorPaths = false): NodeApplyPlan {
  const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors: mirrorUrls } }, allowMirrorPaths });
  return { restartPolicy, docker: { desired: renderDocker(policy, settings).desired } };
}

async function apply(p: NodeApplyPlan, mode = "apply", verifySeconds = "20") {
  const script = join(dir, "apply-node-config.sh");
  writeFileSync(script, renderApplyScript(p));
  writeFileSync(join(state, "calls"), "");
  const res = await run("sh", [script, mode], {
    env: {
      ...process.env,
      NODE_ROOT: root,
      RUNTIME_CTL: `sh ${FAKE}`,
      LAB_STATE: state,
      DOCKER_HOST: `unix://${sock}`,
      DOCKER_CONFIG: join(dir, "client"),
      VERIFY_SECONDS: verifySeconds,
    },
  });
  const calls = readFileSync(join(state, "calls"), "utf8").trim();
  return { ...res, calls: calls === "" ? [] : calls.split("\n") };
}

beforeAll(async () => {
  dir = tmpDir("apply-docker");
  root = join(dir, "root");
  state = join(dir, "state");
  sock = join(dir, "docker.sock");
  mkdirSync(join(root, "etc", "docker"), { recursive: true });
  mkdirSync(state);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  containerd = await startContainerd({ dir: join(dir, "containerd") });
  writeFileSync(daemonJson(), ORIGINAL);
  writeFileSync(join(state, "docker.cmd"), [
    "dockerd", "--config-file", daemonJson(), "--data-root", join(dir, "data"), "--exec-root", join(dir, "exec"),
    "--pidfile", join(dir, "docker.pid"), "-H", `unix://${sock}`, "--containerd", containerd.address,
    "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
  ].join(" "));
  writeFileSync(join(state, "docker.socket"), sock);
  const started = await ctl("start", "docker");
  if (started.code !== 0) throw new Error(`dockerd did not start:\n${readFileSync(join(state, "docker.log"), "utf8")}`);
});

afterAll(async () => {
  if (state) await ctl("stop", "docker");
  if (dir) {
    await run("umount", ["-l", join(dir, "data")]);
    await run("umount", ["-l", join(dir, "exec")]);
  }
  await containerd?.stop();
  await cache?.stop();
  await upstream?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("apply script on a real dockerd", () => {
  it("reloads dockerd (same PID) with the new mirrors in order and keeps the keys it does not manage", async () => {
    expect(await mirrors()).toEqual(["https://own.example/"]);
    const before = pid();
    const res = await apply(plan([cache.url, "https://second.example"]));
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe("docker: wrote /etc/docker/daemon.json\ndocker: reloaded\n");
    expect(res.code).toBe(0);
    expect(pid()).toBe(before);
    expect(await mirrors()).toEqual([`${cache.url}/`, "https://second.example/"]);
    const file = JSON.parse(readFileSync(daemonJson(), "utf8")) as Record<string, unknown>;
    expect(file.labels).toEqual(["keep=me"]);
    expect(file.runtimes).toEqual({ custom: { path: "runc" } });
    expect((await docker(["info", "--format", "{{json .Runtimes}}"])).stdout).toContain("custom");
    expect(readFileSync(`${daemonJson()}.registry-mirrors.bak`, "utf8")).toBe(ORIGINAL);
  });

  it("pulls docker.io/library/hello:v1 through the mirror the reload put in place", async () => {
    const pull = await docker(["pull", "docker.io/library/hello:v1"]);
    expect(pull.code).toBe(0);
    expect(cache.requests("/v2/library/hello/manifests/v1")).toBeGreaterThan(0);
  });

  it("is a no-op on the second run: no write, no systemctl call", async () => {
    const mtime = statSync(daemonJson()).mtimeMs;
    const res = await apply(plan([cache.url, "https://second.example"]));
    expect(res).toMatchObject({ code: 0, stdout: "docker: unchanged\n", stderr: "", calls: [] });
    expect(statSync(daemonJson()).mtimeMs).toBe(mtime);
  });

  it("leaves a corrupt daemon.json untouched, exits non-zero, and dockerd keeps running", async () => {
    const good = readFileSync(daemonJson(), "utf8");
    const before = pid();
    writeFileSync(daemonJson(), "{\"registry-mirrors\": [\n");
    try {
      const res = await apply(plan(["https://third.example"]));
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/docker: \/etc\/docker\/daemon\.json is not valid JSON \(.+\); nothing was changed/);
      expect(readFileSync(daemonJson(), "utf8")).toBe("{\"registry-mirrors\": [\n");
      expect(res.calls).toEqual([]);
      expect(pid()).toBe(before);
    } finally {
      writeFileSync(daemonJson(), good);
    }
  });

  it("puts the file back when dockerd rejects the reload (a mirror path dockerd 20.10 refuses) and keeps the old mirrors", async () => {
    const good = readFileSync(daemonJson(), "utf8");
    const before = pid();
    const res = await apply(plan(["https://fourth.example/with/path"], {}, "never", true), "apply", "5");
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/docker: docker did not come back within 5s after the reload .*the previous files were put back and docker reloaded again/);
    expect(readFileSync(daemonJson(), "utf8")).toBe(good);
    expect(pid()).toBe(before);
    expect(await mirrors()).toEqual([`${cache.url}/`, "https://second.example/"]);
    expect(readFileSync(join(state, "docker.log"), "utf8")).toContain("invalid mirror");
  });

  it("refuses a change that needs a restart under restartPolicy never, and restarts dockerd when it is allowed", async () => {
    const settings: DockerSettingsInput = { execOpts: ["native.cgroupdriver=cgroupfs"] };
    const before = pid();
    const refused = await apply(plan([cache.url, "https://second.example"], settings, "never"));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("changing exec-opts in /etc/docker/daemon.json needs a restart of docker");
    expect(pid()).toBe(before);

    const res = await apply(plan([cache.url, "https://second.example"], settings, "if-needed"));
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe("docker: wrote /etc/docker/daemon.json\ndocker: restarted\n");
    expect(pid()).not.toBe(before);
    expect((await docker(["info", "--format", "{{.CgroupDriver}}"])).stdout.trim()).toBe("cgroupfs");
    expect(await mirrors()).toEqual([`${cache.url}/`, "https://second.example/"]);
  });

  it("restores the previous daemon.json and restarts again when dockerd does not come back", async () => {
    const good = readFileSync(daemonJson(), "utf8");
    // The lab passes --storage-driver on dockerd's command line: the same key in the file makes dockerd refuse to
    // start, as it does on a node whose unit file sets a flag the file also sets.
    const res = await apply(plan([cache.url], { execOpts: ["native.cgroupdriver=cgroupfs"], storageDriver: "overlay2" }, "if-needed"));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/docker: docker did not come back within 20s after the restart .*the previous files were put back and docker restarted again/);
    expect(readFileSync(daemonJson(), "utf8")).toBe(good);
    expect((await ctl("is-active", "--quiet", "docker")).code).toBe(0);
    expect(await mirrors()).toEqual([`${cache.url}/`, "https://second.example/"]);
    expect(readFileSync(join(state, "docker.log"), "utf8")).toContain("specified both as a flag and in the configuration file: storage-driver");
  });

  it("restore puts the node's original daemon.json back byte for byte", async () => {
    const res = await apply(plan([cache.url], {}, "if-needed"), "restore");
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe("docker: restored /etc/docker/daemon.json\ndocker: restarted\n");
    expect(readFileSync(daemonJson(), "utf8")).toBe(ORIGINAL);
    expect(await mirrors()).toEqual(["https://own.example/"]);
  });
});
