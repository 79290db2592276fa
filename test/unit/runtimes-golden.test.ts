/**
 * Golden files: each format rendered from representative policies, compared byte for byte with
 * test/unit/golden/<format>/<case>/ (node files at their node paths with ":" as "%3A", plus _manifest.json with
 * every path, mode and secret flag).
 * After an intended change, regenerate with `UPDATE_GOLDEN=1 npx vitest run test/unit/runtimes-golden.test.ts`
 * and review the diff against ../shared/RUNTIMES.md.
 */
import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { parse } from "smol-toml";
import { dirname, join } from "node:path";
import { type MirrorPolicyInput, normalisePolicy } from "../../components/core/policy";
import { renderBottlerocketSettings } from "../../components/core/render/bottlerocket";
import { renderBuildkitToml } from "../../components/core/render/buildkit";
import { renderContainerdConfigFragment, renderContainerdHosts } from "../../components/core/render/containerd";
import { renderK3sRegistries } from "../../components/core/render/k3s";
import { renderRegistriesConf } from "../../components/core/render/registries-conf";
import type { NodeFile } from "../../components/core/render/types";

const GOLDEN = join(__dirname, "golden");
const update = process.env.UPDATE_GOLDEN === "1";

const ECR = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/docker-hub";

/** Every registry kind: Docker Hub, GHCR, Quay, registry.k8s.io, a private host:port, `*`; CA, mTLS, ECR. */
const FULL: MirrorPolicyInput = {
  allowMirrorPaths: true,
  registries: {
    "docker.io": { mirrors: ["https://mirror.gcr.io", "http://10.0.0.5:5000", { url: ECR, overridePath: true }] },
    "ghcr.io": { mirrors: [{ url: "https://ghcr-mirror.example.com", caFile: "/etc/pki/mirror-ca.pem" }] },
    "quay.io": {
      mirrors: [
        {
          url: "https://quay-mirror.example.com",
          clientCertFile: "/etc/pki/client.pem",
          clientKeyFile: "/etc/pki/client.key",
        },
      ],
    },
    "registry.k8s.io": { mirrors: ["https://k8s-mirror.example.com"] },
    "10.0.0.9:5000": { mirrors: [{ url: "https://10.0.0.9:5443", insecure: true }] },
    "*": { mirrors: ["https://catch-all.example.com"] },
  },
};

/** What CRI-O/podman can express: no `*`, no per-mirror CA; digest-only and a registry without upstream. */
const CRIO: MirrorPolicyInput = {
  allowMirrorPaths: true,
  registries: {
    "docker.io": { mirrors: ["https://mirror.gcr.io", "http://10.0.0.5:5000", { url: ECR, overridePath: true }] },
    "ghcr.io": { mirrors: [{ url: "https://ghcr-mirror.example.com", pullFromMirror: "digest-only" }] },
    "quay.io": { mirrors: ["https://quay-mirror.example.com"] },
    "registry.k8s.io": { mirrors: ["https://k8s-mirror.example.com"] },
    "10.0.0.9:5000": {
      mirrors: [{ url: "https://10.0.0.9:5443", insecure: true }, "http://10.0.0.10:5000"],
      upstreamFallback: false,
    },
  },
};

/** What Bottlerocket can express: URLs only (http allowed), `*` allowed. */
const BOTTLEROCKET: MirrorPolicyInput = {
  allowMirrorPaths: true,
  registries: {
    "docker.io": { mirrors: ["https://mirror.gcr.io", "http://10.0.0.5:5000", { url: ECR, overridePath: true }] },
    "ghcr.io": { mirrors: ["https://ghcr-mirror.example.com"] },
    "quay.io": { mirrors: ["https://quay-mirror.example.com"] },
    "registry.k8s.io": { mirrors: ["https://k8s-mirror.example.com"] },
    "*": { mirrors: ["https://catch-all.example.com"] },
  },
};

/** containerd only: no upstream (server = last mirror, its settings at the top), headers (a secret file), push. */
const CONTAINERD_NO_UPSTREAM: MirrorPolicyInput = {
  registries: {
    "registry.example.com:5000": {
      mirrors: [
        { url: "https://mirror-a.example.com", capabilities: ["pull"], dialTimeout: "3s" },
        {
          url: "https://mirror-b.example.com",
          capabilities: ["pull", "resolve", "push"],
          headers: { "X-Mirror-Token": "token-1" },
          insecure: true,
        },
      ],
      upstreamFallback: false,
    },
    "*": { mirrors: ["http://10.0.0.5:5000"], upstreamFallback: false },
  },
};

/** containerd with ECR mirrors (auth "ecr"): a host before a public mirror, and the last resort of a registry. */
const CONTAINERD_ECR: MirrorPolicyInput = {
  allowMirrorPaths: true,
  registries: {
    "docker.io": { mirrors: [{ url: ECR, overridePath: true, auth: "ecr" }, "https://mirror.gcr.io"] },
    "quay.io": {
      mirrors: [
        "https://quay-mirror.example.com",
        { url: "https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/v2/quay", overridePath: true, auth: "ecr" },
      ],
      upstreamFallback: false,
    },
  },
};

function policyOf(input: MirrorPolicyInput) {
  return normalisePolicy(input).policy;
}

/** Compares rendered files (or writes them with UPDATE_GOLDEN=1) under golden/<format>/<name>/. */
function checkGolden(format: string, name: string, files: NodeFile[]): void {
  const base = join(GOLDEN, format, name);
  const manifest = `${JSON.stringify(
    files.map((f) => ({ path: f.path, mode: f.mode.toString(8), secret: f.secret === true })),
    null,
    2,
  )}\n`;
  // ":" (host:port folders) is encoded so the repository can be checked out on Windows too.
  const entries: Array<[string, string]> = [
    ...files.map((f) => [join(base, f.path.replace(/:/g, "%3A")), f.content] as [string, string]),
    [join(base, "_manifest.json"), manifest],
  ];
  for (const [file, content] of entries) {
    if (update) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
      continue;
    }
    expect(existsSync(file), `${file} is missing (UPDATE_GOLDEN=1 writes it)`).toBe(true);
    expect(content, file).toBe(readFileSync(file, "utf8"));
  }
}

describe("golden files", () => {
  it("containerd hosts.toml, every registry kind", () => {
    const warnings: string[] = [];
    const files = renderContainerdHosts(policyOf(FULL), { warnings });
    checkGolden("containerd", "full", files);
    expect(files.map((f) => f.path)).toEqual([
      "/etc/containerd/certs.d/10.0.0.9:5000/hosts.toml",
      "/etc/containerd/certs.d/docker.io/hosts.toml",
      "/etc/containerd/certs.d/ghcr.io/hosts.toml",
      "/etc/containerd/certs.d/quay.io/hosts.toml",
      "/etc/containerd/certs.d/registry.k8s.io/hosts.toml",
      "/etc/containerd/certs.d/_default/hosts.toml",
    ]);
    expect(files.every((f) => f.secret !== true && f.mode === 0o644)).toBe(true);
    expect(warnings).toEqual([]);
  });

  it("containerd hosts.toml without upstream, with headers (secret) and push, in another certs folder", () => {
    const files = renderContainerdHosts(policyOf(CONTAINERD_NO_UPSTREAM), { certsDir: "/etc/docker/certs.d/" });
    checkGolden("containerd", "no-upstream", files);
    const withHeaders = files.find((f) => f.path === "/etc/docker/certs.d/registry.example.com:5000/hosts.toml");
    expect(withHeaders).toMatchObject({ secret: true, mode: 0o600 });
    expect(files.find((f) => f.path.includes("_default"))?.secret).toBeUndefined();
  });

  it("containerd hosts.toml with ECR mirrors: no token in the file, the mirrors listed for the node's refresher, mode 0600", () => {
    const files = renderContainerdHosts(policyOf(CONTAINERD_ECR));
    checkGolden("containerd", "ecr-auth", files);
    expect(files.map((f) => [f.path, f.ecrAuth, f.mode, f.secret])).toEqual([
      ["/etc/containerd/certs.d/docker.io/hosts.toml", [{ url: ECR, region: "us-east-1" }], 0o600, undefined],
      [
        "/etc/containerd/certs.d/quay.io/hosts.toml",
        [{ url: "https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/v2/quay", region: "cn-north-1" }],
        0o600,
        undefined,
      ],
    ]);
    for (const f of files) expect(f.content).not.toMatch(/header|Authorization/);
    // The same policy without auth renders the same text: auth changes only what the node adds.
    const plain = structuredClone(CONTAINERD_ECR);
    for (const entry of Object.values(plain.registries))
      entry.mirrors = entry.mirrors.map((m) => (typeof m === "string" ? m : { url: m.url, overridePath: true }));
    expect(renderContainerdHosts(policyOf(plain)).map((f) => f.content)).toEqual(files.map((f) => f.content));
    expect(renderContainerdHosts(policyOf(plain)).every((f) => f.ecrAuth === undefined && f.mode === 0o644)).toBe(true);
  });

  it.each([2, 3] as const)("containerd config fragment, version %i", (version) => {
    const file = {
      path: `/etc/containerd/conf.d/registry-mirrors-v${version}.toml`,
      content: renderContainerdConfigFragment(version),
      mode: 0o644,
    };
    checkGolden("containerd", `fragment-v${version}`, [file]);
    expect(file.content).not.toContain("mirrors");
  });

  it("containerd config fragment with the two folders EKS AL2023 uses", () => {
    const two = "/etc/containerd/certs.d:/etc/docker/certs.d";
    const v2 = renderContainerdConfigFragment(2, two);
    expect(v2).toContain(`config_path = "${two}"`);
    expect(v2).not.toContain("use_local_image_pull");
    // containerd 2.1+'s transfer service reads config_path as one folder: a list needs CRI's local pull.
    expect(parse(renderContainerdConfigFragment(3, two))).toEqual({
      version: 3,
      plugins: { "io.containerd.cri.v1.images": { use_local_image_pull: true, registry: { config_path: two } } },
    });
    expect(renderContainerdConfigFragment(3)).not.toContain("use_local_image_pull");
  });

  it("CRI-O/podman registries.conf drop-in", () => {
    const warnings: string[] = [];
    checkGolden("registries-conf", "crio", [renderRegistriesConf(policyOf(CRIO), { warnings })]);
    expect(warnings).toEqual([]);
  });

  it("k3s registries.yaml, every registry kind, with auth (secret)", () => {
    const warnings: string[] = [];
    const file = renderK3sRegistries(policyOf(FULL), {
      flavour: "k3s",
      auth: {
        "quay-mirror.example.com": { username: "robot", password: "s3cret" },
        "ghcr-mirror.example.com": { auth: "cm9ib3Q6czNjcmV0" },
      },
      tls: { "10.0.0.9:5000": { caFile: "/etc/pki/private-ca.pem" } },
      warnings,
    });
    checkGolden("k3s", "full", [file]);
    expect(file).toMatchObject({ path: "/etc/rancher/k3s/registries.yaml", secret: true, mode: 0o600 });
    expect(warnings).toEqual([]);
  });

  it("RKE2 registries.yaml without auth (not secret)", () => {
    const file = renderK3sRegistries(policyOf(BOTTLEROCKET), { flavour: "rke2" });
    checkGolden("rke2", "public", [file]);
    expect(file).toMatchObject({ path: "/etc/rancher/rke2/registries.yaml", mode: 0o644 });
    expect(file.secret).toBeUndefined();
  });

  it('BuildKit buildkitd.toml skips "*" with a warning', () => {
    const warnings: string[] = [];
    checkGolden("buildkit", "full", [renderBuildkitToml(policyOf(FULL), { warnings })]);
    expect(warnings).toEqual([
      expect.stringContaining('policy.registries["*"]: BuildKit has no entry for every registry'),
    ]);
  });

  it("Bottlerocket settings", () => {
    const content = renderBottlerocketSettings(policyOf(BOTTLEROCKET));
    checkGolden("bottlerocket", "public", [{ path: "/bottlerocket.toml", content, mode: 0o644 }]);
  });
});
