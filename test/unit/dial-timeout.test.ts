import { describe, expect, it } from "vitest";
import { parse as parseToml } from "smol-toml";
import { normalisePolicy } from "../../components/core/policy";
import { DEFAULT_CONTAINERD_DIAL_TIMEOUT, renderContainerdHosts } from "../../components/core/render/containerd";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { buildWatchPlan } from "../../components/core/watch-plan";
import { expectPolicyError } from "./policy-error";

const INPUT = {
  registries: {
    "docker.io": { mirrors: ["https://m1.example.com", { url: "https://m2.example.com", dialTimeout: "800ms" }] },
    "ghcr.io": { mirrors: ["https://g1.example.com", "https://g2.example.com"], upstreamFallback: false },
  },
};
const { policy } = normalisePolicy(INPUT);

function docs(dialTimeout?: string | false): Record<string, any> {
  const files = renderContainerdHosts(policy, dialTimeout === undefined ? {} : { dialTimeout });
  return Object.fromEntries(files.map((f) => [f.path.split("/").at(-2), parseToml(f.content)]));
}

describe("containerd dial_timeout", () => {
  it("every mirror gets the default unless it sets its own; the last resort (server) only its own", () => {
    expect(DEFAULT_CONTAINERD_DIAL_TIMEOUT).toBe("5s");
    const d = docs();
    expect(d["docker.io"].host["https://m1.example.com"].dial_timeout).toBe("5s");
    expect(d["docker.io"].host["https://m2.example.com"].dial_timeout).toBe("800ms");
    expect(d["docker.io"].dial_timeout).toBeUndefined();
    expect(d["ghcr.io"].host["https://g1.example.com"].dial_timeout).toBe("5s");
    expect(d["ghcr.io"].server).toBe("https://g2.example.com");
    expect(d["ghcr.io"].dial_timeout).toBeUndefined();
  });

  it("is settable, and false renders none (containerd's own 30 s)", () => {
    expect(docs("2s")["docker.io"].host["https://m1.example.com"].dial_timeout).toBe("2s");
    const off = docs(false);
    expect(off["docker.io"].host["https://m1.example.com"].dial_timeout).toBeUndefined();
    expect(off["docker.io"].host["https://m2.example.com"].dial_timeout).toBe("800ms");
  });

  it.each([["3 seconds"], ["0s"], ["0.0ms"], [""]])("refuses %j naming the option and the fix", (value) => {
    expectPolicyError(
      () => renderContainerdHosts(policy, { dialTimeout: value }),
      "containerd.dialTimeout",
      JSON.stringify(value),
      "5s",
    );
  });

  it("reaches the node files through runtimeOptions, and the watchdog plan still cuts them into tables", () => {
    for (const dialTimeout of [undefined, "2s", false] as const) {
      const out = renderNodeConfig({
        policy: INPUT,
        runtimes: ["containerd"],
        runtimeOptions: { containerd: dialTimeout === undefined ? {} : { dialTimeout } },
        watchdog: true,
      });
      const hosts = out.files["/etc/containerd/certs.d/docker.io/hosts.toml"];
      expect(hosts.includes(`dial_timeout = "${dialTimeout ?? "5s"}"`)).toBe(dialTimeout !== false);
      const plan = buildWatchPlan({ policy, files: out.files, containerdDialTimeout: dialTimeout });
      expect(plan.files.map((f) => f.path)).toEqual([
        "/etc/containerd/certs.d/docker.io/hosts.toml",
        "/etc/containerd/certs.d/ghcr.io/hosts.toml",
      ]);
    }
  });
});
