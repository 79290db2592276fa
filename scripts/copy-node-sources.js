// Copies the node code (components/core/node: sh, Python, jq, awk, systemd units) next to the compiled core in dist/,
// where node-engine.js reads it.
const { cpSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");
cpSync(join(root, "components/core/node"), join(root, "dist/components/core/node"), { recursive: true });
// The in-cluster pull-secret refresher, read by core/kubernetes/refresher.js.
cpSync(
  join(root, "components/core/kubernetes/pull-secret-refresher.py"),
  join(root, "dist/components/core/kubernetes/pull-secret-refresher.py"),
);
