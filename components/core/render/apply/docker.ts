import { DOCKER_RELOADABLE_KEYS, DOCKER_RELOAD_RESETS_WHEN_REMOVED } from "../docker-keys";
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
# Prints what changing the keys in $1 ("+key"/"-key" lines) takes: none (docker is not running), reload,
# restart, or "refuse KEYS" when a restart is needed and restartPolicy forbids it.
docker_action() {
  if ! active docker; then
    echo none
    return 0
  fi
  keys=
  for c in $1; do
    k=\${c#?}
    case $c in
      +*) case $DOCKER_RELOADABLE in *" $k "*) continue ;; esac ;;
      -*) case $DOCKER_RESETS in *" $k "*) continue ;; esac ;;
    esac
    keys="$keys $k"
  done
  if [ -z "$keys" ]; then
    echo reload
  elif [ "$RESTART_POLICY" = if-needed ]; then
    echo restart
  else
    echo "refuse$keys"
  fi
}
# True when docker answers and, if the docker CLI is here, reports the desired mirrors in order.
docker_up() {
  active docker || return 1
  command -v docker >/dev/null 2>&1 || return 0
  got=$(limit 20 docker info --format '{{json .RegistryConfig.Mirrors}}' 2>/dev/null) || return 1
  [ -z "$DOCKER_MIRRORS" ] || [ "$got" = "$DOCKER_MIRRORS" ]
}
docker_refuse() {
  fail "docker: changing$1 in /etc/docker/daemon.json needs a restart of docker, and restartPolicy is \\"never\\"; nothing was changed. Fix: set restartPolicy: \\"if-needed\\" (without live-restore a restart stops the node's containers), or apply it yourself in a maintenance window"
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
  action=$(docker_action "$changes")
  case $action in
    refuse*)
      docker_refuse "\${action#refuse}"
      return 0
      ;;
  esac
  backup "$DOCKER_FILE"
  change "$WORK/docker.new" "$DOCKER_FILE"
  change "$WORK/docker.keys" "$DOCKER_FILE.registry-mirrors.keys" 644
  if [ "$action" = none ]; then
    say "docker: wrote /etc/docker/daemon.json (docker is not running; it reads the file when it starts)"
  else
    say "docker: wrote /etc/docker/daemon.json"
  fi
  settle docker docker "$action" docker_up
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
  action=none
  if [ -n "$changes" ]; then action=$(docker_action "$changes"); fi
  case $action in
    refuse*)
      docker_refuse "\${action#refuse}"
      return 0
      ;;
  esac
  unapply "$DOCKER_FILE" docker
  if [ -e "$DOCKER_FILE.registry-mirrors.keys" ]; then change - "$DOCKER_FILE.registry-mirrors.keys"; fi
  DOCKER_MIRRORS=
  settle docker docker "$action" docker_up
}
`;

/** What `docker info --format '{{json .RegistryConfig.Mirrors}}'` prints once the mirrors are live. */
function expectedMirrors(desired: Record<string, unknown>): string {
  const mirrors = desired["registry-mirrors"];
  if (!Array.isArray(mirrors) || mirrors.length === 0) return "";
  // dockerd reports each mirror with one trailing slash.
  return JSON.stringify(mirrors.map((m) => `${String(m).replace(/\/+$/, "")}/`));
}

/** The Docker section: merge the desired keys into daemon.json, then reload or restart with verification. */
export function dockerSection(desired: Record<string, unknown>): string {
  const desiredJson = `${JSON.stringify(desired, null, 2)}\n`;
  const keys = `${JSON.stringify(Object.keys(desired).sort())}\n`;
  return [
    "# --- Docker: merge the managed keys into /etc/docker/daemon.json ---",
    "DOCKER_FILE=$ROOT/etc/docker/daemon.json",
    `DOCKER_RELOADABLE=${shellQuote(` ${DOCKER_RELOADABLE_KEYS.join(" ")} `)}`,
    `DOCKER_RESETS=${shellQuote(` ${DOCKER_RELOAD_RESETS_WHEN_REMOVED.join(" ")} `)}`,
    `DOCKER_MIRRORS=${shellQuote(expectedMirrors(desired))}`,
    ": \"${DOCKER_HOST:=unix://$ROOT/var/run/docker.sock}\"",
    "export DOCKER_HOST",
    embedFile("docker.json", desiredJson).trimEnd(),
    embedFile("docker.keys", keys).trimEnd(),
    embedFile("merge.py", MERGE_PY).trimEnd(),
    embedFile("merge.jq", MERGE_JQ).trimEnd(),
    DOCKER_FUNCTIONS.trimEnd(),
    "if [ \"$MODE\" = apply ]; then docker_apply; else docker_restore; fi",
    "",
  ].join("\n");
}
