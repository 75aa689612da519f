#!/usr/bin/env bash
# bench/gpu/build.sh - build, on a machine with Go, the two binaries that
# bench/gpu/run.sh runs on a GPU machine without Go:
#
#   bench/gpu/bin/stbench        pure Go (CGO_ENABLED=0): gen, warm, ceiling, report
#   bench/gpu/bin/stbench-cuda   -tags cuda (cgo, links libcuda.so.1 at run time):
#                                gpu-ceiling, gpu-trial
#
# The cuda build needs cuda.h and the libcuda link stub; on a machine without
# the CUDA toolkit, cuda/headers.sh fetches them.
# bench/gpu/bin is git-ignored: carry it to the GPU machine with the tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench/gpu/bin
# -s -w: no symbol tables; the binaries travel with the tree (64 MiB limit).
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bench/gpu/bin/stbench ./bench/cmd/stbench
if [[ -z "${CGO_CFLAGS:-}" ]] || ! grep -q -- -I <<<"${CGO_CFLAGS:-}"; then
  eval "$(bash cuda/headers.sh)"
fi
go build -tags cuda -trimpath -ldflags "-s -w" -o bench/gpu/bin/stbench-cuda ./bench/cmd/stbench
ls -l bench/gpu/bin
# Which glibc the cuda binary needs: the GPU machine's must be at least this.
if command -v objdump >/dev/null; then
  echo "stbench-cuda needs: $(objdump -T bench/gpu/bin/stbench-cuda | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)"
fi
