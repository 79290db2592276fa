/**
 * Regenerates every example's rendered/ folder (and platform/rendered/) from its program run under Pulumi mocks,
 * so a change to node configuration shows as file changes in the pull request.
 *
 *   npm run examples:update                 rewrite every rendered/ folder
 *   npm run examples:update -- ack-node-pool   only the named programs
 *   npm run examples:update -- --check      change nothing; print the diff and exit 1 when a folder is stale
 */
import { relative } from "node:path";
import { diffTrees, listExamples, readTree, renderedDir, REPO_ROOT, runExample, writeTree } from "./example-runner";

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const only = args.filter((a) => a !== "--check");
  const examples = listExamples();
  const unknown = only.filter((name) => !examples.some((e) => e.name === name));
  if (unknown.length > 0) {
    console.error(`unknown program(s): ${unknown.join(", ")}; known: ${examples.map((e) => e.name).join(", ")}`);
    return 2;
  }
  let stale = 0;
  for (const example of examples.filter((e) => only.length === 0 || only.includes(e.name))) {
    const run = await runExample(example, async (file) => {
      // A Pulumi program creates its resources when loaded: load it afresh for this run.
      delete require.cache[require.resolve(file)];
      return require(file) as Record<string, unknown>;
    });
    const dir = renderedDir(example);
    const label = relative(REPO_ROOT, dir);
    const diff = diffTrees(label, readTree(dir), run.files);
    const count = Object.keys(run.files).length;
    for (const w of run.warnings) console.log(`  ${example.name}: warning: ${w}`);
    if (diff === "") {
      console.log(`${label}: up to date (${count} files)`);
      continue;
    }
    stale++;
    if (check) {
      process.stdout.write(diff);
      console.log(`${label}: stale`);
    } else {
      writeTree(dir, run.files);
      console.log(`${label}: updated (${count} files)`);
    }
  }
  if (check && stale > 0) {
    console.log(
      `${stale} rendered folder(s) differ from their programs: run npm run examples:update and commit the result`,
    );
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
