# shellcheck shell=sh
# spegel.sh: containerd's hosts folder shared with Spegel (P2P). Spegel owns CTD_DIR once it ran there: its first start
# moves everything into CTD_DIR/_backup, each start writes REGISTRY/hosts.toml as its own hosts then (prependExisting)
# the [host] tables of _backup/REGISTRY/hosts.toml, with the upstream as server; its cleanup moves _backup back. So
# while _backup exists this script's files and state live there (Spegel's input, and what its cleanup puts back), and
# it keeps each live file in the form Spegel writes: Spegel's own lines untouched, then ours. The order is then P2P,
# our mirrors, upstream whichever of the two ran first, and a restore of either leaves the other working.
#
# Contract:
#   Needs:    prelude.sh, containerd.sh and ecr.sh (loaded before it: this part replaces ctd_prepare, ctd_drop and
#             ecr_sync). The plan has no ECR mirror (renderNodeData refuses them with containerd spegel: Spegel's copy
#             of their token would expire).
#   Defines:  CTD_HOME (CTD_DIR, or CTD_DIR/_backup while Spegel manages the folder), CTD_SPEGEL, ctd_live.
#             $WORK/containerd.list names the files where they are written (under CTD_HOME); $WORK/containerd.paths
#             and the state file keep the paths under CTD_DIR, which stay right when Spegel's cleanup moves them.
ctd_prepare() {
  CTD_HOME=$CTD_DIR CTD_SPEGEL=''
  if [ -d "$ROOT$CTD_DIR/_backup" ]; then CTD_HOME=$CTD_DIR/_backup CTD_SPEGEL=1; fi
  CTD_STATE=$ROOT$CTD_HOME/.registry-mirrors.files
  : >>"$WORK/containerd.list"
  awk '{ print $3 }' "$WORK/containerd.list" >"$WORK/containerd.paths"
  : >"$WORK/lives"
  [ -n "$CTD_SPEGEL" ] || return 0
  while read -r w m p _; do
    f=$ROOT$CTD_HOME${p#"$CTD_DIR"}
    # Spegel's live file as it will be, from our file as it is now (the lines to keep end at its first host).
    if [ "$MODE" = apply ] && ctd_live "$p" "$f" "$WORK/$w" "$WORK/$w.live"; then
      if cmp -s "$WORK/$w" "$f"; then echo "$w $p" >>"$WORK/lives"; else echo "$w $p 1" >>"$WORK/lives"; fi
    fi
    printf '%s %s %s\n' "$w" "$m" "${f#"$ROOT"}"
  done <"$WORK/containerd.list" >"$WORK/list"
  mv "$WORK/list" "$WORK/containerd.list"
}
ctd_drop() {
  f=$ROOT$CTD_HOME${1#"$CTD_DIR"}
  if [ -e "$f$CTD_TEMPLATE" ]; then change - "$f$CTD_TEMPLATE"; fi
  if [ -n "$CTD_SPEGEL" ] && has_backup "$f" && ctd_live "$1" "$f" "$f.registry-mirrors.bak" "$WORK/drop.live"; then
    ctd_put_live "$WORK/drop.live" "$1" 1
  fi
  unapply "$f" containerd
}
# Called by containerd_apply once our files are written (no ECR here): Spegel's live files follow.
ecr_sync() {
  while read -r w p force; do ctd_put_live "$WORK/$w.live" "$p" "$force"; done <"$WORK/lives"
  ecr_remove
}
ctd_heads() { awk -v q="'" '/^[ \t]*\[host\./ { gsub(q, "\""); sub(/^[ \t]+/, ""); print }' "$1"; }
# ctd_live P OLD NEW OUT: OUT gets Spegel's live file P as prependExisting writes it from NEW: its own lines (those
# before the first host that OLD, our previous file, names), then NEW's tables. Fails when Spegel has no file P.
ctd_live() {
  if [ ! -e "$ROOT$1" ]; then
    warn "containerd: Spegel manages $CTD_DIR but not ${1%/hosts.toml}, so these mirrors wait in $CTD_HOME. Fix: add the registry to Spegel's mirroredRegistries (spegelValues does)"
    return 1
  fi
  awk -v q="'" -v old="$2" -v new="$3" 'function k(s) { gsub(q, "\"", s); sub(/^[ \t]+/, "", s); return s }
BEGIN { while ((getline x <old) > 0) if (x ~ /^[ \t]*\[host\./) o[k(x)] = 1 }
/^[ \t]*\[host\./ && (k($0) in o) { exit }
/^[ \t]*$/ { b = b "\n"; next }
{ printf "%s%s\n", b, $0; b = ""; n = 1 }
END { while ((getline x <new) > 0) { if (x ~ /^[ \t]*\[/ && !t) { t = 1; if (n) print "" } if (t) print x } }' "$ROOT$1" >"$4"
}
# ctd_put_live FILE P [force]: FILE becomes Spegel's live file P when forced (our file changed) or when the hosts
# differ (not when only Spegel's formatting of our hosts does).
ctd_put_live() {
  if [ -n "${3:-}" ] || [ "$(ctd_heads "$1")" != "$(ctd_heads "$ROOT$2")" ]; then
    change "$1" "$ROOT$2"
    say "containerd: $2 lists Spegel's hosts, then these"
    changed=1
  fi
}
