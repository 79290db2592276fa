# shellcheck shell=sh
# containerd.sh: writes the hosts.toml files under CTD_DIR (containerd reads them on every pull, so no reload) and,
# when the node's CRI config would not read them, fixes it (a restart, only when RESTART_POLICY allows it):
# config_path missing -> set to CTD_DIR; on containerd 2.1+ whose CRI pulls go through the transfer service (which
# reads config_path as ONE folder) with a config_path listing several folders -> use_local_image_pull = true.
#
# Contract:
#   Needs:    prelude.sh, ecr.sh; the engine constants CTD_TEMPLATE (suffix of an ECR file's template) and
#             CTD_TABLE_1/2/3 (the CRI registry table per config.toml version; 3 also serves version 4); from the
#             data part: CTD_DIR (the folder config_path must include) and $WORK/containerd.list ("NAME MODE PATH
#             [ecr]" lines, content in $WORK/NAME); the engine files $WORK/inspect.py and $WORK/scan.awk.
#   Defines:  containerd_apply, containerd_restore (and the ctd_* helpers). Node state: CTD_DIR/.registry-mirrors.files
#             lists the hosts.toml files the last run wrote, so a registry the policy drops loses its file. A folder
#             Spegel manages (it has _backup) is refused; spegel.sh replaces ctd_prepare and ctd_drop to share it.
#   Env:      CONTAINERD_ADDRESS (default $ROOT/run/containerd/containerd.sock), used by ctr to check the CRI plugin;
#             CONTAINERD_BIN (default: containerd under NODE_ROOT's /usr/bin, /usr/local/bin, /bin, or on PATH when
#             NODE_ROOT is /), run with --version to learn the node's containerd version; without an answer,
#             NODE_ROOT/etc/eks/containerd-version.txt (EKS nodeadm's), else the version is unknown and the script
#             acts as for containerd 1.x.
CTD_MAIN=$ROOT/etc/containerd/config.toml
CTD_DIR=
# ctd_prepare: the state file's path, and the paths of this plan's files in $WORK/containerd.paths (the data part
# lists them sorted).
ctd_prepare() {
  if [ -d "$ROOT$CTD_DIR/_backup" ]; then fail "containerd: Spegel manages $CTD_DIR. Fix: render with containerd spegel: true" && exit 1; fi
  CTD_STATE=$ROOT$CTD_DIR/.registry-mirrors.files
  : >>"$WORK/containerd.list"
  awk '{ print $3 }' "$WORK/containerd.list" >"$WORK/containerd.paths"
}
# ctd_inspect FILE sets CTD_VERSION, CTD_PATH (and CTD_HASPATH when the file sets config_path), CTD_CONFLICT,
# CTD_CRIOFF, CTD_ERROR, CTD_MISSING, CTD_LOCALREG, CTD_S_LOCAL/DISCARD/DSA/MCD/SYNC (the pull-path settings the file
# sets) and the line numbers CTD_REGLINE, CTD_PATHLINE, CTD_IMAGESLINE, CTD_LOCALLINE: Python's tomllib reads the
# file when there is one, awk finds the lines an edit needs.
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
# ctd_runtime sets CTD_RUNTIME (MAJOR.MINOR of the node's containerd, or nothing when unknown), CTD_MAJOR, CTD_MINOR.
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
  # "containerd github.com/containerd/containerd/v2 v2.1.5 REV" (or 2.1.9+unknown; Debian: 1.6.20~ds1)
  if [ -n "$bin" ] && out=$(limit 10 "$bin" --version 2>/dev/null); then
    # shellcheck disable=SC2086 # split into words on purpose (globbing is off)
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
# ctd_effective sets CTD_CONFIG (the file whose CRI settings an edit goes to) and CTD_NAME (its node path), and for
# containerd 2.x CTD_V2=1 and the merged settings (CTD_E_*).
ctd_effective() {
  CTD_CONFIG=$CTD_MAIN CTD_V2=''
  : >"$WORK/order"
  ctd_runtime
  if [ "$CTD_MAJOR" -ge 2 ]; then ctd_effective2; else ctd_effective1; fi
  CTD_NAME=${CTD_CONFIG#"$ROOT"}
}
# containerd 1.x (and an unknown version) replaces a plugin's whole section with the one of an imported file: the
# CRI settings that count are in the last imported file that has a CRI section, else in config.toml.
ctd_effective1() {
  if [ -e "$CTD_MAIN" ]; then
    awk -v q="'" -f "$WORK/scan.awk" "$CTD_MAIN" | grep '^import ' >"$WORK/imports" || true
    while read -r k p; do
      # Like containerd 1.x: a relative path is relative to config.toml's folder, but a relative glob to its
      # working folder, which is / under systemd.
      case $p in /*) p=$ROOT$p ;; *"*"*) p=$ROOT/$p ;; *) p=${CTD_MAIN%/*}/$p ;; esac
      set +f
      for f in $p; do
        if [ -f "$f" ] && grep -q -F -e io.containerd.grpc.v1.cri -e io.containerd.cri.v1.images -e plugins.cri -e 'plugins."cri"' "$f"; then CTD_CONFIG=$f; fi
      done
      set -f
    done <"$WORK/imports"
  fi
}
# containerd 2.x loads config.toml, then each loaded file's imports (paths and globs relative to that file's
# folder), breadth first, each file once; it migrates each to its own config version and merges them key by key,
# the later file's value winning (false and "" included). Writes that order to $WORK/order.
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
# The merged settings of containerd 2.x: CTD_E_PATH and CTD_E_PATHFILE (config_path and the last file setting it),
# CTD_E_LOCAL and CTD_E_LOCALFILE (use_local_image_pull), CTD_E_CRIOFF, and CTD_E_WHY: the setting that makes 2.1+
# pull CRI images locally (containerd's CheckLocalImagePullConfigs), empty when its CRI pulls use the transfer service.
# A file that is not valid or has inline mirrors becomes CTD_CONFIG, for ctd_plan to refuse.
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
# ctd_edit OUT writes to OUT the config with the planned setting (CTD_PLAN edit: config_path, local:
# use_local_image_pull = true): a line replaced, or added under its table, or the table appended.
ctd_edit() {
  if [ "$CTD_PLAN" = local ]; then
    line='use_local_image_pull = true' table=${CTD_TABLE_3%.registry} at=$CTD_LOCALLINE under=$CTD_IMAGESLINE
  else
    line="config_path = \"$CTD_DIR\"" at=$CTD_PATHLINE under=$CTD_REGLINE
    case $CTD_VERSION in 1) table=$CTD_TABLE_1 ;; 3 | 4) table=$CTD_TABLE_3 ;; *) table=$CTD_TABLE_2 ;; esac
  fi
  if [ -n "$CTD_MISSING" ]; then
    # containerd 2.0-2.2 write version 3, 2.3+ version 4 (the same CRI tables); 1.x version 2.
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
# ctd_plan sets CTD_PLAN to ok, edit (set config_path) or local (set use_local_image_pull), or to nothing after
# saying why it refuses. For local, CTD_CONFIG becomes the file where use_local_image_pull takes effect.
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
    # The transfer service takes config_path as one folder: a list names none, and every mirror is bypassed.
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
# ctd_checked verifies the edited $WORK/config.toml; says why and returns 1 when the edit is not safe.
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
  # Files of registries the policy no longer has.
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
  # Every file of the load order the script may have edited (one per run; which one depends on the version).
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
