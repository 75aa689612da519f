#!/usr/bin/env bash
# bench/gpu/fake-run.sh - run the GPU benchmark's Go commands against the
# CPU stand-in for libcuda (cuda/testdata/fakecuda), so that every code path
# the GPU script takes (ceilings with the contention run, trials of every
# variant: fill-only, cold with and without O_DIRECT, lazy pinning, the
# mapped allocator, the LLC ring, 16 readers, a timeline) runs here before
# device time is spent on it. The figures mean nothing: "device memory" is
# host memory and copies are memcpy on a thread.
#
#   bash bench/gpu/fake-run.sh [DIR]      (DIR: where the test file goes, default a temp dir)
#
# It fails if a command fails or a trial reports an error or a failed check.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
if [[ -z "${CGO_CFLAGS:-}" ]]; then
  eval "$(bash cuda/headers.sh)"
fi
W=$(mktemp -d)
DATA=${1:-$W}
trap 'rm -rf "$W"' EXIT
# shellcheck disable=SC2086
${CC:-cc} -O2 -shared -fPIC -pthread $CGO_CFLAGS -Wl,-soname,libcuda.so.1 \
  -o "$W/libcuda.so.1" cuda/testdata/fakecuda/fakecuda.c
go build -o "$W/stbench" ./bench/cmd/stbench
go build -tags cuda -o "$W/stbench-cuda" ./bench/cmd/stbench
export LD_LIBRARY_PATH="$W${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
F=$DATA/fake-llama.safetensors
"$W/stbench" gen -kind llama -size 192MiB -out "$F" >"$W/trials.jsonl"
"$W/stbench" warm "$F" >>"$W/trials.jsonl"
echo "== gpu-ceiling (with the contention ceiling)"
"$W/stbench-cuda" gpu-ceiling -file "$F" -sizes 4MiB,16MiB -pageable-sizes 16MiB -streams 1,2 -rounds 1 \
  -bytes-per-run 64MiB -threads 1,2 -pread-bytes 64MiB -shift 0 -cost-sizes 16MiB -dev-alloc 0 \
  -register-file 0 -contention 1,2 -contention-bytes 96MiB | tee -a "$W/trials.jsonl" | grep -o "\"name\":\"[^\"]*\".*\"gbps\":[0-9.]*" | sed "s/,.*gbps/ gbps/"
[[ $(grep -c '"gpu-contention"' "$W/trials.jsonl") == 7 ]] || { echo "contention figures missing"; exit 1; }
trial() {
  echo "== gpu-trial $*"
  "$W/stbench-cuda" gpu-trial -label fake -round 0 "$@" "$F" | tee -a "$W/trials.jsonl"
}
trial -loader stload -verify -timeline "$W/tl"
trial -loader stload_fill -fill-only
trial -loader stload_cold -cold -verify
trial -loader stload_cold_nodirect -cold -direct=false -verify
trial -loader stload_lazy -lazy-pin -verify
trial -loader stload_mapped -host-alloc mapped -verify
trial -loader stload_llc -ring llc -verify
trial -loader stload_r16 -readers 16 -verify
trial -loader stload_register -register -verify
if grep '"kind":"trial"' "$W/trials.jsonl" | grep -q '"error"'; then
  echo "a trial failed"; exit 1
fi
grep '"loader":"stload_cold"' "$W/trials.jsonl" | grep -q '"direct_bytes"' || { echo "the cold trial read nothing with O_DIRECT"; exit 1; }
"$W/stbench" timeline "$W/tl.json" | tail -3
test -s "$W/tl.svg"
"$W/stbench" report -title "fake-driver run (figures meaningless)" -md "$W/results.md" "$W/trials.jsonl" >/dev/null
sed -n '/### GPU loads/,$p' "$W/results.md" | head -30
echo "fake run: ok"
