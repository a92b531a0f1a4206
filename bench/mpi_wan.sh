#!/usr/bin/env bash
# bench/mpi_wan.sh - one Wan2.1-1.3B clip at 256x256x17 (5 latent frames of 256 tokens), random
# f16 weights of the real shapes (bench_wan.c writes them: DIT, T5, VAE below), STEPS steps with
# CFG: the DiT seconds per step (vidgen.json timings.step_s_mean) at 1 process x 1 and 2 threads
# and at mpirun -np 2 x 1 thread with the CFG halves and with 2 frame blocks (full attention:
# all K/V gathered); every split is checked to give the one-process frames, and the bytes each
# rank sent are printed (VIDGEN_DIST_STATS=1). Usage: bench/mpi_wan.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-2}
BIN=build-mpi/vidgen
DIT=${DIT:-/tmp/vidgen-bench-wan/wan2.1_t2v_1.3B_fp16.safetensors}
T5=${T5:-/tmp/vidgen-bench-wan/umt5_xxl_fp16.safetensors}
VAE=${VAE:-/tmp/vidgen-bench-wan/wan_2.1_vae.safetensors}
for f in "$BIN" "$DIT" "$T5" "$VAE"; do [ -e "$f" ] || { echo "mpi_wan.sh: no $f (make MPI=1; vidgen_bench wan writes the weights)" >&2; exit 1; }; done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=none OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_btl_base_warn_component_unused=0 OMPI_MCA_plm_rsh_agent=false OMPI_MCA_mpi_yield_when_idle=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ARGS="--diffusion-model $DIT --text-encoder $T5 --vae $VAE -p 'a cat walks on the grass' -W 256 -H 256 --frames 17 --steps $STEPS --seed 1 -q"
run() { # label, out, extra args, launcher...
  local l=$1 o=$2 x=$3; shift 3
  eval VIDGEN_DIST_STATS=1 "$@" $BIN $ARGS $x --out "$T/$o" > "$T/$o.log" 2>&1 || { cat "$T/$o.log" >&2; exit 1; }
  python3 -c "import json,sys; print('%-44s %.2f s per step' % (sys.argv[2], json.load(open(sys.argv[1]))['timings']['step_s_mean']))" "$T/$o/vidgen.json" "$l"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $STEPS steps"
run "1 process x 2 threads" p2 "" env OMP_NUM_THREADS=2
run "1 process x 1 thread" p1 "" env OMP_NUM_THREADS=1
run "mpirun -np 2 x 1 thread, CFG halves" c2 "--cfg-split 1" env OMP_NUM_THREADS=1 mpirun -q -np 2
run "mpirun -np 2 x 1 thread, 2 frame blocks" f2 "--cfg-split 0" env OMP_NUM_THREADS=1 mpirun -q -np 2
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for o in p2 c2 f2; do
  diff -r -x vidgen.json "$T/p1" "$T/$o" > /dev/null || { echo "$o: frames differ from one process" >&2; exit 1; }
  echo "$o: same frames as p1; $(grep -h 'sent' "$T/$o.log" | sed 's/^vidgen: //' | sort | tr '\n' ';')"
done
