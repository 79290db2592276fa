/**
 * A region's selection served for real: the user catalog points us-west-2 at a local pull-through cache (and
 * cn-* at another one), the selection is rendered with the containerd hosts.toml and CRI-O/podman
 * registries.conf renderers, and ctr and skopeo pull docker.io and ghcr.io images (unreachable here, so a
 * successful pull was served by a mirror). ghcr.io uses an ECR-style endpoint (`/v2/<prefix>` with
 * override_path), the shape the selector gives ECR pull-through cache rules.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MirrorPolicy, normalisePolicy } from "../../components/core/policy";
import { type RegionSelection, selectMirrors } from "../../components/core/regions/select";
import { renderContainerdHosts } from "../../components/core/render/containerd";
import { renderRegistriesConf } from "../../components/core/render/registries-conf";
import {
  type Containerd,
  freePort,
  pushTestImage,
  type Registry,
  run,
  startContainerd,
  startRegistry,
  tmpDir,
} from "./lab";

const stops: Array<() => Promise<void>> = [];
const dirs: string[] = [];
let dir: string;
let usCache: Registry;
let cnCache: Registry;
let deadUrl: string;
let selection: RegionSelection;
let policy: MirrorPolicy;
let containerd: Containerd;
let certsDir: string;
let confFile: string;
/** Requests the cn-* cache had logged before the pulls (its own start-up readiness check). */
let cnBaseline: number;

beforeAll(async () => {
  dir = tmpDir("regional-pull");
  dirs.push(dir);
  const upstream = await startRegistry({ dir: join(dir, "upstream") });
  stops.push(() => upstream.stop());
  await pushTestImage(upstream.hostPort, "library/hello", "v1");
  // What an ECR pull-through rule with prefix "ghcr" holds: the upstream's repositories under the prefix.
  await pushTestImage(upstream.hostPort, "ghcr/someorg/tool", "v1");
  usCache = await startRegistry({ dir: join(dir, "cache-us"), proxyRemote: upstream.url });
  stops.push(() => usCache.stop());
  cnCache = await startRegistry({ dir: join(dir, "cache-cn"), proxyRemote: upstream.url });
  stops.push(() => cnCache.stop());
  cnBaseline = cnCache.requests("/v2/");
  deadUrl = `http://127.0.0.1:${await freePort()}`;

  selection = selectMirrors({
    cloud: "aws",
    region: "us-west-2",
    registries: ["docker.io", "ghcr.io"],
    allowMirrorPaths: true,
    userCatalog: {
      regions: {
        "us-*": {
          network: "vpc",
          registries: {
            "docker.io": [deadUrl, usCache.url],
            "ghcr.io": [{ url: `${usCache.url}/v2/ghcr`, overridePath: true }],
          },
        },
        "cn-*": { registries: { "docker.io": [cnCache.url], "ghcr.io": [cnCache.url] } },
        "*": { insecureRegistries: ["10.0.0.0/8"] },
      },
    },
  });
  policy = normalisePolicy(selection.policy).policy;

  certsDir = join(dir, "certs.d");
  for (const file of renderContainerdHosts(policy, { certsDir })) {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.content, { mode: file.mode });
  }
  confFile = join(dir, "50-registry-mirrors.conf");
  writeFileSync(confFile, renderRegistriesConf(policy).content);
  containerd = await startContainerd({ dir: join(dir, "containerd") });
  stops.push(() => containerd.stop());
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh folder for `skopeo copy ... dir:OUT`, removed after the tests. */
function out(): string {
  const d = tmpDir("regional-skopeo");
  dirs.push(d);
  return d;
}

describe("a region's selection, rendered and pulled through", () => {
  it("chose the us-west-2 mirrors from the catalog, not the cn-* ones", () => {
    expect(selection.policy.registries["docker.io"].mirrors).toEqual([deadUrl, usCache.url]);
    expect(selection.insecureRegistries).toEqual(["10.0.0.0/8"]);
    expect(selection.reasons[0]).toBe(`docker.io #1 ${deadUrl}: in-region private mirror from userCatalog["us-*"]`);
  });

  it.each([
    ["docker.io/library/hello:v1", "/v2/library/hello/manifests/v1"],
    ["ghcr.io/someorg/tool:v1", "/v2/ghcr/someorg/tool/manifests/v1"],
  ])("ctr pulls %s through the rendered hosts.toml", async (ref, manifestPath) => {
    const before = usCache.requests(manifestPath);
    const res = await containerd.ctr([
      "--debug",
      "-n",
      "t",
      "images",
      "pull",
      "--snapshotter",
      "native",
      "--hosts-dir",
      certsDir,
      ref,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(usCache.requests(manifestPath)).toBeGreaterThan(before);
    // docker.io's first mirror is dead: containerd tried it, in catalog order, before the cache.
    if (ref.startsWith("docker.io/")) expect(res.stderr).toContain(deadUrl.replace("http://", ""));
    expect(cnCache.requests("/v2/")).toBe(cnBaseline);
  });

  it.each([
    ["docker.io/library/hello:v1", "/v2/library/hello/manifests/v1"],
    ["ghcr.io/someorg/tool:v1", "/v2/ghcr/someorg/tool/manifests/v1"],
  ])("skopeo copies %s through the rendered registries.conf", async (ref, manifestPath) => {
    const before = usCache.requests(manifestPath);
    const res = await run("skopeo", [
      "--debug",
      "--registries-conf",
      confFile,
      "copy",
      `docker://${ref}`,
      `dir:${out()}`,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(usCache.requests(manifestPath)).toBeGreaterThan(before);
    expect(cnCache.requests("/v2/")).toBe(cnBaseline);
  });

  it("control: the same catalog selects the cn-* cache for cn-north-1, and ctr pulls from it", async () => {
    const cn = normalisePolicy(
      selectMirrors({
        cloud: "aws",
        region: "cn-north-1",
        registries: ["docker.io"],
        userCatalog: {
          regions: {
            "cn-*": { registries: { "docker.io": [cnCache.url] } },
            "us-*": { registries: { "docker.io": [usCache.url] } },
          },
        },
      }).policy,
    ).policy;
    const cnCerts = join(dir, "certs-cn.d");
    for (const file of renderContainerdHosts(cn, { certsDir: cnCerts })) {
      mkdirSync(dirname(file.path), { recursive: true });
      writeFileSync(file.path, file.content, { mode: file.mode });
    }
    const usBefore = usCache.requests("/v2/library/hello/manifests/v1");
    const res = await containerd.ctr([
      "-n",
      "cn",
      "images",
      "pull",
      "--snapshotter",
      "native",
      "--hosts-dir",
      cnCerts,
      "docker.io/library/hello:v1",
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(cnCache.requests("/v2/library/hello/manifests/v1")).toBeGreaterThan(0);
    expect(usCache.requests("/v2/library/hello/manifests/v1")).toBe(usBefore);
  });
});
