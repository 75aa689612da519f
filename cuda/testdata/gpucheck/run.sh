#!/usr/bin/env bash
# cuda/testdata/gpucheck/run.sh - the GPU check, run on the GPU machine from the
# repository root as gpu-bundle/run.sh (cuda/testdata/gpucheck/build.sh builds the
# bundle and copies this file there). It needs no Go and no network.
#
# Steps, each logged with PASS/FAIL to $OUT/check.txt (the run goes on after
# a failure so one run finds every problem):
#   1. the libcuda symbols the binaries import all exist in this driver;
#   2. the cuda package's tests, with LD_BIND_NOW=1;
#   3. checkpoints generated with `stbench gen` (Llama-shaped, one file
#      and four shards), loaded with `stload load --verify` onto cuda:0:
#      whole, converted to F32 and F16, split by columns between the GPU and
#      the CPU (2-D copies), split by rows, mapped per layer, and the
#      sharded checkpoint by its index.
# Sizes: CHECK_GB (default 2) per checkpoint.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
B=gpu-bundle
OUT=${OUT:-$B/out}
CHECK_GB=${CHECK_GB:-2}
DATA=${DATA:-/dev/shm/stload-check}
mkdir -p "$OUT" "$DATA"
SUMMARY=$OUT/check.txt
: >"$SUMMARY"
[[ ${BIND_NOW:-1} == 1 ]] && export LD_BIND_NOW=1  # BIND_NOW=0 for the fake driver, which lacks most symbols
fails=0

step() { # step NAME COMMAND...: run, log, record PASS/FAIL
  local name=$1 t0 rc
  shift
  echo "== $name: $*"
  t0=$(date +%s.%N)
  "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  tail -n 25 "$OUT/$name.log"
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if ((rc == 0)); then
    echo "PASS $name (${secs} s)" | tee -a "$SUMMARY"
  else
    echo "FAIL $name (exit $rc, ${secs} s): see $name.log" | tee -a "$SUMMARY"
    fails=$((fails + 1))
  fi
}

{
  date -u '+%Y-%m-%d %H:%M:%S UTC'
  nvidia-smi --query-gpu=index,name,driver_version,memory.total,pcie.link.gen.current,pcie.link.width.current --format=csv
  uname -r
} | tee -a "$SUMMARY"

step symbols bash $B/check-libcuda-symbols.sh $B/stload
step symbols-stbench bash $B/check-libcuda-symbols.sh $B/stbench
step cuda-tests bash -c "cd cuda && ../$B/cuda.test -test.v -test.timeout 240s"

S=$B/stload
step gen-file $B/stbench gen -kind llama -size "${CHECK_GB}GB" -out "$DATA/model.safetensors"
step gen-shards $B/stbench gen -kind sharded -size "${CHECK_GB}GB" -shards 4 -out "$DATA/sharded"
F=$DATA/model.safetensors
step load-whole $S load --device cuda:0 --verify "$F"
step load-pread $S load --device cuda:0 --verify --pread "$F"
step load-f32 $S load --device cuda:0 --verify --dtype f32 "$F"
step load-f16 $S load --device cuda:0 --verify --dtype f16 "$F"
step load-colsplit $S load --device cuda:0 --verify --shard '*proj.weight=1@cuda:0,cpu' "$F"
step load-rowsplit $S load --device cuda:0 --verify --shard '*proj.weight=0@cuda:0,cpu' "$F"
step load-map $S load --device cuda:0 --verify --map 'model.layers.1*=cpu' "$F"
step load-register $S load --device cuda:0 --verify --register "$F"
step load-register-split $S load --device cuda:0 --verify --register --chunk-size 4MiB --shard '*proj.weight=1@cuda:0,cpu' --shard '*embed*=0@cuda:0,cpu' "$F"
step load-sharded $S load --device cuda:0 --verify "$DATA/sharded/model.safetensors.index.json"
step load-json $S load --device cuda:0 --json "$F"
rm -rf "$DATA"

echo "failures: $fails" | tee -a "$SUMMARY"
exit $((fails > 0))
