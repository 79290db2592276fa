# shellcheck shell=sh
# containerd.sh: writes the hosts.toml files under CTD_DIR (containerd reads them on every pull, so no reload) and,
# when the node's CRI config lacks it, sets config_path (a restart, only when RESTART_POLICY allows it).
#
# Contract:
#   Needs:    prelude.sh, ecr.sh; the engine constants CTD_TEMPLATE (suffix of an ECR file's template) and
#             CTD_TABLE_1/2/3 (the CRI registry table per config.toml version); from the data part: CTD_DIR (the folder
#             config_path must include) and $WORK/containerd.list ("NAME MODE PATH [ecr]" lines, content in
#             $WORK/NAME); the engine files $WORK/inspect.py and $WORK/scan.awk.
#   Defines:  containerd_apply, containerd_restore (and the ctd_* helpers). Node state: CTD_DIR/.registry-mirrors.files
#             lists the hosts.toml files the last run wrote, so a registry the policy drops loses its file.
#   Env:      CONTAINERD_ADDRESS (default $ROOT/run/containerd/containerd.sock), used by ctr to check the CRI plugin.
CTD_MAIN=$ROOT/etc/containerd/config.toml
CTD_DIR=
# ctd_prepare: the state file's path, and the paths of this plan's files in $WORK/containerd.paths (the data part
# lists them sorted).
ctd_prepare() {
  CTD_STATE=$ROOT$CTD_DIR/.registry-mirrors.files
  : >>"$WORK/containerd.list"
  : >"$WORK/containerd.paths"
  while read -r w m p a; do printf '%s\n' "$p" >>"$WORK/containerd.paths"; done <"$WORK/containerd.list"
}
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
  ctd_prepare
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
  ctd_prepare
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
