/**
 * The node watchdog's own cost: the real watchdog.py, with the plan the library renders for 10 endpoints (5 registries
 * x 2 mirrors, Docker + containerd + CRI-O files), probing healthy loopback mirrors for `--minutes` at the default
 * settings (or `--interval S`). Prints its CPU time and memory (from /proc), and the probes each mirror received,
 * scaled to one hour and to 10,000 nodes. Nothing is asserted.
 *
 *   npx tsx bench/watchdog-cost.ts [--minutes 10] [--interval 30]
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { renderNodeConfig } from "../components/core/render/node-config";
import { renderWatchPlan } from "../components/core/watch-plan";
import { fixed, numberFlag, table } from "./lib";

const WATCHDOG_PY = join(__dirname, "..", "components", "core", "node", "watchdog.py");
const REGISTRIES = ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io", "public.ecr.aws"];
const NODES = 10_000;

interface Mirror {
  server: Server;
  url: string;
  probes: number;
}

async function startMirror(): Promise<Mirror> {
  const mirror = { probes: 0 } as Mirror;
  mirror.server = createServer((req, res) => {
    mirror.probes++;
    res.writeHead(req.url?.startsWith("/v2/") ? 200 : 404, { "Docker-Distribution-API-Version": "registry/2.0" });
    res.end("{}");
  });
  await new Promise<void>((resolve) => mirror.server.listen(0, "127.0.0.1", resolve));
  mirror.url = `http://127.0.0.1:${(mirror.server.address() as AddressInfo).port}`;
  return mirror;
}

/** utime + stime (seconds) and peak/current RSS (KiB) of a live process. */
function usage(pid: number): { cpuS: number; hwmKiB: number; rssKiB: number } {
  const hz = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuS = (Number(fields[11]) + Number(fields[12])) / hz;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { cpuS, hwmKiB: kib("VmHWM"), rssKiB: kib("VmRSS") };
}

async function main(): Promise<void> {
  const minutes = numberFlag("minutes", 10);
  const interval = numberFlag("interval", 30);
  const mirrors = await Promise.all(Array.from({ length: REGISTRIES.length * 2 }, startMirror));
  const root = mkdtempSync(join(tmpdir(), "watchdog-cost-"));
  let dog: ChildProcess | undefined;
  try {
    const registries = Object.fromEntries(
      REGISTRIES.map((r, i) => [r, { mirrors: [mirrors[2 * i].url, mirrors[2 * i + 1].url] }]),
    );
    const rendered = renderNodeConfig({
      policy: { registries },
      runtimes: ["docker", "containerd", "crio"],
    });
    for (const [path, content] of Object.entries(rendered.files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    const plan = join(root, "watch-plan.json");
    writeFileSync(
      plan,
      renderWatchPlan({ policy: rendered.policy, files: rendered.files, watchdog: { intervalSeconds: interval } }),
    );
    const ctl = join(root, "ctl.sh");
    writeFileSync(ctl, "exit 3\n"); // no runtime is active: the watchdog reloads nothing
    const endpoints = (JSON.parse(readFileSync(plan, "utf8")).endpoints ?? []).length;
    dog = spawn("python3", [WATCHDOG_PY, "--plan", plan, "--root", root], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, RUNTIME_CTL: `sh ${ctl}` },
    });
    const pid = dog.pid as number;
    process.stderr.write(`watchdog pid ${pid}: ${endpoints} endpoints, interval ${interval} s, ${minutes} min ...\n`);
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const start = usage(pid);
    const probesAtStart = mirrors.map((m) => m.probes);
    await new Promise((resolve) => setTimeout(resolve, minutes * 60_000));
    const end = usage(pid);
    const probes = mirrors.map((m, i) => m.probes - probesAtStart[i]);
    const perHour = 60 / minutes;
    const cpuPerHour = (end.cpuS - start.cpuS) * perHour;
    const probesPerHour = (probes.reduce((a, b) => a + b, 0) / probes.length) * perHour;
    console.log(
      `\nWatchdog cost: real watchdog.py, ${endpoints} healthy endpoints (${REGISTRIES.length} registries x 2 mirrors; ` +
        `Docker, containerd and CRI-O files), interval ${interval} s, measured over ${minutes} min after a 5 s start.`,
    );
    console.log(
      table(
        ["CPU s per hour", "CPU share of one core", "peak RSS", "RSS at end", "probes per mirror per hour"],
        [
          [
            fixed(cpuPerHour, 1),
            `${fixed((cpuPerHour / 3600) * 100, 3)}%`,
            `${fixed(end.hwmKiB / 1024, 1)} MiB`,
            `${fixed(end.rssKiB / 1024, 1)} MiB`,
            fixed(probesPerHour, 0),
          ],
        ],
      ),
    );
    console.log(
      `\nAt ${NODES.toLocaleString("en-US")} nodes, each healthy mirror gets about ` +
        `${fixed((probesPerHour * NODES) / 3600, 0)} probes per second (GET /v2/, a few hundred bytes each).`,
    );
  } finally {
    dog?.kill("SIGTERM");
    for (const m of mirrors) m.server.close();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
