/** fast-check arbitraries for daemon.json files with numbers of every form, unicode keys and nesting. */
import * as fc from "fast-check";
import { spawnSync } from "node:child_process";

/** Numbers of every form, as JSON source text. */
const numberText = fc.oneof(
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc
    .tuple(
      fc.constantFrom("", "-"),
      fc.stringMatching(/^(0|[1-9][0-9]{0,25})$/),
      fc.option(fc.stringMatching(/^[0-9]{1,30}$/), { nil: undefined }),
      fc.option(fc.tuple(fc.constantFrom("e", "E"), fc.constantFrom("", "+", "-"), fc.integer({ min: 0, max: 999 })), {
        nil: undefined,
      }),
    )
    .map(
      ([sign, int, frac, exp]) => `${sign}${int}${frac ? `.${frac}` : ""}${exp ? `${exp[0]}${exp[1]}${exp[2]}` : ""}`,
    ),
  fc.constantFrom("-0", "0.0", "1e400", "-1e400", "4.9e-325", "9007199254740993", "1.10", "100000000000000000000"),
);
/** A JSON value as source text: numbers from numberText, unicode strings, nesting. */
export const valueText: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    numberText,
    fc.string({ unit: "grapheme", maxLength: 8 }).map((s) => JSON.stringify(s)),
    fc.constantFrom("true", "false", "null"),
    fc.array(tie("v"), { maxLength: 4 }).map((items) => `[${items.join(", ")}]`),
    fc
      .uniqueArray(fc.tuple(fc.string({ unit: "grapheme", maxLength: 6 }), tie("v")), {
        maxLength: 4,
        selector: ([k]) => k,
      })
      .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(", ")}}`),
  ),
})).v;
/** The keys the fuzzed runs manage (the generated files never hold them). */
export const MANAGED_BY_FUZZ = {
  "registry-mirrors": ["https://m1.example"],
  "log-opts": { "max-size": "10m" },
  debug: true,
};
const MANAGED = Object.keys(MANAGED_BY_FUZZ);
const unmanaged = fc
  .uniqueArray(
    fc.tuple(
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }).filter((k) => !MANAGED.includes(k)),
      valueText,
    ),
    { maxLength: 5, selector: ([k]) => k },
  )
  .map((entries) => entries.filter(([, v]) => v.length < 2000));

/** The value texts of a merged daemon.json, re-read with numbers as their source text (python3, like merge.py). */
export function valuesAsText(file: string): Record<string, string> {
  const py = `import json, sys
class N(str): pass
def dump(v):
    if isinstance(v, N): return v
    if isinstance(v, dict): return "{" + ",".join(json.dumps(k) + ":" + dump(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, list): return "[" + ",".join(dump(x) for x in v) + "]"
    return json.dumps(v)
d = json.load(open(sys.argv[1], encoding="utf-8"), parse_float=N, parse_int=N)
print(json.dumps({k: dump(v) for k, v in d.items()}))`;
  const res = spawnSync("python3", ["-c", py, file], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(res.stderr);
  return JSON.parse(res.stdout) as Record<string, string>;
}

/** A daemon.json's text (compact or indented) and its unmanaged entries as [key, value text]. */
export const daemonJsonText = fc.tuple(unmanaged, fc.boolean()).map(([entries, pretty]) => ({
  entries,
  text: `{${entries.map(([k, v]) => `${pretty ? "\n  " : ""}${JSON.stringify(k)}: ${v}`).join(",")}}\n`,
}));
