import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type MirrorPolicyInput, normalisePolicy } from "../../components/core/policy";
import { type DockerSettingsInput, parseKeyValue, renderDocker } from "../../components/core/render/docker";
import { DOCKER_SCENARIOS } from "./golden/docker/scenarios";
import {
  DOCKERD_KEYS,
  DOCKER_RELOADABLE_KEYS,
  DOCKER_RELOAD_EMPTY_VALUES,
  DOCKER_RELOAD_RESETS_WHEN_REMOVED,
  closestDockerKey,
} from "../../components/core/render/docker-keys";
import { errorOf } from "./policy-error";

const GOLDEN = join(__dirname, "golden", "docker");

function render(name: string) {
  const scenario = DOCKER_SCENARIOS[name];
  return renderDocker(normalisePolicy(scenario.policy).policy, scenario.settings);
}

const hub = (mirrors: unknown[]) =>
  normalisePolicy({ registries: { "docker.io": { mirrors } } } as MirrorPolicyInput).policy;

/** Fails on a JSON object that holds the same key twice (JSON.parse would silently keep the last). */
function duplicateKeys(text: string): string[] {
  const dups: string[] = [];
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const str = JSON.parse(text.slice(i, j + 1)) as string;
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        if (top.has(str)) dups.push(str);
        top.add(str);
      }
      expectKey = false;
      i = j;
    } else if (c === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      stack.push(null);
    } else if (c === "}" || c === "]") {
      stack.pop();
    } else if (c === ",") {
      expectKey = stack[stack.length - 1] !== null;
    }
  }
  return dups;
}

describe("renderDocker golden files", () => {
  for (const name of Object.keys(DOCKER_SCENARIOS)) {
    it(`${name}.json matches`, () => {
      expect(render(name).daemonJson).toBe(readFileSync(join(GOLDEN, `${name}.json`), "utf8"));
    });
  }

  it("the seed scenario has the article's keys, and nothing else", () => {
    expect(JSON.parse(render("seed").daemonJson)).toEqual({
      "exec-opts": ["native.cgroupdriver=systemd"],
      "log-driver": "json-file",
      "log-opts": { "max-size": "100m" },
      "registry-mirrors": ["https://abc123xyz.mirror.aliyuncs.com"],
    });
  });

  it("keeps Docker Hub mirrors in policy order and warns about the ghcr.io mirror Docker ignores", () => {
    const out = render("multi-mirror");
    expect(out.desired["registry-mirrors"]).toEqual([
      "https://abc123xyz.mirror.aliyuncs.com",
      "https://mirror.gcr.io",
      "https://registry.internal.example:5000",
      "http://cache.internal.example:5001",
    ]);
    expect(out.warnings.join("\n")).toMatch(/Docker Hub only.*ghcr\.io/);
  });

  it("lists an insecure https mirror in insecure-registries, but not a plain-http one (dockerd needs only the former)", () => {
    const out = render("multi-mirror");
    expect(out.desired["insecure-registries"]).toEqual(["registry.internal.example:5000"]);
  });

  it("merges a mirror's insecure host into the user's insecure registries without a duplicate", () => {
    const out = renderDocker(hub([{ url: "https://10.1.2.3:5000", insecure: true }]), {
      insecureRegistries: ["10.1.2.3:5000", "10.0.0.0/8"],
    });
    expect(out.desired["insecure-registries"]).toEqual(["10.1.2.3:5000", "10.0.0.0/8"]);
  });

  it("normalises a CIDR to its network and drops a duplicate with a warning", () => {
    const out = renderDocker(hub([]), { insecureRegistries: ["10.9.8.7/8", "10.0.0.0/8"] });
    expect(out.desired["insecure-registries"]).toEqual(["10.0.0.0/8"]);
    expect(out.warnings).toEqual(["docker.insecureRegistries[1]: duplicate 10.0.0.0/8 dropped"]);
  });

  it("writes log-opt values as strings, even when YAML gave a number", () => {
    const out = renderDocker(hub([]), {
      logOpts: { "max-file": 3 as unknown as string, compress: true as unknown as string },
    });
    expect(out.desired["log-opts"]).toEqual({ compress: "true", "max-file": "3" });
  });

  it('warns that "*" mirrors and an upstream-less Docker Hub cannot be expressed for Docker', () => {
    const { policy } = normalisePolicy({
      registries: {
        "*": { mirrors: ["https://any.example"] },
        "docker.io": { mirrors: ["https://hub.example"], upstreamFallback: false },
      },
    });
    const warnings = renderDocker(policy).warnings.join("\n");
    expect(warnings).toMatch(/"\*" \(every registry\) entry/);
    expect(warnings).toMatch(/upstreamFallback: false cannot be enforced/);
  });

  it("renders typed settings under their dockerd names", () => {
    const out = renderDocker(hub([]), {
      dataRoot: "/data/docker",
      storageDriver: "overlay2",
      storageOpts: ["overlay2.size=20G"],
      dns: ["10.0.0.2", "fd00::53"],
      dnsSearch: ["corp.example"],
      dnsOpts: ["ndots:2"],
      defaultAddressPools: [{ base: "10.200.0.0/16", size: 24 }],
      bip: "172.26.0.1/16",
      mtu: 1450,
      debug: false,
      logLevel: "warn",
      features: { buildkit: true },
      allowNondistributableArtifacts: ["registry.local:5000"],
      defaultUlimits: { nofile: { soft: 65536, hard: 65536 } },
      defaultRuntime: "runc",
      shutdownTimeout: 30,
      maxConcurrentUploads: 2,
      maxDownloadAttempts: 8,
      extra: { "userland-proxy": false, runtimes: { nvidia: { path: "nvidia-container-runtime", runtimeArgs: [] } } },
    });
    expect(out.desired).toEqual({
      "allow-nondistributable-artifacts": ["registry.local:5000"],
      bip: "172.26.0.1/16",
      "data-root": "/data/docker",
      debug: false,
      "default-address-pools": [{ base: "10.200.0.0/16", size: 24 }],
      "default-runtime": "runc",
      "default-ulimits": { nofile: { Hard: 65536, Name: "nofile", Soft: 65536 } },
      dns: ["10.0.0.2", "fd00::53"],
      "dns-opts": ["ndots:2"],
      "dns-search": ["corp.example"],
      features: { buildkit: true },
      "log-level": "warn",
      "max-concurrent-uploads": 2,
      "max-download-attempts": 8,
      mtu: 1450,
      runtimes: { nvidia: { path: "nvidia-container-runtime", runtimeArgs: [] } },
      "shutdown-timeout": 30,
      "storage-driver": "overlay2",
      "storage-opts": ["overlay2.size=20G"],
      "userland-proxy": false,
    });
    expect(out.warnings).toEqual([]);
  });

  it("warns about a key that needs a newer dockerd or was removed", () => {
    const out = renderDocker(hub([]), { extra: { "log-format": "json", "cluster-store": "consul://x:8500" } });
    expect(out.warnings).toEqual([
      'docker.extra["cluster-store"]: removed after dockerd 20.10; a newer dockerd refuses to start with it',
      'docker.extra["log-format"]: needs dockerd 25.0 or newer; an older dockerd refuses to start with it',
    ]);
  });

  it("warns about endpoint settings Docker cannot honour", () => {
    const { policy } = normalisePolicy({
      registries: {
        "docker.io": {
          mirrors: [
            {
              url: "https://m.example",
              caFile: "/etc/pki/m.pem",
              headers: { "X-A": "b" },
              dialTimeout: "2s",
              pullFromMirror: "digest-only",
              clientCertFile: "/etc/pki/c.pem",
            },
          ],
        },
      },
    });
    const text = renderDocker(policy).warnings.join("\n");
    for (const word of ["caFile", "clientCertFile", "headers", "dialTimeout", "pullFromMirror"])
      expect(text).toContain(word);
  });

  const ECR = "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/v2/docker-hub";

  it("leaves an overridePath endpoint (ECR pull-through) out of registry-mirrors with one warning, keeping the other mirrors", () => {
    const { policy } = normalisePolicy({
      registries: {
        "docker.io": { mirrors: [{ url: ECR, overridePath: true, headers: { "X-A": "b" } }, "https://m.example"] },
      },
      allowMirrorPaths: true,
    });
    const out = renderDocker(policy);
    expect(out.desired).toEqual({ "registry-mirrors": ["https://m.example"] });
    expect(out.warnings).toEqual([
      `docker: ${ECR} left out of registry-mirrors: with overridePath the URL already holds the registry API path (as an ECR pull-through cache needs), but Docker appends /v2/ to a mirror URL (and dockerd 24.0.6 and older refuse a mirror with a path); containerd and CRI-O/podman use it`,
    ]);
  });

  it("writes no registry-mirrors key when every Docker Hub mirror is an overridePath endpoint, and says so", () => {
    const { policy } = normalisePolicy({
      registries: {
        "docker.io": {
          mirrors: [
            { url: ECR, overridePath: true },
            { url: `${ECR}-2`, overridePath: true },
          ],
        },
      },
      allowMirrorPaths: true,
    });
    const out = renderDocker(policy, { execOpts: ["native.cgroupdriver=systemd"] });
    expect(out.daemonJson).toBe('{\n  "exec-opts": [\n    "native.cgroupdriver=systemd"\n  ]\n}\n');
    expect(out.daemonJson).not.toContain("ecr");
    expect(out.warnings).toHaveLength(1);
    expect(out.warnings[0]).toMatch(
      new RegExp(
        `^docker: ${ECR.replace(/\./g, "\\.")}, ${ECR.replace(/\./g, "\\.")}-2 left out of registry-mirrors: .*containerd and CRI-O/podman use them\\. Docker Hub has no other mirror for Docker, so daemon\\.json gets no registry-mirrors key and Docker pulls from Docker Hub$`,
      ),
    );
  });

  it("leaves out a mirror that may not serve pulls", () => {
    const out = renderDocker(hub([{ url: "https://push-only.example", capabilities: ["push"] }, "https://ok.example"]));
    expect(out.desired["registry-mirrors"]).toEqual(["https://ok.example"]);
  });

  it("writes no registry-mirrors key when the policy has no Docker Hub mirror", () => {
    const out = renderDocker(normalisePolicy({ registries: { "quay.io": { mirrors: ["https://q.example"] } } }).policy);
    expect(out.daemonJson).toBe("{}\n");
  });
});

describe("renderDocker properties", () => {
  const host = fc.stringMatching(/^[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,6}){1,2}$/);
  const mirror = fc
    .record({
      scheme: fc.constantFrom("http", "https"),
      host,
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      insecure: fc.boolean(),
    })
    .map((m) => ({ url: `${m.scheme}://${m.host}${m.port ? `:${m.port}` : ""}`, insecure: m.insecure }));
  const cidr = fc
    .tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 8, max: 32 }))
    .map(([a, b, bits]) => `${a}.${b}.0.0/${bits}`);
  const settings: fc.Arbitrary<DockerSettingsInput> = fc.record(
    {
      insecureRegistries: fc.array(fc.oneof(cidr, host), { maxLength: 4 }),
      execOpts: fc.constantFrom(["native.cgroupdriver=systemd"], ["native.cgroupdriver=cgroupfs"]),
      logDriver: fc.constantFrom("json-file", "local", "journald"),
      // Options every driver takes (the checks per driver have their own tests).
      logOpts: fc.constantFrom<Record<string, string>>(
        {},
        { mode: "non-blocking" },
        { mode: "blocking", "max-buffer-size": "4m" },
      ),
      liveRestore: fc.boolean(),
      maxConcurrentDownloads: fc.integer({ min: 1, max: 50 }),
      labels: fc.dictionary(fc.stringMatching(/^[a-z][a-z.]{0,10}$/), fc.string({ maxLength: 10 })),
      extra: fc.constantFrom(
        {},
        { "userland-proxy": false },
        { runtimes: { nvidia: { path: "nvidia-container-runtime" } } },
      ),
    },
    { requiredKeys: [] },
  );

  it("always gives parseable JSON with no duplicate key, the mirrors in order, deterministically", () => {
    fc.assert(
      fc.property(fc.array(mirror, { maxLength: 5 }), settings, (mirrors, s) => {
        const { policy } = normalisePolicy({ registries: { "docker.io": { mirrors } } });
        // Random ranges are often public: those are refused unless allowed (tested on their own below).
        const out = renderDocker(policy, { ...s, allowPublicInsecureRegistries: true });
        const parsed = JSON.parse(out.daemonJson) as Record<string, unknown>;
        expect(duplicateKeys(out.daemonJson)).toEqual([]);
        expect(out.daemonJson.endsWith("}\n")).toBe(true);
        expect(Object.keys(parsed)).toEqual(Object.keys(parsed).sort());
        const expected = policy.registries[0].endpoints.map((e) => e.url);
        expect(parsed["registry-mirrors"]).toEqual(expected.length ? expected : undefined);
        for (const k of Object.keys(parsed)) expect(DOCKERD_KEYS[k]).toBeDefined();
        // Same input, with its keys inserted in reverse order: byte-identical output.
        const reversed = Object.fromEntries(Object.entries(s).reverse()) as DockerSettingsInput;
        expect(renderDocker(policy, { ...reversed, allowPublicInsecureRegistries: true }).daemonJson).toBe(
          out.daemonJson,
        );
      }),
    );
  });

  it("the duplicate-key checker does catch a duplicate", () => {
    expect(duplicateKeys('{"a": 1, "b": {"a": 2}, "a": 3}')).toEqual(["a"]);
  });
});

describe("renderDocker errors name the field, the value and the fix", () => {
  const cases: Array<[string, DockerSettingsInput | unknown, RegExp]> = [
    [
      "an invalid CIDR",
      { insecureRegistries: ["10.0.0.0/40"] },
      /docker\.insecureRegistries\[0\]: not a valid CIDR block \(got "10\.0\.0\.0\/40"\)\. Fix:/,
    ],
    [
      "an invalid host:port",
      { insecureRegistries: ["https://reg:5000"] },
      /docker\.insecureRegistries\[0\]: .*\(got "https:\/\/reg:5000"\)\. Fix:/,
    ],
    [
      "insecure registries not a list",
      { insecureRegistries: "10.0.0.0/8" },
      /docker\.insecureRegistries: must be a list .*Fix:/,
    ],
    [
      "an exec-opt without =",
      { execOpts: ["native.cgroupdriver"] },
      /docker\.execOpts\[0\]: expected key=value \(got "native\.cgroupdriver"\)\. Fix:/,
    ],
    [
      "an exec-opt without value",
      { execOpts: ["native.cgroupdriver="] },
      /docker\.execOpts\[0\]: an exec-opt needs a name and a value.*Fix:/,
    ],
    [
      "an unknown cgroup driver",
      { execOpts: ["native.cgroupdriver=system"] },
      /docker\.execOpts\[0\]: dockerd knows only .*\(got "native\.cgroupdriver=system"\)\. Fix: write "native\.cgroupdriver=systemd"/,
    ],
    [
      "a log-opt that is an object",
      { logOpts: { "max-size": { a: 1 } } },
      /docker\.logOpts\.max-size: must be a string .*Fix:/,
    ],
    ["log-opts not an object", { logOpts: ["max-size=1m"] }, /docker\.logOpts: must be an object .*Fix:/],
    ["an empty log driver", { logDriver: "" }, /docker\.logDriver: must be a non-empty string \(got ""\)\. Fix:/],
    ["a log driver with spaces", { logDriver: "json file" }, /docker\.logDriver: not a log driver name .*Fix:/],
    [
      "a relative data root",
      { dataRoot: "data/docker" },
      /docker\.dataRoot: must be an absolute path .*\(got "data\/docker"\)\. Fix:/,
    ],
    [
      "a zero download limit",
      { maxConcurrentDownloads: 0 },
      /docker\.maxConcurrentDownloads: must be a whole number from 1 to 1000 \(got 0\)\. Fix:/,
    ],
    ["a fractional MTU", { mtu: 1500.5 }, /docker\.mtu: must be a whole number from 68 to 65535 .*Fix:/],
    ["live-restore as text", { liveRestore: "yes" }, /docker\.liveRestore: must be true or false \(got "yes"\)\. Fix:/],
    ["a DNS server name", { dns: ["dns.google"] }, /docker\.dns\[0\]: not an IP address \(got "dns\.google"\)\. Fix:/],
    [
      "an address pool without CIDR",
      { defaultAddressPools: [{ base: "10.200.0.0", size: 24 }] },
      /docker\.defaultAddressPools\[0\]\.base: not a CIDR block .*Fix:/,
    ],
    [
      "an address pool size below its prefix",
      { defaultAddressPools: [{ base: "10.200.0.0/16", size: 8 }] },
      /docker\.defaultAddressPools\[0\]\.size: must be a whole number from 16 to 32 \(got 8\)\. Fix:/,
    ],
    [
      "an address pool with a typo",
      { defaultAddressPools: [{ base: "10.200.0.0/16", sise: 24 }] },
      /docker\.defaultAddressPools\[0\]\.sise: unknown field .*Fix:/,
    ],
    ["a bip without prefix", { bip: "172.26.0.1" }, /docker\.bip: must be an IPv4 address with prefix length .*Fix:/],
    [
      "an unknown log level",
      { logLevel: "verbose" },
      /docker\.logLevel: unknown log level \(got "verbose"\)\. Fix: use one of debug/,
    ],
    ["a label name with =", { labels: { "a=b": "c" } }, /docker\.labels: not a valid option name \(got "a=b"\)\. Fix:/],
    [
      "a feature that is not a boolean",
      { features: { buildkit: "on" } },
      /docker\.features\.buildkit: must be true or false .*Fix:/,
    ],
    [
      "an unknown ulimit",
      { defaultUlimits: { files: { soft: 1, hard: 2 } } },
      /docker\.defaultUlimits: unknown ulimit \(got "files"\)\. Fix: use one of core/,
    ],
    [
      "a soft ulimit above the hard one",
      { defaultUlimits: { nofile: { soft: 10, hard: 5 } } },
      /docker\.defaultUlimits\.nofile\.soft: the soft limit is above the hard limit \(5\) \(got 10\)\. Fix:/,
    ],
    [
      "a runtime name with a slash",
      { defaultRuntime: "/usr/bin/runc" },
      /docker\.defaultRuntime: not a runtime name .*Fix:/,
    ],
    [
      "a storage option without =",
      { storageOpts: ["overlay2.size"] },
      /docker\.storageOpts\[0\]: expected key=value .*Fix:/,
    ],
    [
      "an unknown settings field",
      { execOpt: ["x=y"] },
      /docker\.execOpt: unknown field \(got "execOpt"\)\. Fix: remove it, or use one of: insecureRegistries/,
    ],
    [
      "settings that are not an object",
      "native.cgroupdriver=systemd",
      /docker: Docker settings must be an object .*Fix:/,
    ],
    [
      "an unknown daemon key",
      { extra: { "registry-mirrorz": ["https://m.example"] } },
      /docker\.extra\["registry-mirrorz"\]: dockerd does not know this daemon\.json key and would refuse to start \(got "registry-mirrorz"\)\. Fix: .*closest known key is "registry-mirrors"/,
    ],
    [
      "a flag name as a key",
      { extra: { "insecure-registry": ["10.0.0.0/8"] } },
      /docker\.extra\["insecure-registry"\]: this is the name of dockerd's command-line flag: dockerd accepts it in daemon\.json but ignores it \(got "insecure-registry"\)\. Fix: write "insecure-registries"/,
    ],
    [
      "a camelCase daemon key",
      { extra: { liveRestore: true } },
      /docker\.extra\["liveRestore"\]: dockerd does not know .*closest known key is "live-restore"/,
    ],
    [
      "registry-mirrors in extra",
      { extra: { "registry-mirrors": [] } },
      /docker\.extra\["registry-mirrors"\]: the mirrors come from the mirror policy .*Fix: put Docker Hub mirrors in the policy/,
    ],
    [
      "a typed key in extra",
      { extra: { "log-driver": "local" } },
      /docker\.extra\["log-driver"\]: this key has a typed setting \(docker\.logDriver\) .*Fix: set docker\.logDriver instead/,
    ],
    [
      "an unknown nested proxy key",
      { extra: { proxies: { "ftp-proxy": "x" } } },
      /docker\.extra\["proxies"\]\.ftp-proxy: dockerd does not know this key .*Fix: use one of http-proxy, https-proxy, no-proxy/,
    ],
    ["a near-miss key", { extra: { mtu2: 1 } }, /closest known key is "mtu"/],
    [
      "a NaN in extra",
      { extra: { "network-control-plane-mtu": Number.NaN } },
      /docker\.extra\["network-control-plane-mtu"\]: must be a JSON value .*Fix:/,
    ],
    ["extra not an object", { extra: ["userland-proxy"] }, /docker\.extra: must be an object .*Fix:/],
  ];
  for (const [what, settings, message] of cases) {
    it(`refuses ${what}`, () => {
      const err = errorOf(() => renderDocker(hub([]), settings as DockerSettingsInput));
      expect(err.message).toMatch(message);
      expect(err.fix.length).toBeGreaterThan(5);
    });
  }

  it("parseKeyValue splits at the first = and refuses text without one", () => {
    expect(parseKeyValue("--log-opt", "labels=a=b")).toEqual(["labels", "a=b"]);
    expect(parseKeyValue("--log-opt", "max-size=")).toEqual(["max-size", ""]);
    expect(errorOf(() => parseKeyValue("--log-opt", "max-size")).message).toBe(
      '--log-opt: expected key=value (got "max-size"). Fix: write the option as key=value, e.g. "max-size=100m"',
    );
    expect(errorOf(() => parseKeyValue("--log-opt", "=100m")).field).toBe("--log-opt");
  });
});

describe("docker key tables", () => {
  it("every reloadable key is a known key", () => {
    for (const k of DOCKER_RELOADABLE_KEYS) expect(DOCKERD_KEYS[k]).toBeDefined();
  });

  it("every key with a reload-reset empty value is reloadable, and not one of those a reload resets when removed", () => {
    expect(Object.keys(DOCKER_RELOAD_EMPTY_VALUES).length).toBeGreaterThan(0);
    for (const k of Object.keys(DOCKER_RELOAD_EMPTY_VALUES)) {
      expect(DOCKER_RELOADABLE_KEYS).toContain(k);
      expect(DOCKER_RELOAD_RESETS_WHEN_REMOVED).not.toContain(k);
    }
  });

  it("suggests the closest key", () => {
    expect(closestDockerKey("insecure-registry")).toBe("insecure-registries");
    expect(closestDockerKey("log-opt")).toBe("log-opts");
  });
});

describe("renderDocker: public insecure ranges", () => {
  it("refuses a public range in insecureRegistries, naming the override, and keeps it with a warning when allowed", () => {
    expect(() => renderDocker(hub([]), { insecureRegistries: ["0.0.0.0/0"] })).toThrow(
      /^docker\.insecureRegistries\[0\]: the range covers public address space.*\(got "0\.0\.0\.0\/0"\)\. Fix: .*set docker\.allowPublicInsecureRegistries: true/,
    );
    const kept = renderDocker(hub([]), { insecureRegistries: ["0.0.0.0/0"], allowPublicInsecureRegistries: true });
    expect(JSON.parse(kept.daemonJson)["insecure-registries"]).toEqual(["0.0.0.0/0"]);
    expect(JSON.parse(kept.daemonJson)).not.toHaveProperty("allowPublicInsecureRegistries");
    expect(kept.warnings.join("\n")).toContain("kept because docker.allowPublicInsecureRegistries is set");
    expect(renderDocker(hub([]), { insecureRegistries: ["10.0.0.0/8", "192.168.0.0/16"] }).warnings).toEqual([]);
  });
});
