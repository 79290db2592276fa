/**
 * The node apply script against a real dockerd 20.10 whose daemon.json lives in a temp NODE_ROOT. A fake systemctl
 * (fixtures/apply/fake-systemctl.sh) manages that dockerd by PID: SIGHUP for reload, kill + start for restart.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { normalisePolicy } from "../../components/core/policy";
import { type NodeApplyPlan, renderApplyScript } from "../../components/core/node-script";
import { type DockerSettingsInput, renderDocker } from "../../components/core/render/docker";
import {
  type Containerd,
  type Registry,
  pushTestImage,
  run,
  startContainerd,
  startRegistry,
  tmpDir,
  waitFor,
} from "./lab";

const FAKE = join(__dirname, "fixtures", "apply", "fake-systemctl.sh");
const ORIGINAL = `${JSON.stringify({ labels: ["keep=me"], runtimes: { custom: { path: "runc" } }, "registry-mirrors": ["https://own.example"] }, null, 4)}\n`;

let dir: string;
let containerd: Containerd;
let upstream: Registry;
let cache: Registry;

/** A lab node: a NODE_ROOT holding daemon.json, and a dockerd the fake systemctl manages from `state`. */
interface LabNode {
  root: string;
  state: string;
  sock: string;
  daemonJson: string;
  ctl(...args: string[]): ReturnType<typeof run>;
  pid(): string;
  docker(args: string[]): ReturnType<typeof run>;
  mirrors(): Promise<string[]>;
  apply(
    p: NodeApplyPlan,
    mode?: string,
    verifySeconds?: string,
  ): Promise<{ code: number; stdout: string; stderr: string; calls: string[] }>;
  stop(): Promise<void>;
}
const nodes: LabNode[] = [];

async function startNode(name: string, original: string, link?: string): Promise<LabNode> {
  const base = join(dir, name);
  const root = join(base, "root");
  const state = join(base, "state");
  const sock = join(base, "docker.sock");
  const daemonJson = join(root, "etc", "docker", "daemon.json");
  mkdirSync(join(root, "etc", "docker"), { recursive: true });
  mkdirSync(state);
  if (link) {
    // A relative link: dockerd (through the kernel) and the script (under NODE_ROOT) resolve it the same way.
    mkdirSync(join(root, "etc", "docker", link, ".."), { recursive: true });
    writeFileSync(join(root, "etc", "docker", link), original);
    symlinkSync(link, daemonJson);
  } else {
    writeFileSync(daemonJson, original);
  }
  const env = { ...process.env, LAB_STATE: state, DOCKER_CONFIG: join(base, "client") };
  const ctl = (...args: string[]) => run("sh", [FAKE, ...args], { env });
  const docker = (args: string[]) => run("docker", ["-H", `unix://${sock}`, ...args], { env });
  const node: LabNode = {
    root,
    state,
    sock,
    daemonJson,
    ctl,
    docker,
    pid: () => readFileSync(join(state, "docker.pid"), "utf8").trim(),
    async mirrors() {
      const res = await docker(["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
      expect(res.code).toBe(0);
      return (JSON.parse(res.stdout) as string[] | null) ?? [];
    },
    async apply(p, mode = "apply", verifySeconds = "20") {
      const script = join(base, "apply-node-config.sh");
      writeFileSync(script, renderApplyScript(p));
      writeFileSync(join(state, "calls"), "");
      const res = await run("sh", [script, mode], {
        env: {
          ...env,
          NODE_ROOT: root,
          RUNTIME_CTL: `sh ${FAKE}`,
          DOCKER_HOST: `unix://${sock}`,
          VERIFY_SECONDS: verifySeconds,
        },
      });
      const calls = readFileSync(join(state, "calls"), "utf8").trim();
      return { ...res, calls: calls === "" ? [] : calls.split("\n") };
    },
    async stop() {
      await ctl("stop", "docker");
      await run("umount", ["-l", join(base, "data")]);
      await run("umount", ["-l", join(base, "exec")]);
    },
  };
  writeFileSync(
    join(state, "docker.cmd"),
    [
      "dockerd",
      "--config-file",
      daemonJson,
      "--data-root",
      join(base, "data"),
      "--exec-root",
      join(base, "exec"),
      "--pidfile",
      join(base, "docker.pid"),
      "-H",
      `unix://${sock}`,
      "--containerd",
      containerd.address,
      "--iptables=false",
      "--ip6tables=false",
      "--bridge=none",
      "--storage-driver=vfs",
    ].join(" "),
  );
  writeFileSync(join(state, "docker.socket"), sock);
  nodes.push(node);
  const started = await ctl("start", "docker");
  if (started.code !== 0) throw new Error(`dockerd did not start:\n${readFileSync(join(state, "docker.log"), "utf8")}`);
  return node;
}

function plan(
  mirrorUrls: string[],
  settings: DockerSettingsInput = {},
  restartPolicy: NodeApplyPlan["restartPolicy"] = "never",
  allowMirrorPaths = false,
): NodeApplyPlan {
  const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors: mirrorUrls } }, allowMirrorPaths });
  return { restartPolicy, docker: { desired: renderDocker(policy, settings).desired } };
}

const restarts = (calls: string[]) =>
  calls.filter((c) => c.startsWith("restart") || c.startsWith("stop") || c.startsWith("start"));

beforeAll(async () => {
  dir = tmpDir("apply-docker");
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  containerd = await startContainerd({ dir: join(dir, "containerd") });
});

afterAll(async () => {
  for (const node of nodes) await node.stop();
  await containerd?.stop();
  await cache?.stop();
  await upstream?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("apply script on a real dockerd", () => {
  let node: LabNode;
  let daemonJson: () => string;
  let pid: () => string;
  let docker: LabNode["docker"];
  let mirrors: LabNode["mirrors"];
  let apply: LabNode["apply"];
  let state: string;
  const ctl = (...args: string[]) => node.ctl(...args);
  beforeAll(async () => {
    node = await startNode("first", ORIGINAL);
    ({ pid, docker, mirrors, apply, state } = node);
    daemonJson = () => node.daemonJson;
  });

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
    writeFileSync(daemonJson(), '{"registry-mirrors": [\n');
    try {
      const res = await apply(plan(["https://third.example"]));
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/docker: \/etc\/docker\/daemon\.json is not valid JSON \(.+\); nothing was changed/);
      expect(readFileSync(daemonJson(), "utf8")).toBe('{"registry-mirrors": [\n');
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
    expect(res.stderr).toMatch(
      /docker: docker did not come back within 5s after the reload .*the previous files were put back and docker reloaded again/,
    );
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
    const res = await apply(
      plan([cache.url], { execOpts: ["native.cgroupdriver=cgroupfs"], storageDriver: "overlay2" }, "if-needed"),
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /docker: docker did not come back within 20s after the restart .*the previous files were put back and docker restarted again/,
    );
    expect(readFileSync(daemonJson(), "utf8")).toBe(good);
    expect((await ctl("is-active", "--quiet", "docker")).code).toBe(0);
    expect(await mirrors()).toEqual([`${cache.url}/`, "https://second.example/"]);
    expect(readFileSync(join(state, "docker.log"), "utf8")).toContain(
      "specified both as a flag and in the configuration file: storage-driver",
    );
  });

  it("restore puts the node's original daemon.json back byte for byte", async () => {
    const res = await apply(plan([cache.url], {}, "if-needed"), "restore");
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe("docker: restored /etc/docker/daemon.json\ndocker: restarted\n");
    expect(readFileSync(daemonJson(), "utf8")).toBe(ORIGINAL);
    expect(await mirrors()).toEqual(["https://own.example/"]);
  });
});

describe("apply script on a real dockerd: dropped keys and restore with a reload only", () => {
  // No registry-mirrors of its own, and a layout the script would never write: restore must give these bytes back.
  const NO_MIRRORS = `{"labels":["keep=me"],\n\t"max-concurrent-uploads": 3}\n`;
  const OWN_MIRROR = `{ "registry-mirrors": [ "https://own.example" ] }\n`;
  let node: LabNode;
  let pid: string;
  const insecure = async () =>
    (await node.docker(["info", "--format", "{{json .RegistryConfig.InsecureRegistryCIDRs}}"])).stdout.trim();
  const labels = async () => (await node.docker(["info", "--format", "{{json .Labels}}"])).stdout.trim();

  beforeAll(async () => {
    node = await startNode("reload-only", NO_MIRRORS);
    pid = node.pid();
  });

  it("a policy change dropping insecure-registries reloads (no restart) and dockerd forgets them", async () => {
    const first = await node.apply(plan([cache.url], { insecureRegistries: ["10.99.0.0/16"] }));
    expect(first).toMatchObject({
      code: 0,
      stdout: "docker: wrote /etc/docker/daemon.json\ndocker: reloaded\n",
      stderr: "",
    });
    expect(await insecure()).toBe('["10.99.0.0/16","127.0.0.0/8"]');

    const res = await node.apply(plan([cache.url]));
    expect(res).toMatchObject({
      code: 0,
      stdout: "docker: wrote /etc/docker/daemon.json\ndocker: reloaded\n",
      stderr: "",
    });
    expect(restarts(res.calls)).toEqual([]);
    expect(res.calls).toContain("reload docker");
    expect(node.pid()).toBe(pid);
    expect(await insecure()).toBe('["127.0.0.0/8"]');
    expect(await node.mirrors()).toEqual([`${cache.url}/`]);
    const file = JSON.parse(readFileSync(node.daemonJson, "utf8")) as Record<string, unknown>;
    expect(file).toEqual({ labels: ["keep=me"], "max-concurrent-uploads": 3, "registry-mirrors": [cache.url] });
    expect(await node.apply(plan([cache.url]))).toMatchObject({ code: 0, stdout: "docker: unchanged\n", calls: [] });
  });

  it("restore after apply: the original bytes back, same PID, no mirrors, and a reload only", async () => {
    expect(await labels()).toBe('["keep=me"]');
    await node.apply(
      plan([cache.url, "https://second.example"], { insecureRegistries: ["10.98.0.0/16"], labels: { pool: "ci" } }),
    );
    expect(await labels()).toBe('["pool=ci"]');

    const res = await node.apply(plan([cache.url]), "restore");
    expect(res).toMatchObject({
      code: 0,
      stdout: "docker: reloaded\ndocker: restored /etc/docker/daemon.json\n",
      stderr: "",
    });
    expect(restarts(res.calls)).toEqual([]);
    expect(res.calls.filter((c) => c === "reload docker")).toHaveLength(1);
    expect(readFileSync(node.daemonJson, "utf8")).toBe(NO_MIRRORS);
    expect(node.pid()).toBe(pid);
    expect(await node.mirrors()).toEqual([]);
    expect(await insecure()).toBe('["127.0.0.0/8"]');
    expect(await labels()).toBe('["keep=me"]');
  });

  it("restore after apply on a node with its own mirror: its mirror back, same PID, a reload only", async () => {
    writeFileSync(node.daemonJson, OWN_MIRROR);
    expect((await node.ctl("reload", "docker")).code).toBe(0);
    await waitFor(
      "dockerd to take its own mirror",
      async () => JSON.stringify(await node.mirrors()) === '["https://own.example/"]',
    );
    expect((await node.apply(plan([cache.url], { insecureRegistries: ["10.97.0.0/16"] }))).code).toBe(0);
    expect(await node.mirrors()).toEqual([`${cache.url}/`]);

    const res = await node.apply(plan([cache.url]), "restore");
    expect(res).toMatchObject({
      code: 0,
      stdout: "docker: reloaded\ndocker: restored /etc/docker/daemon.json\n",
      stderr: "",
    });
    expect(restarts(res.calls)).toEqual([]);
    expect(readFileSync(node.daemonJson, "utf8")).toBe(OWN_MIRROR);
    expect(node.pid()).toBe(pid);
    expect(await node.mirrors()).toEqual(["https://own.example/"]);
    expect(await insecure()).toBe('["127.0.0.0/8"]');
  });
});

describe("apply script on a real dockerd: a symlinked daemon.json and a managed key the policy drops", () => {
  const OWN = `{"labels": ["keep=me"], "max-concurrent-uploads": 3}\n`;
  // Under NODE_ROOT a link must lead into a folder the run writes (all the DaemonSet mounts): /etc/docker.
  const LINK = "own/daemon.json";
  let node: LabNode;
  let target: string;
  const labels = async () => (await node.docker(["info", "--format", "{{json .Labels}}"])).stdout.trim();

  beforeAll(async () => {
    node = await startNode("linked", OWN, LINK);
    target = join(node.root, "etc", "docker", "own", "daemon.json");
  });

  it("writes through the link (dockerd reloads the new mirrors) and a dropped labels key returns to the node's own value", async () => {
    expect(await labels()).toBe('["keep=me"]');
    const first = await node.apply(plan([cache.url], { labels: { pool: "ci" } }));
    expect(first).toMatchObject({ code: 0, stderr: "" });
    expect(lstatSync(node.daemonJson).isSymbolicLink()).toBe(true);
    expect(readlinkSync(node.daemonJson)).toBe(LINK);
    expect(JSON.parse(readFileSync(target, "utf8"))).toMatchObject({
      labels: ["pool=ci"],
      "registry-mirrors": [cache.url],
    });
    expect(await node.mirrors()).toEqual([`${cache.url}/`]);
    expect(await labels()).toBe('["pool=ci"]');
    expect(
      readdirSync(join(node.root, "etc", "docker", "own")).filter((n) => /\.registry-mirrors\.\d+$/.test(n)),
    ).toEqual([]);

    // The policy stops managing labels: the node's own value (kept at the first apply) comes back, and dockerd has it.
    const dropped = await node.apply(plan([cache.url]));
    expect(dropped).toMatchObject({
      code: 0,
      stdout: "docker: wrote /etc/docker/daemon.json\ndocker: reloaded\n",
      stderr: "",
    });
    expect(JSON.parse(readFileSync(target, "utf8"))).toEqual({
      labels: ["keep=me"],
      "max-concurrent-uploads": 3,
      "registry-mirrors": [cache.url],
    });
    expect(await labels()).toBe('["keep=me"]');
    expect(readlinkSync(node.daemonJson)).toBe(LINK);
  });

  it("restore puts the node's bytes back through the link, and the link stays", async () => {
    const res = await node.apply(plan([cache.url]), "restore");
    expect(res).toMatchObject({ code: 0, stderr: "" });
    expect(lstatSync(node.daemonJson).isSymbolicLink()).toBe(true);
    expect(readlinkSync(node.daemonJson)).toBe(LINK);
    expect(readFileSync(target, "utf8")).toBe(OWN);
    expect(await node.mirrors()).toEqual([]);
    expect(await labels()).toBe('["keep=me"]');
  });
});
