/**
 * PullThroughCache's registry configuration (the config.yml its ConfigMap holds, byte for byte) served by the real
 * Distribution binary (Debian docker-registry 2.8) in proxy mode against the lab's upstream, and the policy fragment
 * the component outputs driving real pulls: containerd 1.6 (ctr with the rendered hosts folder) and skopeo (the
 * rendered registries.conf). A warm pull does not touch the upstream. With TLS, the CA the apply script delivered
 * makes the pull verify; without it the same pull fails on the certificate.
 *
 * The cache is exposed as nodePort at 127.0.0.1:<nodePort> (what a node reaches with that exposure); only the
 * container's mount points and listen address differ in the lab, given as Distribution's REGISTRY_* overrides.
 */
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PullThroughCacheInput, pullThroughCacheManifests } from "../../components/core/cache";
import { harborProxyPolicy, type MirrorEndpointInput, type MirrorPolicyInput } from "../../components/core/policy";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { REGISTRIES_CONF_DROPIN } from "../../components/core/render/registries-conf";
import {
  type Containerd,
  pushTestImage,
  type Registry,
  run,
  runOk,
  startContainerd,
  startDistribution,
  startRegistry,
  tmpDir,
} from "./lab";

const FAKE = join(__dirname, "fixtures", "apply", "fake-systemctl.sh");
const stops: Array<() => Promise<void>> = [];
const dirs: string[] = [];
let dir: string;
let upstream: Registry;
let containerd: Containerd;
let pki: { ca: string; caFile: string; cert: string; key: string };

/** A port in the NodePort range (30000-32767) that is free now. */
async function freeNodePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 30000 + Math.floor(Math.random() * 2768);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port in the NodePort range");
}

function cacheInput(nodePort: number, tls: PullThroughCacheInput["tls"]): PullThroughCacheInput {
  return {
    name: "lab",
    exposure: "nodePort",
    upstreams: [{ registry: "docker.io", nodePort, remoteUrl: upstream.url }],
    storage: { pvc: { storageClassName: "standard" } },
    replicas: 1,
    tls,
  };
}

/** Runs the cache's config.yml (as the ConfigMap holds it) with the container's env and the lab's mount points. */
async function runCache(
  name: string,
  input: PullThroughCacheInput,
): Promise<{ cache: Registry; policy: MirrorPolicyInput }> {
  const m = pullThroughCacheManifests(input);
  const [c] = m.caches;
  const cdir = join(dir, name);
  mkdirSync(cdir, { recursive: true });
  const configFile = join(cdir, "config.yml");
  writeFileSync(configFile, c.configMap.data["config.yml"]);
  const container = (c.workload.spec as any).template.spec.containers[0];
  const env: Record<string, string> = Object.fromEntries(
    (container.env as Array<{ name: string; value?: string }>)
      .filter((e) => e.value !== undefined)
      .map((e) => [e.name, e.value as string]),
  );
  env.REGISTRY_HTTP_ADDR = c.address;
  env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY = join(cdir, "data");
  const tls = input.tls as { secretName?: string };
  if (tls.secretName) {
    env.REGISTRY_HTTP_TLS_CERTIFICATE = pki.cert;
    env.REGISTRY_HTTP_TLS_KEY = pki.key;
  }
  const scheme = tls.secretName ? "https" : "http";
  const cache = await startDistribution({
    dir: cdir,
    configFile,
    env,
    url: `${scheme}://${c.address}`,
    caFile: tls.secretName ? pki.caFile : undefined,
  });
  stops.push(() => cache.stop());
  return { cache, policy: m.policy };
}

/** Upstream log lines (GET or HEAD of /v2/library/hello/...) so far. */
const upstreamHits = () =>
  upstream
    .logs()
    .split("\n")
    .filter((l) => /"(GET|HEAD) \/v2\/library\/hello\//.test(l));

async function ctrPull(certsDir: string, namespace: string, ref: string) {
  return containerd.ctr(
    ["--debug", "-n", namespace, "images", "pull", "--snapshotter", "native", "--hosts-dir", certsDir, ref],
    { timeoutMs: 90_000 },
  );
}

beforeAll(async () => {
  dir = tmpDir("pull-through-cache");
  dirs.push(dir);
  upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  await pushTestImage(upstream.hostPort, "library/hello", "v2");
  const p = join(dir, "pki");
  mkdirSync(p);
  const ssl = (args: string[]) => runOk("openssl", args, { cwd: p });
  await ssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-subj",
    "/CN=lab cache CA",
    "-days",
    "2",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
  ]);
  await ssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "tls.key",
    "-out",
    "tls.csr",
    "-subj",
    "/CN=lab cache",
  ]);
  writeFileSync(join(p, "ext.cnf"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await ssl([
    "x509",
    "-req",
    "-in",
    "tls.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "tls.crt",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  ]);
  pki = {
    ca: readFileSync(join(p, "ca.crt"), "utf8"),
    caFile: join(p, "ca.crt"),
    cert: join(p, "tls.crt"),
    key: join(p, "tls.key"),
  };
  containerd = await startContainerd({ dir: join(dir, "containerd") });
  stops.push(() => containerd.stop());
}, 180_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("PullThroughCache's configuration on the real Distribution binary, plain HTTP", () => {
  let cache: Registry;
  let policy: MirrorPolicyInput;
  let certsDir: string;

  beforeAll(async () => {
    ({ cache, policy } = await runCache("plain", cacheInput(await freeNodePort(), { plainHttp: true })));
    const rendered = renderNodeConfig({
      policy,
      runtimes: ["containerd", "podman"],
      runtimeOptions: { containerd: { certsDir: join(dir, "plain-certs.d") } },
    });
    certsDir = join(dir, "plain-certs.d");
    for (const [path, content] of Object.entries(rendered.containerdHosts)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
    writeFileSync(join(dir, "registries.conf"), rendered.files[REGISTRIES_CONF_DROPIN]);
  });

  it("the fragment marks the plain-HTTP endpoint insecure explicitly", () => {
    expect(policy.registries["docker.io"].mirrors).toEqual([{ url: cache.url, insecure: true }]);
  });

  it("containerd pulls docker.io/library/hello:v1 through the cache (cold: the cache fetches from the upstream)", async () => {
    const before = upstreamHits().length;
    const res = await ctrPull(certsDir, "cold", "docker.io/library/hello:v1");
    expect(res.code, res.stderr).toBe(0);
    expect(cache.requests("/v2/library/hello/manifests/v1")).toBeGreaterThan(0);
    const fetched = upstreamHits().slice(before);
    expect(fetched.some((l) => l.includes('"GET /v2/library/hello/blobs/'))).toBe(true);
  });

  it("a warm pull (a fresh containerd namespace) fetches no manifest or blob from the upstream", async () => {
    const before = upstreamHits().length;
    const cacheBefore = cache.requests("/v2/library/hello/");
    const res = await ctrPull(certsDir, "warm", "docker.io/library/hello:v1");
    expect(res.code, res.stderr).toBe(0);
    expect(cache.requests("/v2/library/hello/")).toBeGreaterThan(cacheBefore);
    const after = upstreamHits().slice(before);
    // Distribution checks a tag's current digest upstream (HEAD); it downloads nothing.
    expect(after.filter((l) => l.includes('"GET '))).toEqual([]);
    expect(after.every((l) => l.includes('"HEAD /v2/library/hello/manifests/v1'))).toBe(true);
  });

  it("a warm pull by digest does not touch the upstream at all", async () => {
    const list = await containerd.ctr(["-n", "warm", "images", "ls"]);
    const digest = /sha256:[0-9a-f]{64}/.exec(list.stdout)?.[0];
    expect(digest).toBeDefined();
    const before = upstreamHits().length;
    const res = await ctrPull(certsDir, "by-digest", `docker.io/library/hello@${digest}`);
    expect(res.code, res.stderr).toBe(0);
    expect(upstreamHits().slice(before)).toEqual([]);
  });

  it("skopeo pulls through the cache with the rendered registries.conf; the upstream sees no download", async () => {
    const before = upstreamHits().length;
    const out = tmpDir("ptc-skopeo");
    dirs.push(out);
    const res = await run("skopeo", [
      "--registries-conf",
      join(dir, "registries.conf"),
      "copy",
      "docker://docker.io/library/hello:v1",
      `dir:${out}`,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(readFileSync(join(out, "manifest.json"), "utf8")).toContain("layers");
    expect(
      upstreamHits()
        .slice(before)
        .filter((l) => l.includes('"GET ')),
    ).toEqual([]);
  });
});

describe("PullThroughCache with TLS: the CA the apply script delivers", () => {
  let cache: Registry;
  let policy: MirrorPolicyInput;
  let root: string;
  let state: string;
  let certsDir: string;

  beforeAll(async () => {
    ({ cache, policy } = await runCache(
      "tls",
      cacheInput(await freeNodePort(), { secretName: "lab-tls", ca: pki.ca }),
    ));
    // A node: NODE_ROOT with a config.toml already reading certsDir, a real path symlinked into NODE_ROOT.
    root = join(dir, "node");
    state = join(dir, "node-state");
    certsDir = join(dir, "tls-certs.d");
    for (const d of [join(root, "etc", "containerd"), join(root, certsDir), state]) mkdirSync(d, { recursive: true });
    symlinkSync(join(root, certsDir), certsDir);
    writeFileSync(
      join(root, "etc", "containerd", "config.toml"),
      `version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${certsDir}"\n`,
    );
  });

  async function applyScript(p: MirrorPolicyInput, mode: string) {
    const rendered = renderNodeConfig({
      policy: p,
      runtimes: ["containerd", "podman"],
      runtimeOptions: { containerd: { certsDir } },
    });
    const script = join(state, "apply-node-config.sh");
    writeFileSync(script, rendered.applyScript);
    return run("sh", [script, mode], {
      env: { ...process.env, NODE_ROOT: root, RUNTIME_CTL: `sh ${FAKE}`, LAB_STATE: state, VERIFY_SECONDS: "10" },
    });
  }

  it("the fragment carries the CA; the apply script writes it where hosts.toml's ca points, and containerd verifies the cache", async () => {
    const mirror = policy.registries["docker.io"].mirrors[0] as MirrorEndpointInput;
    expect(mirror).toEqual({ url: cache.url, ca: pki.ca });
    const applied = await applyScript(policy, "apply");
    expect(applied.code, applied.stderr).toBe(0);
    const caPath = `${certsDir}/docker.io/${cache.hostPort}.crt`;
    expect(readFileSync(caPath, "utf8")).toBe(pki.ca);
    expect(readFileSync(`${certsDir}/docker.io/hosts.toml`, "utf8")).toContain(`ca = "${caPath}"`);
    const res = await ctrPull(certsDir, "tls-ok", "docker.io/library/hello:v2");
    expect(res.code, res.stderr).toBe(0);
    expect(cache.requests("/v2/library/hello/manifests/v2")).toBeGreaterThan(0);
  });

  it("skopeo verifies the cache with the CA the script wrote to /etc/containers/certs.d/<host:port>/ca.crt", async () => {
    const certDir = join(root, "etc", "containers", "certs.d", cache.hostPort);
    expect(readFileSync(join(certDir, "ca.crt"), "utf8")).toBe(pki.ca);
    const conf = join(root, REGISTRIES_CONF_DROPIN);
    const out = tmpDir("ptc-skopeo-tls");
    dirs.push(out);
    // skopeo reads that folder for the host by default; the node's folder is under NODE_ROOT here, so it is named.
    const copy = (dirArg: string) =>
      run("skopeo", [
        "--registries-conf",
        conf,
        "copy",
        "--src-cert-dir",
        dirArg,
        "docker://docker.io/library/hello:v2",
        `dir:${out}`,
      ]);
    const ok = await copy(certDir);
    expect(ok.code, ok.stderr).toBe(0);
    const empty = tmpDir("ptc-no-ca");
    dirs.push(empty);
    const bad = await copy(empty);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/x509: certificate signed by unknown authority/);
  });

  it("without the CA (the same policy minus ca) the pull fails on the certificate; restore removes the CA file", async () => {
    const restored = await applyScript(policy, "restore");
    expect(restored.code, restored.stderr).toBe(0);
    expect(existsSync(`${certsDir}/docker.io/${cache.hostPort}.crt`)).toBe(false);
    const withoutCa: MirrorPolicyInput = { registries: { "docker.io": { mirrors: [cache.url] } } };
    const applied = await applyScript(withoutCa, "apply");
    expect(applied.code, applied.stderr).toBe(0);
    const res = await ctrPull(certsDir, "tls-no-ca", "docker.io/library/hello:v2");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/x509: certificate signed by unknown authority/);
    await applyScript(withoutCa, "restore");
  });
});

describe("a Harbor proxy-cache project's path form (harborProxyPolicy) on real containerd and skopeo", () => {
  // Harbor serves a proxy project at /v2/<project>/<repository>; a registry holding <project>/library/hello answers
  // the same requests, which is all the runtimes see.
  let certsDir: string;
  let conf: string;

  beforeAll(async () => {
    await pushTestImage(upstream.hostPort, "dockerhub-proxy/library/hello", "v3");
    const policy = harborProxyPolicy({ url: upstream.url, projects: { "docker.io": "dockerhub-proxy" } });
    certsDir = join(dir, "harbor-certs.d");
    const rendered = renderNodeConfig({
      policy,
      runtimes: ["containerd", "podman"],
      runtimeOptions: { containerd: { certsDir } },
    });
    for (const [path, content] of Object.entries(rendered.containerdHosts)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
    conf = join(dir, "harbor-registries.conf");
    writeFileSync(conf, rendered.files[REGISTRIES_CONF_DROPIN]);
  });

  it("containerd asks /v2/dockerhub-proxy/library/hello/... (override_path) for docker.io/library/hello", async () => {
    const res = await ctrPull(certsDir, "harbor", "docker.io/library/hello:v3");
    expect(res.code, res.stderr).toBe(0);
    expect(upstream.requests("/v2/dockerhub-proxy/library/hello/manifests/v3")).toBeGreaterThan(0);
  });

  it("skopeo reaches the same project through the registries.conf mirror HOST/dockerhub-proxy", async () => {
    const before = upstream.requests("/v2/dockerhub-proxy/library/hello/manifests/v3");
    const out = tmpDir("ptc-harbor");
    dirs.push(out);
    const res = await run("skopeo", [
      "--registries-conf",
      conf,
      "copy",
      "docker://docker.io/library/hello:v3",
      `dir:${out}`,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(upstream.requests("/v2/dockerhub-proxy/library/hello/manifests/v3")).toBeGreaterThan(before);
  });
});
