#!/usr/bin/env bash
# Builds, from the Go module proxy, what test/engine runs: the Pulumi CLI at the version of @pulumi/pulumi in
# package-lock.json with its Node.js, Python and Go language hosts (.tools/pulumi-<version>/bin), and the Kubernetes
# provider plugin (.tools/pulumi-kubernetes-<version>/bin). Each part is skipped when it is already built.
#
#   PULUMI_BIN=/path/to/pulumi             use an installed CLI of that version (its own language hosts beside it
#                                          or on PATH) instead of building one
#   PULUMI_KUBERNETES_BIN=/path/to/plugin  use an installed pulumi-resource-kubernetes instead of building one
#   PULUMI_TOOLS_DIR=/path                 keep the builds (and Go's build cache) there instead of .tools/, e.g.
#                                          outside a CI clone so the next clone on the machine reuses them
#
# The CLI's module (github.com/pulumi/pulumi/pkg/v3) carries replace directives, so `go install pkg@version`
# refuses it; a small wrapper module requires it at the pinned version and repeats its non-local replaces.
# The language hosts have been modules of their own (sdk/nodejs/cmd/pulumi-language-nodejs/v3, ...) since v3.69
# (Go's since v3.67), and the proxy refuses those modules at every version (403), so the pinned hosts cannot be
# had. The newest published modules that contain hosts are github.com/pulumi/pulumi/sdk/v3 at HOSTS_VERSION
# (nodejs, python) and GO_HOSTS_VERSION (go): they speak the same language-host protocol (the engine falls back
# for the newer calls) and start the pinned SDK's own run script, so programs run on the pinned SDK. What they
# lack for a component package (provider/) is bridged: scripts/langhost-bridge, built against the pinned CLI's
# module, is installed as pulumi-language-<lang> and forwards to the old host (pulumi-language-<lang>-base),
# running Node.js plugins, generating Python and Go SDKs and linking them into programs (`pulumi package add`), and
# installing Python programs' requirements itself.
# The Kubernetes provider's module is published only as pseudo-versions, and its command embeds a schema file
# that its release build generates (go generate), which the module does not hold: the module is copied, the file
# generated from the schema.json beside it, and the copy built through a replace directive.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=${PULUMI_VERSION:-$(node -p 'require(process.argv[1]).packages["node_modules/@pulumi/pulumi"].version' "$root/package-lock.json")}
hosts_version=${PULUMI_HOSTS_VERSION:-3.68.0}
go_hosts_version=${PULUMI_GO_HOSTS_VERSION:-3.66.0}
k8s_version=${PULUMI_KUBERNETES_VERSION:-4.0.0-20260115033456-f47bc2d6f199}
tools_dir=${PULUMI_TOOLS_DIR:-$root/.tools}
tools="$tools_dir/pulumi-$version"
k8s_tools="$tools_dir/pulumi-kubernetes-$k8s_version"

log() { echo "build-pulumi: $*" >&2; }

# Writes a wrapper module in $1 that requires module $2 at version $3 and repeats that module's non-local
# replace directives (its local ones, such as the CLI's `../sdk`, leave the requirement as the module states it).
wrapper() {
  local dir=$1 mod=$2 ver=$3 gomod
  rm -rf "$dir" && mkdir -p "$dir"
  (
    cd "$dir"
    printf 'module registry-mirrors.tools/%s\n\ngo 1.21\n' "$(basename "$dir")" >go.mod
    gomod=$(go mod download -json "$mod@v$ver" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).GoMod)')
    mapfile -t replaces < <(go mod edit -json "$gomod" | node -e '
      const { Replace = [] } = JSON.parse(require("fs").readFileSync(0, "utf8"));
      for (const r of Replace) if (r.New.Version) console.log(`-replace=${r.Old.Path}=${r.New.Path}@${r.New.Version}`);')
    go mod edit "-require=$mod@v$ver" "${replaces[@]}"
  )
}

# Fails when the wrapper module in the current folder resolved module $1 to another version than $2.
pinned() {
  local got
  got=$(go list -m -f '{{.Version}}' "$1")
  [[ "$got" == "v$2" ]] || {
    log "$1 resolved to $got, expected v$2"
    return 1
  }
}

go_env() {
  command -v go >/dev/null || {
    log "needs Go (go command not found); or set PULUMI_BIN and PULUMI_KUBERNETES_BIN to installed binaries"
    exit 1
  }
  export GOFLAGS="-buildvcs=false -mod=mod"
  export GOCACHE="${PULUMI_GOCACHE:-$tools_dir/go-build}"
  export GOWORK=off
}

build_cli() {
  local bin="$tools/bin" stamp="$tools/built" start=$SECONDS ldflags have
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
    log "using PULUMI_BIN=$PULUMI_BIN ($have); no CLI to build"
    return
  fi
  if [[ -f "$stamp" && -x "$bin/pulumi" ]]; then
    log "pulumi v$version already built in $bin ($(<"$stamp")); nothing to do"
    return
  fi
  go_env
  ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version"
  rm -f "$bin/pulumi" "$stamp"
  mkdir -p "$bin"

  log "building pulumi v$version (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)"
  wrapper "$tools/src/cli" github.com/pulumi/pulumi/pkg/v3 "$version"
  (
    cd "$tools/src/cli"
    go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$version"
    pinned github.com/pulumi/pulumi/pkg/v3 "$version"
    pinned github.com/pulumi/pulumi/sdk/v3 "$version"
    go build -trimpath -ldflags "$ldflags" -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  )

  have=$("$bin/pulumi" version)
  [[ "$have" == "v$version" ]] || {
    log "built pulumi reports $have, expected v$version"
    exit 1
  }
  printf 'cli v%s\n' "$version" >"$stamp"
  log "built pulumi $have into $bin in $((SECONDS - start))s"
}

# Builds the old host of language $1 (pulumi-language-$1-base) from github.com/pulumi/pulumi/sdk/v3 at version
# $2, package path $3 inside that module, into folder $4.
build_base_host() {
  local lang=$1 ver=$2 pkg=github.com/pulumi/pulumi/sdk/v3/$3 out=$4 src="$tools/src/host-$1"
  # Called in `if` too, where `set -e` does not apply: every step is chained.
  wrapper "$src" github.com/pulumi/pulumi/sdk/v3 "$ver" &&
    (
      cd "$src" &&
        go get "$pkg@v$ver" &&
        pinned github.com/pulumi/pulumi/sdk/v3 "$ver" &&
        go build -trimpath -ldflags "$ldflags" -o "$out/pulumi-language-$lang-base" "$pkg" &&
        if [[ "$lang" == python ]]; then
          install -m 0755 "$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)/python/cmd/pulumi-language-python-exec" "$out/"
        fi
    )
}

build_hosts() {
  local bin="$tools/bin" stamp="$tools/hosts-built" start=$SECONDS ldflags key lang hosts=() bridge new="$tools/src/hosts-bin" f
  [[ -z "${PULUMI_BIN:-}" ]] || return 0
  key="bridge $(sha256sum "$root/scripts/langhost-bridge/main.go" | cut -c1-16) on pkg v$version; nodejs, python from sdk v$hosts_version; go from sdk v$go_hosts_version"
  if [[ -f "$stamp" && "$(<"$stamp")" == "$key" ]]; then
    log "the language hosts are already built in $bin ($key); nothing to do"
    return
  fi
  go_env
  ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version"
  # Built aside and moved in at the end (one rename per file), so runs using $bin meanwhile keep working hosts.
  rm -rf "$stamp" "$new"
  mkdir -p "$bin" "$new"

  log "building the language hosts: nodejs and python from github.com/pulumi/pulumi/sdk/v3@v$hosts_version, go from v$go_hosts_version"
  build_base_host nodejs "$hosts_version" nodejs/cmd/pulumi-language-nodejs "$new" || exit 1
  hosts+=(nodejs)
  if build_base_host python "$hosts_version" python/cmd/pulumi-language-python "$new"; then
    hosts+=(python)
  else
    log "the Python language host did not build; continuing without it"
  fi
  if build_base_host go "$go_hosts_version" go/pulumi-language-go "$new"; then
    hosts+=(go)
  else
    log "the Go language host did not build; continuing without it"
  fi

  log "building the language-host bridge (scripts/langhost-bridge) against github.com/pulumi/pulumi/pkg/v3@v$version"
  bridge="$tools/src/bridge"
  wrapper "$bridge" github.com/pulumi/pulumi/pkg/v3 "$version"
  cp "$root/scripts/langhost-bridge/main.go" "$bridge/"
  (
    cd "$bridge"
    go get "github.com/pulumi/pulumi/pkg/v3@v$version"
    pinned github.com/pulumi/pulumi/pkg/v3 "$version"
    pinned github.com/pulumi/pulumi/sdk/v3 "$version"
    go build -trimpath -ldflags "-s -w" -o "$new/langhost-bridge" .
  )
  for lang in "${hosts[@]}"; do cp "$new/langhost-bridge" "$new/pulumi-language-$lang"; done
  # The old hosts first, then the bridges that start them.
  for f in "$new"/*-base "$new"/pulumi-language-python-exec "$new"/langhost-bridge "$new"/pulumi-language-*; do
    [[ -e "$f" ]] && mv -f "$f" "$bin/"
  done
  rm -rf "$new"

  printf '%s\n' "$key" >"$stamp"
  log "built the ${hosts[*]} language hosts and the bridge into $bin in $((SECONDS - start))s"
}

build_kubernetes() {
  local bin="$k8s_tools/bin" stamp="$k8s_tools/built" start=$SECONDS mod=github.com/pulumi/pulumi-kubernetes/provider/v4 src
  local cmd=github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes
  if [[ -n "${PULUMI_KUBERNETES_BIN:-}" ]]; then
    [[ -x "$PULUMI_KUBERNETES_BIN" ]] || {
      log "PULUMI_KUBERNETES_BIN=$PULUMI_KUBERNETES_BIN is not an executable"
      exit 1
    }
    log "using PULUMI_KUBERNETES_BIN=$PULUMI_KUBERNETES_BIN; no Kubernetes provider to build"
    return
  fi
  if [[ -f "$stamp" && -x "$bin/pulumi-resource-kubernetes" ]]; then
    log "the Kubernetes provider $k8s_version is already built in $bin; nothing to do"
    return
  fi
  go_env
  rm -rf "$bin" "$stamp"
  mkdir -p "$bin"
  log "building the Kubernetes provider ($cmd@v$k8s_version)"
  wrapper "$k8s_tools/src/build" "$mod" "$k8s_version"
  src="$k8s_tools/src/provider"
  (
    cd "$k8s_tools/src/build"
    go get "$cmd@v$k8s_version"
    pinned "$mod" "$k8s_version"
    rm -rf "$src"
    cp -r "$(go list -m -f '{{.Dir}}' "$mod")" "$src"
    chmod -R u+w "$src"
    # What the command's go:generate step writes: the schema with the version set, and the mapping compacted.
    (
      cd "$src/cmd/pulumi-resource-kubernetes"
      node -e '
        const fs = require("fs");
        const schema = JSON.parse(fs.readFileSync("schema.json", "utf8"));
        schema.version = process.argv[1];
        fs.writeFileSync("schema-embed.json", JSON.stringify(schema));
        const mapping = JSON.parse(fs.readFileSync("terraform-mapping.json", "utf8"));
        fs.writeFileSync("terraform-mapping-embed.json", JSON.stringify(mapping));
      ' "$k8s_version"
    )
    go mod edit "-replace=$mod=../provider"
    go build -trimpath -ldflags "-s -w -X $mod/pkg/version.Version=$k8s_version" -o "$bin/pulumi-resource-kubernetes" "$cmd"
  )
  printf 'kubernetes provider %s\n' "$k8s_version" >"$stamp"
  log "built the Kubernetes provider into $bin in $((SECONDS - start))s"
}

build_cli
build_hosts
build_kubernetes
