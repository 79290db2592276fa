#!/bin/sh
# registry-mirrors: writes the node apply script, then runs it.
set -eu
umask 077
mkdir -p '/var/lib/registry-mirrors'
cat > '/var/lib/registry-mirrors/apply-node-config.sh.tmp' <<'REGISTRY_MIRRORS_EOF_2'
#!/bin/sh
# shellcheck disable=SC2317
# Rendered by registry-mirrors (do not edit; change the policy and render again).
# Usage: sh apply-node-config.sh [apply|restore]   (restore: put back the node's own files, then reload)
# Env: NODE_ROOT (prefix of node paths, default /), RUNTIME_CTL (used instead of systemctl, word-split on purpose),
#      VERIFY_SECONDS (default 60), LOCK_SECONDS (wait for another run, default 600), DOCKER_HOST, CONTAINERD_ADDRESS.
# Exit: 0 applied or nothing to do; 1 refused or rolled back (see stderr); 2 bad usage.
# A changed file keeps one backup of the node's own version (FILE.registry-mirrors.bak, or FILE.registry-mirrors.created).
# daemon.json.registry-mirrors.keys lists the daemon.json keys this script manages: a key the policy drops is removed.
# One run at a time: each folder written is locked (flock FOLDER/.registry-mirrors.lock, else mkdir .lock.d).
set -eu
set -f
umask 022
MODE=${1:-apply}
case $MODE in apply | restore) ;; *) echo "usage: sh $0 [apply|restore]" >&2 && exit 2 ;; esac
ROOT=${NODE_ROOT:-/}
ROOT=${ROOT%/}
RUNTIME_CTL=${RUNTIME_CTL:-systemctl}
VERIFY_SECONDS=${VERIFY_SECONDS:-60}
LOCK_SECONDS=${LOCK_SECONDS:-600}
case $VERIFY_SECONDS$LOCK_SECONDS in '' | *[!0-9]*) echo "registry-mirrors: VERIFY_SECONDS and LOCK_SECONDS must be numbers" >&2 && exit 2 ;; esac
# shellcheck disable=SC2034 # unused when the plan has nothing that restarts
RESTART_POLICY=never
STATUS=0
TXN=0
LOCKED=
WORK=$(mktemp -d "${TMPDIR:-/tmp}/registry-mirrors.XXXXXX")
# On an unexpected error in the middle of a change, put back what was already written.
trap 'rollback; unlock; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM HUP
say() { printf '%s\n' "$*"; }
fail() {
  printf 'registry-mirrors: %s\n' "$*" >&2
  STATUS=1
}
# shellcheck disable=SC2086
ctl() { $RUNTIME_CTL "$@" 3>&-; }
active() { ctl is-active --quiet "$1" >/dev/null 2>&1; }
limit() { if command -v timeout >/dev/null 2>&1; then timeout "$@"; else (shift && "$@"); fi; }
wait_for() { # runs "$@" once a second until it succeeds, for at most VERIFY_SECONDS
  n=$VERIFY_SECONDS
  until "$@"; do
    [ "$n" -gt 0 ] || return 1
    n=$((n - 1))
    sleep 1
  done
}
put() { # writes $1 to node file $2 atomically; $3: mode, or "copy" ($1's mode), or empty (keep $2's mode)
  d=${2%/*}
  t="$d/.${2##*/}.registry-mirrors.$$"
  mkdir -p "$d"
  if [ "${3:-}" = copy ]; then
    cp -p "$1" "$t"
  elif [ -n "${3:-}" ]; then
    (umask 077 && cat "$1" >"$t")
    chmod "$3" "$t"
  else
    if [ -e "$2" ]; then cp -p "$2" "$t"; fi
    cat "$1" >"$t"
  fi
  sync "$t" 2>/dev/null || sync
  mv -f "$t" "$2"
  sync "$d" 2>/dev/null || true
}
change() { # like put, remembering the old content for rollback; $1 "-" removes $2
  TXN=$((TXN + 1))
  if [ -e "$2" ]; then cp -p "$2" "$WORK/undo.$TXN"; fi
  printf '%s %s\n' "$TXN" "$2" >>"$WORK/txn"
  if [ "$1" = - ]; then rm -f "$2"; else put "$1" "$2" "${3:-}"; fi
}
rollback() {
  [ -e "$WORK/txn" ] || return 0
  while read -r n f; do
    if [ -e "$WORK/undo.$n" ]; then put "$WORK/undo.$n" "$f" copy; else rm -f "$f"; fi
  done <"$WORK/txn"
  rm -f "$WORK/txn"
}
commit() { rm -f "$WORK/txn"; }
has_backup() { [ -e "$1.registry-mirrors.bak" ] || [ -e "$1.registry-mirrors.created" ]; }
backup() { # keeps the node's own version of $1 once, before the first change
  if has_backup "$1"; then return 0; fi
  if [ -e "$1" ]; then change "$1" "$1.registry-mirrors.bak" copy; else
    : >"$WORK/empty"
    change "$WORK/empty" "$1.registry-mirrors.created" 600
  fi
}
unapply() { # puts back the node's own version of $1; $2 is the label for messages
  if [ -e "$1.registry-mirrors.bak" ]; then
    change "$1.registry-mirrors.bak" "$1" copy
    change - "$1.registry-mirrors.bak"
    say "$2: restored ${1#"$ROOT"}"
  elif [ -e "$1.registry-mirrors.created" ]; then
    change - "$1"
    change - "$1.registry-mirrors.created"
    say "$2: removed ${1#"$ROOT"}"
  fi
}
# settle LABEL UNIT ACTION CHECK...: ends the transaction; after a reload/restart CHECK must pass within
# VERIFY_SECONDS, else every change is put back and UNIT gets the same action again.
# SETTLED is 1 when it did not roll back.
# shellcheck disable=SC2034 # SETTLED is read by the Docker section only
settle() {
  label=$1 unit=$2 action=$3 SETTLED=1
  shift 3
  if [ "$action" = none ]; then commit && return 0; fi
  if ctl "$action" "$unit" >"$WORK/ctl.out" 2>&1 && wait_for "$@"; then
    commit
    if [ "$unit" = "$label" ]; then say "$label: ${action}ed"; else say "$label: ${action}ed $unit"; fi
    return 0
  fi
  rollback
  SETTLED=
  ctl "$action" "$unit" >>"$WORK/ctl.out" 2>&1 || true
  wait_for active "$unit" || true
  fail "$label: $unit did not come back within ${VERIFY_SECONDS}s after the $action ($(tr '\n' ' ' <"$WORK/ctl.out")); the previous files were put back and $unit ${action}ed again"
}
# lock FOLDER FD: waits up to LOCK_SECONDS while another run (cloud-init, the DaemonSet) holds FOLDER: flock on
# FOLDER/.registry-mirrors.lock, else a folder FOLDER/.registry-mirrors.lock.d with the owner's pid (taken over once
# that pid is gone). A run removes its lock as it ends, so a flock on a file no longer at that path does not count.
lock() {
  [ "$MODE" = apply ] || [ -d "$ROOT$1" ] || return 0
  mkdir -p "$ROOT$1"
  l=$ROOT$1/.registry-mirrors.lock n=$LOCK_SECONDS
  if command -v flock >/dev/null 2>&1; then
    # shellcheck disable=SC3013 # -ef: dash, BusyBox and bash have it
    until eval "exec $2>>\"\$l\"" && flock -n "$2" && [ "$l" -ef "/proc/$$/fd/$2" ]; do lock_wait "$l"; done
    LOCKED="$LOCKED $1/.registry-mirrors.lock"
    return 0
  fi
  until mkdir "$l.d" 2>/dev/null; do
    pid=$(cat "$l.d/pid" 2>/dev/null) || pid=
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      rm -rf "$l.d"
      say "took over $1/.registry-mirrors.lock.d from pid $pid, which is gone"
    else
      lock_wait "$l.d"
    fi
  done
  echo "$$" >"$l.d/pid"
  LOCKED="$LOCKED $1/.registry-mirrors.lock.d"
}
lock_wait() {
  if [ "$n" -le 0 ]; then
    fail "another run still holds ${1#"$ROOT"} after ${LOCK_SECONDS}s; nothing was changed. Fix: run this again when it is done (a .lock.d folder whose pid is gone is taken over)"
    exit 1
  fi
  [ "$n" != "$LOCK_SECONDS" ] || say "waiting for another run to finish (${1#"$ROOT"})"
  n=$((n - 1))
  sleep 1
}
unlock() { for f in $LOCKED; do rm -rf "$ROOT$f"; done; }
lock /etc/containerd 3

# --- containerd: hosts.toml files (read on every pull) and config_path in config.toml ---
CTD_MAIN=$ROOT/etc/containerd/config.toml
CTD_DIR='/etc/containerd/certs.d'
CTD_STATE=$ROOT$CTD_DIR/.registry-mirrors.files
CTD_TEMPLATE=.registry-mirrors.template
CTD_TABLE_1='plugins.cri.registry'
CTD_TABLE_2='plugins."io.containerd.grpc.v1.cri".registry'
CTD_TABLE_3='plugins."io.containerd.cri.v1.images".registry'
cat >"$WORK/ctd1" <<'REGISTRY_MIRRORS_EOF'
# Written by registry-mirrors. Changes here are overwritten; edit the mirror policy instead.
server = "https://registry-1.docker.io"

[host."https://a1b2c3d4.mirror.aliyuncs.com"]
capabilities = [ "pull", "resolve" ]
REGISTRY_MIRRORS_EOF
cat >"$WORK/ctd2" <<'REGISTRY_MIRRORS_EOF'
# Written by registry-mirrors. Changes here are overwritten; edit the mirror policy instead.
server = "https://registry.cn-hangzhou.aliyuncs.com"

[host."https://registry-vpc.cn-hangzhou.aliyuncs.com"]
capabilities = [ "pull", "resolve" ]
REGISTRY_MIRRORS_EOF
cat >"$WORK/containerd.list" <<'REGISTRY_MIRRORS_EOF'
ctd1 644 /etc/containerd/certs.d/docker.io/hosts.toml
ctd2 644 /etc/containerd/certs.d/registry.cn-hangzhou.aliyuncs.com/hosts.toml
REGISTRY_MIRRORS_EOF
cat >"$WORK/containerd.paths" <<'REGISTRY_MIRRORS_EOF'
/etc/containerd/certs.d/docker.io/hosts.toml
/etc/containerd/certs.d/registry.cn-hangzhou.aliyuncs.com/hosts.toml
REGISTRY_MIRRORS_EOF
cat >"$WORK/inspect.py" <<'REGISTRY_MIRRORS_EOF'
import sys
try:
    import tomllib
except ImportError:
    sys.exit(3)
try:
    with open(sys.argv[1], "rb") as f:
        doc = tomllib.load(f)
except ValueError as e:
    sys.exit(print("error", str(e).replace("\n", " ")))
def table(value, *names):
    for name in names:
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}
version = doc.get("version", 1)
cri = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.images"}.get(version)
if cri is None:
    sys.exit(print("error unsupported config version %r" % (version,)))
registry = table(doc, "plugins", cri, "registry")
path = registry.get("config_path")
print("version", version)
print("path", path if isinstance(path, str) else "")
if registry.get("mirrors"):
    print("conflict mirrors")
if any(isinstance(c, dict) and c.get("tls") for c in table(registry, "configs").values()):
    print("conflict tls")
if version < 3 and cri in (doc.get("disabled_plugins") or []):
    print("crioff 1")
REGISTRY_MIRRORS_EOF
cat >"$WORK/scan.awk" <<'REGISTRY_MIRRORS_EOF'
function norm(s) {
  gsub(/[ \t"]/, "", s)
  gsub(q, "", s)
  return s
}
function strval(s,   c, i) {
  sub(/^[^=]*=[ \t]*/, "", s)
  c = substr(s, 1, 1)
  if (c == "\"" || c == q) {
    s = substr(s, 2)
    i = index(s, c)
    return i ? substr(s, 1, i - 1) : s
  }
  sub(/[ \t]*#.*$/, "", s)
  return s
}
function items(name,   a) {
  a = arrays[name]
  sub(/^[^[]*\[/, "", a)
  sub(/\].*$/, "", a)
  return split(norm(a), item, ",")
}
function setreg() {
  top = 0
  if (ver == "") ver = 1
  if (ver == 1) { reg = "plugins.cri.registry"; cri = "cri" }
  else if (ver == 2) { reg = "plugins.io.containerd.grpc.v1.cri.registry"; cri = "io.containerd.grpc.v1.cri" }
  else if (ver == 3) { reg = "plugins.io.containerd.cri.v1.images.registry"; cri = "" }
  else bad = 1
}
BEGIN { top = 1; ver = ""; inarr = "" }
{
  line = $0
  sub(/^[ \t]+/, "", line)
  if (line == "" || substr(line, 1, 1) == "#") next
  if (inarr) {
    arrays[inarr] = arrays[inarr] line
    if (index(line, "]")) inarr = ""
    next
  }
  if (substr(line, 1, 1) == "[") {
    if (top) setreg()
    cur = ""
    if (substr(line, 2, 1) == "[") next
    h = line
    sub(/^\[/, "", h)
    sub(/\][^\]]*$/, "", h)
    cur = norm(h)
    if (cur == reg) regline = NR
    if (index(cur, reg ".mirrors.") == 1) mirrors = 1
    if (index(cur, reg ".configs.") == 1 && cur ~ /\.tls$/) tls = 1
    next
  }
  k = line
  sub(/[ \t]*=.*$/, "", k)
  k = norm(k)
  if (top) {
    if (k == "version") ver = strval(line) + 0
    if (k == "disabled_plugins" || k == "imports") {
      arrays[k] = line
      if (!index(line, "]")) inarr = k
    }
    next
  }
  if (cur == reg) {
    if (k == "config_path") { pathline = NR; path = strval(line) }
    if (k == "mirrors" || index(k, "mirrors.") == 1) mirrors = 1
    if (index(k, "configs.") == 1 && (k ~ /\.tls$/ || k ~ /\.tls\./)) tls = 1
  } else if (cur == reg ".mirrors") {
    mirrors = 1
  } else if (index(cur, reg ".configs.") == 1 && (k == "tls" || index(k, "tls.") == 1)) {
    tls = 1
  }
}
END {
  if (top) setreg()
  if (bad) { print "error unsupported config version " ver; exit }
  print "version " ver
  print "path " path
  if (mirrors) print "conflict mirrors"
  if (tls) print "conflict tls"
  n = items("disabled_plugins")
  for (i = 1; i <= n; i++) if (cri != "" && item[i] == cri) print "crioff 1"
  n = items("imports")
  for (i = 1; i <= n; i++) if (item[i] != "") print "import " item[i]
  if (regline) print "regline " regline
  if (pathline) print "pathline " pathline
}
REGISTRY_MIRRORS_EOF
ECR_NODE_DIR=/etc/containerd/registry-mirrors
ECR_DIR=$ROOT$ECR_NODE_DIR
ECR_UNIT=registry-mirrors-ecr-token
ECR_RENDER=''
systemd_here() { # systemd runs the node (the DaemonSet reaches it through nsenter)
  s=$(ctl is-system-running 2>/dev/null) || true
  case $s in running | degraded | starting | initializing | maintenance) return 0 ;; *) return 1 ;; esac
}
warn() { printf 'registry-mirrors: %s\n' "$*" >&2; }
ecr_remove() { # the folder is the refresher's alone
  [ -d "$ECR_DIR" ] || return 0
  if systemd_here; then
    ctl stop "$ECR_UNIT.timer" "$ECR_UNIT.service" >/dev/null 2>&1 || true
    ctl disable "$ECR_UNIT.timer" "$ECR_UNIT.service" >/dev/null 2>&1 || warn "containerd: could not disable $ECR_UNIT.timer"
  fi
  set +f
  for f in "$ECR_DIR"/*; do if [ -e "$f" ]; then change - "$f"; fi; done
  set -f
  rm -f "$ECR_DIR/.ecr-token.lock"
  rmdir "$ECR_DIR" 2>/dev/null || true
  say "containerd: removed the ECR token refresher"
}
ecr_sync() { ecr_remove; }
ecr_start() { : "$ECR_RENDER"; }
# ctd_inspect FILE sets CTD_VERSION, CTD_PATH, CTD_CONFLICT, CTD_CRIOFF, CTD_ERROR, CTD_MISSING, CTD_REGLINE and
# CTD_PATHLINE: Python's tomllib reads the file when there is one, awk finds the lines an edit needs.
ctd_inspect() {
  CTD_VERSION='' CTD_PATH='' CTD_CONFLICT='' CTD_CRIOFF='' CTD_ERROR='' CTD_MISSING='' CTD_REGLINE='' CTD_PATHLINE=''
  if [ ! -e "$1" ]; then CTD_MISSING=1 && return 0; fi
  awk -v q="'" -f "$WORK/scan.awk" "$1" >"$WORK/scan.out"
  if command -v python3 >/dev/null 2>&1 && python3 "$WORK/inspect.py" "$1" >"$WORK/inspect.out" 2>/dev/null; then
    grep -e '^regline ' -e '^pathline ' "$WORK/scan.out" >>"$WORK/inspect.out" || true
  else
    cp "$WORK/scan.out" "$WORK/inspect.out"
  fi
  while read -r k v; do
    case $k in
      version) CTD_VERSION=$v ;;
      path) CTD_PATH=$v ;;
      conflict) CTD_CONFLICT=$v ;;
      crioff) CTD_CRIOFF=1 ;;
      error) CTD_ERROR=$v ;;
      regline) CTD_REGLINE=$v ;;
      pathline) CTD_PATHLINE=$v ;;
    esac
  done <"$WORK/inspect.out"
}
# containerd replaces a plugin's whole section with the one of an imported file: the CRI settings that count are
# in the last imported file that has a CRI section, else in config.toml. Sets CTD_CONFIG and CTD_NAME to it.
ctd_effective() {
  CTD_CONFIG=$CTD_MAIN
  if [ -e "$CTD_MAIN" ]; then
    awk -v q="'" -f "$WORK/scan.awk" "$CTD_MAIN" | grep '^import ' >"$WORK/imports" || true
    while read -r k p; do
      # Like containerd: a relative path is relative to config.toml's folder, but a relative glob to its working
      # folder, which is / under systemd.
      case $p in /*) p=$ROOT$p ;; *"*"*) p=$ROOT/$p ;; *) p=${CTD_MAIN%/*}/$p ;; esac
      set +f
      for f in $p; do
        if [ -f "$f" ] && grep -q -F -e io.containerd.grpc.v1.cri -e io.containerd.cri.v1.images -e plugins.cri -e 'plugins."cri"' "$f"; then CTD_CONFIG=$f; fi
      done
      set -f
    done <"$WORK/imports"
  fi
  CTD_NAME=${CTD_CONFIG#"$ROOT"}
}
ctd_path_ok() { case ":$CTD_PATH:" in *":$CTD_DIR:"*) return 0 ;; *) return 1 ;; esac }
ctd_edit() { # writes to $1 the config with config_path set: a line replaced, or added under its table
  line="config_path = \"$CTD_DIR\""
  case $CTD_VERSION in 1) table=$CTD_TABLE_1 ;; 3) table=$CTD_TABLE_3 ;; *) table=$CTD_TABLE_2 ;; esac
  if [ -n "$CTD_MISSING" ]; then
    printf 'version = 2\n\n[%s]\n  %s\n' "$table" "$line" >"$1"
  elif [ -n "$CTD_PATHLINE" ]; then
    awk -v n="$CTD_PATHLINE" -v l="$line" 'NR == n { match($0, /^[ \t]*/); $0 = substr($0, 1, RLENGTH) l } { print }' "$CTD_CONFIG" >"$1"
  elif [ -n "$CTD_REGLINE" ]; then
    awk -v n="$CTD_REGLINE" -v l="$line" '{ print } NR == n { match($0, /^[ \t]*/); print substr($0, 1, RLENGTH) "  " l }' "$CTD_CONFIG" >"$1"
  else
    { cat "$CTD_CONFIG" && printf '\n[%s]\n  %s\n' "$table" "$line"; } >"$1"
  fi
}
containerd_up() { # containerd answers and, if ctr is here, its CRI plugin loaded
  active containerd || return 1
  command -v ctr >/dev/null 2>&1 || return 0
  plugins=$(limit 20 ctr --address "${CONTAINERD_ADDRESS:-$ROOT/run/containerd/containerd.sock}" plugins ls 2>/dev/null) || return 1
  ! printf '%s\n' "$plugins" | grep -E -q '[[:space:]](cri|images)[[:space:]].*[[:space:]]error[[:space:]]*$'
}
ctd_drop() { # puts back the node's own hosts.toml $1 (or removes ours), and removes its ECR template
  if [ -e "$ROOT$1$CTD_TEMPLATE" ]; then change - "$ROOT$1$CTD_TEMPLATE"; fi
  unapply "$ROOT$1" containerd
}
ctd_refuse() {
  fail "containerd: $1, and restartPolicy is \"never\"; nothing was changed. Fix: set restartPolicy: \"if-needed\" (a containerd restart keeps running containers), or $2 and restart containerd yourself"
}
ctd_plan() { # sets CTD_PLAN to ok or edit, or to nothing after saying why it refuses
  CTD_PLAN=''
  ctd_inspect "$CTD_CONFIG"
  c="containerd: $CTD_NAME"
  if [ -n "$CTD_ERROR" ]; then
    fail "$c is not valid ($CTD_ERROR); nothing was changed. Fix: repair it and run this again"
  elif [ -n "$CTD_CONFLICT" ]; then
    fail "$c sets the deprecated inline registry.$CTD_CONFLICT, which containerd refuses together with config_path (the CRI plugin would not load); nothing was changed. Fix: move those settings into the policy and delete them from config.toml"
  elif [ -n "$CTD_CRIOFF" ] || ctd_path_ok; then
    CTD_PLAN=ok
  elif [ -n "$CTD_PATH" ]; then
    fail "$c sets config_path = \"$CTD_PATH\", which does not include $CTD_DIR, so containerd would not read these mirrors; nothing was changed. Fix: render with the containerd certs folder set to a folder of that config_path"
  else
    CTD_PLAN=edit
  fi
}
containerd_apply() {
  ctd_effective
  ctd_plan
  [ -n "$CTD_PLAN" ] || return 0
  action=none
  if [ "$CTD_PLAN" = edit ]; then
    ctd_edit "$WORK/config.toml"
    ctd_inspect "$WORK/config.toml"
    if [ -n "$CTD_ERROR" ] || ! ctd_path_ok; then
      fail "containerd: could not add config_path to $CTD_NAME safely; nothing was changed. Fix: add config_path = \"$CTD_DIR\" to its CRI registry table yourself"
      return 0
    fi
    if active containerd; then
      if [ "$RESTART_POLICY" != if-needed ]; then
        ctd_refuse "$CTD_NAME does not set config_path, so containerd would ignore the hosts.toml mirrors; setting it needs a restart" "add config_path = \"$CTD_DIR\" to its CRI registry table"
        return 0
      fi
      action=restart
    fi
  fi
  changed=''
  while read -r w m p a; do
    tpl=$ROOT$p$CTD_TEMPLATE
    if [ "$a" = ecr ]; then
      # The refresher writes hosts.toml (the template plus the ECR token): the template is what is compared.
      if ! cmp -s "$WORK/$w" "$tpl"; then
        backup "$ROOT$p"
        change "$WORK/$w" "$tpl" "$m"
        say "containerd: wrote $p$CTD_TEMPLATE (hosts.toml gets the ECR token)"
        changed=1 ECR_RENDER=1
      elif [ ! -e "$ROOT$p" ]; then
        ECR_RENDER=1
      fi
      continue
    fi
    if [ -e "$tpl" ]; then change - "$tpl"; fi
    if ! cmp -s "$WORK/$w" "$ROOT$p"; then
      backup "$ROOT$p"
      change "$WORK/$w" "$ROOT$p" "$m"
      say "containerd: wrote $p"
      changed=1
    fi
  done <"$WORK/containerd.list"
  if [ -e "$CTD_STATE" ]; then # files of registries the policy no longer has
    while read -r p; do
      if ! grep -q -x -F -e "$p" "$WORK/containerd.paths"; then
        ctd_drop "$p"
        changed=1
      fi
    done <"$CTD_STATE"
  fi
  if ! cmp -s "$WORK/containerd.paths" "$CTD_STATE"; then change "$WORK/containerd.paths" "$CTD_STATE" 644; fi
  ecr_sync
  if [ "$CTD_PLAN" = edit ]; then
    backup "$CTD_CONFIG"
    change "$WORK/config.toml" "$CTD_CONFIG" 644
    say "containerd: set config_path in $CTD_NAME"
    changed=1
  fi
  if [ -z "$changed" ]; then say "containerd: unchanged"; fi
  settle containerd containerd "$action" containerd_up
  if [ -n "$SETTLED" ]; then ecr_start; fi
}
containerd_restore() {
  ctd_effective
  action=none
  if has_backup "$CTD_CONFIG" && active containerd; then
    if [ "$RESTART_POLICY" != if-needed ]; then
      ctd_refuse "putting back $CTD_NAME needs a restart" "put back its .registry-mirrors.bak"
      return 0
    fi
    action=restart
  fi
  ecr_remove
  if [ -e "$CTD_STATE" ]; then cat "$CTD_STATE" >>"$WORK/containerd.paths"; fi
  while read -r p; do ctd_drop "$p"; done <"$WORK/containerd.paths"
  if [ -e "$CTD_STATE" ]; then change - "$CTD_STATE"; fi
  unapply "$CTD_CONFIG" containerd
  settle containerd containerd "$action" containerd_up
}
if [ "$MODE" = apply ]; then containerd_apply; else containerd_restore; fi

exit "$STATUS"
REGISTRY_MIRRORS_EOF_2
chmod 0700 '/var/lib/registry-mirrors/apply-node-config.sh.tmp'
mv -f '/var/lib/registry-mirrors/apply-node-config.sh.tmp' '/var/lib/registry-mirrors/apply-node-config.sh'
'/var/lib/registry-mirrors/apply-node-config.sh'
