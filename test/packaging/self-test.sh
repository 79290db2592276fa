#!/usr/bin/env bash
# Test of the packaging test: in a temporary copy of the repository, breaks the `registry-mirrors/aws` subpath for
# `moduleResolution: node` (its typesVersions entry removed) and makes the package root's declarations reference
# @pulumi/kubernetes; then runs the packaging test's AWS-only project with Pulumi's template tsconfig, which must
# fail with TS2307 for both.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COPY=$(mktemp -d)
trap 'rm -rf "$COPY"' EXIT

(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | (cd "$COPY" && tar -xf -)
ln -s "$ROOT/node_modules" "$COPY/node_modules"

node -e '
  const fs = require("node:fs");
  const file = process.argv[1];
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  delete pkg.typesVersions["*"].aws;
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2));
' "$COPY/package.json"
cat >>"$COPY/components/index.ts" <<'EOF'
export type LeakedSecret = import("@pulumi/kubernetes").core.v1.Secret;
EOF

status=0
PACKAGING_SETS=aws PACKAGING_CONFIGS=template bash "$COPY/test/packaging/run.sh" >"$COPY/out.log" 2>&1 || status=$?
cat "$COPY/out.log"
fail() {
  echo "SELF-TEST FAILED: $1"
  exit 1
}
[ "$status" -ne 0 ] || fail "the packaging test passed with a broken subpath and a leaked SDK type"
grep -q "error TS2307: Cannot find module 'registry-mirrors/aws'" "$COPY/out.log" ||
  fail "no TS2307 for the broken subpath"
grep -q "error TS2307: Cannot find module '@pulumi/kubernetes'" "$COPY/out.log" ||
  fail "no TS2307 for the leaked @pulumi/kubernetes type"
echo "SELF-TEST OK: the packaging test fails on a broken subpath and on a leaked optional SDK type"
