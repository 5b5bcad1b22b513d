#!/usr/bin/env bash
# Cross-wire two firn-peers on this machine with two FIFOs and show the call.
#
#   scripts/call.sh [options for both peers]
#
# Options are passed to both peers (see firn-peer --help); without any --ip both gather on
# 127.0.0.1 only. Side-specific options go in FIRN_OFFER_ARGS / FIRN_ANSWER_ARGS.
# Environment:
#   FIRN_PEER        the firn-peer binary (default: build-demo/examples/firn-peer, then
#                    build-media/, then build/)
#   FIRN_CALL_KEEP   a directory to keep offer.json, answer.json and both logs in
#   FIRN_CALL_QUIET  1: print only the summary lines
# Exit status: 0 when both peers succeeded, 1 when the call failed, 2 on a setup error.
set -euo pipefail
cd "$(dirname "$0")/.."

peer="${FIRN_PEER:-}"
if [ -z "$peer" ]; then
  for d in build-demo build-media build; do
    if [ -x "$d/examples/firn-peer" ]; then peer="$d/examples/firn-peer"; break; fi
  done
fi
if [ -z "$peer" ] || [ ! -x "$peer" ]; then
  echo "call.sh: no firn-peer binary (build it, or set FIRN_PEER)" >&2
  exit 2
fi

args=("$@")
have_ip=0
timeout_s=30
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --ip) have_ip=1 ;;
    --timeout) timeout_s="${args[$((i + 1))]:-30}" ;;
  esac
done
if [ "$have_ip" = 0 ]; then args+=(--ip 127.0.0.1); fi
read -r -a offer_extra <<<"${FIRN_OFFER_ARGS:-}"
read -r -a answer_extra <<<"${FIRN_ANSWER_ARGS:-}"

dir="$(mktemp -d "${TMPDIR:-/tmp}/firn-call.XXXXXX")"
cleanup() {
  if [ -n "${FIRN_CALL_KEEP:-}" ]; then
    mkdir -p "$FIRN_CALL_KEEP"
    cp -f "$dir"/*.json "$dir"/*.log "$FIRN_CALL_KEEP"/ 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
mkfifo "$dir/offer.sdp" "$dir/answer.sdp"

# A peer's stdout: the SDP up to and including the '.' line goes to the other peer's FIFO,
# everything after it (the JSON line) to a file. (Plain bash: awk implementations may
# buffer a pipe's input until it closes.)
split_sdp() { # fifo out
  local line fifo_open=0
  exec 3>"$1"
  while IFS= read -r line; do
    if [ "$fifo_open" = 0 ]; then
      printf '%s\n' "$line" >&3
      if [ "${line%$'\r'}" = "." ]; then exec 3>&-; fifo_open=1; fi
    else
      printf '%s\n' "$line" >>"$2"
    fi
  done
}

# Bounded: firn-peer stops itself after --timeout; `timeout` is the backstop.
limit=$(awk -v t="$timeout_s" 'BEGIN { printf "%d", t + 15 }')
# Each peer opens the FIFO it reads read-write, so opening never blocks on the other side.
{
  set +e
  timeout "$limit" "$peer" --offer "${args[@]}" "${offer_extra[@]}" <>"$dir/answer.sdp" 2>"$dir/offer.log"
  echo $? >"$dir/offer.rc"
} | split_sdp "$dir/offer.sdp" "$dir/offer.json" &
p1=$!
{
  set +e
  timeout "$limit" "$peer" --answer "${args[@]}" "${answer_extra[@]}" <>"$dir/offer.sdp" 2>"$dir/answer.log"
  echo $? >"$dir/answer.rc"
} | split_sdp "$dir/answer.sdp" "$dir/answer.json" &
p2=$!
wait "$p1" "$p2" || true

rc_o=$(cat "$dir/offer.rc" 2>/dev/null || echo 1)
rc_a=$(cat "$dir/answer.rc" 2>/dev/null || echo 1)
touch "$dir/offer.json" "$dir/answer.json"

if [ "${FIRN_CALL_QUIET:-0}" != 1 ]; then
  for side in offer answer; do
    if [ "$(cat "$dir/$side.rc" 2>/dev/null || echo 1)" != 0 ]; then
      echo "--- $side log (last lines)"
      tail -n 15 "$dir/$side.log"
    fi
  done
fi

python3 - "$dir/offer.json" "$dir/answer.json" "$rc_o" "$rc_a" <<'EOF'
import json, sys
ok = True
for side, path, rc in (("offer", sys.argv[1], sys.argv[3]), ("answer", sys.argv[2], sys.argv[4])):
    try:
        j = json.loads(open(path).read().strip().splitlines()[-1])
    except Exception:
        print(f"{side:6}: no JSON summary (exit status {rc})")
        ok = False
        continue
    print(f"{side:6}: {j['selected_pair']}")
    prof = j["srtp_profile"] if j["dtls"] == "ok" else "plain RTP (no DTLS)" if j["dtls"] == "none" else "DTLS failed"
    print(f"        {prof}; sent {j['sent']}, received {j['received']}, payload "
          f"{'ok' if j['payload_ok'] else 'BAD'}; connected in {j['connect_ms']:.1f} ms; exit {rc}")
    ok = ok and rc == "0"
print("call: " + ("ok" if ok else "FAILED"))
sys.exit(0 if ok else 1)
EOF
