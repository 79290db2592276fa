/**
 * The node engine by URL: user data carries the apply script's readable data part, a small fetcher and a reference
 * (URL + sha256) to the engine, which the node downloads and checks before joining the two. The engine is the
 * library's own code (no policy value, no credential), the same file for every policy with the same runtimes, so one
 * uploaded copy serves a whole fleet; its name holds its hash, so engines of several library versions live side by
 * side while launch templates roll over.
 */
import { PolicyError } from "../errors";
import { engineFacts, nodeSource, splitApplyScript } from "../node-script";
import { shellQuote } from "../shell";

/** The engine file to upload where `engineUrl` points. */
export interface NodeEngineFile {
  /** The file name, `registry-mirrors-engine-VERSION-HASH16.sh`; the node asks for `engineUrl` + this name. */
  name: string;
  /** The engine's text (the apply script up to its data part). */
  content: string;
  /** sha256 of `content`, hex. */
  sha256: string;
}

/** The engine of an apply script as a file to upload; undefined for a script without an engine/data split. */
export function nodeEngineFile(applyScript: string): NodeEngineFile | undefined {
  const split = splitApplyScript(applyScript);
  if (split === undefined) return undefined;
  const { version = "0", sha256 } = engineFacts(split.engine);
  return { name: `registry-mirrors-engine-${version}-${sha256.slice(0, 16)}.sh`, content: split.engine, sha256 };
}

/**
 * Checks an engine base URL: http(s), no credentials, no query or fragment (the URL sits in user data, which anyone
 * allowed to describe the instance can read; the sha256 check makes plain http safe for integrity).
 */
export function checkEngineUrl(field: string, url: unknown): string {
  const fix =
    'give the folder URL the engine file is uploaded to, e.g. "https://my-bucket.s3.eu-west-1.amazonaws.com/registry-mirrors/"';
  if (typeof url !== "string" || url === "") throw new PolicyError(field, url, "not a URL", fix);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PolicyError(field, url, "not a URL", fix);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:")
    throw new PolicyError(
      field,
      url,
      `the node downloads with curl, wget or python3: ${parsed.protocol} is not http(s)`,
      fix,
    );
  if (parsed.username !== "" || parsed.password !== "")
    throw new PolicyError(
      field,
      url, // PolicyError shows URL userinfo as ***
      "the URL holds credentials, and user data is readable by anyone allowed to describe the instance",
      "serve the engine without credentials in the URL (it is the library's public code; e.g. a bucket policy that allows the VPC's S3 endpoint)",
    );
  if (parsed.search !== "" || parsed.hash !== "" || /[\s'"\\`$]/.test(url))
    throw new PolicyError(
      field,
      url,
      "a query, a fragment, quotes or spaces have no place in the engine's folder URL (a signed query would expire)",
      fix,
    );
  return url.endsWith("/") ? url : `${url}/`;
}

/**
 * The reference user data writes as `SCRIPT.engine-url`: sh assignments the fetcher sources (`url`, `sha256`), and
 * the engine's version and parts for a reviewer.
 */
export function engineReference(base: string, engine: NodeEngineFile): string {
  const { version, parts } = engineFacts(engine.content);
  const lines = [`url=${base}${engine.name}`, `sha256=${engine.sha256}`, `version=${version ?? ""}`];
  return `${[...lines, `parts=${shellQuote(parts.join(" "))}`].join("\n")}\n`;
}

/** The reference's fields, read back (for reviews); undefined when `text` is not one. */
export function readEngineReference(
  text: string,
): { url: string; sha256: string; version?: string; parts: string[] } | undefined {
  const field = (name: string) => new RegExp(`^${name}='?(.*?)'?$`, "m").exec(text)?.[1];
  const [url, sha256, version, parts] = ["url", "sha256", "version", "parts"].map(field);
  if (url === undefined || sha256 === undefined || !/^[0-9a-f]{64}$/.test(sha256)) return undefined;
  return { url, sha256, ...(version ? { version } : {}), parts: parts ? parts.split(" ") : [] };
}

/**
 * The fetcher user data runs first (`sh SCRIPT.fetch SCRIPT`), without its comments, blank lines and indentation
 * (it has no multi-line strings): every byte of it is in every node's user data.
 */
export function engineFetcher(): string {
  const [shebang, ...rest] = nodeSource("fetch-engine.sh").split("\n");
  const body = rest
    .filter((line) => line.trim() !== "" && !/^\s*#(?! shellcheck )/.test(line))
    .map((line) => line.trimStart());
  return `${[shebang, ...body].join("\n")}\n`;
}
