/**
 * The apply script and the node watchdog: `apply` installs registry-mirrors-watchdog.service on a node with systemd
 * (the harness's fake systemctl records every call), an apply without the watchdog and `restore` remove it, and
 * `watch --once` runs watchdog.py with the plan the script carries.
 */
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import {
  engineParts,
  nodeSource,
  renderApplyScript,
  splitApplyScript,
  WATCH_DIR,
  WATCH_UNIT,
  watchPlanOf,
} from "../../components/core/node-script";
import { PolicyError } from "../../components/core/errors";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { FakeNode, cleanupNodes } from "../support/apply-harness";

afterAll(cleanupNodes);

const UNIT = `${WATCH_UNIT}.service`;
const UNIT_FILE = `${WATCH_DIR}/${UNIT}`;
const COPY = `${WATCH_DIR}/apply-node-config.sh`;

const script = (mirrors: string[], watchdog?: true | Record<string, unknown>) =>
  renderNodeConfig({ mirrors, runtimes: ["docker"], watchdog }).applyScript;
const WATCHED = script(["https://hub-1.example.com", "https://hub-2.example.com"], true);
const PLAIN = script(["https://hub-1.example.com", "https://hub-2.example.com"]);

function systemdNode(): FakeNode {
  const node = new FakeNode();
  writeFileSync(join(node.fake, "systemd"), "");
  node.setActive({ docker: true });
  return node;
}

const watchCalls = (calls: string[]) => calls.filter((c) => c.includes(WATCH_UNIT));

describe("the watchdog in the apply script", { timeout: 60_000 }, () => {
  it("is in the engine only when the plan has a watch plan, and its data statement holds the plan", () => {
    expect(splitApplyScript(WATCHED)?.engine).toContain('cat >"$WORK/watchdog.py"');
    expect(splitApplyScript(PLAIN)?.engine).not.toContain('cat >"$WORK/watchdog.py"');
    // Every engine can remove a service an earlier plan installed.
    expect(splitApplyScript(PLAIN)?.engine).toContain("watch_remove()");
    expect(splitApplyScript(PLAIN)?.engine).not.toContain("watch_ready()");
    expect(splitApplyScript(WATCHED)?.data).toMatch(/^ {2}watch_plan <<'REGISTRY_MIRRORS_EOF'\n\{\n/m);
    expect(watchPlanOf(WATCHED)?.stateDir).toBe("/var/lib/registry-mirrors/watchdog");
    expect(watchPlanOf(PLAIN)).toBeUndefined();
    expect(engineParts({ restartPolicy: "never", watch: '{"version":1}' }).watchdog).toBe(true);
  });

  it("passes shellcheck -s sh with and without the watch plan", () => {
    for (const text of [WATCHED, PLAIN]) {
      const res = spawnSync("shellcheck", ["-s", "sh", "-"], { input: text, encoding: "utf8" });
      expect(res.stdout).toBe("");
      expect(res.status).toBe(0);
    }
  });

  it.each(["watchdog.py", "wd_plan.py", "wd_state.py", "wd_probe.py", "wd_files.py", "wd_dog.py"])(
    "carries %s without its whole-line comments, and Python reads the same program",
    (name) => {
      const engine = splitApplyScript(WATCHED)?.engine ?? "";
      const m = new RegExp(`cat >"\\$WORK/${name.replace(".", "\\.")}" <<'(\\S+)'\n([\\s\\S]*?)\n\\1\n`).exec(engine);
      expect(m).not.toBeNull();
      const shipped = `${m?.[2]}\n`;
      expect(shipped.length).toBeLessThan(nodeSource(name).length);
      const dump = (source: string) =>
        spawnSync("python3", ["-c", "import ast, sys; print(ast.dump(ast.parse(sys.stdin.read())))"], {
          input: source,
          encoding: "utf8",
        });
      const original = dump(nodeSource(name));
      expect(original.status).toBe(0);
      expect(dump(shipped).stdout).toBe(original.stdout);
    },
  );

  it("refuses a watch plan that is not one", () => {
    expect(() => renderApplyScript({ restartPolicy: "never", watch: "not json" })).toThrow(PolicyError);
    expect(() => renderApplyScript({ restartPolicy: "never", watch: '{"version":2}' })).toThrow(/version 1/);
  });

  it("apply installs, enables and starts the service; a second run changes nothing", () => {
    const node = systemdNode();
    const first = node.run(WATCHED, "apply");
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(node.read(COPY)).toBe(WATCHED);
    expect(node.read(UNIT_FILE)).toContain(`ExecStart=/bin/sh ${COPY} watch\n`);
    const uncommented = nodeSource(UNIT)
      .split("\n")
      .filter((line) => !line.startsWith("#"))
      .join("\n");
    expect(node.read(UNIT_FILE)).toBe(uncommented);
    expect(watchCalls(first.calls)).toEqual([`enable ${UNIT_FILE}`, `restart ${UNIT}`]);
    expect(first.calls).toContain("daemon-reload");
    expect(first.stdout).toContain(`watchdog: (re)started ${UNIT}`);

    const second = node.run(WATCHED, "apply");
    expect(second.code).toBe(0);
    expect(watchCalls(second.calls)).toEqual([`is-active --quiet ${UNIT}`]);
    expect(second.stdout).not.toContain("watchdog:");
  });

  it("a changed policy restarts the service with the new script; a stopped service is started again", () => {
    const node = systemdNode();
    expect(node.run(WATCHED, "apply").code).toBe(0);
    const changed = script(["https://hub-1.example.com", "https://hub-3.example.com"], true);
    const res = node.run(changed, "apply");
    expect(res.code).toBe(0);
    expect(node.read(COPY)).toBe(changed);
    expect(watchCalls(res.calls)).toContain(`restart ${UNIT}`);

    node.setActive({ [UNIT]: false });
    const again = node.run(changed, "apply");
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${UNIT} was not running`);
    expect(watchCalls(again.calls)).toContain(`restart ${UNIT}`);
  });

  it("an apply without the watchdog stops, disables and removes it", () => {
    const node = systemdNode();
    expect(node.run(WATCHED, "apply").code).toBe(0);
    const res = node.run(PLAIN, "apply");
    expect(res.code).toBe(0);
    expect(watchCalls(res.calls)).toEqual([`stop ${UNIT}`, `disable ${UNIT}`]);
    expect(res.stdout).toContain(`watchdog: removed ${UNIT}`);
    expect(node.exists(WATCH_DIR)).toBe(false);
    // Nothing left to remove: no calls.
    expect(watchCalls(node.run(PLAIN, "apply").calls)).toEqual([]);
  });

  it("restore stops the service before it puts the node's files back, and removes it", () => {
    const node = systemdNode();
    node.write("/etc/docker/daemon.json", '{"debug": true}\n');
    expect(node.run(WATCHED, "apply").code).toBe(0);
    const res = node.run(WATCHED, "restore");
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(node.exists(WATCH_DIR)).toBe(false);
    expect(node.read("/etc/docker/daemon.json")).toBe('{"debug": true}\n');
    const stop = res.calls.indexOf(`stop ${UNIT}`);
    expect(stop).toBeGreaterThan(-1);
    expect(res.calls.indexOf("reload docker")).toBeGreaterThan(stop);
    expect(res.calls).toContain(`disable ${UNIT}`);
  });

  it("without systemd, or with WATCHDOG_SERVICE=0 (the DaemonSet runs it), installs no service", () => {
    const plain = new FakeNode();
    plain.setActive({ docker: true });
    const res = plain.run(WATCHED, "apply");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("watchdog: no systemd here");
    expect(plain.exists(WATCH_DIR)).toBe(false);

    const node = systemdNode();
    expect(node.run(WATCHED, "apply").code).toBe(0);
    const handed = node.run(WATCHED, "apply", { env: { WATCHDOG_SERVICE: "0" } });
    expect(handed.code).toBe(0);
    expect(watchCalls(handed.calls)).toEqual([`stop ${UNIT}`, `disable ${UNIT}`]);
    expect(node.exists(WATCH_DIR)).toBe(false);
  });

  it("without python3 on the node, apply installs no service and says why", () => {
    const node = systemdNode();
    const res = node.run(WATCHED, "apply", { without: ["python3"] });
    expect(res.code).toBe(0);
    expect(res.stderr).toContain("watchdog: not installed: it needs python3");
    expect(node.exists(WATCH_DIR)).toBe(false);
    expect(watchCalls(res.calls)).toEqual([]);
  });

  it("watch needs a watch plan and python3, and takes only --once", () => {
    const node = new FakeNode();
    const none = node.run(PLAIN, "watch");
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("watch: this script has no watch plan");
    const noPython = node.run(WATCHED, "watch --once", { without: ["python3"] });
    expect(noPython.code).toBe(1);
    expect(noPython.stderr).toContain("the watchdog needs python3");
    const bad = node.run(WATCHED, "watch --twice");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("usage: sh");
    expect(node.run(WATCHED, "apply --once").code).toBe(2);
  });

  it("watch --once probes from the node and takes a refusing first mirror out of daemon.json (reload, no restart)", async () => {
    // A port that refuses: bound, then closed.
    const closed = createNetServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const refusing = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const server = createServer((_req, res) => {
      res.statusCode = 401;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const good = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const watched = renderNodeConfig({
        policy: { registries: { "docker.io": { mirrors: [refusing, good] } } },
        docker: { insecureRegistries: [refusing.slice(7), good.slice(7)] },
        runtimes: ["docker"],
        watchdog: { failuresToDown: 1, metricsFile: false },
      }).applyScript;
      const node = new FakeNode();
      node.setActive({ docker: true });
      expect(node.run(watched, "apply").code).toBe(0);
      expect(JSON.parse(node.read("/etc/docker/daemon.json"))["registry-mirrors"]).toEqual([refusing, good]);

      node.clearCalls();
      const res = await node.start(watched, "watch --once").done;
      expect(res.stderr).toBe("");
      expect(res.code).toBe(0);
      expect(JSON.parse(node.read("/etc/docker/daemon.json"))["registry-mirrors"]).toEqual([good]);
      expect(res.calls).toContain("reload docker");
      expect(res.calls.filter((c) => c.startsWith("restart"))).toEqual([]);
      expect(res.stdout).toContain(refusing);
      const status = JSON.parse(readFileSync(node.path("/var/lib/registry-mirrors/watchdog/status.json"), "utf8"));
      expect(JSON.stringify(status)).toContain(refusing);
    } finally {
      server.close();
    }
  });
  it("watch runs until TERM, which the script passes on to the watchdog; then it exits 0", async () => {
    const node = new FakeNode();
    node.setActive({ docker: true });
    expect(node.run(WATCHED, "apply").code).toBe(0);
    const run = node.start(WATCHED, "watch");
    for (let i = 0; i < 300 && !run.stdout().includes("event=start"); i++) await new Promise((r) => setTimeout(r, 100));
    expect(run.stdout()).toContain("event=start");
    run.kill("SIGTERM");
    const res = await run.done;
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("event=stop");
  });
});

describe("check: does the node use the rendered mirrors", { timeout: 60_000 }, () => {
  const CONFIG = "/etc/containerd/config.toml";
  const HOSTS = "/etc/containerd/certs.d/docker.io/hosts.toml";
  const WITH_PATH = `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n`;

  async function lab() {
    const closed = createNetServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const refusing = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const server = createServer((_req, res) => {
      res.statusCode = 200;
      res.end("{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const good = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const render = (mirrors: string[]) =>
      renderNodeConfig({
        policy: { registries: { "docker.io": { mirrors } } },
        docker: { insecureRegistries: mirrors.map((m) => m.slice("http://".length)) },
        watchdog: { failuresToDown: 1, metricsFile: false },
      }).applyScript;
    const node = new FakeNode();
    node.setActive({ docker: true, containerd: true });
    node.write(CONFIG, WITH_PATH);
    return { refusing, good, render, node, close: () => server.close() };
  }

  it("says so and exits 0 when every file is as rendered and every endpoint answers", async () => {
    const { good, render, node, close } = await lab();
    try {
      const script = render([good]);
      expect(node.run(script, "apply").code).toBe(0);
      const res = await node.start(script, "check").done;
      expect(res.stderr).toBe("");
      expect(res.stdout).toContain(`ok: ${HOSTS} is the rendered file`);
      expect(res.stdout).toContain("ok: containerd's config.toml sets config_path to /etc/containerd/certs.d");
      expect(res.stdout).toContain("ok: /etc/docker/daemon.json holds the rendered keys");
      expect(res.stdout).toContain("note: no docker CLI here");
      expect(res.stdout).toMatch(new RegExp(`ok: ${good} answers GET /v2/ in [0-9.]+ s`));
      expect(res.stdout).not.toContain("problem:");
      expect(res.stdout).toContain("check: the node uses the rendered mirrors");
      expect(res.code).toBe(0);
    } finally {
      close();
    }
  });

  it("names each problem with its fix and exits 1: an endpoint down, a hand-edited or broken file, no config_path", async () => {
    const { refusing, good, render, node, close } = await lab();
    try {
      const script = render([refusing, good]);
      expect(node.run(script, "apply").code).toBe(0);
      node.write(HOSTS, `${node.read(HOSTS)}[host.broken\n`);
      node.write(CONFIG, "version = 2\n");
      const daemon = JSON.parse(node.read("/etc/docker/daemon.json"));
      node.write("/etc/docker/daemon.json", JSON.stringify({ ...daemon, "insecure-registries": [] }));
      const res = await node.start(script, "check").done;
      const problems = res.stdout.split("\n").filter((l) => l.startsWith("problem: "));
      expect(problems).toEqual([
        expect.stringMatching(
          new RegExp(`^problem: ${HOSTS} is not the file this policy rendered .*Fix: run the apply script again`),
        ),
        expect.stringMatching(/^problem: \/etc\/docker\/daemon.json does not hold the rendered keys .*Fix: /),
        expect.stringMatching(/^problem: containerd's config.toml does not set config_path .*Fix: .*if-needed/),
        expect.stringMatching(new RegExp(`^problem: ${HOSTS} does not parse as TOML .*Fix: `)),
        expect.stringMatching(
          new RegExp(`^problem: ${refusing} does not answer GET /v2/ from this node \\(connect: .*Fix: `),
        ),
      ]);
      expect(res.stdout).toContain("check: 5 problem(s)");
      expect(res.code).toBe(1);
    } finally {
      close();
    }
  });

  it("reports containerd 2.1+ pulling CRI images through its transfer service with a config_path list (mirrors bypassed)", async () => {
    const { good, node, close } = await lab();
    try {
      const script = renderNodeConfig({
        policy: { registries: { "docker.io": { mirrors: [good] } } },
        runtimes: ["containerd"],
        watchdog: { metricsFile: false },
      }).applyScript;
      // EKS AL2023's folder list, with a setting that keeps CRI on the transfer service (discard_unpacked_layers false).
      const al2023 = [
        "version = 3",
        "[plugins.'io.containerd.cri.v1.images']",
        "discard_unpacked_layers = false",
        "[plugins.'io.containerd.cri.v1.images'.registry]",
        'config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"',
        "",
      ].join("\n");
      node.write(CONFIG, al2023);
      const env = node.containerdBinary("containerd github.com/containerd/containerd/v2 v2.1.5 0123456789abcdef");
      const bypassed = await node.start(script, "check", { env }).done;
      expect(bypassed.stdout).toMatch(
        /problem: containerd 2\.1 pulls CRI images through its transfer service, which reads no config_path list .*Fix: run the apply script with restartPolicy "if-needed" \(it sets use_local_image_pull = true\)/,
      );
      expect(bypassed.stdout).toContain("check: containerd bypasses the mirrors");
      expect(bypassed.code).toBe(1);
      // containerd 2.0 reads the list itself: no such problem.
      const older = node.containerdBinary("containerd github.com/containerd/containerd/v2 v2.0.5 0123456789abcdef");
      const res20 = await node.start(script, "check", { env: older }).done;
      expect(res20.stdout).not.toContain("transfer service");
    } finally {
      close();
    }
  });

  it("takes the watchdog's effective files as they should be; the endpoint it took out is still reported", async () => {
    const { refusing, good, render, node, close } = await lab();
    try {
      const script = render([refusing, good]);
      expect(node.run(script, "apply").code).toBe(0);
      expect((await node.start(script, "watch --once").done).code).toBe(0);
      expect(node.read(HOSTS)).not.toContain(refusing);
      const res = await node.start(script, "check").done;
      expect(res.stdout).toContain(`ok: ${HOSTS} is the watchdog's effective file`);
      expect(res.stdout).toContain("ok: /etc/docker/daemon.json holds the rendered keys");
      expect(res.stdout.split("\n").filter((l) => l.startsWith("problem: "))).toEqual([
        expect.stringContaining(`problem: ${refusing} does not answer GET /v2/`),
      ]);
      expect(res.code).toBe(1);
    } finally {
      close();
    }
  });

  it("needs the watchdog in the plan", () => {
    const res = new FakeNode().run(PLAIN, "check");
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("check: this script has no watch plan");
  });
});
