#!/usr/bin/env bash
# firn demo (interim, until the two-peer SRTP call lands): a STUN Binding round trip and a TURN
# allocation with long-term credentials, both against a throwaway coturn on 127.0.0.1.
# Installs what is missing (scripts/install-deps.sh), builds into build-demo, starts coturn
# with scripts/coturn.sh, runs examples/firn-stun against it, and always stops coturn.
# Nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

if [ ! -f build-demo/build.ninja ]; then
  meson setup build-demo -Dbuildtype=debugoptimized -Dexamples=true -Dtests=false >/dev/null
fi
ninja -C build-demo examples/firn-stun >/dev/null

dir="$(mktemp -d "${TMPDIR:-/tmp}/firn-demo.XXXXXX")"
cleanup() {
  scripts/coturn.sh stop "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/coturn.sh start "$dir"
# shellcheck disable=SC1091
. "$dir/coturn.env"
server="$FIRN_COTURN_HOST:$FIRN_COTURN_PORT"

echo "== STUN Binding request to coturn at $server: our address as the server sees it"
build-demo/examples/firn-stun "stun:$server"
echo
echo "== TURN Allocate at $server as '$FIRN_COTURN_USER' (401 challenge, then long-term credentials)"
build-demo/examples/firn-stun --allocate --user "$FIRN_COTURN_USER" --pass "$FIRN_COTURN_PASS" "turn:$server"
echo
echo "== the same with a wrong password: rejected cleanly"
if build-demo/examples/firn-stun --allocate --user "$FIRN_COTURN_USER" --pass wrong "turn:$server"; then
  echo "demo: a wrong password was accepted" >&2
  exit 1
fi
echo
echo "demo: ok"
