/** Harbor proxy-cache projects as a policy: one Harbor, one project per upstream registry. */
import { PolicyError } from "../errors";
import { checkKnownFields, isPlainObject, normaliseEndpoint, optionalBoolean } from "./endpoint";
import { ANY_REGISTRY, type MirrorPolicyInput } from "./types";
import { normaliseRegistryName } from "./url";

/** A Harbor and its proxy-cache projects (the input of {@link harborProxyPolicy}). */
export interface HarborProxyInput {
  /** Harbor's address, e.g. `https://harbor.example.com` (no path). */
  url: string;
  /**
   * The proxy-cache project of each upstream registry, e.g. `{ "docker.io": "dockerhub-proxy", "ghcr.io":
   * "ghcr-proxy" }`: in Harbor, a project created with "Proxy Cache" on, pointing at a registry endpoint of that
   * upstream.
   */
  projects: Record<string, string>;
  /** The PEM text of the CA that signs Harbor's certificate, when it is private (see `MirrorEndpointInput.ca`). */
  ca?: string;
  /** Try the upstream registry itself after Harbor failed (default `true`). */
  upstreamFallback?: boolean;
}

/**
 * The mirror policy that sends each upstream registry's pulls through its Harbor proxy-cache project: for
 * containerd `[host."https://HARBOR/v2/PROJECT"]` with `override_path = true`, for CRI-O/podman the mirror
 * `HARBOR/PROJECT`. Validated here (the same checks as the policy's, plus one project per registry). Docker cannot
 * use it (refused when Docker is among the runtimes: it cannot address a project).
 */
export function harborProxyPolicy(input: HarborProxyInput, field = "harbor"): MirrorPolicyInput {
  if (!isPlainObject(input)) {
    throw new PolicyError(
      field,
      input,
      "must be an object with Harbor's url and its projects",
      'write { url: "https://harbor.example.com", projects: { "docker.io": "dockerhub-proxy" } }',
    );
  }
  checkKnownFields(field, input, ["url", "projects", "ca", "upstreamFallback"]);
  const projects = input.projects;
  if (!isPlainObject(projects) || Object.keys(projects).length === 0) {
    throw new PolicyError(
      `${field}.projects`,
      projects,
      "must map each upstream registry to its proxy-cache project",
      'write projects: { "docker.io": "dockerhub-proxy" }',
    );
  }
  const registries: MirrorPolicyInput["registries"] = {};
  const byProject = new Map<string, string>();
  const byName = new Map<string, string>();
  const upstreamFallback = optionalBoolean(`${field}.upstreamFallback`, input.upstreamFallback, true);
  for (const [registry, project] of Object.entries(projects)) {
    const entry = `${field}.projects["${registry}"]`;
    if (registry === ANY_REGISTRY) {
      throw new PolicyError(
        entry,
        project,
        "a Harbor proxy-cache project proxies one registry, not every registry",
        "list each upstream registry with its own project",
      );
    }
    const name = normaliseRegistryName(entry, registry);
    const same = byName.get(name);
    if (same !== undefined) {
      throw new PolicyError(
        entry,
        registry,
        `the same registry as "${same}"`,
        "keep one project per upstream registry",
      );
    }
    byName.set(name, registry);
    const other = byProject.get(project as string);
    if (other !== undefined) {
      throw new PolicyError(
        entry,
        project,
        `the same project as "${other}": a Harbor proxy-cache project proxies one registry endpoint`,
        `create one proxy-cache project per upstream registry in Harbor (e.g. "${String(project)}-${name.replace(/[^a-z0-9]+/g, "-")}")`,
      );
    }
    byProject.set(project as string, registry);
    const mirror: Record<string, unknown> = { url: input.url, harborProject: project };
    if (input.ca !== undefined) mirror.ca = input.ca;
    normaliseEndpoint(entry, mirror);
    registries[name] = { mirrors: [mirror as { url: string }], upstreamFallback };
  }
  const policy: MirrorPolicyInput = { registries };
  return policy;
}
