#!/usr/bin/env bash
# firn-peer against firn-peer on loopback through scripts/call.sh (two FIFOs), with and
# without DTLS, asserting the JSON summary of both sides; plus firn-peer's exit status 2 on
# bad SDP and on options this build cannot serve. Every wait is bounded (firn-peer's own
# --timeout, call.sh's backstop, `timeout` here) and failures print both logs.
set -euo pipefail
root="${FIRN_SOURCE_ROOT:?}"
peer="${FIRN_BUILD_ROOT:?}/examples/firn-peer"
if [ ! -x "$peer" ]; then
  echo "firn-peer not built (-Dexamples=false?): skipping"
  exit 77
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/firn-peer-test.XXXXXX")"
coturn_dir=""
cleanup() {
  if [ -n "$coturn_dir" ]; then "$root/scripts/coturn.sh" stop "$coturn_dir" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fails=0

check_json() { # file dtls_expected packets
  python3 - "$1" "$2" "$3" <<'PY'
import json, os, re, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
want_dtls = sys.argv[2]
want_type = os.environ.get("WANT_TYPE", "")
errs = []
pair = re.compile(r"^(host|srflx|prflx|relay)/(udp|tcp-active|tcp-passive|tcp-so) 127\.0\.0\.1:\d+ <-> "
                  r"(host|srflx|prflx|relay)/(udp|tcp-active|tcp-passive|tcp-so) 127\.0\.0\.1:\d+$")
if want_type and not j["selected_pair"].startswith(want_type + "/"): errs.append("local type in %r" % j["selected_pair"])
if want_type and " <-> " + want_type + "/" not in j["selected_pair"]: errs.append("remote type in %r" % j["selected_pair"])
if not pair.match(j["selected_pair"]): errs.append("selected_pair %r" % j["selected_pair"])
if j["dtls"] != want_dtls: errs.append("dtls %r" % j["dtls"])
if want_dtls == "ok" and not j["srtp_profile"].startswith("SRTP_"): errs.append("srtp_profile %r" % j["srtp_profile"])
if want_dtls == "none" and j["srtp_profile"] != "none": errs.append("srtp_profile %r" % j["srtp_profile"])
for k in ("sent", "received"):
    if j[k] != int(sys.argv[3]): errs.append("%s %r" % (k, j[k]))
if j["payload_ok"] is not True: errs.append("payload_ok %r" % j["payload_ok"])
if not (isinstance(j["connect_ms"], (int, float)) and 0 < j["connect_ms"] < 10000): errs.append("connect_ms %r" % j["connect_ms"])
if errs:
    print("  %s: %s" % (sys.argv[1], ", ".join(errs)))
    sys.exit(1)
PY
}

call() { # name dtls_expected args...
  local name="$1" want="$2" packets="${PACKETS:-250}"
  shift 2
  local keep="$work/$name"
  echo "== $name: call.sh $*"
  if FIRN_PEER="$peer" FIRN_CALL_KEEP="$keep" timeout 120 "$root/scripts/call.sh" --timeout 20 "$@" &&
    check_json "$keep/offer.json" "$want" "$packets" && check_json "$keep/answer.json" "$want" "$packets"; then
    echo "   ok"
    # both sides agree on the profile, and each side's pair is the other's reversed
    python3 - "$keep/offer.json" "$keep/answer.json" <<'PY' || { echo "   sides disagree"; fails=$((fails + 1)); }
import json, sys
o, a = (json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[1:3])
assert o["srtp_profile"] == a["srtp_profile"], (o, a)
l, r = o["selected_pair"].split(" <-> ")
if "tcp" not in l:  # an active TCP candidate's port is 9 in its own description
    assert a["selected_pair"] == r + " <-> " + l, (o, a)
PY
  else
    echo "   FAILED"
    for f in "$keep"/*.log; do echo "--- $f"; tail -n 20 "$f"; done
    fails=$((fails + 1))
  fi
}

call dtls_srtp ok
call no_dtls none --no-dtls
PACKETS=40 call short_ta10 ok --packets 40 --ta 10
PACKETS=40 call ice_tcp_only ok --packets 40 --tcp-only

# Through a real coturn on 127.0.0.1 with the relay-only policy: TURN over UDP, TCP and TLS
if command -v turnserver >/dev/null 2>&1 || [ -x /usr/bin/turnserver ]; then
  coturn_dir="$work/coturn"
  mkdir -p "$coturn_dir"
  if "$root/scripts/coturn.sh" start "$coturn_dir" --tls >"$work/coturn.out" 2>&1; then
    # shellcheck disable=SC1091
    . "$coturn_dir/coturn.env"
    cred=(--relay-only --turn-user "$FIRN_COTURN_USER" --turn-pass "$FIRN_COTURN_PASS")
    WANT_TYPE=relay PACKETS=50 call turn_udp_relay_only ok --packets 50 "${cred[@]}" \
      --turn "turn:127.0.0.1:$FIRN_COTURN_PORT"
    WANT_TYPE=relay PACKETS=50 call turn_tcp_relay_only ok --packets 50 "${cred[@]}" \
      --turn "turn:127.0.0.1:$FIRN_COTURN_PORT?transport=tcp"
    WANT_TYPE=relay PACKETS=50 call turns_tls_relay_only ok --packets 50 "${cred[@]}" \
      --turn "turns:127.0.0.1:$FIRN_COTURN_TLS_PORT" --turn-ca "$FIRN_COTURN_CA"
  else
    echo "== coturn did not start: FAILED"; cat "$work/coturn.out"; fails=$((fails + 1))
  fi
else
  echo "== coturn (turnserver) not installed: TURN calls skipped"
fi

# --wav-in on the offerer, --wav-out on the answerer: what is recorded is the input after one
# G.711 mu-law round trip (the answerer accepts the non-pattern payload with --no-verify)
echo "== wav: --wav-in / --wav-out"
python3 - "$work/in.wav" <<'PY'
import math, struct, sys, wave
w = wave.open(sys.argv[1], "wb"); w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
w.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(8000)))
w.close()
PY
if FIRN_PEER="$peer" FIRN_CALL_KEEP="$work/wav" FIRN_CALL_QUIET=1 \
   FIRN_OFFER_ARGS="--wav-in $work/in.wav" FIRN_ANSWER_ARGS="--no-verify --wav-out $work/out.wav" \
   timeout 120 "$root/scripts/call.sh" --timeout 20 --packets 50 >/dev/null 2>&1 || true
   python3 - "$work/in.wav" "$work/out.wav" <<'PY'
import struct, sys, wave
a = wave.open(sys.argv[1]); b = wave.open(sys.argv[2])
assert (b.getnchannels(), b.getsampwidth(), b.getframerate()) == (1, 2, 8000)
x = struct.unpack("<%dh" % 8000, a.readframes(8000)); y = struct.unpack("<%dh" % 8000, b.readframes(8000))
# mu-law keeps about 8 bits of the magnitude: the error stays under 1/16 of the amplitude
bad = [i for i in range(8000) if abs(x[i] - y[i]) > max(64, abs(x[i]) // 16)]
assert not bad, "sample %d: %d vs %d" % (bad[0], x[bad[0]], y[bad[0]])
PY
then
  echo "   ok (8000 samples through PCMU and SRTP match the input)"
else
  echo "   FAILED"; for f in "$work"/wav/*.log; do echo "--- $f"; tail -n 10 "$f"; done; fails=$((fails + 1))
fi

# exit status 2: bad SDP on stdin, and an unsupported option
echo "== bad SDP gives exit 2"
set +e
printf 'v=0\r\nthis is not sdp\r\n.\r\n' | timeout 20 "$peer" --answer --ip 127.0.0.1 >"$work/bad.out" 2>"$work/bad.err"
rc=$?
set -e
if [ "$rc" = 2 ] && grep -q "bad remote SDP" "$work/bad.err" && ! grep -q '^v=0' "$work/bad.out"; then
  echo "   ok ($(grep 'bad remote SDP' "$work/bad.err"))"
else
  echo "   FAILED: exit $rc"; cat "$work/bad.err"; fails=$((fails + 1))
fi
echo "== stdin closed before '.' gives exit 2"
set +e
printf 'v=0\r\n' | timeout 20 "$peer" --answer --ip 127.0.0.1 >/dev/null 2>"$work/eof.err"
rc=$?
set -e
if [ "$rc" = 2 ]; then echo "   ok"; else echo "   FAILED: exit $rc"; fails=$((fails + 1)); fi
echo "== an address this host does not have gives exit 2 (no abort, no callback from the failing constructor)"
set +e
echo . | timeout 20 "$peer" --offer --ip 192.0.2.1 >"$work/noaddr.out" 2>"$work/noaddr.err"
rc=$?
set -e
if [ "$rc" = 2 ] && grep -q "cannot start" "$work/noaddr.err" && ! grep -q '^{' "$work/noaddr.out"; then
  echo "   ok"
else
  echo "   FAILED: exit $rc"; cat "$work/noaddr.err"; fails=$((fails + 1))
fi
echo "== no role gives exit 2"
set +e
timeout 20 "$peer" --ip 127.0.0.1 </dev/null >/dev/null 2>&1
rc=$?
set -e
if [ "$rc" = 2 ]; then echo "   ok"; else echo "   FAILED: exit $rc"; fails=$((fails + 1)); fi

if [ "$fails" != 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all peer checks passed"
