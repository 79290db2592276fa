import { describe, expect, it } from "vitest";
import { renderNodeConfig } from "../../components/core/render/node-config";
import {
  renderReview,
  reviewPreview,
  SECRET_VALUE,
  UNKNOWN_VALUE,
  type ResourceReview,
} from "../../components/core/review";
import { encodeUserData, renderNodeUserData } from "../../components/core/userdata";
import {
  configMapInputs,
  launchTemplateUserData,
  policies,
  previewDoc,
  scalingConfigurationUserData,
  steps,
  urnOf,
} from "./review-fixtures";

const LT = "aws:ec2/launchTemplate:LaunchTemplate";
const ESS = "alicloud:ess/scalingConfiguration:ScalingConfiguration";
const CM = "kubernetes:core/v1:ConfigMap";

/** The changed lines (+/-, not the ---/+++ headers) of every diff block of a Markdown review. */
function changedLines(markdown: string): string[] {
  return markdown.split("\n").filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+) /.test(l));
}

const [before, after] = policies();
const DOCKER_IO = "/etc/containerd/certs.d/docker.io/hosts.toml";

describe("registry-mirrors diff on a preview", () => {
  it("EC2 launch template: only the changed lines of the files that changed, no engine line", () => {
    const urn = urnOf(LT, "nodes");
    const doc = previewDoc(
      steps(
        "update",
        urn,
        { type: LT, id: "lt-0abc", inputs: { name: "nodes", userData: launchTemplateUserData(before) } },
        { type: LT, inputs: { name: "nodes", userData: launchTemplateUserData(after) } },
        ["userData"],
      ),
    );
    const reviews = reviewPreview(doc);
    expect(reviews.map((r) => [r.type, r.name, r.op])).toEqual([[LT, "nodes", "update"]]);
    expect(reviews[0].notes).toEqual([]);
    expect(reviews[0].files.map((f) => [f.path, f.status])).toEqual([
      ["/etc/docker/daemon.json", "changed"],
      [DOCKER_IO, "changed"],
    ]);
    const md = renderReview(reviews);
    expect(changedLines(md)).toEqual([
      '-    "https://mirror-b.example.com",',
      '+    "https://mirror-b2.example.com",',
      '-[host."https://mirror-b.example.com"]',
      '+[host."https://mirror-b2.example.com"]',
    ]);
    expect(md).toContain("#### `nodes` (aws:ec2/launchTemplate:LaunchTemplate, update)");
    expect(md).toContain(`\`${DOCKER_IO}\` (containerd)`);
    expect(md).not.toContain("ghcr.io");
    expect(md).not.toMatch(/engine/);
  });

  it("ESS scaling configuration: the node files' diff, and the user's own part only when it changes", () => {
    const urn = urnOf(ESS, "docker-hosts");
    const install = "#cloud-config\nruncmd:\n  - [dnf, install, -y, docker-ce]\n";
    const dockerOnly = policies(["docker"]);
    const doc = previewDoc(
      steps(
        "update",
        urn,
        { type: ESS, id: "asc-1", inputs: { userData: scalingConfigurationUserData(dockerOnly[0], install) } },
        { type: ESS, inputs: { userData: scalingConfigurationUserData(dockerOnly[1], install) } },
        ["userData"],
      ),
    );
    const md = renderReview(reviewPreview(doc));
    expect(md).toContain("#### `docker-hosts` (alicloud:ess/scalingConfiguration:ScalingConfiguration, update)");
    expect(changedLines(md)).toEqual(['-    "https://mirror-b.example.com",', '+    "https://mirror-b2.example.com",']);
    expect(md).not.toContain("user data part");

    const changedPart = previewDoc(
      steps(
        "update",
        urn,
        { type: ESS, id: "asc-1", inputs: { userData: scalingConfigurationUserData(dockerOnly[0], install) } },
        {
          type: ESS,
          inputs: {
            userData: scalingConfigurationUserData(dockerOnly[0], install.replace("docker-ce", "docker-ce-27")),
          },
        },
        ["userData"],
      ),
    );
    const partMd = renderReview(reviewPreview(changedPart));
    expect(partMd).toContain("`(user data part 2: text/cloud-config)`");
    expect(changedLines(partMd)).toEqual([
      "-  - [dnf, install, -y, docker-ce]",
      "+  - [dnf, install, -y, docker-ce-27]",
    ]);
  });

  it("DaemonSet ConfigMap: a replacement (three steps) shows once, with the script's file diffs", () => {
    const urn = urnOf(CM, "hosts-node-config", ["registry-mirrors:index:MirrorDaemonConfig"]);
    const doc = previewDoc(
      steps(
        "replace",
        urn,
        { type: CM, id: "kube-system/hosts-node-config-aaaa", inputs: configMapInputs(before) },
        { type: CM, inputs: configMapInputs(after) },
        ["data", "metadata"],
      ),
    );
    const reviews = reviewPreview(doc);
    expect(reviews).toHaveLength(1);
    expect(reviews[0]).toMatchObject({ type: CM, name: "hosts-node-config", op: "replace", notes: [] });
    expect(changedLines(renderReview(reviews))).toEqual([
      '-    "https://mirror-b.example.com",',
      '+    "https://mirror-b2.example.com",',
      '-[host."https://mirror-b.example.com"]',
      '+[host."https://mirror-b2.example.com"]',
    ]);
  });

  it("summarises an engine change in one line: version, parts, or same version by hash", () => {
    const urn = urnOf(LT, "nodes");
    const script = renderNodeConfig(before).applyScript;
    const lt = (applyScript: string) => ({
      type: LT,
      inputs: { userData: encodeUserData(renderNodeUserData({ applyScript })) },
    });
    const review = (old: string, next: string): ResourceReview[] =>
      reviewPreview(previewDoc(steps("update", urn, lt(old), lt(next), ["userData"])));

    const older = script.replace(/^# registry-mirrors node engine 0\.1\.0/m, "# registry-mirrors node engine 0.0.9");
    expect(review(older, script)[0].notes).toEqual(["engine 0.0.9 → 0.1.0"]);
    expect(review(older, script)[0].files).toEqual([]);
    expect(renderReview(review(older, script))).toContain("- engine 0.0.9 → 0.1.0\n");

    const patched = script.replace("main() {", "main() {\n  :");
    expect(patched).not.toBe(script);
    expect(review(patched, script)[0].notes).toEqual(["engine changed (same version 0.1.0)"]);

    const withCrio = renderNodeConfig({ ...before, runtimes: ["docker", "containerd", "crio"] }).applyScript;
    const crio = review(script, withCrio)[0];
    expect(crio.notes).toEqual(["engine parts: +files"]);
    expect(crio.files.filter((f) => f.status === "added").map((f) => f.path)).toEqual([
      "/etc/containers/registries.conf.d/50-registry-mirrors.conf",
    ]);
  });

  it("names secret and not-yet-known payloads without decoding them; a Secret is never decoded", () => {
    const ltUrn = urnOf(LT, "secret-nodes");
    const unknownUrn = urnOf(LT, "new-cluster-nodes");
    const secretUrn = urnOf("kubernetes:core/v1:Secret", "hosts-node-config");
    const secretInputs = {
      metadata: { name: "hosts-node-config-1", labels: { "app.kubernetes.io/name": "registry-mirrors-node-config" } },
      stringData: SECRET_VALUE,
    };
    const doc = previewDoc([
      ...steps(
        "update",
        ltUrn,
        { type: LT, inputs: { userData: SECRET_VALUE } },
        { type: LT, inputs: { userData: SECRET_VALUE } },
        ["userData"],
      ),
      ...steps(
        "update",
        unknownUrn,
        { type: LT, inputs: { userData: launchTemplateUserData(before) } },
        { type: LT, inputs: { userData: UNKNOWN_VALUE } },
        ["userData"],
      ),
      ...steps(
        "replace",
        secretUrn,
        { type: "kubernetes:core/v1:Secret", inputs: secretInputs },
        { type: "kubernetes:core/v1:Secret", inputs: secretInputs },
        ["stringData"],
      ),
    ]);
    const reviews = reviewPreview(doc);
    expect(reviews.map((r) => [r.name, r.notes, r.files])).toEqual([
      ["secret-nodes", ["`userData`: secret, not shown"], []],
      [
        "new-cluster-nodes",
        ["`userData`: not known until the update runs (it depends on values computed during the update)"],
        [],
      ],
      ["hosts-node-config", ["`stringData`: secret, not shown"], []],
    ]);
    expect(renderReview(reviews)).not.toContain("mirror-b");
  });

  it("an EKS node group points at its launch template's changes", () => {
    const ltUrn = urnOf(LT, "nodes");
    const ngType = "aws:eks/nodeGroup:NodeGroup";
    const ngUrn = urnOf(ngType, "nodes");
    const doc = previewDoc([
      ...steps(
        "update",
        ltUrn,
        { type: LT, id: "lt-0abc", inputs: { userData: launchTemplateUserData(before) } },
        { type: LT, inputs: { userData: launchTemplateUserData(after) } },
        ["userData"],
      ),
      ...steps(
        "update",
        ngUrn,
        { type: ngType, id: "c:nodes", inputs: { launchTemplate: { id: "lt-0abc", version: "1" } } },
        { type: ngType, inputs: { launchTemplate: { id: "lt-0abc", version: UNKNOWN_VALUE } } },
        ["launchTemplate"],
      ),
    ]);
    const reviews = reviewPreview(doc);
    expect(reviews.map((r) => r.name)).toEqual(["nodes", "nodes"]);
    expect(reviews[1]).toMatchObject({
      type: ngType,
      notes: [`rolls its nodes to the launch template \`${ltUrn}\` (its changes are shown there)`],
      files: [],
    });
  });

  it("prints nothing for resources whose node payload did not change, and says so when none did", () => {
    const ud = launchTemplateUserData(before);
    const doc = previewDoc([
      ...steps(
        "update",
        urnOf(LT, "nodes"),
        { type: LT, inputs: { userData: ud, tags: { a: "1" } } },
        { type: LT, inputs: { userData: ud, tags: { a: "2" } } },
        ["tags"],
      ),
      ...steps("create", urnOf("aws:s3/bucket:Bucket", "logs"), undefined, {
        type: "aws:s3/bucket:Bucket",
        inputs: { bucket: "logs" },
      }),
    ]);
    expect(reviewPreview(doc)).toEqual([]);
    expect(renderReview(reviewPreview(doc))).toBe("### registry-mirrors: node file changes\n\nNo node file changes.\n");
  });

  it("lists the files of a created resource without their content", () => {
    const doc = previewDoc(
      steps("create", urnOf(LT, "fresh"), undefined, {
        type: LT,
        inputs: { userData: launchTemplateUserData(before) },
      }),
    );
    const [review] = reviewPreview(doc);
    expect(review.op).toBe("create");
    expect(review.files.every((f) => f.status === "added" && f.hunks === "")).toBe(true);
    const md = renderReview([review]);
    expect(md).toContain(`files added: \`/etc/docker/daemon.json\`, \`${DOCKER_IO}\``);
    expect(md).not.toContain("```diff");
  });

  it("keeps a Markdown comment under its size limit, naming the diffs it left out", () => {
    const urn = urnOf(LT, "nodes");
    const doc = previewDoc(
      steps(
        "update",
        urn,
        { type: LT, inputs: { userData: launchTemplateUserData(before) } },
        { type: LT, inputs: { userData: launchTemplateUserData(after) } },
        ["userData"],
      ),
    );
    const md = renderReview(reviewPreview(doc), { maxChars: 700 });
    expect(md.length).toBeLessThan(1200);
    expect(md).toContain(`Diffs left out to keep this comment under 700 characters`);
    expect(md).toContain(`\`nodes: ${DOCKER_IO}\``);
  });

  it("reads Alibaba Cloud user data given as plain text, and fences content that holds backticks", () => {
    const ecs = "alicloud:ecs/instance:Instance";
    const script = (mirror: string) =>
      renderNodeUserData({
        applyScript: renderNodeConfig({
          ...before,
          mirrors: undefined,
          policy: { registries: { "docker.io": { mirrors: [mirror] } } },
        }).applyScript,
        format: "shell",
      });
    const plain = previewDoc(
      steps(
        "update",
        urnOf(ecs, "box"),
        { type: ecs, inputs: { userData: script("https://old.example.com") } },
        { type: ecs, inputs: { userData: script("https://new.example.com") } },
        ["userData"],
      ),
    );
    expect(changedLines(renderReview(reviewPreview(plain)))).toContain('+[host."https://new.example.com"]');

    const cm = (text: string) => ({
      type: CM,
      inputs: { metadata: { labels: { "app.kubernetes.io/part-of": "registry-mirrors" } }, data: { "notes.md": text } },
    });
    const fenced = renderReview(
      reviewPreview(previewDoc(steps("update", urnOf(CM, "notes"), cm("a\n```\n"), cm("b\n```\n"), ["data"]))),
    );
    expect(fenced).toContain("````diff\n--- before: notes.md\n");
    expect(fenced.trimEnd().endsWith("\n````")).toBe(true);
  });

  it("refuses a document that is not preview JSON, naming the fix", () => {
    expect(() => reviewPreview([1, 2])).toThrow(/--preview: not a JSON object .*pulumi preview --json/);
    expect(() => reviewPreview({ steps: {} })).toThrow(/`steps` is not a list/);
  });
});
