#!/usr/bin/env bash
# firn demo: a real two-party SRTP call on this machine, then a STUN/TURN round trip.
# Main act: two firn-peers (examples/firn-peer.c), one offering and one answering, exchange
# SDP through two FIFOs (scripts/call.sh), run ICE over UDP on 127.0.0.1, key the selected
# path with DTLS-SRTP and send 250 PCMU packets each way; the summary shows the selected
# path, the negotiated SRTP profile, packets sent/received and the time to connect.
# Encore: a STUN Binding round trip and a TURN allocation against a throwaway coturn on
# 127.0.0.1 (examples/firn-stun.c).
# Installs what is missing (scripts/install-deps.sh), builds into build-demo, and always
# stops coturn. Nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

if [ ! -f build-demo/build.ninja ]; then
  meson setup build-demo -Dbuildtype=debugoptimized -Dexamples=true -Dtests=false >/dev/null
fi
ninja -C build-demo examples/firn-stun examples/firn-peer >/dev/null

echo "== A two-party SRTP call on 127.0.0.1: firn-peer --offer and firn-peer --answer, SDP over two FIFOs"
FIRN_PEER=build-demo/examples/firn-peer scripts/call.sh "$@"
echo

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

echo "== Encore: STUN Binding request to coturn at $server: our address as the server sees it"
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
