#!/bin/bash
# lab_cleanup: the lab always tears down what it builds and never touches the root
# namespace. A child (run_topo.sh: symmetric_nat + coturn + echo servers) is ended in each
# way a test can end: normal exit, failure exit, SIGTERM, SIGINT -> its namespaces, its
# processes and its temp dir are gone. After SIGKILL they are (provably) left behind, and
# sweep.sh removes them; the sweeper spares namespaces whose owner is alive and any
# namespace without the firnlab- prefix. The root namespace's links, addresses, routes,
# rules, iptables/nft rulesets and forwarding sysctls are identical before and after.
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root
lab_init
HERE=$(cd "$(dirname "$0")" && pwd)

root_snapshot() {
    ip -o link show | sed -E 's/ state [A-Z]+//'
    ip -o addr show
    ip route show table all
    ip -6 route show table all
    ip rule show
    cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/all/forwarding \
        /proc/sys/net/ipv6/conf/all/forwarding
    iptables-save 2>/dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//'
    nft list ruleset 2>/dev/null | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}
root_snapshot >"$LAB_DIR/root.before"

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

# wait_file FILE PID: poll until the child wrote its state (or died); bounded.
wait_file() {
    local i
    for i in $(seq 600); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# state_get FILE VAR: read one variable from a lab_print_env dump
state_get() { ( . "$1"; eval "printf '%s' \"\${$2}\"" ); }

# check_present / check_gone FILE: the child's namespaces, processes and temp dir
check_present() {
    local f=$1 v ns pid
    for v in LAB_NS_INET LAB_NS_CLOUD LAB_NS_NAT_A LAB_NS_NAT_B LAB_NS_PEER_A LAB_NS_PEER_B; do
        ns=$(state_get "$f" $v)
        ns_exists "$ns" || lab_fail "$2: namespace $ns missing"
    done
    for pid in $(state_get "$f" LAB_RUN_PIDS); do
        kill -0 "$pid" 2>/dev/null || lab_fail "$2: child process $pid is not running"
    done
}
check_gone() {
    local f=$1 what=$2 v ns pid dir
    for v in LAB_NS_INET LAB_NS_CLOUD LAB_NS_NAT_A LAB_NS_NAT_B LAB_NS_PEER_A LAB_NS_PEER_B; do
        ns=$(state_get "$f" $v)
        [ -n "$ns" ] || lab_fail "$what: $v missing from the state file"
        ns_exists "$ns" && lab_fail "$what: namespace $ns left behind"
    done
    for pid in $(state_get "$f" LAB_RUN_PIDS); do
        kill -0 "$pid" 2>/dev/null && lab_fail "$what: process $pid still running"
    done
    dir=$(state_get "$f" LAB_RUN_DIR)
    [ -e "$dir" ] && lab_fail "$what: temp dir $dir left behind"
    ip netns list | awk '{print $1}' | grep -q "^firnlab-$(state_get "$f" LAB_RUN_PID)-" \
        && lab_fail "$what: a firnlab-$(state_get "$f" LAB_RUN_PID)-* namespace is left"
    lab_pass "$what: namespaces, processes (coturn, echo) and temp dir are gone"
}

# start_child NAME ARGS...: run_topo.sh in the background with default INT/TERM handling
start_child() {
    local name=$1; shift
    STATE="$LAB_DIR/$name.env"
    env --default-signal=INT,TERM bash "$HERE/run_topo.sh" symmetric_nat --coturn \
        --echo 4000 --state "$STATE" "$@" >"$LAB_DIR/$name.log" 2>&1 &
    CHILD=$!
}
finish_child() {   # NAME WANT_RC
    local rc=0
    wait "$CHILD" || rc=$?
    [ "$rc" = "$2" ] || lab_fail "$1: child exit status $rc, want $2; log:
$(cat "$LAB_DIR/$1.log")"
}

# 1-2: normal and failing exits
for c in "exit0 0" "exit1 1"; do
    set -- $c
    start_child "$1" --exit "$2"
    finish_child "$1" "$2"
    [ -s "$STATE" ] || lab_fail "$1: child wrote no state"
    check_gone "$STATE" "exit status $2"
done

# 3-4: signals while holding
for c in "term TERM 143" "int INT 130"; do
    set -- $c
    start_child "$1" --hold
    wait_file "$STATE" "$CHILD" || lab_fail "$1: child did not come up; log:
$(cat "$LAB_DIR/$1.log")"
    check_present "$STATE" "$1"
    kill -s "$2" "$CHILD"
    finish_child "$1" "$3"
    check_gone "$STATE" "SIG$2"
done

# 5: SIGKILL leaves everything behind; the sweeper removes it, sparing live owners and
# namespaces without the prefix.
sleep infinity & SPARE_PID=$!; LAB_PIDS+=("$SPARE_PID")
spare="firnlab-$SPARE_PID-spare" canary="labcanary-$$"
ip netns add "$spare" && LAB_NAMESPACES+=("$spare")
ip netns add "$canary" && LAB_NAMESPACES+=("$canary")
start_child kill --hold
wait_file "$STATE" "$CHILD" || lab_fail "kill: child did not come up; log:
$(cat "$LAB_DIR/kill.log")"
check_present "$STATE" kill
kill -KILL "$CHILD"; wait "$CHILD" 2>/dev/null
check_present "$STATE" "after SIGKILL (nothing could clean up)"
lab_pass "SIGKILL leaves namespaces and coturn behind (the sweeper's job)"
bash "$HERE/sweep.sh" || lab_fail "sweep.sh failed"
check_gone "$STATE" "SIGKILL + sweep.sh"
ns_exists "$spare" || lab_fail "sweeper removed $spare although its owner $SPARE_PID lives"
lab_pass "sweeper spares $spare (owner alive)"
ns_exists "$canary" || lab_fail "sweeper removed $canary (no firnlab- prefix)"
lab_pass "sweeper ignores $canary (not firnlab-)"
ns_exists "${LAB_PREFIX}preflight" && lab_fail "preflight namespace left behind"

# the root namespace is exactly as it was
ip netns del "$spare"; ip netns del "$canary"
root_snapshot >"$LAB_DIR/root.after"
diff -u "$LAB_DIR/root.before" "$LAB_DIR/root.after" \
    || lab_fail "the root namespace changed (diff above)"
lab_pass "root namespace links, addresses, routes, rules, iptables, nft, forwarding unchanged"
echo "PASS: lab_cleanup"
