# merge.jq: the merge of merge.py in jq, for nodes without python3. Inputs: --slurpfile c NODE, w DESIRED,
# o MANAGED, b ORIG; --argjson all (true: every key of NODE counts as managed), changes (true: print "+key"/"-key"
# lines, false: print the merged object, "nums": print how many numbers ORIG holds, then one line per number in
# document order: its text as jq writes it, then ` in "KEY"` when the number goes back from ORIG). jq keeps numbers
# as doubles: docker.sh refuses a file whose numbers jq would not write back with the same text before it runs this
# (NODE's and, with "nums", the values ORIG gives back).
if ($c | length) > 1 then error("holds more than one JSON value") else . end
| ($c[0] // {}) as $cur
| ($b[0] // {}) as $back
| if ($cur | type) != "object" then error("does not hold a JSON object") else . end
| ($w[0] // {}) as $want
| (if $all then ($cur | keys) else ($o[0] // []) end) as $old
| ($back | with_entries(select(.key as $k | ($want | has($k) | not) and ([$old[] | select(. == $k)] | length > 0)))) as $given
| if $changes == "nums" then
    [$back | paths(numbers)] | length, (.[] as $p | "\($back | getpath($p))\(if $given | has($p[0]) then " in \($p[0] | tojson)" else "" end)")
  else ($cur | with_entries(select(.key as $k | ($want | has($k)) or ([$old[] | select(. == $k)] | length == 0))))
  + $given + $want
| . as $m
| if $changes then
    ([$cur, $m] | map(keys) | add | unique[]) as $k
    | if ($m | has($k) | not) then "-" + $k
      elif ($cur | has($k) | not) or $cur[$k] != $m[$k] then "+" + $k
      else empty end
  else $m end
  end
