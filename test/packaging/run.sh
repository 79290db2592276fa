#!/usr/bin/env bash
# Packaging test: packs the library (`npm pack`) and, for each install set and each tsconfig a user may have,
# installs the tarball into a fresh project, type-checks a program with `tsc --noEmit` (no skipLibCheck) and runs it
# under Pulumi mocks. Tests what users install, never the sources.
#
# Install sets: aws (@pulumi/pulumi + @pulumi/aws), alicloud (@pulumi/pulumi + @pulumi/alicloud), all (the four
# SDKs at the versions the repository develops with), lowest (the four SDKs at the lower bound of every peer range).
# tsconfigs: template (Pulumi's aws-typescript template: commonjs, moduleResolution node, strict; TypeScript 5 as
# the template pins it), node16, nodenext, bundler (an ESM project run by Node), with TypeScript 6 (5 in the lowest
# set: old @pulumi/pulumi versions declare typescript < 6 as a peer).
#
# Environment: PACKAGING_SETS / PACKAGING_CONFIGS narrow the matrix; PACKAGING_JOBS runs that many projects at once
# (default 2); PACKAGING_WORK keeps the work folder at that path; PACKAGING_TARBALL uses that tarball instead of
# packing. npm uses its usual cache, shared by every install; each install set is installed once and its
# node_modules hardlinked into the set's projects.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FIXTURES="$ROOT/test/packaging/fixtures"
SETS=${PACKAGING_SETS:-"aws alicloud all lowest"}
CONFIGS=${PACKAGING_CONFIGS:-"template node16 nodenext bundler"}
JOBS=${PACKAGING_JOBS:-2}
TS5=5.9.3
if [ -n "${PACKAGING_WORK:-}" ]; then
  WORK=$PACKAGING_WORK
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi
START=$(date +%s)

# Versions from package.json: the devDependency (what the repository develops with) and the peer range's lower bound.
pkg() { node -e 'const p = require(process.argv[1]); console.log(eval(process.argv[2]))' "$ROOT/package.json" "$1"; }
dev() { pkg "p.devDependencies['$1'].replace(/^[\\^~]/, '')"; }
lowest() {
  local range
  range=$(pkg "p.peerDependencies['$1']")
  [[ $range =~ ^\>=([0-9][0-9.]*)\ \<[0-9] ]] || { echo "peer range of $1 is not '>=X <Y': $range" >&2; exit 1; }
  echo "${BASH_REMATCH[1]}"
}
set_packages() {
  case $1 in
    aws) echo "@pulumi/pulumi@$(dev @pulumi/pulumi) @pulumi/aws@$(dev @pulumi/aws)" ;;
    alicloud) echo "@pulumi/pulumi@$(dev @pulumi/pulumi) @pulumi/alicloud@$(dev @pulumi/alicloud)" ;;
    all)
      echo "@pulumi/pulumi@$(dev @pulumi/pulumi) @pulumi/aws@$(dev @pulumi/aws)" \
        "@pulumi/alicloud@$(dev @pulumi/alicloud) @pulumi/kubernetes@$(dev @pulumi/kubernetes)"
      ;;
    lowest)
      echo "@pulumi/pulumi@$(lowest @pulumi/pulumi) @pulumi/aws@$(lowest @pulumi/aws)" \
        "@pulumi/alicloud@$(lowest @pulumi/alicloud) @pulumi/kubernetes@$(lowest @pulumi/kubernetes)"
      ;;
    *) echo "unknown install set $1" >&2 && exit 1 ;;
  esac
}
# @pulumi/pulumi before 3.20x declares typescript < 6 as its peer: those users have TypeScript 5.
typescript_of() { if [ "$1" = lowest ]; then echo "$TS5"; else dev typescript; fi; }
program_of() { if [ "$1" = lowest ]; then echo all; else echo "$1"; fi; }

if [ -n "${PACKAGING_TARBALL:-}" ]; then
  TARBALL=$PACKAGING_TARBALL
else
  echo "== npm pack"
  TARBALL="$WORK/$(cd "$ROOT" && npm pack --silent --pack-destination "$WORK" | tail -n 1)"
fi
echo "tarball: $TARBALL ($(du -k "$TARBALL" | cut -f1) KB)"

for set in $SETS; do
  base="$WORK/base-$set"
  mkdir -p "$base"
  echo '{ "name": "packaging-base", "version": "0.0.0", "private": true }' >"$base/package.json"
  echo "== install $set: $(set_packages "$set")"
  # shellcheck disable=SC2046
  (cd "$base" && npm install --prefer-offline --no-audit --no-fund --ignore-scripts --loglevel=error \
    "$TARBALL" $(set_packages "$set") "typescript@$(typescript_of "$set")" "typescript5@npm:typescript@$TS5" \
    "@types/node@$(pkg "p.devDependencies['@types/node']")" >"$base/install.log" 2>&1) ||
    {
      cat "$base/install.log"
      exit 1
    }
done

echo "installed: $(($(date +%s) - START)) s"

# One project: its own folder, the set's node_modules hardlinked, a tsconfig, the program; type-check, emit, run.
project() {
  local set=$1 config=$2 dir="$WORK/$1-$2" tsc type=commonjs
  rm -rf "$dir" && mkdir -p "$dir"
  cp -al "$WORK/base-$set/node_modules" "$dir/node_modules"
  cp "$FIXTURES/tsconfig/$config.json" "$dir/tsconfig.json"
  cp "$FIXTURES/program-$(program_of "$set").ts" "$dir/index.ts"
  cp "$FIXTURES/mocks.ts" "$dir/mocks.ts"
  [ "$config" = bundler ] && type=module
  printf '{ "name": "packaging-%s-%s", "private": true, "type": "%s" }\n' "$set" "$config" "$type" >"$dir/package.json"
  if [ "$config" = template ]; then tsc="$dir/node_modules/typescript5/bin/tsc"; else tsc="$dir/node_modules/typescript/bin/tsc"; fi
  (
    cd "$dir"
    # One run type-checks and emits: the diagnostics of `tsc --noEmit`, and its exit code, without a second parse.
    node "$tsc" -p . --pretty false && node bin/index.js
  ) >"$dir/out.log" 2>&1
}

for set in $SETS; do
  for config in $CONFIGS; do
    rm -f "$WORK/$set-$config.rc"
    (
      rc=0
      project "$set" "$config" || rc=$?
      echo "$rc" >"$WORK/$set-$config.rc"
    ) &
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  done
done
wait
status=0
for set in $SETS; do
  for config in $CONFIGS; do
    if [ "$(cat "$WORK/$set-$config.rc")" = 0 ]; then
      echo "PASS $set/$config: $(tail -n 1 "$WORK/$set-$config/out.log")"
    else
      echo "FAIL $set/$config:"
      sed 's/^/    /' "$WORK/$set-$config/out.log"
      status=1
    fi
  done
done
echo "packaging matrix: $(($(date +%s) - START)) s"
exit $status
