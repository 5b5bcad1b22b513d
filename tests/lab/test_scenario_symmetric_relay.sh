#!/bin/bash
# lab_scenario_symmetric_relay: issue 4 scenario (3) with real firn-peers and a real coturn.
# Both peers behind symmetric NATs (MASQUERADE --random-fully), coturn (UDP) in the cloud,
# each peer given --stun and --turn (UDP). Hole punching cannot work, so the selected pair
# must involve a relay candidate on at least one side; DTLS-SRTP, 250 packets intact both
# ways, and coturn's relay ports must have sent >= 250 datagrams to peers (counted in the
# cloud namespace's OUTPUT chain).
# Control: the same call with both NATs endpoint-independent (topo_eim_nat) must select a
# direct pair (no relay on either end, between the two NATs' public addresses) and coturn's
# relays must send fewer than 250 datagrams (checks, no media): the test
# tells a relayed call from a direct one.
# Usage: test_scenario_symmetric_relay.sh [FIRN_PEER] (default $FIRN_BUILD_ROOT/examples/firn-peer)
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root
[ -n "${1:-}" ] && LAB_PEER=$1
lab_init
LAB_CALL_TIMEOUT=${LAB_CALL_TIMEOUT:-45}
t_start=$(date +%s%N)

# call_both NAME: one call with STUN + TURN/UDP on both sides and the common assertions.
call_both() {
    local name=$1 side json servers
    servers=(--stun "stun:$LAB_IP_CLOUD:$LAB_TURN_PORT" --turn "$LAB_TURN_URI_UDP"
             --turn-user "$LAB_TURN_USER" --turn-pass "$LAB_TURN_PASS")
    lab_relay_count_reset "$LAB_NS_CLOUD"
    lab_call "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" --ip "$LAB_IP_PEER_A" "${servers[@]}" -v -- \
                                               --ip "$LAB_IP_PEER_B" "${servers[@]}" -v
    lab_expect_call_ok "$name: call connects, every packet intact both ways"
    for side in A B; do
        json=LAB_CALL_JSON_$side
        lab_expect_eq "$name: side $side sent 250, received 250, dtls ok" \
            "$(echo "${!json}" | lab_json '"%s/%s/%s" % (d["sent"], d["received"], d["dtls"])')" 250/250/ok
        # every candidate type was gathered, so the choice below was a real one
        for typ in host srflx relay; do
            grep -q "^a=candidate:.* typ $typ" "$LAB_CALL_DIR/$(echo $side | tr AB ab).out" \
                || lab_fail "$name: side $side offered no $typ candidate"
        done
    done
    lab_pass "$name: both sides offered host, srflx and relay candidates"
    lab_expect_eq "$name: side B's selected pair mirrors side A's" \
        "$(lab_call_pair B) <-> $(lab_call_pair_remote B)" \
        "$(lab_call_pair_remote A) <-> $(lab_call_pair A)"
    relayed=$(lab_relay_count "$LAB_NS_CLOUD")
    lab_log "$name: coturn's relays sent $relayed datagrams to peers"
}

# --- symmetric NATs: only a relay can work
t0=$(date +%s%N)
topo_symmetric_nat
lab_start_coturn "$LAB_NS_CLOUD" "$LAB_IP_CLOUD"
call_both "symmetric NATs"
pa="$(lab_call_pair A) <-> $(lab_call_pair_remote A)"
case "$pa" in
    relay/udp*|*"<-> relay/udp") ;;
    *) lab_fail "symmetric NATs: no relay candidate in the selected pair: $LAB_CALL_JSON_A" ;;
esac
lab_pass "symmetric NATs: selected pair involves a relay ($pa)"
[ "$relayed" -ge 250 ] || lab_fail "symmetric NATs: coturn's relays sent only $relayed datagrams to peers, want >= 250"
lab_pass "symmetric NATs: coturn relayed the media ($relayed datagrams from relay ports to peers)"
lab_log "symmetric-NAT call checked in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# --- control: endpoint-independent NATs, hole punching works, a direct pair wins
t0=$(date +%s%N)
# Same namespaces and coturn; both NATs switched to plain MASQUERADE, which is exactly what
# topo_eim_nat builds (lab_nat replaces the mode in place).
lab_nat "$LAB_NS_NAT_A" lan wan eim
lab_nat "$LAB_NS_NAT_B" lan wan eim
LAB_TOPO=eim_nat
call_both "control, EIM NATs"
for half in "$(lab_call_pair A)" "$(lab_call_pair_remote A)"; do
    case "$half" in
        srflx/udp|prflx/udp) ;;
        *) lab_fail "control, EIM NATs: expected a direct srflx/prflx pair, got $LAB_CALL_JSON_A" ;;
    esac
done
lab_pass "control, EIM NATs: direct pair ($(lab_call_pair A) <-> $(lab_call_pair_remote A))"
ends="$(echo "$LAB_CALL_JSON_A" | lab_json 'd["selected_pair"].split(" <-> ")[0].split()[1].rsplit(":",1)[0]') <-> $(echo "$LAB_CALL_JSON_A" | lab_json 'd["selected_pair"].split(" <-> ")[1].split()[1].rsplit(":",1)[0]')"
lab_expect_eq "control, EIM NATs: the pair joins the two NATs' public addresses" "$ends" \
    "$LAB_IP_NAT_A <-> $LAB_IP_NAT_B"
[ "$relayed" -ge 0 ] && [ "$relayed" -lt 250 ] \
    || lab_fail "control, EIM NATs: coturn's relays sent $relayed datagrams to peers, want < 250 (checks only)"
lab_pass "control, EIM NATs: no media through coturn ($relayed datagrams from relay ports: checks only)"
lab_log "EIM control checked in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

lab_log "scenario took $(( ($(date +%s%N) - t_start) / 1000000 )) ms"
echo "PASS: lab_scenario_symmetric_relay"
