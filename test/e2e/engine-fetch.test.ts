/**
 * The engine by URL on a node: the shell user data written under a temp root runs the real fetcher with the real
 * curl (and wget, and python3 when neither is on PATH) against servers that serve the engine, refuse, accept and
 * never answer, vanish in the middle of the body, serve another file, or fail twice first. The joined script must be
 * byte for byte the inline apply script, or nothing must be written at its path.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { nodeEngineFile, renderShellUserData } from "../../components/core/userdata";
import { freePort, run, tmpDir } from "./lab";

const SCRIPT = renderNodeConfig({
  policy: {
    registries: {
      "docker.io": { mirrors: ["https://m1.example.com"] },
      "ghcr.io": { mirrors: ["https://g.example.com"] },
    },
  },
  docker: {},
}).applyScript;
const ENGINE = nodeEngineFile(SCRIPT) as NonNullable<ReturnType<typeof nodeEngineFile>>;

type Mode = "serve" | "silent" | "vanish" | "other" | "flaky";
let server: Server;
let base: string;
let mode: Mode = "serve";
let requests = 0;
const sockets = new Set<Socket>();
let dir: string;

beforeAll(async () => {
  dir = tmpDir("engine-fetch");
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests++;
    if (req.url !== `/engines/${ENGINE.name}`) return void res.writeHead(404).end("not found\n");
    if (mode === "silent") return; // accepted, read, never answered
    if (mode === "flaky" && requests <= 2) return void res.writeHead(503).end("busy\n");
    const body = mode === "other" ? `${ENGINE.content}# another version\n` : ENGINE.content;
    res.writeHead(200, { "content-length": Buffer.byteLength(body) });
    if (mode === "vanish") {
      res.write(body.slice(0, 4000));
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    res.end(body);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/engines/`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs the shell user data up to (not including) the apply script's own run: the fetcher joins the script, which
 * is then compared, not run (it would configure this machine's runtimes).
 */
async function fetchUnder(root: string, engineUrl: string, env: Record<string, string> = {}) {
  const scriptPath = join(root, "var/lib/registry-mirrors/apply-node-config.sh");
  const userData = renderShellUserData({ applyScript: SCRIPT, scriptPath, engineUrl });
  const runLine = `sh '${scriptPath}.fetch' '${scriptPath}' && '${scriptPath}'\n`;
  expect(userData.endsWith(runLine)).toBe(true);
  const withoutApply = `${userData.slice(0, -runLine.length)}sh '${scriptPath}.fetch' '${scriptPath}'\n`;
  const file = join(root, "user-data.sh");
  writeFileSync(file, withoutApply);
  const result = await run("sh", [file], { env: { ...process.env, FETCH_SECONDS: "6", ...env }, timeoutMs: 170_000 });
  return { ...result, scriptPath };
}

function freshRoot(name: string): string {
  const root = join(dir, name);
  mkdirSync(root, { recursive: true });
  return root;
}

describe("the node fetches its engine", () => {
  test("from a healthy server: the joined script is byte for byte the inline script, mode 0700", async () => {
    mode = "serve";
    const r = await fetchUnder(freshRoot("healthy"), base);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(r.scriptPath, "utf8")).toBe(SCRIPT);
    expect(statSync(r.scriptPath).mode & 0o777).toBe(0o700);
    expect(existsSync(`${r.scriptPath}.engine.part`)).toBe(false);
  });

  test("a second run uses the checked engine it kept, without the server", async () => {
    const root = freshRoot("cached");
    mode = "serve";
    expect((await fetchUnder(root, base)).code).toBe(0);
    const before = requests;
    const refusing = `http://127.0.0.1:${await freePort()}/engines/`;
    const r = await fetchUnder(root, refusing);
    expect(r.code).toBe(0);
    expect(requests).toBe(before);
    expect(readFileSync(r.scriptPath, "utf8")).toBe(SCRIPT);
  });

  test("through a server that fails twice (503), after retries", async () => {
    mode = "flaky";
    requests = 0;
    const r = await fetchUnder(freshRoot("flaky"), base, { FETCH_SECONDS: "60" });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/attempt 1: .*503.*retrying in 2s/);
    expect(r.stderr).toMatch(/attempt 2: .*retrying in 4s/);
    expect(readFileSync(r.scriptPath, "utf8")).toBe(SCRIPT);
  });

  test.each([
    ["wget", "wget"],
    ["python3", "python3"],
  ])("with %s when curl is not on PATH", async (_name, tool) => {
    mode = "serve";
    const bin = join(dir, `bin-${tool}`);
    mkdirSync(bin, { recursive: true });
    // A PATH with the basic tools and the one downloader under test, without curl.
    const tools = ["sh", "cat", "chmod", "mv", "rm", "mkdir", "sha256sum", "grep", "tail", "date", "sleep", "base64"];
    for (const t of [...tools, tool]) {
      const found = ["/usr/bin", "/bin"].map((d) => join(d, t)).find((p) => existsSync(p));
      if (found && !existsSync(join(bin, t))) symlinkSync(found, join(bin, t));
    }
    const r = await fetchUnder(freshRoot(`no-curl-${tool}`), base, { PATH: bin });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(r.scriptPath, "utf8")).toBe(SCRIPT);
  });
});

describe("when the engine cannot be had, nothing is written at the script's path", () => {
  const cases: Array<[string, Mode | "refuse", RegExp]> = [
    ["a server that refuses connections", "refuse", /Connection refused|Failed to connect/],
    ["a server that accepts and never answers", "silent", /timed out|Operation too slow|Timeout/i],
    ["a server that vanishes mid-body", "vanish", /partial|transfer closed|not the engine/],
    ["a server that serves another file", "other", /not the engine of sha256/],
  ];
  test.each(cases)("%s: one clear line per attempt, then give up with the fix", async (name, m, reason) => {
    mode = m === "refuse" ? "serve" : m;
    const url = m === "refuse" ? `http://127.0.0.1:${await freePort()}/engines/` : base;
    // A silent server is cut off by curl's own limits (no speed for 10 s), whatever FETCH_SECONDS says.
    const r = await fetchUnder(freshRoot(name.replace(/\W+/g, "-")), url, {
      FETCH_SECONDS: m === "silent" ? "1" : "6",
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr).toMatch(/fetch-engine: gave up after \d+ attempts: .*Nothing was changed.*Fix: /s);
    expect(existsSync(r.scriptPath)).toBe(false);
    expect(existsSync(`${r.scriptPath}.engine`)).toBe(false);
    expect(existsSync(`${r.scriptPath}.engine.part`)).toBe(false);
  });
});
