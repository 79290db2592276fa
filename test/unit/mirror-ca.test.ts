/**
 * A mirror's CA in the policy (`ca`, PEM text): parsed with X509Certificate, refused with field/value/fix when it does
 * not parse, rendered as the node files each runtime reads, and put back to the node's own state by `restore`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { normalisePolicy, parseCaBundle } from "../../components/core/policy";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { buildWatchPlan } from "../../components/core/watch-plan";
import { cleanupNodes, FakeNode } from "../support/apply-harness";
import { expectPolicyError } from "./policy-error";

const fixture = (name: string) => readFileSync(join(__dirname, "..", "support", "ca", name), "utf8");
const CA = fixture("ca.pem");
const CA2 = fixture("ca2.pem");
const LEAF = fixture("leaf.pem");
const MIRROR = "https://10.96.0.50:5000";
const FIELD = 'policy.registries["docker.io"].mirrors[0]';

function policyWith(endpoint: Record<string, unknown>, registry = "docker.io") {
  return { registries: { [registry]: { mirrors: [{ url: MIRROR, ...endpoint }] } } };
}

afterAll(cleanupNodes);

describe("ca: the CA's PEM text", () => {
  it("is kept as its certificate blocks, ending in one newline (CRLF and surrounding space dropped)", () => {
    const messy = `\n\n${CA.trim().replace(/\n/g, "\r\n")}\r\n  \n`;
    const { policy } = normalisePolicy(policyWith({ ca: messy }));
    expect(policy.registries[0].endpoints[0].ca).toBe(CA);
    expect(parseCaBundle("ca", `${CA}\n${CA2}`)).toBe(`${CA}${CA2}`);
  });

  it("refuses a PEM block that does not parse, naming the field, the value and the fix", () => {
    const broken = CA.replace(/\n[A-Za-z0-9+/]{20}/, "\n!!!!");
    const err = expectPolicyError(
      () => normalisePolicy(policyWith({ ca: broken })),
      `${FIELD}.ca`,
      "-----BEGIN CERTIFICATE-----",
      "give the PEM text of the CA",
    );
    expect(err.message).toContain("does not parse as X.509");
  });

  it("refuses text that is not PEM, a key beside the certificate, and a leaf certificate", () => {
    expectPolicyError(
      () => normalisePolicy(policyWith({ ca: "/etc/pki/ca.pem" })),
      `${FIELD}.ca`,
      "/etc/pki/ca.pem",
      "for a CA file already on the node use caFile",
    );
    const withKey = `${CA}-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n`;
    expect(() => normalisePolicy(policyWith({ ca: withKey }))).toThrow(/text outside the PEM CERTIFICATE blocks/);
    expectPolicyError(
      () => normalisePolicy(policyWith({ ca: LEAF })),
      `${FIELD}.ca`,
      "mirror.example.com",
      "give the CA that issued the mirror's certificate",
    );
  });

  it("refuses ca with caFile, on a plain-HTTP mirror, and with insecure", () => {
    expectPolicyError(
      () => normalisePolicy(policyWith({ ca: CA, caFile: "/etc/pki/ca.pem" })),
      `${FIELD}.caFile`,
      "/etc/pki/ca.pem",
      "keep one",
    );
    expectPolicyError(
      () => normalisePolicy({ registries: { "docker.io": { mirrors: [{ url: "http://10.96.0.50:5000", ca: CA }] } } }),
      `${FIELD}.ca`,
      "http://10.96.0.50:5000",
      "https:// URL",
    );
    expectPolicyError(
      () => normalisePolicy(policyWith({ ca: CA, insecure: true })),
      `${FIELD}.insecure`,
      "true",
      "remove insecure",
    );
  });
});

describe("ca: the node files", { timeout: 60_000 }, () => {
  it("lands where containerd (hosts.toml ca), Docker and CRI-O/podman read it", () => {
    const r = renderNodeConfig({ policy: policyWith({ ca: CA }), runtimes: ["docker", "containerd", "crio"] });
    const caPath = "/etc/containerd/certs.d/docker.io/10.96.0.50:5000.crt";
    expect(r.files[caPath]).toBe(CA);
    expect(r.files["/etc/docker/certs.d/10.96.0.50:5000/ca.crt"]).toBe(CA);
    expect(r.files["/etc/containers/certs.d/10.96.0.50:5000/ca.crt"]).toBe(CA);
    expect(r.files["/etc/containerd/certs.d/docker.io/hosts.toml"]).toContain(
      `[host."${MIRROR}"]\ncapabilities = [ "pull", "resolve" ]\nca = "${caPath}"\n`,
    );
    // Neither the Docker caFile warning nor the CRI-O caFile refusal: the file is delivered.
    expect(r.warnings).toEqual([]);
  });

  it("follows containerd's certsDir and writes only the selected runtimes' copies", () => {
    const r = renderNodeConfig({
      policy: policyWith({ ca: CA }, "ghcr.io"),
      runtimes: ["containerd"],
      runtimeOptions: { containerd: { certsDir: "/etc/containerd/hosts" } },
    });
    expect(Object.keys(r.files)).toEqual([
      "/etc/containerd/hosts/ghcr.io/10.96.0.50:5000.crt",
      "/etc/containerd/hosts/ghcr.io/hosts.toml",
    ]);
  });

  it("refuses two CAs for one host, and runtimes it cannot deliver a CA to", () => {
    const two = {
      registries: {
        "docker.io": { mirrors: [{ url: MIRROR, ca: CA }] },
        "ghcr.io": { mirrors: [{ url: MIRROR, ca: CA2 }] },
      },
    };
    expectPolicyError(
      () => renderNodeConfig({ policy: two, runtimes: ["containerd"] }),
      'policy.registries["ghcr.io"].mirrors[0].ca',
      "10.96.0.50:5000",
      "the same ca",
    );
    expectPolicyError(
      () => renderNodeConfig({ policy: policyWith({ ca: CA }), runtimes: ["containerd", "k3s"] }),
      `${FIELD}.ca`,
      MIRROR,
      "give its path as caFile, or leave k3s out of runtimes",
    );
  });

  it("gives the watchdog's probe of that mirror the delivered CA file, and its hosts.toml stays droppable", () => {
    const r = renderNodeConfig({
      policy: { registries: { "docker.io": { mirrors: [{ url: MIRROR, ca: CA }, "https://m2.example"] } } },
      runtimes: ["containerd"],
      runtimeOptions: { containerd: { certsDir: "/etc/containerd/hosts" } },
    });
    const plan = buildWatchPlan({ policy: r.policy, files: r.files });
    const probe = plan.endpoints.find((e) => e.url === MIRROR);
    expect(probe?.caFile).toBe("/etc/containerd/hosts/docker.io/10.96.0.50:5000.crt");
    expect(plan.files.find((f) => f.path === "/etc/containerd/hosts/docker.io/hosts.toml")?.endpoints).toEqual([
      MIRROR,
      "https://m2.example",
    ]);
  });

  it("is written by apply (the node's own ca.crt backed up) and put back by restore", () => {
    const r = renderNodeConfig({ policy: policyWith({ ca: CA }), runtimes: ["docker", "containerd"] });
    const node = new FakeNode();
    const dockerCa = "/etc/docker/certs.d/10.96.0.50:5000/ca.crt";
    const containerdCa = "/etc/containerd/certs.d/docker.io/10.96.0.50:5000.crt";
    node.write(dockerCa, CA2);
    expect(node.run(r.applyScript).code).toBe(0);
    expect(node.read(dockerCa)).toBe(CA);
    expect(node.read(containerdCa)).toBe(CA);
    const restored = node.run(r.applyScript, "restore");
    expect(restored.code).toBe(0);
    expect(node.read(dockerCa)).toBe(CA2);
    expect(node.exists(containerdCa)).toBe(false);
  });
});
