#!/usr/bin/env bash
# Prints the toolchain directory for the current pins:
# ${XDG_CACHE_HOME:-~/.cache}/devservers/toolchain/<hash of pins.env>.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
key="$(sha256sum "$here/pins.env" | cut -c1-12)"
echo "${XDG_CACHE_HOME:-$HOME/.cache}/devservers/toolchain/$key"
