import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { gunzipSync } from "node:zlib";
import { parse as parseYaml } from "yaml";
import { isSecretInput, type MockHandle, plain, registered, setupMocks, unwrap } from "./mocks";
import { MirrorDaemonConfig } from "../../components/mirror-daemon-config";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { DEFAULT_APPLY_SCRIPT_PATH, USER_DATA_LIMITS, userDataFiles } from "../../components/core/userdata";

let mocks: MockHandle;
beforeAll(async () => {
  mocks = await setupMocks();
});

describe("MirrorDaemonConfig", () => {
  it("renders the seed's daemon.json, apply script and user data from plain inputs", async () => {
    const config = new MirrorDaemonConfig("seed", {
      mirrors: ["https://a1b2c3.mirror.aliyuncs.com"],
      docker: { execOpts: ["native.cgroupdriver=systemd"], logDriver: "json-file", logOpts: { "max-size": "100m" } },
    });
    await registered(config);
    const daemon = JSON.parse((await unwrap(config.daemonJson))!);
    expect(daemon["registry-mirrors"]).toEqual(["https://a1b2c3.mirror.aliyuncs.com"]);
    expect(daemon["exec-opts"]).toEqual(["native.cgroupdriver=systemd"]);

    const script = await unwrap(config.applyScript);
    expect(script.startsWith("#!/bin/sh")).toBe(true);

    const userData = (await unwrap(config.userData))!;
    expect(parseYaml(userData).runcmd).toBeDefined();
    // The script is carried compressed when the readable form would not fit EC2's 16 KB; either way it arrives intact.
    expect(Buffer.byteLength(userData)).toBeLessThanOrEqual(USER_DATA_LIMITS.ec2.bytes);
    expect(userDataFiles(userData)).toEqual([{ path: DEFAULT_APPLY_SCRIPT_PATH, content: script, mode: 0o700 }]);
    expect(Buffer.from((await unwrap(config.userDataBase64))!, "base64").toString()).toBe(userData);
    expect(gunzipSync(Buffer.from((await unwrap(config.userDataGzipBase64))!, "base64")).toString()).toBe(userData);
    expect(Object.keys(await unwrap(config.containerdHosts))).toEqual(["/etc/containerd/certs.d/docker.io/hosts.toml"]);

    const component = mocks.resources.find(
      (r) => r.type === "registry-mirrors:index:MirrorDaemonConfig" && r.name === "seed",
    );
    expect(component?.custom).toBe(false);
    // Without kubernetes arguments it delivers nothing by itself: no child resources.
    expect(mocks.resources.filter((r) => r.custom)).toEqual([]);
  });

  it("watchdog: the script carries its plan, and with kubernetes the DaemonSet runs `watch`", async () => {
    const args = { mirrors: ["https://hub.example.com"], watchdog: { intervalSeconds: 10 } };
    const config = new MirrorDaemonConfig("watched", { ...args, kubernetes: {} });
    await registered(config);
    const script = await unwrap(config.applyScript);
    expect(script).toBe(renderNodeConfig(args).applyScript);
    expect(script).toMatch(/^ {2}watch_plan <<'/m);
    expect(script).toContain('"intervalSeconds":10');
    await mocks.settle();
    const daemonSet = mocks.resources.find(
      (r) => r.type === "kubernetes:apps/v1:DaemonSet" && r.name === "watched-node-config",
    );
    const pod = daemonSet?.inputs.spec.template.spec;
    expect(pod.containers.map((c: { name: string }) => c.name)).toEqual(["watchdog"]);
    expect(pod.containers[0].command).toEqual(["sh", "/config/apply-node-config.sh", "watch"]);
    expect(renderNodeConfig({ mirrors: args.mirrors }).applyScript).not.toMatch(/^ {2}watch_plan <<'/m);
  });

  it("gives the same outputs as the pure core, for Output inputs too", async () => {
    const args = {
      policy: {
        registries: {
          "ghcr.io": { mirrors: ["https://ghcr-mirror.example.com"] },
          "docker.io": { mirrors: ["https://hub.example.com"] },
        },
      },
      runtimes: ["docker" as const, "containerd" as const, "crio" as const],
    };
    const expected = renderNodeConfig(args);
    const config = new MirrorDaemonConfig("outputs", {
      policy: pulumi.output(args.policy),
      runtimes: pulumi.output(args.runtimes),
    });
    expect(await unwrap(config.applyScript)).toBe(expected.applyScript);
    expect(await unwrap(config.files)).toEqual(expected.files);
    expect(await unwrap(config.checksum)).toBe(expected.checksum);
  });

  it("throws from the constructor, naming the field, when a known input is invalid", () => {
    expect(() => new MirrorDaemonConfig("bad", { mirrors: ["mirror.example.com"] })).toThrow(
      /mirrors\[0\].*no scheme.*Fix: write the scheme out/,
    );
    expect(
      () =>
        new MirrorDaemonConfig("bad-key", {
          mirrors: ["https://m.example.com"],
          docker: { extra: { "registry-mirror": ["x"] } },
        }),
    ).toThrow(/registry-mirror/);
  });

  it("marks files that hold a mirror header secret and keeps them out of user data", async () => {
    const config = new MirrorDaemonConfig("headers", {
      policy: {
        registries: {
          "ghcr.io": {
            mirrors: [{ url: "https://ghcr-mirror.example.com", headers: { Authorization: "Bearer s3cret" } }],
          },
        },
      },
      runtimes: ["containerd"],
    });
    expect(await unwrap(pulumi.isSecret(config.applyScript))).toBe(true);
    expect(await unwrap(pulumi.isSecret(config.files))).toBe(true);
    expect(await unwrap(config.userData)).toBeUndefined();
    expect(await unwrap(config.userDataBase64)).toBeUndefined();
  });

  it("changes no output when the same inputs are given again (no spurious preview diff)", async () => {
    const make = (n: string) =>
      new MirrorDaemonConfig(n, {
        mirrors: ["https://b.example.com", "https://a.example.com"],
        docker: { liveRestore: true, logOpts: { "max-size": "10m", "max-file": "3" } },
      });
    const [a, b] = [make("same-a"), make("same-b")];
    expect(await unwrap(a.applyScript)).toBe(await unwrap(b.applyScript));
    expect(await unwrap(a.userData)).toBe(await unwrap(b.userData));
  });
});

describe("MirrorDaemonConfig's recorded inputs", () => {
  it("are the node files, so a preview diff shows their changed lines; a file holding a credential stays secret", async () => {
    const policy = { registries: { "docker.io": { mirrors: ["https://hub.example.com"] } } };
    const config = new MirrorDaemonConfig("inputs-plain", { policy });
    await registered(config);
    const plainComponent = mocks.resources.find((r) => r.name === "inputs-plain" && !r.custom);
    expect(isSecretInput(plainComponent?.inputs.nodeFiles)).toBe(false);
    expect(plainComponent?.inputs.nodeFiles).toEqual(renderNodeConfig({ policy }).files);

    const withHeader = {
      registries: {
        "docker.io": { mirrors: [{ url: "https://hub.example.com", headers: { Authorization: "Bearer s3cr3t" } }] },
      },
    };
    const secretConfig = new MirrorDaemonConfig("inputs-secret", { policy: withHeader, runtimes: ["containerd"] });
    await registered(secretConfig);
    const secretComponent = mocks.resources.find((r) => r.name === "inputs-secret" && !r.custom);
    expect(isSecretInput(secretComponent?.inputs.nodeFiles)).toBe(true);
    expect(JSON.stringify(plain(secretComponent?.inputs.nodeFiles))).toContain("s3cr3t");
  });
});
