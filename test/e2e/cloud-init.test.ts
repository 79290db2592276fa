/**
 * User data against the real readers: cloud-init's own MIME processor splits (and gunzips) what we render,
 * `cloud-init schema` validates every cloud-config part, cloud-init's write_files and runcmd code places and
 * runs the script (under a temp root), and shellcheck + sh check the shell forms.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { run, runOk, tmpDir } from "./lab";
import { renderNodeConfig } from "../../components/core/render/node-config";
import {
  type MimePart,
  type NodeEngineFile,
  encodeUserData,
  nodeEngineFile,
  renderCloudConfig,
  renderEksUserData,
  renderNodeUserData,
  renderShellUserData,
  userDataFiles,
} from "../../components/core/userdata";

// cloud-init lives in the system Python, not in whatever python3 comes first on PATH.
const PYTHON = "/usr/bin/python3";

/** Splits user data with cloud-init's UserDataProcessor, or runs a cloud-config's write_files + runcmd under a root. */
const CLOUD_INIT_HELPER = `
import json, os, sys
from cloudinit import helpers, user_data, util
from cloudinit.config import cc_write_files

if sys.argv[1] == "split":
    blob, out = open(sys.argv[2], "rb").read(), sys.argv[3]
    paths = helpers.Paths({"cloud_dir": os.path.join(out, "cloud"), "run_dir": os.path.join(out, "run")})
    message = user_data.UserDataProcessor(paths).process(blob)
    parts = []
    for i, part in enumerate(p for p in message.walk() if not p.is_multipart()):
        path = os.path.join(out, "part-%03d" % i)
        with open(path, "wb") as f:
            f.write(part.get_payload(decode=True))
        parts.append({"contentType": part.get_content_type(), "file": path, "filename": part.get_filename()})
    print(json.dumps(parts))
else:
    config, root = util.load_yaml(open(sys.argv[2]).read()), sys.argv[3]
    files = [dict(f, path=root + f["path"]) for f in config.get("write_files", [])]
    cc_write_files.write_files("write_files", files, "root:root")
    commands = [[root + c[0]] + c[1:] for c in config.get("runcmd", [])]
    with open(os.path.join(root, "runcmd.sh"), "w") as f:
        f.write(util.shellify(commands))
`;

interface SplitPart {
  contentType: string;
  file: string;
  filename: string;
}

let dir: string;
let helper: string;
let counter = 0;

beforeAll(async () => {
  // cloud-init and shellcheck come from test/e2e/setup-lab.sh (run by `npm run test:e2e`).
  await runOk("bash", [join(__dirname, "setup-lab.sh")], { timeoutMs: 170_000 });
  dir = tmpDir("cloud-init");
  helper = join(dir, "helper.py");
  writeFileSync(helper, CLOUD_INIT_HELPER);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string | Buffer): string {
  const path = join(dir, `${++counter}-${name}`);
  writeFileSync(path, content);
  return path;
}

/** What cloud-init makes of user data bytes: its parts, as its own processor sees them. */
async function cloudInitParts(
  userData: string | Buffer,
): Promise<Array<{ contentType: string; content: string; filename: string }>> {
  const out = tmpDir("split");
  try {
    const result = await runOk(PYTHON, [helper, "split", file("user-data", userData), out]);
    return (JSON.parse(result.stdout) as SplitPart[]).map((p) => ({
      contentType: p.contentType,
      content: readFileSync(p.file, "utf8"),
      filename: p.filename,
    }));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function expectValidCloudConfig(text: string): Promise<void> {
  const result = await run("cloud-init", ["schema", "-c", file("cloud-config.yaml", text)]);
  expect(`${result.stdout}${result.stderr}`).toContain("Valid cloud-config");
  expect(result.code).toBe(0);
}

async function expectShellcheckClean(text: string): Promise<void> {
  const result = await run("shellcheck", ["-s", "sh", file("user-data.sh", text)]);
  expect(result.stdout + result.stderr).toBe("");
  expect(result.code).toBe(0);
}

const SCRIPT =
  '#!/bin/sh\nset -eu\n# a line with "quotes", $dollars, ünïcödé and a trailing space \necho applied >> "$(dirname "$0")/applied.log"\n';
const CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n";

/** The real node apply script for Docker + containerd with two Docker Hub mirrors and a ghcr.io mirror. */
const REAL_SCRIPT = renderNodeConfig({
  policy: {
    registries: {
      "docker.io": { mirrors: ["https://m1.example.com", "https://m2.example.com"] },
      "ghcr.io": { mirrors: ["https://ghcr-mirror.example.com"] },
    },
  },
  docker: { execOpts: ["native.cgroupdriver=systemd"], logDriver: "json-file", logOpts: { "max-size": "100m" } },
}).applyScript;

describe("cloud-config", () => {
  const variants: Array<[string, string]> = [
    ["the apply script alone", renderCloudConfig({ applyScript: SCRIPT })],
    [
      "with a CA file and a custom script path",
      renderCloudConfig({
        applyScript: SCRIPT,
        scriptPath: "/opt/registry-mirrors/apply.sh",
        files: [{ path: "/etc/containerd/certs.d/mirror.example.com/ca.crt", content: CA, mode: 0o644 }],
      }),
    ],
    ["the real apply script", renderCloudConfig({ applyScript: REAL_SCRIPT })],
    ["the real apply script, compressed (gz+b64)", renderCloudConfig({ applyScript: REAL_SCRIPT, compress: true })],
  ];

  test.each(variants)("cloud-init schema accepts %s", async (_name, text) => {
    await expectValidCloudConfig(text);
  });

  test("a schema error is caught (the check can fail)", async () => {
    const result = await run("cloud-init", ["schema", "-c", file("bad.yaml", "#cloud-config\nruncmd: not-a-list\n")]);
    expect(result.code).not.toBe(0);
  });

  test("cloud-init reads plain and gzip user data as one cloud-config part, byte-exact", async () => {
    const text = variants[1][1];
    for (const bytes of [Buffer.from(text), Buffer.from(encodeUserData(text, { gzip: true }), "base64")]) {
      const parts = await cloudInitParts(bytes);
      expect(parts.map((p) => [p.contentType, p.content])).toEqual([["text/cloud-config", text]]);
    }
  });

  test.each([false, true])(
    "cloud-init's write_files places the files byte-exact with their modes, and runcmd runs the script (compress: %s)",
    async (compress) => {
      const root = tmpDir("root");
      try {
        const text = renderCloudConfig({
          applyScript: SCRIPT,
          files: [{ path: "/etc/containerd/certs.d/mirror.example.com/ca.crt", content: CA, mode: 0o644 }],
          compress,
        });
        await runOk(PYTHON, [helper, "apply", file("cloud-config.yaml", text), root]);
        const script = join(root, "var/lib/registry-mirrors/apply-node-config.sh");
        expect(readFileSync(script, "utf8")).toBe(SCRIPT);
        expect(statSync(script).mode & 0o7777).toBe(0o700);
        const ca = join(root, "etc/containerd/certs.d/mirror.example.com/ca.crt");
        expect(readFileSync(ca, "utf8")).toBe(CA);
        expect(statSync(ca).mode & 0o7777).toBe(0o644);
        await runOk("sh", [join(root, "runcmd.sh")]);
        expect(readFileSync(join(root, "var/lib/registry-mirrors/applied.log"), "utf8")).toBe("applied\n");
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  );

  test("cloud-init writes the real apply script from compressed user data exactly as userDataFiles reads it", async () => {
    const root = tmpDir("root");
    try {
      const text = renderCloudConfig({ applyScript: REAL_SCRIPT, compress: true });
      await runOk(PYTHON, [helper, "apply", file("cloud-config.yaml", text), root]);
      // cloud-init wrote the engine (gzip) and the data part (plain); runcmd's first command joins them. Run it with
      // the node paths moved under the test's root.
      const runcmd = (parseYaml(text) as { runcmd: string[][] }).runcmd;
      expect(runcmd[0].slice(0, 2)).toEqual(["sh", "-c"]);
      await runOk("sh", ["-c", runcmd[0][2].replaceAll("'/var/lib/", `'${root}/var/lib/`)]);
      const [expected] = userDataFiles(text);
      expect(readFileSync(join(root, expected.path), "utf8")).toBe(REAL_SCRIPT);
      expect(statSync(join(root, expected.path)).mode & 0o777).toBe(0o700);
      expect(runcmd[1]).toEqual([expected.path]);
      expect(expected.content).toBe(REAL_SCRIPT);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("the engine by URL", () => {
  test("cloud-init writes the data part and the fetcher; runcmd fetches the engine over HTTP and joins the real apply script", async () => {
    const engine = nodeEngineFile(REAL_SCRIPT) as NodeEngineFile;
    const server = createServer((req, res) => {
      if (req.url === `/rm/${engine.name}`) res.end(engine.content);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const root = tmpDir("root");
    try {
      const engineUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rm`;
      const text = renderCloudConfig({ applyScript: REAL_SCRIPT, engineUrl });
      await expectValidCloudConfig(text);
      expect(text).not.toContain(engine.content.split("\n")[8]);
      await runOk(PYTHON, [helper, "apply", file("cloud-config.yaml", text), root]);
      const runcmd = (parseYaml(text) as { runcmd: string[][] }).runcmd;
      expect(runcmd).toHaveLength(1);
      const [sh, flag, command] = runcmd[0];
      expect([sh, flag]).toEqual(["sh", "-c"]);
      // The fetcher's run, with the node paths moved under the test's root; the apply script itself is not run.
      const fetch = command.replaceAll("'/var/lib/", `'${root}/var/lib/`).replace(/ && '[^']*'$/, "");
      await runOk("sh", ["-c", fetch]);
      const [read] = userDataFiles(text);
      expect(readFileSync(join(root, read.path), "utf8")).toBe(REAL_SCRIPT);
      expect(read.engine?.sha256).toBe(engine.sha256);
      await expectShellcheckClean(readFileSync(join(root, `${read.path}.fetch`), "utf8"));
    } finally {
      server.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("MIME multipart", () => {
  const userParts: MimePart[] = [
    {
      contentType: "text/cloud-config",
      content: "#cloud-config\npackages: [jq]\nruncmd:\n  - [ echo, user ]\n",
      filename: "user.yaml",
    },
    { contentType: "text/x-shellscript", content: "#!/bin/bash\necho 'user script' ünïcödé\n" },
  ];

  test("cloud-init splits a node's user data into our part and the user's, in order, and every cloud-config passes the schema", async () => {
    const text = renderNodeUserData({ applyScript: SCRIPT, userData: "#cloud-boothook\necho early\n", userParts });
    for (const bytes of [Buffer.from(text), Buffer.from(encodeUserData(text, { gzip: true }), "base64")]) {
      const parts = await cloudInitParts(bytes);
      expect(parts.map((p) => p.contentType)).toEqual([
        "text/x-shellscript",
        "text/cloud-boothook",
        "text/cloud-config",
        "text/x-shellscript",
      ]);
      expect(parts[0].content).toBe(renderShellUserData({ applyScript: SCRIPT }));
      expect(parts[0].filename).toBe("registry-mirrors.sh");
      expect(parts.slice(2).map((p) => p.content)).toEqual(userParts.map((p) => p.content));
      for (const part of parts.filter((p) => p.contentType === "text/cloud-config"))
        await expectValidCloudConfig(part.content);
      for (const part of parts.filter(
        (p) => p.contentType === "text/x-shellscript" && p.content.startsWith("#!/bin/sh"),
      ))
        await expectShellcheckClean(part.content);
    }
  });

  test("an AL2023 EKS document: cloud-init sees the NodeConfig part, our script and the user's cloud-config", async () => {
    const containerdConfig = '[plugins."io.containerd.grpc.v1.cri".containerd]\ndiscard_unpacked_layers = false\n';
    const text = renderEksUserData({
      family: "al2023",
      applyScript: SCRIPT,
      containerdConfig,
      userParts: [userParts[0]],
    });
    const parts = await cloudInitParts(text);
    expect(parts.map((p) => p.contentType)).toEqual([
      "application/node.eks.aws",
      "text/x-shellscript",
      "text/cloud-config",
    ]);
    expect(parts[0].content).toContain(`config: |\n      [plugins."io.containerd.grpc.v1.cri".containerd]\n`);
    await expectShellcheckClean(parts[1].content);
    await expectValidCloudConfig(parts[2].content);
  });
});

describe("shell user data", () => {
  test("passes shellcheck, alone, compressed and with a user script", async () => {
    await expectShellcheckClean(renderShellUserData({ applyScript: SCRIPT }));
    await expectShellcheckClean(renderShellUserData({ applyScript: REAL_SCRIPT, compress: true }));
    await expectShellcheckClean(
      renderShellUserData({ applyScript: REAL_SCRIPT, userScript: "#!/bin/sh\necho mine\n", compress: true }),
    );
    await expectShellcheckClean(
      renderShellUserData({
        applyScript: SCRIPT,
        userScript: "#!/bin/bash\necho mine\n",
        files: [{ path: "/etc/docker/certs.d/m:5000/ca.crt", content: CA, mode: 0o644 }],
      }),
    );
  });

  test("sh writes the script byte-exact (mode 0700, plain or compressed) and runs it; the user's script runs even when ours fails", async () => {
    const root = tmpDir("shell");
    try {
      const scriptPath = join(root, "rm/apply-node-config.sh");
      const userScriptPath = join(root, "rm/user-script.sh");
      const ok = renderShellUserData({ applyScript: SCRIPT, scriptPath });
      await runOk("sh", [file("ok.sh", ok)]);
      expect(readFileSync(scriptPath, "utf8")).toBe(SCRIPT);
      expect(statSync(scriptPath).mode & 0o7777).toBe(0o700);
      expect(readFileSync(join(root, "rm/applied.log"), "utf8")).toBe("applied\n");

      rmSync(scriptPath);
      // Only write the real script: running it would configure this machine's runtimes.
      const packed = renderShellUserData({ applyScript: REAL_SCRIPT, scriptPath, compress: true });
      const runLine = `'${scriptPath}'\n`;
      expect(packed.endsWith(`\n${runLine}`)).toBe(true);
      await runOk("sh", [file("packed.sh", packed.slice(0, -runLine.length))]);
      expect(readFileSync(scriptPath, "utf8")).toBe(REAL_SCRIPT);
      expect(statSync(scriptPath).mode & 0o7777).toBe(0o700);

      const failing = "#!/bin/sh\necho failing >&2\nexit 3\n";
      const both = renderShellUserData({
        applyScript: failing,
        scriptPath,
        userScript: `#!/bin/sh\necho user-ran > '${root}/user.log'\n`,
        userScriptPath,
      });
      const result = await run("sh", [file("both.sh", both)]);
      expect(result.code).toBe(3);
      expect(readFileSync(join(root, "user.log"), "utf8")).toBe("user-ran\n");
      expect(statSync(userScriptPath).mode & 0o7777).toBe(0o700);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
