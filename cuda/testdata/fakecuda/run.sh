#!/usr/bin/env bash
# run.sh - run package cuda's tests on a machine without a GPU, against
# fakecuda.c, a CPU stand-in for libcuda.so.1 (see the comment at its top).
#
#   bash cuda/testdata/fakecuda/run.sh [go test -c flags...]     e.g. -race
#
# It needs cuda.h (cuda/headers.sh fetches it) and a C
# compiler. The tests run with -test.short, which skips the comparison of
# pinned and pageable bandwidth; what depends on real hardware (bandwidth,
# page-locking, DMA timing) is checked here only in the fake's terms.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
[[ -n "${CGO_CFLAGS:-}" ]] || eval "$(bash "$root/cuda/headers.sh")"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# The -I flags of CGO_CFLAGS locate cuda.h.
# shellcheck disable=SC2086
${CC:-cc} -O2 -g -shared -fPIC -pthread $CGO_CFLAGS -Wl,-soname,libcuda.so.1 \
  -o "$out/libcuda.so.1" "$here/fakecuda.c"
cd "$root"
go test -c -tags cuda -o "$out/cuda.test" "$@" ./cuda/
cd "$root/cuda"
LD_LIBRARY_PATH="$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$out/cuda.test" -test.v -test.short
