#!/bin/bash
# lab_udp_blocked_turn: topo_udp_blocked_turn has the properties issue 4 scenario (1)
# relies on: from behind either NAT, every UDP packet is dropped (echo server and coturn's
# UDP port alike), TCP passes only to coturn's TCP/TLS ports, and through those coturn
# answers STUN (TCP, and TLS with the generated certificate verified), asks for
# credentials on Allocate, and relays data between the two peers' TCP/TLS allocations
# (TURN/UDP Allocate gets no answer). Control: with the firewall off the very same UDP probes are
# answered; with it back on they are dropped again.
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root
lab_init
topo_udp_blocked_turn
lab_print_env
C=$LAB_IP_CLOUD
lab_start_echo "$LAB_NS_CLOUD" "$C" 4000
lab_start_coturn "$LAB_NS_CLOUD" "$C"
A=$LAB_NS_PEER_A B=$LAB_NS_PEER_B

for ns in "$A" "$B"; do
    lab_expect_blocked "UDP from $ns to the cloud echo server is dropped" \
        "$ns" udp-probe --dst "$C:4000" --timeout 1
    lab_expect_blocked "STUN over UDP from $ns to coturn is dropped" \
        "$ns" stun --transport udp --dst "$C:$LAB_TURN_PORT" --timeout 1
    lab_expect_blocked "TCP from $ns to a non-TURN port of the cloud is dropped" \
        "$ns" tcp-probe --dst "$C:4000" --timeout 1
done

lab_expect_answer "STUN Binding over TCP from peer_a to coturn" \
    "$A" stun --transport tcp --dst "$C:$LAB_TURN_PORT"
lab_expect_eq "peer_a reaches coturn from NAT A's public address" \
    "$(echo "$LAB_OUT" | lab_json 'd["mapped"].rsplit(":",1)[0]')" "$LAB_IP_NAT_A"
lab_expect_answer "STUN Binding over TLS from peer_b to coturn (cert verified, SNI $LAB_TURN_SERVER_NAME)" \
    "$B" stun --transport tls --dst "$C:$LAB_TURN_TLS_PORT" --ca "$LAB_TURN_CA" --server-name "$LAB_TURN_SERVER_NAME"
lab_expect_eq "peer_b reaches coturn from NAT B's public address" \
    "$(echo "$LAB_OUT" | lab_json 'd["mapped"].rsplit(":",1)[0]')" "$LAB_IP_NAT_B"
lab_expect_answer "unauthenticated Allocate over TLS gets 401" \
    "$A" stun --transport tls --method allocate --dst "$C:$LAB_TURN_TLS_PORT" --ca "$LAB_TURN_CA" --server-name "$LAB_TURN_SERVER_NAME"
lab_expect_eq "401 carries coturn's realm" "$(echo "$LAB_OUT" | lab_json 'd.get("realm")')" "$LAB_TURN_REALM"

# Scenario (1)'s premise: a TURN relay over TCP/TLS connects the two peers, over UDP
# nothing gets through.
lab_start_turn_echo "$B" tcp
lab_expect_turn_relay "TURN/TLS (peer_a) <-> TURN/TCP (peer_b): data relayed there and back" "$A" tls
lab_expect_turn_relay "TURN/TCP (peer_a) <-> TURN/TCP (peer_b): data relayed there and back" "$A" tcp
mapfile -t targs < <(lab_turn_args udp)
lab_expect_blocked "TURN/UDP Allocate from peer_a gets no answer" \
    "$A" turn-send "${targs[@]}" --peer "$LAB_TURN_ECHO_RELAYED" --timeout 1

# Control: same probes with NAT A's firewall off are answered, so the silence above was the
# firewall, not a broken path; then the firewall goes back on and UDP is dropped again.
lab_firewall "$LAB_NS_NAT_A" none
lab_expect_answer "control: firewall off, UDP from peer_a to the cloud echo server answered" \
    "$A" udp-probe --dst "$C:4000" --timeout 1
lab_expect_eq "control: it left from NAT A's public address" \
    "$(echo "$LAB_OUT" | lab_json 'd["replies"][0]["seen"].rsplit(":",1)[0]')" "$LAB_IP_NAT_A"
lab_expect_answer "control: firewall off, STUN over UDP from peer_a answered" \
    "$A" stun --transport udp --dst "$C:$LAB_TURN_PORT" --timeout 1
lab_expect_answer "control: firewall off, TCP to a non-TURN port answered" \
    "$A" tcp-probe --dst "$C:4000" --timeout 1
lab_firewall "$LAB_NS_NAT_A" "tcp-only-to:$C:3478,5349,443"
lab_expect_blocked "firewall back on: UDP from peer_a dropped again" \
    "$A" udp-probe --dst "$C:4000" --timeout 1
echo "PASS: lab_udp_blocked_turn"
