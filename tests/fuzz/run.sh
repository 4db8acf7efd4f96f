#!/usr/bin/env bash
# Runs the compiler fuzzer for SECONDS (default 600) on all cores but one, from
# the seed corpus (tests/fuzz/seeds.py) plus the corpus kept from earlier runs
# in build/fuzz/corpus, and prints the figures: executions, coverage, findings.
# Findings (crash-*, leak-*, timeout-*) land in build/fuzz/findings/; minimize
# one with `build/fuzz/fuzz_compile -minimize_crash=1 -runs=10000 FILE`.
set -uo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TOTAL=${1:-600}
BIN=build/fuzz/fuzz_compile
OUT=build/fuzz
JOBS=${FUZZ_JOBS:-$(( $(nproc) > 2 ? $(nproc) - 1 : 1 ))}
mkdir -p $OUT/corpus $OUT/findings $OUT/logs
rm -rf $OUT/seeds && python3 tests/fuzz/seeds.py $OUT/seeds || exit 1
rm -f $OUT/logs/*.log $OUT/findings/*
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== fuzzing the compiler for ${SECONDS_TOTAL}s with $JOBS worker(s)"
pids=()
for j in $(seq 1 "$JOBS"); do
  # each worker reads the shared corpus dir and writes new inputs into it
  $BIN $OUT/corpus $OUT/seeds -dict=tests/fuzz/triton.dict -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -max_total_time="$SECONDS_TOTAL" -print_final_stats=1 -reload=30 -seed=$j \
    -artifact_prefix=$OUT/findings/ >$OUT/logs/worker$j.log 2>&1 &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
execs=0
for j in $(seq 1 "$JOBS"); do
  n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' $OUT/logs/worker$j.log | grep -o '[0-9]*$')
  execs=$(( execs + ${n:-0} ))
done
last=$(grep -h '#[0-9]*.*cov:' $OUT/logs/worker*.log | sort -t: -k2 -n | tail -1)
edges=$(grep -ho 'Loaded 1 modules *([0-9]*' $OUT/logs/worker1.log | grep -o '[0-9]*$' | head -1)
cov=$(grep -ho 'cov: [0-9]*' $OUT/logs/worker*.log | grep -o '[0-9]*' | sort -n | tail -1)
ft=$(grep -ho 'ft: [0-9]*' $OUT/logs/worker*.log | grep -o '[0-9]*' | sort -n | tail -1)
echo "== fuzz figures: ${SECONDS_TOTAL}s x $JOBS worker(s), $execs executions, coverage ${cov:-?} of ${edges:-?} compiler edges (${ft:-?} features), corpus $(ls $OUT/corpus | wc -l) inputs"
findings=$(ls $OUT/findings | wc -l)
if [ "$rc" != 0 ] || [ "$findings" != 0 ]; then
  echo "== FINDINGS: $findings file(s) in $OUT/findings"; ls $OUT/findings
  for j in $(seq 1 "$JOBS"); do grep -A30 'ERROR\|FINDING\|Sanitizer' $OUT/logs/worker$j.log | head -60; done
  exit 1
fi
echo "== no finding"
