#!/usr/bin/env bash
# kill_test.sh [KILLS] - kill safety and full/read-only disks, on models/tiny (test robust_kill_safety).
# 1. SIGKILL at KILLS random moments (default 7) each of: a generate run, a training run that
#    writes a checkpoint every step, a batch of 3 jobs, a `vidgen convert` to Q4_K (over an
#    earlier file every other time). After each kill, every file visible under
#    its final name is complete: byte-identical to the uninterrupted run's (vidgen.json/batch.json:
#    valid JSON; ckpt.safetensors and model/model.safetensors, exported at every checkpoint: whole
#    safetensors files; log.jsonl: every finished line JSON);
#    then a rerun (--overwrite / --resume / the same batch command) gives the uninterrupted output.
# 2. A full disk (a 96 KiB tmpfs when mount works, else `ulimit -f` with SIGXFSZ ignored) and a
#    read-only folder (a tmpfs remounted read-only, else chmod 555 when not root): exit 1, an error
#    naming the path, no vidgen.json or temporary file, an earlier output in the same place untouched.
# KILL_NO_MOUNT=1 forces the fallbacks. Prints one line per part; exit 1 on the first violation.
set -u
cd "$(dirname "$0")/.."
KILLS=${1:-7}
V=${VIDGEN_BIN:-build/vidgen}
[ -x "$V" ] || { echo "kill_test: $V not built"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/vgkill.XXXXXX")
MNT=""
cleanup() { [ -n "$MNT" ] && { umount "$MNT/full" 2>/dev/null; umount "$MNT/ro" 2>/dev/null; }; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "kill_test: $*"; exit 1; }
RANDOM=${KILL_SEED:-12345}

# milliseconds -> "0.123"
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
now_ms() { date +%s%3N; }

json_ok() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; }
jsonl_ok() { python3 -c '
import json,sys
d=open(sys.argv[1]).read()
for l in d.split("\n")[:-1]:
    if l.strip(): json.loads(l)' "$1" 2>/dev/null; }
st_ok() { python3 -c '
import json,struct,sys
b=open(sys.argv[1],"rb").read()
n=struct.unpack("<Q",b[:8])[0]; h=json.loads(b[8:8+n])
end=max([v["data_offsets"][1] for k,v in h.items() if k!="__metadata__"]+[0])
sys.exit(0 if 8+n+end==len(b) else 1)' "$1" 2>/dev/null; }

# every file of $1 visible under a final name is whole (identical to $2's, or valid)
check_visible() {
  local out=$1 ref=$2 what=$3 f rel
  [ -d "$out" ] || return 0
  while IFS= read -r f; do
    rel=${f#"$out"/}
    case $rel in
      *.tmp.*|*.tmp) continue ;;
      vidgen.json|*/vidgen.json|batch.json) json_ok "$f" || fail "$what: $rel is not valid JSON after the kill" ;;
      log.jsonl) jsonl_ok "$f" || fail "$what: $rel has a broken line after the kill" ;;
      ckpt.safetensors|model/model.safetensors) st_ok "$f" || fail "$what: $rel is a partial safetensors file after the kill" ;;
      model/config.json) json_ok "$f" || fail "$what: $rel is not valid JSON after the kill" ;;
      *) [ -f "$ref/$rel" ] || fail "$what: $rel exists after the kill but not in the uninterrupted run"
         cmp -s "$f" "$ref/$rel" || fail "$what: $rel is visible but differs from the uninterrupted run (half-written?)" ;;
    esac
  done < <(find "$out" -type f)
}

# the files of $1 and $2 are the same set and identical (but per-run JSON)
same_tree() {
  local a=$1 b=$2 what=$3 la lb f
  la=$(cd "$a" && find . -type f | grep -v '\.tmp' | sort); lb=$(cd "$b" && find . -type f | grep -v '\.tmp' | sort)
  [ "$la" = "$lb" ] || fail "$what: file lists differ after the rerun: [$la] vs [$lb]"
  for f in $la; do
    case $f in */vidgen.json|./batch.json|./log.jsonl|./ckpt.safetensors) continue ;; esac
    cmp -s "$a/$f" "$b/$f" || fail "$what: $f differs from the uninterrupted run after the rerun"
  done
}

# kill_at CMD... : starts CMD, SIGKILLs it after a random delay in [0, DUR_MS]
kill_at() {
  local ms=$((RANDOM % (DUR_MS + 1)))
  "$@" >/dev/null 2>&1 &
  local pid=$!
  sleep "$(secs $ms)"
  kill -KILL $pid 2>/dev/null
  wait $pid 2>/dev/null
  echo $ms
}

if [ -z "${KILL_DISK_ONLY:-}" ]; then
# ---- 1a. generate -----------------------------------------------------------------------------
GEN=(--model models/tiny -q -p "a big red ball bouncing on a blue background" --frames 24 --steps 10 --seed 7
     --format apng,gif --sheet --upscale 4 -t 1)
t0=$(now_ms); $V "${GEN[@]}" --out "$T/gref" >/dev/null 2>&1 || fail "generate: reference run failed"; DUR_MS=$(( $(now_ms) - t0 ))
hit=0
for ((i = 1; i <= KILLS; i++)); do
  o=$T/g$i
  ms=$(kill_at $V "${GEN[@]}" --out "$o")
  check_visible "$o" "$T/gref" "generate kill $i at ${ms} ms"
  [ -d "$o" ] && [ -n "$(ls "$o" 2>/dev/null)" ] && hit=$((hit + 1))
  $V "${GEN[@]}" --out "$o" --overwrite >/dev/null 2>&1 || fail "generate kill $i: rerun failed"
  same_tree "$o" "$T/gref" "generate kill $i at ${ms} ms"
done
echo "generate: $KILLS kills in 0..${DUR_MS} ms ($hit left files behind), every visible file whole, reruns identical"

# ---- 1b. training checkpoints -----------------------------------------------------------------
TR=(train --config models/configs/tiny.train.json --steps 12 --ckpt-every 1 --seed 3 -q -t 1)
t0=$(now_ms); $V "${TR[@]}" --out "$T/tref" >/dev/null 2>&1 || fail "train: reference run failed"; DUR_MS=$(( $(now_ms) - t0 ))
nres=0
for ((i = 1; i <= KILLS; i++)); do
  o=$T/t$i
  ms=$(kill_at $V "${TR[@]}" --out "$o")
  check_visible "$o" "$T/tref" "train kill $i at ${ms} ms"
  if [ -f "$o/ckpt.safetensors" ]; then
    $V "${TR[@]}" --out "$o" --resume >/dev/null 2>"$T/err" || fail "train kill $i: --resume failed: $(cat "$T/err")"
    nres=$((nres + 1))
  else
    rm -rf "$o"; $V "${TR[@]}" --out "$o" >/dev/null 2>"$T/err" || fail "train kill $i: rerun failed: $(cat "$T/err")"
  fi
  same_tree "$o" "$T/tref" "train kill $i at ${ms} ms"
done
echo "train: $KILLS kills in 0..${DUR_MS} ms ($nres resumed from a checkpoint), checkpoints whole, final model identical"
# the kill between the last step's checkpoint and its model export, made on purpose: a run of 11
# steps (model/ of step 11) given the 12-step checkpoint; --resume must export step 12's model
$V "${TR[@]}" --steps 11 --out "$T/tlast" >/dev/null 2>&1 || fail "train: 11-step run failed"
cp "$T/tref/ckpt.safetensors" "$T/tlast/ckpt.safetensors"
$V "${TR[@]}" --out "$T/tlast" --resume >/dev/null 2>"$T/err" || fail "train: resume at the last step failed: $(cat "$T/err")"
cmp -s "$T/tlast/model/model.safetensors" "$T/tref/model/model.safetensors" || fail "train: resumed at the last step, model/ is not the final model"
echo "train: resumed from the last step's checkpoint, model/ exported (the final model)"

# ---- 1c. batch --------------------------------------------------------------------------------
printf '%s\n' '{"name": "a", "prompt": "a big red ball moving right on a blue background", "seed": 1, "frames": 12, "steps": 8}' \
  '{"name": "b", "prompt": "a small green square moving up on a black background", "seed": 2, "frames": 12, "steps": 8, "format": "apng,gif"}' \
  '{"name": "c", "prompt": "a big white triangle bouncing on a gray background", "seed": 3, "frames": 12, "steps": 8, "upscale": 2}' > "$T/jobs.jsonl"
BA=(batch "$T/jobs.jsonl" --model models/tiny -q -t 1)
t0=$(now_ms); $V "${BA[@]}" --out "$T/bref" >/dev/null 2>&1 || fail "batch: reference run failed"; DUR_MS=$(( $(now_ms) - t0 ))
for ((i = 1; i <= KILLS; i++)); do
  o=$T/b$i
  ms=$(kill_at $V "${BA[@]}" --out "$o")
  check_visible "$o" "$T/bref" "batch kill $i at ${ms} ms"
  $V "${BA[@]}" --out "$o" >/dev/null 2>"$T/err" || fail "batch kill $i: rerun failed: $(cat "$T/err")"
  same_tree "$o" "$T/bref" "batch kill $i at ${ms} ms"
done
echo "batch: $KILLS kills in 0..${DUR_MS} ms, every visible file whole, reruns identical"

# ---- 1d. vidgen convert -----------------------------------------------------------------------
# a 12 MiB safetensors of six 256x2048 f32 matrices (deterministic), converted to Q4_K (~0.5 s on
# one thread); every other kill lands on a folder holding an earlier Q8_0 conversion under the
# final name, which must survive whole (it or the finished new file, nothing in between)
python3 -c '
import array, json, random, struct, sys
random.seed(5)
hdr, blobs, off = {}, [], 0
for i in range(6):
    b = array.array("f", [random.uniform(-1, 1) for _ in range(256 * 2048)]).tobytes()
    hdr["blocks.%d.ffn.weight" % i] = {"dtype": "F32", "shape": [256, 2048], "data_offsets": [off, off + len(b)]}
    off += len(b); blobs.append(b)
h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))' "$T/cv.safetensors" || fail "convert: input"
CV=(convert "$T/cv.safetensors" --type q4_k -t 1)
mkdir -p "$T/cref" "$T/cold"
t0=$(now_ms); $V "${CV[@]}" --out "$T/cref/w.gguf" >/dev/null 2>&1 || fail "convert: reference run failed"; DUR_MS=$(( $(now_ms) - t0 ))
$V convert "$T/cv.safetensors" --type q8_0 -t 1 --out "$T/cold/w.gguf" >/dev/null 2>&1 || fail "convert: the earlier q8_0 run failed"
nold=0; nnew=0
for ((i = 1; i <= KILLS; i++)); do
  o=$T/c$i; mkdir -p "$o"
  [ $((i % 2)) = 0 ] && cp "$T/cold/w.gguf" "$o/w.gguf"
  ms=$(kill_at $V "${CV[@]}" --out "$o/w.gguf")
  if [ -e "$o/w.gguf" ]; then
    if cmp -s "$o/w.gguf" "$T/cref/w.gguf"; then nnew=$((nnew + 1))
    elif [ $((i % 2)) = 0 ] && cmp -s "$o/w.gguf" "$T/cold/w.gguf"; then nold=$((nold + 1))
    else fail "convert kill $i at ${ms} ms: w.gguf is neither the earlier file nor the finished conversion (half-written?)"; fi
  fi
  for f in "$o"/*; do
    case $(basename "$f") in w.gguf|*.tmp.*) ;; *) fail "convert kill $i: unexpected file $(basename "$f")" ;; esac
  done
  $V "${CV[@]}" --out "$o/w.gguf" >/dev/null 2>"$T/err" || fail "convert kill $i: rerun failed: $(cat "$T/err")"
  cmp -s "$o/w.gguf" "$T/cref/w.gguf" || fail "convert kill $i at ${ms} ms: the rerun's file differs from the uninterrupted run's"
done
echo "convert: $KILLS kills in 0..${DUR_MS} ms ($nnew after the file was complete, $nold with the earlier file intact), never a partial w.gguf, reruns byte-identical"

fi
# ---- 2. full disk, read-only folder -----------------------------------------------------------
SMALL=(--model models/tiny -q -p "a small red ball moving left on a black background" --frames 2 --steps 1 -t 1)
BIG=(--model models/tiny -q -p "a big red ball bouncing on a blue background" --frames 40 --steps 1 --upscale 8 --format apng,gif -t 1)
mkdir -p "$T/mnt/full" "$T/mnt/ro"
mode=fallback
if [ -z "${KILL_NO_MOUNT:-}" ] && [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=96k tmpfs "$T/mnt/full" 2>/dev/null; then MNT=$T/mnt; mode=tmpfs; fi
$V "${SMALL[@]}" --out "$T/mnt/full/earlier" >/dev/null 2>&1 || fail "full disk: the small earlier run failed"
cp -r "$T/mnt/full/earlier" "$T/earlier.copy"
if [ $mode = tmpfs ]; then
  $V "${BIG[@]}" --out "$T/mnt/full/g" >"$T/out" 2>&1; rc=$?
else
  (trap '' XFSZ; ulimit -f 64; exec $V "${BIG[@]}" --out "$T/mnt/full/g") >"$T/out" 2>&1; rc=$?
fi
[ $rc = 1 ] || fail "full disk ($mode): exit $rc, want 1: $(head -3 "$T/out")"
grep -q "vidgen: error:.*$T/mnt/full/g" "$T/out" || fail "full disk ($mode): the error does not name the path: $(head -3 "$T/out")"
[ -e "$T/mnt/full/g/vidgen.json" ] && fail "full disk: vidgen.json written by a failed run"
find "$T/mnt/full" -name '*.tmp*' | grep -q . && fail "full disk: temporary files left: $(find "$T/mnt/full" -name '*.tmp*')"
diff -r "$T/mnt/full/earlier" "$T/earlier.copy" >/dev/null || fail "full disk: the earlier output changed"
msg_full=$(grep -m1 'vidgen: error:' "$T/out")
if [ $mode = tmpfs ]; then
  mount -t tmpfs -o size=1m tmpfs "$T/mnt/ro" || fail "read-only: mount"
  $V "${SMALL[@]}" --out "$T/mnt/ro/earlier" >/dev/null 2>&1 || fail "read-only: the earlier run failed"
  mount -o remount,ro "$T/mnt/ro" || fail "read-only: remount"
elif [ "$(id -u)" != 0 ]; then
  $V "${SMALL[@]}" --out "$T/mnt/ro/earlier" >/dev/null 2>&1 || fail "read-only: the earlier run failed"
  chmod -R a-w "$T/mnt/ro"
else
  echo "full disk ($mode): exit 1 naming the path, nothing partial, earlier output untouched ($msg_full)"
  echo "read-only folder: skipped (root without mount: permissions do not stop root)"
  exit 0
fi
rm -rf "$T/earlier.copy"; cp -r "$T/mnt/ro/earlier" "$T/earlier.copy"
for dest in "$T/mnt/ro/new" "$T/mnt/ro/earlier"; do
  $V "${SMALL[@]}" --seed 9 --overwrite --out "$dest" >"$T/out" 2>&1; rc=$?
  [ $rc = 1 ] || fail "read-only ($mode) $dest: exit $rc, want 1: $(head -3 "$T/out")"
  grep -q "vidgen: error:.*$dest" "$T/out" || fail "read-only ($mode): the error does not name $dest: $(head -3 "$T/out")"
done
diff -r "$T/mnt/ro/earlier" "$T/earlier.copy" >/dev/null || fail "read-only: the earlier output changed"
[ -e "$T/mnt/ro/new" ] && fail "read-only: $T/mnt/ro/new was created"
echo "full disk ($mode) and read-only folder: exit 1 naming the path, nothing partial, earlier outputs untouched ($msg_full)"
