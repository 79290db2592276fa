/**
 * `npm run bench:scale`: a platform stack of 1, 100 and 1,000 node groups under Pulumi mocks, each measurement in a
 * fresh process (bench/scale-stack.ts) so peak RSS is its own:
 *   raw         per group the strings from the core (selectMirrors, renderNodeConfig, user-data fitting) + an
 *               aws.ec2.LaunchTemplate — the stack written by hand;
 *   floor       raw + two components that do nothing — what the SDK itself charges for two components per group;
 *   components  RegionalMirrorSelector + MirrorDaemonConfig + the LaunchTemplate with launchTemplateUserData.
 * Variants and sizes run interleaved, --repeats times; medians. Every variant must send identical launch templates
 * (a digest of all user data is compared).
 *
 *   baseline    (with --baseline-dir DIR) the components variant with the components loaded from DIR, e.g. a
 *               checkout of the previous version, measured interleaved with the others.
 * Time is wall-clock and CPU (user + system of the process); on a shared machine the CPU figures are the steadier.
 *
 * Flags: --sizes 1,100,1000 --repeats 3 --components-dir DIR (measure a modified copy of components/)
 *        --baseline-dir DIR
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { bytes, fixed, flag, median, numberFlag, table } from "./lib";

interface Sample {
  variant: Variant;
  groups: number;
  totalMs: number;
  cpuMs: number;
  resources: number;
  peakRssBytes: number;
  retainedHeapBytes: number;
  userDataDigest: string;
}

type Variant = "raw" | "floor" | "components" | "baseline";
const sizes = flag("sizes", "1,100,1000").split(",").map(Number);
const repeats = numberFlag("repeats", 3);
const componentsDir = flag("components-dir", "");
const baselineDir = flag("baseline-dir", "");
const VARIANTS: Variant[] = baselineDir ? ["raw", "floor", "components", "baseline"] : ["raw", "floor", "components"];

function measure(variant: Variant, groups: number): Sample {
  const args = [
    "--expose-gc",
    "--import",
    "tsx",
    join(__dirname, "scale-stack.ts"),
    "--variant",
    variant === "baseline" ? "components" : variant,
    "--groups",
    String(groups),
  ];
  const dir = variant === "baseline" ? baselineDir : componentsDir;
  if (dir) args.push("--components-dir", dir);
  const out = execFileSync(process.execPath, args, {
    encoding: "utf8",
    timeout: 600_000,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { ...(JSON.parse(out.trim().split("\n").pop() as string) as Sample), variant };
}

const samples: Sample[] = [];
for (let r = 0; r < repeats; r++) {
  for (const groups of sizes) {
    // Rotate the order, so no variant always runs first (on a cooler or a hotter machine).
    const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]);
    for (const variant of order) {
      process.stderr.write(`run ${r + 1}/${repeats}: ${variant} x ${groups}\n`);
      samples.push(measure(variant, groups));
    }
  }
}

const of = (variant: Variant, groups: number) => samples.filter((s) => s.variant === variant && s.groups === groups);
const med = (variant: Variant, groups: number, key: "totalMs" | "cpuMs" | "peakRssBytes" | "retainedHeapBytes") =>
  median(of(variant, groups).map((s) => s[key]));

const ratio = (a: Variant, b: Variant, g: number, key: "totalMs" | "cpuMs") =>
  `${fixed(med(a, g, key) / med(b, g, key))}x`;
const timeRows = sizes.map((g) => [
  String(g),
  VARIANTS.map((v) => of(v, g)[0].resources).join(" / "),
  ...VARIANTS.map((v) => fixed(med(v, g, "totalMs") / 1000)),
  ratio("components", "raw", g, "totalMs"),
  ratio("floor", "raw", g, "totalMs"),
  ratio("components", "floor", g, "totalMs"),
]);
const cpuRows = sizes.map((g) => [
  String(g),
  ...VARIANTS.map((v) => fixed(med(v, g, "cpuMs") / 1000)),
  ratio("components", "raw", g, "cpuMs"),
  ratio("floor", "raw", g, "cpuMs"),
  ratio("components", "floor", g, "cpuMs"),
  ...(baselineDir ? [ratio("baseline", "raw", g, "cpuMs"), ratio("baseline", "floor", g, "cpuMs")] : []),
]);
const memRows = sizes.map((g) => [
  String(g),
  ...VARIANTS.map((v) => bytes(med(v, g, "peakRssBytes"))),
  ...VARIANTS.map((v) => bytes(med(v, g, "retainedHeapBytes"))),
  new Set(samples.filter((s) => s.groups === g).map((s) => s.userDataDigest)).size === 1 ? "yes" : "NO",
]);

console.log(
  `\nFleet scale under Pulumi mocks (node ${process.version}); time from the first construction until every resource is registered,` +
    ` Error.stackTraceLimit = 0 meanwhile; median of ${repeats} fresh processes per cell.${componentsDir ? ` Components from ${componentsDir}.` : ""}\n`,
);
console.log(
  table(
    [
      "node groups",
      `resources ${VARIANTS.join(" / ")}`,
      ...VARIANTS.map((v) => `${v} s`),
      "components/raw",
      "floor/raw",
      "components/floor",
    ],
    timeRows,
    timeRows[0].map(() => "r"),
  ),
);
console.log(
  `\n${table(
    [
      "node groups",
      ...VARIANTS.map((v) => `${v} CPU s`),
      "components/raw CPU",
      "floor/raw CPU",
      "components/floor CPU",
      ...(baselineDir ? ["baseline/raw CPU", "baseline/floor CPU"] : []),
    ],
    cpuRows,
    cpuRows[0].map(() => "r"),
  )}`,
);
console.log(
  `\n${table(
    [
      "node groups",
      ...VARIANTS.map((v) => `${v} peak RSS`),
      ...VARIANTS.map((v) => `${v} heap after GC`),
      "same launch templates",
    ],
    memRows,
    memRows[0].map(() => "r"),
  )}`,
);
if (sizes.includes(1000)) {
  const ratio = med("components", 1000, "totalMs") / med("raw", 1000, "totalMs");
  const rss = med("components", 1000, "peakRssBytes");
  console.log(
    `\nTarget at 1,000 groups: components/raw time <= 1.25 -> ${fixed(ratio)} (${ratio <= 1.25 ? "met" : "MISSED"}; the SDK floor alone is ${fixed(med("floor", 1000, "totalMs") / med("raw", 1000, "totalMs"))})`,
  );
  console.log(
    `Target at 1,000 groups: peak RSS <= 1.5 GB -> ${fixed(rss / 1e9)} GB (${rss <= 1.5e9 ? "met" : "MISSED"})`,
  );
  const cpu = med("components", 1000, "cpuMs") / med("floor", 1000, "cpuMs");
  console.log(
    `Goal at 1,000 groups: components within 1.10x of the floor (CPU) -> ${fixed(cpu)} (${cpu <= 1.1 ? "met" : "MISSED"})`,
  );
}
