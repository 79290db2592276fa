/**
 * The rendered node apply script against real containerd 2.x daemons (each version scripts/build-containerd.sh
 * builds), restarted by the fake systemctl (fixtures/apply/fake-systemctl.sh), and then `crictl pull` (the kubelet's
 * path) of `docker.io/library/hello:v1`: Docker Hub is unreachable here, so a pull that succeeds was served by the
 * lab's mirror, whose log proves it.
 *
 * The script's config.toml lives under NODE_ROOT, but the daemon is not chrooted: the hosts folder is a unique
 * absolute path that is a symlink to its copy under NODE_ROOT, so the config_path the script writes (a node path)
 * names the folder the script filled.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { type NodeApplyPlan, renderApplyScript } from "../../components/core/node-script";
import { normalisePolicy } from "../../components/core/policy";
import { renderContainerdHosts } from "../../components/core/render/containerd";
import {
  buildLabTools,
  containerd2BaseConfig,
  containerdPaths,
  labTool,
  labToolList,
  pushTestImage,
  type Registry,
  run,
  runOk,
  startRegistry,
  tmpDir,
} from "./lab";

const FAKE = join(__dirname, "fixtures", "apply", "fake-systemctl.sh");
const VERSIONS = labToolList()
  .filter((t) => t.name === "containerd")
  .map((t) => t.version);
const IMAGE = "docker.io/library/hello:v1";
const MANIFEST = "/v2/library/hello/manifests/v1";
const IMAGES = 'plugins."io.containerd.cri.v1.images"';

const dirs: string[] = [];
const stops: Array<() => Promise<void>> = [];
let upstream: Registry;
let cache: Registry;

beforeAll(async () => {
  await buildLabTools();
  const dir = tmpDir("containerd2-apply");
  dirs.push(dir);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  stops.push(() => cache.stop());
}, 3_600_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function minor(version: string): number {
  const [major, min] = version.split(".").map(Number);
  return major * 100 + min;
}

/** A node: NODE_ROOT with config.toml, the hosts folder (symlinked), and a real containerd managed by PID. */
interface Node {
  root: string;
  /** The daemon's own folder (root, state, sockets). */
  cdir: string;
  state: string;
  address: string;
  /** The hosts folder's node path (also a real path: a symlink into NODE_ROOT). */
  hostsDir: string;
  /** A second, empty folder, as AL2023's /etc/docker/certs.d. */
  otherDir: string;
  config: string;
  bin: string;
  ctl(...args: string[]): ReturnType<typeof run>;
  pid(): string;
  log(): string;
}

async function makeNode(version: string): Promise<Node> {
  const dir = tmpDir(`c2apply-${version}`);
  dirs.push(dir);
  const root = join(dir, "root");
  const state = join(dir, "state");
  const cdir = join(dir, "containerd");
  const hostsDir = join(dir, "certs.d");
  const otherDir = join(dir, "docker-certs.d");
  for (const d of [join(root, "etc", "containerd"), join(root, hostsDir), state, cdir, otherDir]) {
    mkdirSync(d, { recursive: true });
  }
  symlinkSync(join(root, hostsDir), hostsDir);
  const bin = (await labTool("containerd", version)).bin;
  const config = join(root, "etc", "containerd", "config.toml");
  const address = containerdPaths(cdir).address;
  writeFileSync(join(state, "containerd.cmd"), `${join(bin, "containerd")} --config ${config}`);
  writeFileSync(join(state, "containerd.socket"), address);
  const ctl = (...args: string[]) => run("sh", [FAKE, ...args], { env: { ...process.env, LAB_STATE: state } });
  const node: Node = {
    root,
    cdir,
    state,
    address,
    hostsDir,
    otherDir,
    config,
    bin,
    ctl,
    pid: () => readFileSync(join(state, "containerd.pid"), "utf8").trim(),
    log: () => readFileSync(join(state, "containerd.log"), "utf8"),
  };
  stops.push(async () => void (await ctl("stop", "containerd")));
  return node;
}

/** Writes config.toml and starts containerd on it. */
async function start(node: Node, config: string): Promise<void> {
  writeFileSync(node.config, config);
  const res = await node.ctl("start", "containerd");
  if (res.code !== 0) throw new Error(`containerd did not start:\n${node.log()}`);
}

/** The lab config (version 3, CRI on, debug log) with `extra` appended. */
function labConfig(node: Node, extra = ""): string {
  return containerd2BaseConfig(node.cdir, { cri: true }) + extra;
}

/** `containerd config default` of this version (version 3, or 4 from 2.3) with the lab's root, state and sockets. */
async function defaultConfig(node: Node): Promise<string> {
  const res = await runOk(join(node.bin, "containerd"), ["config", "default"]);
  const p = containerdPaths(node.cdir);
  return res.stdout
    .replace("root = '/var/lib/containerd'", `root = '${p.root}'`)
    .replace("state = '/run/containerd'", `state = '${p.state}'`)
    .replaceAll("'/run/containerd/containerd.sock", `'${p.address}`)
    .replace("imports = ['/etc/containerd/conf.d/*.toml']", "imports = []")
    .replace(/(\[plugins\.'io\.containerd\.nri\.v1\.nri'\]\n\s+disable = )false/, "$1true");
}

function plan(node: Node, restartPolicy: NodeApplyPlan["restartPolicy"] = "if-needed"): NodeApplyPlan {
  const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors: [cache.url] } } });
  return {
    restartPolicy,
    containerd: { hostsDir: node.hostsDir, files: renderContainerdHosts(policy, { certsDir: node.hostsDir }) },
  };
}

async function apply(node: Node, p: NodeApplyPlan, mode = "apply") {
  const script = join(node.state, "apply-node-config.sh");
  writeFileSync(script, renderApplyScript(p));
  writeFileSync(join(node.state, "calls"), "");
  return run("sh", [script, mode], {
    env: {
      ...process.env,
      PATH: `${node.bin}:${process.env.PATH}`,
      NODE_ROOT: node.root,
      RUNTIME_CTL: `sh ${FAKE}`,
      LAB_STATE: node.state,
      CONTAINERD_ADDRESS: node.address,
      CONTAINERD_BIN: join(node.bin, "containerd"),
      VERIFY_SECONDS: "30",
    },
  });
}

async function crictlPull(node: Node) {
  const crictl = join((await labTool("crictl")).bin, "crictl");
  const endpoint = `unix://${node.address}`;
  const before = cache.requests(MANIFEST);
  const config = join(node.state, "crictl.yaml");
  writeFileSync(config, "timeout: 60\n");
  const res = await run(crictl, [
    "--config",
    config,
    "--runtime-endpoint",
    endpoint,
    "--image-endpoint",
    endpoint,
    "pull",
    IMAGE,
  ]);
  // Each test pulls once into a fresh root, so the mirror is asked again.
  return { ...res, viaMirror: cache.requests(MANIFEST) > before };
}

/** `containerd config dump` of the node's config succeeds and returns the CRI images plugin's settings. */
async function dumped(node: Node): Promise<Record<string, any>> {
  const res = await run(join(node.bin, "containerd"), ["--config", node.config, "config", "dump"]);
  expect(res.code, res.stderr).toBe(0);
  return (parseToml(res.stdout) as Record<string, any>).plugins["io.containerd.cri.v1.images"];
}

describe.each(VERSIONS)("apply script on containerd %s", (version) => {
  const transfer = minor(version) >= 201;

  it(`AL2023-like two-folder config_path with discard_unpacked_layers = false: ${transfer ? "bypassed before; the script sets use_local_image_pull = true and restarts" : "nothing to change (2.0 reads every folder)"}; crictl pull goes through the mirror`, async () => {
    const node = await makeNode(version);
    const config = labConfig(
      node,
      [
        `[${IMAGES}]`,
        "  discard_unpacked_layers = false",
        `[${IMAGES}.pinned_images]`,
        '  sandbox = "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.10"',
        `[${IMAGES}.registry]`,
        `  config_path = "${node.hostsDir}:${node.otherDir}"`,
        "",
      ].join("\n"),
    );
    await start(node, config);
    // The hosts file is already there: on 2.1+ the list alone makes CRI bypass it.
    const first = plan(node);
    for (const f of first.containerd!.files) {
      mkdirSync(join(f.path, ".."), { recursive: true });
      writeFileSync(f.path, f.content);
    }
    // A pull resolves the tag at the registry each time, so the mirror's log counts each pull.
    const before = await crictlPull(node);
    expect(before.viaMirror).toBe(!transfer);
    const pid = node.pid();
    const refused = await apply(node, plan(node, "never"));
    if (transfer) {
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("does not read, so CRI pulls would bypass the mirrors");
      expect(readFileSync(node.config, "utf8")).toBe(config);
    } else {
      expect(refused).toMatchObject({ code: 0, stderr: "" });
    }
    const res = await apply(node, plan(node));
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    if (transfer) {
      expect(res.stdout).toContain(`containerd: set use_local_image_pull = true in /etc/containerd/config.toml`);
      expect(res.stdout).toContain("containerd: restarted\n");
      expect(node.pid()).not.toBe(pid);
      expect(await dumped(node)).toMatchObject({ use_local_image_pull: true, discard_unpacked_layers: false });
    } else {
      expect(readFileSync(node.config, "utf8")).toBe(config);
      expect(node.pid()).toBe(pid);
    }
    const mark = node.log().length;
    const after = await crictlPull(node);
    expect(after.code, `${after.stdout}\n${after.stderr}`).toBe(0);
    expect(after.viaMirror).toBe(true);
    const log = node.log().slice(mark);
    expect(log).not.toContain("using transfer service");
    if (transfer) expect(log).toContain("using client.Pull()");
    expect((await apply(node, plan(node))).stdout).toBe("containerd: unchanged\n");
  });

  it("no config_path at all: bypassed before; the script adds config_path (one folder) and restarts; crictl pull goes through the mirror", async () => {
    const node = await makeNode(version);
    const config = labConfig(node);
    await start(node, config);
    expect((await crictlPull(node)).viaMirror).toBe(false);
    const res = await apply(node, plan(node));
    expect(res.stderr).toBe("");
    expect(res.stdout).toContain("containerd: set config_path in /etc/containerd/config.toml\ncontainerd: restarted\n");
    expect((await dumped(node)).registry.config_path).toBe(node.hostsDir);
    const mark = node.log().length;
    const after = await crictlPull(node);
    expect(after.code, `${after.stdout}\n${after.stderr}`).toBe(0);
    expect(after.viaMirror).toBe(true);
    if (transfer) expect(node.log().slice(mark)).toContain("using transfer service");
    const back = await apply(node, plan(node), "restore");
    expect(back.code).toBe(0);
    expect(readFileSync(node.config, "utf8")).toBe(config);
  });

  it("containerd's own default config (config_path = ''): the script sets config_path and crictl pull goes through the mirror", async () => {
    const node = await makeNode(version);
    const config = await defaultConfig(node);
    expect(config).toMatch(new RegExp(`^version = ${minor(version) >= 203 ? 4 : 3}\\n`));
    await start(node, config);
    expect((await crictlPull(node)).viaMirror).toBe(false);
    const res = await apply(node, plan(node));
    expect(res.stderr).toBe("");
    expect(res.stdout).toContain("containerd: set config_path in /etc/containerd/config.toml\ncontainerd: restarted\n");
    const lines = readFileSync(node.config, "utf8").split("\n");
    expect(lines.filter((l) => !config.split("\n").includes(l)).map((l) => l.trim())).toEqual([
      `config_path = "${node.hostsDir}"`,
    ]);
    const after = await crictlPull(node);
    expect(after.code, `${after.stdout}\n${after.stderr}`).toBe(0);
    expect(after.viaMirror).toBe(true);
  });
});
