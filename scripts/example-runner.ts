/**
 * Runs the example programs (every folder under examples/, and the root Pulumi.yaml's platform program) under
 * Pulumi mocks and collects the node files each renders, so they can be compared with, or written to, the
 * committed `rendered/` folder beside the program. Shared by test/components/examples.test.ts and
 * scripts/update-examples.ts; it depends on neither vitest nor the test helpers.
 *
 * The harness convention: every program exports
 *   `export const nodeFiles: pulumi.Output<Record<string, string>>`
 * mapping a path relative to `rendered/` (e.g. `node/etc/containerd/certs.d/docker.io/hosts.toml`,
 * `apply-node-config.sh`, `user-data.yaml`) to the file's exact content.
 */
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import YAML from "yaml";

export const REPO_ROOT = resolve(__dirname, "..");

/** The stack name the programs run as under mocks. */
export const MOCK_STACK = "example";

/** One runnable program and where its rendered files live. */
export interface ExampleProgram {
  /** Folder name under examples/, or "platform" for the root Pulumi.yaml. */
  name: string;
  /** The folder holding `rendered/` (the example folder, or platform/). */
  dir: string;
  /** The Pulumi.yaml that describes the program. */
  projectFile: string;
  /** The program's entry file. */
  program: string;
  /** The project name (the namespace of its config keys). */
  project: string;
}

/**
 * Values for config keys that have no default in their Pulumi.yaml (account-specific ids, secrets), per program.
 * Every value here is fictional. A key listed here that the Pulumi.yaml does not declare is an error.
 */
export const TEST_CONFIG: Record<string, Record<string, string>> = {
  "ack-node-pool": {
    acceleratorId: "a1b2c3d4",
    clusterId: "c0123456789abcdef0123456789abcdef",
    vswitchIds: JSON.stringify(["vsw-bp1example0000000001", "vsw-bp1example0000000002"]),
  },
  "china-partition": {
    acceleratorId: "a1b2c3d4",
    nodeRoleArn: "arn:aws-cn:iam::123456789012:role/eks-nodes",
  },
  "ci-buildkit": {},
  "eks-node-group": {
    dockerHubAccessToken: "dckr_pat_example-not-a-real-token",
    dockerHubUsername: "platform-bot",
    engineBucket: "platform-node-engine-123456789012",
    s3EndpointId: "vpce-0example0123456789",
    nodeRoleArn: "arn:aws:iam::123456789012:role/eks-nodes",
  },
  "ess-scaling-group": {
    acceleratorId: "a1b2c3d4",
    securityGroupId: "sg-bp1example000000001",
    vswitchIds: JSON.stringify(["vsw-bp1example0000000001"]),
  },
  "eks-ecr-pull-secret": {
    ecrRegistry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE0123456789",
  },
  "existing-cluster": {
    registryPassword: "example-Pw-5521",
  },
  "hybrid-multi-region": {
    acceleratorId: "a1b2c3d4",
  },
  "self-hosted-cache": {
    dockerHubToken: "dckr_pat_example-not-a-real-token",
  },
  platform: {
    acceleratorId: "a1b2c3d4",
    cloud: "alicloud",
    region: "cn-hangzhou",
  },
};

/** What the mocked data sources return, by invoke token. `config` is the program's resolved config. */
const CALL_RESULTS: Record<
  string,
  (args: Record<string, any>, config: Record<string, string>) => Record<string, unknown>
> = {
  "aws:index/getRegion:getRegion": (args, config) => {
    const region = args.region ?? config["aws:region"] ?? "us-west-2";
    return { id: region, name: region, region, description: region, endpoint: `ec2.${region}.amazonaws.com` };
  },
  "aws:index/getCallerIdentity:getCallerIdentity": () => ({
    id: "123456789012",
    accountId: "123456789012",
    arn: "arn:aws:iam::123456789012:user/platform",
    userId: "AIDAEXAMPLE",
  }),
  "aws:eks/getCluster:getCluster": (args, config) => ({
    id: args.name,
    name: args.name,
    arn: `arn:aws:eks:${config["aws:region"] ?? "us-west-2"}:123456789012:cluster/${args.name}`,
    version: "1.33",
    vpcConfig: { subnetIds: ["subnet-0example00000001", "subnet-0example00000002"], vpcId: "vpc-0example000000001" },
  }),
  "aws:ssm/getParameter:getParameter": (args) => ({
    id: args.name,
    name: args.name,
    type: "String",
    value: "ami-0example0000000001",
    insecureValue: "ami-0example0000000001",
  }),
  "alicloud:index/getRegions:getRegions": (_args, config) => {
    const region = config["alicloud:region"] ?? "cn-hangzhou";
    return { id: region, ids: [region], regions: [{ id: region, regionId: region, localName: region }] };
  },
  "alicloud:ecs/getImages:getImages": () => ({
    id: "images",
    ids: ["aliyun_3_x64_20G_alibase_20240819.vhd"],
    images: [{ id: "aliyun_3_x64_20G_alibase_20240819.vhd", imageId: "aliyun_3_x64_20G_alibase_20240819.vhd" }],
  }),
};

/** Outputs a provider computes that programs read, by resource type (the mock echoes the inputs otherwise). */
const COMPUTED_STATE: Record<string, (name: string) => Record<string, unknown>> = {
  "aws:ec2/launchTemplate:LaunchTemplate": () => ({ latestVersion: 1 }),
  "aws:iam/role:Role": (name) => ({ arn: `arn:aws:iam::123456789012:role/${name}` }),
  "aws:secretsmanager/secret:Secret": (name) => ({
    arn: `arn:aws:secretsmanager:us-west-2:123456789012:secret:${name}-AbCdEf`,
  }),
};

/** Every program under examples/ (sorted by name), then the platform program of the root Pulumi.yaml. */
export function listExamples(root = REPO_ROOT): ExampleProgram[] {
  const examplesDir = join(root, "examples");
  const out: ExampleProgram[] = [];
  for (const name of readdirSync(examplesDir).sort()) {
    const dir = join(examplesDir, name);
    if (!statSync(dir).isDirectory()) continue;
    const projectFile = join(dir, "Pulumi.yaml");
    if (!existsSync(projectFile))
      throw new Error(`examples/${name} has no Pulumi.yaml: every folder under examples/ must be a runnable program`);
    out.push(programOf(name, projectFile));
  }
  const rootProject = join(root, "Pulumi.yaml");
  if (existsSync(rootProject)) {
    const p = programOf("platform", rootProject);
    out.push({ ...p, dir: dirname(p.program) });
  }
  return out;
}

function programOf(name: string, projectFile: string): ExampleProgram {
  const doc = YAML.parse(readFileSync(projectFile, "utf8")) as { name?: string; main?: string };
  if (!doc?.name) throw new Error(`${projectFile}: no project name`);
  const dir = dirname(projectFile);
  let program = resolve(dir, doc.main ?? ".");
  if (existsSync(program) && statSync(program).isDirectory()) program = join(program, "index.ts");
  if (!existsSync(program))
    throw new Error(`${projectFile}: the program ${relative(REPO_ROOT, program)} does not exist`);
  return { name, dir, projectFile, program, project: doc.name };
}

/** The config the program runs with: the Pulumi.yaml defaults and values, then {@link TEST_CONFIG}. */
export function exampleConfig(example: ExampleProgram): { config: Record<string, string>; secretKeys: string[] } {
  const doc = YAML.parse(readFileSync(example.projectFile, "utf8")) as { config?: Record<string, unknown> };
  const declared = doc.config ?? {};
  const testValues = TEST_CONFIG[example.name] ?? {};
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const unknown of Object.keys(testValues).filter((k) => !(k in declared))) {
    throw new Error(
      `TEST_CONFIG["${example.name}"].${unknown}: ${relative(REPO_ROOT, example.projectFile)} declares no such config key`,
    );
  }
  for (const [key, spec] of Object.entries(declared)) {
    const fullKey = key.includes(":") ? key : `${example.project}:${key}`;
    let value: unknown;
    if (spec !== null && typeof spec === "object" && !Array.isArray(spec)) {
      const s = spec as { value?: unknown; default?: unknown; secret?: boolean };
      value = s.value ?? s.default;
      if (s.secret) secretKeys.push(fullKey);
    } else {
      value = spec;
    }
    if (key in testValues) value = testValues[key];
    if (value === undefined) {
      throw new Error(
        `${relative(REPO_ROOT, example.projectFile)}: config key "${key}" has no default; give it a test value in TEST_CONFIG["${example.name}"] (scripts/example-runner.ts)`,
      );
    }
    config[fullKey] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { config, secretKeys };
}

/** One resource the program registered, as the mock saw it. */
export interface RecordedResource {
  type: string;
  name: string;
  /** Inputs with secrets unwrapped. */
  inputs: Record<string, any>;
  /** Inputs as sent to the engine: secrets still wrapped (`pulumi.runtime.isRpcSecret`). */
  rawInputs: Record<string, any>;
  /** Paths of the inputs that arrived as secrets (`(all)` when the whole input object was one). */
  secretInputs: string[];
}

/** What one run of a program produced. */
export interface ExampleRun {
  /** The program's `nodeFiles`: path under rendered/ to exact content. */
  files: Record<string, string>;
  /** Every warning the program logged (`pulumi.log.warn`, which prints to the console under mocks). */
  warnings: string[];
  resources: RecordedResource[];
  /** Invoked data sources, by token. */
  calls: string[];
  /** The program's module exports (its stack outputs). */
  exports: Record<string, unknown>;
}

/**
 * Runs one program under mocks. `load` imports the program in a fresh module registry (vitest:
 * `vi.resetModules()` + `import()`; a plain Node process: drop it from `require.cache` and `require` it),
 * because a Pulumi program creates its resources when it is imported.
 */
export async function runExample(
  example: ExampleProgram,
  load: (file: string) => Promise<Record<string, unknown>>,
): Promise<ExampleRun> {
  const { config, secretKeys } = exampleConfig(example);
  const resources: RecordedResource[] = [];
  const calls: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const secretInputs: string[] = [];
        const inputs = unwrapSecrets(args.inputs, "", secretInputs) as Record<string, any>;
        resources.push({ type: args.type, name: args.name, inputs, rawInputs: args.inputs, secretInputs });
        return {
          id: args.custom ? `${args.name}-id` : "",
          state: { ...args.inputs, ...(COMPUTED_STATE[args.type]?.(args.name) ?? {}) },
        };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        calls.push(args.token);
        const result = CALL_RESULTS[args.token];
        if (!result)
          throw new Error(
            `${example.name}: no mock for the data source ${args.token}; add one to CALL_RESULTS in scripts/example-runner.ts`,
          );
        return result(args.inputs, config);
      },
    },
    example.project,
    MOCK_STACK,
    false,
  );
  pulumi.runtime.setAllConfig(config, secretKeys);

  const warnings: string[] = [];
  const consoleWarn = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(
      args
        .map(String)
        .join(" ")
        .replace(/^warning: \[runtime\] /, ""),
    );
  };
  try {
    const mod = await load(example.program);
    const nodeFiles = mod.nodeFiles;
    if (!pulumi.Output.isInstance(nodeFiles)) {
      throw new Error(
        `${relative(REPO_ROOT, example.program)} must export \`nodeFiles: pulumi.Output<Record<string, string>>\` (path under rendered/ -> content)`,
      );
    }
    // `promise()` rejects when a computation failed; waiting through `apply` would wait forever instead.
    const files = (await (nodeFiles as unknown as { promise(): Promise<unknown> }).promise()) as Record<string, string>;
    checkFiles(example, files);
    // Let every resource registration started by the program reach the mock.
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    return { files, warnings: [...new Set(warnings)], resources, calls, exports: mod };
  } finally {
    console.warn = consoleWarn;
  }
}

function unwrapSecrets(value: unknown, path: string, secrets: string[]): unknown {
  if (pulumi.runtime.isRpcSecret(value)) {
    secrets.push(path || "(all)");
    return unwrapSecrets(pulumi.runtime.unwrapRpcSecret(value), path, secrets);
  }
  if (Array.isArray(value)) return value.map((v, i) => unwrapSecrets(v, `${path}[${i}]`, secrets));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v, path ? `${path}.${k}` : k, secrets)]),
    );
  }
  return value;
}

function checkFiles(example: ExampleProgram, files: unknown): asserts files is Record<string, string> {
  const where = relative(REPO_ROOT, example.program);
  if (files === null || typeof files !== "object" || Array.isArray(files))
    throw new Error(`${where}: nodeFiles must be an object of path -> content`);
  for (const [path, content] of Object.entries(files)) {
    const parts = path.split("/");
    if (path.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")) {
      throw new Error(`${where}: nodeFiles key "${path}" must be a plain relative path under rendered/`);
    }
    if (typeof content !== "string")
      throw new Error(`${where}: nodeFiles["${path}"] is ${typeof content}, not a string`);
  }
}

/** Every file under `dir`, by path relative to it (with `/`), or an empty map when it does not exist. */
export function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (at: string) => {
    for (const entry of readdirSync(at).sort()) {
      const full = join(at, entry);
      if (statSync(full).isDirectory()) walk(full);
      else out[relative(dir, full).split(sep).join("/")] = readFileSync(full, "utf8");
    }
  };
  walk(dir);
  return out;
}

/** Replaces `dir` with exactly `files`. */
export function writeTree(dir: string, files: Record<string, string>): void {
  rmSync(dir, { recursive: true, force: true });
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, ...path.split("/"));
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

/** The rendered/ folder of a program. */
export function renderedDir(example: ExampleProgram): string {
  return join(example.dir, "rendered");
}

/**
 * A unified diff from the committed tree to the rendered one (`diff -u`, file by file: a missing file is
 * diffed against /dev/null), or "" when they are equal. Labels are paths relative to the repository.
 */
export function diffTrees(label: string, committed: Record<string, string>, rendered: Record<string, string>): string {
  const paths = [...new Set([...Object.keys(committed), ...Object.keys(rendered)])].sort();
  const changed = paths.filter((p) => committed[p] !== rendered[p]);
  if (changed.length === 0) return "";
  const tmp = mkdtempSync(join(tmpdir(), "examples-diff-"));
  try {
    const chunks: string[] = [];
    changed.forEach((path, i) => {
      const a = join(tmp, `${i}-a`);
      const b = join(tmp, `${i}-b`);
      writeFileSync(a, committed[path] ?? "");
      writeFileSync(b, rendered[path] ?? "");
      const result = spawnSync(
        "diff",
        [
          "-u",
          "--label",
          path in committed ? `a/${label}/${path}` : "/dev/null",
          "--label",
          path in rendered ? `b/${label}/${path}` : "/dev/null",
          a,
          b,
        ],
        { encoding: "utf8" },
      );
      if (result.error) throw result.error;
      if (result.status === 2) throw new Error(`diff failed: ${result.stderr}`);
      // Two empty contents diff to nothing: say which side lacks the (empty) file.
      chunks.push(
        result.stdout ||
          `--- ${label}/${path}: an empty file ${path in committed ? "committed but no longer rendered" : "rendered but not committed"}\n`,
      );
    });
    return chunks.join("");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
