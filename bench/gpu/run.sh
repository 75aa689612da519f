#!/usr/bin/env bash
# bench/gpu/run.sh - the GPU benchmark of issue 4 in one script, for a GPU
# machine that has CUDA, PyTorch and safetensors but no Go and no network.
#
# Prepare on a machine with Go:   bash bench/gpu/build.sh
# Run on the GPU machine, from the repository root (carry bench/gpu/bin):
#   OUT=/path/to/results bash bench/gpu/run.sh
#
# What it does, following shared/docs/gpu-loading-anchors.md section 4:
#  1. logs the machine (nvidia-smi, driver, CUDA, PCIe, nproc, free, df,
#     uname -r, torch/safetensors versions) to $OUT/machine.txt;
#  2. generates the synthetic files with the Go generator on a tmpfs (no disk
#     writeback to wait for), and checks that they are resident;
#  3. measures the ceilings: copy(), pinned and pageable H2D, pread of the
#     page cache into pinned buffers, pinning and allocation costs;
#  4. runs the trials, one fresh process each, interleaved by round (A B C D
#     A B C D ...): the Go loader (stbench-cuda gpu-trial) and the Python
#     baselines safe_open (B1), load_file (B2) and the pinned-ring torch
#     loader (B3) on the Llama-shaped file; stload and safe_open on the MoE
#     file; stload on the sharded checkpoint across every visible GPU. Round
#     0 verifies every tensor (outside the timed window) and is dropped from
#     the statistics;
#  5. writes $OUT/results.md and $OUT/results.json (medians, min/max, ratios
#     against the goals), beside trials.jsonl, log.txt, machine.txt and
#     dmon.txt (nvidia-smi dmon PCIe counters). The report is rewritten after
#     every stage, so a run cut short still leaves one.
#
# Device time is scarce, so the run keeps to a budget (BUDGET_S, default
# 330 s of script time): stages stop adding rounds once past their share of
# it (never below MIN_ROUNDS), and later stages are skipped when no time is
# left. Everything below can be set in the environment.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BIN=${BIN:-$ROOT/bench/gpu/bin}
PY=${PY:-python3}
OUT=${OUT:-$ROOT/bench/gpu/out}
BUDGET_S=${BUDGET_S:-330}
LLAMA_GB=${LLAMA_GB:-32}       # Llama-shaped bf16 file, ~600 tensors at 32 GB
MOE_GB=${MOE_GB:-12}           # MoE-shaped file, 18,867 tensors (12 GB: 0.55 MiB experts)
SHARD_GB=${SHARD_GB:-8}        # sharded Llama checkpoint (0: skip)
SHARDS=${SHARDS:-4}
ROUNDS=${ROUNDS:-6}            # per loader and file; round 0 is dropped
MIN_ROUNDS=${MIN_ROUNDS:-3}
# Loaders: stload safe_open load_file load_file_pread (B2 with backend="pread",
# where safetensors accepts it) torch_ring.
LLAMA_LOADERS=${LLAMA_LOADERS:-"stload safe_open load_file torch_ring"}
MOE_LOADERS=${MOE_LOADERS:-"stload safe_open"}
VERIFY=${VERIFY:-"stload torch_ring"}   # loaders whose round 0 verifies every tensor
STLOAD_ARGS=${STLOAD_ARGS:-}   # extra gpu-trial flags, e.g. "-chunks 24 -readers 12"
# Tuning variants: a loader named stload_X in LLAMA_LOADERS or MOE_LOADERS
# runs gpu-trial with the flags in $ARGS_stload_X as well (export them), e.g.
#   LLAMA_LOADERS="stload stload_pread safe_open" ARGS_stload_pread="-pread"
TRIAL_TIMEOUT=${TRIAL_TIMEOUT:-150}
DATA=${DATA:-}                 # directory for the files (default: a tmpfs)
KEEP=${KEEP:-0}                # 1: keep the generated files
# Issue 10 additions (0 or empty: skip each):
CONTENTION=${CONTENTION:-}     # gpu-ceiling -contention goroutine counts, e.g. "8,14,16"
TIMELINE=${TIMELINE:-0}        # 1: one more default Llama trial with -timeline -> $OUT/timeline.{json,svg}
COLD_GB=${COLD_GB:-0}          # Llama-shaped file on disk, read cold (page cache dropped before each trial)
COLD_DIR=${COLD_DIR:-$ROOT/bench/gpu/data}
COLD_LOADERS=${COLD_LOADERS:-"dd_direct stload stload_pc"}  # stload* get -cold; dd_direct is the ceiling
ARGS_stload_pc=${ARGS_stload_pc:-"-direct=false"}

mkdir -p "$OUT"
LOG=$OUT/log.txt
TRIALS=$OUT/trials.jsonl
: >"$TRIALS"
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1

T_START=$(date +%s.%N)
elapsed() { awk -v s="$T_START" -v n="$(date +%s.%N)" 'BEGIN { printf "%d", n - s }'; }
say() { printf '[%4ss] %s\n' "$(elapsed)" "$*"; }
# note TEXT...: a note line for the report, TEXT escaped as a JSON string.
note() {
  local s=$*
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\t'/ }; s=${s//$'\n'/ }
  printf '{"kind":"note","text":"%s"}\n' "$s" >>"$TRIALS"
}

for b in stbench stbench-cuda; do
  [[ -x $BIN/$b ]] || { say "missing $BIN/$b: run bash bench/gpu/build.sh on a machine with Go and carry bench/gpu/bin"; exit 1; }
done
# The cuda binary links libcuda.so.1, which lives where the driver put it.
if ldd "$BIN/stbench-cuda" | grep -q 'libcuda.so.1 => not found'; then
  lib=$(find /usr/lib /usr/lib64 /usr/local/nvidia /usr/local/cuda* -name 'libcuda.so.1' -print -quit 2>/dev/null)
  [[ -n $lib ]] && export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  say "libcuda.so.1 from ${lib:-nowhere}"
fi

RUN_CMD="LLAMA_GB=$LLAMA_GB MOE_GB=$MOE_GB SHARD_GB=$SHARD_GB ROUNDS=$ROUNDS BUDGET_S=$BUDGET_S${STLOAD_ARGS:+ STLOAD_ARGS='$STLOAD_ARGS'} bash bench/gpu/run.sh"
report() {
  "$BIN/stbench" report -title "stload GPU benchmark" -command "$RUN_CMD" \
    -md "$OUT/results.md" -json "$OUT/results.json" "$TRIALS" >/dev/null || say "report failed"
}

# ---- 1. the machine ----------------------------------------------------------
say "machine facts -> $OUT/machine.txt"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "uname: $(uname -a)"
  echo "nproc: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo
  free -g
  df -h / /dev/shm 2>/dev/null
  nvidia-smi
  nvidia-smi --query-gpu=index,name,driver_version,pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max,memory.total --format=csv
  nvidia-smi topo -m 2>/dev/null
  "$PY" -c 'import sys, torch, safetensors; print("python", sys.version.split()[0], "| torch", torch.__version__, "| torch CUDA", torch.version.cuda, "| safetensors", safetensors.__version__)'
  "$BIN/stbench" machine
  ldd "$BIN/stbench-cuda"
  cat /proc/sys/vm/dirty_ratio /proc/sys/kernel/osrelease 2>/dev/null
} >"$OUT/machine.txt" 2>&1
KERNEL=$(uname -r)
VERSIONS=$("$PY" -c 'import torch, safetensors; print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), safetensors {safetensors.__version__}")' 2>/dev/null)
GPU=$(nvidia-smi --query-gpu=name,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv,noheader 2>/dev/null | head -1)
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
say "GPU: $GPU ($NGPU visible); kernel $KERNEL; $VERSIONS"
note "GPU: $GPU; $NGPU visible; kernel $KERNEL; $VERSIONS"
[[ $KERNEL == 4.4.0* ]] && note "kernel 4.4.0: probably gVisor; O_DIRECT, fadvise and drop_caches may not behave normally"

# ---- 2. the files -----------------------------------------------------------
NEED_GB=$(( (LLAMA_GB + MOE_GB + SHARD_GB) * 11 / 10 + 2 ))
MOUNTED=""
if [[ -z $DATA ]]; then
  shm=$(df --output=avail -BG /dev/shm 2>/dev/null | tail -1 | tr -dc 0-9)
  if [[ -n $shm ]] && (( shm >= NEED_GB )); then
    DATA=/dev/shm/stload-bench
  elif mkdir -p /mnt/stload-bench && mount -t tmpfs -o size=$((NEED_GB + 2))g tmpfs /mnt/stload-bench 2>/dev/null; then
    DATA=/mnt/stload-bench
    MOUNTED=$DATA
  else
    DATA=$ROOT/bench/gpu/data
    say "no tmpfs with ${NEED_GB} GB free: files go to $DATA on disk (writeback may slow generation)"
  fi
fi
mkdir -p "$DATA"
cleanup() {
  [[ -n ${DMON:-} ]] && kill "$DMON" 2>/dev/null
  if [[ $KEEP != 1 ]]; then
    rm -rf "$DATA/llama.safetensors" "$DATA/moe.safetensors" "$DATA/sharded"
    [[ -n $MOUNTED ]] && umount "$MOUNTED" 2>/dev/null
  fi
}
trap cleanup EXIT
note "files in $DATA ($(stat -f -c %T "$DATA" 2>/dev/null)); sizes: llama ${LLAMA_GB} GB, moe ${MOE_GB} GB, sharded ${SHARD_GB} GB in ${SHARDS}; rounds ${ROUNDS} (min ${MIN_ROUNDS}), budget ${BUDGET_S} s"

gen() {
  say "generate $*"
  "$BIN/stbench" gen "$@" | tee -a "$TRIALS"
}
LLAMA=$DATA/llama.safetensors
MOE=$DATA/moe.safetensors
gen -kind llama -size "${LLAMA_GB}GB" -out "$LLAMA" || { say "generation failed"; exit 1; }
"$BIN/stbench" warm "$LLAMA" | tee -a "$TRIALS"

# ---- 3. ceilings ------------------------------------------------------------
say "ceilings: copy()"
"$BIN/stbench" ceiling -copy-size 1GiB -rounds 3 >>"$TRIALS"
say "ceilings: GPU"
timeout 120 "$BIN/stbench-cuda" gpu-ceiling -file "$LLAMA" -threads "${CEIL_THREADS:-1,4,8,16}" -rounds "${CEIL_ROUNDS:-3}" -pread-bytes 8GiB \
  -dev-alloc "$((LLAMA_GB < 60 ? LLAMA_GB : 60))GB" ${CONTENTION:+-contention "$CONTENTION"} ${CEIL_ARGS:-} \
  >>"$TRIALS" || say "gpu-ceiling failed (exit $?)"
report

# ---- 4. trials -------------------------------------------------------------
nvidia-smi dmon -s t -o T >"$OUT/dmon.txt" 2>&1 &
DMON=$!

# trial LOADER LABEL ROUND TARGET: TARGET is a file or index:PATH.
trial() {
  local loader=$1 label=$2 round=$3 target=$4 t0 line rc
  local go_args=() py_args=() v=""
  [[ " $VERIFY " == *" $loader "* && $round == 0 ]] && v=1
  if [[ $target == index:* ]]; then
    go_args=(-index "${target#index:}" -device auto)
    py_args=(--index "${target#index:}")
  else
    go_args=("$target")
    py_args=("$target")
  fi
  local cold=""
  [[ $label == cold ]] && cold=-cold
  t0=$(date +%s.%N)
  case $loader in
    stload*) # stload_X is a tuning variant whose flags are in $ARGS_stload_X
             local var="ARGS_$loader"
             line=$(timeout "$TRIAL_TIMEOUT" "$BIN/stbench-cuda" gpu-trial -loader "$loader" -label "$label" -round "$round" -t0 "$t0" \
                 ${v:+-verify} $cold $STLOAD_ARGS ${!var:-} "${go_args[@]}") ;;
    dd_direct) # the cold ceiling: dd of the evicted file with 16 MiB O_DIRECT reads
             line=$(dd_trial "$label" "$round" "$target") ;;
    safe_open) line=$(timeout "$TRIAL_TIMEOUT" "$PY" bench/py/st_safe_open.py --label "$label" --round "$round" --t0 "$t0" \
                 ${v:+--verify} "${py_args[@]}") ;;
    load_file) line=$(timeout "$TRIAL_TIMEOUT" "$PY" bench/py/st_load_file.py --label "$label" --round "$round" --t0 "$t0" \
                 ${v:+--verify} "${py_args[@]}") ;;
    load_file_pread) line=$(timeout "$TRIAL_TIMEOUT" "$PY" bench/py/st_load_file.py --backend pread --loader load_file_pread \
                 --label "$label" --round "$round" --t0 "$t0" ${v:+--verify} "${py_args[@]}") ;;
    torch_ring) line=$(timeout "$TRIAL_TIMEOUT" "$PY" bench/py/torch_ring.py --label "$label" --round "$round" --t0 "$t0" \
                 ${v:+--verify} "${py_args[@]}") ;;
    *) say "unknown loader $loader"; return ;;
  esac
  rc=$?
  line=$(grep -E '"kind": ?"trial"' <<<"$line" | tail -1)
  if [[ -z $line ]]; then
    line=$(printf '{"kind":"trial","loader":"%s","label":"%s","round":%d,"error":"exit status %d and no JSON line"}' "$loader" "$label" "$round" "$rc")
  fi
  echo "$line" >>"$TRIALS"
  say "$label r$round $loader: $(grep -oE '"(seconds|gbps|first_tensor_s|verified|error)": ?("[^"]*"|[0-9.e+-]+|true|false)' <<<"$line" | tr '\n' ' ')"
}

# dd_trial LABEL ROUND FILE: evict FILE, time dd iflag=direct of it, and
# print a trial line (bytes: the whole file).
dd_trial() {
  local res t0 t1 size
  res=$("$BIN/stbench" evict "$3" | grep -o '"resident":[0-9.e-]*' | cut -d: -f2)
  size=$(stat -c %s "$3")
  t0=$(date +%s.%N)
  dd if="$3" of=/dev/null bs=16M iflag=direct 2>/dev/null || { printf '{"kind":"trial","loader":"dd_direct","label":"%s","round":%d,"error":"dd failed"}\n' "$1" "$2"; return; }
  t1=$(date +%s.%N)
  awk -v l="$1" -v r="$2" -v f="$3" -v n="$size" -v a="$t0" -v b="$t1" -v res="$res" 'BEGIN {
    printf "{\"kind\":\"trial\",\"loader\":\"dd_direct\",\"label\":\"%s\",\"device\":\"disk\",\"file\":\"%s\",\"round\":%d,\"bytes\":%d,\"seconds\":%.6f,\"gbps\":%.4f,\"note\":\"dd bs=16M iflag=direct, whole file; cached at start: %s\"}\n", l, f, r, n, b - a, n / (b - a) / 1e9, res }'
}

# rounds LABEL DEADLINE_S TARGET LOADERS...: interleaved rounds until ROUNDS,
# or until DEADLINE_S of script time once MIN_ROUNDS are done, or until the
# whole budget is spent (after at least one round).
rounds() {
  local label=$1 deadline=$2 target=$3 r l
  shift 3
  for ((r = 0; r < ROUNDS; r++)); do
    if (( r > 0 && $(elapsed) > BUDGET_S )); then
      say "$label: stopping after $r rounds: the whole budget (${BUDGET_S} s) is spent"
      note "$label: $r rounds (budget spent)"
      break
    fi
    if (( r >= MIN_ROUNDS && $(elapsed) > deadline )); then
      say "$label: stopping after $r rounds (past ${deadline} s)"
      note "$label: $r rounds (time budget)"
      break
    fi
    for l in "$@"; do trial "$l" "$label" "$r" "$target"; done
  done
}

rounds llama $((BUDGET_S * ${LLAMA_SHARE:-60} / 100)) "$LLAMA" $LLAMA_LOADERS
if [[ $TIMELINE == 1 ]]; then
  say "timeline of one default load -> $OUT/timeline.{json,svg}"
  ARGS_stload_timeline="-timeline $OUT/timeline" trial stload_timeline llama 1 "$LLAMA"
  tlsum=$("$BIN/stbench" timeline "$OUT/timeline.json" 2>&1)
  echo "$tlsum"
  note "timeline (one default load, timeline.svg): $(grep '^verdict' <<<"$tlsum")"
fi
report

if (( MOE_GB > 0 && $(elapsed) < BUDGET_S * 70 / 100 )); then
  gen -kind moe -size "${MOE_GB}GB" -out "$MOE" && "$BIN/stbench" warm "$MOE" | tee -a "$TRIALS" &&
    rounds moe $((BUDGET_S * 85 / 100)) "$MOE" $MOE_LOADERS
  rm -f "$MOE"
  report
else
  say "skipping the MoE file: out of time"
  note "MoE file skipped: out of time"
fi

if (( COLD_GB > 0 && $(elapsed) < BUDGET_S * ${COLD_AT:-85} / 100 )); then
  mkdir -p "$COLD_DIR"
  COLD=$COLD_DIR/cold.safetensors
  avail=$(df --output=avail -BG "$COLD_DIR" | tail -1 | tr -dc 0-9)
  if (( avail < COLD_GB + 2 )); then
    say "skipping the cold file: ${avail} GB free on $COLD_DIR"; note "cold file skipped: ${avail} GB free on disk"
  else
    note "cold file: ${COLD_GB} GB on $COLD_DIR ($(stat -f -c %T "$COLD_DIR")), page cache dropped before every trial (posix_fadvise)"
    gen -kind llama -size "${COLD_GB}GB" -out "$COLD" && sync &&
      rounds cold $((BUDGET_S * 97 / 100)) "$COLD" $COLD_LOADERS
    [[ $KEEP == 1 ]] || rm -f "$COLD"
  fi
  report
else
  (( COLD_GB > 0 )) && { say "skipping the cold file: out of time"; note "cold file skipped: out of time"; }
fi

if (( SHARD_GB > 0 && $(elapsed) < BUDGET_S * 88 / 100 )); then
  gen -kind sharded -size "${SHARD_GB}GB" -shards "$SHARDS" -out "$DATA/sharded" &&
    "$BIN/stbench" warm "$DATA"/sharded/*.safetensors | tee -a "$TRIALS" &&
    rounds sharded $((BUDGET_S * 97 / 100)) "index:$DATA/sharded/model.safetensors.index.json" stload
elif (( SHARD_GB > 0 )); then
  say "skipping the sharded checkpoint: out of time"
  note "sharded checkpoint skipped: out of time"
fi

# ---- 5. report --------------------------------------------------------------
report
say "done: $OUT/results.md"
cat "$OUT/results.md"
