#!/usr/bin/env bash
# Installs what Shoal's container runtime and its tests need on Debian 12 (run as root).
# Idempotent: installs only missing packages; runs `apt-get update` only when something is missing.
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "install.sh: must run as root" >&2; exit 1; }
PKGS=(containerd runc containernetworking-plugins busybox-static skopeo docker-registry apache2-utils iproute2 nftables util-linux)
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then missing+=("$p"); fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install.sh: all present (${PKGS[*]})"
else
  echo "install.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's containerd package enables a system containerd; Shoal's tests start their own
# instances (scripts/runtime/containerd-up.sh) and do not need or touch the system one.
command -v containerd >/dev/null && command -v runc >/dev/null && [[ -x /usr/lib/cni/bridge ]] && [[ -x /bin/busybox ]]
