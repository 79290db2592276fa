# shellcheck shell=sh
# prelude.sh: the start of the node apply script — usage, environment, transactions, backups, locks.
#
# Contract (every other part relies on it):
#   Sets:     MODE (apply | restore | watch | check), OPT (`--once` for `watch --once`, `--readiness` for
#             `check --readiness`, else empty), ROOT (NODE_ROOT without its final /), RUNTIME_CTL, VERIFY_SECONDS,
#             LOCK_SECONDS, STATUS (0, or 1 once `fail` ran), WORK (a private temp folder, removed at exit).
#   Reads:    RESTART_POLICY (set by the data part: never | if-needed).
#   Defines:  say, fail, warn, ctl, active, limit, wait_for, real (sets R), put, drop, change, rollback, commit, has_backup, backup,
#             unapply, settle (sets SETTLED), systemd_here, lock, lock_wait, unlock.
#   A change made with `change` is undone by `rollback` (called by `settle` on a failed reload and by the EXIT trap on
#   an unexpected error) until `commit` ends the transaction.
# Exit codes of the script: 0 applied or nothing to do; 1 refused or rolled back (see stderr); 2 bad usage.
set -eu
set -f
umask 022
MODE=${1:-apply}
OPT=${2:-}
# shellcheck disable=SC2034 # read by watch.sh
case $MODE:$OPT in
  apply: | restore: | watch: | check: | watch:--once | check:--readiness) ;;
  *) echo "usage: sh $0 [apply|restore|watch [--once]|check [--readiness]]" >&2 && exit 2 ;;
esac
ROOT=${NODE_ROOT:-/}
ROOT=${ROOT%/}
RUNTIME_CTL=${RUNTIME_CTL:-systemctl}
VERIFY_SECONDS=${VERIFY_SECONDS:-60}
LOCK_SECONDS=${LOCK_SECONDS:-600}
case $VERIFY_SECONDS$LOCK_SECONDS in '' | *[!0-9]*) echo "registry-mirrors: VERIFY_SECONDS and LOCK_SECONDS must be numbers" >&2 && exit 2 ;; esac
# shellcheck disable=SC2034 # read by the parts that may restart a runtime
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
# A daemon a (test) systemctl starts must not inherit the lock descriptors (3 to 9), or it would hold the locks.
# shellcheck disable=SC2086 # RUNTIME_CTL is word-split on purpose
ctl() { $RUNTIME_CTL "$@" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; }
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
# real FILE sets R to the file a write of FILE goes to: FILE, or the file its symlinks lead to (an absolute link target
# is under ROOT too).
real() {
  R=$1 i=0
  while [ -L "$R" ] && [ $i -lt 40 ]; do
    t=$(readlink "$R")
    case $t in /*) R=$ROOT$t ;; *) R=${R%/*}/$t ;; esac
    i=$((i + 1))
  done
}
put() { # writes $1 to node file $2 atomically (through a symlink, in its target's folder); $3: mode, or "copy" ($1's mode), or empty (keep $2's mode)
  real "$2"
  d=${R%/*}
  t="$d/.${R##*/}.registry-mirrors.$$"
  mkdir -p "$d"
  if [ "${3:-}" = copy ]; then
    cp -p "$1" "$t"
  elif [ -n "${3:-}" ]; then
    (umask 077 && cat "$1" >"$t")
    chmod "$3" "$t"
  else
    if [ -e "$R" ]; then cp -p "$R" "$t"; fi
    cat "$1" >"$t"
  fi
  sync "$t" 2>/dev/null || sync
  if ! mv -f "$t" "$R" 2>"$WORK/mv.err"; then
    rm -f "$t"
    e=$(cat "$WORK/mv.err")
    fail "cannot replace ${R#"$ROOT"} (${e##*: }); nothing was changed. Fix: chattr -i it"
    exit 1
  fi
  sync "$d" 2>/dev/null || true
}
drop() { real "$1" && rm -f "$R"; }
change() { # like put, remembering the old content for rollback; $1 "-" removes $2
  TXN=$((TXN + 1))
  if [ -e "$2" ]; then cp -p "$2" "$WORK/undo.$TXN"; fi
  if [ "$1" = - ]; then drop "$2"; else put "$1" "$2" "${3:-}"; fi
  printf '%s %s\n' "$TXN" "$2" >>"$WORK/txn"
}
rollback() {
  [ -e "$WORK/txn" ] || return 0
  while read -r n f; do
    if [ -e "$WORK/undo.$n" ]; then put "$WORK/undo.$n" "$f" copy; else drop "$f"; fi
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
warn() { printf 'registry-mirrors: %s\n' "$*" >&2; }
systemd_here() { # systemd runs the node (the DaemonSet reaches it through nsenter)
  s=$(ctl is-system-running 2>/dev/null) || true
  case $s in running | degraded | starting | initializing | maintenance) return 0 ;; *) return 1 ;; esac
}
