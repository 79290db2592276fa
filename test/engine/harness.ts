/**
 * Runs the real Pulumi CLI against a throwaway local backend: a temporary PULUMI_HOME, `file://` state, the
 * passphrase secrets provider, no update check and no plugin downloads. The CLI and the Kubernetes provider are
 * those scripts/build-pulumi.sh builds into .tools/ (or PULUMI_TOOLS_DIR), or PULUMI_BIN and PULUMI_KUBERNETES_BIN.
 *
 * Programs import the package by its name; Node resolves `registry-mirrors` to this repository's own package.json
 * (a package may import itself through its `exports`), i.e. to the built `dist/`, exactly as a user's program
 * gets it. `npm run test:engine` builds dist first.
 */
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, delimiter, dirname, join, resolve } from "node:path";

export const REPO_ROOT = resolve(__dirname, "../..");
export const PROGRAMS = join(__dirname, "programs");
export const PASSPHRASE = "engine-test-passphrase";
/** Where scripts/build-pulumi.sh puts its builds. */
const TOOLS_DIR = process.env.PULUMI_TOOLS_DIR || join(REPO_ROOT, ".tools");

/** The @pulumi/pulumi version the lockfile pins: the CLI must be the same version. */
export function pinnedPulumiVersion(): string {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8"));
  return lock.packages["node_modules/@pulumi/pulumi"].version;
}

/** The Kubernetes provider plugin: PULUMI_KUBERNETES_BIN, or the one scripts/build-pulumi.sh built. */
export function kubernetesProviderBin(): string {
  if (process.env.PULUMI_KUBERNETES_BIN) return process.env.PULUMI_KUBERNETES_BIN;
  // The script names the version once; the plugin is where it puts it.
  const script = readFileSync(join(REPO_ROOT, "scripts/build-pulumi.sh"), "utf8");
  const version = /^k8s_version=\$\{PULUMI_KUBERNETES_VERSION:-([^}]+)\}$/m.exec(script)?.[1];
  const bin = join(TOOLS_DIR, `pulumi-kubernetes-${version}/bin/pulumi-resource-kubernetes`);
  if (!version || !existsSync(bin))
    throw new Error(
      `no Kubernetes provider plugin at ${bin}: run \`bash scripts/build-pulumi.sh\` (or set PULUMI_KUBERNETES_BIN)`,
    );
  return bin;
}

/** The CLI to run: PULUMI_BIN, or the one scripts/build-pulumi.sh built. */
export function pulumiBin(): string {
  const bin = process.env.PULUMI_BIN || join(TOOLS_DIR, `pulumi-${pinnedPulumiVersion()}/bin/pulumi`);
  if (!existsSync(bin))
    throw new Error(
      `no Pulumi CLI at ${bin}: run \`bash scripts/build-pulumi.sh\` (or set PULUMI_BIN to pulumi v${pinnedPulumiVersion()})`,
    );
  return bin;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One backend and PULUMI_HOME, removed by `dispose`. Stacks live in it; programs stay in the repository. */
export class EngineWorkspace {
  readonly dir = mkdtempSync(join(tmpdir(), "rm-engine-"));
  readonly backend = join(this.dir, "backend");
  readonly env: NodeJS.ProcessEnv;
  private readonly bin = pulumiBin();

  constructor() {
    mkdirSync(this.backend);
    mkdirSync(join(this.dir, "home"));
    this.env = {
      ...process.env,
      // The language host is found beside the CLI or on PATH, the provider plugin on PATH.
      PATH: [dirname(this.bin), dirname(kubernetesProviderBin()), process.env.PATH].join(delimiter),
      PULUMI_HOME: join(this.dir, "home"),
      PULUMI_BACKEND_URL: `file://${this.backend}`,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
      // tsc checks the programs in `npm test`; the engine runs only transpile them.
      PULUMI_NODEJS_TRANSPILE_ONLY: "true",
      NO_COLOR: "1",
    };
    this.must(["login", `file://${this.backend}`]);
  }

  /**
   * Makes the Kubernetes provider plugin the installed plugin of `version` in PULUMI_HOME, the layout `pulumi plugin
   * install --file` writes (linked, not copied): the CLI installs the plugins a package folder's SDKs name before it
   * runs the package, and would otherwise download them.
   */
  installKubernetesPlugin(version: string): void {
    const dir = join(this.dir, "home/plugins", `resource-kubernetes-v${version}`);
    mkdirSync(dir, { recursive: true });
    symlinkSync(kubernetesProviderBin(), join(dir, "pulumi-resource-kubernetes"));
  }

  /** Runs `pulumi ARGS` in `cwd` (default the repository root). */
  run(args: string[], cwd = REPO_ROOT): RunResult {
    const r = spawnSync(this.bin, [...args, "--non-interactive", "--color", "never"], {
      cwd,
      env: this.env,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.error) throw r.error;
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Like `run`, but fails with the command's output when it exits non-zero. */
  must(args: string[], cwd = REPO_ROOT): RunResult {
    const r = this.run(args, cwd);
    if (r.code !== 0)
      throw new Error(`pulumi ${args.join(" ")} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    return r;
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One stack of one program; its config file lives in the workspace, not beside the program. */
export class EngineStack {
  readonly configFile: string;

  constructor(
    readonly ws: EngineWorkspace,
    readonly programDir: string,
    readonly name: string,
  ) {
    // Named after the program too: two projects may have stacks of one name in the backend.
    this.configFile = join(ws.dir, `${basename(programDir)}.${name}.config.yaml`);
    // `stack init` takes no --config-file: it writes Pulumi.<stack>.yaml (the passphrase salt) beside the
    // program, and the file moves to the workspace at once.
    ws.must(["stack", "init", name, "--secrets-provider", "passphrase"], programDir);
    renameSync(join(programDir, `Pulumi.${name}.yaml`), this.configFile);
  }

  private withStack(args: string[]): string[] {
    return [...args, "--stack", this.name, "--config-file", this.configFile];
  }

  run(args: string[]): RunResult {
    return this.ws.run(this.withStack(args), this.programDir);
  }

  must(args: string[]): RunResult {
    return this.ws.must(this.withStack(args), this.programDir);
  }

  setConfig(key: string, value: string, opts: { secret?: boolean; path?: boolean } = {}): void {
    this.must([
      "config",
      "set",
      key,
      value,
      ...(opts.secret ? ["--secret"] : ["--plaintext"]),
      ...(opts.path ? ["--path"] : []),
    ]);
  }

  /** `pulumi stack export` as JSON (secrets stay encrypted). */
  exportState(): Checkpoint {
    return JSON.parse(this.ws.must(["stack", "export", "--stack", this.name], this.programDir).stdout) as Checkpoint;
  }

  /** Every file the file backend wrote (the checkpoint, its history and backups), as one text. */
  backendFiles(): string {
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(dir, e.name)) : [readFileSync(join(dir, e.name), "utf8")],
      );
    return walk(this.ws.backend).join("\n");
  }

  /** Stack outputs, secrets decrypted. */
  outputs(): Record<string, unknown> {
    const args = ["stack", "output", "--json", "--show-secrets", "--stack", this.name];
    return JSON.parse(this.ws.must(args, this.programDir).stdout);
  }
}

export interface CheckpointResource {
  urn: string;
  type: string;
  custom: boolean;
  parent?: string;
  outputs?: Record<string, unknown>;
  inputs?: Record<string, unknown>;
}

export interface Checkpoint {
  version: number;
  deployment: { secrets_providers?: { type: string }; resources?: CheckpointResource[] };
}

/**
 * Fails when a credential appears in `text` in any form a program could leak it: as is, JSON-escaped, or
 * base64-encoded (pass `user:password` pairs too: basic auth is base64 of the pair, not of the password).
 */
export function assertNoCredential(text: string, credentials: string[], where: string): void {
  for (const credential of credentials) {
    const forms: Array<[string, string]> = [
      ["plain", credential],
      ["JSON-escaped", JSON.stringify(credential).slice(1, -1)],
      ["base64", Buffer.from(credential).toString("base64")],
    ];
    for (const [form, needle] of forms)
      if (text.includes(needle)) throw new Error(`a credential appears ${form} in ${where}`);
  }
}

/** Runs a command, failing with its output when it exits non-zero; returns its stdout. */
export function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * The multi-language package (provider/) as a user gets it, in the workspace: its files, and the library packed
 * (`npm pack`, of the built dist) where its package.json expects it. The CLI installs its dependencies on first use.
 */
export function packageFolder(ws: EngineWorkspace): string {
  const dir = join(ws.dir, "provider");
  for (const file of ["PulumiPlugin.yaml", "package.json", "tsconfig.json", "index.ts"])
    cpSync(join(REPO_ROOT, "provider", file), join(dir, file));
  const tarball = sh("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", dir], REPO_ROOT)
    .trim()
    .split("\n")
    .pop() as string;
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  if (manifest.dependencies["registry-mirrors"] !== `file:${tarball}`)
    throw new Error(`provider/package.json must depend on registry-mirrors as file:${tarball}`);
  if (manifest.dependencies["@pulumi/pulumi"] !== pinnedPulumiVersion())
    throw new Error(`provider/package.json must depend on @pulumi/pulumi ${pinnedPulumiVersion()}`);
  ws.installKubernetesPlugin(manifest.dependencies["@pulumi/kubernetes"]);
  return dir;
}

/** A copy of a program (test/engine/programs/NAME) in the workspace. */
export function programCopy(ws: EngineWorkspace, name: string): string {
  const dir = join(ws.dir, name);
  cpSync(join(PROGRAMS, name), dir, { recursive: true });
  return dir;
}

/** A copy of a program in the workspace, its Pulumi.yaml naming the package folder (what `pulumi package add` adds). */
export function programWithPackage(ws: EngineWorkspace, name: string, pluginDir: string): string {
  const dir = programCopy(ws, name);
  const project = join(dir, "Pulumi.yaml");
  writeFileSync(project, `${readFileSync(project, "utf8")}packages:\n  registry-mirrors: ${pluginDir}\n`);
  return dir;
}

/**
 * A Python virtualenv in the workspace with the `pulumi` package at the pinned version and `packages` (pip
 * requirements or paths), put first on the workspace's PATH so the Python language host uses it.
 */
export function pythonVenv(ws: EngineWorkspace, packages: string[]): void {
  const venv = join(ws.dir, "venv");
  sh("python3", ["-m", "venv", venv], ws.dir);
  sh(join(venv, "bin/pip"), ["install", "--quiet", `pulumi==${pinnedPulumiVersion()}`, ...packages], ws.dir);
  ws.env.PATH = `${join(venv, "bin")}${delimiter}${ws.env.PATH}`;
}
