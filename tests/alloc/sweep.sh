#!/usr/bin/env bash
# sweep.sh [STEP] - allocation-failure sweep (build-alloc/, ASan + LeakSanitizer): for each
# loader (safetensors, model folder, --config settings, sentencepiece .model and tokenizer.json,
# PNG, dataset manifest, GGUF: a converted models/tiny and the fuzz seeds of every layout),
# `vidgen convert` (safetensors and GGUF in) and a whole `vidgen` run of models/tiny, count the
# allocation calls N (VG_ALLOC_COUNT), then fail the k-th for k = 1..N (every STEP-th k of the
# whole run and of convert when STEP > 1, plus their first 50 and last 50). Each k must give
# exit 0 (the failure was absorbed: a loader's summary equals the reference unless a warning
# names what was skipped; a run's frames and a converted file equal the reference) or exit 1
# with one "error:" line, no sanitizer or leak report, no crash; a failed run leaves no
# vidgen.json, a failed convert no output, neither a temporary file.
# Prints one line per case: name, N, k tried, exit-1 count. Exit 1 on the first violation.
set -u
cd "$(dirname "$0")/../.."
STEP=${1:-1}
B=build-alloc
T=$(mktemp -d "${TMPDIR:-/tmp}/vgalloc.XXXXXX")
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS=detect_leaks=1:exitcode=86:abort_on_error=0:allocator_may_return_null=1
export LSAN_OPTIONS=exitcode=86
NFAIL=0
# KEEP_GOING=1: report every violation (first lines) and exit 1 at the end
fail() { echo "alloc sweep: $*" | head -${KEEP_LINES:-40}; NFAIL=$((NFAIL + 1)); [ -n "${KEEP_GOING:-}" ] || exit 1; }

check() { # name rc errfile
  local name=$1 rc=$2 err=$3
  if grep -qE "Sanitizer|runtime error|SEGV|Aborted" "$err"; then fail "$name: sanitizer report"$'\n'"$(head -40 "$err")"; fi
  case $rc in
    0) ;;
    1) grep -q "error:" "$err" || fail "$name: exit 1 without an error line: $(head -5 "$err")"
       [ "$(grep -c 'error:' "$err")" -le 2 ] || fail "$name: more than one error line: $(head -5 "$err")" ;;
    *) fail "$name: exit $rc"$'\n'"$(head -40 "$err")" ;;
  esac
}

sweep_load() { # name kind path
  local name=$1 kind=$2 path=$3 n k rc e1=0 nw=0
  VG_ALLOC_COUNT=$T/n $B/vg_alloc_load "$kind" "$path" >"$T/ref.out" 2>"$T/err" || fail "$name: does not load without failures: $(cat "$T/err")"
  n=$(cat "$T/n")
  for ((k = 1; k <= n; k++)); do
    VG_FAIL_ALLOC=$k $B/vg_alloc_load "$kind" "$path" >"$T/out" 2>"$T/err"; rc=$?
    check "$name k=$k" $rc "$T/err"
    [ $rc = 1 ] && e1=$((e1 + 1))
    # absorbed: the same load as without failures, or a warning saying what was skipped
    if [ $rc = 0 ] && ! cmp -s "$T/out" "$T/ref.out"; then
      if grep -q "warning:" "$T/err"; then nw=$((nw + 1)); else fail "$name k=$k: silently loaded less: $(cat "$T/out") vs $(cat "$T/ref.out")"; fi
    fi
  done
  echo "$name: $n allocation calls, k = 1..$n all tried, $e1 exit 1, $((n - e1)) absorbed ($nw with a warning naming the skip)"
}

# sweep_convert name in type: `vidgen convert` under the k-th failure (k = 1..N, every STEP-th
# past the first and last 50): exit 0 with the reference's bytes, or exit 1 with one error line
# and neither the output nor a temporary file left
sweep_convert() {
  local name=$1 in=$2 ty=$3 n k rc e1=0 tried=0 o=$T/cv
  mkdir -p $o
  $B/vidgen convert "$in" --out $o/ref.gguf --type $ty -t 1 >/dev/null 2>"$T/err" || fail "$name: reference convert: $(cat "$T/err")"
  VG_ALLOC_COUNT=$T/n $B/vidgen convert "$in" --out $o/cnt.gguf --type $ty -t 1 >/dev/null 2>"$T/err" || fail "$name: count run: $(cat "$T/err")"
  n=$(cat "$T/n")
  for ((k = 1; k <= n; k++)); do
    if [ "$STEP" -gt 1 ] && [ $k -gt 50 ] && [ $k -le $((n - 50)) ] && [ $((k % STEP)) -ne 0 ]; then continue; fi
    rm -f $o/x.gguf
    VG_FAIL_ALLOC=$k $B/vidgen convert "$in" --out $o/x.gguf --type $ty -t 1 >/dev/null 2>"$T/err"; rc=$?
    check "$name k=$k" $rc "$T/err"
    ls -a $o | grep -q 'tmp' && fail "$name k=$k: temporary file left: $(ls -a $o)"
    if [ $rc = 1 ]; then
      e1=$((e1 + 1))
      [ -e $o/x.gguf ] && fail "$name k=$k: failed but $o/x.gguf written"
      grep -q "vidgen: error:" "$T/err" || fail "$name k=$k: no 'vidgen: error:' line"
    else
      cmp -s $o/x.gguf $o/ref.gguf || fail "$name k=$k: exit 0 but the file differs from the reference"
    fi
    tried=$((tried + 1))
  done
  echo "$name: $n allocation calls, $tried k tried (step $STEP), $e1 exit 1, $((tried - e1)) absorbed (same bytes)"
}

# inputs
mkdir -p "$T/in"
printf '{"prompt": "a big red ball bouncing on a blue background", "frames": 3, "steps": 1, "format": "apng", "seed": 4}' > "$T/in/settings.json"
RUN=(--model models/tiny -q -p "a big red ball bouncing on a blue background" --frames 2 --steps 1 --seed 5 --format apng)
$B/vidgen "${RUN[@]}" --out "$T/ref" 2>"$T/err" || fail "reference run: $(cat "$T/err")"
$B/vidgen dataset shapes --out "$T/ds" --clips 2 --size 16 --frames 2 -q 2>"$T/err" || fail "dataset: $(cat "$T/err")"

sweep_load safetensors safetensors models/tiny/model.safetensors
sweep_load model model models/tiny
sweep_load config config "$T/in/settings.json"
sweep_load spm-model spm tests/fuzz/corpus/spm/identity.model
sweep_load spm-json spm tests/fuzz/corpus/spm/tokenizer.json
sweep_load png png "$T/ref/frame_0001.png"
sweep_load manifest manifest "$T/ds"
$B/vidgen convert models/tiny/model.safetensors --out "$T/in/tiny.gguf" --type q4_0 -t 1 >/dev/null 2>"$T/err" || fail "convert: $(cat "$T/err")"
sweep_load gguf-tiny gguf "$T/in/tiny.gguf"
for s in v3_comfy v3_sdcpp v3_llama_t5 v3_kquant v2_quant32 v2_align1; do sweep_load gguf-$s gguf tests/fuzz/corpus/gguf/$s; done
sweep_convert convert-st models/tiny/model.safetensors q8_0
sweep_convert convert-gguf "$T/in/tiny.gguf" q4_k

# the whole run
VG_ALLOC_COUNT=$T/n $B/vidgen "${RUN[@]}" --out "$T/cnt" 2>"$T/err" || fail "count run: $(cat "$T/err")"
n=$(cat "$T/n"); tried=0; e1=0
for ((k = 1; k <= n; k++)); do
  if [ "$STEP" -gt 1 ] && [ $k -gt 50 ] && [ $k -le $((n - 50)) ] && [ $((k % STEP)) -ne 0 ]; then continue; fi
  rm -rf "$T/o"
  VG_FAIL_ALLOC=$k $B/vidgen "${RUN[@]}" --out "$T/o" >/dev/null 2>"$T/err"; rc=$?
  check "run k=$k" $rc "$T/err"
  if [ -d "$T/o" ] && ls -a "$T/o" | grep -q 'tmp'; then fail "run k=$k: temporary file left: $(ls -a "$T/o")"; fi
  if [ $rc = 1 ]; then
    e1=$((e1 + 1))
    [ -e "$T/o/vidgen.json" ] && fail "run k=$k: failed but vidgen.json written"
    grep -q "vidgen: error:" "$T/err" || fail "run k=$k: no 'vidgen: error:' line"
  else
    for f in "$T/ref"/frame_*.png "$T/ref"/clip.apng; do cmp -s "$f" "$T/o/$(basename "$f")" || fail "run k=$k: exit 0 but $(basename "$f") differs"; done
  fi
  tried=$((tried + 1))
done
echo "vidgen run: $n allocation calls, $tried k tried (step $STEP), $e1 exit 1, $((tried - e1)) absorbed"
[ $NFAIL = 0 ] || { echo "alloc sweep: $NFAIL violations"; exit 1; }
