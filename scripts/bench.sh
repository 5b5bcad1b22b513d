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
