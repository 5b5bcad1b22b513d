#!/usr/bin/env bash
# STUN benchmark, firn against libnice in the same run.
#
#   scripts/bench.sh [--no-callgrind]
#
# Builds build-bench (release, -Dbenchmarks=true; needs libnice-dev), runs bench/bench_stun
# (cross-check of the two messages, then the median messages/second of 5 timed runs), and,
# when valgrind is installed, counts exact instructions per message with callgrind: each
# operation runs with --count 1000 and --count 11000 and the difference of the two program
# totals is divided by 10000, so setup, process start and exit cancel out.
set -euo pipefail
cd "$(dirname "$0")/.."

callgrind=1
[ "${1:-}" = "--no-callgrind" ] && callgrind=0

dir=build-bench
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" -Dbenchmarks=true -Dtests=false -Dexamples=false \
    -Dbuildtype=release >/dev/null
fi
ninja -C "$dir" bench/bench_stun >/dev/null
bench="$dir/bench/bench_stun"

echo "== bench_stun: wall clock =="
"$bench"

if [ "$callgrind" = 0 ]; then
  exit 0
fi
if ! command -v valgrind >/dev/null; then
  echo "== valgrind not installed: skipping instruction counts (apt-get install valgrind) =="
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Total instructions (Ir) of one callgrind run of `bench --only OP --count N`.
total_ir() {
  local op="$1" n="$2" out="$tmp/cg.$1.$2"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --only "$op" --count "$n" \
    >/dev/null 2>"$out.log" || { cat "$out.log" >&2; exit 1; }
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

per_message() {
  local a b
  a=$(total_ir "$1" 1000)
  b=$(total_ir "$1" 11000)
  echo $(((b - a) / 10000))
}

echo
echo "== bench_stun: instructions per message, lower is better (callgrind: (Ir@11000 - Ir@1000) / 10000) =="
fb=$(per_message firn-build)
fv=$(per_message firn-validate)
nb=$(per_message nice-build)
nv=$(per_message nice-validate)
# How much of firn's build is the CSPRNG drawing the transaction ID (OpenSSL RAND_bytes).
valgrind --tool=callgrind --callgrind-out-file="$tmp/rng" --toggle-collect=firn_random_default \
  "$bench" --only firn-build --count 10000 >/dev/null 2>&1
rng=$(awk '/^(summary|totals):/ { print int($2 / 10000); exit }' "$tmp/rng")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
printf '  %-10s %10s %10s %14s\n' operation firn libnice firn/libnice
printf '  %-10s %10d %10d %14s\n' build "$fb" "$nb" "$(ratio "$fb" "$nb")"
printf '  %-10s %10d %10d %14s\n' validate "$fv" "$nv" "$(ratio "$fv" "$nv")"
echo "  (firn build includes ${rng} instructions for the transaction ID from RAND_bytes)"
target=$(awk -v f="$fv" -v n="$nv" 'BEGIN { print (3 * f <= n) ? "met" : "NOT met" }')
echo "  target: firn validate <= 1/3 of libnice's instructions: ${target}"

# ---------------------------------------------------------------------------------------- #
# ICE benchmark (bench/bench_ice.c + bench/bench_ice_nice.c): two agents connecting over
# 127.0.0.1, firn on the libuv runtime beside libnice 0.1.21. Instructions per connection:
# `cycle --count N` (create two agents, connect, free both) under callgrind with N = 10 and
# N = 40, (Ir@40 - Ir@10) / 30, so process start-up and one-time initialisation cancel.
# bench_ice then runs the wall-clock, CPU and memory measurements, each in a fresh process,
# and prints the whole table with the issue's targets.
ninja -C "$dir" bench/bench_ice bench/bench_ice_nice >/dev/null
ice="$dir/bench/bench_ice"
ice_nice="$dir/bench/bench_ice_nice"

ice_total_ir() {
  local exe="$1" n="$2" out="$tmp/cg.ice.$(basename "$1").$2"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$exe" cycle --ta 20 --count "$n" \
    >/dev/null 2>"$out.log" || { cat "$out.log" >&2; exit 1; }
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}
ice_per_conn() {
  local a b
  a=$(ice_total_ir "$1" 10)
  b=$(ice_total_ir "$1" 40)
  echo $(((b - a) / 30))
}

echo
echo "== bench_ice: firn beside libnice (instructions: callgrind, (Ir@40 - Ir@10) / 30 connections) =="
ice_ir_firn=$(ice_per_conn "$ice")
ice_ir_nice=$(ice_per_conn "$ice_nice")
"$ice" --nice "$ice_nice" --ir-firn "$ice_ir_firn" --ir-nice "$ice_ir_nice"
