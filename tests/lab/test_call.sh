#!/bin/bash
# lab_call: the call harness scenario tests will use with firn-peer, proven with
# fakepeer.py (same signaling contract, plain UDP to the remote host candidate) on the
# LAN topology: with the switch's firewall off the SDPs cross (each side's remote is the
# other's address) and data flows both ways; with UDP blocked the same call fails on both
# sides and lab_expect_call_ok would catch it; LAB_CALL_TIMEOUT bounds a hanging peer.
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root
lab_init
topo_lan_udp_blocked
IA=$LAB_IP_PEER_A IB=$LAB_IP_PEER_B
LAB_PEER="$LAB_DIR_SELF/fakepeer.py"

lab_firewall "$LAB_NS_LAN" none
lab_call "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" --ip "$IA" -- --ip "$IB" \
    || lab_fail "call with the firewall off failed (rc $LAB_CALL_RC_A/$LAB_CALL_RC_B)"
lab_expect_call_ok "call with the firewall off: both sides got every packet"
lab_expect_eq "offerer's selected pair is local host/udp" "$(lab_call_pair A)" host/udp
lab_expect_eq "offerer's remote address is the answerer's (SDP crossed)" \
    "$(echo "$LAB_CALL_JSON_A" | lab_json 'd["selected_pair"].split(" <-> ")[1].split()[1].rsplit(":",1)[0]')" "$IB"
lab_expect_eq "answerer's remote address is the offerer's (SDP crossed)" \
    "$(echo "$LAB_CALL_JSON_B" | lab_json 'd["selected_pair"].split(" <-> ")[1].split()[1].rsplit(":",1)[0]')" "$IA"
grep -q '^a=candidate:.* typ host' "$LAB_CALL_DIR/a.out" || lab_fail "offerer's SDP not captured"
grep -q '^{' "$LAB_CALL_DIR/b.out" || lab_fail "answerer's JSON not captured"
lab_pass "both sides' SDP and JSON captured in $LAB_CALL_DIR"

lab_firewall "$LAB_NS_LAN" "block-udp-between:$IA,$IB"
if lab_call "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" --ip "$IA" -- --ip "$IB"; then
    lab_fail "call over blocked UDP reported success"
fi
lab_expect_eq "blocked: offerer exits 1" "$LAB_CALL_RC_A" 1
lab_expect_eq "blocked: answerer exits 1" "$LAB_CALL_RC_B" 1
lab_expect_eq "blocked: offerer received nothing" "$(echo "$LAB_CALL_JSON_A" | lab_json 'd["received"]')" 0
( lab_expect_call_ok "must not pass" ) >/dev/null 2>&1 && lab_fail "lab_expect_call_ok accepted a failed call"
lab_pass "lab_expect_call_ok rejects the failed call"

LAB_CALL_TIMEOUT=1 lab_call "$LAB_NS_PEER_A" "$LAB_NS_PEER_B" --ip "$IA" --quiet 30 -- --ip "$IB" --quiet 30 \
    && lab_fail "a hanging call reported success"
lab_expect_eq "LAB_CALL_TIMEOUT stops a hanging offerer" "$LAB_CALL_RC_A" 124
lab_expect_eq "LAB_CALL_TIMEOUT stops a hanging answerer" "$LAB_CALL_RC_B" 124
echo "PASS: lab_call"
