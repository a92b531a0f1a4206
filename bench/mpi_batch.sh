#!/usr/bin/env bash
# bench/mpi_batch.sh - a batch of 8 tiny clips (models/tiny, 32x32, 16 frames, 8 steps, CFG)
# rendered as mpirun -np 2 x 1 thread against one process x 2 threads, best of REPS runs each.
# Then 100 training steps of the tiny config the same three ways.
# Needs the MPI build: make MPI=1. Usage: bench/mpi_batch.sh [REPS]   (prints wall seconds)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
BIN=build-mpi/vidgen
[ -x "$BIN" ] || { echo "mpi_batch.sh: no $BIN (make MPI=1)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=none OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_btl_base_warn_component_unused=0 OMPI_MCA_plm_rsh_agent=false OMPI_MCA_mpi_yield_when_idle=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
{
  echo '{"defaults": {"width": 32, "height": 32, "frames": 16, "steps": 8}}'
  for i in 1 2 3 4 5 6 7 8; do echo "{\"name\": \"c$i\", \"prompt\": \"a big red ball moving right on a blue background\", \"seed\": $i}"; done
} > "$T/jobs.jsonl"
best() { sort -n | head -1; }
run() { # label, command...
  local l=$1; shift
  for r in $(seq "$REPS"); do
    rm -rf "$T/out"
    local t0=$(date +%s.%N)
    "$@" > "$T/log" 2>&1 || { cat "$T/log" >&2; exit 1; }
    grep -q "batch: 8 done" "$T/log" || { echo "not 8 clips done:" >&2; cat "$T/log" >&2; exit 1; }
    echo "$(date +%s.%N) - $t0" | bc
  done | best | xargs printf "%-28s %.2f s\n" "$l"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run "1 process x 1 thread" env OMP_NUM_THREADS=1 $BIN batch "$T/jobs.jsonl" --out "$T/out" --model models/tiny -q
run "1 process x 2 threads" env OMP_NUM_THREADS=2 $BIN batch "$T/jobs.jsonl" --out "$T/out" --model models/tiny -q
run "mpirun -np 1 x 2 threads" env OMP_NUM_THREADS=2 mpirun -q -np 1 $BIN batch "$T/jobs.jsonl" --out "$T/out" --model models/tiny -q
run "mpirun -np 2 x 1 thread" env OMP_NUM_THREADS=1 mpirun -q -np 2 $BIN batch "$T/jobs.jsonl" --out "$T/out" --model models/tiny -q
# training, tiny config, batch 8 (2 gradient groups), 100 steps
run1() { local l=$1; shift; for r in $(seq "$REPS"); do rm -rf "$T/tr"; local t0=$(date +%s.%N); "$@" > "$T/log" 2>&1 || { cat "$T/log" >&2; exit 1; }; echo "$(date +%s.%N) - $t0" | bc; done | best | xargs printf "%-28s %.2f s\n" "$l"; }
TR="train --config models/configs/tiny.train.json --steps 100 --batch 8 --out $T/tr -q"
run1 "train 1 process x 1 thread" env OMP_NUM_THREADS=1 $BIN $TR
run1 "train 1 process x 2 threads" env OMP_NUM_THREADS=2 $BIN $TR
run1 "train mpirun -np 2 x 1 thread" env OMP_NUM_THREADS=1 mpirun -q -np 2 $BIN $TR
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
