import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DATA_MARKER, FILE_GROUPS, renderApplyScript, renderNodeData } from "../../components/core/node-script";
import { renderNodeConfig } from "../../components/core/render/node-config";
import {
  diffLines,
  parseNodeData,
  payloadFromUserData,
  readApplyScript,
  shellWords,
  splitLines,
  unifiedHunks,
} from "../../components/core/review";
import { shellQuote } from "../../components/core/shell";
import { renderNodeUserData, userDataFiles } from "../../components/core/userdata";

const line = fc.stringMatching(/^[ -~]{0,30}$/);
const content = fc.array(line, { minLength: 1, maxLength: 8 }).map((lines) => lines.map((l) => `${l}\n`).join(""));
const segment = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,8}$/).filter((s) => !s.includes(".."));

describe("parseNodeData", () => {
  it("reads back the files and settings renderNodeData wrote (any content, path and mode)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            folder: fc.constantFrom("/etc/containers/registries.conf.d", "/etc/rancher/k3s", "/etc/buildkit"),
            name: segment,
            content,
            mode: fc.integer({ min: 0, max: 0o777 }),
            runtime: fc.constantFrom(...FILE_GROUPS, undefined),
          }),
          { selector: (f) => `${f.folder}/${f.name}`, maxLength: 5 },
        ),
        fc.constantFrom("never", "if-needed" as const),
        (files, restartPolicy) => {
          const plan = {
            restartPolicy,
            files: files.map((f) => ({
              path: `${f.folder}/${f.name}`,
              content: f.content,
              mode: f.mode,
              runtime: f.runtime,
            })),
          };
          const data = parseNodeData(renderNodeData(plan));
          expect(data.settings.restartPolicy).toBe(restartPolicy);
          const order = [...FILE_GROUPS, undefined];
          const expected = [...plan.files].sort((a, b) => order.indexOf(a.runtime) - order.indexOf(b.runtime));
          expect(data.files.map((f) => [f.path, f.content, f.mode, f.runtime])).toEqual(
            expected.map((f) => [f.path, f.content, f.mode, f.runtime ?? "files"]),
          );
        },
      ),
    );
  });

  it("reads a rendered script's containerd files, ECR tokens and Docker keys", () => {
    // The EKS example: containerd hosts.toml files with ECR pull-through mirrors.
    const dir = join(__dirname, "../../examples/eks-node-group/rendered");
    const script = readFileSync(join(dir, "apply-node-config.sh"), "utf8");
    const read = readApplyScript(script);
    expect(read?.engine).toMatchObject({ version: "0.1.0", parts: ["containerd", "ecr"] });
    const hostsFiles = ["docker.io", "public.ecr.aws", "quay.io", "registry.k8s.io"].map(
      (r) => `/etc/containerd/certs.d/${r}/hosts.toml`,
    );
    expect(read?.data.files.map((f) => [f.path, f.runtime, f.ecr])).toEqual(
      hostsFiles.map((p) => [p, "containerd", true]),
    );
    for (const file of read?.data.files ?? [])
      expect(file.content).toBe(readFileSync(join(dir, "node", file.path), "utf8"));
    expect(read?.data.settings.ecrTokens.map((t) => [t.region, t.path])).toEqual(
      hostsFiles.map((p) => ["us-west-2", p]),
    );
    expect(read?.data.settings).toMatchObject({
      containerdHostsDir: "/etc/containerd/certs.d",
      lockFolders: ["/etc/containerd"],
      restartPolicy: "never",
    });
  });

  it("refuses what is not a data part, naming the line and the fix", () => {
    expect(() => parseNodeData(`${DATA_MARKER}\nnode_data() {\n  rm -rf /\n}\n`)).toThrow(
      /data part: not a statement of the data part \(got " {2}rm -rf \/"\)\. Fix: give the data part/,
    );
    expect(() => parseNodeData(`${DATA_MARKER}\nnode_data() {\n  node_file files /a 644 <<'EOF'\nx\n`)).toThrow(
      /has no closing EOF line/,
    );
    expect(() => parseNodeData("echo hi\n")).toThrow(/expected "node_data\(\) \{"/);
  });

  it("splits words as sh does for the quoting the renderer uses", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !s.includes("\n")),
          { maxLength: 4 },
        ),
        (words) => {
          const text = words.map(shellQuote).join(" ");
          expect(shellWords(text)).toEqual(words);
          const echoed = spawnSync("sh", ["-c", `for w in ${text}; do printf '%s\\0' "$w"; done`], {
            encoding: "utf8",
          });
          expect(echoed.stdout.split("\0").slice(0, -1)).toEqual(words);
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe("the user-data read-back", () => {
  it("finds the apply script's files in cloud-config and in the shell form, compressed or not", () => {
    const { applyScript, files } = renderNodeConfig({
      mirrors: ["https://m.example.com"],
      runtimes: ["docker", "containerd"],
    });
    for (const format of ["cloud-config", "shell"] as const) {
      for (const compress of [false, true]) {
        const payload = payloadFromUserData(renderNodeUserData({ applyScript, format, compress }));
        const nodeFiles = payload.files.filter((f) => f.path.startsWith("/"));
        expect(Object.fromEntries(nodeFiles.map((f) => [f.path, f.content])), `${format} ${compress}`).toEqual(files);
        expect(payload.engine?.version).toBe("0.1.0");
      }
    }
    expect(userDataFiles(renderNodeUserData({ applyScript })).map((f) => f.path)).toEqual([
      "/var/lib/registry-mirrors/apply-node-config.sh",
    ]);
  });
});

/** Applies unified hunks to `before`, checking each hunk's line numbers, counts and context. */
function applyHunks(before: string, hunks: string): string {
  const old = splitLines(before);
  const out: string[] = [];
  let at = 0;
  const lines = hunks.split("\n").slice(0, -1);
  for (let i = 0; i < lines.length; ) {
    const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$/.exec(lines[i++]);
    if (!m) throw new Error(`not a hunk header: ${lines[i - 1]}`);
    const [oldCount, newCount] = [Number(m[2] ?? 1), Number(m[4] ?? 1)];
    const oldStart = oldCount === 0 ? Number(m[1]) : Number(m[1]) - 1;
    while (at < oldStart) out.push(old[at++]);
    if (out.length !== (newCount === 0 ? Number(m[3]) : Number(m[3]) - 1)) throw new Error("new start is wrong");
    let [seenOld, seenNew] = [0, 0];
    while (i < lines.length && !lines[i].startsWith("@@")) {
      const [op, text] = [lines[i][0], lines[i].slice(1)];
      const noEol = lines[i + 1] === "\\ No newline at end of file";
      const full = noEol ? `${text}\u0000no-eol` : text;
      i += noEol ? 2 : 1;
      if (op !== "+") {
        if (old[at] !== full) throw new Error(`context/removed line mismatch at ${at}`);
        at++;
        seenOld++;
      }
      if (op !== "-") {
        out.push(full);
        seenNew++;
      }
    }
    if (seenOld !== oldCount || seenNew !== newCount) throw new Error("hunk counts are wrong");
  }
  while (at < old.length) out.push(old[at++]);
  return out.map((l) => (l.endsWith("\u0000no-eol") ? l.slice(0, -7) : `${l}\n`)).join("");
}

describe("line diff", () => {
  const text = fc
    .tuple(fc.array(fc.constantFrom("a", "b", "c", "d", ""), { maxLength: 25 }), fc.boolean())
    .map(([ls, eol]) => (ls.length === 0 ? "" : ls.join("\n") + (eol ? "\n" : "")));

  it("its hunks turn the old text into the new one, with correct line numbers and counts", () => {
    fc.assert(
      fc.property(text, text, fc.integer({ min: 0, max: 4 }), (a, b, context) => {
        const hunks = unifiedHunks(a, b, context);
        expect(hunks === "").toBe(a === b);
        expect(applyHunks(a, hunks)).toBe(b);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps a longest common subsequence (a minimal diff)", () => {
    const lcs = (a: string[], b: string[]): number => {
      const t = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
      for (let i = 1; i <= a.length; i++)
        for (let j = 1; j <= b.length; j++)
          t[i][j] = a[i - 1] === b[j - 1] ? t[i - 1][j - 1] + 1 : Math.max(t[i - 1][j], t[i][j - 1]);
      return t[a.length][b.length];
    };
    const lines = fc.array(fc.constantFrom("x", "y", "z"), { maxLength: 15 });
    fc.assert(
      fc.property(lines, lines, (a, b) => {
        const d = diffLines(a, b);
        expect(d.filter((l) => l.op !== "+").map((l) => l.text)).toEqual(a);
        expect(d.filter((l) => l.op !== "-").map((l) => l.text)).toEqual(b);
        expect(d.filter((l) => l.op === " ").length).toBe(lcs(a, b));
      }),
      { numRuns: 500 },
    );
  });

  it("matches GNU diff -u on a real change (same hunks)", () => {
    const dir = mkdtempSync(join(tmpdir(), "rm-review-"));
    const a = renderApplyScript({
      restartPolicy: "never",
      files: [{ path: "/etc/buildkit/buildkitd.toml", content: "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", mode: 0o644 }],
    });
    const b = a.replace("\nc\n", "\nC\n").replace("\ni\n", "\ni\nI\n");
    writeFileSync(join(dir, "a"), a);
    writeFileSync(join(dir, "b"), b);
    const gnu = spawnSync("diff", ["-u", join(dir, "a"), join(dir, "b")], { encoding: "utf8" });
    expect(gnu.status).toBe(1);
    expect(unifiedHunks(readFileSync(join(dir, "a"), "utf8"), b)).toBe(gnu.stdout.split("\n").slice(2).join("\n"));
  });
});
