/**
 * `npm run bench:rollout`: the per-node cost of a policy change as the node-config DaemonSet rolls it out: the init
 * container's `apply` (with WATCHDOG_SERVICE=0, as the DaemonSet runs it) and the readiness probe's
 * `check --readiness`, on the lab's real dockerd and containerd (reached through the lab's fake systemctl, which
 * reloads dockerd with SIGHUP as docker.service does). Each round applies a policy whose mirror list differs from the
 * last round's (a real change: files rewritten, dockerd reloaded), then runs the readiness check once.
 *
 * Flags: --rounds 20. Prints wall and CPU time (user + sys of the script and its children) per step.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderNodeConfig } from "../components/core/render/node-config";
import { freePort, run, startContainerd, startRegistry, tmpDir } from "../test/e2e/lab";
import { fixed, median, numberFlag, percentile, table } from "./lib";

const rounds = numberFlag("rounds", 20);
const FAKE = join(__dirname, "..", "test", "e2e", "fixtures", "apply", "fake-systemctl.sh");
const DAEMON = "/etc/docker/daemon.json";

/** Runs `sh script args` and returns its wall time and the CPU time of it and its children (from /usr/bin/time). */
function timed(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; wall: number; cpu: number; out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("/usr/bin/time", ["-f", "TIME %U %S", "sh", script, ...args], { env });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const m = /TIME ([\d.]+) ([\d.]+)\s*$/.exec(out);
      resolve({
        code: code ?? 1,
        wall: (performance.now() - t0) / 1000,
        cpu: m ? Number(m[1]) + Number(m[2]) : Number.NaN,
        out,
      });
    });
  });
}

async function main(): Promise<void> {
  const dir = tmpDir("bench-rollout");
  const root = join(dir, "root");
  const state = join(dir, "state");
  mkdirSync(join(root, "etc", "docker"), { recursive: true });
  mkdirSync(state);
  const registry = await startRegistry({ dir: join(dir, "registry") });
  const containerd = await startContainerd({ dir: join(dir, "containerd") });
  const sock = join(dir, "docker.sock");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LAB_STATE: state,
    NODE_ROOT: root,
    RUNTIME_CTL: `sh ${FAKE}`,
    WATCHDOG_SERVICE: "0",
    DOCKER_HOST: `unix://${sock}`,
    DOCKER_CONFIG: join(dir, "client"),
  };
  writeFileSync(join(root, DAEMON), "{}\n");
  // containerd's config.toml with config_path set, as a node prepared by the first rollout has it.
  mkdirSync(join(root, "etc", "containerd"), { recursive: true });
  writeFileSync(
    join(root, "etc", "containerd", "config.toml"),
    'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n',
  );
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
  const started = await run("sh", [FAKE, "start", "docker"], { env });
  if (started.code !== 0) throw new Error(`dockerd did not start:\n${readFileSync(join(state, "docker.log"), "utf8")}`);
  const other = `http://127.0.0.1:${await freePort()}`;
  const apply: Array<{ wall: number; cpu: number }> = [];
  const check: Array<{ wall: number; cpu: number }> = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const mirrors = i % 2 === 0 ? [registry.url, other] : [other, registry.url];
      const rendered = renderNodeConfig({
        policy: { registries: { "docker.io": { mirrors }, "ghcr.io": { mirrors: [registry.url] } } },
        runtimes: ["docker", "containerd", "crio"],
        docker: { insecureRegistries: [registry.hostPort] },
        watchdog: { metricsFile: false },
      });
      const script = join(dir, `apply-${i % 2}.sh`);
      writeFileSync(script, rendered.applyScript);
      const a = await timed(script, ["apply"], env);
      if (a.code !== 0) throw new Error(`apply failed:\n${a.out}`);
      apply.push(a);
      const c = await timed(script, ["check", "--readiness"], env);
      if (c.code !== 0) throw new Error(`check --readiness failed:\n${c.out}`);
      check.push(c);
    }
  } finally {
    await run("sh", [FAKE, "stop", "docker"], { env });
    await run("umount", ["-l", join(dir, "data")]);
    await run("umount", ["-l", join(dir, "exec")]);
    await containerd.stop();
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const row = (name: string, xs: Array<{ wall: number; cpu: number }>) => [
    name,
    String(xs.length),
    fixed(median(xs.map((x) => x.wall))),
    fixed(
      percentile(
        xs.map((x) => x.wall),
        95,
      ),
    ),
    fixed(Math.max(...xs.map((x) => x.wall))),
    fixed(median(xs.map((x) => x.cpu))),
  ];
  console.log(
    `\nPer node, ${rounds} rounds on dockerd + containerd 1.6 + the CRI-O drop-in (docker reloaded each apply):\n`,
  );
  console.log(
    table(
      ["step", "runs", "wall p50 s", "wall p95 s", "wall max s", "CPU p50 s"],
      [row("apply (a changed policy)", apply), row("check --readiness", check)],
      ["l", "r", "r", "r", "r", "r"],
    ),
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
