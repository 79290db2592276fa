# shellcheck shell=sh
# docker.sh: merges the policy's keys into /etc/docker/daemon.json, then reloads (SIGHUP) or, when a changed key needs
# it and RESTART_POLICY allows it, restarts docker, and checks `docker info` reports the mirrors.
#
# Contract:
#   Needs:    prelude.sh; the engine constants DOCKER_RELOADABLE, DOCKER_RESETS, DOCKER_EMPTY (" key key " lists, from
#             the library's table of dockerd keys); $WORK/docker.json (the managed keys, from the data part);
#             $WORK/merge.py and $WORK/merge.jq (engine files).
#   Defines:  docker_apply, docker_restore (and the helpers below). Node state: daemon.json.registry-mirrors.keys lists
#             the keys the last run managed: a key the policy drops gets back the node's own value (from
#             daemon.json.registry-mirrors.bak, kept at the first change) on the next run, or is removed.
#   Env:      DOCKER_HOST (default unix://$ROOT/var/run/docker.sock).
DOCKER_FILE=$ROOT/etc/docker/daemon.json
: "${DOCKER_HOST:=unix://$ROOT/var/run/docker.sock}"
export DOCKER_HOST
# Merges with python3, else jq; with neither it refuses (exit 3) and nothing is changed. $6: the node's own file
# (merge.py's ORIG).
json_merge() {
  if command -v python3 >/dev/null 2>&1; then
    python3 "$WORK/merge.py" "$@"
  elif command -v jq >/dev/null 2>&1; then
    if [ "$3" = "*" ]; then all=true o=/dev/null; elif [ -e "$3" ]; then all=false o=$3; else all=false o=/dev/null; fi
    c=/dev/null b=${6:-/dev/null} w=$2
    if [ -e "$1" ]; then c=$1; fi
    if ! merge_jq -r true 2>"$WORK/jq.err"; then
      echo "$5 is not valid JSON ($(tr '\n' ' ' <"$WORK/jq.err"))" >&2
      return 1
    fi
    json_nums "$c" >"$WORK/nums.a"
    jq -c . "$c" | json_nums - >"$WORK/nums.b"
    if ! cmp -s "$WORK/nums.a" "$WORK/nums.b"; then
      n=$(grep -m 1 -vxF -f "$WORK/nums.b" "$WORK/nums.a") || n='a duplicate key'
      echo "$5 holds $n, which jq cannot keep exactly. Fix: install python3" >&2
      return 1
    fi
    # The values that go back from ORIG: each number's source text against jq's, in document order (string compare).
    json_nums "$b" >"$WORK/nums.a"
    n=$(merge_jq -r '"nums"' | awk 'NR == FNR { a[NR] = $0; n = NR; next }
      FNR == 1 { d = $0 != n; next }
      NF > 1 && (d || a[FNR - 1] != $1 "") { print (d ? "a duplicate key" : a[FNR - 1]) substr($0, length($1) + 1); exit }' "$WORK/nums.a" -)
    if [ -n "$n" ]; then
      echo "${b#"$ROOT"} holds $n, which jq cannot keep exactly. Fix: install python3" >&2
      return 1
    fi
    merge_jq -S false >"$4"
  else
    echo "neither python3 nor jq is installed; one of them is needed to merge $5 without losing its other keys" >&2
    return 3
  fi
}
merge_jq() { jq -n "$1" --slurpfile c "$c" --slurpfile w "$w" --slurpfile o "$o" --slurpfile b "$b" --argjson all "$all" --argjson changes "$2" -f "$WORK/merge.jq"; }
# Prints the JSON file $1's number literals and bare words other than true, false and null, one a line.
json_nums() { awk '{ gsub(/"([^"\\]|\\.)*"/, "\"\""); print }' "$1" | grep -oE -e '-?[0-9][0-9.eE+-]*' -e '[A-Za-z]+' | grep -vxE 'true|false|null' || true; }
# Sets ACTION for the key changes in $1 ("+key"/"-key" lines): none (docker is not running), reload, restart, or
# refuse (after saying why) when a restart is needed and restartPolicy forbids it. A reload keeps the old value of
# most keys gone from the file: EMPTY gets those it resets when the key holds its empty value instead.
docker_action() {
  ACTION=none EMPTY='' keys=''
  active docker || return 0
  for c in $1; do
    k=${c#?}
    # "$c$TABLE" matches when the sign is right and " $k " is in the table.
    case $c$DOCKER_RELOADABLE in +*" $k "*) continue ;; esac
    case $c$DOCKER_RESETS in -*" $k "*) continue ;; esac
    case $c$DOCKER_EMPTY in -*" $k="*)
      v=${DOCKER_EMPTY#*" $k="}
      EMPTY="$EMPTY,\"$k\":${v%% *}"
      continue
      ;;
    esac
    keys="$keys $k"
  done
  ACTION=reload
  [ -n "$keys" ] || return 0
  ACTION=restart EMPTY=
  [ "$RESTART_POLICY" != if-needed ] || return 0
  ACTION=refuse
  fail "docker: changing$keys in /etc/docker/daemon.json needs a restart of docker, and restartPolicy is \"never\"; nothing was changed. Fix: set restartPolicy: \"if-needed\" (without live-restore a restart stops the node's containers), or apply it yourself in a maintenance window"
}
# Prints the mirrors docker info reports for the daemon.json $1 (each with one final /), or nothing without the key.
json_mirrors() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json, sys
m = json.load(open(sys.argv[1], encoding="utf-8")).get("registry-mirrors")
if isinstance(m, list): print(json.dumps([u.rstrip("/") + "/" for u in m], separators=(",", ":"), ensure_ascii=False))' "$1"
  else
    jq -r '."registry-mirrors" | if type == "array" then map(sub("/+$"; "") + "/") | tojson else empty end' "$1"
  fi
}
# Writes $1 to daemon.json, with the EMPTY values added (then $WORK/docker.final is $1, to write once docker took
# them); DOCKER_MIRRORS gets what docker info must report after the reload or restart.
docker_write() {
  f=$1
  rm -f "$WORK/docker.final"
  if [ -n "$EMPTY" ]; then
    cp "$1" "$WORK/docker.final"
    printf '{%s}\n' "${EMPTY#,}" >"$WORK/empty.json"
    json_merge "$1" "$WORK/empty.json" /dev/null "$WORK/docker.hup" /etc/docker/daemon.json >/dev/null
    f=$WORK/docker.hup
  fi
  DOCKER_MIRRORS=$(json_mirrors "$f")
  change "$f" "$DOCKER_FILE"
}
# True when docker answers and, if the docker CLI is here, reports the expected mirrors in order.
docker_up() {
  active docker || return 1
  command -v docker >/dev/null 2>&1 || return 0
  got=$(limit 20 docker info --format '{{json .RegistryConfig.Mirrors}}' 2>/dev/null) || return 1
  [ -z "$DOCKER_MIRRORS" ] || [ "$got" = "$DOCKER_MIRRORS" ]
}
docker_apply() {
  orig=/dev/null
  if [ -e "$DOCKER_FILE.registry-mirrors.bak" ]; then orig=$DOCKER_FILE.registry-mirrors.bak; fi
  if ! changes=$(json_merge "$DOCKER_FILE" "$WORK/docker.json" "$DOCKER_FILE.registry-mirrors.keys" "$WORK/docker.new" /etc/docker/daemon.json "$orig" 2>"$WORK/err"); then
    fail "docker: $(cat "$WORK/err"); nothing was changed"
    return 0
  fi
  json_keys "$WORK/docker.json" >"$WORK/docker.keys"
  if [ -z "$changes" ]; then
    if ! cmp -s "$WORK/docker.keys" "$DOCKER_FILE.registry-mirrors.keys"; then
      change "$WORK/docker.keys" "$DOCKER_FILE.registry-mirrors.keys" 644
      commit
    fi
    say "docker: unchanged"
    return 0
  fi
  docker_action "$changes"
  [ "$ACTION" != refuse ] || return 0
  backup "$DOCKER_FILE"
  docker_write "$WORK/docker.new"
  change "$WORK/docker.keys" "$DOCKER_FILE.registry-mirrors.keys" 644
  if [ "$ACTION" = none ]; then
    say "docker: wrote /etc/docker/daemon.json (docker is not running; it reads the file when it starts)"
  else
    say "docker: wrote /etc/docker/daemon.json"
  fi
  settle docker docker "$ACTION" docker_up
  if [ -n "$SETTLED" ] && [ -e "$WORK/docker.final" ]; then put "$WORK/docker.final" "$DOCKER_FILE"; fi
}
docker_restore() {
  if ! has_backup "$DOCKER_FILE"; then
    say "docker: nothing to restore"
    return 0
  fi
  orig=/dev/null
  if [ -e "$DOCKER_FILE.registry-mirrors.bak" ]; then orig=$DOCKER_FILE.registry-mirrors.bak; fi
  if ! changes=$(json_merge "$DOCKER_FILE" "$orig" "*" "$WORK/docker.new" /etc/docker/daemon.json 2>"$WORK/err"); then
    fail "docker: $(cat "$WORK/err"); nothing was changed"
    return 0
  fi
  ACTION=none EMPTY=
  if [ -n "$changes" ]; then docker_action "$changes"; fi
  [ "$ACTION" != refuse ] || return 0
  # Reload with the empty values first; the node's own bytes go back once docker took them.
  if [ -n "$EMPTY" ]; then
    docker_write "$WORK/docker.new"
    settle docker docker reload docker_up
    [ -n "$SETTLED" ] || return 0
    ACTION=none
  fi
  DOCKER_MIRRORS=$(json_mirrors "$WORK/docker.new")
  unapply "$DOCKER_FILE" docker
  if [ -e "$DOCKER_FILE.registry-mirrors.keys" ]; then change - "$DOCKER_FILE.registry-mirrors.keys"; fi
  settle docker docker "$ACTION" docker_up
}
# Prints the keys of the JSON object in $1 as a compact sorted JSON list.
json_keys() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json, sys
print(json.dumps(sorted(json.load(open(sys.argv[1], encoding="utf-8"))), separators=(",", ":"), ensure_ascii=False))' "$1"
  else
    jq -c 'keys' "$1"
  fi
}
