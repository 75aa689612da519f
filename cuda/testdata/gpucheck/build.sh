#!/usr/bin/env bash
# cuda/testdata/gpucheck/build.sh - prepare, on a machine with Go, the GPU check of the cuda
# build, to run on a GPU machine that has the NVIDIA driver but no Go:
#
#   bash cuda/testdata/gpucheck/build.sh   # here: builds gpu-bundle/
#   bash gpu-bundle/run.sh               # there, from the repository root
#
# gpu-bundle/ (git-ignored) gets:
#   stload      the CLI built with -tags cuda (links libcuda.so.1 at run time)
#   stbench     the benchmark harness built with -tags cuda, next to stload so
#               that `stload bench` finds it (also run directly)
#   cuda.test   the cuda package's tests, which only run on a GPU
#   run.sh      the script to run there: it checks that every libcuda symbol
#               the binaries import exists in the installed driver, runs the
#               tests with LD_BIND_NOW=1 (so a missing symbol fails at start,
#               not halfway through a load), generates checkpoints, loads them
#               onto the GPU in every placement mode with --verify (every
#               tensor's bytes read back from the device and compared with
#               the file), and writes a summary to $OUT/check.txt.
#
# CUDA headers and the link stub come from cuda/headers.sh when no
# CUDA toolkit is installed (CGO_CFLAGS without -I).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=gpu-bundle
mkdir -p "$out"
if [[ -z "${CGO_CFLAGS:-}" ]] || ! grep -q -- -I <<<"${CGO_CFLAGS:-}"; then
  eval "$(bash cuda/headers.sh)"
fi
# -s -w keeps the bundle small: it travels with the working tree (64 MiB).
go build -tags cuda -trimpath -ldflags "-s -w" -o "$out/stload" ./cmd/stload
go build -tags cuda -trimpath -ldflags "-s -w" -o "$out/stbench" ./bench/cmd/stbench
go test -c -tags cuda -trimpath -ldflags "-s -w" -o "$out/cuda.test" ./cuda
cp cuda/testdata/check-libcuda-symbols.sh "$out/"
cp cuda/testdata/gpucheck/run.sh "$out/run.sh"
ls -l "$out"
