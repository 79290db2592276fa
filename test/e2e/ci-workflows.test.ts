/**
 * The examples' GitHub Actions workflows, and a workflow made of the rendered setup-buildx step, pass actionlint
 * (1.7.12, built from the Go module proxy by scripts/build-containerd.sh; it runs shellcheck on every `run:` script).
 * The GitLab jobs' scripts (the examples' pipelines, the rendered Kaniko job and buildx lines) pass shellcheck as the
 * POSIX sh GitLab runs them with.
 */
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import { ciMirrorSettings } from "../../components/core/ci";
import { labTool, run, tmpDir } from "./lab";

const EXAMPLES = join(__dirname, "..", "..", "examples");
const workflows = readdirSync(EXAMPLES)
  .map((name) => join(EXAMPLES, name, "github-workflow.yml"))
  .filter((file) => existsSync(file));
const pipelines = readdirSync(EXAMPLES)
  .map((name) => join(EXAMPLES, name, "gitlab-ci.yml"))
  .filter((file) => existsSync(file));

/** Every job's before_script + script of a GitLab CI document, as one sh script per job. */
function jobScripts(label: string, doc: Record<string, any>): Array<[string, string]> {
  return Object.entries(doc)
    .filter(([, job]) => job !== null && typeof job === "object" && Array.isArray(job.script))
    .map(([name, job]) => [
      `${label} ${name}`,
      `#!/bin/sh\n${[...(job.before_script ?? []), ...job.script].join("\n")}\n`,
    ]);
}

async function actionlint(files: string[]) {
  const bin = join((await labTool("actionlint")).bin, "actionlint");
  return run(bin, ["-shellcheck", "shellcheck", "-no-color", ...files]);
}

describe("actionlint", () => {
  it("finds the examples' workflows (ci-buildkit, ci-github-buildx)", () => {
    expect(workflows.map((f) => f.split("/").at(-2))).toEqual(
      expect.arrayContaining(["ci-buildkit", "ci-github-buildx"]),
    );
  });

  it("passes every example workflow", async () => {
    const res = await actionlint(workflows);
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
  });

  it("passes a workflow built from the rendered setup-buildx steps (file and inline), and flags a broken one", async () => {
    const settings = ciMirrorSettings(
      { registries: { "docker.io": { mirrors: ["https://mirror.gcr.io", "http://127.0.0.1:5000"] } } },
      "github-buildx",
    );
    const fileStep = parseYaml(settings.files["github-buildx/setup-buildx-step.yml"]);
    const workflow = {
      name: "build",
      on: { push: {} },
      jobs: {
        file: { "runs-on": "ubuntu-latest", steps: [{ uses: "actions/checkout@v4" }, ...fileStep] },
        inline: { "runs-on": "ubuntu-latest", steps: [settings.githubStepInline] },
      },
    };
    const dir = tmpDir("actionlint");
    try {
      const good = join(dir, "good.yml");
      writeFileSync(good, stringify(workflow));
      const res = await actionlint([good]);
      expect(res.code, `${res.stdout}\n${res.stderr}\n${readFileSync(good, "utf8")}`).toBe(0);
      // The same workflow with a misspelt input fails: actionlint knows setup-buildx-action's inputs.
      const bad = join(dir, "bad.yml");
      const misspelt = structuredClone(workflow);
      misspelt.jobs.inline.steps = [{ ...settings.githubStepInline, with: { "buildkitd-conf-inline": "x" } }];
      writeFileSync(bad, stringify(misspelt));
      const res2 = await actionlint([bad]);
      expect(res2.code).not.toBe(0);
      expect(res2.stdout).toContain("buildkitd-conf-inline");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("shellcheck on GitLab job scripts", () => {
  const settings = { registries: { "docker.io": { mirrors: ["http://10.0.12.5:5000"] } } };
  const scripts: Array<[string, string]> = [
    ...pipelines.flatMap((file) =>
      jobScripts(file.split("/").slice(-2).join("/"), parseYaml(readFileSync(file, "utf8"))),
    ),
    ...jobScripts(
      "rendered kaniko job",
      parseYaml(ciMirrorSettings(settings, "kaniko").files["kaniko/gitlab-kaniko-job.yml"]),
    ),
    ...jobScripts("rendered buildx lines", {
      build: parseYaml(ciMirrorSettings(settings, "github-buildx").files["github-buildx/gitlab-buildx-script.yml"]),
    }),
  ];

  it("finds the DinD build, the deploy and the rendered jobs", () => {
    const names = scripts.map(([name]) => name);
    expect(names).toEqual(
      expect.arrayContaining([
        "ci-gitlab-dind/gitlab-ci.yml build-image",
        "ci-gitlab-dind/gitlab-ci.yml deploy",
        "rendered kaniko job build-image",
        "rendered buildx lines build",
      ]),
    );
  });

  it.each(scripts)("%s", async (_name, script) => {
    const dir = tmpDir("gitlab-sh");
    try {
      const file = join(dir, "job.sh");
      writeFileSync(file, script);
      // Warnings and errors; the info-level note on backticks inside a printf format is by design.
      const res = await run("shellcheck", ["-s", "sh", "--severity=warning", file]);
      expect(`${res.stdout}${res.stderr}`, script).toBe("");
      expect(res.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
