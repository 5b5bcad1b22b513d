#!/bin/bash
# lab_coturn: lab_start_coturn starts Debian's coturn inside the cloud namespace with a
# generated config and self-signed certificate, bound to the cloud address only, with
# extra command-line options passed through (the short lifetimes issue 4's tests use),
# and it answers from both peer namespaces behind NAT: STUN Binding over UDP, TCP and TLS
# (0x0101, XOR-MAPPED-ADDRESS = the NAT's public address), unauthenticated Allocate -> 401
# with the realm. TLS verification is real (a wrong server name fails). Once coturn is
# stopped the same probe is refused, so the answers were coturn's.
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root
lab_init
topo_eim_nat
C=$LAB_IP_CLOUD
lab_start_coturn "$LAB_NS_CLOUD" "$C" --stale-nonce=5 --permission-lifetime=10 \
    --channel-lifetime=20 --max-allocate-lifetime=30
lab_print_env

listen=$(lab_exec "$LAB_NS_CLOUD" ss -H -ltun)
for want in "udp .*$C:$LAB_TURN_PORT " "tcp .*$C:$LAB_TURN_PORT " "tcp .*$C:$LAB_TURN_TLS_PORT "; do
    echo "$listen" | grep -Eq "$want" || lab_fail "coturn does not listen as '$want':
$listen"
    lab_pass "coturn listens: $want"
done
echo "$listen" | grep -Eq '(0\.0\.0\.0|\*|\[::\]):(3478|5349) ' \
    && lab_fail "coturn listens on a wildcard address: $listen"
lab_pass "coturn is bound to $C only"
grep -q "^realm=$LAB_TURN_REALM$" "$LAB_TURN_CONF" || lab_fail "generated config lacks the realm"
openssl x509 -in "$LAB_TURN_CA" -noout -ext subjectAltName | grep -q "IP Address:$C" \
    || lab_fail "certificate lacks IP SAN $C"
lab_pass "generated config and certificate (SAN DNS:$LAB_TURN_SERVER_NAME, IP:$C)"

for side in A B; do
    ns_var=LAB_NS_PEER_$side nat_var=LAB_IP_NAT_$side
    ns=${!ns_var} nat=${!nat_var}
    for tr in udp tcp tls; do
        port=$LAB_TURN_PORT; extra=()
        [ $tr = tls ] && { port=$LAB_TURN_TLS_PORT; extra=(--ca "$LAB_TURN_CA" --server-name "$LAB_TURN_SERVER_NAME"); }
        lab_expect_answer "peer_${side,,}: STUN Binding over $tr -> 0x0101" \
            "$ns" stun --transport $tr --dst "$C:$port" "${extra[@]}"
        lab_expect_eq "peer_${side,,}: XOR-MAPPED-ADDRESS over $tr is NAT $side's public address" \
            "$(echo "$LAB_OUT" | lab_json 'd["mapped"].rsplit(":",1)[0]')" "$nat"
    done
    lab_expect_answer "peer_${side,,}: unauthenticated Allocate over UDP -> 401 (0x0113)" \
        "$ns" stun --transport udp --method allocate --dst "$C:$LAB_TURN_PORT"
    lab_expect_eq "peer_${side,,}: 401 carries the realm" \
        "$(echo "$LAB_OUT" | lab_json 'd.get("realm")')" "$LAB_TURN_REALM"
done

lab_expect_refused "TLS with the wrong server name fails verification" "Hostname mismatch" \
    "$LAB_NS_PEER_A" stun --transport tls --dst "$C:$LAB_TURN_TLS_PORT" --ca "$LAB_TURN_CA" --server-name wrong.firn.test

lab_kill "$LAB_TURN_PID"
lab_expect_refused "coturn stopped: STUN over TCP refused" "refused" \
    "$LAB_NS_PEER_A" stun --transport tcp --dst "$C:$LAB_TURN_PORT" --timeout 1
echo "PASS: lab_coturn"
