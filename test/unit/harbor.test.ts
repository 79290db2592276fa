/** Harbor proxy-cache projects: the endpoint form (harborProject), the catalog helper, and each runtime's form. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { harborProxyPolicy, normalisePolicy } from "../../components/core/policy";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { expectPolicyError } from "./policy-error";

const HARBOR = "https://harbor.example.com";
const CA = readFileSync(join(__dirname, "..", "support", "ca", "ca.pem"), "utf8");

describe("harborProject", () => {
  it("turns Harbor's address and a project into the override_path mirror /v2/PROJECT", () => {
    const { policy } = normalisePolicy({
      registries: { "docker.io": { mirrors: [{ url: `${HARBOR}/`, harborProject: "dockerhub-proxy" }] } },
    });
    expect(policy.registries[0].endpoints[0]).toMatchObject({
      url: `${HARBOR}/v2/dockerhub-proxy`,
      host: "harbor.example.com",
      path: "/v2/dockerhub-proxy",
      overridePath: true,
      harborProject: "dockerhub-proxy",
    });
  });

  it("refuses a bad project name, a URL with a path, and overridePath: false", () => {
    const field = 'policy.registries["docker.io"].mirrors[0]';
    const one = (m: Record<string, unknown>) => () =>
      normalisePolicy({ registries: { "docker.io": { mirrors: [m] } } });
    expectPolicyError(
      one({ url: HARBOR, harborProject: "Docker Hub" }),
      `${field}.harborProject`,
      "Docker Hub",
      "proxy-cache project",
    );
    expectPolicyError(
      one({ url: `${HARBOR}/v2/dockerhub-proxy`, harborProject: "dockerhub-proxy" }),
      `${field}.url`,
      "/v2/dockerhub-proxy",
      `url: "${HARBOR}"`,
    );
    expectPolicyError(
      one({ url: HARBOR, harborProject: "p", overridePath: false }),
      `${field}.overridePath`,
      "false",
      "implied by harborProject",
    );
  });
});

describe("harborProxyPolicy", () => {
  const policy = harborProxyPolicy({
    url: HARBOR,
    projects: { "docker.io": "dockerhub-proxy", "ghcr.io": "ghcr-proxy", "quay.io": "quay-proxy" },
    ca: CA,
  });

  it("renders containerd's override_path form (with the delivered CA) and CRI-O/podman's namespace form", () => {
    const r = renderNodeConfig({ policy, runtimes: ["containerd", "crio"] });
    expect(r.files["/etc/containerd/certs.d/ghcr.io/hosts.toml"]).toBe(
      [
        "# Written by registry-mirrors; edit the mirror policy, not this file.",
        'server = "https://ghcr.io"',
        "",
        `[host."${HARBOR}/v2/ghcr-proxy"]`,
        'capabilities = [ "pull", "resolve" ]',
        'ca = "/etc/containerd/certs.d/ghcr.io/harbor.example.com.crt"',
        "override_path = true",
        'dial_timeout = "5s"',
        "",
      ].join("\n"),
    );
    expect(r.files["/etc/containerd/certs.d/ghcr.io/harbor.example.com.crt"]).toBe(CA);
    expect(r.files["/etc/containers/certs.d/harbor.example.com/ca.crt"]).toBe(CA);
    const conf = r.files["/etc/containers/registries.conf.d/50-registry-mirrors.conf"];
    expect(conf).toContain(
      'prefix = "docker.io"\nlocation = "docker.io"\n\n[[registry.mirror]]\nlocation = "harbor.example.com/dockerhub-proxy"\n',
    );
    expect(conf).toContain('location = "harbor.example.com/quay-proxy"');
  });

  it("refuses Docker, which cannot address a project, with the fix", () => {
    expectPolicyError(
      () => renderNodeConfig({ policy, runtimes: ["docker", "containerd"] }),
      'policy.registries["docker.io"].mirrors[0].harborProject',
      "dockerhub-proxy",
      "leave docker out of runtimes",
    );
  });

  it("refuses one project for two registries, a project for every registry, one registry twice, and a bad name", () => {
    expectPolicyError(
      () => harborProxyPolicy({ url: HARBOR, projects: { "docker.io": "a", "index.docker.io": "b" } }),
      'harbor.projects["index.docker.io"]',
      "index.docker.io",
      "one project per upstream registry",
    );
    expectPolicyError(
      () => harborProxyPolicy({ url: HARBOR, projects: { "docker.io": "proxy", "ghcr.io": "proxy" } }),
      'harbor.projects["ghcr.io"]',
      "proxy",
      "one proxy-cache project per upstream registry",
    );
    expectPolicyError(
      () => harborProxyPolicy({ url: HARBOR, projects: { "*": "proxy" } }),
      'harbor.projects["*"]',
      "proxy",
      "its own project",
    );
    expectPolicyError(
      () => harborProxyPolicy({ url: HARBOR, projects: { "docker.io": "-bad" } }),
      'harbor.projects["docker.io"].harborProject',
      "-bad",
      "proxy-cache project",
    );
  });
});
