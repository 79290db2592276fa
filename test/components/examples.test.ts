/**
 * Every example program (examples/<name>/) and the platform program of the root Pulumi.yaml, run under Pulumi
 * mocks: the node files each renders must equal its committed rendered/ folder, byte for byte, in both directions.
 * A pull request that changes node configuration therefore also changes rendered/, and the reviewer sees the exact
 * file changes. On drift the test prints a unified diff; `npm run examples:update` regenerates the folders.
 */
import { beforeAll, describe, expect, it, vi } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseToml } from "smol-toml";
import YAML from "yaml";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { Job } from "kubernetes-models/batch/v1/Job";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Service } from "kubernetes-models/v1/Service";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import {
  diffTrees,
  exampleConfig,
  type ExampleRun,
  listExamples,
  readTree,
  renderedDir,
  REPO_ROOT,
  runExample,
} from "../../scripts/example-runner";
import { splitUserData } from "../../components/core/userdata";

const examples = listExamples();

/** Warnings a program is expected to log: each pattern must match one, and every warning must match a pattern. */
const EXPECTED_WARNINGS: Record<string, RegExp[]> = {
  "eks-node-group": [
    /^the policy sets allowMirrorPaths because ECR pull-through endpoints carry their \/v2\/<prefix> path/,
  ],
  "china-partition": [
    /^the policy sets allowMirrorPaths because ECR pull-through endpoints carry their \/v2\/<prefix> path/,
  ],
};

/** kubernetes-models validators by Pulumi type token. A patch is checked against its full kind (all fields optional). */
const KUBERNETES_MODELS: Record<string, (obj: any) => { validate(): void }> = {
  "kubernetes:apps/v1:DaemonSet": (o) => new DaemonSet(o),
  "kubernetes:apps/v1:Deployment": (o) => new Deployment(o),
  "kubernetes:core/v1:ConfigMap": (o) => new ConfigMap(o),
  "kubernetes:core/v1:Secret": (o) => new Secret(o),
  "kubernetes:core/v1:ServiceAccountPatch": (o) => new ServiceAccount(o),
  "kubernetes:core/v1:ServiceAccount": (o) => new ServiceAccount(o),
  "kubernetes:batch/v1:CronJob": (o) => new CronJob(o),
  "kubernetes:batch/v1:Job": (o) => new Job(o),
  "kubernetes:rbac.authorization.k8s.io/v1:Role": (o) => new Role(o),
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": (o) => new RoleBinding(o),
  "kubernetes:apps/v1:StatefulSet": (o) => new StatefulSet(o),
  "kubernetes:core/v1:Service": (o) => new Service(o),
  "kubernetes:policy/v1:PodDisruptionBudget": (o) => new PodDisruptionBudget(o),
};

/** Imports a program in a fresh module registry: a Pulumi program creates its resources when it is loaded. */
async function load(file: string): Promise<Record<string, unknown>> {
  vi.resetModules();
  return (await import(/* @vite-ignore */ file)) as Record<string, unknown>;
}

function decodeUserData(value: unknown): string {
  expect(typeof value, "user data must be a string").toBe("string");
  expect(value as string, "user data must be base64").toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
  return Buffer.from(value as string, "base64").toString("utf8");
}

it("finds every example and the platform program", () => {
  expect(examples.map((e) => e.name)).toEqual(
    expect.arrayContaining([
      "ack-node-pool",
      "china-partition",
      "ci-buildkit",
      "ci-github-buildx",
      "ci-gitlab-dind",
      "eks-ecr-pull-secret",
      "eks-node-group",
      "ess-scaling-group",
      "existing-cluster",
      "hybrid-multi-region",
      "self-hosted-cache",
      "platform",
    ]),
  );
});

describe.each(examples.map((e) => [e.name, e] as const))("%s", (name, example) => {
  let run: ExampleRun;
  const label = relative(REPO_ROOT, renderedDir(example));

  beforeAll(async () => {
    run = await runExample(example, load);
  });

  it("renders exactly the committed rendered/ folder", () => {
    const committed = readTree(renderedDir(example));
    expect(Object.keys(run.files).length, `${name} exports no node files`).toBeGreaterThan(0);
    const diff = diffTrees(label, committed, run.files);
    expect(
      diff === "",
      `${label} is stale: the program renders different node files (committed -> rendered):\n${diff}\nRun \`npm run examples:update\` and commit the result.`,
    ).toBe(true);
  });

  it("logs only the warnings it is expected to", () => {
    const expected = EXPECTED_WARNINGS[name] ?? [];
    for (const warning of run.warnings)
      expect(
        expected.some((p) => p.test(warning)),
        `unexpected warning from ${name}: ${warning}`,
      ).toBe(true);
    for (const pattern of expected)
      expect(
        run.warnings.some((w) => pattern.test(w)),
        `${name} no longer warns ${pattern}`,
      ).toBe(true);
  });

  it("gives every cloud resource (or stack output) the user data it exports under rendered/", async () => {
    const exported = Object.entries(run.files).filter(([path]) => /(^|\/)user-data\.[a-z]+$/.test(path));
    const received = run.resources.flatMap((r) =>
      ["userData", "preUserData"]
        .filter((k) => r.inputs[k] !== undefined)
        .map((k) => ({ at: `${r.type} ${r.name} ${k}`, text: decodeUserData(r.inputs[k]) })),
    );
    // A stack that only publishes user data for other stacks (the platform) exports it as `userData`.
    const output = run.exports.userData;
    if (pulumi.Output.isInstance(output))
      received.push({ at: "stack output userData", text: decodeUserData(await (output as any).promise()) });
    expect(received.length, `${name}: one exported user-data file per resource or output that receives user data`).toBe(
      exported.length,
    );
    for (const r of received)
      expect(
        exported.some(([, content]) => content === r.text),
        `${r.at} is not among the exported user-data files`,
      ).toBe(true);
  });

  it("renders files that parse in their own format", () => {
    for (const [path, content] of Object.entries(run.files)) {
      expect(content.endsWith("\n"), `${path} must end with a newline`).toBe(true);
      if (path.endsWith(".json")) expect(() => JSON.parse(content), path).not.toThrow();
      else if (path.endsWith(".toml")) expect(() => parseToml(content), path).not.toThrow();
      else if (path.endsWith(".yaml") || path.endsWith(".yml")) expect(() => YAML.parse(content), path).not.toThrow();
      else if (path.endsWith(".sh"))
        expect(content.startsWith("#!/bin/sh\n"), `${path} must be a POSIX sh script`).toBe(true);
      else if (path.endsWith(".mime")) {
        const parts = splitUserData(content);
        expect(parts.length, path).toBeGreaterThan(0);
        for (const part of parts.filter((p) => p.contentType === "text/cloud-config"))
          expect(() => YAML.parse(part.content), path).not.toThrow();
      }
    }
  });

  it("validates every Kubernetes manifest with kubernetes-models", () => {
    for (const r of run.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
      const model = KUBERNETES_MODELS[r.type];
      expect(model, `no kubernetes-models validator for ${r.type}; add one to KUBERNETES_MODELS`).toBeDefined();
      const { apiVersion, kind, metadata, spec, data, type, imagePullSecrets, rules, roleRef, subjects } = r.inputs;
      expect(
        () =>
          model({
            apiVersion,
            kind,
            metadata,
            spec,
            data,
            type,
            imagePullSecrets,
            rules,
            roleRef,
            subjects,
          }).validate(),
        `${r.type} ${r.name}`,
      ).not.toThrow();
    }
  });

  it("keeps secret config values out of node files and out of every non-secret resource input", () => {
    const { config, secretKeys } = exampleConfig(example);
    const secrets = secretKeys.map((k) => config[k]);
    const visible = JSON.stringify(
      run.resources.map((r) => r.rawInputs),
      (_k, v) => (pulumi.runtime.isRpcSecret(v) ? "[secret]" : v),
    );
    for (const secret of secrets) {
      for (const [path, content] of Object.entries(run.files))
        expect(content.includes(secret), `${name}: a secret config value appears in ${path}`).toBe(false);
      expect(
        visible.includes(secret),
        `${name}: a secret config value reaches a resource input that is not a secret`,
      ).toBe(false);
    }
  });

  if (example.name !== "platform")
    it("is documented: index.ts, README.md and a Pulumi.yaml naming the folder, its entry file and every config key", () => {
      for (const file of ["index.ts", "README.md", "Pulumi.yaml"])
        expect(existsSync(join(example.dir, file)), `${name}/${file}`).toBe(true);
      const project = YAML.parse(readFileSync(example.projectFile, "utf8"));
      expect(project.name).toBe(name);
      expect(project.main).toBe("index.ts");
      expect(project.runtime).toEqual({ name: "nodejs", options: { typescript: true } });
      expect(typeof project.description).toBe("string");
      for (const [key, spec] of Object.entries<any>(project.config ?? {})) {
        if (key.includes(":")) continue; // a provider's own key (aws:region), set to a value
        expect(typeof spec?.description, `${name}: config key ${key} needs a description`).toBe("string");
        expect(["string", "integer", "boolean", "array"], `${name}: config key ${key} needs a type`).toContain(
          spec.type,
        );
      }
    });
});

describe("root Pulumi.yaml (the platform stack)", () => {
  const project = YAML.parse(readFileSync(join(REPO_ROOT, "Pulumi.yaml"), "utf8"));

  it("runs platform/index.ts, named as a file so package.json's exports are not taken for the entry point", () => {
    expect(project).toMatchObject({
      name: "registry-mirrors-platform",
      runtime: { name: "nodejs", options: { typescript: true } },
      main: "platform/index.ts",
    });
  });

  it("documents every config key with a type and a description", () => {
    expect(Object.keys(project.config)).toEqual(
      expect.arrayContaining([
        "cloud",
        "region",
        "acceleratorId",
        "mirrors",
        "runtimes",
        "insecureRegistries",
        "restartPolicy",
        "configureCluster",
      ]),
    );
    for (const [key, spec] of Object.entries<any>(project.config)) {
      expect(typeof spec.description, key).toBe("string");
      expect(["string", "integer", "boolean", "array"], key).toContain(spec.type);
    }
  });
});

describe("examples/ci-buildkit pipelines", () => {
  const dir = join(REPO_ROOT, "examples/ci-buildkit");
  const gitlab = YAML.parse(readFileSync(join(dir, "gitlab-ci.yml"), "utf8"));
  const github = YAML.parse(readFileSync(join(dir, "github-workflow.yml"), "utf8"));

  it("GitLab: a merge-request job runs pulumi preview and posts it as a merge request note", () => {
    const job = gitlab["pulumi-preview"];
    expect(job.rules).toEqual([{ if: '$CI_PIPELINE_SOURCE == "merge_request_event"' }]);
    const script = job.script.join("\n");
    expect(script).toMatch(/pulumi preview .*--diff/);
    expect(script).toContain("$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes");
    expect(gitlab.stages).toEqual(["preview", "build"]);
    expect(gitlab["build-image"].variables.BUILDKITD_FLAGS).toContain("--config /etc/buildkit/buildkitd.toml");
  });

  it("GitHub: a pull-request workflow runs pulumi preview with comment-on-pr, and builds with the committed buildkitd.toml", () => {
    expect(Object.keys(github.on)).toEqual(["pull_request"]);
    expect(github.permissions["pull-requests"]).toBe("write");
    const preview = github.jobs.preview.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@"));
    expect(preview.with).toMatchObject({
      command: "preview",
      "comment-on-pr": true,
      "work-dir": "examples/ci-buildkit",
    });
    const buildx = github.jobs.build.steps.find((s: any) => String(s.uses).startsWith("docker/setup-buildx-action@"));
    const config = buildx.with["buildkitd-config"];
    expect(
      readTree(renderedDir(examples.find((e) => e.name === "ci-buildkit")!))[
        config.replace("examples/ci-buildkit/rendered/", "")
      ],
    ).toContain('[registry."docker.io"]');
  });
});

describe("examples/ci-gitlab-dind pipeline", () => {
  const dir = join(REPO_ROOT, "examples/ci-gitlab-dind");
  const gitlab = YAML.parse(readFileSync(join(dir, "gitlab-ci.yml"), "utf8"));

  it("includes the committed services.yml, whose DinD service the build job extends", () => {
    expect(gitlab.stages).toEqual(["preview", "build", "deploy"]);
    const local = gitlab.include.map((i: { local: string }) => i.local);
    expect(local).toEqual(["examples/ci-gitlab-dind/rendered/ci/gitlab-dind/services.yml"]);
    const included = YAML.parse(readFileSync(join(REPO_ROOT, local[0]), "utf8"));
    const build = gitlab["build-image"];
    expect(Object.keys(included)).toEqual([build.extends]);
    const [service] = included[build.extends].services;
    expect(service.command).toContain("--registry-mirror");
    expect(build.variables.DOCKER_HOST).toBe(`tcp://${service.alias}:2376`);
    expect(build.script.join("\n")).toMatch(/docker build .*\n.*docker push/s);
  });

  it("previews with pulumi preview and registry-mirrors diff, and deploys with pulumi up and the tag as config", () => {
    const preview = gitlab["pulumi-preview"].script.join("\n");
    expect(preview).toMatch(/pulumi preview .*--diff/);
    expect(preview).toContain("npx registry-mirrors diff --preview preview.json");
    const deploy = gitlab.deploy;
    expect(deploy.stage).toBe("deploy");
    expect(deploy.needs).toEqual(["build-image"]);
    const script = deploy.script.join("\n");
    expect(script).toMatch(/pulumi up .*--yes/);
    expect(script).toContain('--config "imageTag=$CI_COMMIT_SHORT_SHA"');
    const project = YAML.parse(readFileSync(join(dir, "Pulumi.yaml"), "utf8"));
    expect(Object.keys(project.config)).toEqual(expect.arrayContaining(["imageTag", "appImage"]));
  });
});

describe("examples/ci-github-buildx workflow", () => {
  const dir = join(REPO_ROOT, "examples/ci-github-buildx");
  const github = YAML.parse(readFileSync(join(dir, "github-workflow.yml"), "utf8"));

  it("feeds setup-buildx-action the committed buildkitd.toml and the rendered step agrees", () => {
    const step = github.jobs.build.steps.find((s: any) => String(s.uses).startsWith("docker/setup-buildx-action@"));
    const path = step.with["buildkitd-config"];
    const toml = readFileSync(join(REPO_ROOT, path), "utf8");
    expect(parseToml(toml)).toHaveProperty(["registry", "docker.io", "mirrors"]);
    const rendered = YAML.parse(readFileSync(join(dir, "rendered/ci/github-buildx/setup-buildx-step.yml"), "utf8"));
    expect(rendered[0]).toMatchObject({ uses: step.uses, with: step.with });
  });

  it("previews with pulumi/actions and comments registry-mirrors diff on pull requests", () => {
    const steps = github.jobs.preview.steps;
    expect(steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@")).with).toMatchObject({
      command: "preview",
      "comment-on-pr": true,
      "work-dir": "examples/ci-github-buildx",
    });
    expect(steps.map((s: any) => s.run ?? "").join("\n")).toContain("npx registry-mirrors diff --preview");
  });
});

/**
 * GitLab CI keywords (docs.gitlab.com/ci/yaml, "Global keywords" and "Job keywords"). GitLab's JSON schema for
 * .gitlab-ci.yml is not on npm and its repository is too large to vendor from here, so the examples' pipelines and the
 * rendered fragments they include are checked against the documented keyword lists instead.
 */
const GITLAB_GLOBAL = ["default", "include", "stages", "variables", "workflow", "spec"];
const GITLAB_JOB = [
  "after_script",
  "allow_failure",
  "artifacts",
  "before_script",
  "cache",
  "coverage",
  "dast_configuration",
  "dependencies",
  "environment",
  "extends",
  "hooks",
  "identity",
  "id_tokens",
  "image",
  "inherit",
  "interruptible",
  "manual_confirmation",
  "needs",
  "pages",
  "parallel",
  "release",
  "resource_group",
  "retry",
  "rules",
  "run",
  "script",
  "secrets",
  "services",
  "stage",
  "tags",
  "timeout",
  "trigger",
  "variables",
  "when",
];
const GITLAB_SERVICE = ["name", "alias", "entrypoint", "command", "variables", "pull_policy", "docker", "kubernetes"];

describe("GitLab CI files use only GitLab's keywords", () => {
  const files = [
    ...listExamples()
      .map((e) => join(e.dir, "gitlab-ci.yml"))
      .filter((f) => existsSync(f)),
    join(REPO_ROOT, "examples/ci-gitlab-dind/rendered/ci/gitlab-dind/services.yml"),
  ];

  it.each(files.map((f) => [relative(REPO_ROOT, f), f]))("%s", (_label, file) => {
    const doc = YAML.parse(readFileSync(file, "utf8")) as Record<string, any>;
    for (const [key, value] of Object.entries(doc)) {
      if (GITLAB_GLOBAL.includes(key)) continue;
      for (const jobKey of Object.keys(value)) expect(GITLAB_JOB, `${key}.${jobKey}`).toContain(jobKey);
      for (const service of value.services ?? [])
        if (typeof service === "object")
          for (const serviceKey of Object.keys(service))
            expect(GITLAB_SERVICE, `${key}.services[].${serviceKey}`).toContain(serviceKey);
    }
  });
});
