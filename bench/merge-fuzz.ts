/**
 * `npx tsx bench/merge-fuzz.ts [CASES] [JQ_CASES]` (defaults 10000 and CASES): the long run of the daemon.json merge
 * fuzz, on the same generated files as the unit test's fuzz (test/support/daemon-json-arb.ts).
 *   python3: the engine's merge.py, the file the script runs, executed once per case with the script's arguments
 *            inside one interpreter per shard (process start-up would make 10,000 cases take hours on a small box);
 *   jq:      the rendered engine's own `json_merge` (the function `apply` runs, with python3 off PATH: the number
 *            check, then merge.jq), one sh loop per shard.
 * Checks per case: the merge succeeded and every unmanaged value kept its text (numbers as written), or (jq only) it
 * refused with the one-line reason. `restore` copies the kept file back byte for byte (the unit test's fuzz runs the
 * whole script, apply and restore, on a few hundred cases).
 */
import * as fc from "fast-check";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeSource, renderNodeEngine } from "../components/core/node-engine";
import { daemonJsonText, MANAGED_BY_FUZZ } from "../test/support/daemon-json-arb";

const cases = Number(process.argv[2] ?? 10000);
const jqCases = Number(process.argv[3] ?? cases);
const seed = Number(process.env.SEED ?? 18);
const dir = mkdtempSync(join(tmpdir(), "rm-merge-fuzz-"));
const samples = fc.sample(daemonJsonText, { numRuns: cases, seed });
samples.forEach(({ text }, i) => writeFileSync(join(dir, `${i}.json`), text));
writeFileSync(join(dir, "desired.json"), JSON.stringify(MANAGED_BY_FUZZ));
writeFileSync(join(dir, "keys.json"), JSON.stringify(Object.keys(MANAGED_BY_FUZZ).sort()));

// The engine without its data part: its functions, then a loop over the cases instead of `main`.
const engine = renderNodeEngine({ docker: true, containerd: false, ecr: false, files: false, watchdog: false });
const driver = `${engine}
engine_files
i=$FROM
while [ "$i" -lt "$TO" ]; do
  if json_merge "$CASES/$i.json" "$CASES/desired.json" "$CASES/keys.json" "$CASES/$i.$ENGINE.out" /etc/docker/daemon.json >/dev/null 2>"$CASES/$i.$ENGINE.err"; then :; else echo "$?" >"$CASES/$i.$ENGINE.code"; fi
  i=$((i + 1))
done
exit 0
`;
writeFileSync(join(dir, "driver.sh"), driver);
writeFileSync(join(dir, "merge.py"), nodeSource("merge.py"));
// merge.py as the script runs it (python3 merge.py NODE DESIRED MANAGED OUT NAME), once per case in this interpreter.
const pyDriver = `import io, os, sys
d, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
code = compile(open(os.path.join(d, "merge.py"), encoding="utf-8").read(), "merge.py", "exec")
real_out, real_err = sys.stdout, sys.stderr
for i in range(lo, hi):
    sys.argv = ["merge.py", os.path.join(d, "%d.json" % i), os.path.join(d, "desired.json"), os.path.join(d, "keys.json"), os.path.join(d, "%d.python3.out" % i), "/etc/docker/daemon.json"]
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
    status = 0
    try:
        exec(code, {"__name__": "__main__"})
    except SystemExit as e:
        status = 0 if e.code in (None, 0) else 1
        if isinstance(e.code, str): sys.stderr.write(e.code + "\\n")
    err = sys.stderr.getvalue()
    sys.stdout, sys.stderr = real_out, real_err
    if status:
        open(os.path.join(d, "%d.python3.code" % i), "w").write("1\\n")
        open(os.path.join(d, "%d.python3.err" % i), "w", encoding="utf-8").write(err)
`;
writeFileSync(join(dir, "driver.py"), pyDriver);

// A PATH without python3 for the jq run (the same idea as the unit tests' harness).
const noPython = join(dir, "bin");
mkdirSync(noPython);
for (const tool of ["sh", "cat", "cp", "mv", "rm", "mkdir", "mktemp", "chmod", "cmp", "grep", "awk", "tr", "jq"]) {
  const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
  symlinkSync(found, join(noPython, tool));
}

const verify = `import json, os, re, sys
d, n, engine = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class N(str): pass
def dump(v):
    if isinstance(v, N): return v
    if isinstance(v, dict): return "{" + ",".join(json.dumps(k) + ":" + dump(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, list): return "[" + ",".join(dump(x) for x in v) + "]"
    return json.dumps(v)
def load(p): return json.loads(open(p, encoding="utf-8").read(), parse_float=N, parse_int=N)
managed = set(json.load(open(os.path.join(d, "keys.json"))))
ok = refused = bad = 0
for i in range(n):
    src = os.path.join(d, "%d.json" % i)
    if os.path.exists(os.path.join(d, "%d.%s.code" % (i, engine))):
        err = open(os.path.join(d, "%d.%s.err" % (i, engine)), encoding="utf-8").read()
        if engine == "jq" and re.fullmatch(r"\\S+\\.json holds .+, which jq cannot keep exactly\\. Fix: install python3\\n", err):
            refused += 1
        else:
            bad += 1
            print("case %d refused without a valid reason: %r" % (i, err[:300]))
        continue
    a, b = load(src), load(os.path.join(d, "%d.%s.out" % (i, engine)))
    lost = [k for k in a if k not in managed and (k not in b or dump(a[k]) != dump(b[k]))]
    if lost:
        bad += 1
        print("case %d changed %r" % (i, lost[:3]))
    else:
        ok += 1
print("%s: %d cases, %d merged with every unmanaged value's text kept, %d refused with the reason, %d wrong" % (engine, n, ok, refused, bad))
sys.exit(1 if bad else 0)
`;
writeFileSync(join(dir, "verify.py"), verify);

// SHARDS sh processes per engine, both engines at once.
const shards = Number(process.env.SHARDS ?? 2);
const started = process.hrtime.bigint();
const runs = (["python3", "jq"] as const).flatMap((engineName) =>
  Array.from({ length: shards }, (_, s) => {
    const n = engineName === "jq" ? jqCases : cases;
    const from = Math.floor((n * s) / shards);
    const to = Math.floor((n * (s + 1)) / shards);
    const path = engineName === "jq" ? noPython : (process.env.PATH ?? "");
    const env = {
      PATH: path,
      CASES: dir,
      ENGINE: engineName,
      NODE_ROOT: join(dir, "root"),
      FROM: `${from}`,
      TO: `${to}`,
    };
    const [command, args] =
      engineName === "jq"
        ? ["sh", [join(dir, "driver.sh")]]
        : ["python3", [join(dir, "driver.py"), dir, `${from}`, `${to}`]];
    return new Promise<void>((done, fail) => {
      const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "inherit"] });
      child.on("close", (code) =>
        code === 0 ? done() : fail(new Error(`driver ${engineName} ${from}-${to}: ${code}`)),
      );
    });
  }),
);
let failed = false;
Promise.all(runs).then(() => {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `python3 ${cases} cases, jq ${jqCases} cases, seed ${seed}, ${shards} shards per engine: ${seconds.toFixed(0)} s`,
  );
  for (const [engineName, n] of [
    ["python3", cases],
    ["jq", jqCases],
  ] as const) {
    const check = spawnSync("python3", [join(dir, "verify.py"), dir, String(n), engineName], { encoding: "utf8" });
    process.stdout.write(check.stdout);
    if (check.status !== 0) failed = true;
  }
  if (!failed) rmSync(dir, { recursive: true, force: true });
  else console.log(`cases kept in ${dir}`);
  process.exit(failed ? 1 : 0);
});
