#!/usr/bin/env bash
# Start and stop a throwaway coturn (Debian package `coturn`, binary `turnserver`) bound to
# 127.0.0.1, for the integration tests and the demo. Everything lives in one directory the
# caller owns: the generated config, the log, the user database and the pid file.
#
#   scripts/coturn.sh start DIR [--stale-nonce SECONDS]
#       Picks a free listening port and relay port range, writes DIR/turnserver.conf, starts
#       turnserver in the background and returns once it is listening on UDP and TCP (it polls
#       the sockets; no fixed sleeps). Writes DIR/coturn.env with shell assignments:
#       FIRN_COTURN_HOST, _PORT, _USER, _PASS, _REALM, _MIN_PORT, _MAX_PORT, _STALE_NONCE,
#       _PID, _LOG. Long-term credentials are on (user firn / password firn-secret, realm
#       firn.test unless FIRN_COTURN_USER/_PASS/_REALM are set). No TLS/DTLS listeners.
#   scripts/coturn.sh stop DIR
#       Stops the turnserver started for DIR (by its recorded pid only) and waits for it.
set -euo pipefail

usage() { echo "usage: $0 start DIR [--stale-nonce SECONDS] | stop DIR" >&2; exit 2; }
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

# 0 once our turnserver (pid $2) listens on HOST:PORT on both UDP and TCP. Matching the pid
# keeps another process that grabbed the same port from passing for ours.
listening() {
  ss -Hlnup "src $HOST:$1" 2>/dev/null | grep -q "pid=$2," &&
    ss -Hlntp "src $HOST:$1" 2>/dev/null | grep -q "pid=$2,"
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
  local stale=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --stale-nonce) stale="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  if [ ! -x "$TURNSERVER" ]; then
    echo "coturn.sh: turnserver not found (install the Debian package coturn: scripts/install-deps.sh)" >&2
    exit 3
  fi
  mkdir -p "$dir"
  local attempt port minp maxp pid i
  for attempt in 1 2 3 4 5; do
    port="$(pick_port)"
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
      echo "no-cli"
      echo "no-tls"
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
      if listening "$port" "$pid"; then
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
