#!/usr/bin/env bash
# bench/mpi_clip.sh - one clip split over ranks: models/default (shapes-32: dim 128, 4 layers,
# 4 heads) at SIZE x SIZE (default 64: 256 tokens per frame), 16 frames, STEPS steps, CFG 3,
# temporal window 2; the DiT seconds per step (vidgen.json timings.denoise_s / steps, best of
# REPS) for one process x 1 and 2 threads, mpirun -np 2 x 1 thread with the CFG halves, with
# 2 frame blocks, and with 2 frame blocks and full attention; then the bytes each rank sent
# (VIDGEN_DIST_STATS=1), with every split checked to give the one-process frames.
# Needs the MPI build (make MPI=1). Usage: bench/mpi_clip.sh [REPS] [SIZE] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-2}; SIZE=${2:-64}; STEPS=${3:-4}
BIN=build-mpi/vidgen
[ -x "$BIN" ] || { echo "mpi_clip.sh: no $BIN (make MPI=1)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=none OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_btl_base_warn_component_unused=0 OMPI_MCA_plm_rsh_agent=false OMPI_MCA_mpi_yield_when_idle=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ARGS="-p 'a big red ball moving right on a blue background' -s 1 -m models/default -W $SIZE -H $SIZE --frames 16 --steps $STEPS --cfg-scale 3 --anchor 0 -q"
step_s() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['timings']['denoise_s']/$STEPS)" "$1"; }
run() { # label, out folder, extra args, launcher...
  local l=$1 o=$2 x=$3; shift 3
  for r in $(seq "$REPS"); do
    rm -rf "$T/$o"
    eval VIDGEN_DIST_STATS=1 "$@" $BIN $ARGS $x --out "$T/$o" > "$T/$o.log" 2>&1 || { cat "$T/$o.log" >&2; exit 1; }
    step_s "$T/$o/vidgen.json"
  done | sort -n | head -1 | xargs printf "%-44s %.3f s per step\n" "$l"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $SIZE x $SIZE x 16, $STEPS steps"
run "1 process x 1 thread" p1 "" env OMP_NUM_THREADS=1
run "1 process x 2 threads" p2 "" env OMP_NUM_THREADS=2
run "mpirun -np 2 x 1 thread, CFG halves" c2 "--cfg-split 1" env OMP_NUM_THREADS=1 mpirun -q -np 2
run "mpirun -np 2 x 1 thread, 2 frame blocks" f2 "--cfg-split 0" env OMP_NUM_THREADS=1 mpirun -q -np 2
run "1 process x 1 thread, full attention" a1 "--temporal-window all" env OMP_NUM_THREADS=1
run "mpirun -np 2 x 1 thread, frames, full attn" a2 "--cfg-split 0 --temporal-window all" env OMP_NUM_THREADS=1 mpirun -q -np 2
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for pair in p1:c2 p1:f2 a1:a2; do
  ref=${pair%%:*} o=${pair##*:}
  diff -r -x vidgen.json "$T/$ref" "$T/$o" > /dev/null || { echo "$o: frames differ from one process ($ref)" >&2; exit 1; }
  echo "$o: same frames as $ref; $(grep -h 'sent' "$T/$o.log" | sed 's/^vidgen: //' | sort | tr '\n' ';')"
done
