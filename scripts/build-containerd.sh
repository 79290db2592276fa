#!/usr/bin/env bash
# Builds the e2e lab's runtimes that Debian does not ship, from the Go module proxy: containerd 2.x (containerd,
# ctr) in several versions, crictl, BuildKit (buildkitd, buildctl), Kaniko (executor, warmer) and actionlint (the
# GitHub Actions workflow checker the examples' workflows are linted with). Each goes to .tools/NAME-VERSION/bin/; a
# folder that already holds its binaries is not rebuilt, so a cached run builds nothing.
#
# stdout: one line per tool, `NAME VERSION BINDIR` (the e2e lab reads it); progress and timings go to stderr.
# `--list` prints those lines without building anything.
# Versions can be overridden: CONTAINERD_VERSIONS="2.0.13 2.4.2" CRICTL_VERSION=1.37.0 BUILDKIT_VERSION=0.34.2
# KANIKO_VERSION=1.23.2 ACTIONLINT_VERSION=1.7.12;
# an empty value builds none of that tool.
set -euo pipefail

# 2.0.13: the oldest 2.x the module proxy serves, of the 2.0 line EKS AL2023 started containerd 2.x with (1.33);
# 2.1.9: the line where CRI image pulls moved to the transfer service; 2.4.2: the newest the proxy serves.
CONTAINERD_VERSIONS=${CONTAINERD_VERSIONS-"2.0.13 2.1.9 2.4.2"}
CRICTL_VERSION=${CRICTL_VERSION-1.37.0}
BUILDKIT_VERSION=${BUILDKIT_VERSION-0.34.2}
# 1.23.2: the last release of github.com/GoogleContainerTools/kaniko.
KANIKO_VERSION=${KANIKO_VERSION-1.23.2}
ACTIONLINT_VERSION=${ACTIONLINT_VERSION-1.7.12}

repo=$(cd "$(dirname "$0")/.." && pwd)
tools=${TOOLS_DIR:-$repo/.tools}
mkdir -p "$tools"

list=0
[ "${1:-}" = "--list" ] && list=1

log() { echo "build-containerd: $*" >&2; }

# build NAME VERSION MODULE [CGO] PACKAGE...: builds the packages (import paths) of MODULE@vVERSION into
# $tools/NAME-VERSION/bin unless every binary is already there.
build() {
  local name=$1 version=$2 module=$3 cgo=$4
  shift 4
  if [ "$list" -eq 1 ]; then
    echo "$name $version $tools/$name-$version/bin"
    return
  fi
  local bin="$tools/$name-$version/bin" missing=0 pkg
  for pkg in "$@"; do [ -x "$bin/$(basename "$pkg")" ] || missing=1; done
  if [ "$missing" -eq 0 ]; then
    log "$name $version cached in $bin"
    echo "$name $version $bin"
    return
  fi
  local start=$SECONDS tmp
  tmp=$(mktemp -d)
  mkdir -p "$bin"
  log "building $name $version ($module@v$version)"
  # `go install pkg@version` refuses a module whose go.mod has replace or exclude directives; such a module is
  # built from a generated wrapper module that repeats them.
  local gomod
  gomod=$(cd "$tmp" && go mod download -json "$module@v$version" | sed -n 's/^\s*"GoMod": "\(.*\)",*$/\1/p')
  local -a env=(CGO_ENABLED="$cgo" GOBIN="$tmp/out") targets=()
  for pkg in "$@"; do targets+=("$pkg@v$version"); done
  if [ -n "${FORCE_WRAPPER:-}" ] || grep -Eq '^\s*(replace|exclude)\b' "$gomod"; then
    log "$module has replace/exclude directives: building through a wrapper module"
    (
      cd "$tmp"
      go mod init registry-mirrors.local/tools >/dev/null 2>&1
      go mod edit -json "$gomod" |
        jq -r '((.Replace // [])[] | "-replace=\(.Old.Path)\(if .Old.Version then "@" + .Old.Version else "" end)=\(.New.Path)\(if .New.Version then "@" + .New.Version else "" end)"), ((.Exclude // [])[] | "-exclude=\(.Path)@\(.Version)")' |
        xargs -r go mod edit
      go get "${targets[@]}" 2>&1 | tail -n 20 >&2
      env "${env[@]}" go install -trimpath -tags no_btrfs "$@" >&2
    )
  else
    (cd "$tmp" && env "${env[@]}" go install -trimpath -tags no_btrfs "${targets[@]}" >&2)
  fi
  for pkg in "$@"; do mv "$tmp/out/$(basename "$pkg")" "$bin/"; done
  rm -rf "$tmp"
  log "built $name $version in $((SECONDS - start)) s"
  echo "$name $version $bin"
}

total=$SECONDS
for v in $CONTAINERD_VERSIONS; do
  build containerd "$v" github.com/containerd/containerd/v2 0 \
    github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr
done
[ -z "$CRICTL_VERSION" ] || build crictl "$CRICTL_VERSION" sigs.k8s.io/cri-tools 0 sigs.k8s.io/cri-tools/cmd/crictl
[ -z "$BUILDKIT_VERSION" ] || build buildkit "$BUILDKIT_VERSION" github.com/moby/buildkit 0 \
  github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
# The proxy refuses Kaniko's version list, which `go install pkg@version` reads for deprecation notices: build it
# through the wrapper module (whose `go get` of the exact version needs no list).
[ -z "$KANIKO_VERSION" ] || FORCE_WRAPPER=1 build kaniko "$KANIKO_VERSION" github.com/GoogleContainerTools/kaniko 0 \
  github.com/GoogleContainerTools/kaniko/cmd/executor github.com/GoogleContainerTools/kaniko/cmd/warmer
[ -z "$ACTIONLINT_VERSION" ] || build actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint 0 \
  github.com/rhysd/actionlint/cmd/actionlint
[ "$list" -eq 1 ] || log "done in $((SECONDS - total)) s"
