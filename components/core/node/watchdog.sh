# shellcheck shell=sh
# watchdog.sh: in every engine, the removal of the node mirror watchdog's systemd service (a plan without the
# watchdog, and restore, remove the service an earlier plan installed), and `watch`/`check` refusing a plan without
# the watchdog. watch.sh, in the engine of a plan with the watchdog, redefines watch_sync, watch_run and watch_check.
#
# Contract:
#   Needs:    prelude.sh; the engine constants WATCH_NODE_DIR (the service's node folder: the script's copy and the
#             unit file) and WATCH_UNIT (the unit's name, without .service).
#   Defines:  WATCH_DIR, watch_remove, watch_sync (removes), watch_run and watch_check (fail: no watch plan).
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
