/**
 * `npm run bench:import` (builds dist/ first): the cost of `require("registry-mirrors")` and each subpath, each in
 * a fresh node process, against `require("@pulumi/pulumi")` alone and against the whole cloud SDKs. Runs the
 * targets round-robin (so drift on a shared machine hits all alike) and reports medians. Also prints, per target,
 * how many modules of each cloud SDK got loaded and whether the SDK's index (the whole SDK) was among them.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fixed, median, numberFlag, table } from "./lib";

const ROOT = join(__dirname, "..");
const RUNS = numberFlag("runs", 7);
const SDKS = ["@pulumi/aws", "@pulumi/alicloud", "@pulumi/kubernetes"] as const;
const TARGETS = [
  "@pulumi/pulumi",
  "registry-mirrors",
  "registry-mirrors/core",
  "registry-mirrors/aws",
  "registry-mirrors/alicloud",
  "registry-mirrors/kubernetes",
  ...SDKS,
];

interface Sample {
  ms: number;
  modules: number;
  rssMb: number;
  /** Per SDK: modules loaded from it, and whether its index.js (the whole SDK) was loaded. */
  sdk: Record<string, { modules: number; index: boolean }>;
}

// Runs in the child: times one require and inspects require.cache.
const PROBE = `
const t0 = process.hrtime.bigint();
require(process.argv[1]);
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
const keys = Object.keys(require.cache);
const sdk = {};
for (const name of ${JSON.stringify(SDKS)}) {
  const dir = "/node_modules/" + name + "/";
  const own = keys.filter((k) => k.includes(dir));
  sdk[name] = { modules: own.length, index: own.some((k) => k.endsWith(dir + "index.js")) };
}
process.stdout.write(JSON.stringify({ ms, modules: keys.length, rssMb: process.memoryUsage().rss / 1048576, sdk }));
`;

function sample(target: string): Sample {
  const out = execFileSync(process.execPath, ["-e", PROBE, target], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return JSON.parse(out) as Sample;
}

if (!existsSync(join(ROOT, "dist/components/index.js"))) {
  throw new Error("dist/ is missing: run `npm run build` first (npm run bench:import does)");
}

const samples: Record<string, Sample[]> = Object.fromEntries(TARGETS.map((t) => [t, []]));
for (let run = 0; run < RUNS; run++) {
  for (const target of TARGETS) samples[target].push(sample(target));
}

const med = (t: string) => median(samples[t].map((s) => s.ms));
const base = med("@pulumi/pulumi");
const rows = TARGETS.map((t) => {
  const last = samples[t][samples[t].length - 1];
  const sdkCell = SDKS.map((s) =>
    last.sdk[s].modules === 0
      ? ""
      : `${s.replace("@pulumi/", "")}: ${last.sdk[s].modules}${last.sdk[s].index ? " (whole)" : ""}`,
  )
    .filter(Boolean)
    .join(", ");
  const ms = samples[t].map((s) => s.ms);
  return [
    `require("${t}")`,
    fixed(med(t), 0),
    `${fixed(Math.min(...ms), 0)}-${fixed(Math.max(...ms), 0)}`,
    `${fixed(med(t) / base)}x`,
    String(last.modules),
    fixed(median(samples[t].map((s) => s.rssMb)), 0),
    sdkCell || "none",
  ];
});

console.log(
  `Import cost: ${RUNS} fresh node ${process.version} processes per target, round-robin; time of the require() call itself.\n`,
);
console.log(
  table(
    ["Import", "median ms", "min-max ms", "vs @pulumi/pulumi", "modules", "RSS MiB", "cloud SDK modules loaded"],
    rows,
    ["l", "r", "r", "r", "r", "r", "l"],
  ),
);

const rootRatio = med("registry-mirrors") / base;
const wholeSdk = TARGETS.filter((t) => t.startsWith("registry-mirrors")).flatMap((t) =>
  samples[t].some((s) => SDKS.some((sdk) => s.sdk[sdk].index)) ? [t] : [],
);
console.log(
  `\nTarget: root within 1.10x of @pulumi/pulumi alone -> ${fixed(rootRatio)}x (${rootRatio <= 1.1 ? "met" : "MISSED"})`,
);
console.log(
  `Target: no subpath loads a whole cloud SDK -> ${wholeSdk.length === 0 ? "met (no @pulumi/{aws,alicloud,kubernetes}/index.js in require.cache)" : `MISSED by ${wholeSdk.join(", ")}`}`,
);
