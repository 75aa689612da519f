#!/usr/bin/env bash
# fakecuda-load.sh - prove stload's cuda build end to end on a machine
# without a GPU: build stload with -tags cuda, build the CPU stand-in for
# the driver (cuda/testdata/fakecuda/fakecuda.c, see its comment), and load
# the shipped model and a sharded checkpoint onto "cuda:0" with --verify,
# which reads every tensor back from the (fake) device and compares it with
# the file.
#
#   bash cmd/stload/testdata/fakecuda-load.sh
#
# Needs cuda.h and the link stub (cuda/headers.sh fetches
# them; CGO_CFLAGS/CGO_LDFLAGS already set are used as they are) and a C
# compiler. The fake exports only the symbols package cuda calls, so the
# binary must not run with LD_BIND_NOW. Exit status 0 when every load
# verified.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
[[ -n "${CGO_CFLAGS:-}" ]] || eval "$(bash "$root/cuda/headers.sh")"
unset LD_BIND_NOW
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# shellcheck disable=SC2086
${CC:-cc} -O2 -g -shared -fPIC -pthread $CGO_CFLAGS -Wl,-soname,libcuda.so.1 \
  -o "$out/libcuda.so.1" "$root/cuda/testdata/fakecuda/fakecuda.c"
cd "$root"
go build -tags cuda -o "$out/stload" ./cmd/stload
export LD_LIBRARY_PATH="$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
stload() { timeout 120 "$out/stload" "$@"; }
model=testdata/tiny-llama.safetensors

step() { printf '\n== stload %s\n' "$*"; }

step load --device cuda:0 --verify "$model"
stload load --device cuda:0 --verify "$model"

# Converted on the way, through a small ring (many chunks in flight), with
# a column split (strided 2-D copies) and a tensor mapped to the CPU.
args=(load --device cuda:0 --verify --dtype f32 --chunk-size 8KiB --chunks 4 --streams 2
  --shard '*.o_proj.weight=-1@cuda:0,cuda:0' --shard '*.q_proj.weight=0@cuda:0,cuda:0'
  --map 'lm_head.weight=cpu' "$model")
step "${args[@]}"
stload "${args[@]}"

# A sharded checkpoint, loaded by directory; --json must say verified.
step convert --max-shard-size 100kB "$model" "$out/ckpt"
stload convert --max-shard-size 100kB "$model" "$out/ckpt"
step load --json --verify --device auto "$out/ckpt"
json="$(stload load --json --verify --device auto "$out/ckpt")"
echo "$json"
case "$json" in
  *'"ok":true'*'"device":"cuda:0"'*'"verified":true'*) ;;
  *) echo "fakecuda-load: FAIL: the sharded load did not verify on cuda:0" >&2; exit 1 ;;
esac

# The fake has one device: cuda:1 is a clear error and exit status 1.
step load --device cuda:1 "$model"
set +e
stload load --device cuda:1 "$model"
code=$?
set -e
[[ $code == 1 ]] || { echo "fakecuda-load: FAIL: cuda:1 gave exit $code, want 1" >&2; exit 1; }

# A real CUDA_ERROR_OUT_OF_MEMORY (device memory, then pinned host memory):
# kind OutOfMemory in --json, exit 1, and the message names the device and
# the driver's error once each.
for oom in FAKECUDA_OOM_ALLOC FAKECUDA_OOM_HOST; do
  step "load --json --device cuda:0 $model   ($oom=1)"
  set +e
  json="$(env "$oom=1" timeout 120 "$out/stload" load --json --device cuda:0 "$model")"
  code=$?
  set -e
  echo "$json"
  [[ $code == 1 ]] || { echo "fakecuda-load: FAIL: $oom gave exit $code, want 1" >&2; exit 1; }
  case "$json" in
    *'"ok":false'*'"kind":"OutOfMemory"'*) ;;
    *) echo "fakecuda-load: FAIL: $oom is not kind OutOfMemory" >&2; exit 1 ;;
  esac
  for word in cuda:0 CUDA_ERROR_OUT_OF_MEMORY; do
    n=$(grep -o "$word" <<<"$json" | wc -l)
    [[ $n == 1 ]] || { echo "fakecuda-load: FAIL: $oom names $word $n times, want once" >&2; exit 1; }
  done
done

printf '\nfakecuda-load: ok\n'
