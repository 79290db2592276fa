import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { PolicyError } from "../../components/core/errors";
import { SPEGEL_CHART_VERSION } from "../../components/core/p2p";
import { type MockHandle, registered, setupMocks } from "./mocks";

let mocks: MockHandle;
let kubernetes: typeof import("../../components/kubernetes");
beforeAll(async () => {
  mocks = await setupMocks();
  kubernetes = await import("../../components/kubernetes");
});

const POLICY = {
  registries: {
    "docker.io": { mirrors: ["https://m1.example"] },
    "ghcr.io": { mirrors: [] },
  },
};

describe("Spegel release (mocks)", () => {
  it("creates one Helm release of the pinned chart with the policy's values over the user's", async () => {
    const { release, values } = kubernetes.createSpegelRelease("p2p", {
      policy: pulumi.output(POLICY),
      values: {
        resources: { limits: { memory: "256Mi" } },
        spegel: { logLevel: "DEBUG", prependExisting: false, mirroredRegistries: ["https://quay.io"] },
      },
    });
    await registered(release);
    await mocks.settle();
    const recorded = mocks.ofType("kubernetes:helm.sh/v3:Release").filter((r) => r.name === "p2p-spegel");
    expect(recorded).toHaveLength(1);
    const inputs = recorded[0].inputs;
    expect(inputs.chart).toBe("oci://ghcr.io/spegel-org/helm-charts/spegel");
    expect(inputs.version).toBe(SPEGEL_CHART_VERSION);
    expect(inputs.namespace).toBe("spegel");
    expect(inputs.createNamespace).toBe(true);
    const expected = {
      resources: { limits: { memory: "256Mi" } },
      spegel: {
        logLevel: "DEBUG",
        mirroredRegistries: ["https://docker.io", "https://ghcr.io"],
        additionalMirrorTargets: [],
        containerdRegistryConfigPath: "/etc/containerd/certs.d",
        containerdMirrorAdd: true,
        prependExisting: true,
        resolveTags: true,
      },
    };
    expect(inputs.values).toEqual(expected);
    expect(await new Promise((r) => values.apply(r))).toEqual(expected);
  });

  it("refuses a known bad policy at once, not inside an apply", () => {
    expect(() =>
      kubernetes.createSpegelRelease("bad", {
        policy: { registries: { "docker.io": { mirrors: ["https://m.example"], upstreamFallback: false } } },
      }),
    ).toThrow(PolicyError);
    expect(mocks.resources.filter((r) => r.name === "bad-spegel")).toEqual([]);
  });
});
