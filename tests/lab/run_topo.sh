#!/bin/bash
# run_topo.sh TOPOLOGY [--coturn] [--echo PORTS] [--state FILE] [--hold | --exit N]
#
# Build one lab topology (udp_blocked_turn, lan_udp_blocked, symmetric_nat, eim_nat),
# optionally start coturn on the cloud host and UDP/TCP echo servers, print the LAB_*
# description (KEY=VALUE lines) to stdout or FILE, then either hold until interrupted
# (Ctrl-C / SIGTERM tears everything down) or exit with status N (cleanup still runs).
# For manual experiments:  sudo tests/lab/run_topo.sh symmetric_nat --coturn --hold
# and in another shell:    sudo ip netns exec <LAB_NS_PEER_A> bash
# The lab_cleanup self-test uses it as the child it kills in various ways.
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root

topo=${1:-}; shift || true
coturn=0 echo_ports="" state="" hold=0 code=0
while [ $# -gt 0 ]; do
    case "$1" in
        --coturn) coturn=1 ;;
        --echo) echo_ports=$2; shift ;;
        --state) state=$2; shift ;;
        --hold) hold=1 ;;
        --exit) code=$2; shift ;;
        *) echo "usage: $0 TOPOLOGY [--coturn] [--echo PORTS] [--state FILE] [--hold | --exit N]" >&2; exit 2 ;;
    esac
    shift
done
case "$topo" in
    udp_blocked_turn|lan_udp_blocked|symmetric_nat|eim_nat) ;;
    *) echo "unknown topology '$topo' (udp_blocked_turn lan_udp_blocked symmetric_nat eim_nat)" >&2; exit 2 ;;
esac

lab_init
"topo_$topo"
server_ns=${LAB_NS_CLOUD:-$LAB_NS_PEER_B}
server_ip=${LAB_IP_CLOUD:-$LAB_IP_PEER_B}
[ -n "$echo_ports" ] && lab_start_echo "$server_ns" "$server_ip" "$echo_ports"
[ $coturn = 1 ] && lab_start_coturn "$server_ns" "$server_ip"
LAB_RUN_PID=$$; LAB_RUN_DIR=$LAB_DIR; LAB_RUN_PIDS="${LAB_PIDS[*]}"
export LAB_RUN_PID LAB_RUN_DIR LAB_RUN_PIDS
if [ -n "$state" ]; then
    lab_print_env >"$state.tmp" && mv "$state.tmp" "$state"
else
    lab_print_env
fi
if [ $hold = 1 ]; then
    lab_log "holding; Ctrl-C or kill -TERM $$ to tear down"
    # the idle process lives in one of the lab's namespaces, so that even after a SIGKILL
    # of this script the sweeper finds and stops it with the rest
    lab_bg "${LAB_NAMESPACES[0]}" sleep infinity
    wait "$LAB_BG_PID"
fi
exit "$code"
