#!/usr/bin/env bash
# Builds the Pulumi CLI and its Node.js and Python language hosts from the Go module proxy, at the version of
# @pulumi/pulumi in package-lock.json, into .tools/pulumi-<version>/bin. A second run with the binaries there
# does nothing. With PULUMI_BIN=/path/to/pulumi (an installed CLI of that version, its language hosts beside it
# or on PATH) nothing is built: the script only checks the version.
#
# The CLI's module (github.com/pulumi/pulumi/pkg/v3) carries replace directives, so `go install pkg@version`
# refuses it; a small wrapper module requires it at the pinned version and repeats its non-local replaces.
# The language hosts have been modules of their own (sdk/{nodejs,python}/cmd/pulumi-language-*) since v3.69,
# and those modules are not published with version tags, so the proxy has no version of them. The newest
# published module that contains them is github.com/pulumi/pulumi/sdk/v3 at HOSTS_VERSION: those hosts speak
# the same language-host protocol (the engine falls back for the newer calls) and start the pinned SDK's own
# run script from the program's node_modules, so the program runs on the pinned SDK.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=${PULUMI_VERSION:-$(node -p 'require(process.argv[1]).packages["node_modules/@pulumi/pulumi"].version' "$root/package-lock.json")}
hosts_version=${PULUMI_HOSTS_VERSION:-3.68.0}
tools="$root/.tools/pulumi-$version"
bin="$tools/bin"
stamp="$tools/built"

log() { echo "build-pulumi: $*" >&2; }

if [[ -n "${PULUMI_BIN:-}" ]]; then
  have=$("$PULUMI_BIN" version 2>/dev/null || true)
  if [[ "$have" != "v$version" ]]; then
    log "PULUMI_BIN=$PULUMI_BIN reports '${have:-nothing}', expected v$version (the @pulumi/pulumi version in package-lock.json); unset PULUMI_BIN to build it"
    exit 1
  fi
  if ! PATH="$(dirname "$PULUMI_BIN"):$PATH" command -v pulumi-language-nodejs >/dev/null; then
    log "no pulumi-language-nodejs beside PULUMI_BIN=$PULUMI_BIN or on PATH"
    exit 1
  fi
  log "using PULUMI_BIN=$PULUMI_BIN ($have); nothing to build"
  exit 0
fi

if [[ -f "$stamp" && -x "$bin/pulumi" && -x "$bin/pulumi-language-nodejs" ]]; then
  log "pulumi v$version already built in ${bin#"$root"/} ($(<"$stamp")); nothing to do"
  exit 0
fi

command -v go >/dev/null || {
  log "needs Go (go command not found); or set PULUMI_BIN to an installed pulumi v$version"
  exit 1
}

export GOFLAGS="-buildvcs=false -mod=mod"
export GOCACHE="${PULUMI_GOCACHE:-$root/.tools/go-build}"
export GOWORK=off
ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version"
start=$SECONDS

# Writes a wrapper module in $1 that requires module $2 at version $3 and repeats that module's non-local
# replace directives (local ones, such as the SDK's ../sdk, become plain requirements at the same version).
wrapper() {
  local dir=$1 mod=$2 ver=$3 gomod
  rm -rf "$dir" && mkdir -p "$dir"
  (
    cd "$dir"
    printf 'module registry-mirrors.tools/%s\n\ngo 1.21\n' "$(basename "$dir")" >go.mod
    gomod=$(go mod download -json "$mod@v$ver" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).GoMod)')
    mapfile -t edits < <(go mod edit -json "$gomod" | node -e '
      const { Replace = [] } = JSON.parse(require("fs").readFileSync(0, "utf8"));
      for (const r of Replace) {
        if (r.New.Version) console.log(`-replace=${r.Old.Path}=${r.New.Path}@${r.New.Version}`);
        else if (r.Old.Path.startsWith("github.com/pulumi/pulumi/")) console.log(`-require=${r.Old.Path}@v${process.argv[1]}`);
      }' "$ver")
    go mod edit "-require=$mod@v$ver" "${edits[@]}"
  )
}

# Fails when the wrapper module resolved module $1 to another version than $2.
pinned() {
  local got
  got=$(go list -m -f '{{.Version}}' "$1")
  [[ "$got" == "v$2" ]] || {
    log "$1 resolved to $got, expected v$2"
    return 1
  }
}

rm -rf "$bin" "$stamp"
mkdir -p "$bin"

log "building pulumi v$version (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)"
wrapper "$tools/src/cli" github.com/pulumi/pulumi/pkg/v3 "$version"
(
  cd "$tools/src/cli"
  go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$version"
  pinned github.com/pulumi/pulumi/pkg/v3 "$version"
  go build -trimpath -ldflags "$ldflags" -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
)

log "building the language hosts from github.com/pulumi/pulumi/sdk/v3@v$hosts_version"
wrapper "$tools/src/hosts" github.com/pulumi/pulumi/sdk/v3 "$hosts_version"
(
  cd "$tools/src/hosts"
  go get "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs@v$hosts_version"
  pinned github.com/pulumi/pulumi/sdk/v3 "$hosts_version"
  go build -trimpath -ldflags "$ldflags" -o "$bin/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
)
hosts="nodejs"
if (
  cd "$tools/src/hosts"
  go get "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python@v$hosts_version" &&
    pinned github.com/pulumi/pulumi/sdk/v3 "$hosts_version" &&
    go build -trimpath -ldflags "$ldflags" -o "$bin/pulumi-language-python" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python &&
    sdk=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3) &&
    install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$bin/"
); then
  hosts="$hosts and python"
else
  log "the Python language host did not build; continuing without it"
  rm -f "$bin/pulumi-language-python"
fi

have=$("$bin/pulumi" version)
[[ "$have" == "v$version" ]] || {
  log "built pulumi reports $have, expected v$version"
  exit 1
}
printf 'cli v%s, hosts (%s) from sdk v%s\n' "$version" "$hosts" "$hosts_version" >"$stamp"
log "built pulumi $have and the $hosts language hosts into ${bin#"$root"/} in $((SECONDS - start))s"
