/**
 * Outputs wherever a user passes a value: the components resolve them and render the same node files as from plain
 * values; a credential given as a secret stays secret (a Secret, never a ConfigMap or a plain input), and a secret
 * that is not a credential (a mirror URL from an ESC environment) is not taken for one.
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import {
  isSecretInput,
  leakedCredentials,
  type MockHandle,
  plain,
  type RecordedResource,
  setupMocks,
  unwrap,
} from "./mocks";
import { MirrorDaemonConfig, type MirrorDaemonConfigArgs } from "../../components/mirror-daemon-config";
import { RegistryCredentialSecret } from "../../components/registry-credential-secret";
import { launchTemplateUserData } from "../../components/aws/userdata";
import { PolicyError } from "../../components/core/errors";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { RUNTIME_NAMES, type RuntimeName } from "../../components/core/render/types";

let mocks: MockHandle;
beforeAll(async () => {
  mocks = await setupMocks();
});
beforeEach(() => mocks.reset());

const CONFIG = "registry-mirrors:index:MirrorDaemonConfig";
const DAEMON_SET = "kubernetes:apps/v1:DaemonSet";
const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";
const K8S_SECRET = "kubernetes:core/v1:Secret";

/** Waits until the component and the children it creates have reached the mock engine. */
async function built(config: MirrorDaemonConfig): Promise<RecordedResource[]> {
  await unwrap(config.urn);
  await unwrap(config.checksum);
  for (let i = 0; i < 5; i++) await mocks.settle();
  return mocks.resources;
}

const TOKEN = "Bearer hdr-T0ken-4e1f";
const K3S_PASSWORD = "k3s-Pa55-9d2c";

describe("MirrorDaemonConfig takes Outputs inside the policy", () => {
  it("renders the same node files from Outputs as from plain values", async () => {
    const plainArgs = {
      policy: {
        registries: {
          "docker.io": { mirrors: ["https://hub.example.com"] },
          "ghcr.io": {
            mirrors: [{ url: "https://ghcr.example.com", dialTimeout: "3s", capabilities: ["pull" as const] }],
            upstreamFallback: false,
          },
        },
      },
      runtimes: ["docker" as const, "containerd" as const],
    };
    const config = new MirrorDaemonConfig("outputs", {
      policy: {
        registries: pulumi.output({
          "docker.io": { mirrors: [pulumi.output("https://hub.example.com")] },
          "ghcr.io": pulumi.output({
            mirrors: pulumi.output([
              {
                url: pulumi.output("https://ghcr.example.com"),
                dialTimeout: "3s",
                capabilities: [pulumi.output("pull")],
              },
            ]),
            upstreamFallback: pulumi.output(false),
          }),
        }),
      },
      runtimes: pulumi.output(["docker", "containerd"]),
    } as MirrorDaemonConfigArgs);
    expect(await unwrap(config.applyScript)).toBe(renderNodeConfig(plainArgs).applyScript);
    expect(await pulumi.isSecret(config.applyScript)).toBe(false);
  });

  it("checks the known registries of a policy that also holds Outputs at construction, with the full check's text", () => {
    const dead = "https://registry.docker-cn.com";
    let full: unknown;
    try {
      renderNodeConfig({
        policy: { registries: { "docker.io": { mirrors: [dead] }, "ghcr.io": { mirrors: ["https://g.example.com"] } } },
      });
    } catch (error) {
      full = error;
    }
    expect(full).toBeInstanceOf(PolicyError);
    expect(
      () =>
        new MirrorDaemonConfig("partial", {
          policy: {
            registries: {
              "docker.io": { mirrors: [dead] },
              "ghcr.io": { mirrors: [pulumi.output("https://g.example.com")] },
            },
          },
        }),
    ).toThrow((full as Error).message);
    // An override that is an Output lets the known part through: the full check decides when it resolves.
    expect(
      () =>
        new MirrorDaemonConfig("partial-override", {
          policy: { registries: { "docker.io": { mirrors: [dead] } }, allowDeprecatedMirrors: pulumi.output(true) },
        }),
    ).not.toThrow();
  });

  it("keeps a credential header given as a secret Output secret: the script, the files and the component's inputs", async () => {
    const config = new MirrorDaemonConfig("header", {
      policy: {
        registries: {
          "docker.io": {
            mirrors: [{ url: "https://hub.example.com", headers: { Authorization: pulumi.secret(TOKEN) } }],
          },
        },
      },
      runtimes: ["containerd"],
      kubernetes: {},
    });
    const resources = await built(config);
    expect(await pulumi.isSecret(config.applyScript)).toBe(true);
    expect(await pulumi.isSecret(config.files)).toBe(true);
    expect(await unwrap(config.applyScript)).toContain(TOKEN);
    const component = resources.find((r) => r.type === CONFIG && r.name === "header");
    expect(isSecretInput(component?.inputs.nodeFiles)).toBe(true);
    // Computed from Outputs: nothing could tell in advance that it holds no credential, so a Secret, no ConfigMap.
    expect(resources.filter((r) => r.type === CONFIG_MAP)).toEqual([]);
    expect(isSecretInput(resources.find((r) => r.type === K8S_SECRET)?.inputs.stringData)).toBe(true);
    expect(leakedCredentials(resources, [TOKEN])).toEqual([]);
  });

  it("does not take a secret mirror URL (e.g. from an ESC environment) for a credential", async () => {
    const url = pulumi.secret("https://hub.mirror.internal.example.com");
    const config = new MirrorDaemonConfig("esc-url", { mirrors: [url] });
    expect(await pulumi.isSecret(config.applyScript)).toBe(false);
    // So the user-data helpers, which refuse a script holding a credential, take it.
    const userData = await unwrap(launchTemplateUserData({ applyScript: config.applyScript }));
    expect(Buffer.from(userData, "base64").toString("utf8")).toContain("#cloud-config");
    const files = await unwrap(config.files);
    expect(files["/etc/containerd/certs.d/docker.io/hosts.toml"]).toContain("https://hub.mirror.internal.example.com");
  });

  it("keeps k3s/RKE2 auth given as secret Outputs secret", async () => {
    for (const runtime of ["k3s", "rke2"] as const) {
      const config = new MirrorDaemonConfig(`auth-${runtime}`, {
        mirrors: ["https://hub.example.com"],
        runtimes: [runtime],
        runtimeOptions: {
          k3s: pulumi.output({
            auth: { "hub.example.com": { username: pulumi.output("puller"), password: pulumi.secret(K3S_PASSWORD) } },
          }),
        },
      });
      expect(await pulumi.isSecret(config.applyScript)).toBe(true);
      expect(await unwrap(config.applyScript)).toContain(K3S_PASSWORD);
    }
  });
});

describe("credentials never in a ConfigMap", () => {
  it("a ConfigMap only when the node files are known and hold no credential; a Secret otherwise", async () => {
    const open = await built(new MirrorDaemonConfig("open", { mirrors: ["https://hub.example.com"], kubernetes: {} }));
    const [configMap] = open.filter((r) => r.type === CONFIG_MAP);
    expect(() => new ConfigMap(configMap.inputs as never).validate()).not.toThrow();
    expect(open.filter((r) => r.type === K8S_SECRET)).toEqual([]);

    mocks.reset();
    const closed = await built(
      new MirrorDaemonConfig("closed", {
        policy: {
          registries: { "docker.io": { mirrors: [{ url: "https://hub.example.com", headers: { "X-Key": "k" } }] } },
        },
        runtimes: ["containerd"],
        kubernetes: {},
      }),
    );
    expect(closed.filter((r) => r.type === CONFIG_MAP)).toEqual([]);
    const [secret] = closed.filter((r) => r.type === K8S_SECRET);
    expect(isSecretInput(secret.inputs.stringData)).toBe(true);
    expect(() =>
      new Secret({ ...secret.inputs, stringData: plain(secret.inputs.stringData) } as never).validate(),
    ).not.toThrow();
    const [daemonSet] = closed.filter((r) => r.type === DAEMON_SET);
    expect(daemonSet.inputs.spec.template.spec.volumes[0].secret.secretName).toBe(secret.inputs.metadata.name);
  });

  it("refuses scriptInSecret: false for node files that hold a credential, before creating anything", () => {
    expect(
      () =>
        new MirrorDaemonConfig("refused", {
          runtimes: ["k3s"],
          mirrors: ["https://hub.example.com"],
          runtimeOptions: { k3s: { auth: { "hub.example.com": { username: "u", password: "p" } } } },
          kubernetes: { scriptInSecret: false },
        }),
    ).toThrow(PolicyError);
    expect(mocks.resources.filter((r) => r.custom)).toEqual([]);
  });

  // Each runtime with the credential it can carry: mirror headers (Docker drops them with a warning, containerd
  // writes them), k3s/RKE2 auth; the runtimes that have no place for a credential run beside k3s with auth.
  const cases = RUNTIME_NAMES.map((runtime): [RuntimeName, RuntimeName[]] => [
    runtime,
    ["docker", "containerd", "k3s", "rke2"].includes(runtime) ? [runtime] : [runtime, "k3s"],
  ]);
  it.each(cases)("no credential byte reaches a non-secret resource input: %s", async (runtime, runtimes) => {
    const headers = runtime === "docker" || runtime === "containerd";
    for (const outputs of [false, true]) {
      mocks.reset();
      const wrap = <T>(v: T) => (outputs ? pulumi.secret(v) : v);
      const endpoint = headers
        ? { url: "https://hub.example.com", headers: { Authorization: wrap(TOKEN) } }
        : "https://hub.example.com";
      const config = new MirrorDaemonConfig(`scan-${runtime}-${outputs}`, {
        policy: { registries: { "docker.io": { mirrors: [endpoint] } } },
        runtimes,
        runtimeOptions: headers
          ? undefined
          : { k3s: { auth: { "hub.example.com": { username: "puller", password: wrap(K3S_PASSWORD) } } } },
        kubernetes: {},
      });
      const resources = await built(config);
      if (runtime === "containerd") expect(await unwrap(config.applyScript)).toContain(TOKEN);
      if (!headers) expect(await unwrap(config.applyScript)).toContain(K3S_PASSWORD);
      expect(resources.filter((r) => r.type === DAEMON_SET)).toHaveLength(1);
      expect(resources.filter((r) => r.type === CONFIG_MAP)).toEqual([]);
      expect(leakedCredentials(resources, [TOKEN, K3S_PASSWORD])).toEqual([]);
    }
  });

  it("the scan finds a credential in a plain or base64 input (it can fail)", () => {
    const leaky = (inputs: Record<string, unknown>): RecordedResource[] => [
      { type: "t", name: "n", custom: true, inputs },
    ];
    expect(leakedCredentials(leaky({ a: { b: ["x", TOKEN] } }), [TOKEN])).toEqual([TOKEN]);
    expect(leakedCredentials(leaky({ d: Buffer.from(`u:${TOKEN}`).toString("base64") }), [TOKEN])).toEqual([TOKEN]);
    expect(leakedCredentials(leaky({ ok: "x" }), [TOKEN])).toEqual([]);
  });
});

describe("RegistryCredentialSecret takes Outputs", () => {
  it("namespaces and the registries map as Outputs", async () => {
    const component = new RegistryCredentialSecret("outputs", {
      registries: pulumi.output({ "ghcr.io": { username: "bot", password: pulumi.secret("ghp_0utput") } }),
      namespaces: ["default", pulumi.output("apps")],
      secretName: "ghcr-pull",
    });
    expect(await unwrap(component.namespaces)).toEqual(["default", "apps"]);
    await Promise.all(component.secrets.map((s) => unwrap(s.urn)));
    await mocks.settle();
    const secrets = mocks.ofType(K8S_SECRET);
    expect(secrets.map((s) => [s.name, s.inputs.metadata.namespace])).toEqual([
      ["outputs-default", "default"],
      ["outputs-ns1", "apps"],
    ]);
    expect(secrets.every((s) => isSecretInput(s.inputs.data))).toBe(true);
    expect(leakedCredentials(mocks.resources, ["ghp_0utput"])).toEqual([]);
  });
});
