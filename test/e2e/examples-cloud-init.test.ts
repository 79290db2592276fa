/**
 * The committed rendered/ folders of every example (and of the platform stack) against the real readers:
 * `cloud-init schema` accepts every cloud-config part of every user-data file (MIME documents split first), and
 * shellcheck accepts every rendered shell script and every shell-script part of the user data.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { run, runOk, tmpDir } from "./lab";
import { listExamples, readTree, renderedDir, REPO_ROOT } from "../../scripts/example-runner";
import { splitUserData } from "../../components/core/userdata";

interface Piece {
  /** Where it comes from: rendered path, and the MIME part when it is one. */
  name: string;
  content: string;
}

const cloudConfigs: Piece[] = [];
const scripts: Piece[] = [];
for (const example of listExamples()) {
  const base = relative(REPO_ROOT, renderedDir(example));
  for (const [path, content] of Object.entries(readTree(renderedDir(example)))) {
    const name = `${base}/${path}`;
    if (path.endsWith(".sh")) scripts.push({ name, content });
    if (!/(^|\/)user-data\.[a-z]+$/.test(path)) continue;
    splitUserData(content).forEach((part, i) => {
      const piece = {
        name: path.endsWith(".mime") ? `${name} part ${i + 1} (${part.contentType})` : name,
        content: part.content,
      };
      if (part.contentType === "text/cloud-config") cloudConfigs.push(piece);
      else if (part.contentType === "text/x-shellscript" && !path.endsWith(".sh")) scripts.push(piece);
    });
  }
}

let dir: string;
let counter = 0;

beforeAll(async () => {
  // cloud-init and shellcheck come from the lab's Debian packages.
  await runOk("bash", [join(__dirname, "setup-lab.sh")], { timeoutMs: 170_000 });
  dir = tmpDir("examples");
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string): string {
  const path = join(dir, `${++counter}-${name}`);
  writeFileSync(path, content);
  return path;
}

/** The shell a script names on its `#!` line, as shellcheck spells it. */
function shellOf(script: string): string {
  const shebang = script.split("\n", 1)[0];
  if (/^#!\s*\/bin\/sh\b|^#!\s*\/usr\/bin\/env sh\b/.test(shebang)) return "sh";
  if (/bash\b/.test(shebang)) return "bash";
  throw new Error(`not a sh or bash script: ${shebang}`);
}

describe("examples' rendered user data and scripts", () => {
  test("the examples hold cloud-config parts and shell scripts to check", () => {
    expect(cloudConfigs.length).toBeGreaterThan(0);
    expect(scripts.length).toBeGreaterThan(0);
  });

  test("the checks can fail: an invalid cloud-config and a broken script are refused", async () => {
    const schema = await run("cloud-init", ["schema", "-c", file("bad.yaml", "#cloud-config\nruncmd: not-a-list\n")]);
    expect(schema.code).not.toBe(0);
    const check = await run("shellcheck", [
      "-s",
      "sh",
      file("bad.sh", "#!/bin/sh\nif [ $x == 1 ]; then echo $((1+1)) fi\n"),
    ]);
    expect(check.code).not.toBe(0);
  });

  test.each(cloudConfigs.map((c) => [c.name, c] as const))("cloud-init schema accepts %s", async (_name, piece) => {
    const result = await run("cloud-init", ["schema", "-c", file("cloud-config.yaml", piece.content)]);
    expect(`${result.stdout}${result.stderr}`).toContain("Valid cloud-config");
    expect(result.code).toBe(0);
  });

  test.each(scripts.map((s) => [s.name, s] as const))("shellcheck accepts %s", async (_name, piece) => {
    const shell = shellOf(piece.content);
    // Rendered .sh files must be POSIX sh; a user's own script part is checked in the shell it names.
    if (piece.name.endsWith(".sh")) expect(shell).toBe("sh");
    const result = await run("shellcheck", ["-s", shell, file("script.sh", piece.content)]);
    expect(result.stdout + result.stderr).toBe("");
    expect(result.code).toBe(0);
  });
});
