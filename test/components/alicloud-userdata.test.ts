import { beforeAll, beforeEach, describe, expect, test } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import * as cs from "@pulumi/alicloud/cs";
import * as ecs from "@pulumi/alicloud/ecs";
import * as ess from "@pulumi/alicloud/ess";
import { gunzipSync } from "node:zlib";
import YAML from "yaml";
import { MockHandle, plain, registered, setupMocks, unwrap } from "./mocks";
import { ackNodePoolUserData, ecsUserData } from "../../components/alicloud";
import { PolicyError } from "../../components/core/errors";
import { DEFAULT_APPLY_SCRIPT_PATH, DEFAULT_USER_SCRIPT_PATH, splitUserData } from "../../components/core/render/userdata";

const SCRIPT = "#!/bin/sh\nset -eu\necho 'apply mirrors'\n";

let mocks: MockHandle;
beforeAll(async () => {
  mocks = await setupMocks();
});
beforeEach(() => mocks.reset());

/** The base64 user data a recorded resource received, decoded (and gunzipped when gzip). */
async function recordedUserData(resource: pulumi.CustomResource, type: string, name: string, field = "userData"): Promise<string> {
  await registered(resource);
  const [recorded] = mocks.ofType(type).filter((r) => r.name === name);
  const value = plain(recorded.inputs[field]) as string;
  // Base64 is the form every Alibaba Cloud resource passes through unchanged.
  expect(value).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
  const raw = Buffer.from(value, "base64");
  return (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString("utf8");
}

function failure(output: pulumi.Output<unknown>): Promise<unknown> {
  // An Output keeps several promises of one computation; observe them all so none is left unhandled.
  const o = output as unknown as { promise(): Promise<unknown>; isKnown: Promise<boolean>; isSecret: Promise<boolean>; allResources(): Promise<unknown> };
  return Promise.allSettled([o.promise(), o.isKnown, o.isSecret, o.allResources()]).then(([value]) => (value.status === "rejected" ? value.reason : undefined));
}

describe("ecsUserData", () => {
  test("an alicloud.ecs.Instance gets base64 #cloud-config that writes and runs the script", async () => {
    const instance = new ecs.Instance("node", { imageId: "aliyun_3_x64_20G_alibase_20240819.vhd", instanceType: "ecs.g7.large", userData: ecsUserData({ applyScript: SCRIPT }) });
    const doc = YAML.parse(await recordedUserData(instance, "alicloud:ecs/instance:Instance", "node"));
    expect(doc.write_files).toEqual([{ path: DEFAULT_APPLY_SCRIPT_PATH, owner: "root:root", permissions: "0700", content: SCRIPT }]);
    expect(doc.runcmd).toEqual([[DEFAULT_APPLY_SCRIPT_PATH]]);
  });

  test("an alicloud.ess.ScalingConfiguration gets gzip MIME keeping the user's own cloud-config", async () => {
    const config = new ess.ScalingConfiguration("nodes", {
      scalingGroupId: "asg-1",
      imageId: "aliyun_3_x64_20G_alibase_20240819.vhd",
      instanceType: "ecs.g7.large",
      securityGroupId: "sg-1",
      userData: ecsUserData({ applyScript: SCRIPT, gzip: true, userData: "#cloud-config\ntimezone: Asia/Shanghai\n" }),
    });
    const parts = splitUserData(await recordedUserData(config, "alicloud:ess/scalingConfiguration:ScalingConfiguration", "nodes"));
    expect(parts.map((p) => p.contentType)).toEqual(["text/x-shellscript", "text/cloud-config"]);
    expect(parts[0].content).toContain(`\n${SCRIPT}REGISTRY_MIRRORS_EOF\n`);
    expect(YAML.parse(parts[1].content)).toEqual({ timezone: "Asia/Shanghai" });
  });

  test("an alicloud.ecs.EcsLaunchTemplate takes the shell form", async () => {
    const template = new ecs.EcsLaunchTemplate("tpl", { userData: ecsUserData({ applyScript: SCRIPT, format: "shell" }) });
    const text = await recordedUserData(template, "alicloud:ecs/ecsLaunchTemplate:EcsLaunchTemplate", "tpl");
    expect(text.startsWith("#!/bin/sh\n")).toBe(true);
    expect(text.endsWith(`'${DEFAULT_APPLY_SCRIPT_PATH}'\n`)).toBe(true);
  });

  test("refuses user data over 32 KB (base64 included), a secret script and a part cloud-init cannot read", async () => {
    // About 25 KB of script: under 32 KB as text, over it once base64-encoded (the limit counts the base64).
    const big = `#!/bin/sh\n${"# padding line to push the base64 size over the limit\n".repeat(460)}`;
    const over = await failure(ecsUserData({ applyScript: big, format: "shell" }));
    expect(over).toBeInstanceOf(PolicyError);
    expect((over as PolicyError).message).toMatch(/^userData: Alibaba Cloud ECS user data is limited to 32768 bytes \(32 KB, counted after base64 \(base64 included\)\); this is \d+ bytes over \(got "\d+ bytes"\)\. Fix: gzip it/);
    expect(await unwrap(ecsUserData({ applyScript: big, format: "shell", gzip: true }))).toMatch(/^H4sI/);

    const secret = await failure(ecsUserData({ applyScript: pulumi.secret(SCRIPT) }));
    expect((secret as PolicyError).message).toMatch(/^applyScript: the apply script is a secret/);

    const badPart = await failure(ecsUserData({ applyScript: SCRIPT, userParts: [{ contentType: "application/node.eks.aws", content: "kind: NodeConfig\n" }] }));
    expect((badPart as PolicyError).field).toBe("userParts[0].contentType");
  });
});

describe("ackNodePoolUserData", () => {
  test("an alicloud.cs.NodePool gets base64 shell user data that runs the user's script after ours", async () => {
    const pool = new cs.NodePool("pool", {
      clusterId: "c-1",
      vswitchIds: ["vsw-1"],
      instanceTypes: ["ecs.g7.large"],
      userData: ackNodePoolUserData({ applyScript: SCRIPT, userScript: "#!/bin/bash\necho tuned > /tmp/tuned\n" }),
      preUserData: ackNodePoolUserData({ applyScript: SCRIPT }),
    });
    const text = await recordedUserData(pool, "alicloud:cs/nodePool:NodePool", "pool");
    expect(text.startsWith("#!/bin/sh\n")).toBe(true);
    expect(text).toContain(`\n${SCRIPT}REGISTRY_MIRRORS_EOF\n`);
    expect(text).toContain("\n#!/bin/bash\necho tuned > /tmp/tuned\nREGISTRY_MIRRORS_EOF\n");
    expect(text.endsWith(`'${DEFAULT_APPLY_SCRIPT_PATH}' || rc=$?\n'${DEFAULT_USER_SCRIPT_PATH}'\nexit "$rc"\n`)).toBe(true);
    const pre = await recordedUserData(pool, "alicloud:cs/nodePool:NodePool", "pool", "preUserData");
    expect(pre.endsWith(`\n'${DEFAULT_APPLY_SCRIPT_PATH}'\n`)).toBe(true);
  });

  test("refuses a user script without #! and a secret apply script", async () => {
    const noShebang = await failure(ackNodePoolUserData({ applyScript: SCRIPT, userScript: "echo hi\n" }));
    expect((noShebang as PolicyError).message).toMatch(/^userScript: a user script must start with a `#!` line \(got "echo hi"\)\. Fix: start it with `#!\/bin\/sh`/);
    const secret = await failure(ackNodePoolUserData({ applyScript: pulumi.secret(SCRIPT) }));
    expect((secret as PolicyError).field).toBe("applyScript");
  });
});
