/** What `render` writes into --out: the file list, the folder's checks and the writing itself. */
import { existsSync, mkdirSync, realpathSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { nodeConfigUserData, type RenderedNodeConfig } from "../components/core/render/node-config";
import { nodeEngineFile, userDataSizeWarning } from "../components/core/userdata";
import { fail, type Io } from "./args";

/** Pseudo filesystems (proc, sysfs, cgroup, cgroup2, debugfs, securityfs, devpts) by their statfs magic. */
const SPECIAL_FS = new Set([0x9fa0, 0x62656572, 0x27e0eb, 0x63677270, 0x64626720, 0x73636673, 0x1cd1]);

/** --out: a folder or a path still to create, on a real filesystem; refused before anything is written. */
function checkOutDir(out: string): string {
  if (out.trim() === "") fail("--out: an empty folder name; nothing was written. Fix: give a folder, e.g. --out out");
  let probe = resolve(out);
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  const real = realpathSync(probe);
  if (existsSync(resolve(out)) && !statSync(resolve(out)).isDirectory())
    fail(
      `--out: ${out} exists and is not a folder; nothing was written. Fix: give a folder (it is created when missing)`,
    );
  if (/^\/(proc|sys|dev)(\/|$)/.test(real) || SPECIAL_FS.has(Number(statfsSync(real).type)))
    fail(
      `--out: ${out} is on a special filesystem (${real}); nothing was written. Fix: give a folder on a disk, e.g. --out out`,
    );
  return out;
}

/** Every file `render` writes, by path relative to the output folder. */
export function outputFiles(
  rendered: RenderedNodeConfig,
  engineUrl?: string,
): Record<string, { content: string; mode: number }> {
  const files: Record<string, { content: string; mode: number }> = {};
  for (const [path, content] of Object.entries(rendered.files)) {
    files[join("node", path)] = { content, mode: 0o644 };
  }
  files["apply-node-config.sh"] = { content: rendered.applyScript, mode: 0o755 };
  const userData = nodeConfigUserData(rendered, { engineUrl });
  if (userData !== undefined) files["user-data.yaml"] = { content: userData, mode: 0o644 };
  const engine = engineUrl !== undefined ? nodeEngineFile(rendered.applyScript) : undefined;
  // The file to upload where --engine-url points.
  if (engine) files[join("engine", engine.name)] = { content: engine.content, mode: 0o644 };
  if (rendered.bottlerocketSettings !== undefined)
    files["bottlerocket.toml"] = { content: rendered.bottlerocketSettings, mode: 0o644 };
  return files;
}

/** Writes every output file under `out`, after checking the folder and that no file's path is taken by a folder. */
export function writeOutput(out: string, rendered: RenderedNodeConfig, io: Io, engineUrl?: string): void {
  const outDir = checkOutDir(out);
  const files = outputFiles(rendered, engineUrl);
  const userData = files["user-data.yaml"];
  const tooBig = userData && userDataSizeWarning(join(outDir, "user-data.yaml"), userData.content);
  if (tooBig) io.err(`warning: ${tooBig}`);
  for (const path of Object.keys(files)) {
    const target = join(outDir, path);
    if (existsSync(target) && !statSync(target).isFile())
      fail(`--out: ${target} exists and is not a file; nothing was written. Fix: move it away or choose another --out`);
  }
  for (const [path, file] of Object.entries(files)) {
    const target = join(outDir, path);
    try {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, file.content, { mode: file.mode });
    } catch (err) {
      fail(`--out: cannot write ${target} (${(err as Error).message}). Fix: choose a folder you can write`);
    }
    io.out(`wrote ${target}`);
  }
}
