# merge.py NODE DESIRED MANAGED OUT NAME: merges the desired daemon.json keys into the node's file.
# NODE: the node's daemon.json (may be missing); DESIRED: the keys to set; MANAGED: a JSON list of the keys the last run
# managed, or "*" (every key of NODE); OUT: where the merged file goes; NAME: the file's name in messages.
# Prints one line per changed key, "+key" (set or changed) or "-key" (removed). Every key it does not manage survives.
# Exit: 0 merged; 1 with a message on stderr when a file is not valid JSON or not an object (a list for MANAGED).
import json, os, sys
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
    f.write(json.dumps(merged, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
