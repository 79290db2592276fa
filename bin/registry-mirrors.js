#!/usr/bin/env node
"use strict";
// The CLI is compiled to dist/ by `npm run build` (run automatically by `npm ci` / `npm install`).
const { main } = require("../dist/cli/main.js");
Promise.resolve(main(process.argv.slice(2))).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`registry-mirrors: ${err?.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);
