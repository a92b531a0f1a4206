#!/usr/bin/env bash
# run_long.sh SECONDS TARGET... - long background fuzzing (nice -n 19, one job per target, run
# one after the other): build-fuzz/fuzz_<t> on build-fuzz/corpus-<t> (grown across runs) plus the
# seeds; one line per run appended to build-fuzz/long.log: target, seconds, execs, cov, result.
set -u
cd "$(dirname "$0")/../.."
S=$1; shift
for t in "$@"; do
  mkdir -p build-fuzz/corpus-$t && cp -n tests/fuzz/corpus/$t/* build-fuzz/corpus-$t/ 2>/dev/null
  log=build-fuzz/long-$t-$(date +%H%M%S).log
  t0=$(date +%s)
  nice -n 19 ./build-fuzz/fuzz_$t -max_total_time=$S -timeout=25 -rss_limit_mb=2560 -max_len=65536 \
      -print_final_stats=1 -close_fd_mask=3 -artifact_prefix=build-fuzz/crash-$t- \
      build-fuzz/corpus-$t tests/fuzz/corpus/$t > $log 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' $log | awk '{print $2}')
  cov=$(grep -oE 'cov: [0-9]+' $log | tail -1 | awk '{print $2}')
  echo "$t seconds=$(( $(date +%s) - t0 )) execs=${execs:-?} cov=${cov:-?} rc=$rc log=$log" >> build-fuzz/long.log
done
