#!/bin/sh
# shellcheck disable=SC2034,SC2046,SC2086,SC2317,SC3013
# Rendered by registry-mirrors (do not edit; change the policy and render again).
# registry-mirrors node engine 0.1.0 (containerd ecr)
# sh apply-node-config.sh [apply|restore|watch [--once]|check [--readiness]]; env NODE_ROOT RUNTIME_CTL VERIFY_SECONDS
# LOCK_SECONDS DOCKER_HOST CONTAINERD_ADDRESS; docs: components/core/node/ in the package
CTD_TEMPLATE=.registry-mirrors.template
CTD_TABLE_1='plugins.cri.registry'
CTD_TABLE_2='plugins."io.containerd.grpc.v1.cri".registry'
CTD_TABLE_3='plugins."io.containerd.cri.v1.images".registry'
ECR_NODE_DIR=/etc/containerd/registry-mirrors
ECR_UNIT=registry-mirrors-ecr-token
FILE_GROUPS='crio podman k3s rke2 buildkit files'
WATCH_NODE_DIR=/etc/registry-mirrors
WATCH_UNIT=registry-mirrors-watchdog
set -eu
set -f
umask 022
MODE=${1:-apply}
OPT=${2:-}
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
RESTART_POLICY=never
STATUS=0
TXN=0
LOCKED=
WORK=$(mktemp -d "${TMPDIR:-/tmp}/registry-mirrors.XXXXXX")
trap 'rollback; unlock; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM HUP
say() { printf '%s\n' "$*"; }
fail() {
printf 'registry-mirrors: %s\n' "$*" >&2
STATUS=1
}
ctl() { $RUNTIME_CTL "$@" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; }
active() { ctl is-active --quiet "$1" >/dev/null 2>&1; }
limit() { if command -v timeout >/dev/null 2>&1; then timeout "$@"; else (shift && "$@"); fi; }
wait_for() {
n=$VERIFY_SECONDS
until "$@"; do
[ "$n" -gt 0 ] || return 1
n=$((n - 1))
sleep 1
done
}
real() {
R=$1 i=0
while [ -L "$R" ] && [ $i -lt 40 ]; do
t=$(readlink "$R")
case $t in /*) R=$ROOT$t ;; *) R=${R%/*}/$t ;; esac
i=$((i + 1))
done
}
put() {
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
change() {
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
backup() {
if has_backup "$1"; then return 0; fi
if [ -e "$1" ]; then change "$1" "$1.registry-mirrors.bak" copy; else
: >"$WORK/empty"
change "$WORK/empty" "$1.registry-mirrors.created" 600
fi
}
unapply() {
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
lock() {
[ "$MODE" = apply ] || [ -d "$ROOT$1" ] || return 0
mkdir -p "$ROOT$1"
l=$ROOT$1/.registry-mirrors.lock n=$LOCK_SECONDS
if command -v flock >/dev/null 2>&1; then
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
systemd_here() {
s=$(ctl is-system-running 2>/dev/null) || true
case $s in running | degraded | starting | initializing | maintenance) return 0 ;; *) return 1 ;; esac
}
CTD_MAIN=$ROOT/etc/containerd/config.toml
CTD_DIR=
ctd_prepare() {
if [ -d "$ROOT$CTD_DIR/_backup" ]; then fail "containerd: Spegel manages $CTD_DIR. Fix: render with containerd spegel: true" && exit 1; fi
CTD_STATE=$ROOT$CTD_DIR/.registry-mirrors.files
: >>"$WORK/containerd.list"
awk '{ print $3 }' "$WORK/containerd.list" >"$WORK/containerd.paths"
}
ctd_inspect() {
CTD_VERSION='' CTD_PATH='' CTD_HASPATH='' CTD_CONFLICT='' CTD_CRIOFF='' CTD_ERROR='' CTD_MISSING='' CTD_LOCALREG=''
CTD_S_LOCAL='' CTD_S_DISCARD='' CTD_S_DSA='' CTD_S_MCD='' CTD_S_SYNC=''
CTD_REGLINE='' CTD_PATHLINE='' CTD_IMAGESLINE='' CTD_LOCALLINE=''
if [ ! -e "$1" ]; then CTD_MISSING=1 && return 0; fi
awk -v q="'" -f "$WORK/scan.awk" "$1" >"$WORK/scan.out"
if command -v python3 >/dev/null 2>&1 && python3 "$WORK/inspect.py" "$1" >"$WORK/inspect.out" 2>/dev/null; then
grep -e '^regline ' -e '^pathline ' -e '^imagesline ' -e '^localline ' "$WORK/scan.out" >>"$WORK/inspect.out" || true
else
cp "$WORK/scan.out" "$WORK/inspect.out"
fi
while read -r k v; do
case $k in
version) CTD_VERSION=$v ;;
path) CTD_PATH=$v CTD_HASPATH=1 ;;
conflict) CTD_CONFLICT=$v ;;
crioff) CTD_CRIOFF=1 ;;
localreg) CTD_LOCALREG=1 ;;
error) CTD_ERROR=$v ;;
regline) CTD_REGLINE=$v ;;
pathline) CTD_PATHLINE=$v ;;
imagesline) CTD_IMAGESLINE=$v ;;
localline) CTD_LOCALLINE=$v ;;
set)
case $v in
'use_local_image_pull '*) CTD_S_LOCAL=${v#* } ;;
'discard_unpacked_layers '*) CTD_S_DISCARD=${v#* } ;;
'disable_snapshot_annotations '*) CTD_S_DSA=${v#* } ;;
'max_concurrent_downloads '*) CTD_S_MCD=${v#* } ;;
'image_pull_with_sync_fs '*) CTD_S_SYNC=${v#* } ;;
esac
;;
esac
done <"$WORK/inspect.out"
}
ctd_runtime() {
CTD_RUNTIME='' CTD_MAJOR=0 CTD_MINOR=0
bin=${CONTAINERD_BIN:-}
if [ -z "$bin" ] && [ -n "$ROOT" ]; then
for b in "$ROOT/usr/bin/containerd" "$ROOT/usr/local/bin/containerd" "$ROOT/bin/containerd"; do
if [ -x "$b" ]; then bin=$b && break; fi
done
elif [ -z "$bin" ]; then
bin=$(command -v containerd 2>/dev/null) || bin=
fi
v=''
if [ -n "$bin" ] && out=$(limit 10 "$bin" --version 2>/dev/null); then
set -- $out
v=${3:-}
fi
if [ -z "$v" ] && [ -f "$ROOT/etc/eks/containerd-version.txt" ]; then
v=$(awk 'match($0, /[0-9]+\.[0-9]+\.[0-9]+/) { print substr($0, RSTART, RLENGTH); exit }' "$ROOT/etc/eks/containerd-version.txt")
fi
v=${v#v}
case $v in *.*) ;; *) return 0 ;; esac
major=${v%%.*} minor=${v#*.}
minor=${minor%%[!0-9]*}
case $major.$minor in *[!0-9.]* | .* | *.) return 0 ;; esac
CTD_RUNTIME=$major.$minor CTD_MAJOR=$major CTD_MINOR=$minor
}
ctd_transfer_era() { [ "$CTD_MAJOR" -gt 2 ] || { [ "$CTD_MAJOR" -eq 2 ] && [ "$CTD_MINOR" -ge 1 ]; }; }
ctd_effective() {
CTD_CONFIG=$CTD_MAIN CTD_V2=''
: >"$WORK/order"
ctd_runtime
if [ "$CTD_MAJOR" -ge 2 ]; then ctd_effective2; else ctd_effective1; fi
CTD_NAME=${CTD_CONFIG#"$ROOT"}
}
ctd_effective1() {
if [ -e "$CTD_MAIN" ]; then
awk -v q="'" -f "$WORK/scan.awk" "$CTD_MAIN" | grep '^import ' >"$WORK/imports" || true
while read -r k p; do
case $p in /*) p=$ROOT$p ;; *"*"*) p=$ROOT/$p ;; *) p=${CTD_MAIN%/*}/$p ;; esac
set +f
for f in $p; do
if [ -f "$f" ] && grep -q -F -e io.containerd.grpc.v1.cri -e io.containerd.cri.v1.images -e plugins.cri -e 'plugins."cri"' "$f"; then CTD_CONFIG=$f; fi
done
set -f
done <"$WORK/imports"
fi
}
ctd_order() {
[ -e "$CTD_MAIN" ] || return 0
printf '%s\n' "$CTD_MAIN" >"$WORK/queue"
n=0
while :; do
n=$((n + 1))
f=$(awk -v n="$n" 'NR == n' "$WORK/queue")
[ -n "$f" ] || break
if grep -q -x -F -e "$f" "$WORK/order"; then continue; fi
printf '%s\n' "$f" >>"$WORK/order"
awk -v q="'" -f "$WORK/scan.awk" "$f" | grep '^import ' >"$WORK/imports" || true
while read -r k p; do
case $p in /*) p=$ROOT$p ;; *) p=${f%/*}/$p ;; esac
set +f
for g in $p; do if [ -f "$g" ]; then printf '%s\n' "$g" >>"$WORK/queue"; fi; done
set -f
done <"$WORK/imports"
done
}
ctd_effective2() {
CTD_V2=1 CTD_E_PATH='' CTD_E_PATHFILE='' CTD_E_LOCAL='' CTD_E_LOCALFILE='' CTD_E_CRIOFF='' CTD_E_REG=''
discard='' dsa='' mcd='' syncfs=''
ctd_order
while read -r f; do
ctd_inspect "$f"
if [ -n "$CTD_ERROR$CTD_CONFLICT" ]; then CTD_CONFIG=$f && return 0; fi
if [ -n "$CTD_HASPATH" ]; then CTD_E_PATH=$CTD_PATH CTD_E_PATHFILE=$f; fi
if [ -n "$CTD_S_LOCAL" ]; then CTD_E_LOCAL=$CTD_S_LOCAL CTD_E_LOCALFILE=$f; fi
if [ -n "$CTD_CRIOFF" ]; then CTD_E_CRIOFF=1; fi
if [ -n "$CTD_LOCALREG" ]; then CTD_E_REG=1; fi
discard=${CTD_S_DISCARD:-$discard} dsa=${CTD_S_DSA:-$dsa} mcd=${CTD_S_MCD:-$mcd} syncfs=${CTD_S_SYNC:-$syncfs}
done <"$WORK/order"
CTD_E_WHY=''
if [ "$CTD_E_LOCAL" = true ]; then CTD_E_WHY='use_local_image_pull = true'
elif [ "$discard" = true ]; then CTD_E_WHY='discard_unpacked_layers = true'
elif [ "$dsa" = false ]; then CTD_E_WHY='disable_snapshot_annotations = false'
elif [ "${mcd:-3}" != 3 ]; then CTD_E_WHY="max_concurrent_downloads = $mcd"
elif [ "$syncfs" = true ]; then CTD_E_WHY='image_pull_with_sync_fs = true'
elif [ -n "$CTD_E_REG" ]; then CTD_E_WHY='registry mirrors, configs or auths'
fi
CTD_CONFIG=${CTD_E_PATHFILE:-$CTD_MAIN}
}
ctd_path_ok() { case ":$CTD_PATH:" in *":$CTD_DIR:"*) return 0 ;; *) return 1 ;; esac }
ctd_edit() {
if [ "$CTD_PLAN" = local ]; then
line='use_local_image_pull = true' table=${CTD_TABLE_3%.registry} at=$CTD_LOCALLINE under=$CTD_IMAGESLINE
else
line="config_path = \"$CTD_DIR\"" at=$CTD_PATHLINE under=$CTD_REGLINE
case $CTD_VERSION in 1) table=$CTD_TABLE_1 ;; 3 | 4) table=$CTD_TABLE_3 ;; *) table=$CTD_TABLE_2 ;; esac
fi
if [ -n "$CTD_MISSING" ]; then
if [ -z "$CTD_V2" ]; then
printf 'version = 2\n\n[%s]\n  %s\n' "$CTD_TABLE_2" "$line" >"$1"
elif [ "$CTD_MAJOR" -eq 2 ] && [ "$CTD_MINOR" -lt 3 ]; then
printf 'version = 3\n\n[%s]\n  %s\n' "$CTD_TABLE_3" "$line" >"$1"
else
printf 'version = 4\n\n[%s]\n  %s\n' "$CTD_TABLE_3" "$line" >"$1"
fi
elif [ -n "$at" ]; then
awk -v n="$at" -v l="$line" 'NR == n { match($0, /^[ \t]*/); $0 = substr($0, 1, RLENGTH) l } { print }' "$CTD_CONFIG" >"$1"
elif [ -n "$under" ]; then
awk -v n="$under" -v l="$line" '{ print } NR == n { match($0, /^[ \t]*/); print substr($0, 1, RLENGTH) "  " l }' "$CTD_CONFIG" >"$1"
else
{ cat "$CTD_CONFIG" && printf '\n[%s]\n  %s\n' "$table" "$line"; } >"$1"
fi
}
containerd_up() {
active containerd || return 1
command -v ctr >/dev/null 2>&1 || return 0
plugins=$(limit 20 ctr --address "${CONTAINERD_ADDRESS:-$ROOT/run/containerd/containerd.sock}" plugins ls 2>/dev/null) || return 1
! printf '%s\n' "$plugins" | grep -E -q '[[:space:]](cri|images)[[:space:]].*[[:space:]]error[[:space:]]*$'
}
ctd_drop() {
if [ -e "$ROOT$1$CTD_TEMPLATE" ]; then change - "$ROOT$1$CTD_TEMPLATE"; fi
unapply "$ROOT$1" containerd
}
ctd_refuse() {
fail "containerd: $1, and restartPolicy is \"never\"; nothing was changed. Fix: set restartPolicy: \"if-needed\" (a containerd restart keeps running containers), or $2 and restart containerd yourself"
}
ctd_plan() {
CTD_PLAN=''
ctd_inspect "$CTD_CONFIG"
if [ -n "$CTD_V2" ] && [ -z "$CTD_ERROR$CTD_CONFLICT" ]; then CTD_PATH=$CTD_E_PATH CTD_CRIOFF=$CTD_E_CRIOFF; fi
c="containerd: $CTD_NAME"
if [ -n "$CTD_ERROR" ]; then
fail "$c is not valid ($CTD_ERROR); nothing was changed. Fix: repair it and run this again"
elif [ -n "$CTD_CONFLICT" ]; then
fail "$c sets the deprecated inline registry.$CTD_CONFLICT, which containerd refuses together with config_path (the CRI plugin would not load); nothing was changed. Fix: move those settings into the policy and delete them from config.toml"
elif [ -n "$CTD_CRIOFF" ]; then
CTD_PLAN=ok
elif ctd_path_ok; then
CTD_PLAN=ok
case $CTD_PATH in *:*) ;; *) return 0 ;; esac
if [ -n "$CTD_V2" ] && ctd_transfer_era && [ -z "$CTD_E_WHY" ]; then
CTD_PLAN=local CTD_PATHNAME=$CTD_NAME CTD_CONFIG=${CTD_E_LOCALFILE:-$CTD_CONFIG}
CTD_NAME=${CTD_CONFIG#"$ROOT"}
ctd_inspect "$CTD_CONFIG"
fi
elif [ -n "$CTD_PATH" ]; then
fail "$c sets config_path = \"$CTD_PATH\", which does not include $CTD_DIR, so containerd would not read these mirrors; nothing was changed. Fix: render with the containerd certs folder set to a folder of that config_path"
else
CTD_PLAN=edit
fi
}
ctd_checked() {
ctd_inspect "$WORK/config.toml"
if [ "$CTD_PLAN" = local ]; then
[ -z "$CTD_ERROR" ] && [ "$CTD_S_LOCAL" = true ] && return 0
fail "containerd: could not add use_local_image_pull = true to $CTD_NAME safely; nothing was changed. Fix: add use_local_image_pull = true to its [${CTD_TABLE_3%.registry}] table yourself, or set config_path in $CTD_PATHNAME to the single folder $CTD_DIR"
return 1
fi
[ -z "$CTD_ERROR" ] && ctd_path_ok && return 0
fail "containerd: could not add config_path to $CTD_NAME safely; nothing was changed. Fix: add config_path = \"$CTD_DIR\" to its CRI registry table yourself"
return 1
}
containerd_apply() {
ctd_prepare
ctd_effective
ctd_plan
[ -n "$CTD_PLAN" ] || return 0
action=none
if [ "$CTD_PLAN" != ok ]; then
ctd_edit "$WORK/config.toml"
ctd_checked || return 0
if active containerd; then
if [ "$RESTART_POLICY" != if-needed ]; then
if [ "$CTD_PLAN" = local ]; then
ctd_refuse "$CTD_PATHNAME sets config_path = \"$CTD_PATH\" (several folders), which containerd $CTD_RUNTIME's transfer service, its CRI pull path here, does not read, so CRI pulls would bypass the mirrors; setting use_local_image_pull = true needs a restart" "add use_local_image_pull = true to the [${CTD_TABLE_3%.registry}] table of $CTD_NAME (or set config_path to the single folder $CTD_DIR)"
else
ctd_refuse "$CTD_NAME does not set config_path, so containerd would ignore the hosts.toml mirrors; setting it needs a restart" "add config_path = \"$CTD_DIR\" to its CRI registry table"
fi
return 0
fi
action=restart
fi
fi
changed=''
while read -r w m p a; do
tpl=$ROOT$p$CTD_TEMPLATE
if [ "$a" = ecr ]; then
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
if [ -e "$CTD_STATE" ]; then
while read -r p; do
if ! grep -q -x -F -e "$p" "$WORK/containerd.paths"; then
ctd_drop "$p"
changed=1
fi
done <"$CTD_STATE"
fi
if ! cmp -s "$WORK/containerd.paths" "$CTD_STATE"; then change "$WORK/containerd.paths" "$CTD_STATE" 644; fi
ecr_sync
if [ "$CTD_PLAN" != ok ]; then
backup "$CTD_CONFIG"
change "$WORK/config.toml" "$CTD_CONFIG" 644
if [ "$CTD_PLAN" = local ]; then
say "containerd: set use_local_image_pull = true in $CTD_NAME (containerd $CTD_RUNTIME's transfer service reads no config_path list)"
else
say "containerd: set config_path in $CTD_NAME"
fi
changed=1
fi
if [ -z "$changed" ]; then say "containerd: unchanged"; fi
settle containerd containerd "$action" containerd_up
if [ -n "$SETTLED" ]; then ecr_start; fi
}
containerd_restore() {
ctd_prepare
ctd_effective
if [ -z "$CTD_V2" ]; then ctd_order; fi
printf '%s\n' "$CTD_CONFIG" >>"$WORK/order"
action=none backed=''
while read -r f; do if has_backup "$f"; then backed=${f#"$ROOT"}; fi; done <"$WORK/order"
if [ -n "$backed" ] && active containerd; then
if [ "$RESTART_POLICY" != if-needed ]; then
ctd_refuse "putting back $backed needs a restart" "put back its .registry-mirrors.bak"
return 0
fi
action=restart
fi
ecr_remove
if [ -e "$CTD_STATE" ]; then cat "$CTD_STATE" >>"$WORK/containerd.paths"; fi
while read -r p; do ctd_drop "$p"; done <"$WORK/containerd.paths"
if [ -e "$CTD_STATE" ]; then change - "$CTD_STATE"; fi
while read -r f; do unapply "$f" containerd; done <"$WORK/order"
settle containerd containerd "$action" containerd_up
}
ECR_DIR=$ROOT$ECR_NODE_DIR
ECR_RENDER=''
ecr_remove() {
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
ecr_install() {
ECR_UNITS=''
while read -r w m f; do
if ! cmp -s "$WORK/$w" "$ECR_DIR/$f"; then
change "$WORK/$w" "$ECR_DIR/$f" "$m"
case $f in *.service | *.timer) ECR_UNITS=1 ;; esac
ECR_RENDER=1
fi
done <"$WORK/ecr.files"
}
ecr_start() {
[ -n "$ECR_RENDER" ] || return 0
if ! NODE_ROOT=$ROOT sh "$ECR_DIR/ecr-token-refresh" --render-only; then
fail "containerd: could not write the hosts.toml files of the ECR mirrors (see above). Fix: run this again"
return 0
fi
if ! systemd_here; then
NODE_ROOT=$ROOT sh "$ECR_DIR/ecr-token-refresh" || warn "containerd: the ECR token refresher failed (see above); containerd skips the ECR mirrors without a token"
say "containerd: no systemd here: run $ECR_NODE_DIR/ecr-token-refresh hourly (cron) to renew the ECR token"
return 0
fi
if [ -n "$ECR_UNITS" ]; then
if ctl link "$ECR_NODE_DIR/$ECR_UNIT.service" >"$WORK/ctl.out" 2>&1 && ctl enable "$ECR_NODE_DIR/$ECR_UNIT.timer" >>"$WORK/ctl.out" 2>&1 &&
ctl daemon-reload >>"$WORK/ctl.out" 2>&1 && ctl restart "$ECR_UNIT.timer" >>"$WORK/ctl.out" 2>&1; then
say "containerd: enabled $ECR_UNIT.timer (ECR token at boot, renewed when 6 hours old)"
else
fail "containerd: could not enable $ECR_UNIT.timer ($(tr '\n' ' ' <"$WORK/ctl.out")). Fix: check systemd on the node, then run this again"
return 0
fi
fi
if ctl start "$ECR_UNIT.service" >"$WORK/ctl.out" 2>&1; then
say "containerd: ran $ECR_UNIT.service (ECR token)"
else
warn "containerd: $ECR_UNIT.service failed ($(tr '\n' ' ' <"$WORK/ctl.out")); containerd skips the ECR mirrors until it has a token, the timer retries hourly. See: journalctl -u $ECR_UNIT.service"
fi
}
ecr_sync() { if [ -s "$WORK/ecr-list" ]; then ecr_install; else ecr_remove; fi; }
WATCH_DIR=$ROOT$WATCH_NODE_DIR
watch_remove() {
[ -e "$WATCH_DIR/$WATCH_UNIT.service" ] || [ -e "$WATCH_DIR/apply-node-config.sh" ] || return 0
if systemd_here; then
ctl stop "$WATCH_UNIT.service" >/dev/null 2>&1 || true
ctl disable "$WATCH_UNIT.service" >/dev/null 2>&1 || warn "watchdog: could not disable $WATCH_UNIT.service"
ctl daemon-reload >/dev/null 2>&1 || true
fi
rm -f "$WATCH_DIR/$WATCH_UNIT.service" "$WATCH_DIR/apply-node-config.sh"
rmdir "$WATCH_DIR" 2>/dev/null || true
say "watchdog: removed $WATCH_UNIT.service"
}
watch_sync() { watch_remove; }
watch_run() {
fail "$MODE: this script has no watch plan. Fix: render it with the watchdog option set"
exit 1
}
watch_check() { watch_run; }
restart_policy() { RESTART_POLICY=$1; }
lock_folders() { LOCK_FOLDERS=$*; }
containerd_hosts_dir() { CTD_DIR=$1 HAS_CONTAINERD=1; }
node_file() {
DATA_N=$((DATA_N + 1))
case $1 in
docker)
cat >"$WORK/docker.json"
HAS_DOCKER=1
;;
containerd)
cat >"$WORK/ctd$DATA_N"
printf 'ctd%s %s %s%s\n' "$DATA_N" "$3" "$2" "${4:+ $4}" >>"$WORK/containerd.list"
;;
*)
case " $FILE_GROUPS " in
*" $1 "*) ;;
*)
echo "registry-mirrors: the data part names an unknown runtime \"$1\"" >&2
exit 2
;;
esac
cat >"$WORK/file$DATA_N"
printf 'file%s %s %s\n' "$DATA_N" "$3" "$2" >>"$WORK/$1.list"
HAS_FILES=1
;;
esac
}
ecr_token() { printf '%s %s %s\n' "$1" "$2" "$3" >>"$WORK/ecr-list"; }
watch_plan() { (umask 077 && cat >"$WORK/watch-plan.json") && HAS_WATCH=1; }
node_path() {
real "$ROOT$1"
P=${R#"$ROOT"}
if [ -L "$R" ] || { [ -e "$R" ] && [ ! -f "$R" ]; }; then
fail "$P is not a regular file; nothing was changed. Fix: move it away"
exit 1
fi
[ -n "$ROOT" ] && [ "$R" != "$ROOT$1" ] || return 0
r=$(cd -P "$ROOT/" && pwd -P)
d=$(cd -P "${R%/*}" 2>/dev/null && pwd -P) || d=$r${P%/*}
for f in $LOCK_FOLDERS; do case $d/ in */../*) ;; "$r$f"/*) return 0 ;; esac; done
fail "$1 leads to ${d#"$r"}/${R##*/}, outside the folders this run writes under NODE_ROOT ($LOCK_FOLDERS); nothing was changed. Fix: point the link into one of them, or make it a regular file"
exit 1
}
main() {
DATA_N=0 HAS_DOCKER='' HAS_CONTAINERD='' HAS_FILES='' HAS_WATCH='' LOCK_FOLDERS=''
engine_files
: >"$WORK/ecr-list"
node_data
if [ "$MODE" = watch ]; then watch_run; fi
for l in containerd $FILE_GROUPS; do
[ -e "$WORK/$l.list" ] || continue
while read -r w m p e; do node_path "$p" && printf '%s %s %s%s\n' "$w" "$m" "$P" "${e:+ $e}"; done <"$WORK/$l.list" >"$WORK/list"
mv "$WORK/list" "$WORK/$l.list"
done
if [ -n "$HAS_DOCKER" ]; then node_path /etc/docker/daemon.json && DOCKER_FILE=$ROOT$P; fi
if [ -n "$HAS_CONTAINERD" ]; then node_path /etc/containerd/config.toml && CTD_MAIN=$ROOT$P; fi
if [ "$MODE" = check ]; then watch_check; fi
fd=3
for folder in $LOCK_FOLDERS; do
lock "$folder" "$fd"
fd=$((fd + 1))
done
if [ "$MODE" = restore ] || [ -z "$HAS_WATCH" ]; then watch_remove; fi
if [ -n "$HAS_DOCKER" ]; then
if [ "$MODE" = apply ]; then docker_apply; else docker_restore; fi
fi
if [ -n "$HAS_CONTAINERD" ]; then
if [ "$MODE" = apply ]; then containerd_apply; else containerd_restore; fi
fi
for group in $FILE_GROUPS; do
[ -e "$WORK/$group.list" ] || continue
set -- $(group_action "$group")
if [ "$MODE" = apply ]; then group_apply "$group" "$@"; else group_restore "$group" "$@"; fi
done
if [ "$MODE" = apply ]; then watch_sync; fi
if [ -z "$HAS_DOCKER$HAS_CONTAINERD$HAS_FILES" ]; then say "nothing to apply"; fi
exit "$STATUS"
}
group_action() {
  case $1 in
    crio) echo reload crio ;;
    podman) echo none ;;
    k3s) echo restart k3s k3s-agent ;;
    rke2) echo restart rke2-server rke2-agent ;;
    buildkit) echo restart buildkit ;;
    *) echo none ;;
  esac
}
engine_files() {
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
def show(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else None
version = doc.get("version", 1)
cri = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.images", 4: "io.containerd.cri.v1.images"}.get(version)
if cri is None:
    sys.exit(print("error unsupported config version %r" % (version,)))
plugin = table(doc, "plugins", cri)
registry = table(plugin, "registry")
print("version", version)
path = registry.get("config_path")
if isinstance(path, str):
    print("path", path)
if registry.get("mirrors"):
    print("conflict mirrors")
if any(isinstance(c, dict) and c.get("tls") for c in table(registry, "configs").values()):
    print("conflict tls")
disabled = doc.get("disabled_plugins") or []
if (version < 3 and cri in disabled) or (version >= 3 and ("io.containerd.grpc.v1.cri" in disabled or cri in disabled)):
    print("crioff 1")
if registry.get("mirrors") or registry.get("configs") or registry.get("auths"):
    print("localreg 1")
images = table(doc, "plugins", "io.containerd.cri.v1.images")
found = {"use_local_image_pull": images.get("use_local_image_pull")}
if version >= 3:
    keys = ["discard_unpacked_layers", "disable_snapshot_annotations", "max_concurrent_downloads", "image_pull_with_sync_fs"]
    found.update((k, plugin.get(k)) for k in keys)
else:
    found.update((k, plugin.get(k)) for k in ["max_concurrent_downloads", "image_pull_with_sync_fs"])
    containerd = table(plugin, "containerd")
    if "runtimes" in containerd:
        found.update((k, containerd.get(k)) for k in ["discard_unpacked_layers", "disable_snapshot_annotations"])
for name, value in found.items():
    if show(value) is not None:
        print("set", name, show(value))
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
  else if (ver == 3 || ver == 4) { reg = "plugins.io.containerd.cri.v1.images.registry"; cri = "" }
  else bad = 1
  crit = reg
  sub(/\.registry$/, "", crit)
}
function setkey(k, v) { if (v == "true" || v == "false" || v ~ /^[0-9]+$/) sets[k] = v }
BEGIN { top = 1; ver = ""; inarr = ""; img = "plugins.io.containerd.cri.v1.images" }
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
    if (cur == img) imagesline = NR
    if (index(cur, reg ".mirrors.") == 1) mirrors = 1
    if (index(cur, reg ".configs.") == 1 && cur ~ /\.tls$/) tls = 1
    if (index(cur, reg ".mirrors.") == 1 || index(cur, reg ".configs.") == 1 || index(cur, reg ".auths.") == 1) localreg = 1
    if (index(cur, crit ".containerd.runtimes") == 1) runtimes = 1
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
  v = strval(line)
  if (cur == img && k == "use_local_image_pull") { localline = NR; setkey(k, v) }
  if (cur == crit && (k == "max_concurrent_downloads" || k == "image_pull_with_sync_fs")) setkey(k, v)
  if (ver >= 3 && cur == crit && (k == "discard_unpacked_layers" || k == "disable_snapshot_annotations")) setkey(k, v)
  if (ver < 3 && cur == crit ".containerd" && (k == "discard_unpacked_layers" || k == "disable_snapshot_annotations")) old[k] = v
  if (cur == reg) {
    if (k == "config_path") { pathline = NR; path = strval(line) }
    if (index(k, "mirrors.") == 1 || index(k, "configs.") == 1 || index(k, "auths.") == 1) localreg = 1
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
  if (pathline) print "path " path
  if (mirrors) print "conflict mirrors"
  if (tls) print "conflict tls"
  n = items("disabled_plugins")
  off = 0
  for (i = 1; i <= n; i++) {
    if (cri != "" && item[i] == cri) off = 1
    if (ver >= 3 && (item[i] == "io.containerd.grpc.v1.cri" || item[i] == "io.containerd.cri.v1.images")) off = 1
  }
  if (off) print "crioff 1"
  if (localreg) print "localreg 1"
  if (runtimes) for (k in old) setkey(k, old[k])
  for (k in sets) print "set " k " " sets[k]
  n = items("imports")
  for (i = 1; i <= n; i++) if (item[i] != "") print "import " item[i]
  if (regline) print "regline " regline
  if (pathline) print "pathline " pathline
  if (imagesline) print "imagesline " imagesline
  if (localline) print "localline " localline
}
REGISTRY_MIRRORS_EOF
  cat >"$WORK/ecr-refresh" <<'REGISTRY_MIRRORS_EOF'
#!/bin/sh
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
REGISTRY_MIRRORS_EOF
  cat >"$WORK/ecr-service" <<'REGISTRY_MIRRORS_EOF'
[Unit]
Description=registry-mirrors: ECR token for containerd's ECR mirrors

[Service]
Type=oneshot
ExecStart=/bin/sh /etc/containerd/registry-mirrors/ecr-token-refresh
TimeoutStartSec=300
REGISTRY_MIRRORS_EOF
  cat >"$WORK/ecr-timer" <<'REGISTRY_MIRRORS_EOF'
[Unit]
Description=registry-mirrors: renew the ECR token of containerd's ECR mirrors

[Timer]
OnBootSec=1min
OnUnitActiveSec=1h

[Install]
WantedBy=timers.target
REGISTRY_MIRRORS_EOF
  cat >"$WORK/ecr.files" <<'REGISTRY_MIRRORS_EOF'
ecr-refresh 755 ecr-token-refresh
ecr-service 644 registry-mirrors-ecr-token.service
ecr-timer 644 registry-mirrors-ecr-token.timer
ecr-list 644 ecr-token.list
REGISTRY_MIRRORS_EOF
}
# ---- data: the files this policy writes; everything above is the engine ----
node_data() {
  restart_policy never
  lock_folders /etc/containerd
  containerd_hosts_dir /etc/containerd/certs.d
  node_file containerd /etc/containerd/certs.d/docker.io/hosts.toml 644 <<'REGISTRY_MIRRORS_EOF'
# Written by registry-mirrors; edit the mirror policy, not this file.
server = "https://registry-1.docker.io"

[host."https://a1b2c3d4.mirror.aliyuncs.com"]
capabilities = [ "pull", "resolve" ]
dial_timeout = "5s"
REGISTRY_MIRRORS_EOF
  node_file containerd /etc/containerd/certs.d/public.ecr.aws/hosts.toml 600 ecr <<'REGISTRY_MIRRORS_EOF'
# Written by registry-mirrors; edit the mirror policy, not this file.
server = "https://public.ecr.aws"

[host."https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/v2/ecr-public"]
capabilities = [ "pull", "resolve" ]
override_path = true
dial_timeout = "5s"
REGISTRY_MIRRORS_EOF
  ecr_token cn-north-1 /etc/containerd/certs.d/public.ecr.aws/hosts.toml 'host."https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/v2/ecr-public".header'
  node_file containerd /etc/containerd/certs.d/quay.io/hosts.toml 600 ecr <<'REGISTRY_MIRRORS_EOF'
# Written by registry-mirrors; edit the mirror policy, not this file.
server = "https://quay.io"

[host."https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/v2/quay"]
capabilities = [ "pull", "resolve" ]
override_path = true
dial_timeout = "5s"
REGISTRY_MIRRORS_EOF
  ecr_token cn-north-1 /etc/containerd/certs.d/quay.io/hosts.toml 'host."https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/v2/quay".header'
  node_file containerd /etc/containerd/certs.d/registry.k8s.io/hosts.toml 600 ecr <<'REGISTRY_MIRRORS_EOF'
# Written by registry-mirrors; edit the mirror policy, not this file.
server = "https://registry.k8s.io"

[host."https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/v2/k8s"]
capabilities = [ "pull", "resolve" ]
override_path = true
dial_timeout = "5s"
REGISTRY_MIRRORS_EOF
  ecr_token cn-north-1 /etc/containerd/certs.d/registry.k8s.io/hosts.toml 'host."https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/v2/k8s".header'
}
main "$@"
