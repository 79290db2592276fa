#!/bin/sh
# fetch-engine.sh: user data's first step when the engine travels by URL instead of inside the user data. It reads
# SCRIPT.engine-url (written by user data: sh assignments of `url`, `sha256`, `version` and `parts`; the URL is checked
# at render time to hold no quote, space or `$`), downloads the engine, checks its sha256, and joins it with
# SCRIPT.data (the readable data part user data wrote) into SCRIPT, mode 0700.
#
# Contract:
#   Usage:    sh fetch-engine.sh SCRIPT
#   Env:      FETCH_SECONDS (default 300): how long to keep retrying (backoff 2 s doubling to 30 s) before giving up.
#   Tools:    curl, wget or python3 to download (a stalled server is cut off: curl and wget by their timeouts);
#             sha256sum (coreutils or busybox) to check.
#   Keeps:    SCRIPT.engine, the checked engine: a later run with the same sha256 does not download again.
#   Exit:     0 SCRIPT written; non-zero: the engine could not be had, nothing was written at SCRIPT (the runtimes
#             keep their own settings and the node pulls from the upstream registries).
#   Never:    writes a partial or unchecked file at SCRIPT or SCRIPT.engine (downloads go to SCRIPT.engine.part).
set -u
script=$1
url='' sha256=''
# shellcheck disable=SC1090
. "$script.engine-url"
say() { echo "registry-mirrors: fetch-engine: $*" >&2; }
engine=$script.engine
part=$engine.part
get() {
  if command -v curl >/dev/null; then
    curl -fsSL --connect-timeout 5 --max-time 60 --speed-limit 1024 --speed-time 10 -o "$part" "$url"
  elif command -v wget >/dev/null; then
    wget -q -T 15 -t 1 -O "$part" "$url"
  else
    python3 -c 'import shutil,sys,urllib.request as u; shutil.copyfileobj(u.urlopen(sys.argv[1],timeout=15),open(sys.argv[2],"wb"))' "$url" "$part"
  fi 2>&1 | tail -n 1
}
ours() { [ -s "$1" ] && sha256sum "$1" | grep -q "^$sha256 "; }
start=$(date +%s)
delay=2
n=1
until ours "$engine"; do
  rm -f "$part"
  error=$(get)
  if ours "$part"; then
    mv -f "$part" "$engine" && continue
    error="could not write $engine"
  elif [ -s "$part" ]; then
    error="${error:+$error; }the file there is not the engine of sha256 $sha256 (partial, or another version)"
  fi
  rm -f "$part"
  if [ $(($(date +%s) - start)) -ge "${FETCH_SECONDS:-300}" ]; then
    say "gave up after $n attempts: $url: ${error:-no data}. Nothing was changed: the runtimes keep their own" \
      "registry settings. Fix: upload the engine file rendered with this user data there and make the URL reachable" \
      "from the node (e.g. an S3 gateway endpoint with a bucket policy for it), or carry the engine inline"
    exit 1
  fi
  say "attempt $n: $url: ${error:-no data}; retrying in ${delay}s"
  sleep "$delay"
  n=$((n + 1))
  delay=$((delay < 16 ? delay * 2 : 30))
done
if ! { cat "$engine" "$script.data" >"$script.tmp" && chmod 700 "$script.tmp" && mv -f "$script.tmp" "$script"; }; then
  rm -f "$script.tmp"
  exit 1
fi
