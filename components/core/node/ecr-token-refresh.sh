#!/bin/sh
# Rendered by registry-mirrors: the ECR token of containerd's ECR mirrors (policy auth "ecr").
# Usage: ecr-token-refresh [--render-only]   (run by registry-mirrors-ecr-token.timer at boot and hourly)
# ecr-token.list beside it has one "REGION HOSTS_TOML TABLE" line per ECR mirror. Per region it keeps a token
# (token.REGION, mode 0600) from `aws ecr get-authorization-token` with the node's instance role, renewed once it is
# 6 hours old (it lasts 12). Each HOSTS_TOML becomes HOSTS_TOML.registry-mirrors.template plus an Authorization header in TABLE,
# written atomically, mode 0600. A HOSTS_TOML that is a symlink is written through it (the link stays), and its
# template is the one beside the file it leads to, where the apply script writes it (an absolute link target is under
# NODE_ROOT too). A failed renewal keeps the previous token, says why on stderr and exits 1.
# Env: NODE_ROOT (prefix of node paths, default /), AWS_CLI (default aws).
set -eu
set -f
umask 077
ROOT=${NODE_ROOT:-/}
ROOT=${ROOT%/}
AWS_CLI=${AWS_CLI:-aws}
DIR=$ROOT/etc/containerd/registry-mirrors
LIST=$DIR/ecr-token.list
STATUS=0
say() { printf 'ecr-token: %s\n' "$*"; }
if [ ! -e "$LIST" ]; then say "no $LIST, nothing to do" && exit 0; fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/registry-mirrors-ecr.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
put() { # replaces $2 with $1 atomically, mode 0600
  t="${2%/*}/.${2##*/}.registry-mirrors.$$"
  cat "$1" >"$t"
  chmod 600 "$t"
  sync "$t" 2>/dev/null || sync
  mv -f "$t" "$2"
}
# One run at a time (the timer, the apply script): the last one reads the newest templates. (BusyBox flock has no -w.)
if command -v flock >/dev/null 2>&1; then
  exec 9>>"$DIR/.ecr-token.lock"
  n=300
  until flock -n 9; do
    if [ "$n" -le 0 ]; then echo "ecr-token: another run still holds $DIR/.ecr-token.lock after 300s" >&2 && exit 1; fi
    n=$((n - 1))
    sleep 1
  done
fi
if [ "${1:-}" != --render-only ]; then
  awk '!seen[$1]++ { print $1 }' "$LIST" >"$WORK/regions"
  while read -r region; do
    token=$DIR/token.$region
    if [ -s "$token" ] && [ -n "$(find "$token" -mmin -360 2>/dev/null)" ]; then continue; fi
    if "$AWS_CLI" ecr get-authorization-token --region "$region" --cli-connect-timeout 10 --output text \
      --query 'authorizationData[0].authorizationToken' >"$WORK/token" 2>"$WORK/error" &&
      awk 'NR == 1 && /^[A-Za-z0-9+\/]+=*$/ && length($0) >= 20 { ok = 1 } END { exit !(ok && NR == 1) }' "$WORK/token"; then
      put "$WORK/token" "$token"
      say "renewed the token of $region"
    else
      why=$(awk '{ s = s $0 " " } END { print substr(s, 1, 400) }' "$WORK/error")
      if [ -s "$token" ]; then kept="containerd keeps the previous token until it expires"; else kept="containerd skips the ECR mirrors of $region until a renewal works"; fi
      printf 'ecr-token: could not get an ECR token for %s (%s); %s. Fix: let the instance role call ecr:GetAuthorizationToken (e.g. AmazonEC2ContainerRegistryReadOnly) and reach the ECR API of %s (the com.amazonaws.%s.ecr.api VPC endpoint in private subnets)\n' "$region" "${why:-no token in the output of $AWS_CLI}" "$kept" "$region" "$region" >&2
      STATUS=1
    fi
  done <"$WORK/regions"
fi
awk '!seen[$2]++ { print $2 }' "$LIST" >"$WORK/files"
while read -r path; do
  file=$ROOT$path i=0
  while [ -L "$file" ] && [ $i -lt 40 ]; do
    t=$(readlink "$file")
    case $t in /*) file=$ROOT$t ;; *) file=${file%/*}/$t ;; esac
    i=$((i + 1))
  done
  [ -e "$file.registry-mirrors.template" ] || continue
  : >"$WORK/headers"
  while read -r region p table; do
    if [ "$p" = "$path" ] && [ -s "$DIR/token.$region" ]; then
      { printf '%s Basic ' "$table" && tr -d '\n' <"$DIR/token.$region" && echo; } >>"$WORK/headers"
    fi
  done <"$LIST"
  # Each header table goes right after the table it belongs to (the root's before the first table), as a TOML
  # writer would put it; the template never has one (the policy refuses headers beside auth "ecr").
  awk -v headers="$WORK/headers" '
    BEGIN {
      while ((getline line < headers) > 0) {
        n++
        i = index(line, " ")
        table[n] = substr(line, 1, i - 1)
        value[n] = substr(line, i + 1)
        parent[n] = table[n]
        sub(/\.?header$/, "", parent[n])
      }
    }
    function add(last,   i) {
      for (i = 1; i <= n; i++) {
        if (done[i] || parent[i] != current) continue
        if (last) printf "\n"
        printf "[%s]\nAuthorization = \"%s\"\n", table[i], value[i]
        if (!last) printf "\n"
        done[i] = 1
      }
    }
    /^[ \t]*\[/ {
      add(0)
      current = $0
      sub(/^[ \t]*\[[ \t]*/, "", current)
      sub(/[ \t]*\][ \t]*$/, "", current)
    }
    { print }
    END { add(1) }
  ' "$file.registry-mirrors.template" >"$WORK/hosts.toml"
  if ! cmp -s "$WORK/hosts.toml" "$file"; then
    put "$WORK/hosts.toml" "$file"
    say "wrote $path"
  fi
done <"$WORK/files"
exit "$STATUS"
