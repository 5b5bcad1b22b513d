#!/usr/bin/env bash
# Install everything firn needs to build, test, fuzz and benchmark on Debian 12.
# Idempotent: packages already present are skipped. Uses sudo when not root.
set -euo pipefail

PKGS=(
  build-essential meson ninja-build pkg-config
  libssl-dev libsrtp2-dev libuv1-dev libcmocka-dev
  # real peers and servers the integration tests run against
  coturn libnice-dev python3-aiortc
  # fuzzing (clang + libFuzzer runtime), namespaces for the lab tests
  clang libclang-rt-14-dev iproute2 iptables procps
  # benchmarks
  valgrind
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "firn: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# coturn's package enables a system service on some setups; the tests start their own.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now coturn >/dev/null 2>&1 || true; fi
