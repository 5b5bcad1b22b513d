# shellcheck shell=bash
# firn network-namespace lab: primitives and topologies (issue 4, tests/lab/).
#
# Source this file from a bash test script:
#
#     . "$(dirname "$0")/lib.sh"
#     lab_skip_unless_root          # exit 77 (meson's skip) unless uid 0
#     lab_init                      # traps, temp dir, stale sweep, iptables check
#     topo_symmetric_nat            # builds namespaces, exports LAB_* variables
#     lab_start_coturn "$LAB_NS_CLOUD" "$LAB_IP_CLOUD"
#     lab_exec "$LAB_NS_PEER_A" some-command ...
#
# Rules the lab keeps (and the self-tests check):
# - The root namespace is never touched: no routes, interfaces, iptables rules or sysctls
#   are changed there. veth pairs are created directly inside the namespaces
#   (`ip -n A link add ... peer ... netns B`), forwarding is enabled per namespace.
# - Every namespace is named firnlab-<pid>-<name> (pid of the test shell), so parallel
#   runs never collide and a sweeper can tell leftovers of dead runs from live ones.
# - Only 203.0.113.0/24 and 198.51.100.0/24 (documentation ranges) and 10.x addresses,
#   which exist only inside the namespaces.
# - lab_cleanup runs on every exit path (trap EXIT INT TERM HUP); it stops the processes
#   this run started, deletes this run's namespaces and its temp dir.
#
# Namespace arguments: every primitive takes either a short name ("peer_a", as given to
# lab_ns) or the full name ("firnlab-1234-peer_a"). Topologies export full names.

LAB_DIR_SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_PY=${LAB_PY:-/usr/bin/python3}
LAB_NETPROBE="$LAB_DIR_SELF/netprobe.py"
LAB_PREFIX="firnlab-$$-"
LAB_IPT=${LAB_IPTABLES:-iptables}
LAB_NAMESPACES=()
LAB_PIDS=()
LAB_DIR=""
LAB_INITED=0
LAB_CLEANED=0
LAB_PORT_SEQ=0

# ------------------------------------------------------------------ messages
lab_log()  { printf '[lab] %s\n' "$*" >&2; }
# lab_fail MSG: print "FAIL: MSG" and exit 1 (the EXIT trap cleans up).
lab_fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
# lab_pass MSG: print "ok: MSG" (one line per assertion, so logs show what was proven).
lab_pass() { printf 'ok: %s\n' "$*"; }

# lab_skip_unless_root: namespaces need CAP_SYS_ADMIN/CAP_NET_ADMIN; exit 77 otherwise.
lab_skip_unless_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: needs root (network namespaces)"
        exit 77
    fi
}

# lab_require_tools: fail clearly when a tool the lab needs is missing.
lab_require_tools() {
    local t missing=()
    for t in ip "$LAB_IPT" nft ss "$LAB_PY" mktemp; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    [ ${#missing[@]} -eq 0 ] || lab_fail "missing tools: ${missing[*]} (Debian: iproute2 iptables nftables python3)"
}

# ------------------------------------------------------------------ lifecycle
# lab_init: install the cleanup traps, create the run's temp dir ($LAB_DIR), sweep
# namespaces left by dead runs, and check that iptables' nat table works inside a
# namespace (sets LAB_IPT_VARIANT to "nf_tables" or "legacy"). Idempotent.
lab_init() {
    [ "$LAB_INITED" = 1 ] && return 0
    LAB_INITED=1
    trap 'lab_cleanup' EXIT
    trap 'lab_cleanup; trap - EXIT; exit 130' INT
    trap 'lab_cleanup; trap - EXIT; exit 143' TERM
    trap 'lab_cleanup; trap - EXIT; exit 129' HUP
    lab_require_tools
    LAB_DIR=$(mktemp -d "/tmp/${LAB_PREFIX}XXXXXX") || lab_fail "mktemp failed"
    lab_sweep
    lab_preflight
}

# _lab_full NAME: full namespace name for a short or full name.
_lab_full() {
    case "$1" in
        firnlab-*) printf '%s' "$1" ;;
        *) printf '%s%s' "$LAB_PREFIX" "$1" ;;
    esac
}

# lab_kill PID: stop one process this run started: SIGTERM, poll up to 2 s, then SIGKILL.
lab_kill() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# _lab_kill_ns_pids FULLNS: stop whatever still runs inside one of the lab's namespaces
# (all of it was started by a lab run: coturn, echo servers, peers), by pid.
_lab_kill_ns_pids() {
    local ns=$1 pid pids
    pids=$(ip netns pids "$ns" 2>/dev/null) || return 0
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
    for pid in $pids; do
        local i
        for i in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null
    done
    return 0
}

# lab_cleanup: stop this run's processes, delete its namespaces (which removes their
# veths, bridges and rules) and its temp dir. Safe to call more than once; the traps
# installed by lab_init call it on every exit path.
lab_cleanup() {
    [ "$LAB_CLEANED" = 1 ] && return 0
    LAB_CLEANED=1
    local pid ns
    for pid in "${LAB_PIDS[@]}"; do lab_kill "$pid"; done
    for ns in "${LAB_NAMESPACES[@]}"; do
        _lab_kill_ns_pids "$ns"
        ip netns del "$ns" 2>/dev/null
    done
    # anything with our prefix that was created outside lab_ns (e.g. preflight)
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        case "$ns" in "$LAB_PREFIX"*) _lab_kill_ns_pids "$ns"; ip netns del "$ns" 2>/dev/null ;; esac
    done
    if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
        if [ -n "${LAB_KEEP_LOGS:-}" ]; then
            lab_log "logs kept in $LAB_DIR"
        else
            rm -rf "$LAB_DIR"
        fi
    fi
    LAB_NAMESPACES=()
    LAB_PIDS=()
    return 0
}

# lab_sweep [--all]: remove leftovers of killed runs: namespaces named firnlab-<pid>-*
# whose <pid> no longer exists (with --all: every firnlab-* namespace, for manual use
# when no lab run is active), the processes inside them, and /tmp/firnlab-<pid>-* dirs.
# Never touches a namespace without the firnlab- prefix.
lab_sweep() {
    local all=0 ns pid n=0 d
    [ "${1:-}" = "--all" ] && all=1
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        case "$ns" in firnlab-*) ;; *) continue ;; esac
        pid=${ns#firnlab-}; pid=${pid%%-*}
        if [ $all = 0 ]; then
            case "$pid" in ''|*[!0-9]*) continue ;; esac   # not ours to judge
            [ "$pid" = "$$" ] && continue
            [ -d "/proc/$pid" ] && continue                  # owner still alive
        fi
        _lab_kill_ns_pids "$ns"
        ip netns del "$ns" 2>/dev/null && n=$((n + 1))
    done
    for d in /tmp/firnlab-*; do
        [ -d "$d" ] || continue
        pid=${d#/tmp/firnlab-}; pid=${pid%%-*}
        case "$pid" in ''|*[!0-9]*) continue ;; esac
        [ "$pid" = "$$" ] && continue
        if [ $all = 1 ] || [ ! -d "/proc/$pid" ]; then rm -rf "$d"; fi
    done
    [ $n -gt 0 ] && lab_log "swept $n stale namespace(s)"
    return 0
}

# lab_preflight: prove iptables can use the nat table (MASQUERADE --random-fully) and the
# filter table (conntrack, multiport) inside a scratch namespace, and that nft's bridge
# family works. Reports the iptables backend in LAB_IPT_VARIANT. Fails with a clear
# message when the kernel lacks the modules.
lab_preflight() {
    local ns="${LAB_PREFIX}preflight" err v
    v=$("$LAB_IPT" --version 2>&1)
    case "$v" in
        *nf_tables*) LAB_IPT_VARIANT=nf_tables ;;
        *legacy*) LAB_IPT_VARIANT=legacy ;;
        *) LAB_IPT_VARIANT=unknown ;;
    esac
    export LAB_IPT_VARIANT
    ip netns add "$ns" || lab_fail "cannot create a network namespace (ip netns add)"
    if ! err=$(ip netns exec "$ns" "$LAB_IPT" -t nat -A POSTROUTING -o lo -j MASQUERADE --random-fully 2>&1); then
        ip netns del "$ns"
        lab_fail "iptables ($v) cannot use the nat table inside a namespace: $err
  The kernel needs NAT support: nf_tables backend -> nf_nat, nft_chain_nat, nft_masq (plus
  nft_compat/xt_MASQUERADE); legacy backend -> iptable_nat, xt_MASQUERADE. Try modprobe
  as root, or set LAB_IPTABLES=iptables-legacy / iptables-nft to pick the other backend."
    fi
    if ! err=$(ip netns exec "$ns" "$LAB_IPT" -A FORWARD -p tcp -m conntrack --ctstate ESTABLISHED,RELATED -m multiport --dports 1,2 -j ACCEPT 2>&1); then
        ip netns del "$ns"
        lab_fail "iptables ($v) filter table with conntrack/multiport fails inside a namespace: $err
  The kernel needs nf_conntrack, xt_conntrack, xt_multiport (and nft_compat for nf_tables)."
    fi
    if ! err=$(printf 'table bridge t { chain c { type filter hook forward priority 0; ip protocol udp drop; }; }\n' \
               | ip netns exec "$ns" nft -f - 2>&1); then
        ip netns del "$ns"
        lab_fail "nft bridge family fails inside a namespace: $err (kernel needs nf_tables_bridge / nft_meta_bridge)"
    fi
    ip netns del "$ns"
    return 0
}

# ------------------------------------------------------------------ primitives
# lab_ns NAME: create namespace firnlab-<pid>-NAME with loopback up, forwarding off and
# IPv6 disabled (set LAB_IPV6=1 to keep it): the rulesets are IPv4-only, and IPv6
# link-local addresses would otherwise give peers on one segment an unfiltered UDP path.
lab_ns() {
    lab_init
    local full; full=$(_lab_full "$1")
    ip netns add "$full" || lab_fail "ip netns add $full"
    LAB_NAMESPACES+=("$full")
    if [ "${LAB_IPV6:-0}" != 1 ]; then
        ip netns exec "$full" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 || lab_fail "disable IPv6 in $full"
    fi
    ip -n "$full" link set lo up
    ip netns exec "$full" sysctl -qw net.ipv4.ip_forward=0
}

# _lab_addr NS IF ADDR: assign ADDR (CIDR, e.g. 10.1.0.2/24; "-" = none) and bring IF up.
_lab_addr() {
    local ns=$1 ifn=$2 addr=$3
    if [ "$addr" != "-" ]; then
        ip -n "$ns" addr add "$addr" dev "$ifn" || lab_fail "addr $addr on $ns/$ifn"
    fi
    ip -n "$ns" link set "$ifn" up || lab_fail "link up $ns/$ifn"
}

# lab_link NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth pair, IF_A in NS_A and IF_B in NS_B,
# each with its CIDR address ("-" for none), both up. Interface names <= 15 characters.
lab_link() {
    local a b
    a=$(_lab_full "$1"); b=$(_lab_full "$4")
    ip -n "$a" link add "$2" type veth peer name "$5" netns "$b" \
        || lab_fail "veth $a/$2 <-> $b/$5"
    _lab_addr "$a" "$2" "$3"
    _lab_addr "$b" "$5" "$6"
}

# lab_bridge NS BR: a Linux bridge (an L2 switch) named BR inside NS, up, no address.
lab_bridge() {
    local ns; ns=$(_lab_full "$1")
    ip -n "$ns" link add "$2" type bridge || lab_fail "bridge $ns/$2"
    ip -n "$ns" link set "$2" up
}

# lab_port SW_NS BR HOST_NS HOST_IF HOST_ADDR: plug HOST_NS into bridge BR of SW_NS with a
# veth whose switch end (portN) is enslaved to BR and whose host end HOST_IF gets HOST_ADDR.
lab_port() {
    local sw host p
    sw=$(_lab_full "$1"); host=$(_lab_full "$3")
    LAB_PORT_SEQ=$((LAB_PORT_SEQ + 1)); p="port$LAB_PORT_SEQ"
    ip -n "$sw" link add "$p" type veth peer name "$4" netns "$host" \
        || lab_fail "veth $sw/$p <-> $host/$4"
    ip -n "$sw" link set "$p" master "$2" || lab_fail "enslave $sw/$p to $2"
    ip -n "$sw" link set "$p" up
    _lab_addr "$host" "$4" "$5"
}

# lab_route NS DEST VIA: add a route inside NS (DEST a prefix or "default").
lab_route() {
    local ns; ns=$(_lab_full "$1")
    ip -n "$ns" route add "$2" via "$3" || lab_fail "route $2 via $3 in $ns"
}

# lab_router NS: turn NS into a router (net.ipv4.ip_forward=1 inside NS only; the sysctl
# is per network namespace, the root namespace keeps its value).
lab_router() {
    local ns; ns=$(_lab_full "$1")
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 || lab_fail "ip_forward in $ns"
}

# lab_ipt NS ARGS...: run iptables inside NS.
lab_ipt() {
    local ns; ns=$(_lab_full "$1"); shift
    ip netns exec "$ns" "$LAB_IPT" "$@"
}

# _lab_chains NS: create the lab's filter chains once per namespace, hooked into FORWARD
# in a fixed order: LAB-FW (lab_firewall's ruleset) first, then LAB-NAT (the NAT's
# stateful inbound filtering).
_lab_chains() {
    local ns=$1
    lab_ipt "$ns" -L LAB-FW -n >/dev/null 2>&1 && return 0
    lab_ipt "$ns" -N LAB-FW && lab_ipt "$ns" -N LAB-NAT && lab_ipt "$ns" -N LAB-NATIN \
        && lab_ipt "$ns" -A FORWARD -j LAB-FW && lab_ipt "$ns" -A FORWARD -j LAB-NAT \
        && lab_ipt "$ns" -A INPUT -j LAB-NATIN \
        || lab_fail "iptables chains in $ns"
}

# lab_nat NS IN_IF OUT_IF MODE: NS becomes a NAT router from the inside interface IN_IF to
# the outside interface OUT_IF. Calling it again replaces the mode.
#   MODE eim:       MASQUERADE. Linux keeps the source port when it is free, so the mapping
#                   is endpoint-independent in practice (same external port for every
#                   destination).
#   MODE symmetric: MASQUERADE --random-fully: a random external port per connection
#                   (5-tuple), i.e. address-and-port-dependent mapping.
# Filtering is stateful in both modes: from OUT_IF to IN_IF only replies (conntrack
# ESTABLISHED,RELATED) pass, so unsolicited inbound packets are dropped. New inbound
# connections to the router itself on OUT_IF are dropped in INPUT as well, which also keeps
# eim a true EIM NAT for hole punching: otherwise a peer's punch packet that arrives before
# our own outbound packet would leave a confirmed conntrack entry for the router's port,
# and our outbound flow would then be SNATed to a different port (the Linux conntrack
# clash), so simultaneous punching through two eim NATs would fail.
lab_nat() {
    local ns=$1 in_if=$2 out_if=$3 mode=$4 extra=()
    case "$mode" in
        eim) ;;
        symmetric) extra=(--random-fully) ;;
        *) lab_fail "lab_nat: MODE must be eim or symmetric, not '$mode'" ;;
    esac
    lab_router "$ns"
    _lab_chains "$ns"
    lab_ipt "$ns" -t nat -F POSTROUTING
    lab_ipt "$ns" -F LAB-NAT
    lab_ipt "$ns" -F LAB-NATIN
    lab_ipt "$ns" -t nat -A POSTROUTING -o "$out_if" -j MASQUERADE "${extra[@]}" \
        || lab_fail "MASQUERADE in $ns"
    lab_ipt "$ns" -A LAB-NAT -i "$out_if" -o "$in_if" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
    lab_ipt "$ns" -A LAB-NAT -i "$out_if" -o "$in_if" -j DROP
    lab_ipt "$ns" -A LAB-NATIN -i "$out_if" -m conntrack --ctstate NEW -j DROP
}

# lab_firewall NS RULESET...: replace the firewall of NS with the given rulesets (applied
# in order). The rules act on traffic NS forwards: routed traffic (iptables FORWARD, chain
# LAB-FW) and bridged traffic (nft table "bridge lab_fw"), so the same ruleset works on a
# router and on a switch namespace. Rulesets:
#   none                          no rules (the control case)
#   block-udp                     drop every forwarded UDP packet, both directions
#   block-udp-between:A,B         drop UDP between hosts A and B (both directions)
#   tcp-only-to:ADDR:P1[,P2...]   stateful egress lock-down: only replies and new TCP
#                                 connections to ADDR on ports P1,P2.. pass; all UDP, all
#                                 other TCP and everything unsolicited are dropped (the
#                                 "UDP blocked, TURN over TCP/TLS only" corporate firewall;
#                                 routed traffic only: it needs conntrack, which bridged
#                                 traffic does not get without br_netfilter)
lab_firewall() {
    local ns; ns=$(_lab_full "$1"); shift
    local rs nftrules="" a b addr ports
    _lab_chains "$ns"
    lab_ipt "$ns" -F LAB-FW
    ip netns exec "$ns" nft delete table bridge lab_fw 2>/dev/null
    for rs in "$@"; do
        case "$rs" in
            none) ;;
            block-udp)
                lab_ipt "$ns" -A LAB-FW -p udp -j DROP
                nftrules+="ip protocol udp drop; " ;;
            block-udp-between:*)
                a=${rs#block-udp-between:}; b=${a#*,}; a=${a%%,*}
                lab_ipt "$ns" -A LAB-FW -p udp -s "$a" -d "$b" -j DROP
                lab_ipt "$ns" -A LAB-FW -p udp -s "$b" -d "$a" -j DROP
                nftrules+="ip saddr $a ip daddr $b ip protocol udp drop; "
                nftrules+="ip saddr $b ip daddr $a ip protocol udp drop; " ;;
            tcp-only-to:*)
                addr=${rs#tcp-only-to:}; ports=${addr##*:}; addr=${addr%:*}
                lab_ipt "$ns" -A LAB-FW -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
                lab_ipt "$ns" -A LAB-FW -p tcp -d "$addr" -m multiport --dports "$ports" \
                    -m conntrack --ctstate NEW -j RETURN
                lab_ipt "$ns" -A LAB-FW -j DROP ;;
            *) lab_fail "lab_firewall: unknown ruleset '$rs'" ;;
        esac
    done
    if [ -n "$nftrules" ]; then
        printf 'table bridge lab_fw { chain filt { type filter hook forward priority 0; %s}; }\n' "$nftrules" \
            | ip netns exec "$ns" nft -f - || lab_fail "nft bridge rules in $ns"
    fi
}

# lab_exec NS CMD...: run CMD inside NS in the foreground; returns its exit status.
lab_exec() {
    local ns; ns=$(_lab_full "$1"); shift
    ip netns exec "$ns" "$@"
}

# lab_bg NS CMD...: start CMD inside NS in the background; its pid is recorded (stopped by
# lab_cleanup) and left in LAB_BG_PID. Output goes wherever the caller redirects it.
lab_bg() {
    local ns; ns=$(_lab_full "$1"); shift
    ip netns exec "$ns" "$@" &
    LAB_BG_PID=$!
    LAB_PIDS+=("$LAB_BG_PID")
}

# lab_wait_listen NS PROTO PORT [PID] [TIMEOUT_S=10]: poll `ss -l` inside NS until a
# PROTO (tcp|udp) socket listens on PORT; fails early if PID exits, fails at TIMEOUT_S.
lab_wait_listen() {
    local ns proto=$2 port=$3 pid=${4:-} timeout=${5:-10} flag deadline
    ns=$(_lab_full "$1")
    case "$proto" in tcp) flag=-ltnH ;; udp) flag=-lunH ;; *) lab_fail "lab_wait_listen: proto $proto" ;; esac
    deadline=$(( $(date +%s%N) / 1000000 + timeout * 1000 ))
    while :; do
        if [ -n "$(ip netns exec "$ns" ss $flag "sport = :$port" 2>/dev/null)" ]; then
            return 0
        fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            lab_log "process $pid exited before listening on $proto/$port in $ns"
            return 1
        fi
        if [ $(( $(date +%s%N) / 1000000 )) -ge $deadline ]; then
            lab_log "nothing listens on $proto/$port in $ns after ${timeout}s"
            return 1
        fi
        sleep 0.02
    done
}

# lab_probe NS SUBCOMMAND ARGS...: run netprobe.py (see its header) inside NS; prints its
# JSON line, returns 0 answered, 3 silence (timeout), 4 visible failure, 1 bad answer.
lab_probe() {
    local ns=$1; shift
    lab_exec "$ns" "$LAB_PY" "$LAB_NETPROBE" "$@"
}

# lab_json FIELD: read a JSON object on stdin and print FIELD (a Python expression on `d`,
# e.g. 'd["replies"][0]["seen"]').
lab_json() {
    "$LAB_PY" -c 'import json,sys; d=json.loads(sys.stdin.readline()); print(eval(sys.argv[1]))' "$1"
}

# lab_start_echo NS ADDR PORTS: UDP and TCP echo servers (netprobe udp-echo/tcp-echo) on
# ADDR, ports PORTS (comma-separated), waits until all listen.
lab_start_echo() {
    local ns=$1 addr=$2 ports=$3 p upid tpid
    lab_bg "$ns" "$LAB_PY" "$LAB_NETPROBE" udp-echo --bind "$addr" --ports "$ports" \
        >>"$LAB_DIR/echo.log" 2>&1; upid=$LAB_BG_PID
    lab_bg "$ns" "$LAB_PY" "$LAB_NETPROBE" tcp-echo --bind "$addr" --ports "$ports" \
        >>"$LAB_DIR/echo.log" 2>&1; tpid=$LAB_BG_PID
    for p in ${ports//,/ }; do
        lab_wait_listen "$ns" udp "$p" "$upid" || lab_fail "udp echo on $addr:$p"
        lab_wait_listen "$ns" tcp "$p" "$tpid" || lab_fail "tcp echo on $addr:$p"
    done
}

# lab_start_coturn NS ADDR [EXTRA_TURNSERVER_ARGS...]: start coturn (Debian's turnserver)
# inside NS on ADDR with a generated config and self-signed certificate in a temp dir:
# UDP+TCP on $LAB_TURN_PORT (3478), TLS (and DTLS) on $LAB_TURN_TLS_PORT (5349), long-term
# credentials, realm firn.test. Extra args go to turnserver's command line (e.g.
# --stale-nonce=5 --permission-lifetime=10 --channel-lifetime=20 --max-allocate-lifetime=30).
# Waits (polling ss) until UDP and TCP 3478 and TCP 5349 listen. Exports:
#   LAB_TURN_ADDR LAB_TURN_PORT LAB_TURN_TLS_PORT LAB_TURN_USER LAB_TURN_PASS
#   LAB_TURN_REALM LAB_TURN_SERVER_NAME LAB_TURN_CA (the self-signed cert = its own CA)
#   LAB_TURN_URI_UDP LAB_TURN_URI_TCP LAB_TURN_URI_TLS (RFC 7065 URIs for firn-peer --turn)
#   LAB_TURN_PID LAB_TURN_LOG LAB_TURN_CONF
lab_start_coturn() {
    local ns=$1 addr=$2; shift 2
    local dir
    dir="$LAB_DIR/coturn-$(_lab_full "$ns" | sed 's/^firnlab-[0-9]*-//')"
    command -v turnserver >/dev/null 2>&1 || lab_fail "turnserver not found (Debian package coturn)"
    mkdir -p "$dir"
    LAB_TURN_ADDR=$addr
    LAB_TURN_PORT=${LAB_TURN_PORT:-3478}
    LAB_TURN_TLS_PORT=${LAB_TURN_TLS_PORT:-5349}
    LAB_TURN_USER=firn
    LAB_TURN_PASS=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    LAB_TURN_REALM=firn.test
    LAB_TURN_SERVER_NAME=turn.firn.test
    LAB_TURN_CA="$dir/cert.pem"
    LAB_TURN_LOG="$dir/turnserver.log"
    LAB_TURN_CONF="$dir/turnserver.conf"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=$LAB_TURN_SERVER_NAME" \
        -addext "subjectAltName=DNS:$LAB_TURN_SERVER_NAME,IP:$addr" \
        -keyout "$dir/key.pem" -out "$LAB_TURN_CA" >"$dir/openssl.log" 2>&1 \
        || lab_fail "openssl req failed: $(cat "$dir/openssl.log")"
    cat >"$LAB_TURN_CONF" <<EOF
# generated by tests/lab/lib.sh lab_start_coturn
listening-ip=$addr
relay-ip=$addr
listening-port=$LAB_TURN_PORT
tls-listening-port=$LAB_TURN_TLS_PORT
min-port=49152
max-port=65535
realm=$LAB_TURN_REALM
server-name=$LAB_TURN_SERVER_NAME
lt-cred-mech
user=$LAB_TURN_USER:$LAB_TURN_PASS
fingerprint
cert=$LAB_TURN_CA
pkey=$dir/key.pem
userdb=$dir/turndb
pidfile=$dir/turnserver.pid
log-file=$LAB_TURN_LOG
simple-log
verbose
no-cli
no-multicast-peers
EOF
    lab_bg "$ns" turnserver -c "$LAB_TURN_CONF" "$@" >"$dir/stdout.log" 2>&1
    LAB_TURN_PID=$LAB_BG_PID
    lab_wait_listen "$ns" udp "$LAB_TURN_PORT" "$LAB_TURN_PID" \
        && lab_wait_listen "$ns" tcp "$LAB_TURN_PORT" "$LAB_TURN_PID" \
        && lab_wait_listen "$ns" tcp "$LAB_TURN_TLS_PORT" "$LAB_TURN_PID" \
        || lab_fail "coturn did not come up in $ns on $addr; log tail:
$(tail -n 20 "$LAB_TURN_LOG" "$dir/stdout.log" 2>/dev/null)"
    LAB_TURN_URI_UDP="turn:$addr:$LAB_TURN_PORT?transport=udp"
    LAB_TURN_URI_TCP="turn:$addr:$LAB_TURN_PORT?transport=tcp"
    LAB_TURN_URI_TLS="turns:$addr:$LAB_TURN_TLS_PORT"
    export LAB_TURN_ADDR LAB_TURN_PORT LAB_TURN_TLS_PORT LAB_TURN_USER LAB_TURN_PASS \
        LAB_TURN_REALM LAB_TURN_SERVER_NAME LAB_TURN_CA LAB_TURN_URI_UDP LAB_TURN_URI_TCP \
        LAB_TURN_URI_TLS LAB_TURN_PID LAB_TURN_LOG LAB_TURN_CONF
}

# lab_call NS_A NS_B [OFFERER_ARGS...] -- [ANSWERER_ARGS...]: one call between two
# peers, cross-wired per DESIGN.md's signaling contract: `$LAB_PEER --offer OFFERER_ARGS`
# runs in NS_A, `$LAB_PEER --answer ANSWERER_ARGS` in NS_B; each one's stdout up to and
# including its '.' line is piped to the other's stdin (what follows, the JSON summary,
# is not forwarded, and the pipe stays open until the peer exits). Each peer is bounded
# by LAB_CALL_TIMEOUT seconds (default 60; a safety limit, not a pass criterion).
# LAB_PEER defaults to $FIRN_BUILD_ROOT/examples/firn-peer. Sets:
#   LAB_CALL_DIR            a.out a.err b.out b.err (full stdout/stderr of each side)
#   LAB_CALL_RC_A/_B        exit status of each peer (124 = hit LAB_CALL_TIMEOUT)
#   LAB_CALL_JSON_A/_B      each peer's JSON summary line (last stdout line starting '{')
# Returns 0 when both peers exit 0.
lab_call() {
    local ns_a ns_b peer=${LAB_PEER:-${FIRN_BUILD_ROOT:+$FIRN_BUILD_ROOT/examples/firn-peer}}
    local t=${LAB_CALL_TIMEOUT:-60} args_a=() args_b=() pa pb
    ns_a=$(_lab_full "$1"); ns_b=$(_lab_full "$2"); shift 2
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do args_a+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    args_b=("$@")
    [ -n "$peer" ] && [ -x "$peer" ] || lab_fail "lab_call: peer program '$peer' not executable (set LAB_PEER or FIRN_BUILD_ROOT)"
    LAB_CALL_SEQ=$(( ${LAB_CALL_SEQ:-0} + 1 ))
    LAB_CALL_DIR="$LAB_DIR/call$LAB_CALL_SEQ"
    mkdir -p "$LAB_CALL_DIR"
    local d=$LAB_CALL_DIR
    mkfifo "$d/a2b" "$d/b2a"
    ( ( ip netns exec "$ns_a" timeout -k 5 "$t" "$peer" --offer "${args_a[@]}" 2>"$d/a.err"
        echo $? >"$d/a.rc" ) <"$d/b2a" | tee -p "$d/a.out" | sed -u -n '0,/^\.\r*$/p' >"$d/a2b" ) &
    pa=$!
    ( ( ip netns exec "$ns_b" timeout -k 5 "$t" "$peer" --answer "${args_b[@]}" 2>"$d/b.err"
        echo $? >"$d/b.rc" ) <"$d/a2b" | tee -p "$d/b.out" | sed -u -n '0,/^\.\r*$/p' >"$d/b2a" ) &
    pb=$!
    wait "$pa" "$pb"
    LAB_CALL_RC_A=$(cat "$d/a.rc" 2>/dev/null || echo 255)
    LAB_CALL_RC_B=$(cat "$d/b.rc" 2>/dev/null || echo 255)
    LAB_CALL_JSON_A=$(grep '^{' "$d/a.out" | tail -n 1)
    LAB_CALL_JSON_B=$(grep '^{' "$d/b.out" | tail -n 1)
    lab_log "call $LAB_CALL_SEQ: offerer rc=$LAB_CALL_RC_A $LAB_CALL_JSON_A"
    lab_log "call $LAB_CALL_SEQ: answerer rc=$LAB_CALL_RC_B $LAB_CALL_JSON_B"
    [ "$LAB_CALL_RC_A" = 0 ] && [ "$LAB_CALL_RC_B" = 0 ]
}

# lab_expect_call_ok DESC: the last lab_call succeeded on both sides, every packet sent
# was received intact both ways. Prints stderr tails on failure.
lab_expect_call_ok() {
    local side json rc
    for side in A B; do
        json=LAB_CALL_JSON_$side; rc=LAB_CALL_RC_$side
        if [ "${!rc}" != 0 ] || [ -z "${!json}" ] || [ "$(echo "${!json}" | lab_json \
            'd.get("payload_ok") is True and d.get("sent",0) > 0 and d.get("received") == d.get("sent")')" != True ]; then
            lab_fail "$1: side $side rc=${!rc} summary=${!json}
--- stderr tail (offerer) ---
$(tail -n 20 "$LAB_CALL_DIR/a.err" 2>/dev/null)
--- stderr tail (answerer) ---
$(tail -n 20 "$LAB_CALL_DIR/b.err" 2>/dev/null)"
        fi
    done
    lab_pass "$1"
}

# lab_call_pair SIDE: the selected pair's local half of side A or B, as "<type>/<transport>"
# (e.g. "relay/udp", "host/tcp-active"); lab_call_pair_remote SIDE: the remote half.
lab_call_pair() {
    local json="LAB_CALL_JSON_$1"
    echo "${!json}" | lab_json 'd["selected_pair"].split(" <-> ")[0].split()[0]'
}
lab_call_pair_remote() {
    local json="LAB_CALL_JSON_$1"
    echo "${!json}" | lab_json 'd["selected_pair"].split(" <-> ")[1].split()[0]'
}

# lab_turn_args TRANSPORT: netprobe turn-* options for the running coturn over TRANSPORT
# (udp|tcp|tls), one per line (read them with mapfile).
lab_turn_args() {
    local port=$LAB_TURN_PORT
    [ "$1" = tls ] && port=$LAB_TURN_TLS_PORT
    printf '%s\n' --transport "$1" --dst "$LAB_TURN_ADDR:$port" --user "$LAB_TURN_USER" \
        --pass "$LAB_TURN_PASS" --realm "$LAB_TURN_REALM"
    [ "$1" = tls ] && printf '%s\n' --ca "$LAB_TURN_CA" --server-name "$LAB_TURN_SERVER_NAME"
    return 0
}

# lab_start_turn_echo NS TRANSPORT: a TURN client in NS (netprobe turn-echo) that
# allocates on the running coturn over TRANSPORT, permits $LAB_TURN_ADDR (where the other
# allocations live) and echoes whatever reaches its relayed address. Polls its output
# until the allocation is made; sets LAB_TURN_ECHO_RELAYED (ip:port) and LAB_TURN_ECHO_PID.
lab_start_turn_echo() {
    local ns=$1 tr=$2 f args i
    mapfile -t args < <(lab_turn_args "$tr")
    f="$LAB_DIR/turn-echo-$RANDOM.out"
    lab_bg "$ns" "$LAB_PY" "$LAB_NETPROBE" turn-echo "${args[@]}" --peer-ip "$LAB_TURN_ADDR" \
        >"$f" 2>&1
    LAB_TURN_ECHO_PID=$LAB_BG_PID
    for i in $(seq 200); do
        grep -q '"relayed"' "$f" 2>/dev/null && break
        kill -0 "$LAB_TURN_ECHO_PID" 2>/dev/null || lab_fail "turn-echo in $ns over $tr exited: $(cat "$f")"
        sleep 0.05
    done
    LAB_TURN_ECHO_RELAYED=$(grep '"relayed"' "$f" | lab_json 'd["relayed"]') \
        || lab_fail "turn-echo in $ns over $tr made no allocation: $(cat "$f")"
}

# lab_expect_turn_relay DESC NS TRANSPORT: a TURN client in NS allocates over TRANSPORT,
# sends to the relayed address of the last lab_start_turn_echo, and must get its bytes
# back through both allocations (peer -> coturn -> other peer -> coturn -> peer).
lab_expect_turn_relay() {
    local desc=$1 ns=$2 tr=$3 args
    mapfile -t args < <(lab_turn_args "$tr")
    lab_expect_answer "$desc" "$ns" turn-send "${args[@]}" --peer "$LAB_TURN_ECHO_RELAYED"
}

# lab_punch NS_A NS_B STUN_ADDR:PORT [TIMEOUT_S=2]: both peers try UDP hole punching
# at once (netprobe punch: srflx from STUN, exchanged through files, then send to each
# other for up to TIMEOUT_S). Returns 0 if both got through, 1 otherwise; each side's JSON
# in LAB_PUNCH_A / LAB_PUNCH_B.
lab_punch() {
    local d="$LAB_DIR/punch$RANDOM" pa pb ra=0 rb=0 t=${4:-2}
    mkdir -p "$d"
    lab_exec "$1" "$LAB_PY" "$LAB_NETPROBE" punch --stun "$3" --me "$d/a" --peer-file "$d/b" \
        --timeout "$t" >"$d/a.json" 2>&1 & pa=$!
    lab_exec "$2" "$LAB_PY" "$LAB_NETPROBE" punch --stun "$3" --me "$d/b" --peer-file "$d/a" \
        --timeout "$t" >"$d/b.json" 2>&1 & pb=$!
    wait "$pa" || ra=$?
    wait "$pb" || rb=$?
    LAB_PUNCH_A=$(cat "$d/a.json"); LAB_PUNCH_B=$(cat "$d/b.json")
    lab_log "punch: A rc=$ra $LAB_PUNCH_A"
    lab_log "punch: B rc=$rb $LAB_PUNCH_B"
    [ $ra = 0 ] && [ $rb = 0 ]
}

# lab_turn_log_mark: remember where coturn's log ends now; lab_turn_sessions then reports
# only sessions that start after the mark (one coturn serving several calls).
lab_turn_log_mark() {
    LAB_TURN_LOG_MARK=$(wc -l <"$LAB_TURN_LOG" 2>/dev/null || echo 0)
}

# lab_turn_sessions: coturn's view of the allocations since lab_turn_log_mark, read from
# its log (the config asks for `verbose`), one JSON object per session:
#   {"id": "...", "tls": "TLSv1.3" or null, "local": "ip:port" (the listener the client
#    used: 3478 = UDP/TCP, 5349 = TLS), "remote": "ip:port" (the client, as coturn saw it),
#    "peer_rp": N, "peer_sp": N (datagrams the relay received from / sent to peers),
#    "closed": bool, "reason": "..."}
# local/remote/peer_* come from coturn's closing lines, so call lab_wait_turn_closed first.
lab_turn_sessions() {
    tail -n +"$(( ${LAB_TURN_LOG_MARK:-0} + 1 ))" "$LAB_TURN_LOG" | "$LAB_PY" -c '
import json, re, sys
ss = {}
def get(i):
    return ss.setdefault(i, {"id": i, "tls": None, "local": None, "remote": None,
                             "peer_rp": 0, "peer_sp": 0, "closed": False, "reason": None})
for line in sys.stdin:
    m = re.search(r"session (\d+): (.*)", line)
    if not m:
        continue
    i, rest = m.groups()
    if rest.startswith("new,"):
        s = get(i)
        t = re.search(r"method=(\S+)", rest)
        s["tls"] = t.group(1) if t else None
    elif rest.startswith("peer usage:"):
        s = get(i)
        s["peer_rp"] = int(re.search(r"rp=(\d+)", rest).group(1))
        s["peer_sp"] = int(re.search(r"sp=(\d+)", rest).group(1))
    elif rest.startswith("closed (2nd stage)"):
        s = get(i)
        s["closed"] = True
        t = re.search(r"local (\S+), remote (\S+), reason: (.*)", rest)
        if t:
            s["local"], s["remote"], s["reason"] = t.group(1), t.group(2), t.group(3).strip()
for s in ss.values():
    print(json.dumps(s))
'
}

# lab_wait_turn_closed N [TIMEOUT_S=5]: wait until coturn has logged the end of at least N
# sessions since lab_turn_log_mark (clients deallocate when a call ends; coturn logs the
# session's usage as it goes). Fails at TIMEOUT_S, printing the sessions it saw.
lab_wait_turn_closed() {
    local n=$1 t=${2:-5} i got=0
    for i in $(seq $((t * 20))); do
        got=$(lab_turn_sessions | grep -c '"closed": true')
        [ "$got" -ge "$n" ] && return 0
        sleep 0.05
    done
    lab_fail "coturn logged $got closed session(s) in ${t}s, want $n:
$(lab_turn_sessions)"
}

# lab_relay_count_reset NS / lab_relay_count NS: count the UDP datagrams that TURN relay
# sockets in NS (coturn's relay ports, 49152-65535 in lab_start_coturn's config) send to
# peers, with a counting rule in NS's OUTPUT chain (NS only; no verdict). Relayed media
# show up here whether or not the clients deallocate cleanly, unlike coturn's own usage
# lines, which it logs only when a session ends. reset installs the rule once and zeroes it.
lab_relay_count_reset() {
    if ! lab_ipt "$1" -C OUTPUT -p udp --sport 49152:65535 -m comment --comment lab-relay-out 2>/dev/null; then
        lab_ipt "$1" -A OUTPUT -p udp --sport 49152:65535 -m comment --comment lab-relay-out \
            || lab_fail "relay counter in $1"
    fi
    lab_ipt "$1" -Z OUTPUT || lab_fail "zero counters in $1"
}
lab_relay_count() {
    lab_ipt "$1" -nvx -L OUTPUT | awk '/lab-relay-out/ { print $1; f = 1 } END { if (!f) print -1 }'
}

# lab_print_env: print every exported LAB_* variable as KEY=VALUE (for logs and for tools
# that want to `eval` or `source` the topology description).
lab_print_env() {
    local v
    for v in $(compgen -e | grep '^LAB_' | sort); do
        printf '%s=%q\n' "$v" "${!v}"
    done
}

# ------------------------------------------------------------------ topologies
# All of them export:
#   LAB_TOPO                              topology name
#   LAB_NS_PEER_A LAB_NS_PEER_B           full namespace names of the two peers
#   LAB_IP_PEER_A LAB_IP_PEER_B           the peers' (only) interface addresses
# The NAT topologies also export:
#   LAB_NS_NAT_A LAB_NS_NAT_B             the NAT router namespaces
#   LAB_IP_NAT_A LAB_IP_NAT_B             their public (outside) addresses
#   LAB_NS_CLOUD LAB_IP_CLOUD             the "cloud" host (where coturn runs)
#   LAB_NS_INET                           the "internet" switch namespace
#
# Shape shared by the NAT topologies (the "internet" is one L2 segment on a bridge):
#
#   peer_a 10.1.0.2 --- 10.1.0.1 nat_a 203.0.113.10 ---+
#                                                       |  inet (bridge br0,
#   peer_b 10.2.0.2 --- 10.2.0.1 nat_b 203.0.113.20 ---+   203.0.113.0/24)
#                                                       |
#                                   cloud 203.0.113.100 +
#
# The internet's default gateway is 203.0.113.1 on inet's br0, with forwarding off: the
# NATs and the cloud route everything off-segment there and it is dropped silently, as an
# ISP drops private destinations. Without it, sending to a private address (a peer's host
# candidate) fails at once with ENETUNREACH, which nothing on the internet does, and
# coturn 4.6.1 then stops relaying for that allocation altogether: after one Send
# indication to an unroutable peer, data to routable peers is lost too (seen with
# netprobe's TURN client; ICE sends exactly that: relay -> remote host checks).
# Exported as LAB_IP_INET_GW.
_lab_topo_two_nats() {
    local mode=$1
    lab_ns inet; lab_ns cloud; lab_ns nat_a; lab_ns nat_b; lab_ns peer_a; lab_ns peer_b
    lab_bridge inet br0
    lab_port inet br0 nat_a wan 203.0.113.10/24
    lab_port inet br0 nat_b wan 203.0.113.20/24
    lab_port inet br0 cloud eth0 203.0.113.100/24
    lab_link peer_a eth0 10.1.0.2/24 nat_a lan 10.1.0.1/24
    lab_link peer_b eth0 10.2.0.2/24 nat_b lan 10.2.0.1/24
    lab_route peer_a default 10.1.0.1
    lab_route peer_b default 10.2.0.1
    lab_nat nat_a lan wan "$mode"
    lab_nat nat_b lan wan "$mode"
    ip -n "$(_lab_full inet)" addr add 203.0.113.1/24 dev br0 || lab_fail "inet gateway address"
    lab_route nat_a default 203.0.113.1
    lab_route nat_b default 203.0.113.1
    lab_route cloud default 203.0.113.1
    LAB_IP_INET_GW=203.0.113.1
    LAB_NS_INET=$(_lab_full inet)
    LAB_NS_CLOUD=$(_lab_full cloud);   LAB_IP_CLOUD=203.0.113.100
    LAB_NS_NAT_A=$(_lab_full nat_a);   LAB_IP_NAT_A=203.0.113.10
    LAB_NS_NAT_B=$(_lab_full nat_b);   LAB_IP_NAT_B=203.0.113.20
    LAB_NS_PEER_A=$(_lab_full peer_a); LAB_IP_PEER_A=10.1.0.2
    LAB_NS_PEER_B=$(_lab_full peer_b); LAB_IP_PEER_B=10.2.0.2
    export LAB_NS_INET LAB_NS_CLOUD LAB_IP_CLOUD LAB_NS_NAT_A LAB_IP_NAT_A LAB_NS_NAT_B \
        LAB_IP_NAT_B LAB_NS_PEER_A LAB_IP_PEER_A LAB_NS_PEER_B LAB_IP_PEER_B LAB_IP_INET_GW
}

# topo_udp_blocked_turn: issue 4 scenario (1). Both peers behind eim NAT routers whose
# firewalls drop ALL UDP and allow only new TCP connections to the cloud host on 3478
# (TURN/TCP), 5349 (TURN/TLS) and 443 (TURN/TLS on 443), plus replies. The call can only
# connect through TURN over TCP or TLS to coturn on LAB_IP_CLOUD.
topo_udp_blocked_turn() {
    _lab_topo_two_nats eim
    lab_firewall nat_a "tcp-only-to:$LAB_IP_CLOUD:3478,5349,443"
    lab_firewall nat_b "tcp-only-to:$LAB_IP_CLOUD:3478,5349,443"
    LAB_TOPO=udp_blocked_turn; export LAB_TOPO
}

# topo_symmetric_nat: issue 4 scenario (3). Both peers behind symmetric NATs
# (MASQUERADE --random-fully), no firewall; the cloud (TURN) is reachable over UDP and
# TCP. Hole punching cannot work; only a relay pair can.
topo_symmetric_nat() {
    _lab_topo_two_nats symmetric
    LAB_TOPO=symmetric_nat; export LAB_TOPO
}

# topo_eim_nat: the control case for topo_symmetric_nat: same shape, both NATs plain
# MASQUERADE (endpoint-independent mapping), where srflx pairs can work.
topo_eim_nat() {
    _lab_topo_two_nats eim
    LAB_TOPO=eim_nat; export LAB_TOPO
}

# topo_lan_udp_blocked: issue 4 scenario (2). Two peers on one LAN segment (a bridge in
# switch namespace "lan"), whose switch drops UDP between them; TCP passes. Only an
# ICE-TCP host pair can connect. Also exports LAB_NS_LAN (the switch).
#
#   peer_a 10.3.0.11 ---+
#                       |  lan (bridge br0, 10.3.0.0/24; drops UDP between .11 and .12)
#   peer_b 10.3.0.12 ---+
topo_lan_udp_blocked() {
    lab_ns lan; lab_ns peer_a; lab_ns peer_b
    lab_bridge lan br0
    lab_port lan br0 peer_a eth0 10.3.0.11/24
    lab_port lan br0 peer_b eth0 10.3.0.12/24
    lab_firewall lan block-udp-between:10.3.0.11,10.3.0.12
    LAB_NS_LAN=$(_lab_full lan)
    LAB_NS_PEER_A=$(_lab_full peer_a); LAB_IP_PEER_A=10.3.0.11
    LAB_NS_PEER_B=$(_lab_full peer_b); LAB_IP_PEER_B=10.3.0.12
    LAB_TOPO=lan_udp_blocked
    export LAB_NS_LAN LAB_NS_PEER_A LAB_IP_PEER_A LAB_NS_PEER_B LAB_IP_PEER_B LAB_TOPO
}

# ------------------------------------------------------------------ assertions
# lab_expect_answer DESC NS SUBCMD ARGS...: a netprobe that must be answered (exit 0).
# Its JSON line is left in LAB_OUT.
lab_expect_answer() {
    local desc=$1 rc=0; shift
    LAB_OUT=$(lab_probe "$@") || rc=$?
    [ $rc = 0 ] || lab_fail "$desc: expected an answer, got rc=$rc: $LAB_OUT"
    lab_pass "$desc"
}

# lab_expect_blocked DESC NS SUBCMD ARGS...: a netprobe that must get no answer at all
# within its --timeout (dropped by a firewall or NAT; a refusal or an error is not
# "blocked" and fails the assertion). Its JSON line is left in LAB_OUT.
lab_expect_blocked() {
    local desc=$1 rc=0; shift
    LAB_OUT=$(lab_probe "$@") || rc=$?
    [ $rc = 3 ] && [[ "$LAB_OUT" == *'"error": "timeout"'* ]] \
        || lab_fail "$desc: expected silence (timeout), got rc=$rc: $LAB_OUT"
    lab_pass "$desc"
}

# lab_expect_refused DESC PATTERN NS SUBCMD ARGS...: a netprobe that must fail visibly
# (exit 4: no route, refused, unreachable, TLS verification) with PATTERN in its error.
lab_expect_refused() {
    local desc=$1 pat=$2 rc=0; shift 2
    LAB_OUT=$(lab_probe "$@") || rc=$?
    [ $rc = 4 ] && [[ "$LAB_OUT" == *"$pat"* ]] \
        || lab_fail "$desc: expected a visible failure matching '$pat', got rc=$rc: $LAB_OUT"
    lab_pass "$desc"
}

# lab_expect_eq DESC GOT WANT / lab_expect_ne DESC A B
lab_expect_eq() { [ "$2" = "$3" ] || lab_fail "$1: got '$2', want '$3'"; lab_pass "$1 ($2)"; }
lab_expect_ne() { [ "$2" != "$3" ] || lab_fail "$1: both are '$2'"; lab_pass "$1 ($2 != $3)"; }
