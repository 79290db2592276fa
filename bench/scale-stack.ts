/**
 * One platform stack of N node groups under Pulumi mocks, in this process only (run by bench/scale.ts, one process
 * per measurement so peak RSS is this stack's). `--variant components`: RegionalMirrorSelector + MirrorDaemonConfig
 * + an aws.ec2.LaunchTemplate with `launchTemplateUserData` per group. `--variant raw`: the same strings computed
 * directly with the core (selectMirrors, renderNodeConfig, the same user-data fitting), and the same LaunchTemplate.
 * `--variant floor`: raw plus two components that do nothing, i.e. what the SDK charges for two components per group.
 * Prints one JSON line; the time runs from the first construction until every resource is registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { plain, setupMocks, unwrap } from "../test/components/mocks";
import { flag, numberFlag } from "./lib";

const variant = flag("variant", "components");
const groups = numberFlag("groups", 100);
/** Where the components are loaded from: a modified copy can be measured against the same raw stack. */
const componentsDir = resolve(flag("components-dir", join(__dirname, "..", "components")));

/** Regions the groups are spread over (the same ones in both variants). */
const REGIONS = [
  "us-east-1",
  "us-east-2",
  "us-west-2",
  "eu-west-1",
  "eu-central-1",
  "ap-northeast-1",
  "ap-southeast-1",
  "sa-east-1",
];

const CATALOG = {
  regions: Object.fromEntries(
    ["us", "eu", "ap", "sa"].map((area) => [
      `${area}-*`,
      {
        registries: Object.fromEntries(
          ["docker.io", "ghcr.io", "quay.io"].map((r) => [
            r,
            [`https://${r.replace(".", "-")}.mirror.${area}.platform.example.com`],
          ]),
        ),
      },
    ]),
  ),
};

/** What every node group asks for: the platform's in-region mirrors of three registries, then a global fallback. */
function selection(region: string) {
  return {
    cloud: "aws" as const,
    region,
    registries: ["docker.io", "ghcr.io", "quay.io"],
    userCatalog: CATALOG,
    fallbacks: { "docker.io": ["https://mirror.global.platform.example.com"] },
  };
}
/** Node runtimes: the default (docker + containerd). */
const RUNTIMES = ["docker" as const, "containerd" as const];
const LAUNCH = { imageId: "ami-0123456789abcdef0", instanceType: "m6i.large" };

/** A component that does nothing: registers itself and empty outputs. */
class EmptyComponent extends pulumi.ComponentResource {
  constructor(type: string, name: string) {
    super(type, name, {}, {});
    this.registerOutputs({});
  }
}

async function main(): Promise<void> {
  const loadStart = performance.now();
  const mocks = await setupMocks();
  // Loaded after the mocks are set, as a Pulumi program would load them.
  const { LaunchTemplate } = await import("@pulumi/aws/ec2");
  const waits: Array<pulumi.Output<unknown>> = [];
  let build: (i: number) => void;
  if (variant === "components") {
    const { RegionalMirrorSelector } = require(
      join(componentsDir, "regional-mirror-selector"),
    ) as typeof import("../components/regional-mirror-selector");
    const { MirrorDaemonConfig } = require(
      join(componentsDir, "mirror-daemon-config"),
    ) as typeof import("../components/mirror-daemon-config");
    const { launchTemplateUserData } = require(
      join(componentsDir, "aws", "userdata"),
    ) as typeof import("../components/aws/userdata");
    build = (i) => {
      const name = `ng-${i}`;
      const selector = new RegionalMirrorSelector(`${name}-mirrors`, selection(REGIONS[i % REGIONS.length]));
      const config = new MirrorDaemonConfig(`${name}-mirrors`, { policy: selector.policy, runtimes: RUNTIMES });
      const lt = new LaunchTemplate(name, {
        ...LAUNCH,
        userData: launchTemplateUserData({ applyScript: config.applyScript }),
      });
      waits.push(selector.urn, config.urn, lt.urn);
    };
  } else if (variant === "raw") {
    const { selectMirrors } = await import("../components/core/regions/select");
    const { renderNodeConfig } = await import("../components/core/render/node-config");
    const { fitUserData, renderNodeUserData } = await import("../components/core/userdata");
    build = (i) => {
      const chosen = selectMirrors(selection(REGIONS[i % REGIONS.length]));
      const rendered = renderNodeConfig({ policy: chosen.policy, runtimes: RUNTIMES });
      // What launchTemplateUserData computes: plain when it fits EC2's limit, else with the files compressed.
      const userData = fitUserData("ec2", "auto", (compress) =>
        renderNodeUserData({ applyScript: rendered.applyScript, compress }),
      );
      const lt = new LaunchTemplate(`ng-${i}`, { ...LAUNCH, userData });
      waits.push(lt.urn);
    };
  } else if (variant === "floor") {
    // The raw stack plus two empty ComponentResources per group: what the SDK itself charges for two components per
    // group, whatever they do.
    const { selectMirrors } = await import("../components/core/regions/select");
    const { renderNodeConfig } = await import("../components/core/render/node-config");
    const { fitUserData, renderNodeUserData } = await import("../components/core/userdata");
    build = (i) => {
      const selector = new EmptyComponent("bench:index:EmptySelector", `ng-${i}-mirrors`);
      const config = new EmptyComponent("bench:index:EmptyConfig", `ng-${i}-mirrors`);
      const chosen = selectMirrors(selection(REGIONS[i % REGIONS.length]));
      const rendered = renderNodeConfig({ policy: chosen.policy, runtimes: RUNTIMES });
      const userData = fitUserData("ec2", "auto", (compress) =>
        renderNodeUserData({ applyScript: rendered.applyScript, compress }),
      );
      const lt = new LaunchTemplate(`ng-${i}`, { ...LAUNCH, userData });
      waits.push(selector.urn, config.urn, lt.urn);
    };
  } else {
    throw new Error(`--variant must be components, raw or floor, got "${variant}"`);
  }

  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const limit = Error.stackTraceLimit;
  // The SDK captures a stack per promise; at 1,000 groups that is most of the cost. BENCH_STACKS=1 keeps stacks, to
  // see where an error in the stack comes from (and about 2.5x slower).
  Error.stackTraceLimit = process.env.BENCH_STACKS ? 50 : 0;
  for (let i = 0; i < groups; i++) build(i);
  const constructed = performance.now();
  await Promise.all(waits.map((w) => unwrap(w)));
  Error.stackTraceLimit = limit;
  const done = performance.now();
  const cpu = process.cpuUsage(cpu0);
  // What the stack keeps alive once built (with --expose-gc): a steadier figure than time on a shared machine.
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const retainedHeapBytes = gc ? process.memoryUsage().heapUsed : undefined;
  // Both variants must send the engine the same launch templates: a digest of every user data, by name.
  const digest = createHash("sha256");
  for (const lt of mocks.ofType("aws:ec2/launchTemplate:LaunchTemplate").sort((a, b) => (a.name < b.name ? -1 : 1))) {
    digest.update(`${lt.name}\0${plain(lt.inputs.userData)}\0`);
  }
  process.stdout.write(
    `${JSON.stringify({
      variant,
      groups,
      loadMs: t0 - loadStart,
      constructMs: constructed - t0,
      totalMs: done - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      resources: waits.length,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      retainedHeapBytes,
      userDataDigest: digest.digest("hex").slice(0, 16),
    })}\n`,
  );
}

main().then(
  async () => {
    // Let the last output resolutions finish (not timed), so the SDK's leak check at exit finds nothing pending.
    const store = (
      require("@pulumi/pulumi/runtime/state") as { getStore(): { leakCandidates: Set<unknown> } }
    ).getStore();
    for (let i = 0; i < 10_000 && store.leakCandidates.size > 0; i++) await new Promise((r) => setImmediate(r));
    process.exit(0);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
