import { DOCKER_RELOADABLE_KEYS, DOCKER_RELOAD_EMPTY_VALUES, DOCKER_RELOAD_RESETS_WHEN_REMOVED } from "../docker-keys";
import { embedFile, shellQuote } from "./common";

/**
 * Merges the desired keys into the node's daemon.json. Arguments: node file, desired keys, keys managed last time
 * (a JSON list; "*" = every key of the node file), output file, the name to use in messages. Prints one line per
 * changed key: "+key" (set or changed) or "-key" (removed). Every key it does not manage survives as it is.
 */
const MERGE_PY = `import json, os, sys
node, desired, managed, out, name = sys.argv[1:6]
def load(path, what, kind=dict):
    if not os.path.exists(path):
        return kind()
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
        value = json.loads(text) if text.strip() else kind()
    except ValueError as e:
        sys.exit("%s is not valid JSON (%s)" % (what, e))
    if not isinstance(value, kind):
        sys.exit("%s does not hold a JSON %s" % (what, "object" if kind is dict else "list"))
    return value
cur = load(node, name)
want = load(desired, "the desired configuration")
old = list(cur) if managed == "*" else load(managed, managed, list)
merged = {k: v for k, v in cur.items() if k in want or k not in old}
merged.update(want)
same = lambda a, b: json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
for k in sorted(set(cur) | set(merged)):
    if k not in merged:
        print("-" + k)
    elif k not in cur or not same(cur[k], merged[k]):
        print("+" + k)
with open(out, "w", encoding="utf-8") as f:
    f.write(json.dumps(merged, indent=2, sort_keys=True, ensure_ascii=False) + "\\n")
`;

/** The same merge in jq (for nodes without python3). `$all` true = every node key counts as managed. */
const MERGE_JQ = `($c[0] // {}) as $cur
| if ($cur | type) != "object" then error("does not hold a JSON object") else . end
| ($w[0] // {}) as $want
| (if $all then ($cur | keys) else ($o[0] // []) end) as $old
| ($cur | with_entries(select(.key as $k | ($want | has($k)) or ([$old[] | select(. == $k)] | length == 0)))) + $want
| . as $m
| if $changes then
    ([$cur, $m] | map(keys) | add | unique[]) as $k
    | if ($m | has($k) | not) then "-" + $k
      elif ($cur | has($k) | not) or $cur[$k] != $m[$k] then "+" + $k
      else empty end
  else $m end
`;

const DOCKER_FUNCTIONS = `# Merges with python3, else jq; with neither it refuses (exit 3) and nothing is changed.
json_merge() {
  if command -v python3 >/dev/null 2>&1; then
    python3 "$WORK/merge.py" "$@"
  elif command -v jq >/dev/null 2>&1; then
    if [ "$3" = "*" ]; then all=true o=/dev/null; elif [ -e "$3" ]; then all=false o=$3; else all=false o=/dev/null; fi
    c=/dev/null
    if [ -e "$1" ]; then c=$1; fi
    if ! jq -n -r --slurpfile c "$c" --slurpfile w "$2" --slurpfile o "$o" --argjson all "$all" --argjson changes true -f "$WORK/merge.jq" 2>"$WORK/jq.err"; then
      echo "$5 is not valid JSON ($(tr '\\n' ' ' <"$WORK/jq.err"))" >&2
      return 1
    fi
    jq -n -S --slurpfile c "$c" --slurpfile w "$2" --slurpfile o "$o" --argjson all "$all" --argjson changes false -f "$WORK/merge.jq" >"$4"
  else
    echo "neither python3 nor jq is installed; one of them is needed to merge $5 without losing its other keys" >&2
    return 3
  fi
}
# Sets ACTION for the key changes in $1 ("+key"/"-key" lines): none (docker is not running), reload, restart, or
# refuse (after saying why) when a restart is needed and restartPolicy forbids it. A reload keeps the old value of
# most keys gone from the file: EMPTY gets those it resets when the key holds its empty value instead.
docker_action() {
  ACTION=none EMPTY='' keys=''
  active docker || return 0
  for c in $1; do
    k=\${c#?}
    # "$c$TABLE" matches when the sign is right and " $k " is in the table.
    case $c$DOCKER_RELOADABLE in +*" $k "*) continue ;; esac
    case $c$DOCKER_RESETS in -*" $k "*) continue ;; esac
    case $c$DOCKER_EMPTY in -*" $k="*)
      v=\${DOCKER_EMPTY#*" $k="}
      EMPTY="$EMPTY,\\"$k\\":\${v%% *}"
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
  fail "docker: changing$keys in /etc/docker/daemon.json needs a restart of docker, and restartPolicy is \\"never\\"; nothing was changed. Fix: set restartPolicy: \\"if-needed\\" (without live-restore a restart stops the node's containers), or apply it yourself in a maintenance window"
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
    printf '{%s}\\n' "\${EMPTY#,}" >"$WORK/empty.json"
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
  if ! changes=$(json_merge "$DOCKER_FILE" "$WORK/docker.json" "$DOCKER_FILE.registry-mirrors.keys" "$WORK/docker.new" /etc/docker/daemon.json 2>"$WORK/err"); then
    fail "docker: $(cat "$WORK/err"); nothing was changed"
    return 0
  fi
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
  if [ -n "$EMPTY" ]; then # reload with the empty values first; the node's own bytes go back once docker took them
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
`;

/** The Docker section: merge the desired keys into daemon.json, then reload or restart with verification. */
export function dockerSection(desired: Record<string, unknown>): string {
  const desiredJson = `${JSON.stringify(desired, null, 2)}\n`;
  const keys = `${JSON.stringify(Object.keys(desired).sort())}\n`;
  return [
    "# --- Docker: merge the managed keys into /etc/docker/daemon.json ---",
    "DOCKER_FILE=$ROOT/etc/docker/daemon.json",
    `DOCKER_RELOADABLE=${shellQuote(` ${DOCKER_RELOADABLE_KEYS.join(" ")} `)}`,
    `DOCKER_RESETS=${shellQuote(` ${DOCKER_RELOAD_RESETS_WHEN_REMOVED.join(" ")} `)}`,
    `DOCKER_EMPTY=${shellQuote(
      ` ${Object.keys(DOCKER_RELOAD_EMPTY_VALUES)
        .sort()
        .map((k) => `${k}=${JSON.stringify(DOCKER_RELOAD_EMPTY_VALUES[k])}`)
        .join(" ")} `,
    )}`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell code
    ': "${DOCKER_HOST:=unix://$ROOT/var/run/docker.sock}"',
    "export DOCKER_HOST",
    embedFile("docker.json", desiredJson).trimEnd(),
    embedFile("docker.keys", keys).trimEnd(),
    embedFile("merge.py", MERGE_PY).trimEnd(),
    embedFile("merge.jq", MERGE_JQ).trimEnd(),
    DOCKER_FUNCTIONS.trimEnd(),
    'if [ "$MODE" = apply ]; then docker_apply; else docker_restore; fi',
    "",
  ].join("\n");
}
