/** The built-in region catalog's commands (`regions`, `probe`) and the region flags `render` shares. */
import { PolicyError } from "../components/core/errors";
import { parseMirrorUrl } from "../components/core/policy";
import { defaultEcrPullThrough } from "../components/core/regions/aws";
import type { CloudName, MirrorInput, NetworkKind } from "../components/core/regions/catalog";
import { formatRegions } from "../components/core/regions/list";
import { formatProbeTable, type ProbeTarget, probeMirrors, probeTargets } from "../components/core/regions/probe";
import { type RegionSelection, selectMirrors } from "../components/core/regions/select";
import { fail, type Io, parseOrFail } from "./args";

export const REGION_OPTIONS = {
  cloud: { type: "string" },
  region: { type: "string" },
  registry: { type: "string", multiple: true },
  network: { type: "string" },
  "account-id": { type: "string" },
  "accelerator-id": { type: "string" },
  "allow-deprecated-mirrors": { type: "boolean" },
  "allow-public-insecure-registries": { type: "boolean" },
} as const;

type RegionValues = {
  [K in keyof typeof REGION_OPTIONS]?: (typeof REGION_OPTIONS)[K]["type"] extends "boolean"
    ? boolean
    : (typeof REGION_OPTIONS)[K] extends { multiple: true }
      ? string[]
      : string;
};

/** Picks the region's mirrors from the built-in catalog; `fallbacks` come from --mirror / --registry-mirror. */
export function selectionFromFlags(
  values: RegionValues,
  fallbacks: Record<string, MirrorInput[]> = {},
  allowMirrorPaths = false,
): RegionSelection {
  if (values.region === undefined) fail('--cloud needs --region (run "registry-mirrors regions" for the list)');
  const registries = values.registry?.length ? values.registry : undefined;
  const wanted = registries ?? [...new Set(["docker.io", ...Object.keys(fallbacks)])];
  return selectMirrors({
    cloud: values.cloud as CloudName,
    region: values.region,
    registries,
    network: values.network as NetworkKind | undefined,
    awsAccountId: values["account-id"],
    ecrPullThrough: values["account-id"] !== undefined ? defaultEcrPullThrough(wanted) : undefined,
    alicloudAcceleratorId: values["accelerator-id"],
    fallbacks: Object.keys(fallbacks).length ? fallbacks : undefined,
    allowDeprecatedMirrors: values["allow-deprecated-mirrors"],
    allowMirrorPaths,
    allowPublicInsecureRegistries: values["allow-public-insecure-registries"],
  });
}

export function regions(argv: string[], io: Io): number {
  const { values } = parseOrFail(argv, { cloud: { type: "string" }, help: { type: "boolean", short: "h" } }, "regions");
  if (values.help) {
    io.out(
      "Usage: registry-mirrors regions [--cloud aws|alicloud]\n\nLists every built-in region with the endpoints the library derives for it.",
    );
    return 0;
  }
  io.out(formatRegions(values.cloud as CloudName | undefined));
  return 0;
}

export const PROBE_HELP = `Usage: registry-mirrors probe (--cloud C --region R [--registry REG] [--network N] [--account-id ID]
                              [--accelerator-id ID] | --mirror URL ...) [--timeout MS] [--concurrency N]

Sends GET /v2/ to each mirror (200 or 401 means alive), at most --concurrency at a time (default 4), each
bounded by --timeout milliseconds (default 3000), and prints them best first with latency or failure.
Exit code 0 when at least one mirror answered, 1 when none did.`;

export async function probe(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrFail(
    argv,
    {
      ...REGION_OPTIONS,
      mirror: { type: "string", multiple: true },
      timeout: { type: "string" },
      concurrency: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    "probe",
  );
  if (values.help) {
    io.out(PROBE_HELP);
    return 0;
  }
  let targets: Array<string | ProbeTarget>;
  if (values.cloud !== undefined) {
    targets = probeTargets(selectionFromFlags(values).policy);
  } else if (values.mirror?.length) {
    targets = values.mirror;
    values.mirror.forEach((m, i) => parseMirrorUrl(`--mirror[${i}]`, m, { allowPath: true }));
  } else {
    fail(`probe needs --cloud and --region, or --mirror URL\n\n${PROBE_HELP}`);
  }
  const number = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new PolicyError(
        `--${flag}`,
        value,
        "must be a positive whole number",
        `write e.g. --${flag} ${flag === "timeout" ? 3000 : 4}`,
      );
    return n;
  };
  const results = await probeMirrors(targets, {
    timeoutMs: number("timeout", values.timeout),
    concurrency: number("concurrency", values.concurrency),
  });
  io.out(formatProbeTable(results));
  return results.some((r) => r.ok) ? 0 : 1;
}
