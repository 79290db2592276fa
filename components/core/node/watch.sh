# shellcheck shell=sh
# watch.sh: the node mirror watchdog (watchdog.py) as a systemd service; `watch`, which runs it in the foreground
# (what the service and the DaemonSet's long-running container run); and `check` (check.py). Only in the engine of a
# plan with the watchdog; it redefines the stand-ins of watchdog.sh.
#
# Contract:
#   Needs:    prelude.sh, watchdog.sh (WATCH_DIR, watch_remove), containerd.sh (its ctd_* helpers, with containerd);
#             the engine files $WORK/watchdog.py (with its wd_*.py modules), $WORK/check.py and $WORK/watchdog-service;
#             from the data part $WORK/watch-plan.json (HAS_WATCH=1).
#   Env:      WATCHDOG_SERVICE=0: the caller runs the watchdog itself (the DaemonSet's container): apply installs no
#             service and removes one an earlier apply installed.
#   Defines:  watch_sync (apply: installs the service when systemd runs the node, else says how to run it),
#             watch_run (MODE watch: runs the watchdog, exits with its code), watch_check (MODE check: runs check.py
#             on the data part's files and the plan's endpoints, and containerd_check on containerd's pull path; exits
#             1 on any problem; `check --readiness`: endpoint failures the watchdog handles are notes, see check.py).
#   The service runs WATCH_NODE_DIR/apply-node-config.sh (this script, copied there from $0), so it keeps running
#   the plan of the last apply; an apply that changes the script or the unit restarts it.
watch_sync() {
  if [ -z "${HAS_WATCH:-}" ] || [ "${WATCHDOG_SERVICE:-1}" = 0 ]; then
    watch_remove
    return 0
  fi
  if ! systemd_here; then
    say "watchdog: no systemd here: run \"sh $0 watch\" as a long-running service to take failing mirrors out"
    return 0
  fi
  if [ "$STATUS" != 0 ]; then
    warn "watchdog: $WATCH_UNIT.service left as it was, because this apply failed"
    return 0
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    warn "watchdog: not installed: it needs python3 (3.6 or later), and the node has none. Fix: install python3 and run this again, or deliver with the DaemonSet, whose image has it"
    watch_remove
    return 0
  fi
  if [ ! -f "$0" ] || ! grep -q '^main "\$@"$' "$0"; then
    fail "watchdog: cannot install $WATCH_UNIT.service: the script is not a file at \"$0\". Fix: save it to a file and run \"sh FILE apply\""
    return 0
  fi
  changed=
  mkdir -p "$WATCH_DIR"
  if ! cmp -s "$0" "$WATCH_DIR/apply-node-config.sh"; then put "$0" "$WATCH_DIR/apply-node-config.sh" 700 && changed=1; fi
  if ! cmp -s "$WORK/watchdog-service" "$WATCH_DIR/$WATCH_UNIT.service"; then
    put "$WORK/watchdog-service" "$WATCH_DIR/$WATCH_UNIT.service" 644
    changed=1
  fi
  if [ -z "$changed" ]; then
    if active "$WATCH_UNIT.service"; then return 0; fi
    say "watchdog: $WATCH_UNIT.service was not running"
  fi
  if ctl enable "$WATCH_NODE_DIR/$WATCH_UNIT.service" >"$WORK/ctl.out" 2>&1 && ctl daemon-reload >>"$WORK/ctl.out" 2>&1 &&
    ctl restart "$WATCH_UNIT.service" >>"$WORK/ctl.out" 2>&1; then
    say "watchdog: (re)started $WATCH_UNIT.service. See: journalctl -u $WATCH_UNIT.service"
  else
    fail "watchdog: could not start $WATCH_UNIT.service ($(tr '\n' ' ' <"$WORK/ctl.out")). Fix: check systemd on the node, then run this again"
  fi
}
watch_ready() { # $1: the mode, for messages
  if ! command -v python3 >/dev/null 2>&1; then
    fail "$1: the watchdog needs python3 (3.6 or later) on the node, and there is none on PATH. Fix: install python3, or run the DaemonSet, whose image has it"
    exit 1
  fi
}
watch_check() {
  watch_ready check
  code=0
  # shellcheck disable=SC2086 # $OPT is one word or none
  python3 "$WORK/check.py" --work "$WORK" --root "${ROOT:-/}" --hosts-dir "${CTD_DIR:-}" \
    --template "${CTD_TEMPLATE:-}" --groups "$FILE_GROUPS" $OPT || code=$?
  # containerd's pull path (transfer service, imports, version) is read by the same code apply uses.
  if [ -n "$HAS_CONTAINERD" ] && ! containerd_check; then
    echo "check: containerd bypasses the mirrors (see above)"
    code=1
  fi
  exit "$code"
}
watch_run() {
  watch_ready watch
  # In the background, so a TERM to this shell (systemd, the kubelet) reaches the watchdog at once.
  trap 'kill -TERM "$WATCH_PID" 2>/dev/null || true' INT TERM HUP
  # shellcheck disable=SC2086 # $OPT is one word or none
  python3 "$WORK/watchdog.py" --plan "$WORK/watch-plan.json" --root "${ROOT:-/}" $OPT &
  WATCH_PID=$!
  code=0
  wait "$WATCH_PID" || code=$?
  # wait returns early when a signal arrived: wait again for the watchdog's own exit code.
  while kill -0 "$WATCH_PID" 2>/dev/null; do wait "$WATCH_PID" && code=0 || code=$?; done
  exit "$code"
}
# containerd_check (MODE check): says "problem: ..." when containerd would bypass the mirrors in a way only a config
# change fixes: CRI pulls through the transfer service with a config_path folder list, or a config the apply refuses
# (a missing config_path is reported by check.py). Returns 1 on a problem.
containerd_check() {
  ctd_prepare
  ctd_effective
  ctd_plan 2>"$WORK/ctd.err" || true
  case $CTD_PLAN in
    local)
      printf 'problem: containerd %s pulls CRI images through its transfer service, which reads no config_path list (%s sets "%s"), so CRI pulls bypass the mirrors. Fix: run the apply script with restartPolicy "if-needed" (it sets use_local_image_pull = true), or set config_path to the single folder %s\n' "$CTD_RUNTIME" "$CTD_PATHNAME" "$CTD_PATH" "$CTD_DIR"
      return 1
      ;;
    '')
      printf 'problem: %s\n' "$(sed 's/^registry-mirrors: //' "$WORK/ctd.err" | tr '\n' ' ')"
      return 1
      ;;
  esac
  return 0
}
