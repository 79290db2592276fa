import { stringify } from "smol-toml";
import { PolicyError } from "../errors";
import { ANY_REGISTRY, type MirrorPolicy, ecrTokenNotSentWarning } from "../policy";
import { endpointField, GENERATED_HEADER } from "./containerd";
import { fullApiUrl } from "./k3s";

/** Options of {@link renderBottlerocketSettings}. */
export interface BottlerocketSettingsOptions {
  /** Receives a note for every tuning setting Bottlerocket has no place for (`dialTimeout`, ...). */
  warnings?: string[];
}

/**
 * Renders Bottlerocket user data (TOML settings): one `[[settings.container-registry.mirrors]]` per
 * registry with `registry` (`"*"` allowed) and `endpoint` (full URLs, policy order). Bottlerocket's mirror
 * setting is a list of URLs and nothing else, and the upstream is always tried last: per-endpoint TLS
 * settings (insecure, CA, client certificate), headers and `upstreamFallback: false` are refused rather
 * than dropped. A path in a URL is the registry API root there (containerd's mirror endpoints), so a policy
 * path before `/v2` is written with `/v2` appended.
 */
export function renderBottlerocketSettings(policy: MirrorPolicy, options: BottlerocketSettingsOptions = {}): string {
  const hasCatchAll = policy.registries.some((r) => r.registry === ANY_REGISTRY && r.endpoints.length > 0);
  const mirrors: Array<{ registry: string; endpoint: string[] }> = [];
  for (const entry of policy.registries) {
    const entryField = `policy.registries["${entry.registry}"]`;
    if (!entry.upstreamFallback) {
      throw new PolicyError(
        `${entryField}.upstreamFallback`,
        false,
        "Bottlerocket always tries the upstream registry after its mirrors",
        "set upstreamFallback: true, or leave bottlerocket out of runtimes",
      );
    }
    if (entry.endpoints.length === 0) {
      if (hasCatchAll && entry.registry !== ANY_REGISTRY) {
        throw new PolicyError(
          `${entryField}.mirrors`,
          [],
          'Bottlerocket cannot exempt one registry from the "*" mirrors',
          'give it a mirror, or remove it from the policy (it is then served by the "*" mirrors)',
        );
      }
      continue;
    }
    const endpoint = entry.endpoints.map((e, i) => {
      const field = endpointField(entry.registry, i);
      const refuse = (setting: string, value: unknown) => {
        throw new PolicyError(
          `${field}.${setting}`,
          value,
          `Bottlerocket's container-registry settings have no per-mirror ${setting}`,
          `remove ${setting} from this mirror (serve it with a publicly trusted certificate and no extra headers), or leave bottlerocket out of runtimes`,
        );
      };
      if (e.insecure && e.scheme === "https") refuse("insecure", true);
      if (e.caFile !== undefined) refuse("caFile", e.caFile);
      if (e.clientCertFile !== undefined) refuse("clientCertFile", e.clientCertFile);
      if (Object.keys(e.headers).length > 0) refuse("headers", Object.keys(e.headers));
      if (!e.capabilities.includes("pull")) refuse("capabilities", e.capabilities);
      if (e.capabilities.join() !== "pull,resolve")
        options.warnings?.push(
          `${field}.capabilities: Bottlerocket has no capabilities setting; the mirror is used for pull and resolve`,
        );
      if (e.dialTimeout !== undefined)
        options.warnings?.push(`${field}.dialTimeout: Bottlerocket has no dial timeout setting; its default applies`);
      if (e.pullFromMirror !== "all")
        options.warnings?.push(
          `${field}.pullFromMirror: applies to CRI-O/podman only; Bottlerocket uses the mirror for every pull`,
        );
      if (e.auth === "ecr") options.warnings?.push(ecrTokenNotSentWarning(field, "Bottlerocket", e));
      return fullApiUrl(field, e, "Bottlerocket");
    });
    mirrors.push({ registry: entry.registry, endpoint });
  }
  if (mirrors.length === 0) return GENERATED_HEADER;
  return `${GENERATED_HEADER}${stringify({ settings: { "container-registry": { mirrors } } }).trim()}\n`;
}
