// Copies the node code (components/core/node: sh, Python, jq, awk, systemd units) next to the compiled core in dist/,
// where node-engine.js reads it.
const { cpSync, readdirSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");
cpSync(join(root, "components/core/node"), join(root, "dist/components/core/node"), { recursive: true });
// The in-cluster pull-secret refresher and its modules, read by core/kubernetes/refresher.js.
for (const name of readdirSync(join(root, "components/core/kubernetes")).filter((n) => n.endsWith(".py"))) {
  cpSync(join(root, "components/core/kubernetes", name), join(root, "dist/components/core/kubernetes", name));
}
