import { yaml } from "../lazy-yaml";
import { formatMode, placeFiles, type UserDataArgs } from "./files";
import { gzipBytes } from "./limits";

/**
 * A `#cloud-config` document: `write_files` places the apply script (mode 0700) and any extra files,
 * `runcmd` runs the script once per instance. Rendered with the `yaml` library, deterministic.
 */
export function renderCloudConfig(args: UserDataArgs): string {
  const { script, files } = placeFiles(args);
  const writeFiles = [...files, script].map((f) => ({
    path: f.path,
    owner: "root:root",
    permissions: formatMode(f.mode),
    ...(args.compress
      ? { encoding: "gz+b64", content: gzipBytes(f.content).toString("base64") }
      : { content: f.content }),
  }));
  const doc = new (yaml().Document)({ write_files: writeFiles });
  // `runcmd: - [ path ]` runs the script directly (no shell); flow style keeps it readable.
  doc.set("runcmd", doc.createNode([doc.createNode([script.path], { flow: true })]));
  return `#cloud-config\n${doc.toString({ lineWidth: 0 })}`;
}
