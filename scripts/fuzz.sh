#!/usr/bin/env bash
# Run a libFuzzer target for MINUTES (default 5).
#
#   scripts/fuzz.sh [MINUTES] [TARGET] [extra libFuzzer flags...]
#
# TARGET is fuzz_stun (default: parser, accessors, integrity, re-encoding), fuzz_stun_build
# (the builder driven by arbitrary arguments), fuzz_stun_client (the transaction layer fed
# hostile responses), fuzz_candidate (RFC 8839 SDP attribute parsers), fuzz_agent (the ICE
# agent fed arbitrary datagrams, streams and harness-signed checks), fuzz_turn (the TURN
# client fed server datagrams and stream bytes), fuzz_dtls (DTLS endpoint, fingerprint and
# setup parsers, SRTP unprotect), fuzz_sdp (the whole-session SDP parser and formatter) or
# all (each target in turn, MINUTES each).
# Configures a clang build in build-fuzz (or $FUZZ_BUILD_DIR; -Dfuzzing=true, library
# instrumented with -fsanitize=fuzzer-no-link,address,undefined), copies the target's seed
# corpus (fuzz/corpus/<name>) to
# build-fuzz/corpus-TARGET (new inputs the fuzzer finds go there, the committed seeds stay
# untouched) and fuzzes on all cores (or $FUZZ_JOBS). Crashes, leaks and timeouts are written to
# fuzz/artifacts/ (gitignored); reproduce one with
#   build-fuzz/fuzz/TARGET fuzz/artifacts/crash-<sha1>
# or, without clang, with the replay test binary from any test build:
#   build-test/fuzz/TARGET_replay fuzz/artifacts/crash-<sha1>
# Exit status: 0 when the run found nothing, 1 when it found something.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(fuzz_stun fuzz_stun_build fuzz_stun_client fuzz_candidate fuzz_agent fuzz_turn fuzz_dtls
             fuzz_sdp)
usage() {
  local names
  names="$(IFS='|'; echo "${all_targets[*]}")"
  echo "usage: $0 [MINUTES] [$names|all] [libFuzzer flags...]" >&2
  exit 2
}
minutes="${1:-5}"
shift || true
case "$minutes" in
  ''|*[!0-9]*) usage ;;
esac
target="fuzz_stun"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  target="$1"
  shift
fi
case "$target" in
  all) targets=("${all_targets[@]}") ;;
  *)
    targets=()
    for t in "${all_targets[@]}"; do [ "$t" = "$target" ] && targets=("$t"); done
    [ ${#targets[@]} -eq 1 ] || usage
    ;;
esac

dir="${FUZZ_BUILD_DIR:-build-fuzz}"
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzzing=true -Dtests=false -Dexamples=false \
    -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$dir" "${targets[@]/#/fuzz/}"

jobs="${FUZZ_JOBS:-$(nproc)}"
seconds=$((minutes * 60))
mkdir -p fuzz/artifacts
found=0
for t in "${targets[@]}"; do
  corpus="$dir/corpus-${t#fuzz_}"
  case "$t" in
    fuzz_stun|fuzz_stun_build) seeds=fuzz/corpus/stun ;;
    *) seeds="fuzz/corpus/${t#fuzz_}" ;;
  esac
  mkdir -p "$corpus"
  cp -n "$seeds"/* "$corpus/" 2>/dev/null || true
  log="$dir/$t.log"
  echo "== $t: ${minutes} min on ${jobs} workers, corpus $corpus, log $log =="
  before="$(find fuzz/artifacts -type f | sort)"
  # -fork keeps fuzzing after a finding; each crash is saved under fuzz/artifacts/.
  "$dir/fuzz/$t" "$corpus" \
    -max_total_time="$seconds" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
    -fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -artifact_prefix=fuzz/artifacts/ -print_final_stats=1 "$@" 2>&1 | tee "$log" | \
    grep -E '^#[0-9]+: cov|INFO: fuzzed|ERROR|SUMMARY|artifact' || true
  new="$(comm -13 <(echo "$before") <(find fuzz/artifacts -type f | sort) | sed '/^$/d')"

  # Fork mode's status lines show exec/s per job interval; the run's average is the figure
  # worth comparing.
  last=$(grep -E '^#[0-9]+: cov' "$log" | tail -1 || true)
  echo "== $t: last status: ${last:-none} =="
  if [ -n "$last" ]; then
    echo "$last" | awk -v t="$t" '{ n = substr($1, 2) + 0;
      for (i = 1; i < NF; i++) if ($i == "time:") s = $(i + 1) + 0;
      if (s > 0) printf "== %s: %d executions in %d s: %d exec/s on average over all workers ==\n", t, n, s, n / s }'
  fi
  if [ -n "$new" ]; then
    echo "== $t found something; reproducers: =="
    echo "$new"
    found=1
  else
    echo "== $t: no findings =="
  fi
done
exit "$found"
