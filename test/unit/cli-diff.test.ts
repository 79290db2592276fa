import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { main } from "../../cli/main";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { configMapInputs, launchTemplateUserData, policies, previewDoc, steps, urnOf } from "./review-fixtures";

function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const dir = mkdtempSync(join(tmpdir(), "rm-cli-diff-"));
const [before, after] = policies();
const LT = "aws:ec2/launchTemplate:LaunchTemplate";
const CM = "kubernetes:core/v1:ConfigMap";

function previewFile(doc: unknown): string {
  const file = join(dir, `preview-${Math.random().toString(36).slice(2)}.json`);
  // As the CLI writes it: encoding/json MarshalIndent with four spaces.
  writeFileSync(file, `${JSON.stringify(doc, null, 4)}\n`);
  return file;
}

describe("registry-mirrors diff --preview", () => {
  const doc = previewDoc([
    ...steps(
      "update",
      urnOf(LT, "nodes"),
      { type: LT, id: "lt-1", inputs: { userData: launchTemplateUserData(before) } },
      { type: LT, inputs: { userData: launchTemplateUserData(after) } },
      ["userData"],
    ),
    ...steps(
      "replace",
      urnOf(CM, "hosts-node-config"),
      { type: CM, id: "kube-system/x", inputs: configMapInputs(before) },
      { type: CM, inputs: configMapInputs(after) },
      ["data"],
    ),
  ]);

  it("prints a Markdown comment with a section per changed resource, exit 0", () => {
    const result = cli(["diff", "--preview", previewFile(doc)]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(result.out.split("\n")[0]).toBe("### registry-mirrors: node file changes");
    expect(result.out.match(/^#### /gm)).toHaveLength(2);
    expect(result.out).toContain("#### `hosts-node-config` (kubernetes:core/v1:ConfigMap, replace)");
    expect(result.out).toContain('+[host."https://mirror-b2.example.com"]');
  });

  it("--format text prints plain diffs; --title names the stack", () => {
    const result = cli(["diff", "--preview", previewFile(doc), "--format", "text", "--title", "stack prod"]);
    expect(result.code).toBe(0);
    expect(result.out.split("\n")[0]).toBe("stack prod");
    expect(result.out).toContain("== aws:ec2/launchTemplate:LaunchTemplate nodes (update)");
    expect(result.out).toContain("--- a/etc/docker/daemon.json\n+++ b/etc/docker/daemon.json\n@@ -1,7 +1,7 @@");
    expect(result.out).not.toContain("```");
  });

  it("exits 0 when nothing changed, and non-zero only for input it cannot read", () => {
    expect(cli(["diff", "--preview", previewFile(previewDoc([]))])).toMatchObject({
      code: 0,
      out: "### registry-mirrors: node file changes\n\nNo node file changes.",
    });
    const missing = cli(["diff", "--preview", join(dir, "nope.json")]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^registry-mirrors: --preview: cannot read .*nope\.json/);
    const notJson = join(dir, "preview.txt");
    writeFileSync(notJson, "Previewing update (dev):\n");
    const bad = cli(["diff", "--preview", notJson]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--preview: not JSON .*Fix: write the preview with `pulumi preview --json > preview.json`/);
    expect(cli(["diff", "--format", "html", "--preview", notJson]).code).toBe(2);
    expect(cli(["diff", "one"]).err).toContain("diff needs --preview FILE, or two payloads OLD NEW");
  });

  it("--help says it is a review tool, not a gate", () => {
    const help = cli(["diff", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("the exit code is 0 whatever changed");
    expect(cli(["help", "diff"]).out).toBe(help.out);
    expect(cli(["help"]).out).toContain("registry-mirrors diff");
  });
});

describe("registry-mirrors diff OLD NEW", () => {
  it("compares two rendered folders written by render", () => {
    const [a, b] = [join(dir, "a"), join(dir, "b")];
    for (const [out, policy] of [
      [a, before],
      [b, after],
    ] as const) {
      const mirrors = (policy.policy?.registries?.["docker.io"]?.mirrors ?? []) as string[];
      const flags = mirrors.flatMap((m) => ["--mirror", m]);
      expect(cli(["render", ...flags, "--out", out]).code).toBe(0);
    }
    const result = cli(["diff", a, b, "--format", "text"]);
    expect(result.code).toBe(0);
    expect(result.out).toContain(`== ${a} → ${b}`);
    expect(result.out.split("\n").filter((l) => /^[-+][^-+]/.test(l))).toEqual([
      '-    "https://mirror-b.example.com",',
      '+    "https://mirror-b2.example.com",',
      '-[host."https://mirror-b.example.com"]',
      '+[host."https://mirror-b2.example.com"]',
    ]);
  });

  it("compares an apply script with base64 user data, and a folder of node files alone", () => {
    const script = join(dir, "apply.sh");
    writeFileSync(script, renderNodeConfig(before).applyScript);
    const userData = join(dir, "user-data.b64");
    writeFileSync(userData, `${launchTemplateUserData(after)}\n`);
    const result = cli(["diff", script, userData]);
    expect(result.code).toBe(0);
    expect(result.out).toContain('+    "https://mirror-b2.example.com",');
    expect(result.out).not.toMatch(/engine/);

    const buildkit = join(dir, "buildkit");
    cpSync(join(__dirname, "../../examples/ci-buildkit/rendered"), buildkit, { recursive: true });
    const toml = join(buildkit, "node/etc/buildkit/buildkitd.toml");
    writeFileSync(toml, readFileSync(toml, "utf8").replace(/mirrors = \[/, 'mirrors = ["added.example.com", '));
    const folders = cli(["diff", join(__dirname, "../../examples/ci-buildkit/rendered"), buildkit]);
    expect(folders.code).toBe(0);
    expect(folders.out).toContain("`/etc/buildkit/buildkitd.toml`");
    expect(folders.out).toMatch(/^\+mirrors = \["added\.example\.com", /m);
  });

  it("refuses a folder with neither an apply script nor node files", () => {
    const result = cli(["diff", dir, dir]);
    expect(result.code).toBe(2);
    expect(result.err).toContain("has neither apply-node-config.sh nor a node/ folder");
  });
});

describe("the ci-buildkit pipelines post registry-mirrors diff next to the preview", () => {
  const example = join(__dirname, "../../examples/ci-buildkit");
  const cmUrn = urnOf(CM, "buildkitd-config");
  const toml = (mirror: string) => `[registry."docker.io"]\nmirrors = [ "${mirror}" ]\n`;
  const cmInputs = (mirror: string) => ({
    metadata: { name: "buildkitd-config", labels: { "app.kubernetes.io/part-of": "registry-mirrors" } },
    data: { "buildkitd.toml": toml(mirror) },
  });
  const preview = previewDoc(
    steps(
      "update",
      cmUrn,
      { type: CM, inputs: cmInputs("mirror.gcr.io") },
      { type: CM, inputs: cmInputs("m2.example.com") },
      ["data"],
    ),
  );

  /** Runs a pipeline's shell text with stub pulumi/npx/gh/curl that record their arguments. */
  function runScript(script: string, env: Record<string, string>) {
    const work = mkdtempSync(join(tmpdir(), "rm-ci-"));
    const bin = join(work, "bin");
    const stub = (name: string, body: string) =>
      writeFileSync(join(bin, name), `#!/bin/sh\nprintf '%s\\n' "$*" >> "${work}/${name}.calls"\n${body}\n`, {
        mode: 0o755,
      });
    cpSync(example, join(work, "repo"), { recursive: true });
    mkdirSync(bin);
    writeFileSync(join(work, "preview.json"), JSON.stringify(preview));
    stub("pulumi", `case "$*" in *--json*) cat "${work}/preview.json" ;; *) echo "Previewing update" ;; esac`);
    stub("npx", `printf '%s\\0' "$@" > "${work}/npx.args"\necho "### node file changes"`);
    stub("gh", "");
    stub("curl", "");
    const result = spawnSync("bash", ["-e", "-o", "pipefail", "-c", script], {
      cwd: join(work, "repo"),
      env: { PATH: `${bin}:${process.env.PATH}`, ...env },
      encoding: "utf8",
      // stdin not a socket: Debian's bash reads ~/.bashrc when stdin is a network connection.
      stdio: ["ignore", "pipe", "pipe"],
    });
    const calls = (name: string) => {
      try {
        return readFileSync(join(work, `${name}.calls`), "utf8")
          .trimEnd()
          .split("\n");
      } catch {
        return [];
      }
    };
    return { result, calls, work: join(work, "repo") };
  }

  /** The arguments the pipeline gave `npx registry-mirrors`, run through the real CLI on the stub's preview. */
  function runDiff(work: string) {
    const args = readFileSync(join(work, "..", "npx.args"), "utf8")
      .split("\0")
      .slice(0, -1);
    expect(args.slice(0, 2)).toEqual(["registry-mirrors", "diff"]);
    const at = args.indexOf("--preview") + 1;
    return cli(["diff", ...args.slice(2).map((a, i) => (i + 2 === at ? join(work, a) : a))]);
  }

  it("GitHub: a step after the preview runs pulumi preview --json and gh pr comment --body-file", () => {
    const github = YAML.parse(readFileSync(join(example, "github-workflow.yml"), "utf8"));
    const stepsList = github.jobs.preview.steps;
    const at = stepsList.findIndex((s: any) => String(s.run ?? "").includes("registry-mirrors diff"));
    expect(at).toBeGreaterThan(stepsList.findIndex((s: any) => String(s.uses).startsWith("pulumi/actions@")));
    const step = stepsList[at];
    expect(step.env.GH_TOKEN).toBe(["$", "{{ secrets.GITHUB_TOKEN }}"].join(""));
    const { result, calls, work } = runScript(step.run.replace("examples/ci-buildkit", "."), {
      PULUMI_STACK: "org/ci",
      PR_NUMBER: "42",
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(calls("pulumi")).toEqual(["preview --cwd . --stack org/ci --json --non-interactive"]);
    expect(calls("gh")).toEqual(["pr comment 42 --body-file node-files.md"]);
    expect(readFileSync(join(work, "node-files.md"), "utf8")).toBe("### node file changes\n");
    const diff = runDiff(work);
    expect(diff.code).toBe(0);
    expect(diff.out.split("\n")[0]).toBe("### Node file changes of stack `org/ci`");
    expect(diff.out).toContain('-mirrors = [ "mirror.gcr.io" ]\n+mirrors = [ "m2.example.com" ]');
  });

  it("GitLab: the preview job posts the diff as a second merge request note", () => {
    const gitlab = YAML.parse(readFileSync(join(example, "gitlab-ci.yml"), "utf8"));
    const job = gitlab["pulumi-preview"];
    expect(job.artifacts.paths).toEqual(expect.arrayContaining(["preview.json", "node-files.md"]));
    const script = job.script.filter((s: string) => !s.startsWith("npm ci")).join("\n");
    const { result, calls, work } = runScript(script, {
      PULUMI_DIR: ".",
      PULUMI_STACK: "ci",
      CI_API_V4_URL: "https://gitlab.example.com/api/v4",
      CI_PROJECT_ID: "7",
      CI_MERGE_REQUEST_IID: "3",
      GITLAB_NOTES_TOKEN: "t",
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(calls("pulumi")).toEqual([
      "preview --cwd . --stack ci --diff --non-interactive --color never",
      "preview --cwd . --stack ci --json --non-interactive",
    ]);
    const notes = calls("curl");
    expect(notes).toHaveLength(2);
    expect(notes[1]).toContain(
      "--data-urlencode body@node-files.md https://gitlab.example.com/api/v4/projects/7/merge_requests/3/notes",
    );
    const diff = runDiff(work);
    expect(diff.code).toBe(0);
    expect(diff.out).toContain("#### `buildkitd-config` (kubernetes:core/v1:ConfigMap, update)");
  });
});
