#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing, then build and run every
# test twice: once with warnings as errors, once under AddressSanitizer + UBSan.
# Usage: scripts/test.sh [--plain-only|--asan-only]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

mode="${1:-all}"
jobs="$(nproc)"

run_suite() {
  local dir="$1"; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
  else
    meson configure "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir"
  meson test -C "$dir" --num-processes "$jobs" --print-errorlogs
}

if [ "$mode" != "--asan-only" ]; then
  echo "== firn: plain build, -Werror =="
  run_suite build-test -Dwerror=true -Dbuildtype=debugoptimized -Dexamples=true
fi
if [ "$mode" != "--plain-only" ]; then
  echo "== firn: AddressSanitizer + UndefinedBehaviorSanitizer, -Werror =="
  run_suite build-asan -Dwerror=true -Dbuildtype=debug -Db_sanitize=address,undefined \
    -Db_lundef=false -Dexamples=true
fi
echo "== firn: all suites passed =="
