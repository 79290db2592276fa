import { describe, expect, test } from "vitest";
import { parse as parseToml } from "smol-toml";
import YAML from "yaml";
import {
  DEFAULT_APPLY_SCRIPT_PATH,
  eksAmiFamily,
  renderCloudConfig,
  renderEksUserData,
  renderNodeUserData,
  renderShellUserData,
  splitUserData,
} from "../../components/core/userdata";
import { expectPolicyError as policyError } from "./policy-error";

const SCRIPT = "#!/bin/sh\nset -eu\necho apply\n";
const SETTINGS =
  '[[settings.container-registry.mirrors]]\nregistry = "docker.io"\nendpoint = ["https://mirror.example.com"]\n';

describe("renderNodeUserData", () => {
  test("alone, the apply script is a cloud-config (default) or a shell script", () => {
    expect(renderNodeUserData({ applyScript: SCRIPT })).toBe(renderCloudConfig({ applyScript: SCRIPT }));
    expect(renderNodeUserData({ applyScript: SCRIPT, format: "shell" })).toBe(
      renderShellUserData({ applyScript: SCRIPT }),
    );
  });

  test("with the user's user data and parts, MIME: our shell part first, then theirs in order", () => {
    const theirs = "#cloud-config\nruncmd:\n  - [ echo, mine ]\n";
    const parts = splitUserData(
      renderNodeUserData({
        applyScript: SCRIPT,
        userData: theirs,
        userParts: [{ contentType: "text/x-shellscript", content: "#!/bin/sh\necho two\n" }],
      }),
    );
    expect(parts).toEqual([
      {
        contentType: "text/x-shellscript",
        content: renderShellUserData({ applyScript: SCRIPT }),
        filename: "registry-mirrors.sh",
      },
      { contentType: "text/cloud-config", content: theirs },
      { contentType: "text/x-shellscript", content: "#!/bin/sh\necho two\n" },
    ]);
  });

  test("keeps every part of the user's own MIME document", () => {
    const mime =
      'Content-Type: multipart/mixed; boundary="XX"\nMIME-Version: 1.0\n\n--XX\nContent-Type: text/cloud-config\n\n#cloud-config\n\n--XX\nContent-Type: text/x-shellscript\n\n#!/bin/sh\n\n--XX--\n';
    const parts = splitUserData(renderNodeUserData({ applyScript: SCRIPT, userData: mime }));
    expect(parts.map((p) => p.content)).toEqual([
      renderShellUserData({ applyScript: SCRIPT }),
      "#cloud-config\n",
      "#!/bin/sh\n",
    ]);
  });

  test("refuses a user part cloud-init does not read", () => {
    policyError(
      () =>
        renderNodeUserData({
          applyScript: SCRIPT,
          userParts: [{ contentType: "application/node.eks.aws", content: "kind: NodeConfig\n" }],
        }),
      "userParts[0].contentType",
      '"application/node.eks.aws"',
      "text/cloud-config",
    );
  });
});

describe("eksAmiFamily", () => {
  test("reads the family from the node group's amiType", () => {
    expect(eksAmiFamily("AL2023_x86_64_STANDARD")).toBe("al2023");
    expect(eksAmiFamily("AL2023_ARM_64_NVIDIA")).toBe("al2023");
    expect(eksAmiFamily("AL2_x86_64_GPU")).toBe("al2");
    expect(eksAmiFamily("BOTTLEROCKET_ARM_64_NVIDIA")).toBe("bottlerocket");
    expect(eksAmiFamily("CUSTOM", "al2023")).toBe("al2023");
  });

  test("refuses CUSTOM without a family, Windows, unknown types and families", () => {
    policyError(() => eksAmiFamily("CUSTOM"), "amiFamily", "nothing", 'set amiFamily to "al2023"');
    policyError(
      () => eksAmiFamily("WINDOWS_CORE_2022_x86_64"),
      "amiType",
      '"WINDOWS_CORE_2022_x86_64"',
      "Linux amiType",
    );
    policyError(() => eksAmiFamily("UBUNTU_24"), "amiType", '"UBUNTU_24"', "AL2023_x86_64_STANDARD");
    policyError(
      () => eksAmiFamily("CUSTOM", "flatcar" as never),
      "amiFamily",
      '"flatcar"',
      "al2, al2023, bottlerocket",
    );
  });
});

describe("renderEksUserData", () => {
  const containerd = '[plugins."io.containerd.grpc.v1.cri".containerd]\ndiscard_unpacked_layers = false\n';

  test("AL2023: NodeConfig part, then the script part, then the user's parts", () => {
    const user = {
      contentType: "application/node.eks.aws",
      content:
        "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    flags: [--node-labels=team=a]\n",
    };
    const parts = splitUserData(
      renderEksUserData({ family: "al2023", applyScript: SCRIPT, containerdConfig: containerd, userParts: [user] }),
    );
    expect(parts.map((p) => p.contentType)).toEqual([
      "application/node.eks.aws",
      "text/x-shellscript",
      "application/node.eks.aws",
    ]);
    expect(YAML.parse(parts[0].content).spec.containerd.config).toBe(containerd);
    expect(parts[1].content).toContain(`<<'REGISTRY_MIRRORS_EOF'\n${SCRIPT}REGISTRY_MIRRORS_EOF\n`);
    expect(parts[2]).toEqual(user);
  });

  test("AL2023 without containerd settings or cluster details: only the script part (AL2023 already sets config_path)", () => {
    const parts = splitUserData(renderEksUserData({ family: "al2023", applyScript: SCRIPT }));
    expect(parts.map((p) => p.contentType)).toEqual(["text/x-shellscript"]);
    expect(parts[0].content.endsWith(`'${DEFAULT_APPLY_SCRIPT_PATH}'\n`)).toBe(true);
  });

  test("AL2: MIME with the script part, keeping the user's user data", () => {
    const parts = splitUserData(
      renderEksUserData({ family: "al2", applyScript: SCRIPT, userData: "#!/bin/bash\necho pre-bootstrap\n" }),
    );
    expect(parts.map((p) => [p.contentType, p.content.split("\n")[0]])).toEqual([
      ["text/x-shellscript", "#!/bin/sh"],
      ["text/x-shellscript", "#!/bin/bash"],
    ]);
  });

  test("Bottlerocket: the settings TOML, merged with the user's settings", () => {
    const text = renderEksUserData({
      family: "bottlerocket",
      bottlerocketSettings: SETTINGS,
      userSettings: "[settings.kubernetes]\nmax-pods = 58\n",
    });
    expect(parseToml(text)).toEqual({
      settings: {
        "container-registry": { mirrors: [{ registry: "docker.io", endpoint: ["https://mirror.example.com"] }] },
        kubernetes: { "max-pods": 58 },
      },
    });
  });

  test("refuses Docker-only input, parts and missing settings on Bottlerocket", () => {
    policyError(
      () => renderEksUserData({ family: "bottlerocket", bottlerocketSettings: SETTINGS, applyScript: SCRIPT }),
      "applyScript",
      "apply script",
      "bottlerocketSettings",
    );
    policyError(
      () =>
        renderEksUserData({ family: "bottlerocket", bottlerocketSettings: SETTINGS, userData: "#!/bin/sh\necho\n" }),
      "userParts",
      '["text/x-shellscript"]',
      "userSettings",
    );
    policyError(
      () => renderEksUserData({ family: "bottlerocket" }),
      "bottlerocketSettings",
      "nothing",
      '"bottlerocket" to the runtimes',
    );
  });

  test("refuses a missing apply script and settings the family does not read", () => {
    policyError(
      () => renderEksUserData({ family: "al2023" }),
      "applyScript",
      "nothing",
      "MirrorDaemonConfig.applyScript",
    );
    policyError(
      () => renderEksUserData({ family: "al2023", applyScript: SCRIPT, bottlerocketSettings: SETTINGS }),
      "bottlerocketSettings",
      "(set)",
      "remove bottlerocketSettings for AL2023",
    );
    policyError(
      () => renderEksUserData({ family: "al2", applyScript: SCRIPT, containerdConfig: containerd }),
      "containerdConfig",
      "(set)",
      "remove containerdConfig for AL2",
    );
  });

  test("refuses a NodeConfig part on AL2 nodes (cloud-init does not read it)", () => {
    policyError(
      () =>
        renderEksUserData({
          family: "al2",
          applyScript: SCRIPT,
          userParts: [{ contentType: "application/node.eks.aws", content: "kind: NodeConfig\n" }],
        }),
      "userParts[0].contentType",
      '"application/node.eks.aws"',
      "text/x-shellscript",
    );
    policyError(
      () =>
        renderEksUserData({
          family: "al2",
          applyScript: SCRIPT,
          userData: 'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n',
        }),
      "userData.parts[0].contentType",
      '"text/plain"',
      "text/x-shellscript",
    );
  });
});
