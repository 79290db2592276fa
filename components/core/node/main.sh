# shellcheck shell=sh
# main.sh: the statements of the data part, and `main`, which runs the plan.
#
# Contract:
#   The data part defines node_data(), a list of these statements, and ends with `main "$@"`:
#     restart_policy never|if-needed      may a runtime be restarted when a changed setting needs it
#     lock_folders FOLDER...              the top folders the plan writes, each locked (at most 7: fds 3 to 9)
#     containerd_hosts_dir DIR            containerd's hosts.toml folder (the plan has containerd files)
#     node_file RUNTIME PATH MODE [ecr]   a node file, its content on stdin; RUNTIME is docker (the managed
#                                         daemon.json keys), containerd, or one of FILE_GROUPS (files: told nothing)
#     ecr_token REGION PATH TABLE         an ECR mirror of hosts.toml PATH, whose header goes in TOML table TABLE
#     watch_plan                          the node watchdog's plan (JSON on stdin; it may hold credentials)
#   Needs:    every other part; the engine constant FILE_GROUPS (the drop-in groups in the order they are applied,
#             plain files last); the engine's engine_files (helper programs into $WORK) and group_action GROUP
#             (prints "ACTION UNIT..." for a drop-in group, from the library's runtime table).
#   Defines:  main.
# shellcheck disable=SC2034 # RESTART_POLICY is read by the parts that may restart a runtime
restart_policy() { RESTART_POLICY=$1; }
lock_folders() { LOCK_FOLDERS=$*; }
# shellcheck disable=SC2034 # CTD_DIR is read by containerd.sh
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
# node_path PATH sets P to node path PATH after its symlinks; a path that is no regular file ends the run. Under a
# NODE_ROOT (the DaemonSet mounts only the folders the plan writes, LOCK_FOLDERS) a link must lead into one of them:
# the folder it leads to is taken as the kernel sees it (.. and folder links resolved) when it exists.
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
  # The watchdog takes the folder locks itself, for each write.
  if [ "$MODE" = watch ]; then watch_run; fi
  # Node files are read and written where their symlinks lead; a special file is refused before anything is read.
  for l in containerd $FILE_GROUPS; do
    [ -e "$WORK/$l.list" ] || continue
    while read -r w m p e; do node_path "$p" && printf '%s %s %s%s\n' "$w" "$m" "$P" "${e:+ $e}"; done <"$WORK/$l.list" >"$WORK/list"
    mv "$WORK/list" "$WORK/$l.list"
  done
  if [ -n "$HAS_DOCKER" ]; then node_path /etc/docker/daemon.json && DOCKER_FILE=$ROOT$P; fi
  if [ -n "$HAS_CONTAINERD" ]; then node_path /etc/containerd/config.toml && CTD_MAIN=$ROOT$P; fi
  # check reads the files (and an ECR file's template, beside its target) where apply writes them.
  if [ "$MODE" = check ]; then watch_check; fi
  fd=3
  for folder in $LOCK_FOLDERS; do
    lock "$folder" "$fd"
    fd=$((fd + 1))
  done
  # Stopped before the files are put back or rewritten, installed (restarted) once they are in place.
  if [ "$MODE" = restore ] || [ -z "$HAS_WATCH" ]; then watch_remove; fi
  if [ -n "$HAS_DOCKER" ]; then
    if [ "$MODE" = apply ]; then docker_apply; else docker_restore; fi
  fi
  if [ -n "$HAS_CONTAINERD" ]; then
    if [ "$MODE" = apply ]; then containerd_apply; else containerd_restore; fi
  fi
  for group in $FILE_GROUPS; do
    [ -e "$WORK/$group.list" ] || continue
    # shellcheck disable=SC2046 # "ACTION UNIT..." is split into words on purpose
    set -- $(group_action "$group")
    if [ "$MODE" = apply ]; then group_apply "$group" "$@"; else group_restore "$group" "$@"; fi
  done
  if [ "$MODE" = apply ]; then watch_sync; fi
  if [ -z "$HAS_DOCKER$HAS_CONTAINERD$HAS_FILES" ]; then say "nothing to apply"; fi
  exit "$STATUS"
}
