#!/usr/bin/env bash
# Run the STUN libFuzzer target for MINUTES (default 5).
#
#   scripts/fuzz.sh [MINUTES] [extra libFuzzer flags...]
#
# Configures a clang build in build-fuzz (-Dfuzzing=true, library instrumented with
# -fsanitize=fuzzer-no-link,address,undefined), copies the seed corpus fuzz/corpus/stun to
# build-fuzz/corpus-stun (new inputs the fuzzer finds go there, the committed seeds stay
# untouched) and fuzzes on all cores. Crashes, leaks and timeouts are written to
# fuzz/artifacts/ (gitignored); reproduce one with
#   build-fuzz/fuzz/fuzz_stun fuzz/artifacts/crash-<sha1>
# or, without clang, with the replay test binary from any test build:
#   build-test/fuzz/fuzz_stun_replay fuzz/artifacts/crash-<sha1>
# Exit status: 0 when the run found nothing, 1 when it found something.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${1:-5}"
shift || true
case "$minutes" in
  ''|*[!0-9]*) echo "usage: $0 [MINUTES] [libFuzzer flags...]" >&2; exit 2 ;;
esac

dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzzing=true -Dtests=false -Dexamples=false \
    -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$dir" fuzz/fuzz_stun

corpus="$dir/corpus-stun"
mkdir -p "$corpus" fuzz/artifacts
cp -n fuzz/corpus/stun/* "$corpus/" 2>/dev/null || true

jobs="$(nproc)"
seconds=$((minutes * 60))
log="$dir/fuzz-stun.log"
echo "== fuzz_stun: ${minutes} min on ${jobs} workers, corpus $corpus, log $log =="
before="$(find fuzz/artifacts -type f | sort)"
# -fork keeps fuzzing after a finding; each crash is saved under fuzz/artifacts/.
"$dir/fuzz/fuzz_stun" "$corpus" \
  -max_total_time="$seconds" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
  -fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
  -artifact_prefix=fuzz/artifacts/ -print_final_stats=1 "$@" 2>&1 | tee "$log" | \
  grep -E '^#[0-9]+: cov|INFO: fuzzed|ERROR|SUMMARY|artifact' || true
new="$(comm -13 <(echo "$before") <(find fuzz/artifacts -type f | sort) | sed '/^$/d')"

# Executions per second over the whole run (the fork-mode status lines carry exec/s).
last=$(grep -E '^#[0-9]+: cov' "$log" | tail -1 || true)
echo "== last status: ${last:-none} =="
if [ -n "$last" ]; then
  echo "$last" | awk '{ n = substr($1, 2) + 0; for (i = 1; i < NF; i++) if ($i == "time:") t = $(i + 1) + 0;
    if (t > 0) printf "== %d executions in %d s: %d exec/s on average over all workers ==\n", n, t, n / t }'
fi
if [ -n "$new" ]; then
  echo "== fuzz_stun found something; reproducers: =="
  echo "$new"
  exit 1
fi
echo "== fuzz_stun: no findings =="
exit 0
