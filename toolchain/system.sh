#!/usr/bin/env bash
# Installs the Debian packages the project needs and does not build itself:
# OpenSSH and rsync (devctl ssh and the SSH tests; sshd and nss_wrapper for the
# start-script tests), PostgreSQL (the team backend's tests), the real node's
# containerd, runc, CNI plugins and iptables, the image tools (mmdebstrap,
# buildah) with a static C toolchain for the sandbox image (gcc, libc6-dev),
# and tmux (the interactive-session test). Installed packages are left alone. As root it runs apt-get; otherwise it
# names the missing packages and the command that installs them, and fails.
set -euo pipefail
packages=(
  openssh-client openssh-server libnss-wrapper rsync
  postgresql postgresql-client
  containerd runc containernetworking-plugins iptables
  mmdebstrap buildah gcc libc6-dev tmux
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [[ $EUID -ne 0 ]]; then
  echo "[system] missing Debian packages: ${missing[*]}" >&2
  echo "[system] install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "[system] installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet.
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
  { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
