#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages biofeed builds, tests and runs with.
# Idempotent: when every package is already there it only asks dpkg (well
# under a second) and touches nothing. Runs as root, or through sudo.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  liburing-dev libhdf5-dev hdf5-tools libhts-dev zlib1g-dev
  libtiff-dev libpng-dev libnifti2-dev
  libdeflate-dev libisal-dev libxxhash-dev librandom123-dev
  libsodium-dev libyaml-dev libcjson-dev libdlpack-dev
  libopenmpi-dev openmpi-bin
  libcmocka-dev python3-dev python3-venv tabix clang libclang-rt-dev libomp-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -q '^installed$' || missing+=("$p")
done

if (( ${#missing[@]} == 0 )); then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: not root and no sudo; install them as root and re-run" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
