/**
 * The node apply script against a real containerd 1.6 with its CRI plugin enabled, whose config.toml lives in a temp
 * NODE_ROOT; the fake systemctl (fixtures/apply/fake-systemctl.sh) restarts it by PID.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { type NodeApplyPlan, renderApplyScript } from "../../components/core/node-script";
import { containerdBaseConfig, containerdPaths, run, tmpDir } from "./lab";

const FAKE = join(__dirname, "fixtures", "apply", "fake-systemctl.sh");
const DIR = "/etc/containerd/certs.d";
const HUB = `${DIR}/docker.io/hosts.toml`;

let dir: string;
let root: string;
let state: string;
let address: string;
let base: string;
const configFile = () => join(root, "etc", "containerd", "config.toml");
const ctl = (...args: string[]) => run("sh", [FAKE, ...args], { env: { ...process.env, LAB_STATE: state } });
const pid = () => readFileSync(join(state, "containerd.pid"), "utf8").trim();

const plan = (restartPolicy: NodeApplyPlan["restartPolicy"]): NodeApplyPlan => ({
  restartPolicy,
  containerd: {
    hostsDir: DIR,
    files: [
      {
        path: HUB,
        content:
          'server = "https://registry-1.docker.io"\n\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n',
        mode: 0o644,
      },
    ],
  },
});

async function apply(p: NodeApplyPlan, mode = "apply") {
  const script = join(dir, "apply-node-config.sh");
  writeFileSync(script, renderApplyScript(p));
  writeFileSync(join(state, "calls"), "");
  const res = await run("sh", [script, mode], {
    env: {
      ...process.env,
      NODE_ROOT: root,
      RUNTIME_CTL: `sh ${FAKE}`,
      LAB_STATE: state,
      CONTAINERD_ADDRESS: address,
      VERIFY_SECONDS: "20",
    },
  });
  const calls = readFileSync(join(state, "calls"), "utf8").trim();
  return { ...res, calls: calls === "" ? [] : calls.split("\n") };
}

/** The status `ctr plugins ls` gives the CRI plugin ("ok", "error", ...). */
async function criStatus(): Promise<string> {
  const res = await run("ctr", ["--address", address, "plugins", "ls"]);
  const line = res.stdout.split("\n").find((l) => /^io\.containerd\.grpc\.v1\s+cri\s/.test(l));
  return line?.trim().split(/\s+/).pop() ?? "missing";
}

/** config_path as containerd itself sees it after merging the imports (`containerd config dump`). */
async function dumpedConfigPath(): Promise<string> {
  const res = await run("containerd", ["--config", configFile(), "config", "dump"]);
  expect(res.code).toBe(0);
  const doc = parseToml(res.stdout) as Record<string, any>;
  return doc.plugins["io.containerd.grpc.v1.cri"].registry.config_path as string;
}

async function restartWith(config: string): Promise<void> {
  writeFileSync(configFile(), config);
  expect((await ctl("restart", "containerd")).code).toBe(0);
}

beforeAll(async () => {
  dir = tmpDir("apply-containerd");
  root = join(dir, "root");
  state = join(dir, "state");
  mkdirSync(join(root, "etc", "containerd"), { recursive: true });
  mkdirSync(state);
  const cdir = join(dir, "containerd");
  mkdirSync(cdir);
  address = containerdPaths(cdir).address;
  base = containerdBaseConfig(cdir, true);
  writeFileSync(configFile(), base);
  writeFileSync(join(state, "containerd.cmd"), `containerd --config ${configFile()}`);
  writeFileSync(join(state, "containerd.socket"), address);
  const started = await ctl("start", "containerd");
  if (started.code !== 0)
    throw new Error(`containerd did not start:\n${readFileSync(join(state, "containerd.log"), "utf8")}`);
});

afterAll(async () => {
  if (state) await ctl("stop", "containerd");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("apply script on a real containerd 1.6 with CRI", () => {
  it("the CRI plugin starts cleanly on the lab config", async () => {
    expect(await criStatus()).toBe("ok");
  });

  it("refuses under restartPolicy never: config_path is missing and setting it needs a restart; nothing is written", async () => {
    const before = pid();
    const res = await apply(plan("never"));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("does not set config_path, so containerd would ignore the hosts.toml mirrors");
    expect(readFileSync(configFile(), "utf8")).toBe(base);
    expect(pid()).toBe(before);
  });

  it("with restarts allowed, adds config_path, restarts containerd, and the CRI plugin comes back", async () => {
    const before = pid();
    const res = await apply(plan("if-needed"));
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe(
      `containerd: wrote ${HUB}\ncontainerd: set config_path in /etc/containerd/config.toml\ncontainerd: restarted\n`,
    );
    expect(pid()).not.toBe(before);
    expect(await criStatus()).toBe("ok");
    const doc = parseToml(readFileSync(configFile(), "utf8")) as Record<string, any>;
    expect(doc.plugins["io.containerd.grpc.v1.cri"].registry.config_path).toBe(DIR);
    expect(readFileSync(configFile(), "utf8").startsWith(base)).toBe(true);
    // Second run: nothing to do.
    expect(await apply(plan("if-needed"))).toMatchObject({ code: 0, stdout: "containerd: unchanged\n", calls: [] });
  });

  it("restore puts the original config back and restarts containerd", async () => {
    const res = await apply(plan("if-needed"), "restore");
    expect(res.stdout).toBe(
      `containerd: removed ${HUB}\ncontainerd: restored /etc/containerd/config.toml\ncontainerd: restarted\n`,
    );
    expect(readFileSync(configFile(), "utf8")).toBe(base);
    expect(await criStatus()).toBe("ok");
  });

  it("refuses to touch a config with inline registry.mirrors, which containerd runs with today", async () => {
    const inline = `${base}\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["http://127.0.0.1:5000"]\n`;
    await restartWith(inline);
    expect(await criStatus()).toBe("ok");
    const before = pid();
    const res = await apply(plan("if-needed"));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      "sets the deprecated inline registry.mirrors, which containerd refuses together with config_path",
    );
    expect(readFileSync(configFile(), "utf8")).toBe(inline);
    expect(pid()).toBe(before);
    expect(res.calls).toEqual([]);
  });

  it("a CRI section in an imported file replaces config.toml's: containerd ignores a config_path set in the main file", async () => {
    // This is containerd's merge rule the script follows (seen here on 1.6): an imported file's plugin section wins.
    const dropIn = join(root, "etc", "containerd", "conf.d", "10-cri.toml");
    mkdirSync(join(root, "etc", "containerd", "conf.d"), { recursive: true });
    writeFileSync(
      dropIn,
      'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.9"\n',
    );
    const main =
      base.replace("version = 2\n", `version = 2\nimports = ["conf.d/10-cri.toml"]\n`) +
      `\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/somewhere/else"\n`;
    writeFileSync(configFile(), main);
    expect(await dumpedConfigPath()).toBe("");
  });

  it("so the script sets config_path in that imported file, and containerd's merged config has it after the restart", async () => {
    const dropIn = join(root, "etc", "containerd", "conf.d", "10-cri.toml");
    const main = readFileSync(configFile(), "utf8");
    await restartWith(main);
    const res = await apply(plan("if-needed"));
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe(
      `containerd: wrote ${HUB}\ncontainerd: set config_path in /etc/containerd/conf.d/10-cri.toml\ncontainerd: restarted\n`,
    );
    expect(readFileSync(configFile(), "utf8")).toBe(main);
    expect(readFileSync(dropIn, "utf8")).toContain(`config_path = "${DIR}"`);
    expect(await dumpedConfigPath()).toBe(DIR);
    expect(await criStatus()).toBe("ok");
    expect((await apply(plan("if-needed"), "restore")).code).toBe(0);
    expect(await dumpedConfigPath()).toBe("");
  });

  it("and it refuses when that imported file sets inline mirrors, naming the file", async () => {
    const mirrorsFile = join(root, "etc", "containerd", "conf.d", "20-mirrors.toml");
    writeFileSync(
      mirrorsFile,
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["http://127.0.0.1:5000"]\n',
    );
    writeFileSync(
      configFile(),
      readFileSync(configFile(), "utf8").replace(
        'imports = ["conf.d/10-cri.toml"]',
        'imports = ["conf.d/10-cri.toml", "conf.d/20-mirrors.toml"]',
      ),
    );
    const res = await apply(plan("if-needed"));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      "containerd: /etc/containerd/conf.d/20-mirrors.toml sets the deprecated inline registry.mirrors",
    );
    expect(res.calls).toEqual([]);
    await restartWith(base);
  });
});

describe("apply script on a real containerd: a symlinked config.toml and hosts.toml", () => {
  it("writes through both links, containerd reads the new config_path after the restart, and restore keeps the links", async () => {
    // Under NODE_ROOT a link must lead into a folder the run writes (all the DaemonSet mounts): /etc/containerd.
    const own = join(root, "etc", "containerd", "own");
    const target = join(own, "config.toml");
    const hubTarget = join(own, "hub-hosts.toml");
    mkdirSync(own, { recursive: true });
    writeFileSync(target, base);
    writeFileSync(hubTarget, 'server = "https://registry-1.docker.io"\n');
    rmSync(configFile());
    // Relative links: the kernel (for containerd) and the script (under NODE_ROOT) resolve them the same way.
    symlinkSync("own/config.toml", configFile());
    mkdirSync(join(root, DIR, "docker.io"), { recursive: true });
    symlinkSync("../../own/hub-hosts.toml", join(root, HUB));
    expect((await ctl("restart", "containerd")).code).toBe(0);
    const links = () => [configFile(), join(root, HUB)].map((p) => [lstatSync(p).isSymbolicLink(), readlinkSync(p)]);
    const before = links();

    const res = await apply(plan("if-needed"));
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(links()).toEqual(before);
    expect(readFileSync(target, "utf8")).toContain(`config_path = "${DIR}"`);
    expect(readFileSync(hubTarget, "utf8")).toContain("http://127.0.0.1:5000");
    expect(await dumpedConfigPath()).toBe(DIR);
    expect(await criStatus()).toBe("ok");
    expect(readdirSync(own).filter((n) => /\.registry-mirrors\.\d+$/.test(n))).toEqual([]);

    const back = await apply(plan("if-needed"), "restore");
    expect(back.stderr).toBe("");
    expect(back.code).toBe(0);
    expect(links()).toEqual(before);
    expect(readFileSync(target, "utf8")).toBe(base);
    expect(readFileSync(hubTarget, "utf8")).toBe('server = "https://registry-1.docker.io"\n');
    expect(await dumpedConfigPath()).toBe("");
    expect(await criStatus()).toBe("ok");
    rmSync(configFile());
    await restartWith(base);
  });
});
