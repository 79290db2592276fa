# merge.py NODE DESIRED MANAGED OUT NAME [ORIG]: merges the desired daemon.json keys into the node's file.
# NODE: the node's daemon.json (may be missing); DESIRED: the keys to set; MANAGED: a JSON list of the keys the last run
# managed, or "*" (every key of NODE); OUT: where the merged file goes; NAME: the file's name in messages; ORIG: the
# node's own file kept at the first apply (its .registry-mirrors.bak): a managed key the policy drops gets its value
# from there, and is removed only when the node never had it.
# Prints one line per changed key, "+key" (set or changed) or "-key" (removed). Every key it does not manage survives
# exactly: numbers keep their source text (1e400, 9007199254740993, 1.10, -0 are written back as they were); NaN and
# Infinity are not JSON and refuse the file; a duplicate key counts once, with its last value (as dockerd reads it).
# Exit: 0 merged; 1 with a one-line message on stderr when a file is not valid JSON or not an object (a list for
# MANAGED), or nests too deeply.
import json, os, sys
node, desired, managed, out, name = sys.argv[1:6]
orig = sys.argv[6] if len(sys.argv) > 6 else os.devnull
class Num(str):
    pass
def nan(c):
    raise ValueError(c + " is not JSON")
def load(path, what, kind=dict):
    if not os.path.exists(path):
        return kind()
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
        value = json.loads(text, parse_float=Num, parse_int=Num, parse_constant=nan) if text.strip() else kind()
    except ValueError as e:
        sys.exit("%s is not valid JSON (%s)" % (what, e))
    if not isinstance(value, kind):
        sys.exit("%s does not hold a JSON %s" % (what, "object" if kind is dict else "list"))
    return value
def dump(v, ind="\n"):
    if isinstance(v, Num):
        return v
    i = ind + "  "
    if isinstance(v, dict) and v:
        return "{" + ",".join(i + json.dumps(k, ensure_ascii=False) + ": " + dump(v[k], i) for k in sorted(v)) + ind + "}"
    if isinstance(v, list) and v:
        return "[" + ",".join(i + dump(x, i) for x in v) + ind + "]"
    return json.dumps(v, ensure_ascii=False)
try:
    cur = load(node, name)
    want = load(desired, "the desired configuration")
    old = list(cur) if managed == "*" else load(managed, managed, list)
    back = load(orig, name + ".registry-mirrors.bak")
    merged = {k: v for k, v in cur.items() if k in want or k not in old}
    merged.update({k: back[k] for k in old if k in back and k not in want})
    merged.update(want)
    text = dump(merged) + "\n"
    for k in sorted(set(cur) | set(merged)):
        if k not in merged:
            print("-" + k)
        elif k not in cur or dump(cur[k]) != dump(merged[k]):
            print("+" + k)
except RecursionError:
    sys.exit("%s nests too deeply to merge" % name)
# A lone surrogate (from a \ud800 escape) goes back as that escape.
with open(out, "w", encoding="utf-8", errors="backslashreplace") as f:
    f.write(text)
