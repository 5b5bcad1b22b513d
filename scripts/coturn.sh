#!/usr/bin/env bash
# Start and stop a throwaway coturn (Debian package `coturn`, binary `turnserver`) bound to
# 127.0.0.1, for the integration tests and the demo. Everything lives in one directory the
# caller owns: the generated config, the log, the user database and the pid file.
#
#   scripts/coturn.sh start DIR [--stale-nonce SECONDS] [--tls]
#                     [--max-allocate-lifetime S] [--permission-lifetime S] [--channel-lifetime S]
#       Picks a free listening port and relay port range, writes DIR/turnserver.conf, starts
#       turnserver in the background and returns once it is listening on UDP and TCP (it polls
#       the sockets; no fixed sleeps). Writes DIR/coturn.env with shell assignments:
#       FIRN_COTURN_HOST, _PORT, _USER, _PASS, _REALM, _MIN_PORT, _MAX_PORT, _STALE_NONCE,
#       _PID, _LOG. Long-term credentials are on (user firn / password firn-secret, realm
#       firn.test unless FIRN_COTURN_USER/_PASS/_REALM are set). No DTLS listener.
#       --tls adds a TLS listener with a freshly generated self-signed certificate for
#       DNS:turn.firn.test and IP:127.0.0.1 (also usable as the CA) and exports
#       FIRN_COTURN_TLS_PORT, FIRN_COTURN_CA, FIRN_COTURN_TLS_NAME; without it: no TLS.
#       The lifetime options shorten coturn's limits so refreshes happen within seconds;
#       they are exported as FIRN_COTURN_MAX_ALLOCATE_LIFETIME, _PERMISSION_LIFETIME and
#       _CHANNEL_LIFETIME (coturn's defaults, 3600/300/600, when not given).
#   scripts/coturn.sh stop DIR
#       Stops the turnserver started for DIR (by its recorded pid only) and waits for it.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR [--stale-nonce S] [--tls] [--max-allocate-lifetime S] [--permission-lifetime S] [--channel-lifetime S] | stop DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd="$1"
dir="$2"
shift 2

TURNSERVER="${TURNSERVER:-$(command -v turnserver || echo /usr/bin/turnserver)}"
HOST=127.0.0.1
USER_NAME="${FIRN_COTURN_USER:-firn}"
PASSWORD="${FIRN_COTURN_PASS:-firn-secret}"
REALM="${FIRN_COTURN_REALM:-firn.test}"

# 0 if anything is bound to the port on UDP or TCP.
port_busy() {
  [ -n "$(ss -Hlnu "sport = :$1" 2>/dev/null)" ] || [ -n "$(ss -Hlnt "sport = :$1" 2>/dev/null)" ]
}

# 0 once our turnserver (pid $2) listens on HOST:PORT on both UDP and TCP (and on TCP
# HOST:$3 when a TLS port is given). Matching the pid keeps another process that grabbed the
# same port from passing for ours.
listening() {
  ss -Hlnup "src $HOST:$1" 2>/dev/null | grep -q "pid=$2," &&
    ss -Hlntp "src $HOST:$1" 2>/dev/null | grep -q "pid=$2," &&
    { [ -z "${3:-}" ] || ss -Hlntp "src $HOST:$3" 2>/dev/null | grep -q "pid=$2,"; }
}

# A self-signed certificate (its own CA) for the TLS listener.
make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=turn.firn.test" \
    -addext "subjectAltName=DNS:turn.firn.test,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -keyout "$dir/turn-key.pem" -out "$dir/turn-cert.pem" >/dev/null 2>&1
}

pick_port() {
  local p
  while :; do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 20000))
    if ! port_busy "$p"; then echo "$p"; return; fi
  done
}

stop_pid() {
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05 # polling for exit, bounded to 5 s
  done
  kill -KILL "$pid" 2>/dev/null || true
}

start() {
  local stale="" tls="" max_life="" perm_life="" chan_life=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --stale-nonce) stale="$2"; shift 2 ;;
      --tls) tls=1; shift ;;
      --max-allocate-lifetime) max_life="$2"; shift 2 ;;
      --permission-lifetime) perm_life="$2"; shift 2 ;;
      --channel-lifetime) chan_life="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  if [ ! -x "$TURNSERVER" ]; then
    echo "coturn.sh: turnserver not found (install the Debian package coturn: scripts/install-deps.sh)" >&2
    exit 3
  fi
  mkdir -p "$dir"
  if [ -n "$tls" ] && ! make_cert; then
    echo "coturn.sh: could not generate a certificate with openssl" >&2
    exit 1
  fi
  local attempt port tls_port="" minp maxp pid i
  for attempt in 1 2 3 4 5; do
    port="$(pick_port)"
    if [ -n "$tls" ]; then
      tls_port="$(pick_port)"
      [ "$tls_port" != "$port" ] || tls_port="$(pick_port)"
    fi
    minp=$((40000 + (RANDOM % 200) * 100))
    maxp=$((minp + 99))
    {
      echo "listening-ip=$HOST"
      echo "relay-ip=$HOST"
      echo "listening-port=$port"
      echo "min-port=$minp"
      echo "max-port=$maxp"
      echo "lt-cred-mech"
      echo "user=$USER_NAME:$PASSWORD"
      echo "realm=$REALM"
      [ -n "$stale" ] && echo "stale-nonce=$stale"
      [ -n "$max_life" ] && echo "max-allocate-lifetime=$max_life"
      [ -n "$perm_life" ] && echo "permission-lifetime=$perm_life"
      [ -n "$chan_life" ] && echo "channel-lifetime=$chan_life"
      echo "no-cli"
      if [ -n "$tls" ]; then
        echo "tls-listening-port=$tls_port"
        echo "cert=$dir/turn-cert.pem"
        echo "pkey=$dir/turn-key.pem"
      else
        echo "no-tls"
      fi
      echo "no-dtls"
      echo "allow-loopback-peers"
      echo "log-file=$dir/turnserver.log"
      echo "simple-log"
      echo "pidfile=$dir/turnserver.pid"
      echo "userdb=$dir/turndb"
    } >"$dir/turnserver.conf"
    "$TURNSERVER" -c "$dir/turnserver.conf" >"$dir/turnserver.out" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/coturn.pid"
    # Poll the sockets every 50 ms, for at most 10 s.
    for i in $(seq 1 200); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if listening "$port" "$pid" "$tls_port"; then
        {
          echo "FIRN_COTURN_HOST=$HOST"
          echo "FIRN_COTURN_PORT=$port"
          echo "FIRN_COTURN_USER=$USER_NAME"
          echo "FIRN_COTURN_PASS=$PASSWORD"
          echo "FIRN_COTURN_REALM=$REALM"
          echo "FIRN_COTURN_MIN_PORT=$minp"
          echo "FIRN_COTURN_MAX_PORT=$maxp"
          echo "FIRN_COTURN_STALE_NONCE=${stale:-600}"
          echo "FIRN_COTURN_PID=$pid"
          echo "FIRN_COTURN_LOG=$dir/turnserver.log"
          echo "FIRN_COTURN_MAX_ALLOCATE_LIFETIME=${max_life:-3600}"
          echo "FIRN_COTURN_PERMISSION_LIFETIME=${perm_life:-300}"
          echo "FIRN_COTURN_CHANNEL_LIFETIME=${chan_life:-600}"
          if [ -n "$tls" ]; then
            echo "FIRN_COTURN_TLS_PORT=$tls_port"
            echo "FIRN_COTURN_CA=$dir/turn-cert.pem"
            echo "FIRN_COTURN_TLS_NAME=turn.firn.test"
          fi
        } >"$dir/coturn.env"
        echo "coturn.sh: turnserver (pid $pid) listening on $HOST:$port" >&2
        return 0
      fi
      sleep 0.05
    done
    echo "coturn.sh: turnserver did not come up on port $port (attempt $attempt)" >&2
    stop_pid "$pid"
    tail -n 20 "$dir/turnserver.log" "$dir/turnserver.out" >&2 2>/dev/null || true
  done
  rm -f "$dir/coturn.pid"
  exit 1
}

stop() {
  [ -f "$dir/coturn.pid" ] || return 0
  stop_pid "$(cat "$dir/coturn.pid")"
  rm -f "$dir/coturn.pid"
}

case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  *) usage ;;
esac
