#!/usr/bin/env bash
# check-libcuda-symbols.sh - on a GPU host, list the symbols a cuda-tagged
# stload binary needs that the installed driver's libcuda.so.1 lacks. Such a
# binary fails to start under LD_BIND_NOW=1 (or later, at the first call
# otherwise) if any is missing; this names all of them at once.
#
#   bash cuda/testdata/check-libcuda-symbols.sh [BINARY]
#
# With BINARY and nm available, the list comes from the binary; otherwise
# from libcuda-imports.txt next to this script. Needs python3 (ctypes).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
list="$(mktemp)"
trap 'rm -f "$list"' EXIT
if [[ $# -ge 1 ]] && command -v nm >/dev/null; then
  nm -D --undefined-only "$1" | awk '$2 ~ /^cu/ {sub(/@.*/, "", $2); print $2}' | sort -u > "$list"
else
  grep -v '^#' "$here/libcuda-imports.txt" > "$list"
fi
python3 - "$list" <<'PY'
import ctypes, sys
lib = ctypes.CDLL("libcuda.so.1")
v = ctypes.c_int()
lib.cuDriverGetVersion(ctypes.byref(v))
names = open(sys.argv[1]).read().split()
missing = [n for n in names if not hasattr(lib, n)]
print(f"driver CUDA {v.value // 1000}.{v.value % 1000 // 10}: {len(names)} symbols needed, {len(missing)} missing")
for n in missing:
    print("  missing:", n)
sys.exit(1 if missing else 0)
PY
