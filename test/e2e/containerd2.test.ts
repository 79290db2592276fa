/**
 * containerd 2.x (built from the Go module proxy by scripts/build-containerd.sh) pulling `docker.io/library/...`
 * through the lab's mirror with the rendered hosts.toml files, via CRI (`crictl pull`, the kubelet's path) and
 * via `ctr` (the transfer service). Docker Hub is unreachable here: a pull that succeeds was served by the mirror,
 * and a pull that bypasses the mirror fails naming registry-1.docker.io while the mirror logs nothing.
 *
 * What decides whether CRI honours the mirrors (containerd's source, checked here on the real binaries):
 * - 2.0 pulls CRI images itself and reads `plugins."io.containerd.cri.v1.images".registry.config_path`, which may
 *   list several folders separated by `:` (EKS AL2023 writes two).
 * - 2.1+ pulls CRI images through the transfer service unless `use_local_image_pull = true` or a setting the
 *   transfer service lacks forces the local pull (`discard_unpacked_layers = true`, as AL2023 sets, among others).
 *   Through the transfer service CRI passes the same `config_path` as ONE folder: a `:` list names no folder and
 *   every mirror is bypassed.
 * - `plugins."io.containerd.transfer.v1.local".config_path` is read by no pull path (neither CRI nor `ctr`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { parse, stringify } from "smol-toml";
import { dirname, join } from "node:path";
import { normalisePolicy } from "../../components/core/policy";
import { renderContainerdConfigFragment, renderContainerdHosts } from "../../components/core/render/containerd";
import {
  buildLabTools,
  freePort,
  type Containerd2,
  labTool,
  labToolList,
  pushTestImage,
  type Registry,
  run,
  startContainerd2,
  startRegistry,
  tmpDir,
} from "./lab";

const VERSIONS = labToolList()
  .filter((t) => t.name === "containerd")
  .map((t) => t.version);
const IMAGE = "docker.io/library/hello:v1";
const MANIFEST = "/v2/library/hello/manifests/v1";

const stops: Array<() => Promise<void>> = [];
const dirs: string[] = [];
let upstream: Registry;
let cache: Registry;
let deadPort: number;
/** The folder the rendered hosts.toml files are in (docker.io -> the cache). */
let certsDir: string;
/** A second, empty folder, as AL2023's second config_path entry (/etc/docker/certs.d). */
let otherDir: string;

beforeAll(async () => {
  await buildLabTools();
  const dir = tmpDir("containerd2");
  dirs.push(dir);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  await pushTestImage(upstream.hostPort, "someorg/tool", "v1");
  cache = await startRegistry({ dir: join(dir, "cache"), proxyRemote: upstream.url });
  stops.push(() => cache.stop());
  deadPort = await freePort(); // nothing listens here: docker.io's first mirror is dead
  const dead = { url: `http://127.0.0.1:${deadPort}`, dialTimeout: "2s" };
  const { policy } = normalisePolicy({
    registries: {
      "docker.io": { mirrors: [dead, cache.url] },
      "*": { mirrors: [cache.url] },
      // One mirror and no upstream: the file has only `server` and an empty [host] table.
      "gcr.io": { mirrors: [cache.url], upstreamFallback: false },
    },
  });
  certsDir = join(dir, "certs.d");
  otherDir = join(dir, "docker-certs.d");
  mkdirSync(otherDir, { recursive: true });
  for (const file of renderContainerdHosts(policy, { certsDir })) {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.content, { mode: file.mode });
  }
}, 3_600_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts a containerd of `version` with the CRI plugins and `extraConfig` (version 3 TOML) or `imports`. */
async function start(
  version: string,
  options: { extraConfig?: string; imports?: string[] } = {},
): Promise<Containerd2> {
  const dir = tmpDir(`ctrd-${version}`);
  dirs.push(dir);
  const daemon = await startContainerd2({ dir: join(dir, "c"), version, cri: true, ...options });
  stops.push(() => daemon.stop());
  return daemon;
}

/** Writes `content` to a new file and returns its path. */
function file(name: string, content: string): string {
  const dir = tmpDir("fragment");
  dirs.push(dir);
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Pulls IMAGE with crictl; returns the result and whether the mirror served the manifest. */
async function crictlPull(daemon: Containerd2) {
  const before = cache.requests(MANIFEST);
  const res = await daemon.crictl(["pull", IMAGE]);
  return { ...res, viaMirror: cache.requests(MANIFEST) > before };
}

async function ctrPull(daemon: Containerd2, args: string[]) {
  const before = cache.requests(MANIFEST);
  const res = await daemon.ctr(["-n", "t", "images", "pull", ...args, IMAGE]);
  return { ...res, viaMirror: cache.requests(MANIFEST) > before };
}

function expectViaMirror(res: { code: number; stdout: string; stderr: string; viaMirror: boolean }) {
  expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
  expect(res.viaMirror).toBe(true);
}

/** The mirror was not asked, and containerd went to Docker Hub itself (which fails here: no internet). */
function expectBypass(res: { code: number; stdout: string; stderr: string; viaMirror: boolean }, daemon: Containerd2) {
  expect(res.code).not.toBe(0);
  expect(res.viaMirror).toBe(false);
  expect(`${res.stderr}\n${daemon.logs()}`).toMatch(/registry-1\.docker\.io|index\.docker\.io/);
}

/** CRI pulled with its own client (2.0's only path; 2.1+ logs "using client.Pull()"), not the transfer service. */
function expectLocalPull(daemon: Containerd2) {
  expect(daemon.logs()).not.toContain("using transfer service");
  if (minor(daemon.version) >= 201) expect(daemon.logs()).toContain("using client.Pull()");
}

function minor(version: string): number {
  const [major, min] = version.split(".").map(Number);
  return major * 100 + min;
}

describe.each(VERSIONS)("containerd %s", (version) => {
  const transferForCri = minor(version) >= 201;

  it("reports its version as `containerd <package> <version> ...` (how a node script detects 2.x)", async () => {
    const res = await run(join((await labTool("containerd", version)).bin, "containerd"), ["--version"]);
    expect(res.stdout).toMatch(
      new RegExp(`^containerd github\\.com/containerd/containerd/v2 v?${version.replace(/\./g, "\\.")}`),
    );
  });

  it("crictl pull goes through the mirror (after a dead one) with the rendered version-3 fragment imported", async () => {
    const fragment = file("registry-mirrors.toml", renderContainerdConfigFragment(3, certsDir));
    const daemon = await start(version, { imports: [fragment] });
    expectViaMirror(await crictlPull(daemon));
    if (transferForCri) expect(daemon.logs()).toContain("using transfer service");
    expect(daemon.logs()).toMatch(new RegExp(`trying next host.*127\\.0\\.0\\.1:${deadPort}`));
  });

  it("crictl pull honours _default/hosts.toml (`*`) and a server-only file (upstreamFallback: false)", async () => {
    const fragment = file("registry-mirrors.toml", renderContainerdConfigFragment(3, certsDir));
    const daemon = await start(version, { imports: [fragment] });
    for (const ref of ["quay.io/someorg/tool:v1", "gcr.io/someorg/tool:v1"]) {
      const before = cache.requests("/v2/someorg/tool/manifests/v1");
      const res = await daemon.crictl(["pull", ref]);
      expect(res.code, `${ref}: ${res.stdout}\n${res.stderr}`).toBe(0);
      expect(cache.requests("/v2/someorg/tool/manifests/v1")).toBeGreaterThan(before);
    }
  });

  it("reads hosts.toml files written after it started (no restart for mirror changes, transfer path included)", async () => {
    const later = join(tmpDir("certs-later"), "certs.d");
    dirs.push(dirname(later));
    mkdirSync(later, { recursive: true });
    const fragment = file("registry-mirrors.toml", renderContainerdConfigFragment(3, later));
    const daemon = await start(version, { imports: [fragment] });
    expectBypass(await crictlPull(daemon), daemon);
    const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors: [cache.url] } } });
    for (const f of renderContainerdHosts(policy, { certsDir: later })) {
      mkdirSync(dirname(f.path), { recursive: true });
      writeFileSync(f.path, f.content, { mode: f.mode });
    }
    expectViaMirror(await crictlPull(daemon));
  });

  it("config dump shows the imported fragment's config_path", async () => {
    const fragment = file("registry-mirrors.toml", renderContainerdConfigFragment(3, certsDir));
    const daemon = await start(version, { imports: [fragment] });
    const dump = await run(join(daemon.bin, "containerd"), ["--config", daemon.configFile, "config", "dump"]);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout).toContain(`config_path = '${certsDir}'`);
  });

  it("the rendered version-2 fragment imported into a version-3 config is migrated and works too", async () => {
    const fragment = file("registry-mirrors.toml", renderContainerdConfigFragment(2, certsDir));
    const daemon = await start(version, { imports: [fragment] });
    expectViaMirror(await crictlPull(daemon));
  });

  it(`two config_path folders (AL2023's list) without a local-pull setting: ${transferForCri ? "mirror BYPASSED (transfer service reads one folder)" : "mirror used"}`, async () => {
    const daemon = await start(version, {
      extraConfig: `[plugins."io.containerd.cri.v1.images".registry]\n  config_path = "${certsDir}:${otherDir}"\n`,
    });
    const res = await crictlPull(daemon);
    if (transferForCri) {
      expectBypass(res, daemon);
      expect(daemon.logs()).toContain("using transfer service");
    } else {
      expectViaMirror(res);
      expect(daemon.logs()).not.toContain("using transfer service");
    }
  });

  it("two config_path folders with use_local_image_pull = true: mirror used", async () => {
    const daemon = await start(version, {
      extraConfig: [
        `[plugins."io.containerd.cri.v1.images"]`,
        "  use_local_image_pull = true",
        `[plugins."io.containerd.cri.v1.images".registry]`,
        `  config_path = "${certsDir}:${otherDir}"`,
        "",
      ].join("\n"),
    });
    expectViaMirror(await crictlPull(daemon));
    expectLocalPull(daemon);
  });

  it("the rendered version-3 fragment for two folders (AL2023's list) is honoured: mirror used", async () => {
    const fragment = file("registry-mirrors.toml", renderContainerdConfigFragment(3, `${certsDir}:${otherDir}`));
    const daemon = await start(version, { imports: [fragment] });
    expectViaMirror(await crictlPull(daemon));
    expectLocalPull(daemon);
  });

  it("AL2023's own layout (discard_unpacked_layers = true, two folders in config.toml): mirror used", async () => {
    const daemon = await start(version, {
      extraConfig: [
        `[plugins."io.containerd.cri.v1.images"]`,
        "  discard_unpacked_layers = true",
        `[plugins."io.containerd.cri.v1.images".registry]`,
        `  config_path = "${certsDir}:${otherDir}"`,
        "",
      ].join("\n"),
    });
    expectViaMirror(await crictlPull(daemon));
    expectLocalPull(daemon);
    if (transferForCri) expect(daemon.logs()).toContain("Found 'DiscardUnpackedLayers' in CRI config");
  });

  it("the fragment imported into an AL2023-style config.toml overrides config_path only (other CRI image keys kept)", async () => {
    const fragment = file("registry-mirrors.toml", renderContainerdConfigFragment(3, certsDir));
    const sandbox = "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.10";
    const daemon = await start(version, {
      imports: [fragment],
      extraConfig: [
        `[plugins."io.containerd.cri.v1.images"]`,
        "  discard_unpacked_layers = true",
        `[plugins."io.containerd.cri.v1.images".pinned_images]`,
        `  sandbox = "${sandbox}"`,
        `[plugins."io.containerd.cri.v1.images".registry]`,
        `  config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"`,
        "",
      ].join("\n"),
    });
    const dump = await run(join(daemon.bin, "containerd"), ["--config", daemon.configFile, "config", "dump"]);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout).toContain(`config_path = '${certsDir}'`);
    expect(dump.stdout).toContain("discard_unpacked_layers = true");
    expect(dump.stdout).toContain(`sandbox = '${sandbox}'`);
    expectViaMirror(await crictlPull(daemon));
  });

  it("no config_path at all (containerd's default is empty): CRI bypasses the mirror", async () => {
    const daemon = await start(version);
    expectBypass(await crictlPull(daemon), daemon);
  });

  it("only the transfer service's config_path set: CRI bypasses the mirror", async () => {
    const daemon = await start(version, {
      extraConfig: `[plugins."io.containerd.transfer.v1.local"]\n  config_path = "${certsDir}"\n`,
    });
    expectBypass(await crictlPull(daemon), daemon);
  });

  it("ctr pull (transfer service) goes through the mirror with --hosts-dir", async () => {
    const daemon = await start(version);
    expectViaMirror(await ctrPull(daemon, ["--hosts-dir", certsDir]));
  });

  it("ctr pull --local goes through the mirror with --hosts-dir", async () => {
    const daemon = await start(version);
    expectViaMirror(await ctrPull(daemon, ["--local", "--hosts-dir", certsDir]));
  });

  it("ctr pull without --hosts-dir bypasses the mirror even with both config_path settings in the daemon's config", async () => {
    const fragment = file("registry-mirrors.toml", renderContainerdConfigFragment(3, certsDir));
    const daemon = await start(version, {
      imports: [fragment],
      extraConfig: `[plugins."io.containerd.transfer.v1.local"]\n  config_path = "${certsDir}"\n`,
    });
    expectBypass(await ctrPull(daemon, []), daemon);
  });
});

describe("imports: how an imported fragment merges with config.toml", () => {
  /** config.toml with CRI settings of its own (sandbox image, discard_unpacked_layers, two folders) importing the fragment. */
  function layout(configVersion: 2 | 3): string {
    const dir = tmpDir("imports");
    dirs.push(dir);
    const fragment = join(dir, "registry-mirrors.toml");
    writeFileSync(fragment, renderContainerdConfigFragment(configVersion, certsDir));
    const images = configVersion === 2 ? "io.containerd.grpc.v1.cri" : "io.containerd.cri.v1.images";
    const main = [
      `version = ${configVersion}`,
      `root = "${join(dir, "root")}"`,
      `state = "${join(dir, "state")}"`,
      `imports = [${JSON.stringify(fragment)}]`,
      configVersion === 2
        ? `[plugins."${images}"]\n  sandbox_image = "example.com/pause:1"\n[plugins."${images}".containerd]\n  discard_unpacked_layers = true`
        : `[plugins."${images}"]\n  discard_unpacked_layers = true\n[plugins."${images}".pinned_images]\n  sandbox = "example.com/pause:1"`,
      `[plugins."${images}".registry]`,
      `  config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"`,
      "",
    ].join("\n");
    const configFile = join(dir, "config.toml");
    writeFileSync(configFile, main);
    return configFile;
  }

  it("containerd 1.6 (Debian) replaces config.toml's whole CRI section with the fragment's", async () => {
    const dump = await run("containerd", ["--config", layout(2), "config", "dump"]);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout).toContain(`config_path = "${certsDir}"`);
    expect(dump.stdout).not.toContain("example.com/pause:1");
    expect(dump.stdout).toContain("discard_unpacked_layers = false");
  });

  it.each(VERSIONS)("containerd %s merges key by key: only config_path changes", async (version) => {
    const bin = (await labTool("containerd", version)).bin;
    const dump = await run(join(bin, "containerd"), ["--config", layout(3), "config", "dump"]);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout).toContain(`config_path = '${certsDir}'`);
    expect(dump.stdout).toContain("sandbox = 'example.com/pause:1'");
    expect(dump.stdout).toContain("discard_unpacked_layers = true");
  });
});

/**
 * A mirror in front of the lab's cache that records each request's headers (the registry does not log them), to
 * see what containerd sends from a hosts.toml `[host."URL".header]` table. Serves `/v2/docker-hub/...` (an ECR
 * pull-through cache's path) from the cache's `/v2/...`.
 */
async function startHeaderRecorder(
  target: string,
): Promise<{ url: string; seen: IncomingHttpHeaders[]; stop(): Promise<void> }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer(async (req, res) => {
    seen.push(req.headers);
    const upstream = await fetch(`${target}${(req.url ?? "").replace(/^\/v2\/docker-hub\//, "/v2/")}`, {
      method: req.method,
      headers: { accept: req.headers.accept ?? "*/*" },
    });
    const headers: Record<string, string> = {};
    for (const name of ["content-type", "content-length", "docker-content-digest", "docker-distribution-api-version"]) {
      const value = upstream.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    res.writeHead(upstream.status, headers);
    res.end(req.method === "HEAD" ? undefined : Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("ECR-style auth: the Authorization header the node's refresher adds to the rendered template", () => {
  it.each(VERSIONS)(
    "containerd %s sends it to the mirror on crictl (transfer service from 2.1) and ctr pulls",
    async (version) => {
      const recorder = await startHeaderRecorder(cache.url);
      stops.push(() => recorder.stop());
      const ecrLike = `${recorder.url}/v2/docker-hub`;
      // An ECR mirror renders the same text without `auth: "ecr"` (which needs a real ECR host name): the template.
      const { policy } = normalisePolicy({
        allowMirrorPaths: true,
        registries: { "docker.io": { mirrors: [{ url: ecrLike, overridePath: true }] } },
      });
      const dir = join(tmpDir("ecr-auth"), "certs.d");
      dirs.push(dirname(dir));
      const [template] = renderContainerdHosts(policy, { certsDir: dir });
      // What the refresher writes on the node: the template plus [host."URL".header] Authorization = "Basic TOKEN".
      const live = parse(template.content) as { host: Record<string, Record<string, unknown>> };
      live.host[ecrLike].header = { Authorization: "Basic QVdTOnRva2Vu" };
      mkdirSync(dirname(template.path), { recursive: true });
      writeFileSync(template.path, stringify(live), { mode: 0o600 });
      const fragment = file("registry-mirrors.toml", renderContainerdConfigFragment(3, dir));
      const daemon = await start(version, { imports: [fragment] });
      const cri = await daemon.crictl(["pull", IMAGE]);
      expect(cri.code, `${cri.stdout}\n${cri.stderr}`).toBe(0);
      const afterCri = recorder.seen.length;
      expect(afterCri).toBeGreaterThan(0);
      const ctr = await daemon.ctr(["-n", "t", "images", "pull", "--hosts-dir", dir, IMAGE]);
      expect(ctr.code, `${ctr.stdout}\n${ctr.stderr}`).toBe(0);
      expect(recorder.seen.length).toBeGreaterThan(afterCri);
      expect(recorder.seen.every((h) => h.authorization === "Basic QVdTOnRva2Vu")).toBe(true);
    },
  );
});
