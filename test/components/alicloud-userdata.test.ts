import { beforeAll, beforeEach, describe, expect, test } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import * as cs from "@pulumi/alicloud/cs";
import * as ecs from "@pulumi/alicloud/ecs";
import * as ess from "@pulumi/alicloud/ess";
import YAML from "yaml";
import { type MockHandle, plain, registered, setupMocks, unwrap } from "./mocks";
import { ackNodePoolUserData, ecsUserData } from "../../components/alicloud";
import { PolicyError } from "../../components/core/errors";
import { MirrorDaemonConfig } from "../../components/mirror-daemon-config";
import {
  DEFAULT_APPLY_SCRIPT_PATH,
  DEFAULT_USER_SCRIPT_PATH,
  splitUserData,
  userDataFiles,
} from "../../components/core/userdata";

const SCRIPT = "#!/bin/sh\nset -eu\necho 'apply mirrors'\n";

let mocks: MockHandle;
beforeAll(async () => {
  mocks = await setupMocks();
});
beforeEach(() => mocks.reset());

/** The base64 user data a recorded resource received, decoded. */
async function recordedUserData(
  resource: pulumi.CustomResource,
  type: string,
  name: string,
  field = "userData",
): Promise<string> {
  await registered(resource);
  const [recorded] = mocks.ofType(type).filter((r) => r.name === name);
  const value = plain(recorded.inputs[field]) as string;
  // Base64 is the form every Alibaba Cloud resource passes through unchanged.
  expect(value).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
  return Buffer.from(value, "base64").toString("utf8");
}

function failure(output: pulumi.Output<unknown>): Promise<unknown> {
  // An Output keeps several promises of one computation; observe them all so none is left unhandled.
  const o = output as unknown as {
    promise(): Promise<unknown>;
    isKnown: Promise<boolean>;
    isSecret: Promise<boolean>;
    allResources(): Promise<unknown>;
  };
  return Promise.allSettled([o.promise(), o.isKnown, o.isSecret, o.allResources()]).then(([value]) =>
    value.status === "rejected" ? value.reason : undefined,
  );
}

describe("ecsUserData", () => {
  test("an alicloud.ecs.Instance gets base64 #cloud-config that writes and runs the script", async () => {
    const instance = new ecs.Instance("node", {
      imageId: "aliyun_3_x64_20G_alibase_20240819.vhd",
      instanceType: "ecs.g7.large",
      userData: ecsUserData({ applyScript: SCRIPT }),
    });
    const doc = YAML.parse(await recordedUserData(instance, "alicloud:ecs/instance:Instance", "node"));
    expect(doc.write_files).toEqual([
      { path: DEFAULT_APPLY_SCRIPT_PATH, owner: "root:root", permissions: "0700", content: SCRIPT },
    ]);
    expect(doc.runcmd).toEqual([[DEFAULT_APPLY_SCRIPT_PATH]]);
  });

  test("an alicloud.ess.ScalingConfiguration gets MIME keeping the user's own cloud-config, with the script compressed", async () => {
    const config = new ess.ScalingConfiguration("nodes", {
      scalingGroupId: "asg-1",
      imageId: "aliyun_3_x64_20G_alibase_20240819.vhd",
      instanceType: "ecs.g7.large",
      securityGroupId: "sg-1",
      userData: ecsUserData({
        applyScript: SCRIPT,
        compress: true,
        userData: "#cloud-config\ntimezone: Asia/Shanghai\n",
      }),
    });
    const text = await recordedUserData(config, "alicloud:ess/scalingConfiguration:ScalingConfiguration", "nodes");
    const parts = splitUserData(text);
    expect(parts.map((p) => p.contentType)).toEqual(["text/x-shellscript", "text/cloud-config"]);
    expect(parts[0].content).toContain("base64 -d >");
    expect(YAML.parse(parts[1].content)).toEqual({ timezone: "Asia/Shanghai" });
    expect(userDataFiles(text)).toEqual([{ path: DEFAULT_APPLY_SCRIPT_PATH, content: SCRIPT, mode: 0o700 }]);
  });

  test("MirrorDaemonConfig's real apply script fits 32 KB of base64 (compressed automatically when needed)", async () => {
    const mirrors = new MirrorDaemonConfig("ecs", {
      mirrors: ["https://abc123.mirror.aliyuncs.com"],
      docker: { execOpts: ["native.cgroupdriver=systemd"], logDriver: "json-file" },
    });
    const instance = new ecs.Instance("real", {
      imageId: "aliyun_3_x64_20G_alibase_20240819.vhd",
      instanceType: "ecs.g7.large",
      userData: ecsUserData({ applyScript: mirrors.applyScript }),
    });
    await registered(instance);
    const [recorded] = mocks.ofType("alicloud:ecs/instance:Instance").filter((r) => r.name === "real");
    expect((plain(recorded.inputs.userData) as string).length).toBeLessThanOrEqual(32768);
    const text = await recordedUserData(instance, "alicloud:ecs/instance:Instance", "real");
    expect(userDataFiles(text)).toEqual([
      { path: DEFAULT_APPLY_SCRIPT_PATH, content: await unwrap(mirrors.applyScript), mode: 0o700 },
    ]);
  });

  test("an alicloud.ecs.EcsLaunchTemplate takes the shell form", async () => {
    const template = new ecs.EcsLaunchTemplate("tpl", {
      userData: ecsUserData({ applyScript: SCRIPT, format: "shell" }),
    });
    const text = await recordedUserData(template, "alicloud:ecs/ecsLaunchTemplate:EcsLaunchTemplate", "tpl");
    expect(text.startsWith("#!/bin/sh\n")).toBe(true);
    expect(text.endsWith(`'${DEFAULT_APPLY_SCRIPT_PATH}'\n`)).toBe(true);
  });

  test("refuses user data over 32 KB (base64 included), a secret script and a part cloud-init cannot read", async () => {
    // About 25 KB of script: under 32 KB as text, over it once base64-encoded (the limit counts the base64).
    const line =
      'if [ -f "$NODE_ROOT/etc/docker/daemon.json" ]; then merge_json "$NODE_ROOT/etc/docker/daemon.json"; fi\n';
    const big = `#!/bin/sh\n${line.repeat(Math.ceil(25_000 / line.length))}`;
    const over = await failure(ecsUserData({ applyScript: big, format: "shell", compress: false }));
    expect(over).toBeInstanceOf(PolicyError);
    expect((over as PolicyError).message).toMatch(
      /^userData: Alibaba Cloud ECS user data is limited to 32768 bytes \(32 KB, counted after base64 \(base64 included\)\); this is \d+ bytes over \(got "\d+ bytes"\)\. Fix: compress it/,
    );
    const fitted = Buffer.from(await unwrap(ecsUserData({ applyScript: big, format: "shell" })), "base64").toString(
      "utf8",
    );
    expect(userDataFiles(fitted)[0].content).toBe(big);

    const secret = await failure(ecsUserData({ applyScript: pulumi.secret(SCRIPT) }));
    expect((secret as PolicyError).message).toMatch(/^applyScript: the apply script is a secret/);

    const badPart = await failure(
      ecsUserData({
        applyScript: SCRIPT,
        userParts: [{ contentType: "application/node.eks.aws", content: "kind: NodeConfig\n" }],
      }),
    );
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
    expect(text.endsWith(`'${DEFAULT_APPLY_SCRIPT_PATH}' || rc=$?\n'${DEFAULT_USER_SCRIPT_PATH}'\nexit "$rc"\n`)).toBe(
      true,
    );
    const pre = await recordedUserData(pool, "alicloud:cs/nodePool:NodePool", "pool", "preUserData");
    expect(pre.endsWith(`\n'${DEFAULT_APPLY_SCRIPT_PATH}'\n`)).toBe(true);
  });

  test("refuses a user script without #! and a secret apply script", async () => {
    const noShebang = await failure(ackNodePoolUserData({ applyScript: SCRIPT, userScript: "echo hi\n" }));
    expect((noShebang as PolicyError).message).toMatch(
      /^userScript: a user script must start with a `#!` line \(got "echo hi"\)\. Fix: start it with `#!\/bin\/sh`/,
    );
    const secret = await failure(ackNodePoolUserData({ applyScript: pulumi.secret(SCRIPT) }));
    expect((secret as PolicyError).field).toBe("applyScript");
  });
});
