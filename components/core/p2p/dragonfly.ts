/**
 * Dragonfly (P2P through the dfdaemon on each node) from the mirror policy: the dfdaemon proxy becomes the first
 * endpoint of every registry, in the form Dragonfly's own dfinit writes into containerd's hosts.toml
 * (`[host."http://127.0.0.1:4001"]`, capabilities pull and resolve, header `X-Dragonfly-Registry` = the upstream the
 * proxy fetches from; no header for `*`, where dfdaemon takes the registry from the request). The policy's mirrors
 * follow, then the upstream. The apply script writes these files, so Dragonfly's dfinit stays off
 * (`client.dfinit.enable: false` in the dragonfly chart): one writer per file.
 */
import {
  ANY_REGISTRY,
  type MirrorEndpoint,
  type MirrorEndpointInput,
  type MirrorPolicyInput,
  normaliseEndpoint,
  normalisePolicy,
} from "../policy";
import { upstreamUrl } from "../render/containerd";

/** dfdaemon's proxy address by default (dfinit's `proxy.addr`). */
export const DRAGONFLY_PROXY = "http://127.0.0.1:4001";
/** The header that tells dfdaemon's proxy which registry a request is for. */
export const DRAGONFLY_REGISTRY_HEADER = "X-Dragonfly-Registry";

/** Options of {@link withDragonfly}. */
export interface DragonflyOptions {
  /** The dfdaemon proxy on each node; default `http://127.0.0.1:4001`. */
  proxy?: string;
  /** Connect timeout of the proxy endpoint (a Go duration), so a node whose dfdaemon is down moves on quickly. */
  dialTimeout?: string;
}

/** A normalised endpoint written back as policy input (the same mirror, every setting kept). */
function endpointInput(e: MirrorEndpoint): MirrorEndpointInput {
  const input: MirrorEndpointInput = { url: e.url, capabilities: [...e.capabilities] };
  if (e.insecure) input.insecure = true;
  if (e.caFile !== undefined) input.caFile = e.caFile;
  if (e.clientCertFile !== undefined) input.clientCertFile = e.clientCertFile;
  if (e.clientKeyFile !== undefined) input.clientKeyFile = e.clientKeyFile;
  if (e.overridePath) input.overridePath = true;
  if (e.dialTimeout !== undefined) input.dialTimeout = e.dialTimeout;
  if (Object.keys(e.headers).length > 0) input.headers = { ...e.headers };
  if (e.pullFromMirror !== "all") input.pullFromMirror = e.pullFromMirror;
  if (e.auth !== undefined) input.auth = e.auth;
  return input;
}

/**
 * The policy with the dfdaemon proxy first for every registry (validated; registries named as the policy normalises
 * them). Containerd and CRI-O use it as is; Docker uses it for Docker Hub only, and k3s/RKE2 registries.yaml cannot send
 * the header, so render Dragonfly policies for containerd or CRI-O nodes.
 */
export function withDragonfly(policyInput: MirrorPolicyInput, options: DragonflyOptions = {}): MirrorPolicyInput {
  const { policy } = normalisePolicy(policyInput);
  // A host and port: normaliseEndpoint refuses a path (dfdaemon's proxy has none).
  const proxy = normaliseEndpoint("dragonfly.proxy", options.proxy ?? DRAGONFLY_PROXY);
  const registries: MirrorPolicyInput["registries"] = {};
  for (const entry of policy.registries) {
    const first: MirrorEndpointInput = { url: proxy.url, capabilities: ["pull", "resolve"] };
    if (entry.registry !== ANY_REGISTRY) first.headers = { [DRAGONFLY_REGISTRY_HEADER]: upstreamUrl(entry.registry) };
    if (options.dialTimeout !== undefined) first.dialTimeout = options.dialTimeout;
    const rest = entry.endpoints.filter((e) => e.url !== proxy.url).map(endpointInput);
    registries[entry.registry] = { mirrors: [first, ...rest], upstreamFallback: entry.upstreamFallback };
  }
  const result: MirrorPolicyInput = { registries };
  if (policyInput.allowMirrorPaths !== undefined) result.allowMirrorPaths = policyInput.allowMirrorPaths;
  if (policyInput.allowDeprecatedMirrors !== undefined)
    result.allowDeprecatedMirrors = policyInput.allowDeprecatedMirrors;
  // The result must be a valid policy itself (e.g. a bad dialTimeout is reported here, against the dragonfly field).
  normalisePolicy(result, "dragonfly(policy)");
  return result;
}
