#!/bin/bash
# lab_symmetric_nat: topo_symmetric_nat has the properties issue 4 scenario (3) relies on.
# - behind MASQUERADE --random-fully, one UDP socket talking to two ports of the cloud gets
#   two different external ports (address-and-port-dependent mapping), on the NAT's
#   public address, for both peers;
# - coturn in the cloud answers STUN over UDP and TCP from behind that NAT;
# - UDP hole punching between the peers fails, while a TURN/UDP relay path (two
#   allocations on coturn, data there and back) works;
# - control: switching the NATs to plain MASQUERADE (eim) gives one external port for
#   both destinations and hole punching succeeds; switching back gives different ports.
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root
lab_init
topo_symmetric_nat
lab_print_env
C=$LAB_IP_CLOUD
lab_start_echo "$LAB_NS_CLOUD" "$C" 4000,4001
lab_start_coturn "$LAB_NS_CLOUD" "$C"

# two_flows NS: print "ip1:port1 ip2:port2" as seen by the cloud for one socket's two flows
two_flows() {
    lab_expect_answer "UDP from $1 to cloud ports 4000 and 4001 answered" \
        "$1" udp-probe --dst "$C:4000,$C:4001"
    echo "$LAB_OUT" | lab_json 'd["replies"][0]["seen"] + " " + d["replies"][1]["seen"]' >"$LAB_DIR/flows"
}

check_symmetric() {   # NS NAT_IP
    local a b
    two_flows "$1"; read -r a b <"$LAB_DIR/flows"
    lab_expect_eq "flow 1 leaves $1 from its NAT's public address" "${a%:*}" "$2"
    lab_expect_eq "flow 2 leaves $1 from its NAT's public address" "${b%:*}" "$2"
    lab_expect_ne "symmetric NAT: one socket, two destinations, two external ports" "${a##*:}" "${b##*:}"
}
check_eim() {         # NS NAT_IP
    local a b
    two_flows "$1"; read -r a b <"$LAB_DIR/flows"
    lab_expect_eq "flow 1 leaves $1 from its NAT's public address" "${a%:*}" "$2"
    lab_expect_eq "eim NAT: one socket, two destinations, one external port" "${a##*:}" "${b##*:}"
}

check_symmetric "$LAB_NS_PEER_A" "$LAB_IP_NAT_A"
check_symmetric "$LAB_NS_PEER_B" "$LAB_IP_NAT_B"

lab_expect_answer "STUN Binding over UDP from peer_a to coturn" \
    "$LAB_NS_PEER_A" stun --transport udp --dst "$C:$LAB_TURN_PORT"
lab_expect_eq "srflx address of peer_a is NAT A's public address" \
    "$(echo "$LAB_OUT" | lab_json 'd["mapped"].rsplit(":",1)[0]')" "$LAB_IP_NAT_A"
lab_expect_answer "STUN Binding over TCP from peer_b to coturn" \
    "$LAB_NS_PEER_B" stun --transport tcp --dst "$C:$LAB_TURN_PORT"
lab_expect_eq "srflx address of peer_b is NAT B's public address" \
    "$(echo "$LAB_OUT" | lab_json 'd["mapped"].rsplit(":",1)[0]')" "$LAB_IP_NAT_B"

# The peers' private addresses are not reachable from the other side: the internet's
# gateway drops them silently (no ICMP, no ENETUNREACH), as the real internet does.
lab_expect_blocked "peer_b's private address is silently unreachable from the cloud" \
    "$LAB_NS_CLOUD" udp-probe --dst "$LAB_IP_PEER_B:4000" --timeout 1
lab_expect_blocked "peer_b's private address is silently unreachable from peer_a" \
    "$LAB_NS_PEER_A" udp-probe --dst "$LAB_IP_PEER_B:4000" --timeout 1

# Scenario (3)'s premise: direct UDP between the peers cannot be punched (2 s of both
# sides sending to each other's srflx address), but a relay connects them.
if lab_punch "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" "$C:$LAB_TURN_PORT" 2; then
    lab_fail "hole punching through two symmetric NATs succeeded: $LAB_PUNCH_A"
fi
lab_pass "hole punching through two symmetric NATs fails (2 s, both sides sending)"
lab_start_turn_echo "$LAB_NS_PEER_B" udp
lab_expect_turn_relay "TURN/UDP relay: peer_a -> coturn -> peer_b's allocation -> back" \
    "$LAB_NS_PEER_A" udp
lab_expect_eq "peer_a's TURN client was seen from NAT A" \
    "$(echo "$LAB_OUT" | lab_json 'd["mapped"].rsplit(":",1)[0]')" "$LAB_IP_NAT_A"

# Control: the same NATs in eim mode map both flows to one port and let hole punching
# through; then back to symmetric.
lab_nat "$LAB_NS_NAT_A" lan wan eim
lab_nat "$LAB_NS_NAT_B" lan wan eim
check_eim "$LAB_NS_PEER_A" "$LAB_IP_NAT_A"
lab_punch "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" "$C:$LAB_TURN_PORT" 2 \
    || lab_fail "control: hole punching through two eim NATs failed: $LAB_PUNCH_A / $LAB_PUNCH_B"
lab_pass "control: hole punching through two eim NATs works"
lab_nat "$LAB_NS_NAT_A" lan wan symmetric
lab_nat "$LAB_NS_NAT_B" lan wan symmetric
check_symmetric "$LAB_NS_PEER_A" "$LAB_IP_NAT_A"
echo "PASS: lab_symmetric_nat"
