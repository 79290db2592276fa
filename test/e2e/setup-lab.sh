#!/usr/bin/env bash
# Installs the Debian packages of the e2e lab (real registries, dockerd, containerd 1.6, runc, podman, skopeo, umoci,
# cloud-init, shellcheck, jq). Idempotent: installs only what is missing. Needs root (or sudo) and apt.
set -euo pipefail
packages=(docker-registry skopeo umoci containerd runc docker.io podman cloud-init shellcheck jq iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "e2e lab: all packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "e2e lab: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
