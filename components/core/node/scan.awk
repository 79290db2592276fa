# scan.awk (run with -v q="'"): the reading of inspect.py in awk, for nodes without Python 3.11, for the layouts
# containerd writes and the usual hand-written ones (keys under their own table header). Also prints the line
# numbers an edit needs: "regline N" (the registry table's header), "pathline N" (its config_path line),
# "imagesline N" (the [plugins."io.containerd.cri.v1.images"] header), "localline N" (its use_local_image_pull
# line), and "import PATH" per entry of imports.
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
  else if (ver == 3 || ver == 4) { reg = "plugins.io.containerd.cri.v1.images.registry"; cri = "" }
  else bad = 1
  crit = reg
  sub(/\.registry$/, "", crit)
}
function setkey(k, v) { if (v == "true" || v == "false" || v ~ /^[0-9]+$/) sets[k] = v }
BEGIN { top = 1; ver = ""; inarr = ""; img = "plugins.io.containerd.cri.v1.images" }
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
    if (cur == img) imagesline = NR
    if (index(cur, reg ".mirrors.") == 1) mirrors = 1
    if (index(cur, reg ".configs.") == 1 && cur ~ /\.tls$/) tls = 1
    if (index(cur, reg ".mirrors.") == 1 || index(cur, reg ".configs.") == 1 || index(cur, reg ".auths.") == 1) localreg = 1
    if (index(cur, crit ".containerd.runtimes") == 1) runtimes = 1
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
  v = strval(line)
  if (cur == img && k == "use_local_image_pull") { localline = NR; setkey(k, v) }
  if (cur == crit && (k == "max_concurrent_downloads" || k == "image_pull_with_sync_fs")) setkey(k, v)
  if (ver >= 3 && cur == crit && (k == "discard_unpacked_layers" || k == "disable_snapshot_annotations")) setkey(k, v)
  if (ver < 3 && cur == crit ".containerd" && (k == "discard_unpacked_layers" || k == "disable_snapshot_annotations")) old[k] = v
  if (cur == reg) {
    if (k == "config_path") { pathline = NR; path = strval(line) }
    if (index(k, "mirrors.") == 1 || index(k, "configs.") == 1 || index(k, "auths.") == 1) localreg = 1
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
  if (pathline) print "path " path
  if (mirrors) print "conflict mirrors"
  if (tls) print "conflict tls"
  n = items("disabled_plugins")
  off = 0
  for (i = 1; i <= n; i++) {
    if (cri != "" && item[i] == cri) off = 1
    if (ver >= 3 && (item[i] == "io.containerd.grpc.v1.cri" || item[i] == "io.containerd.cri.v1.images")) off = 1
  }
  if (off) print "crioff 1"
  if (localreg) print "localreg 1"
  # containerd 2.x migrates a version 1 or 2 file's snapshot keys only when its containerd table has runtimes.
  if (runtimes) for (k in old) setkey(k, old[k])
  for (k in sets) print "set " k " " sets[k]
  n = items("imports")
  for (i = 1; i <= n; i++) if (item[i] != "") print "import " item[i]
  if (regline) print "regline " regline
  if (pathline) print "pathline " pathline
  if (imagesline) print "imagesline " imagesline
  if (localline) print "localline " localline
}
