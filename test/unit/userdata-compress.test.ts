import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import YAML from "yaml";
import { PolicyError } from "../../components/core/errors";
import {
  DEFAULT_APPLY_SCRIPT_PATH,
  fitUserData,
  renderCloudConfig,
  renderEksUserData,
  renderNodeUserData,
  renderShellUserData,
  splitUserData,
  userDataFiles,
} from "../../components/core/userdata";

const SCRIPT = "#!/bin/sh\nset -eu\necho apply\n";
const CA = {
  path: "/etc/containerd/certs.d/m.example.com/ca.crt",
  content: "-----BEGIN CERTIFICATE-----\nAA==\n",
  mode: 0o644,
};

/** A script of about `bytes` bytes that compresses like a real one (repetitive shell). */
function bigScript(bytes: number): string {
  const line =
    'if [ -f "$NODE_ROOT/etc/docker/daemon.json" ]; then merge_json "$NODE_ROOT/etc/docker/daemon.json"; fi\n';
  return `#!/bin/sh\n${line.repeat(Math.ceil(bytes / line.length))}`;
}

/** A script that gzip cannot shrink (hex of hashes). */
function noisyScript(bytes: number): string {
  const hex = Array.from({ length: Math.ceil(bytes / 64) }, (_, i) =>
    createHash("sha256").update(String(i)).digest("hex"),
  ).join("\n# ");
  return `#!/bin/sh\n# ${hex}\n`;
}

const scriptArb = fc
  .array(fc.string({ unit: fc.constantFrom("a", " ", "'", "$", "\\", "é", "-", "=", "\t") }), { maxLength: 6 })
  .map((l) => `#!/bin/sh\n${l.join("\n")}\n`);

describe("compressed files", () => {
  test("cloud-config carries gz+b64 content that reads back byte-exact", () => {
    const text = renderCloudConfig({ applyScript: SCRIPT, files: [CA], compress: true });
    const entries = YAML.parse(text).write_files;
    expect(entries.map((e: { encoding: string }) => e.encoding)).toEqual(["gz+b64", "gz+b64"]);
    expect(Buffer.from(entries[1].content, "base64").subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(userDataFiles(text)).toEqual([CA, { path: DEFAULT_APPLY_SCRIPT_PATH, content: SCRIPT, mode: 0o700 }]);
  });

  test("the shell form decodes to a file first (no pipe), then gunzips", () => {
    const text = renderShellUserData({ applyScript: SCRIPT, compress: true });
    expect(text).toContain(`base64 -d > '${DEFAULT_APPLY_SCRIPT_PATH}.tmp.gz' <<'REGISTRY_MIRRORS_EOF'\nH4sI`);
    expect(text).toContain(
      `gunzip -c '${DEFAULT_APPLY_SCRIPT_PATH}.tmp.gz' > '${DEFAULT_APPLY_SCRIPT_PATH}.tmp'\nrm -f '${DEFAULT_APPLY_SCRIPT_PATH}.tmp.gz'\nchmod 0700`,
    );
    expect(text).not.toContain("echo apply");
    expect(userDataFiles(text)).toEqual([{ path: DEFAULT_APPLY_SCRIPT_PATH, content: SCRIPT, mode: 0o700 }]);
  });

  test("every form reads back the same files, compressed or not, and compression is deterministic", () => {
    fc.assert(
      fc.property(scriptArb, fc.boolean(), (script, compress) => {
        const want = [CA, { path: DEFAULT_APPLY_SCRIPT_PATH, content: script, mode: 0o700 }];
        for (const text of [
          renderCloudConfig({ applyScript: script, files: [CA], compress }),
          renderShellUserData({ applyScript: script, files: [CA], compress }),
          renderNodeUserData({ applyScript: script, files: [CA], compress, userData: "#!/bin/sh\necho theirs\n" }),
        ]) {
          expect(userDataFiles(text)).toEqual(want);
        }
        expect(renderShellUserData({ applyScript: script, compress })).toBe(
          renderShellUserData({ applyScript: script, compress }),
        );
      }),
    );
  });

  test("the EKS script part compresses the same way", () => {
    const text = renderEksUserData({ family: "al2023", applyScript: SCRIPT, compress: true });
    expect(splitUserData(text)[0].content).toContain("base64 -d >");
    expect(userDataFiles(text)).toEqual([{ path: DEFAULT_APPLY_SCRIPT_PATH, content: SCRIPT, mode: 0o700 }]);
  });

  test("a 21 KB script shrinks to well under half", () => {
    const script = bigScript(21_000);
    const plain = renderCloudConfig({ applyScript: script });
    const packed = renderCloudConfig({ applyScript: script, compress: true });
    expect(packed.length * 2).toBeLessThan(plain.length);
  });
});

describe("fitUserData", () => {
  const render = (script: string) => (compress: boolean | "all") =>
    renderCloudConfig({ applyScript: script, compress });
  const decoded = (encoded: string) => Buffer.from(encoded, "base64").toString("utf8");

  test("auto keeps the plain form when it fits", () => {
    expect(decoded(fitUserData("ec2", "auto", render(SCRIPT)))).toBe(renderCloudConfig({ applyScript: SCRIPT }));
  });

  test("auto compresses when the plain form is over the limit (EC2: 16384 bytes of text)", () => {
    const script = bigScript(17_000);
    expect(Buffer.byteLength(renderCloudConfig({ applyScript: script }))).toBeGreaterThan(16384);
    const text = decoded(fitUserData("ec2", "auto", render(script)));
    expect(YAML.parse(text).write_files[0].encoding).toBe("gz+b64");
    expect(userDataFiles(text)[0].content).toBe(script);
  });

  test("ECS counts the base64: 25 KB of text is over 32 KB once encoded, so auto compresses", () => {
    const script = bigScript(25_000);
    const plainBase64 = Buffer.from(renderCloudConfig({ applyScript: script })).toString("base64").length;
    expect(plainBase64).toBeGreaterThan(32768);
    expect(YAML.parse(decoded(fitUserData("ecs", "auto", render(script)))).write_files[0].encoding).toBe("gz+b64");
  });

  test("true always compresses; false never does and fails over the limit, suggesting compression", () => {
    expect(YAML.parse(decoded(fitUserData("ec2", true, render(SCRIPT)))).write_files[0].encoding).toBe("gz+b64");
    let err: PolicyError | undefined;
    try {
      fitUserData("ec2", false, render(bigScript(17_000)));
    } catch (e) {
      err = e as PolicyError;
    }
    expect(err).toBeInstanceOf(PolicyError);
    expect(err!.field).toBe("userData");
    expect(err!.message).toMatch(
      /^userData: AWS EC2 user data is limited to 16384 bytes \(16 KB, counted before base64\); this is \d+ bytes over \(got "\d+ bytes"\)\. Fix: compress it \(compress: true\), mirror fewer registries/,
    );
  });

  test("what stays over the limit even compressed is refused without suggesting compression again", () => {
    for (const compress of [true, "auto"] as const) {
      let caught: unknown;
      try {
        fitUserData("ec2", compress, render(noisyScript(40_000)));
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(PolicyError);
      const err = caught as PolicyError;
      expect(err.message).toContain("bytes over");
      expect(err.fix).not.toContain("compress");
      expect(err.fix).toContain("DaemonSet");
    }
  });
});

describe("fitUserData with a reader that takes gzip (cloud-init)", () => {
  const render = (script: string) => (compress: boolean | "all") =>
    renderCloudConfig({ applyScript: script, compress });

  test("auto falls back to the whole document gzipped when even the compressed files are over", () => {
    const script = noisyScript(25_000);
    expect(Buffer.byteLength(render(script)("all"))).toBeGreaterThan(16384);
    const encoded = fitUserData("ec2", "auto", render(script), { gzipReader: true });
    const bytes = Buffer.from(encoded, "base64");
    expect(bytes.length).toBeLessThanOrEqual(16384);
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    expect(gunzipSync(bytes).toString("utf8")).toBe(renderCloudConfig({ applyScript: script }));
  });

  test("without it, the same script is refused with the size", () => {
    expect(() => fitUserData("ec2", "auto", render(noisyScript(25_000)))).toThrow(/bytes over/);
  });

  test("a document that fits compressed keeps its readable form", () => {
    const script = bigScript(17_000);
    const text = Buffer.from(fitUserData("ec2", "auto", render(script), { gzipReader: true }), "base64").toString();
    expect(YAML.parse(text).write_files[0].encoding).toBe("gz+b64");
  });
});

describe("userDataFiles", () => {
  test("skips the user's own parts and reads b64 write_files", () => {
    const theirs =
      "#cloud-config\nwrite_files:\n  - path: /etc/motd\n    encoding: b64\n    content: aGkK\n    permissions: '0600'\n";
    expect(
      userDataFiles(
        renderNodeUserData({
          applyScript: SCRIPT,
          userData: theirs,
          userParts: [{ contentType: "text/x-shellscript", content: "#!/bin/sh\necho\n" }],
        }),
      ),
    ).toEqual([
      { path: DEFAULT_APPLY_SCRIPT_PATH, content: SCRIPT, mode: 0o700 },
      { path: "/etc/motd", content: "hi\n", mode: 0o600 },
    ]);
  });
});
