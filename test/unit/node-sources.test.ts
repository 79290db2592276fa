import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  DATA_MARKER,
  ECR_DIR,
  ECR_UNIT,
  ENGINE_VERSION,
  engineVersionOf,
  nodeSource,
  renderApplyScript,
  splitApplyScript,
  TEMPLATE_SUFFIX,
} from "../../components/core/node-script";
import { renderNodeConfig } from "../../components/core/render/node-config";
import {
  DEFAULT_APPLY_SCRIPT_PATH,
  renderCloudConfig,
  renderShellUserData,
  userDataFiles,
} from "../../components/core/userdata";
import { engineFetcher } from "../../components/core/userdata/engine-url";

const NODE_DIR = join(__dirname, "../../components/core/node");
const sources = readdirSync(NODE_DIR).sort();

function run(cmd: string, args: string[], input?: string) {
  return spawnSync(cmd, args, { input, encoding: "utf8" });
}

describe("the node code as source files", () => {
  it("holds the parts of the engine, each starting with its contract", () => {
    for (const name of ["prelude.sh", "docker.sh", "containerd.sh", "ecr.sh", "spegel.sh", "files.sh", "main.sh"]) {
      expect(sources).toContain(name);
      const text = nodeSource(name);
      expect(text.startsWith("# shellcheck shell=sh\n"), name).toBe(true);
      expect(text, name).toMatch(/^# (Contract|Exit codes)/m);
    }
  });

  // Each part alone: variables another part sets (SC2034 unused, SC2154 unassigned, SC2153 misspelt?) are checked in
  // the assembled script instead, which test/unit/apply-script.test.ts runs through shellcheck whole.
  it.each(sources.filter((f) => f.endsWith(".sh")))("%s passes shellcheck -s sh (style)", (name) => {
    const res = run("shellcheck", ["-s", "sh", "-S", "style", "-e", "SC2034,SC2154,SC2153", join(NODE_DIR, name)]);
    expect(res.error).toBeUndefined();
    expect(res.stdout).toBe("");
    expect(res.status).toBe(0);
  });

  it("the engine fetcher as user data carries it, and the shell user data that runs it, pass shellcheck", () => {
    const script = renderNodeConfig({ mirrors: ["https://m.example.com"] }).applyScript;
    const userData = renderShellUserData({ applyScript: script, engineUrl: "https://artifacts.example.com/rm/" });
    expect(userData).toContain(engineFetcher());
    for (const text of [userData, engineFetcher()]) {
      const res = run("shellcheck", ["-s", "sh", "-S", "style", "-"], text);
      expect(res.stdout).toBe("");
      expect(res.status).toBe(0);
    }
  });

  it.each(sources.filter((f) => f.endsWith(".py")))("%s compiles with python3", (name) => {
    const res = run("python3", [
      "-c",
      "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')",
      join(NODE_DIR, name),
    ]);
    expect(res.stderr).toBe("");
    expect(res.status).toBe(0);
  });

  it("merge.jq and scan.awk parse with jq and awk", () => {
    const jq = run("jq", [
      "-n",
      "--slurpfile",
      "c",
      "/dev/null",
      "--slurpfile",
      "w",
      "/dev/null",
      "--slurpfile",
      "o",
      "/dev/null",
      "--slurpfile",
      "b",
      "/dev/null",
      "--argjson",
      "all",
      "false",
      "--argjson",
      "changes",
      "false",
      "-f",
      join(NODE_DIR, "merge.jq"),
    ]);
    expect(jq.stderr).toBe("");
    expect(JSON.parse(jq.stdout)).toEqual({});
    const awk = run("awk", ["-v", "q='", "-f", join(NODE_DIR, "scan.awk")], "version = 2\n");
    expect(awk.stderr).toBe("");
    expect(awk.stdout).toContain("version 2\n");
  });

  it("the refresher and its units name the folder, units and template suffix the library uses", () => {
    expect(nodeSource("ecr-token-refresh.sh")).toContain(`DIR=$ROOT${ECR_DIR}\n`);
    expect(nodeSource("ecr-token-refresh.sh")).toContain(`$file${TEMPLATE_SUFFIX}`);
    expect(nodeSource("ecr-token.service")).toContain(`ExecStart=/bin/sh ${ECR_DIR}/ecr-token-refresh\n`);
    expect(nodeSource("ecr-token-refresh.sh")).toContain(`${ECR_UNIT}.timer`);
  });

  it("the engine version is the package's", () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, "../../package.json"), "utf8"));
    expect(ENGINE_VERSION).toBe(pkg.version);
  });
});

describe("engine and data", () => {
  const policy = (hub: string[]) => ({
    registries: {
      "docker.io": { mirrors: hub },
      "ghcr.io": { mirrors: ["https://ghcr-1.example.com", "https://ghcr-2.example.com"] },
      "quay.io": { mirrors: ["https://quay-1.example.com"] },
    },
  });

  it("a changed mirror changes only the data lines of the files that hold it; the engine keeps its bytes", () => {
    const before = renderNodeConfig({ policy: policy(["https://hub-1.example.com", "https://hub-2.example.com"]) });
    const after = renderNodeConfig({ policy: policy(["https://hub-1.example.com", "https://hub-3.example.com"]) });
    const a = splitApplyScript(before.applyScript);
    const b = splitApplyScript(after.applyScript);
    expect(a && b).toBeTruthy();
    expect(b?.engine).toBe(a?.engine);
    const oldLines = a?.data.split("\n") ?? [];
    const newLines = b?.data.split("\n") ?? [];
    expect(newLines.length).toBe(oldLines.length);
    const changed = newLines.filter((line, i) => line !== oldLines[i]);
    // daemon.json's list and hosts.toml's [host."…"] table: the only lines that name the replaced mirror.
    expect(changed).toEqual(['    "https://hub-3.example.com"', '[host."https://hub-3.example.com"]']);
  });

  it("splits at the data marker and names the engine version", () => {
    const script = renderApplyScript({ restartPolicy: "never", docker: { desired: { debug: false } } });
    const parts = splitApplyScript(script);
    expect(parts?.data.startsWith(`${DATA_MARKER}\n`)).toBe(true);
    expect(`${parts?.engine}${parts?.data}`).toBe(script);
    expect(engineVersionOf(script)).toBe(ENGINE_VERSION);
    expect(parts?.engine).not.toContain("node_data() {");
    expect(parts?.data).toMatch(/main "\$@"\n$/);
  });
});

describe("user data of the engine and data parts", () => {
  const registries = (second: string) => ({
    "docker.io": { mirrors: ["https://hub-1.example.com", second] },
    "quay.io": { mirrors: ["https://quay-1.example.com"] },
  });

  it("a changed mirror changes only the readable data lines of the user data; the compressed engine keeps its bytes", () => {
    const userData = (second: string) =>
      renderCloudConfig({
        applyScript: renderNodeConfig({ policy: { registries: registries(second) } }).applyScript,
        compress: true,
      });
    const before = userData("https://hub-2.example.com").split("\n");
    const after = userData("https://hub-3.example.com").split("\n");
    expect(after.length).toBe(before.length);
    const changed = after.filter((line, i) => line !== before[i]).map((line) => line.trim());
    expect(changed).toEqual(['"https://hub-3.example.com"', '[host."https://hub-3.example.com"]']);
    // The engine travels gzip+base64 on one line, the same in both.
    const engineLine = before.findIndex((line) => line.includes("apply-node-config.sh.engine"));
    expect(engineLine).toBeGreaterThan(-1);
    expect(after.slice(engineLine, engineLine + 5)).toEqual(before.slice(engineLine, engineLine + 5));
  });

  it("reads back as the one apply script, in the cloud-config and shell forms, compressed or not", () => {
    const script = renderNodeConfig({ policy: { registries: registries("https://hub-2.example.com") } }).applyScript;
    for (const compress of [false, true, "all"] as const) {
      for (const text of [
        renderCloudConfig({ applyScript: script, compress }),
        renderShellUserData({ applyScript: script, compress }),
      ]) {
        expect(userDataFiles(text)).toEqual([{ path: DEFAULT_APPLY_SCRIPT_PATH, content: script, mode: 0o700 }]);
      }
    }
  });
});
