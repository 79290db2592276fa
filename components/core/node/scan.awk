# scan.awk (run with -v q="'"): the reading of inspect.py in awk, for nodes without Python 3.11, for the layouts
# containerd writes and the usual hand-written ones. Also prints the line numbers an edit needs: "regline N" (the
# registry table's header), "pathline N" (its config_path line), and "import PATH" per entry of imports.
function norm(s) {
  gsub(/[ \t"]/, "", s)
  gsub(q, "", s)
  return s
}
function strval(s,   c, i) {
  sub(/^[^=]*=[ \t]*/, "", s)
  c = substr(s, 1, 1)
  if (c == "\"" || c == q) {
    s = substr(s, 2)
    i = index(s, c)
    return i ? substr(s, 1, i - 1) : s
  }
  sub(/[ \t]*#.*$/, "", s)
  return s
}
function items(name,   a) {
  a = arrays[name]
  sub(/^[^[]*\[/, "", a)
  sub(/\].*$/, "", a)
  return split(norm(a), item, ",")
}
function setreg() {
  top = 0
  if (ver == "") ver = 1
  if (ver == 1) { reg = "plugins.cri.registry"; cri = "cri" }
  else if (ver == 2) { reg = "plugins.io.containerd.grpc.v1.cri.registry"; cri = "io.containerd.grpc.v1.cri" }
  else if (ver == 3) { reg = "plugins.io.containerd.cri.v1.images.registry"; cri = "" }
  else bad = 1
}
BEGIN { top = 1; ver = ""; inarr = "" }
{
  line = $0
  sub(/^[ \t]+/, "", line)
  if (line == "" || substr(line, 1, 1) == "#") next
  if (inarr) {
    arrays[inarr] = arrays[inarr] line
    if (index(line, "]")) inarr = ""
    next
  }
  if (substr(line, 1, 1) == "[") {
    if (top) setreg()
    cur = ""
    if (substr(line, 2, 1) == "[") next
    h = line
    sub(/^\[/, "", h)
    sub(/\][^\]]*$/, "", h)
    cur = norm(h)
    if (cur == reg) regline = NR
    if (index(cur, reg ".mirrors.") == 1) mirrors = 1
    if (index(cur, reg ".configs.") == 1 && cur ~ /\.tls$/) tls = 1
    next
  }
  k = line
  sub(/[ \t]*=.*$/, "", k)
  k = norm(k)
  if (top) {
    if (k == "version") ver = strval(line) + 0
    if (k == "disabled_plugins" || k == "imports") {
      arrays[k] = line
      if (!index(line, "]")) inarr = k
    }
    next
  }
  if (cur == reg) {
    if (k == "config_path") { pathline = NR; path = strval(line) }
    if (k == "mirrors" || index(k, "mirrors.") == 1) mirrors = 1
    if (index(k, "configs.") == 1 && (k ~ /\.tls$/ || k ~ /\.tls\./)) tls = 1
  } else if (cur == reg ".mirrors") {
    mirrors = 1
  } else if (index(cur, reg ".configs.") == 1 && (k == "tls" || index(k, "tls.") == 1)) {
    tls = 1
  }
}
END {
  if (top) setreg()
  if (bad) { print "error unsupported config version " ver; exit }
  print "version " ver
  print "path " path
  if (mirrors) print "conflict mirrors"
  if (tls) print "conflict tls"
  n = items("disabled_plugins")
  for (i = 1; i <= n; i++) if (cri != "" && item[i] == cri) print "crioff 1"
  n = items("imports")
  for (i = 1; i <= n; i++) if (item[i] != "") print "import " item[i]
  if (regline) print "regline " regline
  if (pathline) print "pathline " pathline
}
