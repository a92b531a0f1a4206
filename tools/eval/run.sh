#!/bin/sh
# Renders and scores the evaluation sets of tools/eval/ with one model (README, "The default
# model beside the flipbook"). Usage: tools/eval/run.sh [MODEL_DIR] [OUT_DIR] [THREADS]
# (defaults models/default, /tmp/vidgen-eval, 2). Writes OUT/<set>/ (clips + batch.json) and
# OUT/<set>.json (vidgen score --json); the 120-frame sets are also scored on their first and
# last 30 frames (OUT/<set>_first30, _last30). Then: python3 tools/eval/table.py OUT
# SCORE_ONLY=1 scores the clips already in OUT again (after a change to vidgen score).
set -e
MODEL=${1:-models/default}
OUT=${2:-/tmp/vidgen-eval}
T=${3:-2}
V=${VIDGEN:-build/vidgen}
mkdir -p "$OUT"
for s in w2_f16 w2_f30 w0_f16 w0_f30 w2_f60 w2_f120 w0_f120; do
  if [ -z "$SCORE_ONLY" ]; then
    "$V" batch "tools/eval/$s.jsonl" --model "$MODEL" --out "$OUT/$s" -t "$T" -q > "$OUT/$s.batch.txt"
  fi
  "$V" score "$OUT/$s" --json "$OUT/$s.json" > "$OUT/$s.score.txt"
done
for s in w2_f120 w0_f120; do
  for part in first30 last30; do
    rm -rf "$OUT/${s}_$part"
    for c in "$OUT/$s"/p*; do
      n=$(basename "$c"); mkdir -p "$OUT/${s}_$part/$n"
      cp "$c/vidgen.json" "$OUT/${s}_$part/$n/"
      if [ $part = first30 ]; then a=1; else a=91; fi
      i=0; while [ $i -lt 30 ]; do
        f=$(printf 'frame_%04d.png' $((a + i))); ln -sf "$(cd "$c" && pwd)/$f" "$OUT/${s}_$part/$n/$f"; i=$((i + 1))
      done
    done
    "$V" score "$OUT/${s}_$part" --seam 0 --json "$OUT/${s}_$part.json" > "$OUT/${s}_$part.score.txt"
  done
done
echo "scored: $OUT"
