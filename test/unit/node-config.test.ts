import { describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { nodeConfigUserData, renderNodeConfig, resolvePolicyInput } from "../../components/core/render/node-config";
import { fitUserData, renderCloudConfig, USER_DATA_LIMITS, userDataFiles } from "../../components/core/userdata";
import { gunzipSync } from "node:zlib";
import { RUNTIME_NAMES } from "../../components/core/render/types";
import { errorOf } from "./policy-error";

describe("renderNodeConfig", () => {
  it("refuses a Docker-only target whose policy has no Docker Hub mirror", () => {
    const err = errorOf(() =>
      renderNodeConfig({
        policy: { registries: { "*": { mirrors: ["https://any.example.com"] } } },
        runtimes: ["docker"],
      }),
    );
    expect(err.field).toBe("runtimes");
    expect(err.message).toContain("Docker reads mirrors for Docker Hub only");
    expect(err.message).toContain('"*" is not a Docker Hub mirror');
    expect(err.message).toContain('add "containerd"');
  });

  it("warns a Docker-only target that Docker ignores the other registries' mirrors", () => {
    const { warnings, daemonJson } = renderNodeConfig({
      policy: {
        registries: {
          "docker.io": { mirrors: ["https://hub.example.com"] },
          "ghcr.io": { mirrors: ["https://ghcr-mirror.example.com"] },
        },
      },
      runtimes: ["docker"],
    });
    expect(JSON.parse(daemonJson!)["registry-mirrors"]).toEqual(["https://hub.example.com"]);
    expect(warnings.some((w) => w.includes("Docker Hub only") && w.includes("ghcr.io"))).toBe(true);
  });

  it("does not repeat that warning when another runtime uses those mirrors", () => {
    const { warnings, containerdHosts } = renderNodeConfig({
      policy: {
        registries: {
          "docker.io": { mirrors: ["https://hub.example.com"] },
          "ghcr.io": { mirrors: ["https://ghcr-mirror.example.com"] },
        },
      },
    });
    expect(warnings.filter((w) => w.includes("Docker Hub only"))).toEqual([]);
    expect(Object.keys(containerdHosts)).toEqual([
      "/etc/containerd/certs.d/docker.io/hosts.toml",
      "/etc/containerd/certs.d/ghcr.io/hosts.toml",
    ]);
  });

  it.each([
    [{ mirrors: ["https://a.example.com"], runtimes: [] }, "runtimes", "non-empty"],
    [{ mirrors: ["https://a.example.com"], runtimes: ["lxc"] }, "runtimes", "unknown runtime"],
    [{ mirrors: ["https://a.example.com"], restartPolicy: "always" }, "restartPolicy", "if-needed"],
    [{}, "mirrors", "no mirrors given"],
    [
      { mirrors: ["https://a.example.com"], runtimes: ["containerd"], docker: { liveRestore: true } },
      "docker",
      "docker is not in runtimes",
    ],
  ])("refuses %j naming %s", (input, field, text) => {
    const err = errorOf(() => renderNodeConfig(input as never));
    expect(err.field).toBe(field);
    expect(err.message).toContain(text);
  });

  it.each(["index.docker.io", "Registry.Hub.Docker.com"])(
    "refuses Docker Hub mirrors given both as mirrors and in the policy (as %s)",
    (name) => {
      const err = errorOf(() =>
        resolvePolicyInput(["https://a.example.com"], {
          registries: { [name]: { mirrors: ["https://b.example.com"] } },
        }),
      );
      expect(err.message).toContain("one place only");
    },
  );

  it("keeps user data within EC2's limit for every runtime combination (as cloud-init's gzipped document where the readable forms are over), carrying the script intact", () => {
    fc.assert(
      fc.property(fc.subarray([...RUNTIME_NAMES], { minLength: 1 }), (runtimes) => {
        const registries = {
          "docker.io": { mirrors: ["https://hub-1.example.com", "https://hub-2.example.com"] },
          "ghcr.io": { mirrors: ["https://ghcr-mirror.example.com"] },
          "quay.io": { mirrors: ["https://quay-mirror.example.com"] },
        };
        const rendered = renderNodeConfig({ policy: { registries }, runtimes });
        const userData = nodeConfigUserData(rendered)!;
        expect(userDataFiles(userData).map((f) => f.content)).toEqual([rendered.applyScript]);
        const fitted = Buffer.from(
          fitUserData("ec2", "auto", (compress) => renderCloudConfig({ applyScript: rendered.applyScript, compress }), {
            gzipReader: true,
          }),
          "base64",
        );
        expect(fitted.length).toBeLessThanOrEqual(USER_DATA_LIMITS.ec2.bytes);
        const text = fitted[0] === 0x1f ? gunzipSync(fitted).toString("utf8") : fitted.toString("utf8");
        expect(userDataFiles(text).map((f) => f.content)).toEqual([rendered.applyScript]);
        // Same input, same bytes: a preview shows no diff unless a node file changes.
        expect(renderNodeConfig({ policy: { registries }, runtimes })).toEqual(rendered);
      }),
      { numRuns: 20 },
    );
  });
});
