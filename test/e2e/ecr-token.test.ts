/**
 * The ECR token refresher against real registries and a real containerd 1.6. The "ECR" mirror is a registry that,
 * like ECR, wants Basic auth with user AWS and a token as password (htpasswd), and is a pull-through cache of a plain
 * upstream that also serves as the next mirror. The plan is built directly (the policy accepts auth "ecr" only on real
 * ECR hosts): the rendered hosts.toml with `ecrAuth` naming the local mirror. A fake `aws` (AWS_CLI) prints the token
 * the way `aws ecr get-authorization-token --output text` does: base64 of "AWS:password". The fake systemctl
 * (fixtures/apply/fake-systemctl.sh) links and enables units with the real systemctl on NODE_ROOT.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { normalisePolicy } from "../../components/core/policy";
import { type NodeApplyPlan, renderApplyScript } from "../../components/core/node-script";
import { renderContainerdHosts } from "../../components/core/render/containerd";
import {
  type Containerd,
  type Daemon,
  freePort,
  pushTestImage,
  type Registry,
  run,
  startContainerd,
  startRegistry,
  tmpDir,
  waitFor,
} from "./lab";

const FAKE_CTL = join(__dirname, "fixtures", "apply", "fake-systemctl.sh");
const DIR = "/etc/containerd/certs.d";
const HUB = `${DIR}/docker.io/hosts.toml`;
const ECR_DIR = "/etc/containerd/registry-mirrors";
const UNIT = "registry-mirrors-ecr-token";
const PASSWORD = "ecr-password-3f9a1c7d52b8e06f";
const TOKEN = Buffer.from(`AWS:${PASSWORD}`).toString("base64");
const MANIFEST = "/v2/library/hello/manifests/v1";

const stops: Array<() => Promise<void>> = [];
let dir: string;
let root: string;
let state: string;
let upstream: Registry;
let ecr: Daemon & { url: string };
let containerd: Containerd;
let plan: NodeApplyPlan;
let pulls = 0;

/** Starts docker-registry with htpasswd auth (user AWS) as a pull-through cache of `remote`. */
async function startAuthRegistry(regDir: string, remote: string): Promise<Daemon & { url: string }> {
  mkdirSync(regDir, { recursive: true });
  // bcrypt, as the registry's htpasswd wants it, from the system Python's crypt (libxcrypt).
  const hash = await run("sh", [
    "-c",
    "for p in /usr/bin/python3 python3; do $p -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))' \"$0\" && exit 0; done; exit 1",
    PASSWORD,
  ]);
  expect(hash.stdout).toMatch(/^\$2[aby]\$/);
  writeFileSync(join(regDir, "htpasswd"), `AWS:${hash.stdout.trim()}\n`);
  const port = await freePort();
  const config = [
    "version: 0.1",
    "log:",
    "  level: info",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${join(regDir, "data")}`,
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "auth:",
    "  htpasswd:",
    "    realm: ecr-like",
    `    path: ${join(regDir, "htpasswd")}`,
    "proxy:",
    `  remoteurl: ${remote}`,
    "",
  ].join("\n");
  writeFileSync(join(regDir, "config.yml"), config);
  const logFile = join(regDir, "registry.log");
  const child = spawn("docker-registry", ["serve", join(regDir, "config.yml")], {
    stdio: ["ignore", openSync(logFile, "a"), openSync(logFile, "a")],
    env: { ...process.env, OTEL_TRACES_EXPORTER: "none" },
  });
  let done = false;
  const gone = new Promise<void>((resolve) =>
    child.on("exit", () => {
      done = true;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const daemon = {
    pid: child.pid ?? -1,
    url,
    logs: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
    exited: () => done,
    async stop() {
      if (done) return;
      child.kill("SIGTERM");
      await gone;
    },
  };
  await waitFor(`auth registry on ${url}`, async () => {
    if (done) throw new Error(`registry exited:\n${daemon.logs()}`);
    try {
      return (await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) })).status === 401;
    } catch {
      return false;
    }
  });
  return daemon;
}

/** Access-log lines of `registry` for `path` (any query) answered with `status`. */
function answered(registry: { logs(): string }, path: string, status: number): number {
  return registry
    .logs()
    .split("\n")
    .filter(
      (l) =>
        / "(GET|HEAD) /.test(l) &&
        (l.includes(`${path} `) || l.includes(`${path}?`)) &&
        l.includes(`HTTP/1.1" ${status} `),
    ).length;
}

async function apply(mode = "apply", env: Record<string, string> = {}) {
  const script = join(dir, "apply-node-config.sh");
  writeFileSync(script, renderApplyScript(plan));
  writeFileSync(join(state, "calls"), "");
  const res = await run("sh", [script, mode], {
    env: {
      ...process.env,
      NODE_ROOT: root,
      RUNTIME_CTL: `sh ${FAKE_CTL}`,
      LAB_STATE: state,
      AWS_CLI: join(dir, "aws"),
      VERIFY_SECONDS: "20",
      ...env,
    },
  });
  const calls = readFileSync(join(state, "calls"), "utf8").trim();
  return { ...res, calls: calls === "" ? [] : calls.split("\n") };
}

/** Pulls docker.io/library/hello:v1 (docker.io is unreachable here) in a fresh namespace, through NODE_ROOT's hosts folder. */
async function pull() {
  pulls += 1;
  return containerd.ctr([
    "--debug",
    "-n",
    `ecr${pulls}`,
    "images",
    "pull",
    "--snapshotter",
    "native",
    "--hosts-dir",
    join(root, DIR),
    "docker.io/library/hello:v1",
  ]);
}

const node = (path: string) => join(root, path);
/** True when a node path exists, a dangling symlink included (unit links point at node paths outside NODE_ROOT). */
function present(path: string): boolean {
  try {
    lstatSync(node(path));
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dir = tmpDir("ecr-token");
  root = join(dir, "root");
  state = join(dir, "state");
  mkdirSync(state, { recursive: true });
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  ecr = await startAuthRegistry(join(dir, "ecr"), upstream.url);
  stops.push(() => ecr.stop());
  containerd = await startContainerd({ dir: join(dir, "containerd") });
  stops.push(() => containerd.stop());

  // The fake AWS CLI: logs its arguments, fails while aws.fail exists, else prints the token.
  writeFileSync(
    join(dir, "aws"),
    `#!/bin/sh\necho "$*" >>"${dir}/aws.calls"\nif [ -e "${dir}/aws.fail" ]; then echo "An error occurred (AccessDeniedException) when calling the GetAuthorizationToken operation" >&2; exit 254; fi\necho ${TOKEN}\n`,
  );
  chmodSync(join(dir, "aws"), 0o755);

  mkdirSync(node("/etc/containerd"), { recursive: true });
  writeFileSync(
    node("/etc/containerd/config.toml"),
    `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${DIR}"\n`,
  );
  const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors: [ecr.url, upstream.url] } } });
  const [file] = renderContainerdHosts(policy);
  plan = {
    restartPolicy: "never",
    containerd: { hostsDir: DIR, files: [{ ...file, mode: 0o600, ecrAuth: [{ url: ecr.url, region: "us-west-2" }] }] },
  };
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("ECR token refresher on a node", () => {
  it("without a token, the ECR-like mirror answers 401 and containerd falls through to the next mirror", async () => {
    const [file] = renderContainerdHosts(
      normalisePolicy({ registries: { "docker.io": { mirrors: [ecr.url, upstream.url] } } }).policy,
    );
    mkdirSync(node(`${DIR}/docker.io`), { recursive: true });
    writeFileSync(node(HUB), file.content);
    let res: Awaited<ReturnType<typeof pull>>;
    try {
      res = await pull();
    } finally {
      rmSync(node(`${DIR}/docker.io`), { recursive: true });
    }
    expect(res.code, res.stderr).toBe(0);
    expect(answered(ecr, MANIFEST, 401)).toBeGreaterThan(0);
    expect(answered(ecr, MANIFEST, 200)).toBe(0);
    // containerd's resolver got the 401 from the mirror and went on to the next host, which served the image.
    expect(res.stderr).toContain(`msg=Unauthorized header="Basic realm=\\"ecr-like\\"" host="${ecr.url.slice(7)}"`);
    expect(answered(upstream, MANIFEST, 200)).toBeGreaterThan(0);
  });

  it("apply installs the refresher and its timer; hosts.toml gets the token (0600) and the mirror serves the pull", async () => {
    const res = await apply();
    expect(res.code, res.stderr).toBe(0);
    expect(res.calls).toEqual([
      "is-system-running",
      `link ${ECR_DIR}/${UNIT}.service`,
      `enable ${ECR_DIR}/${UNIT}.timer`,
      "daemon-reload",
      `restart ${UNIT}.timer`,
      `start ${UNIT}.service`,
    ]);
    // The real systemctl linked both units and hooked the timer into timers.target.
    expect(lstatSync(node(`/etc/systemd/system/${UNIT}.service`)).isSymbolicLink()).toBe(true);
    expect(lstatSync(node(`/etc/systemd/system/timers.target.wants/${UNIT}.timer`)).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, "aws.calls"), "utf8")).toContain("ecr get-authorization-token --region us-west-2");
    const hosts = node(HUB);
    const doc = parseToml(readFileSync(hosts, "utf8")) as Record<string, any>;
    expect(doc.host[ecr.url].header).toEqual({ Authorization: `Basic ${TOKEN}` });
    expect(Object.keys(doc.host)).toEqual([ecr.url, upstream.url]);
    expect(statSync(hosts).mode & 0o777).toBe(0o600);
    expect(statSync(node(`${ECR_DIR}/token.us-west-2`)).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${hosts}.registry-mirrors.template`, "utf8")).toBe(plan.containerd!.files[0].content);
    for (const text of [res.stdout, res.stderr]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(PASSWORD);
    }

    const before = answered(ecr, MANIFEST, 200);
    const pulled = await pull();
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(answered(ecr, MANIFEST, 200)).toBeGreaterThan(before);
    expect(pulled.stderr).not.toContain("msg=Unauthorized");
  });

  it("a second apply changes nothing: no write, no systemctl call, the header stays", async () => {
    const hosts = node(HUB);
    const content = readFileSync(hosts, "utf8");
    const mtime = statSync(hosts).mtimeMs;
    const res = await apply();
    expect(res).toMatchObject({ code: 0, stdout: "containerd: unchanged\n", stderr: "", calls: [] });
    expect(readFileSync(hosts, "utf8")).toBe(content);
    expect(statSync(hosts).mtimeMs).toBe(mtime);
  });

  it("a failed renewal keeps the previous token (the pull still works) and exits 1 without printing it", async () => {
    const token = node(`${ECR_DIR}/token.us-west-2`);
    const old = new Date(Date.now() - 7 * 3600_000);
    utimesSync(token, old, old);
    writeFileSync(join(dir, "aws.fail"), "");
    const res = await run("sh", [node(`${ECR_DIR}/ecr-token-refresh`)], {
      env: { ...process.env, NODE_ROOT: root, AWS_CLI: join(dir, "aws") },
    });
    rmSync(join(dir, "aws.fail"));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("could not get an ECR token for us-west-2 (An error occurred (AccessDeniedException)");
    expect(res.stderr).toContain("containerd keeps the previous token until it expires");
    expect(res.stdout + res.stderr).not.toContain(TOKEN);
    expect(readFileSync(token, "utf8").trim()).toBe(TOKEN);
    const pulled = await pull();
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stderr).not.toContain("msg=Unauthorized");
  });

  it("restore removes the header, the template, the refresher, its tokens and the timer units", async () => {
    const res = await apply("restore");
    expect(res.code, res.stderr).toBe(0);
    expect(res.calls).toEqual([
      "is-system-running",
      `stop ${UNIT}.timer ${UNIT}.service`,
      `disable ${UNIT}.timer ${UNIT}.service`,
    ]);
    for (const path of [
      HUB,
      `${HUB}.registry-mirrors.template`,
      ECR_DIR,
      `/etc/systemd/system/${UNIT}.service`,
      `/etc/systemd/system/${UNIT}.timer`,
      `/etc/systemd/system/timers.target.wants/${UNIT}.timer`,
    ]) {
      expect(present(path), path).toBe(false);
    }
    expect(res.stdout).not.toContain(TOKEN);
  });

  it("a symlinked hosts.toml: the template sits beside the link's target, the token is written through the link and containerd pulls with it; restore keeps the link", async () => {
    const target = "/etc/containerd/own/docker.io.toml";
    const link = "../../own/docker.io.toml"; // relative: containerd (the kernel) and the script resolve it alike
    mkdirSync(node("/etc/containerd/own"), { recursive: true });
    mkdirSync(node(`${DIR}/docker.io`), { recursive: true });
    symlinkSync(link, node(HUB));
    try {
      const res = await apply();
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain(
        `containerd: wrote ${DIR}/docker.io/${link}.registry-mirrors.template (hosts.toml gets the ECR token)\necr-token: wrote ${HUB}\n`,
      );
      expect(lstatSync(node(HUB)).isSymbolicLink()).toBe(true);
      expect(readlinkSync(node(HUB))).toBe(link);
      expect(readFileSync(node(`${target}.registry-mirrors.template`), "utf8")).toBe(plan.containerd!.files[0].content);
      expect(present(`${HUB}.registry-mirrors.template`)).toBe(false);
      const doc = parseToml(readFileSync(node(target), "utf8")) as Record<string, any>;
      expect(doc.host[ecr.url].header).toEqual({ Authorization: `Basic ${TOKEN}` });
      expect(statSync(node(target)).mode & 0o777).toBe(0o600);

      const before = answered(ecr, MANIFEST, 200);
      const pulled = await pull();
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(answered(ecr, MANIFEST, 200)).toBeGreaterThan(before);
      expect(pulled.stderr).not.toContain("msg=Unauthorized");

      const back = await apply("restore");
      expect(back.code, back.stderr).toBe(0);
      expect(readlinkSync(node(HUB))).toBe(link);
      for (const path of [target, `${target}.registry-mirrors.template`, `${target}.registry-mirrors.created`, ECR_DIR])
        expect(present(path), path).toBe(false);
    } finally {
      rmSync(node(`${DIR}/docker.io`), { recursive: true, force: true });
    }
  });
});
