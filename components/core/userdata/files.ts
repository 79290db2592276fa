/** The node files user data places (the apply script and extra files): checks shared by the cloud-config and shell forms. */
import { PolicyError } from "../errors";
import { checkNodeFile, type NodeFileFields } from "../node-file";
import { splitApplyScript } from "../node-script";
import { checkEngineUrl, engineFetcher, engineReference, nodeEngineFile } from "./engine-url";
import type { NodeFile } from "../render/types";
import { shellQuote } from "../shell";

/** Where user data puts the node apply script before running it. */
export const DEFAULT_APPLY_SCRIPT_PATH = "/var/lib/registry-mirrors/apply-node-config.sh";

/** What the user data delivers: the node apply script, plus optional files written before it runs. */
export interface UserDataArgs {
  /** The node apply script (POSIX sh, ending in a newline). A NodeFile flagged `secret` is refused. */
  applyScript: string | NodeFile;
  /** Where the script is written on the node; default {@link DEFAULT_APPLY_SCRIPT_PATH}. */
  scriptPath?: string;
  /** Files written before the script runs (e.g. a CA bundle). A file flagged `secret` is refused. */
  files?: NodeFile[];
  /**
   * Carry the files gzip-compressed and base64-encoded inside the user data (cloud-config `encoding: gz+b64`; the
   * shell form decodes with `base64 -d` and `gunzip`), and the user data stays text, which every reader (EKS, ACK,
   * Alibaba Cloud) takes. The apply script's data part (the files the policy renders) always stays readable: only
   * its engine is compressed, so a policy change shows in a review as the lines that changed; `"all"` compresses the
   * whole script in one piece (smallest, for when the readable form is over the cloud's limit).
   */
  compress?: boolean | "all";
  /**
   * Fetch the apply script's engine from this folder URL instead of carrying it: user data then holds the readable
   * data part, a small fetcher and the engine's URL and sha256 (about 1.5 KB plus the policy's files, whatever the
   * runtimes), and the node downloads `engineUrl` + {@link nodeEngineFile}'s name, checks its sha256 and joins the
   * two. Upload that file there first (it is the library's code, the same for every policy with the same runtimes).
   * The node retries for `FETCH_SECONDS` (300) and then leaves its runtimes' settings alone.
   */
  engineUrl?: string;
}

/** A checked node file, with the input field it came from. */
export interface PlacedFile {
  path: string;
  content: string;
  mode: number;
  field: string;
}

/** Checks the apply script and extra files, refusing secrets and paths given twice. */
export function placeFiles(args: UserDataArgs): { script: PlacedFile; files: PlacedFile[] } {
  const given = typeof args.applyScript === "string" ? undefined : args.applyScript;
  if (given?.secret) refuseSecret("applyScript", given.path);
  const path = args.scriptPath ?? given?.path ?? DEFAULT_APPLY_SCRIPT_PATH;
  const content = typeof args.applyScript === "string" ? args.applyScript : args.applyScript.content;
  if (!content.startsWith("#!")) {
    throw new PolicyError(
      "applyScript",
      firstLine(content),
      "the apply script must start with a `#!` line",
      "pass the script rendered by renderApplyScript (it starts with `#!/bin/sh`)",
    );
  }
  const script = checkedFile(
    { path, content, mode: 0o700 },
    "applyScript",
    args.scriptPath !== undefined || !given ? "scriptPath" : "applyScript.path",
  );
  const files = (args.files ?? []).map((f, i) => {
    if (f.secret) refuseSecret(`files[${i}]`, f.path);
    return checkedFile(f, `files[${i}]`);
  });
  const seen = new Set<string>();
  for (const f of [...files, script]) {
    if (seen.has(f.path))
      throw new PolicyError(
        f.field,
        f.path,
        "two files in the user data have the same path",
        "give every file its own path",
      );
    seen.add(f.path);
  }
  return { script, files };
}

/** A node file checked with {@link checkNodeFile}, tagged with the input field it came from. */
export function checkedFile(f: NodeFileFields, field: string, pathField?: string): PlacedFile {
  return { ...checkNodeFile(field, f, { pathField }), field };
}

/**
 * Throws when the apply script handed to a user-data helper is a secret: it then holds a credential
 * (mirror headers, registry auth), and credentials never go into user data.
 */
export function refuseSecretApplyScript(isSecret: boolean): void {
  if (isSecret) {
    throw new PolicyError(
      "applyScript",
      "(a secret value)",
      "the apply script is a secret, so it holds a credential (mirror headers or registry auth), and user data is readable by anyone allowed to describe the instance",
      "deliver this configuration with MirrorDaemonConfig's kubernetes DaemonSet, or drop the credential from the policy (e.g. use an instance role for ECR)",
    );
  }
}

export function refuseSecret(field: string, path: string): never {
  throw new PolicyError(
    field,
    path,
    "this file holds a credential (secret: true), and user data is readable by anyone allowed to describe the instance or reach its metadata service",
    "keep credentials out of user data: deliver them with RegistryCredentialSecret or the DaemonSet, or fetch them on the node from a secret store",
  );
}

export function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
}

export function firstLine(text: string): string {
  return text.split("\n", 1)[0];
}

/** A file user data writes: compressed (gzip+base64) or plain. */
export interface WrittenFile extends PlacedFile {
  compress: boolean;
}

/**
 * The files user data writes for the apply script and extra files. An apply script with a data part goes as two
 * files, `SCRIPT.engine` (compressed when asked) and `SCRIPT.data` (always plain), which {@link joinScriptCommand}
 * joins into SCRIPT on the node before it runs; with `"all"` it goes whole, compressed, like every other file. With
 * an engine URL the engine stays out: `SCRIPT.fetch` (the fetcher) and `SCRIPT.engine-url` (what to fetch) go instead.
 */
export function writtenFiles(
  script: PlacedFile,
  files: PlacedFile[],
  mode: boolean | "all" | undefined,
  engineUrl?: string,
): WrittenFile[] {
  const compress = mode === true || mode === "all";
  const extra = files.map((f) => ({ ...f, compress }));
  const plain = (path: string, content: string): WrittenFile => ({
    ...script,
    path,
    content,
    mode: 0o600,
    compress: false,
  });
  if (engineUrl !== undefined) {
    const base = checkEngineUrl("engineUrl", engineUrl);
    const parts = splitApplyScript(script.content);
    const engine = nodeEngineFile(script.content);
    if (parts === undefined || engine === undefined)
      throw new PolicyError(
        "engineUrl",
        engineUrl,
        "this apply script has no engine/data split, so there is no engine to fetch",
        "pass the script rendered by renderApplyScript, or leave engineUrl out",
      );
    return [
      ...extra,
      plain(`${script.path}.fetch`, engineFetcher()),
      plain(`${script.path}.engine-url`, engineReference(base, engine)),
      plain(`${script.path}.data`, parts.data),
    ];
  }
  const parts = mode === "all" ? undefined : splitApplyScript(script.content);
  const scriptFiles: WrittenFile[] = parts
    ? [{ ...plain(`${script.path}.engine`, parts.engine), compress }, plain(`${script.path}.data`, parts.data)]
    : [{ ...script, compress }];
  return [...extra, ...scriptFiles];
}

/**
 * The sh command that joins the engine and data files into the apply script (nothing when it is written whole); with
 * an engine URL, the fetcher's run, which downloads and checks the engine first.
 */
export function joinScriptCommand(
  script: PlacedFile,
  mode: boolean | "all" | undefined,
  engineUrl?: string,
): string | undefined {
  if (engineUrl !== undefined) return `sh ${shellQuote(`${script.path}.fetch`)} ${shellQuote(script.path)}`;
  if (mode === "all" || !splitApplyScript(script.content)) return undefined;
  const [path, engine, data] = [script.path, `${script.path}.engine`, `${script.path}.data`].map(shellQuote);
  return `cat ${engine} ${data} > ${path}.tmp && chmod 0700 ${path}.tmp && mv -f ${path}.tmp ${path}`;
}
