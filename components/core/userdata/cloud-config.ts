import { yaml } from "../lazy-yaml";
import { formatMode, joinScriptCommand, placeFiles, type UserDataArgs, writtenFiles } from "./files";
import { gzipBytes } from "./limits";
import { shellQuote } from "../shell";

/**
 * A `#cloud-config` document: `write_files` places the apply script (its engine and data part, joined by `runcmd`
 * into one script, mode 0700; or its data part and the fetcher of its engine) and any extra files, `runcmd` runs the script once per instance. Rendered with the
 * `yaml` library, deterministic.
 */
export function renderCloudConfig(args: UserDataArgs): string {
  const { script, files } = placeFiles(args);
  const writeFiles = writtenFiles(script, files, args.compress, args.engineUrl).map((f) => ({
    path: f.path,
    owner: "root:root",
    permissions: formatMode(f.mode),
    ...(f.compress ? { encoding: "gz+b64", content: gzipBytes(f.content).toString("base64") } : { content: f.content }),
  }));
  const doc = new (yaml().Document)({ write_files: writeFiles });
  const join = joinScriptCommand(script, args.compress, args.engineUrl);
  // `runcmd: - [ ... ]` runs without a shell unless one is asked for; flow style keeps it readable. A fetched engine
  // runs in the same command, so a failed fetch is one clear error and no "not found" after it.
  const commands =
    args.engineUrl !== undefined
      ? [["sh", "-c", `${join} && ${shellQuote(script.path)}`]]
      : [...(join ? [["sh", "-c", join]] : []), [script.path]];
  doc.set("runcmd", doc.createNode(commands.map((c) => doc.createNode(c, { flow: true }))));
  return `#cloud-config\n${doc.toString({ lineWidth: 0, indentSeq: false })}`;
}
