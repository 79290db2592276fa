import { beforeAll, beforeEach, describe, expect, test } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as eks from "@pulumi/aws/eks";
import { parse as parseToml } from "smol-toml";
import YAML from "yaml";
import { type MockHandle, plain, registered, setupMocks, unwrap } from "./mocks";
import { eksNodeUserData, launchTemplateUserData, nodeEngineFileOf } from "../../components/aws";
import { MirrorDaemonConfig } from "../../components/mirror-daemon-config";
import { PolicyError } from "../../components/core/errors";
import { DEFAULT_APPLY_SCRIPT_PATH, splitUserData, userDataFiles } from "../../components/core/userdata";

const SCRIPT = "#!/bin/sh\nset -eu\necho 'apply mirrors'\n";
const NODE_ROLE = "arn:aws:iam::123456789012:role/nodes";
const SCRIPT_FILE = { path: DEFAULT_APPLY_SCRIPT_PATH, content: SCRIPT, mode: 0o700 };

let mocks: MockHandle;
beforeAll(async () => {
  mocks = await setupMocks();
});
beforeEach(() => mocks.reset());

/** The user data a recorded launch template received, base64-decoded. */
async function launchTemplateText(lt: ec2.LaunchTemplate, name: string): Promise<string> {
  await registered(lt);
  const [recorded] = mocks.ofType("aws:ec2/launchTemplate:LaunchTemplate").filter((r) => r.name === name);
  return Buffer.from(plain(recorded.inputs.userData), "base64").toString("utf8");
}

/** Resolves with the error an Output's computation failed with (Pulumi reports it when the program runs). */
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

/** A script of about `bytes` bytes that compresses like a real one. */
function bigScript(bytes: number): string {
  const line =
    'if [ -f "$NODE_ROOT/etc/docker/daemon.json" ]; then merge_json "$NODE_ROOT/etc/docker/daemon.json"; fi\n';
  return `#!/bin/sh\n${line.repeat(Math.ceil(bytes / line.length))}`;
}

describe("launchTemplateUserData", () => {
  test("an aws.ec2.LaunchTemplate gets base64 #cloud-config that writes and runs the script", async () => {
    const lt = new ec2.LaunchTemplate("plain", {
      imageId: "ami-123",
      userData: launchTemplateUserData({ applyScript: SCRIPT }),
    });
    const text = await launchTemplateText(lt, "plain");
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = YAML.parse(text);
    expect(doc.write_files).toEqual([
      { path: DEFAULT_APPLY_SCRIPT_PATH, owner: "root:root", permissions: "0700", content: SCRIPT },
    ]);
    expect(doc.runcmd).toEqual([[DEFAULT_APPLY_SCRIPT_PATH]]);
  });

  test("compressed, with the user's own parts kept after ours", async () => {
    const userData = launchTemplateUserData({
      applyScript: pulumi.output(SCRIPT),
      compress: true,
      userData: "#cloud-config\npackages: [htop]\n",
      userParts: [{ contentType: "text/x-shellscript", content: "#!/bin/bash\necho mine\n", filename: "mine.sh" }],
    });
    const lt = new ec2.LaunchTemplate("packed", { imageId: "ami-123", userData });
    const text = await launchTemplateText(lt, "packed");
    const parts = splitUserData(text);
    expect(parts.map((p) => p.contentType)).toEqual(["text/x-shellscript", "text/cloud-config", "text/x-shellscript"]);
    expect(parts[0].content).toContain("base64 -d >");
    expect(parts[1].content).toBe("#cloud-config\npackages: [htop]\n");
    expect(parts[2]).toEqual({
      contentType: "text/x-shellscript",
      content: "#!/bin/bash\necho mine\n",
      filename: "mine.sh",
    });
    expect(userDataFiles(text)).toEqual([SCRIPT_FILE]);
  });

  test("MirrorDaemonConfig's real apply script (Docker + containerd) is compressed automatically to fit 16 KB", async () => {
    const mirrors = new MirrorDaemonConfig("mdc", { mirrors: ["https://mirror.example.com"] });
    const script = await unwrap(mirrors.applyScript);
    const lt = new ec2.LaunchTemplate("from-component", {
      imageId: "ami-123",
      userData: launchTemplateUserData({ applyScript: mirrors.applyScript }),
    });
    const text = await launchTemplateText(lt, "from-component");
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(16384);
    expect(YAML.parse(text).write_files[0].encoding).toBe("gz+b64");
    expect(userDataFiles(text)).toEqual([{ path: DEFAULT_APPLY_SCRIPT_PATH, content: script, mode: 0o700 }]);
    expect(script).toContain("https://mirror.example.com");
  });

  test("with engineUrl: the readable data part and the engine's URL; the engine file to upload is the component's engineFile", async () => {
    const mirrors = new MirrorDaemonConfig("by-url", { mirrors: ["https://mirror.example.com"] });
    const engineUrl = "https://artifacts.s3.eu-west-1.amazonaws.com/registry-mirrors/";
    const lt = new ec2.LaunchTemplate("by-url", {
      imageId: "ami-123",
      userData: launchTemplateUserData({ applyScript: mirrors.applyScript, engineUrl }),
    });
    const text = await launchTemplateText(lt, "by-url");
    const engine = await unwrap(mirrors.engineFile);
    expect(engine).toEqual(await unwrap(nodeEngineFileOf(mirrors.applyScript)));
    const [file] = userDataFiles(text);
    expect(file.engine).toMatchObject({ url: `${engineUrl}${engine?.name}`, sha256: engine?.sha256 });
    expect(`${engine?.content}${file.content}`).toBe(await unwrap(mirrors.applyScript));
    expect(text).toContain('"https://mirror.example.com"');
    expect(Buffer.byteLength(text)).toBeLessThan(4096);

    const bad = await failure(launchTemplateUserData({ applyScript: mirrors.applyScript, engineUrl: "ftp://x/" }));
    expect((bad as PolicyError).field).toBe("engineUrl");
    const noEngine = await failure(nodeEngineFileOf(SCRIPT));
    expect((noEngine as PolicyError).message).toMatch(/^applyScript: this apply script has no engine\/data split/);
  });

  test("refuses a secret apply script, and user data over 16 KB when compression is off", async () => {
    const secret = await failure(launchTemplateUserData({ applyScript: pulumi.secret(SCRIPT) }));
    expect(secret).toBeInstanceOf(PolicyError);
    expect((secret as PolicyError).message).toMatch(
      /^applyScript: the apply script is a secret.*Fix: deliver this configuration with MirrorDaemonConfig's kubernetes DaemonSet/,
    );

    const big = bigScript(17_000);
    const over = await failure(launchTemplateUserData({ applyScript: big, format: "shell", compress: false }));
    expect(over).toBeInstanceOf(PolicyError);
    expect((over as PolicyError).message).toMatch(
      /^userData: AWS EC2 user data is limited to 16384 bytes \(16 KB, counted before base64\); this is \d+ bytes over \(got "\d+ bytes"\)\. Fix: compress it/,
    );
    // The same script fits by default (auto compression).
    const fitted = Buffer.from(
      await unwrap(launchTemplateUserData({ applyScript: big, format: "shell" })),
      "base64",
    ).toString("utf8");
    expect(userDataFiles(fitted)[0].content).toBe(big);
  });
});

describe("eksNodeUserData", () => {
  test("AL2023 managed node group: the launch template gets MIME with a NodeConfig part and the script part", async () => {
    const containerdConfig = '[plugins."io.containerd.grpc.v1.cri".containerd]\ndiscard_unpacked_layers = false\n';
    const lt = new ec2.LaunchTemplate("al2023", {
      userData: eksNodeUserData({
        amiType: "AL2023_x86_64_STANDARD",
        applyScript: SCRIPT,
        containerdConfig,
        userParts: [{ contentType: "text/x-shellscript", content: "#!/bin/sh\necho after\n" }],
      }),
    });
    const group = new eks.NodeGroup("al2023", {
      clusterName: "prod",
      nodeRoleArn: NODE_ROLE,
      subnetIds: ["subnet-1"],
      amiType: "AL2023_x86_64_STANDARD",
      scalingConfig: { desiredSize: 2, minSize: 1, maxSize: 3 },
      launchTemplate: { id: lt.id, version: lt.latestVersion.apply(String) },
    });
    await registered(group);
    const text = await launchTemplateText(lt, "al2023");
    expect(text.startsWith('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="')).toBe(true);
    const parts = splitUserData(text);
    expect(parts.map((p) => p.contentType)).toEqual([
      "application/node.eks.aws",
      "text/x-shellscript",
      "text/x-shellscript",
    ]);
    const nodeConfig = YAML.parse(parts[0].content);
    expect(nodeConfig).toMatchObject({ apiVersion: "node.eks.aws/v1alpha1", kind: "NodeConfig" });
    expect(parseToml(nodeConfig.spec.containerd.config)).toEqual({
      plugins: { "io.containerd.grpc.v1.cri": { containerd: { discard_unpacked_layers: false } } },
    });
    expect(parts[1].content).toContain(`\n${SCRIPT}REGISTRY_MIRRORS_EOF\n`);
    expect(parts[2].content).toBe("#!/bin/sh\necho after\n");
    const [recordedGroup] = mocks.ofType("aws:eks/nodeGroup:NodeGroup");
    expect(recordedGroup.inputs.launchTemplate.id).toBe("al2023-id");
  });

  test("AL2023 with MirrorDaemonConfig's real containerd apply script: MIME under 16 KB, script read back exact", async () => {
    const mirrors = new MirrorDaemonConfig("eks", {
      policy: {
        registries: {
          "docker.io": { mirrors: ["https://m1.example.com", "https://m2.example.com"] },
          "ghcr.io": { mirrors: ["https://ghcr-mirror.example.com"] },
        },
      },
      runtimes: ["containerd"],
    });
    const lt = new ec2.LaunchTemplate("eks-real", {
      userData: eksNodeUserData({ amiType: "AL2023_ARM_64_STANDARD", applyScript: mirrors.applyScript }),
    });
    const text = await launchTemplateText(lt, "eks-real");
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(16384);
    expect(splitUserData(text).map((p) => p.contentType)).toEqual(["text/x-shellscript"]);
    expect(userDataFiles(text)).toEqual([
      { path: DEFAULT_APPLY_SCRIPT_PATH, content: await unwrap(mirrors.applyScript), mode: 0o700 },
    ]);
  });

  test("AL2: MIME with the script part", async () => {
    const lt = new ec2.LaunchTemplate("al2", {
      userData: eksNodeUserData({ amiType: "AL2_x86_64", applyScript: SCRIPT }),
    });
    const parts = splitUserData(await launchTemplateText(lt, "al2"));
    expect(parts).toHaveLength(1);
    expect(parts[0].contentType).toBe("text/x-shellscript");
    expect(userDataFiles(await launchTemplateText(lt, "al2"))).toEqual([SCRIPT_FILE]);
  });

  test("Bottlerocket: the launch template gets the settings TOML from MirrorDaemonConfig", async () => {
    const mirrors = new MirrorDaemonConfig("br", {
      mirrors: ["https://mirror.example.com"],
      runtimes: ["containerd", "bottlerocket"],
    });
    const lt = new ec2.LaunchTemplate("bottlerocket", {
      userData: eksNodeUserData({
        amiType: "BOTTLEROCKET_x86_64",
        bottlerocketSettings: mirrors.bottlerocketSettings,
        userSettings: "[settings.kubernetes]\nmax-pods = 29\n",
      }),
    });
    new eks.NodeGroup("bottlerocket", {
      clusterName: "prod",
      nodeRoleArn: NODE_ROLE,
      subnetIds: ["subnet-1"],
      amiType: "BOTTLEROCKET_x86_64",
      scalingConfig: { desiredSize: 1, minSize: 1, maxSize: 1 },
      launchTemplate: { id: lt.id, version: "$Latest" },
    });
    const settings = parseToml(await launchTemplateText(lt, "bottlerocket")) as { settings: Record<string, any> };
    expect(settings.settings["container-registry"].mirrors).toEqual([
      { registry: "docker.io", endpoint: ["https://mirror.example.com"] },
    ]);
    expect(settings.settings.kubernetes).toEqual({ "max-pods": 29 });
  });

  test("a Bottlerocket target asked for the Docker apply script is refused before anything resolves", () => {
    expect(() => eksNodeUserData({ amiType: "BOTTLEROCKET_ARM_64", applyScript: pulumi.output(SCRIPT) })).toThrow(
      /^applyScript: Bottlerocket runs no user-data scripts and has no Docker daemon\.json.*Fix: pass bottlerocketSettings/,
    );
    expect(() => eksNodeUserData({ amiType: "CUSTOM", applyScript: SCRIPT })).toThrow(/^amiFamily: a CUSTOM AMI/);
  });

  test("refuses, when values resolve: Bottlerocket without settings, a part AL2 cannot read, a secret script", async () => {
    const mirrors = new MirrorDaemonConfig("no-br", { mirrors: ["https://mirror.example.com"] });
    const missing = await failure(
      eksNodeUserData({
        amiType: pulumi.output("BOTTLEROCKET_x86_64"),
        bottlerocketSettings: mirrors.bottlerocketSettings,
      }),
    );
    expect((missing as PolicyError).message).toMatch(
      /^bottlerocketSettings: .*Fix: add "bottlerocket" to the runtimes/,
    );

    const badPart = await failure(
      eksNodeUserData({
        amiType: "AL2_x86_64",
        applyScript: SCRIPT,
        userParts: [{ contentType: "application/node.eks.aws", content: "kind: NodeConfig\n" }],
      }),
    );
    expect((badPart as PolicyError).message).toMatch(
      /^userParts\[0\]\.contentType: cloud-init user data does not accept this content type \(got "application\/node\.eks\.aws"\)/,
    );

    const secret = await failure(
      eksNodeUserData({ amiType: "AL2023_ARM_64_STANDARD", applyScript: pulumi.secret(SCRIPT) }),
    );
    expect((secret as PolicyError).field).toBe("applyScript");
  });

  test("refuses EKS user data over 16 KB with compression off, naming the size", async () => {
    const over = await failure(
      eksNodeUserData({ amiType: "AL2023_x86_64_STANDARD", applyScript: bigScript(16_500), compress: false }),
    );
    expect((over as PolicyError).message).toMatch(
      /^userData: AWS EC2 user data is limited to 16384 bytes .* this is \d+ bytes over \(got "\d+ bytes"\)\. Fix: compress it/,
    );
  });
});
