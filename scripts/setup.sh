#!/usr/bin/env bash
# setup.sh — install the Debian packages shortcut needs, configure and build it in ./build.
#
#   scripts/setup.sh            install (apt, needs root or sudo) + build
#   scripts/setup.sh --no-apt   build only (packages already installed)
#
# Then `build/shortcut` starts the default (quick) config; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake ninja-build pkg-config
          libyaml-dev libopenblas-dev libdnnl-dev libncurses-dev
          tmux
          libsdl2-dev libsdl2-ttf-dev libpng-dev fonts-dejavu-core xvfb xauth)

if [[ "${1:-}" != "--no-apt" ]]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then
      command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
      SUDO=sudo
    fi
    echo "setup.sh: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
echo "setup.sh: built build/shortcut"
