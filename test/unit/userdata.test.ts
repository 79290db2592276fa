import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { parse as parseToml } from "smol-toml";
import YAML from "yaml";
import { PolicyError } from "../../components/core/errors";
import {
  DEFAULT_APPLY_SCRIPT_PATH,
  DEFAULT_MIME_BOUNDARY,
  DEFAULT_USER_SCRIPT_PATH,
  type MimePart,
  checkUserDataSize,
  encodeCheckedUserData,
  encodeUserData,
  renderBottlerocketUserData,
  renderCloudConfig,
  renderEksNodeConfig,
  renderMimeMultipart,
  renderShellUserData,
  splitUserData,
} from "../../components/core/userdata";
import { expectPolicyError as policyError } from "./policy-error";

const SCRIPT = '#!/bin/sh\nset -eu\n# merge daemon.json\necho "applying"  \n\tprintf \'%s\\n\' "$NODE_ROOT"\n';

/** Runs `fn`, expects a PolicyError, and checks that its message names the field, the value and the fix. */

/** Scripts as the apply-script renderer makes them: a `#!` line, any text, a final newline. */
const scriptArb = fc
  .array(
    fc.string({
      unit: fc.constantFrom(
        "a",
        "Z",
        " ",
        "\t",
        "-",
        "=",
        "'",
        '"',
        "$",
        "\\",
        "|",
        ">",
        "#",
        "é",
        ":",
        "{",
        "}",
        "\n",
      ),
    }),
    { maxLength: 8 },
  )
  .map((lines) => `#!/bin/sh\n${lines.join("\n")}\n`);

describe("renderCloudConfig", () => {
  test("is a #cloud-config that writes the script byte-exact, mode 0700, and runs it", () => {
    const text = renderCloudConfig({ applyScript: SCRIPT });
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = YAML.parse(text);
    expect(doc.write_files).toEqual([
      { path: DEFAULT_APPLY_SCRIPT_PATH, owner: "root:root", permissions: "0700", content: SCRIPT },
    ]);
    expect(doc.runcmd).toEqual([[DEFAULT_APPLY_SCRIPT_PATH]]);
    expect(Object.keys(doc)).toEqual(["write_files", "runcmd"]);
  });

  test("writes extra files before the script, at the given paths and modes", () => {
    const doc = YAML.parse(
      renderCloudConfig({
        applyScript: { path: "/opt/rm/apply.sh", content: SCRIPT, mode: 0o755 },
        files: [
          {
            path: "/etc/docker/certs.d/m.example.com/ca.crt",
            content: "-----BEGIN CERTIFICATE-----\nAA==\n",
            mode: 0o644,
          },
        ],
      }),
    );
    expect(doc.write_files.map((f: { path: string; permissions: string }) => [f.path, f.permissions])).toEqual([
      ["/etc/docker/certs.d/m.example.com/ca.crt", "0644"],
      ["/opt/rm/apply.sh", "0700"],
    ]);
    expect(doc.runcmd).toEqual([["/opt/rm/apply.sh"]]);
  });

  test("scriptPath overrides the default path", () => {
    const doc = YAML.parse(renderCloudConfig({ applyScript: SCRIPT, scriptPath: "/usr/local/sbin/mirrors.sh" }));
    expect(doc.write_files[0].path).toBe("/usr/local/sbin/mirrors.sh");
    expect(doc.runcmd).toEqual([["/usr/local/sbin/mirrors.sh"]]);
  });

  test("any script round-trips byte-exact, and rendering is deterministic", () => {
    fc.assert(
      fc.property(scriptArb, (script) => {
        const text = renderCloudConfig({ applyScript: script });
        expect(YAML.parse(text).write_files[0].content).toBe(script);
        expect(renderCloudConfig({ applyScript: script })).toBe(text);
      }),
    );
  });
});

describe("renderShellUserData", () => {
  test("writes the script with a quoted here-document and runs it", () => {
    const text = renderShellUserData({ applyScript: SCRIPT });
    expect(text.startsWith("#!/bin/sh\n")).toBe(true);
    expect(text).toContain(
      `cat > '${DEFAULT_APPLY_SCRIPT_PATH}.tmp' <<'REGISTRY_MIRRORS_EOF'\n${SCRIPT}REGISTRY_MIRRORS_EOF\n`,
    );
    expect(text).toContain(
      `chmod 0700 '${DEFAULT_APPLY_SCRIPT_PATH}.tmp'\nmv -f '${DEFAULT_APPLY_SCRIPT_PATH}.tmp' '${DEFAULT_APPLY_SCRIPT_PATH}'\n`,
    );
    expect(text.endsWith(`\n'${DEFAULT_APPLY_SCRIPT_PATH}'\n`)).toBe(true);
  });

  test("picks another here-document delimiter when the script holds the default one as a line", () => {
    const script = "#!/bin/sh\ncat <<'REGISTRY_MIRRORS_EOF'\nx\nREGISTRY_MIRRORS_EOF\n";
    const text = renderShellUserData({ applyScript: script });
    expect(text).toContain(`<<'REGISTRY_MIRRORS_EOF_2'\n${script}REGISTRY_MIRRORS_EOF_2\n`);
  });

  test("runs the user's script after the apply script, even when the apply script failed", () => {
    const text = renderShellUserData({ applyScript: SCRIPT, userScript: "#!/bin/bash\necho joined\n" });
    expect(text).toContain(`<<'REGISTRY_MIRRORS_EOF'\n#!/bin/bash\necho joined\nREGISTRY_MIRRORS_EOF\n`);
    expect(
      text.endsWith(`rc=0\n'${DEFAULT_APPLY_SCRIPT_PATH}' || rc=$?\n'${DEFAULT_USER_SCRIPT_PATH}'\nexit "$rc"\n`),
    ).toBe(true);
  });

  test("any script appears verbatim between its delimiters", () => {
    fc.assert(
      fc.property(scriptArb, (script) => {
        const text = renderShellUserData({ applyScript: script });
        const m = /<<'(REGISTRY_MIRRORS_EOF[_0-9]*)'\n/.exec(text)!;
        const start = m.index + m[0].length;
        expect(text.slice(start, text.indexOf(`\n${m[1]}\n`, start - 1) + 1)).toBe(script);
      }),
    );
  });
});

describe("user data refuses bad files", () => {
  test("a secret apply script", () => {
    const err = policyError(
      () => renderCloudConfig({ applyScript: { path: "/opt/apply.sh", content: SCRIPT, mode: 0o700, secret: true } }),
      "applyScript",
      '"/opt/apply.sh"',
      "keep credentials out of user data",
    );
    expect(err.message).toContain("credential");
  });

  test("a secret extra file, in both forms", () => {
    const files = [
      { path: "/etc/ca.crt", content: "ca\n", mode: 0o644 },
      { path: "/root/.docker/config.json", content: "{}\n", mode: 0o600, secret: true },
    ];
    policyError(
      () => renderCloudConfig({ applyScript: SCRIPT, files }),
      "files[1]",
      '"/root/.docker/config.json"',
      "RegistryCredentialSecret",
    );
    policyError(
      () => renderShellUserData({ applyScript: SCRIPT, files }),
      "files[1]",
      '"/root/.docker/config.json"',
      "RegistryCredentialSecret",
    );
  });

  test("a relative or quoted path", () => {
    policyError(
      () => renderCloudConfig({ applyScript: SCRIPT, scriptPath: "apply.sh" }),
      "scriptPath",
      '"apply.sh"',
      "absolute path",
    );
    policyError(
      () => renderCloudConfig({ applyScript: { path: "/opt/", content: SCRIPT, mode: 0o700 } }),
      "applyScript.path",
      '"/opt/"',
      "absolute path",
    );
    policyError(
      () => renderShellUserData({ applyScript: SCRIPT, userScript: "#!/bin/sh\n", userScriptPath: "user.sh" }),
      "userScriptPath",
      '"user.sh"',
      "absolute path",
    );
    policyError(
      () => renderShellUserData({ applyScript: SCRIPT, files: [{ path: "/etc/it's", content: "x\n", mode: 0o644 }] }),
      "files[0].path",
      "/etc/it's",
      "absolute path",
    );
  });

  test("content without a final newline, a bad mode, a script without #!", () => {
    policyError(
      () => renderCloudConfig({ applyScript: "#!/bin/sh\necho hi" }),
      "applyScript.content",
      "(content hidden)",
      "final newline",
    );
    policyError(
      () => renderCloudConfig({ applyScript: SCRIPT, files: [{ path: "/etc/x", content: "x\n", mode: 0o10000 }] }),
      "files[0].mode",
      "4096",
      "0o644",
    );
    policyError(() => renderShellUserData({ applyScript: "echo hi\n" }), "applyScript", '"echo hi"', "#!/bin/sh");
    policyError(
      () => renderShellUserData({ applyScript: SCRIPT, userScript: "echo hi\n" }),
      "userScript",
      '"echo hi"',
      "#!/bin/sh",
    );
    policyError(
      () =>
        renderShellUserData({
          applyScript: SCRIPT,
          userScript: "#!/bin/sh\n",
          userScriptPath: DEFAULT_APPLY_SCRIPT_PATH,
        }),
      "userScriptPath",
      DEFAULT_APPLY_SCRIPT_PATH,
      "its own path",
    );
  });

  test("two files at one path", () => {
    policyError(
      () =>
        renderCloudConfig({
          applyScript: SCRIPT,
          files: [{ path: DEFAULT_APPLY_SCRIPT_PATH, content: "x\n", mode: 0o644 }],
        }),
      "applyScript",
      DEFAULT_APPLY_SCRIPT_PATH,
      "its own path",
    );
  });
});

describe("renderMimeMultipart", () => {
  const parts: MimePart[] = [
    { contentType: "text/x-shellscript", content: SCRIPT, filename: "apply-node-config.sh" },
    { contentType: "text/cloud-config", content: "#cloud-config\npackages: [jq]\n" },
    { contentType: "text/x-shellscript", content: "#!/bin/bash\necho 'user part' ünïcode\n" },
  ];

  test("has the EKS headers and splits back into the same parts, in order", () => {
    const text = renderMimeMultipart(parts);
    expect(
      text.startsWith(
        `MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="${DEFAULT_MIME_BOUNDARY}"\n\n--${DEFAULT_MIME_BOUNDARY}\n`,
      ),
    ).toBe(true);
    expect(text.endsWith(`\n--${DEFAULT_MIME_BOUNDARY}--\n`)).toBe(true);
    expect(text).toContain(
      'Content-Type: text/x-shellscript; charset="us-ascii"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n',
    );
    // Non-ASCII text goes base64 (cloud-init garbles 8bit UTF-8), in lines of at most 76 characters.
    expect(text).toContain(
      `Content-Type: text/x-shellscript; charset="utf-8"\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\n${Buffer.from(parts[2].content).toString("base64")}\n`,
    );
    expect(splitUserData(text)).toEqual(parts);
    expect(renderMimeMultipart(parts)).toBe(text);
  });

  test("a non-ASCII NodeConfig stays 8bit (nodeadm reads raw bytes); long base64 is wrapped", () => {
    const nodeConfig = { contentType: "application/node.eks.aws", content: "kind: NodeConfig # überall\n" };
    const text = renderMimeMultipart([nodeConfig], { target: "eks-al2023" });
    expect(text).toContain(
      'charset="utf-8"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\nkind: NodeConfig # überall\n',
    );
    const long = { contentType: "text/x-shellscript", content: `#!/bin/sh\n# ${"é".repeat(200)}\n` };
    const lines = renderMimeMultipart([long]).split("\n");
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(76);
    expect(splitUserData(renderMimeMultipart([long]))).toEqual([long]);
  });

  test("any parts split back byte-exact (contents may hold lines starting with --)", () => {
    const partArb = fc.record({
      contentType: fc.constantFrom("text/x-shellscript", "text/cloud-config", "text/cloud-boothook"),
      content: fc
        .array(fc.string({ unit: fc.constantFrom("-", "=", "a", " ", "é", "R", "\r") }), { maxLength: 6 })
        .map((l) => `${l.join("\n")}\n`),
    });
    fc.assert(
      fc.property(fc.array(partArb, { minLength: 1, maxLength: 4 }), (ps) => {
        expect(splitUserData(renderMimeMultipart(ps))).toEqual(ps);
      }),
    );
  });

  test("uses a numbered boundary when a part holds the default one", () => {
    const clash = [{ contentType: "text/x-shellscript", content: `#!/bin/sh\necho --${DEFAULT_MIME_BOUNDARY}\n` }];
    const text = renderMimeMultipart(clash);
    expect(text).toContain(`boundary="${DEFAULT_MIME_BOUNDARY}1"`);
    expect(splitUserData(text)).toEqual(clash);
  });

  test("refuses a given boundary that occurs in a part, or is malformed", () => {
    policyError(
      () =>
        renderMimeMultipart([{ contentType: "text/x-shellscript", content: "#!/bin/sh\n# //\n" }], { boundary: "//" }),
      "boundary",
      '"//"',
      "no part contains",
    );
    policyError(
      () => renderMimeMultipart(parts, { boundary: "has space" }),
      "boundary",
      '"has space"',
      "==MYBOUNDARY==",
    );
  });

  test("refuses a content type the target does not accept", () => {
    const nodeConfig = { contentType: "application/node.eks.aws", content: "apiVersion: node.eks.aws/v1alpha1\n" };
    const err = policyError(
      () => renderMimeMultipart([parts[0], nodeConfig]),
      "parts[1].contentType",
      '"application/node.eks.aws"',
      "text/cloud-config",
    );
    expect(err.message).toContain("cloud-init user data does not accept");
    expect(splitUserData(renderMimeMultipart([parts[0], nodeConfig], { target: "eks-al2023" }))).toEqual([
      parts[0],
      nodeConfig,
    ]);
    policyError(
      () =>
        renderMimeMultipart([{ contentType: "text/x-shellscript; charset=utf-8", content: "#!/bin/sh\n" }], {
          target: "eks-al2023",
        }),
      "parts[0].contentType",
      "charset",
      "application/node.eks.aws",
    );
    policyError(
      () => renderMimeMultipart([{ contentType: "text/plain", content: "x\n" }]),
      "parts[0].contentType",
      '"text/plain"',
      "text/x-shellscript",
    );
  });

  test("refuses an odd file name and an empty list", () => {
    policyError(
      () => renderMimeMultipart([{ ...parts[0], filename: 'a"b' }]),
      "parts[0].filename",
      'a\\"b',
      "setup.sh",
    );
    policyError(() => renderMimeMultipart([]), "parts", "[]", "pass the parts");
  });
});

describe("splitUserData", () => {
  test("infers the part type of a single document from its first line", () => {
    expect(splitUserData("#cloud-config\nruncmd: []\n")).toEqual([
      { contentType: "text/cloud-config", content: "#cloud-config\nruncmd: []\n" },
    ]);
    expect(splitUserData("#!/bin/bash\necho\n")[0].contentType).toBe("text/x-shellscript");
    expect(splitUserData("#cloud-boothook\necho\n")[0].contentType).toBe("text/cloud-boothook");
    policyError(() => splitUserData("hello\n"), "userData", '"hello"', "#cloud-config");
  });

  test("reads CRLF documents, base64 parts and file names", () => {
    const doc = [
      'Content-Type: multipart/mixed; boundary="//"',
      "MIME-Version: 1.0",
      "",
      "--//",
      'Content-Type: text/x-shellscript; charset="us-ascii"',
      "Content-Transfer-Encoding: base64",
      'Content-Disposition: attachment; filename="boot.sh"',
      "",
      Buffer.from("#!/bin/sh\necho b64\n").toString("base64"),
      "--//",
      "Content-Type: text/cloud-config",
      "",
      "#cloud-config",
      "",
      "--//--",
      "",
    ].join("\r\n");
    expect(splitUserData(doc)).toEqual([
      { contentType: "text/x-shellscript", content: "#!/bin/sh\necho b64\n", filename: "boot.sh" },
      { contentType: "text/cloud-config", content: "#cloud-config\n" },
    ]);
  });

  test("refuses a multipart without boundary, without end, nested, or quoted-printable", () => {
    policyError(
      () => splitUserData("Content-Type: multipart/mixed\n\nx\n"),
      "userData",
      "multipart/mixed",
      "boundary=",
    );
    policyError(
      () =>
        splitUserData(
          'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/cloud-config\n\n#cloud-config\n',
        ),
      "userData",
      '"--b"',
      '"--b--"',
    );
    policyError(
      () =>
        splitUserData(
          'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: multipart/mixed; boundary="c"\n\n--c--\n--b--\n',
        ),
      "userData.parts[0]",
      "multipart/mixed",
      "flatten",
    );
    policyError(
      () =>
        splitUserData(
          'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Transfer-Encoding: quoted-printable\n\nx\n--b--\n',
        ),
      "userData.parts[0]",
      "quoted-printable",
      "base64",
    );
  });
});

describe("encodeUserData", () => {
  test("base64 and gzip+base64 round-trip any text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (text) => {
        expect(Buffer.from(encodeUserData(text), "base64").toString("utf8")).toBe(text);
        expect(gunzipSync(Buffer.from(encodeUserData(text, { gzip: true }), "base64")).toString("utf8")).toBe(text);
      }),
    );
  });

  test("gzip+base64 round-trips, with a header free of time and name", () => {
    const text = renderCloudConfig({ applyScript: SCRIPT });
    const encoded = encodeUserData(text, { gzip: true });
    const gz = Buffer.from(encoded, "base64");
    expect(gunzipSync(gz).toString("utf8")).toBe(text);
    expect([...gz.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]); // deflate, no FNAME/FCOMMENT/FEXTRA flags
    expect(gz.readUInt32LE(4)).toBe(0); // mtime
    expect(gz[9]).toBe(3); // OS = Unix
    expect(encodeUserData(text, { gzip: true })).toBe(encoded);
  });

  test("gzip output is stable for any input", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(encodeUserData(text, { gzip: true })).toBe(encodeUserData(text, { gzip: true }));
      }),
    );
  });
});

describe("checkUserDataSize", () => {
  test("EC2 counts bytes before base64: 16384 passes, 16385 is 1 byte over", () => {
    expect(checkUserDataSize("ec2", "a".repeat(16384))).toBe(16384);
    const err = policyError(
      () => checkUserDataSize("ec2", "a".repeat(16385)),
      "userData",
      '"16385 bytes"',
      "compress it",
    );
    expect(err.message).toContain(
      "AWS EC2 user data is limited to 16384 bytes (16 KB, counted before base64); this is 1 bytes over",
    );
    expect(err.fix).toContain("DaemonSet");
    expect(err.fix).toContain("fewer registries");
  });

  test("EC2 counts the gzip bytes when gzip is used, and no longer suggests compression", () => {
    const text = "é".repeat(9000); // 18000 bytes of text
    expect(() => checkUserDataSize("ec2", text)).toThrow(/this is 1616 bytes over/);
    const gz = encodeUserData(text, { gzip: true });
    expect(checkUserDataSize("ec2", text, gz)).toBe(Buffer.from(gz, "base64").length);
    // Incompressible input stays over the limit even gzipped.
    const noise = Buffer.concat(
      Array.from({ length: 600 }, (_, i) => createHash("sha256").update(String(i)).digest()),
    ).toString("latin1");
    const noisy = encodeUserData(noise, { gzip: true });
    const err = policyError(() => checkUserDataSize("ec2", noise, noisy), "userData", "bytes", "DaemonSet");
    expect(err.fix).not.toContain("compress");
  });

  test("Alibaba Cloud ECS counts base64 characters: 24576 bytes (32768 base64) pass, 24577 are 4 over", () => {
    expect(checkUserDataSize("ecs", "a".repeat(24576))).toBe(32768);
    const err = policyError(
      () => checkUserDataSize("ecs", "a".repeat(24577)),
      "userData",
      '"32772 bytes"',
      "compress it",
    );
    expect(err.message).toContain(
      "Alibaba Cloud ECS user data is limited to 32768 bytes (32 KB, counted after base64 (base64 included)); this is 4 bytes over",
    );
    expect(checkUserDataSize("ecs", "ignored when encoded is given", encodeUserData("a".repeat(24576)))).toBe(32768);
  });

  test("encodeCheckedUserData encodes and checks in one step", () => {
    expect(encodeCheckedUserData("ec2", "#!/bin/sh\n")).toBe(Buffer.from("#!/bin/sh\n").toString("base64"));
    expect(() => encodeCheckedUserData("ecs", "a".repeat(30000))).toThrow(PolicyError);
    expect(Buffer.from(encodeCheckedUserData("ecs", "a".repeat(30000), { gzip: true }), "base64")[0]).toBe(0x1f);
  });
});

describe("renderEksNodeConfig", () => {
  const containerd = '[plugins."io.containerd.grpc.v1.cri".containerd]\ndiscard_unpacked_layers = false\n';
  const cluster = {
    name: "prod",
    apiServerEndpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com",
    certificateAuthority: "Q0E=",
    cidr: "10.100.0.0/16",
  };

  test("is a NodeConfig carrying the containerd TOML byte-exact", () => {
    const doc = YAML.parse(renderEksNodeConfig({ containerdConfig: containerd }));
    expect(doc).toEqual({
      apiVersion: "node.eks.aws/v1alpha1",
      kind: "NodeConfig",
      spec: { containerd: { config: containerd } },
    });
    expect(parseToml(doc.spec.containerd.config)).toEqual({
      plugins: { "io.containerd.grpc.v1.cri": { containerd: { discard_unpacked_layers: false } } },
    });
  });

  test("carries cluster details for self-managed nodes", () => {
    expect(YAML.parse(renderEksNodeConfig({ cluster })).spec).toEqual({ cluster });
  });

  test("refuses partial cluster details, bad TOML, registry.mirrors, and an empty spec", () => {
    policyError(
      () => renderEksNodeConfig({ cluster: { ...cluster, cidr: "" } }),
      "cluster.cidr",
      '""',
      "aws.eks.Cluster",
    );
    policyError(
      () => renderEksNodeConfig({ containerdConfig: "[plugins\n" }),
      "containerdConfig",
      '"[plugins"',
      "TOML",
    );
    const err = policyError(
      () =>
        renderEksNodeConfig({
          containerdConfig:
            '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\nendpoint = ["https://m"]\n',
        }),
      "containerdConfig",
      "registry.mirrors",
      "hosts.toml",
    );
    expect(err.message).toContain("config_path");
    policyError(() => renderEksNodeConfig({}), "nodeConfig", "{}", "containerdConfig");
  });
});

describe("renderBottlerocketUserData", () => {
  const settings =
    '[[settings.container-registry.mirrors]]\nregistry = "docker.io"\nendpoint = ["https://mirror.example.com"]\n';

  test("parses as TOML and merges the user's own settings", () => {
    const text = renderBottlerocketUserData({
      settings,
      userSettings: '[settings.kubernetes]\ncluster-name = "prod"\n[settings.host-containers.admin]\nenabled = true\n',
    });
    expect(parseToml(text)).toEqual({
      settings: {
        "container-registry": { mirrors: [{ registry: "docker.io", endpoint: ["https://mirror.example.com"] }] },
        kubernetes: { "cluster-name": "prod" },
        "host-containers": { admin: { enabled: true } },
      },
    });
    expect(text.endsWith("\n") && !text.endsWith("\n\n")).toBe(true);
    expect(renderBottlerocketUserData({ settings })).toBe(settings);
    expect(renderBottlerocketUserData({ settings: "# header\n[settings.a]\nb = 1" })).toBe(
      "# header\n[settings.a]\nb = 1\n",
    );
  });

  test("refuses a setting set twice, bad TOML, an apply script and Docker settings", () => {
    policyError(
      () =>
        renderBottlerocketUserData({
          settings,
          userSettings: '[[settings.container-registry.mirrors]]\nregistry = "ghcr.io"\nendpoint = ["https://g"]\n',
        }),
      "userSettings",
      '"settings.container-registry.mirrors"',
      "remove settings.container-registry.mirrors",
    );
    policyError(() => renderBottlerocketUserData({ settings: "settings = [" }), "settings", '"settings = ["', "TOML");
    policyError(
      () => renderBottlerocketUserData({ settings, applyScript: SCRIPT }),
      "applyScript",
      "apply script",
      "bottlerocketSettings",
    );
    const err = policyError(
      () =>
        renderBottlerocketUserData({
          settings,
          dockerSettings: { logDriver: "json-file", execOpts: ["native.cgroupdriver=systemd"] },
        }),
      "docker",
      '["execOpts","logDriver"]',
      "remove the docker settings",
    );
    expect(err.message).toContain("Bottlerocket has no Docker daemon");
    expect(() => renderBottlerocketUserData({ settings, dockerSettings: {} })).not.toThrow();
  });
});
