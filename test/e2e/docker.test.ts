/**
 * The rendered daemon.json against a real dockerd 20.10: every golden file starts it with the mirrors in order, the
 * key table matches what it accepts, a Docker Hub pull is served by a pull-through cache configured only through the
 * rendered file, and an insecure HTTPS mirror works only through the insecure-registries entry the renderer adds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { normalisePolicy } from "../../components/core/policy";
import { renderDocker } from "../../components/core/render/docker";
import { DOCKERD_FLAG_SPELLINGS, DOCKERD_KEYS } from "../../components/core/render/docker-keys";
import { DOCKER_SCENARIOS } from "../unit/golden/docker/scenarios";
import {
  type Registry,
  freePort,
  pushTestImage,
  run,
  runOk,
  startDockerd,
  startRegistry,
  tmpDir,
  waitFor,
} from "./lab";

const GOLDEN = join(__dirname, "..", "unit", "golden", "docker");

let dir: string;
let verdicts = 0;
beforeAll(() => {
  dir = tmpDir("docker-e2e");
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("golden daemon.json files on a real dockerd", () => {
  for (const name of Object.keys(DOCKER_SCENARIOS)) {
    it(`${name}.json: dockerd starts and docker info lists the mirrors in order`, async () => {
      const configFile = join(dir, `${name}.json`);
      copyFileSync(join(GOLDEN, `${name}.json`), configFile);
      const expected = (
        (JSON.parse(readFileSync(configFile, "utf8"))["registry-mirrors"] as string[] | undefined) ?? []
      ).map((m) => `${m}/`);
      const dockerd = await startDockerd({ dir: join(dir, `dockerd-${name}`), configFile });
      try {
        expect(await dockerd.mirrors()).toEqual(expected);
        const info = await dockerd.docker([
          "info",
          "--format",
          "{{json .RegistryConfig.InsecureRegistryCIDRs}} {{json .LoggingDriver}}",
        ]);
        const desired = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
        for (const cidr of ((desired["insecure-registries"] as string[]) ?? []).filter((e) => e.includes("/")))
          expect(info.stdout).toContain(cidr);
        if (desired["log-driver"]) expect(info.stdout).toContain(String(desired["log-driver"]));
      } finally {
        await dockerd.stop();
      }
    });
  }
});

/** Runs dockerd 20.10 on a config file and returns its output once it exits (it is made to fail early). */
async function dockerdVerdict(config: Record<string, unknown>): Promise<string> {
  const d = join(dir, `verdict-${++verdicts}`);
  mkdirSync(d);
  const file = join(d, "daemon.json");
  // data-root is also given as a flag below, so dockerd stops at its conflict check at the latest and never
  // starts; unknown keys are reported before conflicts.
  writeFileSync(file, JSON.stringify({ ...config, "data-root": "/x" }));
  const res = await run(
    "dockerd",
    [
      "--config-file",
      file,
      "--data-root",
      join(d, "data"),
      "--exec-root",
      join(d, "exec"),
      "--pidfile",
      join(d, "pid"),
      "-H",
      `unix://${join(d, "sock")}`,
    ],
    { timeoutMs: 30_000 },
  );
  return res.stdout + res.stderr;
}

describe("the daemon.json key table against dockerd 20.10", () => {
  it("dockerd 20.10 accepts every key the table gives it (no key 'matches no configuration option')", async () => {
    const keys = Object.entries(DOCKERD_KEYS)
      .filter(([, info]) => !info.since)
      .map(([k]) => k);
    const config = Object.fromEntries(keys.map((k) => [k, null]));
    const out = await dockerdVerdict(config);
    expect(out).not.toContain("don't match any configuration option");
    expect(out).toContain("specified both as a flag and in the configuration file");
  });

  it("dockerd 20.10 refuses the keys the table marks as newer, and an unknown key (the check is real)", async () => {
    for (const [key, info] of Object.entries(DOCKERD_KEYS).filter(([, i]) => i.since)) {
      const value = key === "proxies" ? { "http-proxy": "http://p:3128" } : "x";
      const out = await dockerdVerdict({ [key]: value });
      expect(out, `${key} (since ${info.since})`).toMatch(/don't match any configuration option: (http-proxy|[a-z-]+)/);
    }
    expect(await dockerdVerdict({ "registry-mirrorz": ["https://m"] })).toContain(
      "don't match any configuration option: registry-mirrorz",
    );
  });

  it("dockerd 20.10 accepts a flag's name as a key but ignores it, which is why the renderer refuses those spellings", async () => {
    const out = await dockerdVerdict(Object.fromEntries(Object.keys(DOCKERD_FLAG_SPELLINGS).map((k) => [k, null])));
    expect(out).not.toContain("don't match any configuration option");
    const configFile = join(dir, "flag-spelling.json");
    writeFileSync(configFile, JSON.stringify({ "registry-mirror": ["https://m.example"] }));
    const dockerd = await startDockerd({ dir: join(dir, "dockerd-flag-spelling"), configFile });
    try {
      expect(await dockerd.mirrors()).toEqual([]);
    } finally {
      await dockerd.stop();
    }
  });
});

describe("a Docker Hub pull through the rendered mirrors", () => {
  let upstream: Registry;
  let cache: Registry;
  beforeAll(async () => {
    upstream = await startRegistry({ dir: join(dir, "upstream") });
    await pushTestImage(upstream.hostPort, "library/hello", "v1");
    cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  });
  afterAll(async () => {
    await cache?.stop();
    await upstream?.stop();
  });

  it("docker pull docker.io/library/hello:v1 is served by the pull-through cache, after a dead first mirror", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors: [dead, cache.url] } } });
    const configFile = join(dir, "pull.json");
    writeFileSync(configFile, renderDocker(policy).daemonJson);
    const dockerd = await startDockerd({ dir: join(dir, "dockerd-pull"), configFile });
    try {
      expect(await dockerd.mirrors()).toEqual([`${dead}/`, `${cache.url}/`]);
      const pull = await dockerd.docker(["pull", "docker.io/library/hello:v1"]);
      expect(pull.stderr + pull.stdout).toContain("docker.io/library/hello:v1");
      expect(pull.code).toBe(0);
      expect(cache.requests("/v2/library/hello/manifests/v1")).toBeGreaterThan(0);
    } finally {
      await dockerd.stop();
    }
  });
});

/**
 * dockerd treats 127.0.0.0/8 as insecure whatever the file says, so this mirror listens on the IPv6 loopback [::1]
 * (still loopback only): there, an HTTPS mirror with a self-signed certificate is used only when its host is in
 * insecure-registries, which is what the renderer adds for `insecure: true`.
 */
describe("an insecure HTTPS mirror needs insecure-registries, a plain-HTTP one does not", () => {
  let port: number;
  let httpPort: number;
  let tls: ChildProcess;
  let plain: ChildProcess;
  let pusher: Registry;
  beforeAll(async () => {
    const d = join(dir, "tls");
    mkdirSync(d, { recursive: true });
    await runOk("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(d, "key.pem"),
      "-out",
      join(d, "cert.pem"),
      "-days",
      "2",
      "-subj",
      "/CN=mirror",
      "-addext",
      "subjectAltName=IP:::1",
    ]);
    // A plain registry on 127.0.0.1 to push through, sharing its storage with the TLS one.
    pusher = await startRegistry({ dir: d });
    await pushTestImage(pusher.hostPort, "library/hello", "v1");
    port = await freePort();
    const config = [
      "version: 0.1",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(d, "data")}`,
      "http:",
      `  addr: "[::1]:${port}"`,
      "  tls:",
      `    certificate: ${join(d, "cert.pem")}`,
      `    key: ${join(d, "key.pem")}`,
      "",
    ].join("\n");
    writeFileSync(join(d, "tls.yml"), config);
    tls = spawn("docker-registry", ["serve", join(d, "tls.yml")], {
      stdio: "ignore",
      env: { ...process.env, OTEL_TRACES_EXPORTER: "none" },
    });
    httpPort = await freePort();
    writeFileSync(
      join(d, "plain.yml"),
      [
        "version: 0.1",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${join(d, "data")}`,
        "http:",
        `  addr: "[::1]:${httpPort}"`,
        "",
      ].join("\n"),
    );
    plain = spawn("docker-registry", ["serve", join(d, "plain.yml")], {
      stdio: "ignore",
      env: { ...process.env, OTEL_TRACES_EXPORTER: "none" },
    });
    await waitFor(
      "TLS registry on [::1]",
      async () =>
        (await run("curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", `https://[::1]:${port}/v2/`])).stdout ===
        "200",
    );
    await waitFor(
      "plain registry on [::1]",
      async () =>
        (await run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://[::1]:${httpPort}/v2/`])).stdout ===
        "200",
    );
  });
  afterAll(async () => {
    if (tls?.pid) process.kill(tls.pid, "SIGTERM");
    if (plain?.pid) process.kill(plain.pid, "SIGTERM");
    await pusher?.stop();
  });

  for (const insecure of [false, true]) {
    it(`insecure: ${insecure} -> the pull ${insecure ? "goes through the mirror" : "cannot use the mirror"}`, async () => {
      const { policy } = normalisePolicy({
        registries: { "docker.io": { mirrors: [{ url: `https://[::1]:${port}`, insecure }] } },
      });
      const out = renderDocker(policy);
      expect(out.desired["insecure-registries"]).toEqual(insecure ? [`[::1]:${port}`] : undefined);
      const configFile = join(dir, `tls-${insecure}.json`);
      writeFileSync(configFile, out.daemonJson);
      const dockerd = await startDockerd({ dir: join(dir, `dockerd-tls-${insecure}`), configFile });
      try {
        const pull = await dockerd.docker(["pull", "docker.io/library/hello:v1"], { timeoutMs: 90_000 });
        expect(pull.code).toBe(insecure ? 0 : 1);
      } finally {
        await dockerd.stop();
      }
    });
  }

  it("an http:// mirror is used as it is: no insecure-registries entry rendered, and the pull goes through it", async () => {
    const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors: [`http://[::1]:${httpPort}`] } } });
    const out = renderDocker(policy);
    expect(out.desired["insecure-registries"]).toBeUndefined();
    const configFile = join(dir, "plain-http.json");
    writeFileSync(configFile, out.daemonJson);
    const dockerd = await startDockerd({ dir: join(dir, "dockerd-plain-http"), configFile });
    try {
      const pull = await dockerd.docker(["pull", "docker.io/library/hello:v1"], { timeoutMs: 90_000 });
      expect(pull.code).toBe(0);
    } finally {
      await dockerd.stop();
    }
  });
});
