#!/usr/bin/env bash
# sweep.sh [STEP] - allocation-failure sweep (build-alloc/, ASan + LeakSanitizer): for each
# loader (safetensors, model folder, --config settings, sentencepiece .model and tokenizer.json,
# PNG, dataset manifest) and a whole `vidgen` run of models/tiny, count the allocation calls N
# (VG_ALLOC_COUNT), then fail the k-th for k = 1..N (every STEP-th k of the whole run when
# STEP > 1, plus its first 50 and last 50). Each k must give exit 0 (the failure was absorbed,
# and then a run's frames equal the reference) or exit 1 with one "error:" line, no sanitizer
# or leak report, no crash; a failed run leaves no vidgen.json and no temporary file.
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
  local name=$1 kind=$2 path=$3 n k rc e1=0
  VG_ALLOC_COUNT=$T/n $B/vg_alloc_load "$kind" "$path" 2>"$T/err" || fail "$name: does not load without failures: $(cat "$T/err")"
  n=$(cat "$T/n")
  for ((k = 1; k <= n; k++)); do
    VG_FAIL_ALLOC=$k $B/vg_alloc_load "$kind" "$path" >/dev/null 2>"$T/err"; rc=$?
    check "$name k=$k" $rc "$T/err"
    [ $rc = 1 ] && e1=$((e1 + 1))
  done
  echo "$name: $n allocation calls, k = 1..$n all tried, $e1 exit 1, $((n - e1)) absorbed"
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
