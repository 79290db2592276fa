# shellcheck shell=sh
# ecr.sh: installs (or removes) the ECR token refresher for containerd mirrors with auth "ecr": ecr-token-refresh.sh
# with a systemd service and timer, in ECR_NODE_DIR, linked from there. The refresher writes such a hosts.toml as its
# template plus an Authorization header; the token never passes through Pulumi, user data or a ConfigMap.
#
# Contract:
#   Needs:    prelude.sh; the engine constants ECR_NODE_DIR and ECR_UNIT; the engine files $WORK/ecr-refresh,
#             $WORK/ecr-service, $WORK/ecr-timer and $WORK/ecr.files; from the data part $WORK/ecr-list (the
#             refresher's "REGION HOSTS_TOML TABLE" lines; empty when the policy has no ECR mirror).
#   Defines:  ecr_sync (install when the list has lines, else remove), ecr_remove, ecr_start (after the transaction:
#             render the files, enable the timer, get tokens). Sets ECR_RENDER when hosts.toml must be rendered.
ECR_DIR=$ROOT$ECR_NODE_DIR
ECR_RENDER=''
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
