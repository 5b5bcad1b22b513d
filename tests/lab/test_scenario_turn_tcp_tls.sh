#!/bin/bash
# lab_scenario_turn_tcp_tls: issue 4 scenario (1) with real firn-peers and a real coturn.
# Both peers sit behind NATs whose firewalls drop every UDP packet and let out only TCP to
# coturn's 3478 (TURN/TCP) and 5349 (TURN/TLS). Two calls, each peer given one TURN server:
#   1. turn:CLOUD:3478?transport=tcp
#   2. turns:CLOUD:5349 with --turn-ca (certificate verified against the lab's CA)
#   control: turns: with a CA that did not sign coturn's certificate -> no relay, no call
# Each call must connect over a relay <-> relay pair with DTLS-SRTP and all 250 packets
# intact both ways. That the relay is reached over TCP/TLS is checked from two sides: firn's
# trace names the TURN transport of the relay candidate in the selected pair, and coturn's
# log shows, for each peer's NAT address, one session on the TCP (3478) or TLS (5349)
# listener (TLS: with a negotiated TLS version) whose relay carried >= 250 datagrams each
# way. (firn-peer's JSON says "relay/udp": the relay's transport towards the peer.)
# Usage: test_scenario_turn_tcp_tls.sh [FIRN_PEER] (default $FIRN_BUILD_ROOT/examples/firn-peer)
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root
[ -n "${1:-}" ] && LAB_PEER=$1
lab_init
t_start=$(date +%s%N)
topo_udp_blocked_turn
lab_start_coturn "$LAB_NS_CLOUD" "$LAB_IP_CLOUD"
C=$LAB_IP_CLOUD
cred=(--turn-user "$LAB_TURN_USER" --turn-pass "$LAB_TURN_PASS")
# ICE gives up after firn-peer's --timeout; under ASan everything is slower, so the safety
# limit (LAB_CALL_TIMEOUT) stays well above it.
LAB_CALL_TIMEOUT=${LAB_CALL_TIMEOUT:-45}

# check_call NAME TRANSPORT(tcp|tls) PORT: assertions on the last lab_call.
check_call() {
    local name=$1 tr=$2 port=$3 side json nat local_addr sess n
    lab_expect_call_ok "$name: call connects, every packet intact both ways"
    for side in A B; do
        json=LAB_CALL_JSON_$side
        lab_expect_eq "$name: side $side sent 250, received 250, dtls ok" \
            "$(echo "${!json}" | lab_json '"%s/%s/%s" % (d["sent"], d["received"], d["dtls"])')" 250/250/ok
        lab_expect_eq "$name: side $side selected pair is relay <-> relay" \
            "$(lab_call_pair $side) <-> $(lab_call_pair_remote $side)" "relay/udp <-> relay/udp"
        local_addr=$(echo "${!json}" | lab_json 'd["selected_pair"].split(" <-> ")[0].split()[1]')
        case "$local_addr" in "$C":*) ;; *) lab_fail "$name: side $side local relay $local_addr is not on coturn ($C)" ;; esac
        f=$LAB_CALL_DIR/$(echo $side | tr AB ab).err
        grep -q "relay candidate $local_addr from TURN server $C:$port/$tr\$" "$f" \
            || lab_fail "$name: side $side trace does not show relay $local_addr allocated over $tr to $C:$port:
$(grep 'relay candidate' "$f")"
        lab_pass "$name: side $side firn trace: relay $local_addr allocated over $tr ($C:$port)"
    done
    # coturn's side: each NAT's public address has exactly one allocation, on the expected
    # listener, over TLS exactly when expected, and its relay carried the call.
    lab_wait_turn_closed 2 10
    for side in A B; do
        nat=LAB_IP_NAT_$side
        sess=$(lab_turn_sessions | grep "\"remote\": \"${!nat}:")
        n=$(printf '%s\n' "$sess" | grep -c .)
        [ "$n" = 1 ] || lab_fail "$name: coturn has $n sessions from NAT $side (${!nat}), want 1:
$(lab_turn_sessions)"
        lab_expect_eq "$name: coturn session from NAT $side: listener, TLS, relayed >= 250 each way" \
            "$(echo "$sess" | lab_json '"%s tls=%s relayed=%s" % (d["local"], d["tls"] is not None, d["peer_rp"] >= 250 and d["peer_sp"] >= 250)')" \
            "$C:$port tls=$([ "$tr" = tls ] && echo True || echo False) relayed=True"
    done
}

t0=$(date +%s%N)
lab_turn_log_mark
lab_call "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" \
    --ip "$LAB_IP_PEER_A" --turn "$LAB_TURN_URI_TCP" "${cred[@]}" -v -- \
    --ip "$LAB_IP_PEER_B" --turn "$LAB_TURN_URI_TCP" "${cred[@]}" -v
check_call "TURN/TCP" tcp "$LAB_TURN_PORT"
lab_log "TURN/TCP call checked in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

t0=$(date +%s%N)
lab_turn_log_mark
lab_call "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" \
    --ip "$LAB_IP_PEER_A" --turn "$LAB_TURN_URI_TLS" --turn-ca "$LAB_TURN_CA" "${cred[@]}" -v -- \
    --ip "$LAB_IP_PEER_B" --turn "$LAB_TURN_URI_TLS" --turn-ca "$LAB_TURN_CA" "${cred[@]}" -v
check_call "TURN/TLS" tls "$LAB_TURN_TLS_PORT"
lab_log "TURN/TLS call checked in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# Control: the same TLS call with a CA that did not sign coturn's certificate. Verification
# must refuse the server, so no relay candidate exists and, with UDP blocked, nothing
# connects (firn-peer --timeout 3 keeps this short). Proves the TLS run above verified.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=$LAB_TURN_SERVER_NAME" -addext "subjectAltName=DNS:$LAB_TURN_SERVER_NAME,IP:$C" \
    -keyout "$LAB_DIR/other-ca.key" -out "$LAB_DIR/other-ca.pem" >/dev/null 2>&1 \
    || lab_fail "openssl: other CA"
t0=$(date +%s%N)
lab_call "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" \
    --ip "$LAB_IP_PEER_A" --turn "$LAB_TURN_URI_TLS" --turn-ca "$LAB_DIR/other-ca.pem" "${cred[@]}" -v --timeout 3 -- \
    --ip "$LAB_IP_PEER_B" --turn "$LAB_TURN_URI_TLS" --turn-ca "$LAB_DIR/other-ca.pem" "${cred[@]}" -v --timeout 3 \
    && lab_fail "TURN/TLS with the wrong CA: call connected"
lab_expect_eq "wrong CA: both peers fail" "$LAB_CALL_RC_A/$LAB_CALL_RC_B" 1/1
for f in "$LAB_CALL_DIR/a" "$LAB_CALL_DIR/b"; do
    grep -q 'typ relay' "$f.out" && lab_fail "wrong CA: $f.out offers a relay candidate"
    grep -q 'handshake failed: certificate' "$f.err" \
        || lab_fail "wrong CA: no certificate failure in $f.err: $(grep -i tls "$f.err")"
done
lab_pass "wrong CA: TLS handshake refused on both sides, no relay candidate"
lab_log "wrong-CA control checked in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

lab_log "scenario took $(( ($(date +%s%N) - t_start) / 1000000 )) ms"
echo "PASS: lab_scenario_turn_tcp_tls"
