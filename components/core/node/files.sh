# shellcheck shell=sh
# files.sh: the other runtimes' drop-in files (CRI-O/podman registries.conf.d, k3s/RKE2 registries.yaml,
# buildkitd.toml, plain files): written when different, then the runtime that reads them is told.
#
# Contract:
#   Needs:    prelude.sh; from the data part $WORK/GROUP.list ("NAME MODE PATH" lines, content in $WORK/NAME) per
#             group: crio, k3s, rke2, buildkit, files (the last is told nothing).
#   Defines:  group_apply GROUP ACTION UNIT..., group_restore GROUP ACTION UNIT..., group_unit. ACTION (none, reload,
#             restart) and UNITs come from the engine's runtime table (RUNTIME_GROUPS).
# Writes the files listed in $WORK/$1.list ("name mode path" lines) for label $1; unit(s) $3.. get action $2
# (none, reload or restart) when one of them is running; a needed restart that restartPolicy forbids writes nothing.
group_apply() {
  label=$1 action=$2
  shift 2
  pending=
  while read -r w m p; do
    if cmp -s "$WORK/$w" "$ROOT$p"; then say "$label: unchanged $p"; else pending=1; fi
  done <"$WORK/$label.list"
  [ -n "$pending" ] || return 0
  group_unit "$@"
  act=none
  if [ -n "$unit" ] && [ "$action" != none ]; then act=$action; fi
  if [ "$act" = restart ] && [ "$RESTART_POLICY" != if-needed ]; then
    fail "$label: the new files take effect only after a restart of $unit, and restartPolicy is \"never\"; nothing was changed. Fix: set restartPolicy: \"if-needed\", or restart $unit yourself in a maintenance window after allowing it"
    return 0
  fi
  while read -r w m p; do
    if ! cmp -s "$WORK/$w" "$ROOT$p"; then
      backup "$ROOT$p"
      change "$WORK/$w" "$ROOT$p" "$m"
      say "$label: wrote $p"
    fi
  done <"$WORK/$label.list"
  settle "$label" "$unit" "$act" active "$unit"
}
group_restore() {
  label=$1 action=$2
  shift 2
  pending=
  while read -r w m p; do
    if has_backup "$ROOT$p"; then pending=1; fi
  done <"$WORK/$label.list"
  [ -n "$pending" ] || return 0
  group_unit "$@"
  act=none
  if [ -n "$unit" ] && [ "$action" != none ]; then act=$action; fi
  if [ "$act" = restart ] && [ "$RESTART_POLICY" != if-needed ]; then
    fail "$label: putting the files back needs a restart of $unit, and restartPolicy is \"never\"; nothing was changed. Fix: set restartPolicy: \"if-needed\", or put back the .registry-mirrors.bak files and restart $unit yourself"
    return 0
  fi
  while read -r w m p; do unapply "$ROOT$p" "$label"; done <"$WORK/$label.list"
  settle "$label" "$unit" "$act" active "$unit"
}
# Sets unit to the first of "$@" that is running, or to nothing.
group_unit() {
  unit=
  for u in "$@"; do
    if active "$u"; then
      unit=$u
      return 0
    fi
  done
}
