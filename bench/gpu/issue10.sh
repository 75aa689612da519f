#!/usr/bin/env bash
# bench/gpu/issue10.sh - the GPU run of issue 10 in one script of at most
# five minutes, on one H100 or H200 with torch and safetensors but no Go:
# bench/gpu/run.sh with the settings below.
#
# Prepare here (a machine with Go):   bash bench/gpu/build.sh   (bench/gpu/bin, git-ignored)
#                                     bash bench/gpu/fake-run.sh  (the same commands on the fake driver)
# Run there (device tool):  command "bash bench/gpu/issue10.sh", carry ["bench/gpu/bin"], timeout_s 420
#
# It measures, in one run and one process per trial:
#  - ceilings: pinned/pageable H2D, pread into pinned buffers (8, 16
#    goroutines), pinning costs, and the contention ceiling: 8, 14, 16
#    goroutines filling a cycling pinned ring from the page cache alone and
#    while 8 MiB copies run on 2 streams (both rates);
#  - the Llama-shaped 32 GB file, 4 rounds (round 0 verified and dropped):
#    stload by the default's name (14 readers on 16 CPUs, ring pinned ahead,
#    O_DIRECT for cold ranges, 32 x 8 MiB) and the variants: 16 readers
#    (the old default), an LLC-sized ring (1 MiB chunks), the mapped
#    huge-page allocator, lazy pinning, register mode, fill-only (copies as
#    no-ops: the host side alone), beside safe_open (B1);
#  - one more default load with a timeline: $OUT/timeline.json and .svg;
#  - the MoE-shaped 12 GB file (18,867 tensors): stload, 16 readers, mapped
#    allocator, safe_open;
#  - a cold 4 GB file on the VM's disk, page cache dropped before every
#    trial: dd bs=16M iflag=direct (the ceiling), stload (O_DIRECT), stload
#    with -direct=false (the page cache path).
# $OUT gets results.md, results.json, trials.jsonl, log.txt, machine.txt,
# dmon.txt, timeline.json, timeline.svg (the timeline summary goes into log.txt).
# Every setting can still be overridden from the environment.
cd "$(dirname "$0")/../.." || exit 1
export LLAMA_GB=${LLAMA_GB:-32} MOE_GB=${MOE_GB:-12} SHARD_GB=${SHARD_GB:-0} COLD_GB=${COLD_GB:-4}
export ROUNDS=${ROUNDS:-4} MIN_ROUNDS=${MIN_ROUNDS:-3} BUDGET_S=${BUDGET_S:-285} LLAMA_SHARE=${LLAMA_SHARE:-58}
export CEIL_THREADS=${CEIL_THREADS:-8,16} CEIL_ROUNDS=${CEIL_ROUNDS:-2} CONTENTION=${CONTENTION:-8,14,16}
export CEIL_ARGS=${CEIL_ARGS:-"-cost-sizes 256MiB -register-file 2GiB -shift 0"}
export LLAMA_LOADERS=${LLAMA_LOADERS:-"stload stload_r16 stload_llc stload_mapped stload_lazy stload_reg stload_fill safe_open"}
export MOE_LOADERS=${MOE_LOADERS:-"stload stload_r16 stload_mapped safe_open"}
export VERIFY=${VERIFY:-"stload stload_llc stload_mapped"}
export ARGS_stload_r16="-readers 16" ARGS_stload_llc="-ring llc" ARGS_stload_mapped="-host-alloc mapped"
export ARGS_stload_lazy="-lazy-pin" ARGS_stload_reg="-register" ARGS_stload_fill="-fill-only"
export TIMELINE=${TIMELINE:-1} TRIAL_TIMEOUT=${TRIAL_TIMEOUT:-60}
exec bash bench/gpu/run.sh
