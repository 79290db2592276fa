import { beforeEach, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { main } from "../../cli/main";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { REGISTRIES_CONF_DROPIN } from "../../components/core/render/registries-conf";

const HOSTS = "/etc/containerd/certs.d/docker.io/hosts.toml";
const DAEMON = "/etc/docker/daemon.json";
const CONFIG = "/etc/containerd/config.toml";
const rendered = renderNodeConfig({
  policy: { registries: { "docker.io": { mirrors: ["https://m1.example.com", "https://m2.example.com"] } } },
  runtimes: ["docker", "containerd", "crio"],
  watchdog: true,
});

let root: string;
let script: string;

function put(path: string, content: string) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
}

function doctor(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(["doctor", ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err: err.join("\n") };
}
const problems = (out: string[]) => out.filter((l) => l.startsWith("problem: "));

beforeEach(() => {
  if (root) rmSync(dirname(root), { recursive: true, force: true });
  const dir = mkdtempSync(join(tmpdir(), "rm-doctor-"));
  root = join(dir, "node");
  script = join(dir, "apply-node-config.sh");
  writeFileSync(script, rendered.applyScript);
  for (const [path, content] of Object.entries(rendered.files)) put(path, content);
  put(
    CONFIG,
    'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n',
  );
});

describe("registry-mirrors doctor", () => {
  it("passes a node whose files are the rendered ones, one ok line per check", () => {
    const res = doctor(["--node-root", root, "--script", script]);
    expect(problems(res.out)).toEqual([]);
    expect(res.out).toContain(`ok: ${HOSTS} is the rendered file`);
    expect(res.out).toContain(`ok: ${DAEMON} holds the rendered keys`);
    expect(res.out).toContain("ok: containerd's config sets config_path to /etc/containerd/certs.d");
    expect(res.out).toContain(`ok: ${REGISTRIES_CONF_DROPIN} parses and no later drop-in redefines docker.io`);
    expect(res.code).toBe(0);
  });

  it("renders the policy from the render flags when no script is given", () => {
    const res = doctor([
      "--node-root",
      root,
      "--registry-mirror",
      "docker.io=https://m1.example.com",
      "--registry-mirror",
      "docker.io=https://m2.example.com",
      "--runtime",
      "containerd",
    ]);
    expect(res.out).toContain(`ok: ${HOSTS} is the rendered file`);
    expect(res.code).toBe(0);
    const other = doctor(["--node-root", root, "--mirror", "https://other.example.com", "--runtime", "containerd"]);
    expect(problems(other.out)).toEqual([
      `problem: ${HOSTS} is not the file this policy rendered (changed by hand or by another tool, or a stale apply). Fix: run the apply script again on the node: sh apply-node-config.sh apply, or find who changed it`,
    ]);
    expect(other.code).toBe(1);
  });

  it("accepts the watchdog's effective file (its sha256 in state.json) and its daemon.json mirrors", () => {
    // What the watchdog writes with m1 down: the file of the policy without m1.
    const effective = renderNodeConfig({
      policy: { registries: { "docker.io": { mirrors: ["https://m2.example.com"] } } },
      runtimes: ["containerd"],
    }).files[HOSTS];
    expect(effective).not.toBe(rendered.files[HOSTS]);
    put(HOSTS, effective);
    const daemon = JSON.parse(rendered.files[DAEMON]);
    put(DAEMON, `${JSON.stringify({ ...daemon, "registry-mirrors": ["https://m2.example.com"] }, null, 2)}\n`);
    const before = doctor(["--node-root", root, "--script", script]);
    expect(problems(before.out), before.out.join("\n")).toHaveLength(2);
    put(
      "/var/lib/registry-mirrors/watchdog/state.json",
      JSON.stringify({
        written: {
          [HOSTS]: { sha256: createHash("sha256").update(effective).digest("hex") },
          [DAEMON]: { sha256: "x", mirrors: ["https://m2.example.com"] },
        },
      }),
    );
    const res = doctor(["--node-root", root, "--script", script]);
    expect(res.out).toContain(`ok: ${HOSTS} is the watchdog's effective file (without the endpoints it found down)`);
    expect(res.out).toContain(`ok: ${DAEMON} holds the rendered keys`);
    expect(res.code).toBe(0);
  });

  it("names a missing file, a hosts.toml that does not parse and a daemon.json key that differs, each with its fix", () => {
    rmSync(join(root, REGISTRIES_CONF_DROPIN));
    put(HOSTS, `${rendered.files[HOSTS]}[host."https://broken\n`);
    const daemon = JSON.parse(rendered.files[DAEMON]);
    put(DAEMON, JSON.stringify({ ...daemon, "registry-mirrors": ["https://old.example.com"], debug: true }));
    const res = doctor(["--node-root", root, "--script", script]);
    const found = problems(res.out);
    expect(found).toContain(
      `problem: ${REGISTRIES_CONF_DROPIN} is missing. Fix: run the apply script again on the node: sh apply-node-config.sh apply`,
    );
    expect(found.some((l) => l.startsWith(`problem: ${HOSTS} does not parse as TOML (`))).toBe(true);
    expect(found).toContain(
      `problem: ${DAEMON} has registry-mirrors = ["https://old.example.com"], the policy renders ["https://m1.example.com","https://m2.example.com"]. Fix: run the apply script again on the node: sh apply-node-config.sh apply (it reloads dockerd; no restart)`,
    );
    expect(res.out.at(-1)).toBe(`doctor: ${found.length} problem(s)`);
    expect(res.code).toBe(1);
  });

  it("finds config_path in an imported file, and says so when none sets it", () => {
    put(CONFIG, 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml"]\n');
    const none = doctor(["--node-root", root, "--script", script]);
    expect(problems(none.out)).toEqual([
      expect.stringMatching(
        /^problem: containerd's config \(\/etc\/containerd\/config.toml\) does not set config_path to \/etc\/containerd\/certs.d, so containerd ignores the hosts.toml files\. Fix: .*restartPolicy "if-needed"/,
      ),
    ]);
    put(
      "/etc/containerd/conf.d/10-mirrors.toml",
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"\n',
    );
    expect(doctor(["--node-root", root, "--script", script]).code).toBe(0);
    put(
      "/etc/containerd/conf.d/20-old.toml",
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["https://x.example.com"]\n',
    );
    const inline = doctor(["--node-root", root, "--script", script]);
    expect(problems(inline.out)).toEqual([expect.stringContaining("set the deprecated inline registry.mirrors")]);
  });

  it("reports a CRI-O drop-in shadowed by a later one, and a later one that does not parse", () => {
    put(
      "/etc/containers/registries.conf.d/10-early.conf",
      '[[registry]]\nprefix = "docker.io"\nlocation = "a.example.com"\n',
    );
    expect(doctor(["--node-root", root, "--script", script]).code).toBe(0);
    put("/etc/containers/registries.conf.d/99-local.conf", '[[registry]]\nlocation = "docker.io"\n');
    const res = doctor(["--node-root", root, "--script", script]);
    expect(problems(res.out)).toEqual([
      "problem: /etc/containers/registries.conf.d/99-local.conf is read after 50-registry-mirrors.conf and redefines docker.io, so CRI-O and podman use its entries, not the mirrors. Fix: remove those entries from /etc/containers/registries.conf.d/99-local.conf, or put the mirrors into the policy and delete the file",
    ]);
    put("/etc/containers/registries.conf.d/99-local.conf", "[[registry]\n");
    expect(problems(doctor(["--node-root", root, "--script", script]).out)).toEqual([
      expect.stringContaining("/etc/containers/registries.conf.d/99-local.conf does not parse as TOML"),
    ]);
  });

  it("touches nothing under the node root", () => {
    const before = readFileSync(join(root, HOSTS), "utf8");
    doctor(["--node-root", root, "--script", script]);
    expect(readFileSync(join(root, HOSTS), "utf8")).toBe(before);
  });

  it.each([
    [[], "--node-root DIR is required"],
    [["--node-root", "/nonexistent-rm-doctor"], "is not a folder"],
    [["--node-root", "."], "give --script FILE or the policy"],
    [["--node-root", ".", "--script", "/nonexistent.sh"], "cannot read /nonexistent.sh"],
    [["--node-root", ".", "--script", "x.sh", "--mirror", "https://m.example.com"], "exclude each other"],
  ])("exits 2 on bad usage %j", (args, message) => {
    const res = doctor(args);
    expect(res.code).toBe(2);
    expect(res.err).toContain(message);
  });
});
