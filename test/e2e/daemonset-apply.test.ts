/**
 * The node-config DaemonSet's init container, reproduced on real software: the exact script from the rendered
 * ConfigMap, run with the exact command and environment of the rendered init container, in a private mount
 * namespace whose only view of the "node" is the rendered hostPath mounts (bind mounts of a lab node root), with
 * the node's service manager reached through a command prefix (RUNTIME_CTL = nsenter into the test's own mount
 * namespace, then a fake systemctl that signals the lab's dockerd and restarts the lab's containerd).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { nodeConfigManifests } from "../../components/core/kubernetes";
import { nodeConfigDirs, resolveNodeConfigArgs } from "../../components/kubernetes/node-config";
import {
  type Containerd,
  type Dockerd,
  type Registry,
  containerdBaseConfig,
  freePort,
  pushTestImage,
  run,
  startContainerd,
  startDockerd,
  startRegistry,
  tmpDir,
  waitFor,
} from "./lab";

const ORIGINAL_DAEMON_JSON = `{\n  "labels": ["team=platform"],\n  "max-concurrent-downloads": 4\n}\n`;

let base: string;
let hostRoot: string;
let upstream: Registry;
let cache: Registry;
let dockerd: Dockerd;
let containerd: Containerd;
let containerdConfig: string;
let originalContainerdConfig: string;
let labDir: string;
let rendered: ReturnType<typeof renderNodeConfig>;
const stops: Array<() => Promise<void>> = [];

/**
 * The fake systemctl: `is-active`, `reload` (SIGHUP) and `restart` (the same command line again) of the lab's
 * `docker` and `containerd`, found by PID file; every call is logged to systemctl.log.
 */
function fakeSystemctl(lab: string, ready: Record<string, string>): string {
  return `#!/bin/sh
LAB='${lab}'
echo "$*" >>"$LAB/systemctl.log"
action=$1
shift
if [ "$action" = is-active ] && [ "$1" = --quiet ]; then shift; fi
unit=\${1%.service}
case $unit in docker | containerd) ;; *) [ "$action" = is-active ] && exit 3; echo "fake systemctl: no unit $unit" >&2 && exit 5 ;; esac
pid=$(cat "$LAB/$unit.pid" 2>/dev/null) || pid=
alive() { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
ready() {
  case $unit in
    docker) docker -H 'unix://${ready.docker}' version >/dev/null 2>&1 ;;
    containerd) ctr --address '${ready.containerd}' version >/dev/null 2>&1 ;;
  esac
}
case $action in
  is-active) alive ;;
  reload) alive && kill -HUP "$pid" ;;
  restart)
    alive || exit 1
    tr '\\0' ' ' <"/proc/$pid/cmdline" >"$LAB/$unit.cmdline"
    kill -TERM "$pid"
    n=300
    while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    # shellcheck disable=SC2046
    set -- $(cat "$LAB/$unit.cmdline")
    "$@" >>"$LAB/$unit-restarted.log" 2>&1 &
    echo $! >"$LAB/$unit.pid"
    n=300
    until ready; do
      [ $n -gt 0 ] || exit 1
      sleep 0.1
      n=$((n - 1))
    done
    ;;
  *) echo "fake systemctl: unexpected $action $unit" >&2 && exit 1 ;;
esac
`;
}

const pidOf = (unit: string) => Number(readFileSync(join(labDir, `${unit}.pid`), "utf8").trim());
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const systemctlCalls = () =>
  existsSync(join(labDir, "systemctl.log"))
    ? readFileSync(join(labDir, "systemctl.log"), "utf8").trim().split("\n")
    : [];

/** Stops a daemon the fake systemctl restarted (the lab's own handle only knows the first PID). */
async function stopRestarted(unit: string): Promise<void> {
  const pid = pidOf(unit);
  if (!alive(pid)) return;
  process.kill(pid, "SIGTERM");
  await waitFor(`restarted ${unit} to stop`, () => !alive(pid));
}

/** Every file (not folder) under `dir`, relative. */
function filesUnder(dir: string, prefix = ""): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path, `${prefix}${name}/`) : [`${prefix}${name}`];
  });
}

/**
 * Runs the init container of the DaemonSet rendered in `mode`, the way the kubelet would: the pod's filesystem is
 * `podRoot` (every absolute path of the manifest is taken relative to it), its volumes are bind mounts in a private
 * mount namespace (the ConfigMap read-only, each hostPath from the lab node root), and env is the container's env.
 */
async function runInitContainer(
  mode: "apply" | "restore",
  config: Pick<typeof rendered, "applyScript" | "files" | "runtimes"> = rendered,
  container: "init" | "main" | "readiness" = "init",
  extraArgs: string[] = [],
) {
  const settings = resolveNodeConfigArgs("lab", { mode });
  const { configMap, daemonSet } = nodeConfigManifests({
    ...settings,
    applyScript: config.applyScript,
    paths: nodeConfigDirs({ paths: Object.keys(config.files), runtimes: config.runtimes }),
  });
  const pod = daemonSet.spec.template.spec;
  const init = container === "init" ? pod.initContainers[0] : pod.containers[0];
  const podRoot = tmpDir(`pod-${mode}`);
  const configDir = join(podRoot, "..", `${podRoot.split("/").pop()}-configmap`);
  mkdirSync(configDir);
  for (const [key, value] of Object.entries(configMap.data as Record<string, string>))
    writeFileSync(join(configDir, key), value, { mode: 0o444 });

  const mounts: string[] = [];
  for (const m of init.volumeMounts ?? []) {
    const volume: any = pod.volumes.find((v) => v.name === m.name);
    const target = join(podRoot, m.mountPath);
    mkdirSync(target, { recursive: true });
    if (volume.configMap) {
      expect(volume.configMap.name).toBe(configMap.metadata.name);
      mounts.push(`mount --bind '${configDir}' '${target}' && mount -o remount,bind,ro '${target}'`);
    } else {
      expect(volume.hostPath.type).toBe("DirectoryOrCreate");
      const source = join(hostRoot, volume.hostPath.path);
      mkdirSync(source, { recursive: true });
      mounts.push(`mount --bind '${source}' '${target}'`);
    }
  }
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" };
  for (const e of init.env ?? []) env[e.name] = e.value;
  expect(env.NODE_ROOT).toBe("/host");
  expect(env.RUNTIME_CTL).toBe("nsenter -t 1 -m -u -i -n -p -- systemctl");
  env.NODE_ROOT = join(podRoot, env.NODE_ROOT);
  // PID 1 of the node is this test process; its "systemctl" is the fake one.
  env.RUNTIME_CTL = `nsenter -t ${process.pid} -m -- sh ${join(labDir, "systemctl")}`;
  // The default image has no docker/ctr CLI, so there the script checks `systemctl is-active` only; here the CLIs
  // exist, so they are pointed at the lab daemons (a stricter check: the mirrors must be live).
  env.DOCKER_HOST = `unix://${dockerd.socket}`;
  env.CONTAINERD_ADDRESS = containerd.address;
  env.VERIFY_SECONDS = "30";
  // "readiness": the main container's readiness probe command, in that container's mounts and env.
  const probe = container === "readiness" ? init.readinessProbe?.exec.command : undefined;
  const command = [...(probe ?? init.command), ...extraArgs].map((arg: string) =>
    arg.startsWith("/") ? join(podRoot, arg) : arg,
  );
  const res = await run(
    "unshare",
    ["--mount", "--propagation", "private", "--", "sh", "-c", `${mounts.join(" && ")} && exec "$@"`, "sh", ...command],
    { env },
  );
  // Nothing may land in the pod's own filesystem: every write went through a hostPath mount (gone with the namespace).
  const leftovers = filesUnder(podRoot);
  rmSync(podRoot, { recursive: true, force: true });
  rmSync(configDir, { recursive: true, force: true });
  return { ...res, leftovers, pod };
}

beforeAll(async () => {
  base = tmpDir("daemonset");
  labDir = join(base, "lab");
  hostRoot = join(base, "node");
  mkdirSync(labDir);
  mkdirSync(join(hostRoot, "etc/docker"), { recursive: true });
  mkdirSync(join(hostRoot, "etc/containerd"), { recursive: true });

  upstream = await startRegistry({ dir: join(base, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  cache = await startRegistry({ dir: join(base, "cache"), proxyRemote: upstream.url });
  stops.push(() => cache.stop());

  writeFileSync(join(hostRoot, "etc/docker/daemon.json"), ORIGINAL_DAEMON_JSON);
  dockerd = await startDockerd({ dir: join(base, "dockerd"), configFile: join(hostRoot, "etc/docker/daemon.json") });
  stops.push(async () => {
    await stopRestarted("docker");
    await dockerd.stop();
  });
  writeFileSync(join(labDir, "docker.pid"), `${dockerd.pid}\n`);

  // A node whose containerd (CRI on) has no config_path yet: applying must add it and restart containerd.
  const ctdDir = join(base, "containerd");
  containerdConfig = join(hostRoot, "etc/containerd/config.toml");
  originalContainerdConfig = containerdBaseConfig(ctdDir, true);
  writeFileSync(containerdConfig, originalContainerdConfig);
  containerd = await startContainerd({ dir: ctdDir, configFile: containerdConfig, cri: true });
  writeFileSync(join(labDir, "containerd.pid"), `${containerd.pid}\n`);
  stops.push(async () => {
    await stopRestarted("containerd");
    await containerd.stop();
  });
  writeFileSync(
    join(labDir, "systemctl"),
    fakeSystemctl(labDir, { docker: dockerd.socket, containerd: containerd.address }),
  );
  chmodSync(join(labDir, "systemctl"), 0o755);

  rendered = renderNodeConfig({
    policy: { registries: { "docker.io": { mirrors: [cache.url] } } },
    runtimes: ["docker", "containerd"],
    // Mirrors only need a reload; setting config_path needs a containerd restart (running containers survive it).
    restartPolicy: "if-needed",
  });
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe("the DaemonSet's init container against real dockerd and containerd", () => {
  it("mounts only the node folders the script writes", () => {
    const settings = resolveNodeConfigArgs("lab", {});
    const pod = nodeConfigManifests({
      ...settings,
      applyScript: rendered.applyScript,
      paths: nodeConfigDirs({ paths: Object.keys(rendered.files), runtimes: rendered.runtimes }),
    }).daemonSet.spec.template.spec;
    expect(pod.volumes.filter((v: any) => v.hostPath).map((v: any) => v.hostPath.path)).toEqual([
      "/etc/containerd",
      "/etc/docker",
    ]);
  });

  it("applies: mirrors take effect, dockerd keeps its PID, containerd gets config_path and a restart", async () => {
    const dockerdPid = pidOf("docker");
    const containerdPid = pidOf("containerd");
    const res = await runInitContainer("apply");
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.leftovers).toEqual([]);

    // Docker: reloaded (SIGHUP), not restarted; the unmanaged keys survived.
    expect(pidOf("docker")).toBe(dockerdPid);
    expect(alive(dockerdPid)).toBe(true);
    expect(dockerd.exited()).toBe(false);
    expect(systemctlCalls()).toContain("reload docker");
    expect(systemctlCalls()).not.toContain("restart docker");
    expect(await dockerd.mirrors()).toEqual([`${cache.url}/`]);
    const daemon = JSON.parse(readFileSync(join(hostRoot, "etc/docker/daemon.json"), "utf8"));
    expect(daemon).toMatchObject({
      labels: ["team=platform"],
      "max-concurrent-downloads": 4,
      "registry-mirrors": [cache.url],
    });

    const before = cache.requests("/v2/library/hello/manifests/v1");
    const pulled = await dockerd.docker(["pull", "docker.io/library/hello:v1"]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(cache.requests("/v2/library/hello/manifests/v1")).toBeGreaterThan(before);

    // containerd: config_path added, restarted through the fake systemctl, and pulls through hosts.toml.
    expect(systemctlCalls()).toContain("restart containerd");
    expect(pidOf("containerd")).not.toBe(containerdPid);
    expect(readFileSync(containerdConfig, "utf8")).toContain('config_path = "/etc/containerd/certs.d"');
    const hosts = join(hostRoot, "etc/containerd/certs.d/docker.io/hosts.toml");
    expect(readFileSync(hosts, "utf8")).toBe(rendered.files["/etc/containerd/certs.d/docker.io/hosts.toml"]);
    const beforeCtr = cache.requests("/v2/library/hello/manifests/v1");
    const ctr = await containerd.ctr([
      "-n",
      "t",
      "images",
      "pull",
      "--snapshotter",
      "native",
      "--hosts-dir",
      join(hostRoot, "etc/containerd/certs.d"),
      "docker.io/library/hello:v1",
    ]);
    expect(ctr.code, ctr.stderr).toBe(0);
    expect(cache.requests("/v2/library/hello/manifests/v1")).toBeGreaterThan(beforeCtr);
  });

  it("does nothing on the next pod start (idempotent: no write, no reload)", async () => {
    const calls = systemctlCalls().length;
    const files = filesUnder(hostRoot).map((f) => [f, readFileSync(join(hostRoot, f), "utf8")]);
    const res = await runInitContainer("apply");
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.stdout).toContain("docker: unchanged");
    expect(res.stdout).toContain("containerd: unchanged");
    expect(
      systemctlCalls()
        .slice(calls)
        .filter((c) => !c.startsWith("is-active")),
    ).toEqual([]);
    expect(filesUnder(hostRoot).map((f) => [f, readFileSync(join(hostRoot, f), "utf8")])).toEqual(files);
  });

  it("restore mode brings the node's original files back and the runtimes forget the mirrors", async () => {
    const calls = systemctlCalls().length;
    const res = await runInitContainer("restore");
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.leftovers).toEqual([]);
    expect(res.pod.initContainers[0].command).toEqual(["sh", "/config/apply-node-config.sh", "restore"]);

    expect(readFileSync(join(hostRoot, "etc/docker/daemon.json"), "utf8")).toBe(ORIGINAL_DAEMON_JSON);
    expect(readFileSync(containerdConfig, "utf8")).toBe(originalContainerdConfig);
    // Only the node's own files are left: no hosts.toml, no backup, no bookkeeping file.
    expect(filesUnder(hostRoot).sort()).toEqual(["etc/containerd/config.toml", "etc/docker/daemon.json"]);
    // Putting back config.toml without config_path needs a containerd restart (allowed: "if-needed"); Docker's
    // restore is a reload (mirrors reset with an explicit empty list, then the original bytes put back).
    expect(systemctlCalls().slice(calls)).toEqual(expect.arrayContaining(["restart containerd", "reload docker"]));
    expect(systemctlCalls().slice(calls)).not.toContain("restart docker");
    expect(alive(pidOf("docker"))).toBe(true);
    expect(await dockerd.mirrors()).toEqual([]);
    await waitFor(
      "containerd to answer after the restore",
      async () => (await containerd.ctr(["version"], { timeoutMs: 5000 })).code === 0,
    );
  });
  it("with the watchdog: the apply installs no service, the watchdog container's `watch --once` takes a refusing first mirror out through its mounts only", async () => {
    const refusing = `http://127.0.0.1:${await freePort()}`;
    const watched = renderNodeConfig({
      policy: { registries: { "docker.io": { mirrors: [refusing, cache.url] } } },
      runtimes: ["docker", "containerd"],
      restartPolicy: "if-needed",
      watchdog: { failuresToDown: 1, connectTimeoutSeconds: 2, firstByteTimeoutSeconds: 2 },
    });
    const applied = await runInitContainer("apply", watched);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect(applied.leftovers).toEqual([]);
    expect(applied.pod.initContainers[0].env).toContainEqual({ name: "WATCHDOG_SERVICE", value: "0" });
    expect(existsSync(join(hostRoot, "etc/registry-mirrors"))).toBe(false);
    expect(await dockerd.mirrors()).toEqual([`${refusing}/`, `${cache.url}/`]);

    const calls = systemctlCalls().length;
    const watch = await runInitContainer("apply", watched, "main", ["--once"]);
    expect(watch.pod.containers[0].command).toEqual(["sh", "/config/apply-node-config.sh", "watch"]);
    expect(watch.code, `${watch.stdout}\n${watch.stderr}`).toBe(0);
    // Every write went through the container's mounts: hosts.toml, daemon.json, the state folder and the metrics.
    expect(watch.leftovers).toEqual([]);
    const hosts = readFileSync(join(hostRoot, "etc/containerd/certs.d/docker.io/hosts.toml"), "utf8");
    expect(hosts).not.toContain(refusing);
    expect(hosts).toContain(`[host."${cache.url}"]`);
    expect(systemctlCalls().slice(calls)).toContain("reload docker");
    expect(await dockerd.mirrors()).toEqual([`${cache.url}/`]);
    const status = JSON.parse(readFileSync(join(hostRoot, "var/lib/registry-mirrors/watchdog/status.json"), "utf8"));
    expect(status.endpoints[refusing].state).toBe("down");
    const metrics = readFileSync(
      join(hostRoot, "var/lib/node_exporter/textfile_collector/registry_mirrors.prom"),
      "utf8",
    );
    expect(metrics).toContain(`registry_mirrors_endpoint_up{endpoint="${refusing}"} 0`);

    // The readiness probe: the node is ready although a mirror is down (the watchdog took it out); dockerd not
    // reloaded after daemon.json changed is a node problem, so the pod goes not ready.
    const ready = await runInitContainer("apply", watched, "readiness");
    expect(ready.pod.containers[0].readinessProbe?.exec.command).toEqual([
      "sh",
      "/config/apply-node-config.sh",
      "check",
      "--readiness",
    ]);
    expect(ready.code, `${ready.stdout}\n${ready.stderr}`).toBe(0);
    expect(ready.stdout).toContain(`note: ${refusing} is down (`);
    expect(ready.leftovers).toEqual([]);
    const daemonJson = join(hostRoot, "etc/docker/daemon.json");
    const effective = readFileSync(daemonJson, "utf8");
    const doc = JSON.parse(effective);
    doc["registry-mirrors"] = [refusing, ...doc["registry-mirrors"]];
    writeFileSync(daemonJson, `${JSON.stringify(doc, null, 2)}\n`);
    const notReady = await runInitContainer("apply", watched, "readiness");
    expect(notReady.code).toBe(1);
    expect(notReady.stdout).toMatch(/problem: .*daemon.json/);
    writeFileSync(daemonJson, effective);

    const restored = await runInitContainer("restore", watched);
    expect(restored.code, `${restored.stdout}\n${restored.stderr}`).toBe(0);
    expect(restored.pod.containers.map((c) => c.name)).toEqual(["idle"]);
    expect(readFileSync(join(hostRoot, "etc/docker/daemon.json"), "utf8")).toBe(ORIGINAL_DAEMON_JSON);
  });
});
