/**
 * The node script's ECR token refresher, seen from TypeScript: where it lives on the node, and the checked
 * `REGION TABLE` of each ECR mirror of a containerd hosts.toml file (the refresher's list).
 */
import { parse } from "smol-toml";
import { PolicyError } from "./errors";
import type { ContainerdHostsFile } from "./render/containerd";

/** The ECR refresher's node folder, its systemd units' name, and the suffix of an ECR hosts.toml's template. */
export const ECR_DIR = "/etc/containerd/registry-mirrors";
export const ECR_UNIT = "registry-mirrors-ecr-token";
export const TEMPLATE_SUFFIX = ".registry-mirrors.template";

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const LIST_SAFE = /^[!#-[\]-~]+$/; // the URL lands in a TOML basic string inside a space-separated list

/** `REGION TABLE` of each ECR mirror of a hosts.toml file, checked against the file. */
export function ecrTokens(field: string, file: ContainerdHostsFile): Array<[string, string]> {
  let doc: Record<string, unknown>;
  try {
    doc = parse(file.content) as Record<string, unknown>;
  } catch (err) {
    throw new PolicyError(
      `${field}.content`,
      "(content hidden)",
      `not valid TOML (${(err as Error).message.split("\n")[0]})`,
      "render hosts.toml with renderContainerdHosts",
    );
  }
  const hosts = (doc.host ?? {}) as Record<string, Record<string, unknown>>;
  if (file.ecrAuth !== undefined && !Array.isArray(file.ecrAuth)) {
    throw new PolicyError(
      `${field}.ecrAuth`,
      file.ecrAuth,
      "must be a list of { url, region }",
      "render the files with renderContainerdHosts",
    );
  }
  return (file.ecrAuth ?? []).map((endpoint, i) => {
    const at = `${field}.ecrAuth[${i}]`;
    if (typeof endpoint.url !== "string" || !LIST_SAFE.test(endpoint.url)) {
      throw new PolicyError(
        `${at}.url`,
        endpoint.url,
        "not a plain URL (spaces, quotes and backslashes cannot be written here)",
        "give the mirror URL as the hosts.toml file writes it",
      );
    }
    if (typeof endpoint.region !== "string" || !REGION.test(endpoint.region)) {
      throw new PolicyError(
        `${at}.region`,
        endpoint.region,
        "not an AWS region",
        'give the region of the ECR registry, e.g. "us-west-2"',
      );
    }
    const hostTable = `[host.${JSON.stringify(endpoint.url)}]`;
    let table: string;
    let headers: unknown;
    if (hosts[endpoint.url] !== undefined && file.content.split("\n").includes(hostTable)) {
      table = `host.${JSON.stringify(endpoint.url)}.header`;
      headers = hosts[endpoint.url].header;
    } else if (doc.server === endpoint.url) {
      table = "header";
      headers = doc.header;
    } else {
      throw new PolicyError(
        `${at}.url`,
        endpoint.url,
        `the file has no [host."URL"] table or server for this URL`,
        "list only mirrors of this hosts.toml file, as renderContainerdHosts does",
      );
    }
    if (headers !== undefined) {
      throw new PolicyError(
        `${at}.url`,
        endpoint.url,
        "this mirror already has headers; the refresher writes its Authorization header",
        "remove the mirror's headers",
      );
    }
    return [endpoint.region, table];
  });
}
