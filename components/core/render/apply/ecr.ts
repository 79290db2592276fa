/**
 * The ECR token refresher the node apply script installs for containerd mirrors with `auth: "ecr"`.
 *
 * containerd reads a static `[host."URL".header]` from hosts.toml, and ECR wants a token that lasts 12 hours. So for
 * such a registry the apply script writes the rendered file as `hosts.toml.registry-mirrors.template` (no token, and
 * what it compares on later runs, so a token is never seen as drift) and installs a small sh script under
 * /etc/containerd/registry-mirrors (inside the folder the script already writes and the DaemonSet mounts) with a
 * systemd timer. The refresher fetches a token per region with the node's instance role and writes hosts.toml =
 * template + `Authorization` header, atomically, mode 0600. Tokens never pass through Pulumi, user data or the
 * ConfigMap.
 */
import { parse } from "smol-toml";
import { PolicyError } from "../../errors";
import type { ContainerdHostsFile } from "../containerd";
import { embedFile } from "./common";

/** The node folder of the refresher, its units, its list and the tokens. */
export const ECR_DIR = "/etc/containerd/registry-mirrors";
/** The systemd units' name (`.service` and `.timer`), linked from ECR_DIR. */
export const ECR_UNIT = "registry-mirrors-ecr-token";
/** Suffix of the file beside hosts.toml that holds it without the token. */
export const TEMPLATE_SUFFIX = ".registry-mirrors.template";

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
// The list is split on spaces and the URL lands inside a TOML basic string.
const LIST_SAFE = /^[!#-[\]-~]+$/;

/**
 * The refresher. `--render-only` skips the AWS calls (the apply script runs it so, under the lock, right after it
 * wrote new templates). It never prints a token: tokens go from the CLI's output to files, never into an argument.
 */
export const ECR_REFRESHER = `#!/bin/sh
# Rendered by registry-mirrors: the ECR token of containerd's ECR mirrors (policy auth "ecr").
# Usage: ecr-token-refresh [--render-only]   (run by ${ECR_UNIT}.timer at boot and hourly)
# ecr-token.list beside it has one "REGION HOSTS_TOML TABLE" line per ECR mirror. Per region it keeps a token
# (token.REGION, mode 0600) from \`aws ecr get-authorization-token\` with the node's instance role, renewed once it is
# 6 hours old (it lasts 12). Each HOSTS_TOML becomes HOSTS_TOML${TEMPLATE_SUFFIX} plus an Authorization header in TABLE,
# written atomically, mode 0600. A failed renewal keeps the previous token, says why on stderr and exits 1.
# Env: NODE_ROOT (prefix of node paths, default /), AWS_CLI (default aws).
set -eu
set -f
umask 077
ROOT=\${NODE_ROOT:-/}
ROOT=\${ROOT%/}
AWS_CLI=\${AWS_CLI:-aws}
DIR=$ROOT${ECR_DIR}
LIST=$DIR/ecr-token.list
STATUS=0
say() { printf 'ecr-token: %s\\n' "$*"; }
if [ ! -e "$LIST" ]; then say "no $LIST, nothing to do" && exit 0; fi
WORK=$(mktemp -d "\${TMPDIR:-/tmp}/registry-mirrors-ecr.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
put() { # replaces $2 with $1 atomically, mode 0600
  t="\${2%/*}/.\${2##*/}.registry-mirrors.$$"
  cat "$1" >"$t"
  chmod 600 "$t"
  sync "$t" 2>/dev/null || sync
  mv -f "$t" "$2"
}
# One run at a time (the timer, the apply script): the last one reads the newest templates. (BusyBox flock has no -w.)
if command -v flock >/dev/null 2>&1; then
  exec 9>>"$DIR/.ecr-token.lock"
  n=300
  until flock -n 9; do
    if [ "$n" -le 0 ]; then echo "ecr-token: another run still holds $DIR/.ecr-token.lock after 300s" >&2 && exit 1; fi
    n=$((n - 1))
    sleep 1
  done
fi
if [ "\${1:-}" != --render-only ]; then
  awk '!seen[$1]++ { print $1 }' "$LIST" >"$WORK/regions"
  while read -r region; do
    token=$DIR/token.$region
    if [ -s "$token" ] && [ -n "$(find "$token" -mmin -360 2>/dev/null)" ]; then continue; fi
    if "$AWS_CLI" ecr get-authorization-token --region "$region" --cli-connect-timeout 10 --output text \\
      --query 'authorizationData[0].authorizationToken' >"$WORK/token" 2>"$WORK/error" &&
      awk 'NR == 1 && /^[A-Za-z0-9+\\/]+=*$/ && length($0) >= 20 { ok = 1 } END { exit !(ok && NR == 1) }' "$WORK/token"; then
      put "$WORK/token" "$token"
      say "renewed the token of $region"
    else
      why=$(awk '{ s = s $0 " " } END { print substr(s, 1, 400) }' "$WORK/error")
      if [ -s "$token" ]; then kept="containerd keeps the previous token until it expires"; else kept="containerd skips the ECR mirrors of $region until a renewal works"; fi
      printf 'ecr-token: could not get an ECR token for %s (%s); %s. Fix: let the instance role call ecr:GetAuthorizationToken (e.g. AmazonEC2ContainerRegistryReadOnly) and reach the ECR API of %s (the com.amazonaws.%s.ecr.api VPC endpoint in private subnets)\\n' "$region" "\${why:-no token in the output of $AWS_CLI}" "$kept" "$region" "$region" >&2
      STATUS=1
    fi
  done <"$WORK/regions"
fi
awk '!seen[$2]++ { print $2 }' "$LIST" >"$WORK/files"
while read -r path; do
  file=$ROOT$path
  [ -e "$file${TEMPLATE_SUFFIX}" ] || continue
  : >"$WORK/headers"
  while read -r region p table; do
    if [ "$p" = "$path" ] && [ -s "$DIR/token.$region" ]; then
      { printf '%s Basic ' "$table" && tr -d '\\n' <"$DIR/token.$region" && echo; } >>"$WORK/headers"
    fi
  done <"$LIST"
  # Each header table goes right after the table it belongs to (the root's before the first table), as a TOML
  # writer would put it; the template never has one (the policy refuses headers beside auth "ecr").
  awk -v headers="$WORK/headers" '
    BEGIN {
      while ((getline line < headers) > 0) {
        n++
        i = index(line, " ")
        table[n] = substr(line, 1, i - 1)
        value[n] = substr(line, i + 1)
        parent[n] = table[n]
        sub(/\\.?header$/, "", parent[n])
      }
    }
    function add(last,   i) {
      for (i = 1; i <= n; i++) {
        if (done[i] || parent[i] != current) continue
        if (last) printf "\\n"
        printf "[%s]\\nAuthorization = \\"%s\\"\\n", table[i], value[i]
        if (!last) printf "\\n"
        done[i] = 1
      }
    }
    /^[ \\t]*\\[/ {
      add(0)
      current = $0
      sub(/^[ \\t]*\\[[ \\t]*/, "", current)
      sub(/[ \\t]*\\][ \\t]*$/, "", current)
    }
    { print }
    END { add(1) }
  ' "$file${TEMPLATE_SUFFIX}" >"$WORK/hosts.toml"
  if ! cmp -s "$WORK/hosts.toml" "$file"; then
    put "$WORK/hosts.toml" "$file"
    say "wrote $path"
  fi
done <"$WORK/files"
exit "$STATUS"
`;

const SERVICE = `# Rendered by registry-mirrors; linked by its node apply script, removed by its restore.
[Unit]
Description=registry-mirrors: ECR token for containerd's ECR mirrors

[Service]
Type=oneshot
ExecStart=/bin/sh ${ECR_DIR}/ecr-token-refresh
TimeoutStartSec=300
`;

// Hourly: the refresher renews a token once it is 6 hours old, so a failed renewal is retried five times before the
// 12-hour token runs out.
const TIMER = `# Rendered by registry-mirrors; enabled by its node apply script, removed by its restore.
[Unit]
Description=registry-mirrors: renew the ECR token of containerd's ECR mirrors

[Timer]
OnBootSec=1min
OnUnitActiveSec=1h

[Install]
WantedBy=timers.target
`;

/** Shell functions every containerd section has: stop and remove the refresher (restore, or a policy without ECR). */
export const ECR_REMOVE_FUNCTIONS = `ECR_NODE_DIR=${ECR_DIR}
ECR_DIR=$ROOT$ECR_NODE_DIR
ECR_UNIT=${ECR_UNIT}
ECR_RENDER=''
systemd_here() { # systemd runs the node (the DaemonSet reaches it through nsenter)
  s=$(ctl is-system-running 2>/dev/null) || true
  case $s in running | degraded | starting | initializing | maintenance) return 0 ;; *) return 1 ;; esac
}
warn() { printf 'registry-mirrors: %s\\n' "$*" >&2; }
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
`;

/** Installs the refresher (files in the transaction), and after the transaction renders hosts.toml and gets tokens. */
const ECR_INSTALL_FUNCTIONS = `ecr_install() {
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
      fail "containerd: could not enable $ECR_UNIT.timer ($(tr '\\n' ' ' <"$WORK/ctl.out")). Fix: check systemd on the node, then run this again"
      return 0
    fi
  fi
  if ctl start "$ECR_UNIT.service" >"$WORK/ctl.out" 2>&1; then
    say "containerd: ran $ECR_UNIT.service (ECR token)"
  else
    warn "containerd: $ECR_UNIT.service failed ($(tr '\\n' ' ' <"$WORK/ctl.out")); containerd skips the ECR mirrors until it has a token, the timer retries hourly. See: journalctl -u $ECR_UNIT.service"
  fi
}
`;

/** `REGION PATH TABLE` lines of the refresher's list, checking each endpoint against its file. */
function ecrListLines(field: string, file: ContainerdHostsFile): string[] {
  let doc: Record<string, unknown>;
  try {
    doc = parse(file.content) as Record<string, unknown>;
  } catch (err) {
    throw new PolicyError(
      `${field}.content`,
      "(content hidden)",
      `not valid TOML (${(err as Error).message.split("\n")[0]})`,
      "render hosts.toml with renderContainerdHosts",
    );
  }
  const hosts = (doc.host ?? {}) as Record<string, Record<string, unknown>>;
  return (file.ecrAuth ?? []).map((endpoint, i) => {
    const at = `${field}.ecrAuth[${i}]`;
    if (typeof endpoint.url !== "string" || !LIST_SAFE.test(endpoint.url)) {
      throw new PolicyError(
        `${at}.url`,
        endpoint.url,
        "not a plain URL (spaces, quotes and backslashes cannot be written here)",
        "give the mirror URL as the hosts.toml file writes it",
      );
    }
    if (typeof endpoint.region !== "string" || !REGION.test(endpoint.region)) {
      throw new PolicyError(
        `${at}.region`,
        endpoint.region,
        "not an AWS region",
        'give the region of the ECR registry, e.g. "us-west-2"',
      );
    }
    let table: string;
    if (
      hosts[endpoint.url] !== undefined &&
      file.content.split("\n").includes(`[host.${JSON.stringify(endpoint.url)}]`)
    ) {
      table = `host.${JSON.stringify(endpoint.url)}.header`;
      if (hosts[endpoint.url].header !== undefined) {
        throw new PolicyError(
          `${at}.url`,
          endpoint.url,
          "this mirror already has headers; the refresher writes its Authorization header",
          "remove the mirror's headers",
        );
      }
    } else if (doc.server === endpoint.url) {
      table = "header";
      if (doc.header !== undefined) {
        throw new PolicyError(
          `${at}.url`,
          endpoint.url,
          "this mirror already has headers; the refresher writes its Authorization header",
          "remove the mirror's headers",
        );
      }
    } else {
      throw new PolicyError(
        `${at}.url`,
        endpoint.url,
        `the file has no [host."URL"] table or server for this URL`,
        "list only mirrors of this hosts.toml file, as renderContainerdHosts does",
      );
    }
    return `${endpoint.region} ${file.path} ${table}`;
  });
}

/** True when some hosts.toml file of the plan has a mirror that needs an ECR token. */
export function hasEcrAuth(files: ContainerdHostsFile[]): boolean {
  return files.some((f) => (f.ecrAuth ?? []).length > 0);
}

/**
 * The ECR part of the containerd section: the embedded refresher, units and list, and the functions that install and
 * start it; for a plan without ECR mirrors, hooks that remove a refresher an earlier policy installed.
 */
export function ecrSection(files: ContainerdHostsFile[]): string {
  if (!hasEcrAuth(files)) {
    return [ECR_REMOVE_FUNCTIONS.trimEnd(), "ecr_sync() { ecr_remove; }", 'ecr_start() { : "$ECR_RENDER"; }', ""].join(
      "\n",
    );
  }
  const list = files.flatMap((f, i) => ecrListLines(`containerd.files[${i}]`, f));
  const managed: Array<[string, string, number, string]> = [
    ["ecr-refresh", "ecr-token-refresh", 0o755, ECR_REFRESHER],
    ["ecr-service", `${ECR_UNIT}.service`, 0o644, SERVICE],
    ["ecr-timer", `${ECR_UNIT}.timer`, 0o644, TIMER],
    ["ecr-list", "ecr-token.list", 0o644, `${list.join("\n")}\n`],
  ];
  return [
    "# ECR mirrors: hosts.toml gets its token from a refresher on the node (see ecr-token-refresh)",
    ...managed.map(([name, , , content]) => embedFile(name, content).trimEnd()),
    embedFile(
      "ecr.files",
      `${managed.map(([name, node, mode]) => `${name} ${mode.toString(8)} ${node}`).join("\n")}\n`,
    ).trimEnd(),
    ECR_REMOVE_FUNCTIONS.trimEnd(),
    ECR_INSTALL_FUNCTIONS.trimEnd(),
    "ecr_sync() { ecr_install; }",
    "",
  ].join("\n");
}
