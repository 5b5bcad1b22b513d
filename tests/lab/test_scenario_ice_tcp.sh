#!/bin/bash
# lab_scenario_ice_tcp: issue 4 scenario (2) with real firn-peers. Two peers on one LAN
# whose switch drops UDP between them (TCP passes), no STUN/TURN. With --tcp the call must
# connect over an ICE-TCP host pair (host/tcp-active <-> host/tcp-passive, either way
# round, the two sides' views mirrored) with DTLS-SRTP and all 250 packets intact both
# ways; the TCP connection the pair names is seen established in the kernel (ss, sampled
# during the call). Control: the same call without --tcp fails (UDP really is blocked for
# firn too).
# Usage: test_scenario_ice_tcp.sh [FIRN_PEER] (default $FIRN_BUILD_ROOT/examples/firn-peer)
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root
[ -n "${1:-}" ] && LAB_PEER=$1
lab_init
t_start=$(date +%s%N)
topo_lan_udp_blocked
IA=$LAB_IP_PEER_A IB=$LAB_IP_PEER_B
LAB_CALL_TIMEOUT=${LAB_CALL_TIMEOUT:-45}

# Sample peer_a's established TCP connections every 100 ms while the call runs.
lab_bg "$LAB_NS_PEER_A" bash -c 'while :; do ss -tnH state established; sleep 0.1; done' \
    >"$LAB_DIR/ss_a.log" 2>&1
ss_pid=$LAB_BG_PID

t0=$(date +%s%N)
lab_call "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" --ip "$IA" --tcp -v -- --ip "$IB" --tcp -v
lab_kill "$ss_pid"
lab_expect_call_ok "ICE-TCP call connects, every packet intact both ways"
for side in A B; do
    json=LAB_CALL_JSON_$side
    lab_expect_eq "side $side sent 250, received 250, dtls ok" \
        "$(echo "${!json}" | lab_json '"%s/%s/%s" % (d["sent"], d["received"], d["dtls"])')" 250/250/ok
done
pa="$(lab_call_pair A) <-> $(lab_call_pair_remote A)"
pb="$(lab_call_pair B) <-> $(lab_call_pair_remote B)"
case "$pa" in
    "host/tcp-active <-> host/tcp-passive"|"host/tcp-passive <-> host/tcp-active") ;;
    *) lab_fail "side A's selected pair is not an ICE-TCP host pair: $LAB_CALL_JSON_A" ;;
esac
lab_pass "side A's selected pair is an ICE-TCP host pair ($pa)"
lab_expect_eq "side B's selected pair mirrors side A's" "$pb" \
    "$(lab_call_pair_remote A) <-> $(lab_call_pair A)"
addr() { echo "$1" | lab_json "d['selected_pair'].split(' <-> ')[$2].split()[1]"; }
lab_expect_eq "side A's pair joins the peers' own addresses" \
    "$(addr "$LAB_CALL_JSON_A" 0 | cut -d: -f1) -> $(addr "$LAB_CALL_JSON_A" 1 | cut -d: -f1)" "$IA -> $IB"
lab_expect_eq "side B's pair joins the peers' own addresses" \
    "$(addr "$LAB_CALL_JSON_B" 0 | cut -d: -f1) -> $(addr "$LAB_CALL_JSON_B" 1 | cut -d: -f1)" "$IB -> $IA"

# The kernel's view: the passive side's address (its listening port, from its own JSON) and
# the active side's real source port (from the passive side's remote half) form a TCP
# connection established in peer_a's namespace.
if [ "$(lab_call_pair A)" = host/tcp-passive ]; then
    passive=$(addr "$LAB_CALL_JSON_A" 0); active=$(addr "$LAB_CALL_JSON_A" 1)
else
    passive=$(addr "$LAB_CALL_JSON_B" 0); active=$(addr "$LAB_CALL_JSON_B" 1)
fi
# (`ss -tnH state established` columns: Recv-Q Send-Q Local Peer)
awk -v a="$active" -v p="$passive" '($3 == a && $4 == p) || ($3 == p && $4 == a) { f = 1 } END { exit !f }' \
    "$LAB_DIR/ss_a.log" \
    || lab_fail "no established TCP connection $active <-> $passive seen in peer_a:
$(sort -u "$LAB_DIR/ss_a.log")"
lab_pass "TCP connection $active -> $passive established in peer_a during the call"
grep -q "tcptype passive" "$LAB_CALL_DIR/a.out" && grep -q "tcptype active" "$LAB_CALL_DIR/b.out" \
    || lab_fail "SDPs lack TCP candidates"
lab_log "ICE-TCP call checked in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# Control: without --tcp only UDP candidates exist and the switch drops them all.
t0=$(date +%s%N)
lab_call "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" --ip "$IA" --timeout 3 -- --ip "$IB" --timeout 3 \
    && lab_fail "control: UDP-only call connected through a switch that drops UDP"
lab_expect_eq "control: UDP-only call fails on both sides" "$LAB_CALL_RC_A/$LAB_CALL_RC_B" 1/1
lab_expect_eq "control: nothing received" \
    "$(echo "$LAB_CALL_JSON_A" | lab_json 'd["received"]')/$(echo "$LAB_CALL_JSON_B" | lab_json 'd["received"]')" 0/0
lab_log "control checked in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

lab_log "scenario took $(( ($(date +%s%N) - t_start) / 1000000 )) ms"
echo "PASS: lab_scenario_ice_tcp"
