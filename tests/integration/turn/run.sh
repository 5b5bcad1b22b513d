#!/usr/bin/env bash
# Run a TURN integration test binary against a throwaway coturn on 127.0.0.1.
# usage: run.sh TEST_BINARY COTURN_SH [coturn.sh start options...]
# Starts coturn with scripts/coturn.sh in a fresh temp dir (passing the options through:
# --tls, --stale-nonce, short lifetimes), exports its FIRN_COTURN_* settings, runs the
# binary, and always stops coturn and removes the dir. Exit 77 (meson's "skipped") when
# coturn is not installed.
set -euo pipefail
test_bin="$1"
coturn_sh="$2"
shift 2

if ! command -v turnserver >/dev/null 2>&1 && [ ! -x /usr/bin/turnserver ]; then
  echo "SKIP: turnserver not installed (Debian package coturn; scripts/install-deps.sh installs it)"
  exit 77
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/firn-turn.XXXXXX")"
cleanup() {
  local rc=$?
  "$coturn_sh" stop "$dir" || true
  if [ "$rc" -ne 0 ] && [ -f "$dir/turnserver.log" ]; then
    echo "--- last lines of the coturn log ---" >&2
    tail -n 60 "$dir/turnserver.log" >&2 || true
  fi
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

"$coturn_sh" start "$dir" "$@"
set -a
# shellcheck disable=SC1091
. "$dir/coturn.env"
set +a
"$test_bin"
