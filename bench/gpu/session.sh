#!/usr/bin/env bash
# bench/gpu/session.sh - one device session on a GPU machine: the GPU check
# (gpu-bundle/run.sh) then the benchmark (bench/gpu/run.sh), with every
# output gathered under $OUT in at most eight files.
#
# Prepare here:  bash cuda/testdata/gpucheck/build.sh
# Run there:     bash bench/gpu/session.sh     (carry gpu-bundle)
#
# The benchmark's stbench and stbench-cuda are both the cuda build of
# stbench in gpu-bundle (bench/cmd/stbench, which stload does not link).
# Environment: CHECK=0 skips the check, BENCH=0 the benchmark; the
# benchmark's own settings (BUDGET_S, LLAMA_GB, STLOAD_ARGS, ...) pass
# through.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
FINAL=${OUT:-$ROOT/gpu-out}
W=$(mktemp -d /tmp/stload-session.XXXXXX)
mkdir -p "$FINAL" "$W/check" "$W/bench" "$W/bin"

# Find the driver's libcuda.so.1 if the loader does not.
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1'; then
  lib=$(find /usr/lib /usr/lib64 /usr/local/nvidia /usr/local/cuda* -name 'libcuda.so.1' -print -quit 2>/dev/null)
  [[ -n $lib ]] && export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "libcuda.so.1 from ${lib:-nowhere}"
fi

if [[ ${CHECK:-1} == 1 ]]; then
  OUT=$W/check bash gpu-bundle/run.sh
fi

if [[ ${BENCH:-1} == 1 ]]; then
  for b in stbench stbench-cuda; do
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$ROOT/gpu-bundle/stbench" >"$W/bin/$b"
    chmod +x "$W/bin/$b"
  done
  OUT=$W/bench BIN=$W/bin bash bench/gpu/run.sh
fi

for f in check/check.txt bench/results.md bench/results.json bench/trials.jsonl bench/machine.txt; do
  [[ -f $W/$f ]] && cp "$W/$f" "$FINAL/"
done
tar czf "$FINAL/logs.tgz" -C "$W" check bench 2>/dev/null
echo "== summary"
cat "$W/check/check.txt" 2>/dev/null
