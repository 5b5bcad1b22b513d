#!/bin/bash
# lab_lan_udp_blocked: topo_lan_udp_blocked has the properties issue 4 scenario (2) relies
# on: two peers on one bridged LAN, UDP between them dropped by the switch in both
# directions, TCP between them passing without any translation (host addresses as seen).
# Control: with the switch's firewall off the same UDP probes are answered.
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root
lab_init
topo_lan_udp_blocked
lab_print_env
A=$LAB_NS_PEER_A B=$LAB_NS_PEER_B IA=$LAB_IP_PEER_A IB=$LAB_IP_PEER_B
lab_start_echo "$A" "$IA" 5000
lab_start_echo "$B" "$IB" 5000

# IPv4 only: no IPv6 (link-local) path around the IPv4 rules
for ns in "$A" "$B"; do
    v6=$(lab_exec "$ns" ip -6 -o addr show)
    [ -z "$v6" ] || lab_fail "$ns has IPv6 addresses: $v6"
done
lab_pass "peers have no IPv6 addresses (no link-local path around the firewall)"
lab_expect_blocked "UDP peer_a -> peer_b dropped" "$A" udp-probe --dst "$IB:5000" --timeout 1
lab_expect_blocked "UDP peer_b -> peer_a dropped" "$B" udp-probe --dst "$IA:5000" --timeout 1
lab_expect_answer "TCP peer_a -> peer_b passes" "$A" tcp-probe --dst "$IB:5000"
lab_expect_eq "peer_b sees peer_a's host address (no NAT on the LAN)" \
    "$(echo "$LAB_OUT" | lab_json 'd["reply"]["seen"].rsplit(":",1)[0]')" "$IA"
lab_expect_answer "TCP peer_b -> peer_a passes" "$B" tcp-probe --dst "$IA:5000"
lab_expect_eq "peer_a sees peer_b's host address" \
    "$(echo "$LAB_OUT" | lab_json 'd["reply"]["seen"].rsplit(":",1)[0]')" "$IB"

lab_firewall "$LAB_NS_LAN" none
lab_expect_answer "control: switch firewall off, UDP peer_a -> peer_b answered" \
    "$A" udp-probe --dst "$IB:5000" --timeout 1
lab_expect_eq "control: peer_b saw peer_a's host address" \
    "$(echo "$LAB_OUT" | lab_json 'd["replies"][0]["seen"].rsplit(":",1)[0]')" "$IA"
lab_expect_answer "control: switch firewall off, UDP peer_b -> peer_a answered" \
    "$B" udp-probe --dst "$IA:5000" --timeout 1
lab_firewall "$LAB_NS_LAN" "block-udp-between:$IA,$IB"
lab_expect_blocked "firewall back on: UDP peer_a -> peer_b dropped again" \
    "$A" udp-probe --dst "$IB:5000" --timeout 1
echo "PASS: lab_lan_udp_blocked"
