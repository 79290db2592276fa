import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { main } from "../../cli/main";
import { freePort, type Registry, startRegistry, tmpDir } from "./lab";

let dir: string;
let live: Registry;
beforeAll(async () => {
  dir = tmpDir("cli-probe");
  live = await startRegistry({ dir: join(dir, "live") });
});
afterAll(async () => {
  await live?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("registry-mirrors probe", () => {
  it("prints the live registry first with its latency and the dead port as a failure", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const result = await cli(["probe", "--mirror", dead, "--mirror", live.url, "--timeout", "2000"]);
    expect(result.code).toBe(0);
    const lines = result.out.split("\n");
    const liveLine = lines.findIndex((l) => l.includes(live.url));
    const deadLine = lines.findIndex((l) => l.includes(dead));
    expect(liveLine).toBeGreaterThanOrEqual(0);
    expect(deadLine).toBeGreaterThan(liveLine);
    expect(lines[deadLine]).toMatch(/refused/);
    expect(lines[liveLine]).toMatch(/\d+ ms/);
  });

  it("exits 1 when no mirror answers", async () => {
    const result = await cli(["probe", "--mirror", `http://127.0.0.1:${await freePort()}`, "--timeout", "1000"]);
    expect(result.code).toBe(1);
  });
});
