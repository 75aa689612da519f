"""Shared parts of the Python GPU baselines (bench/py/*.py).

Each baseline script runs ONE timed load in a fresh process and prints one
JSON line in the format of bench.Trial (bench/trial.go), so that
`stbench report` can put it beside the Go loader's trials. The protocol
(shared/docs/gpu-loading-anchors.md, section 4) is followed: imports and
CUDA context creation happen before the timed window and are reported on
their own; the window covers open, header parse, allocation, every copy
and the final torch.cuda.synchronize(); verification of every tensor comes
after it. torch is imported lazily so that the header helpers can be
tested on a machine without it.
"""

import argparse
import json
import os
import struct
import sys
import time
import traceback

# Wall-clock time when this module was first imported: the closest this
# process can see to its own exec when the script gives no --t0.
PROCESS_START = time.time()

# safetensors dtype name -> torch dtype attribute name.
TORCH_DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
    "F16": "float16", "BF16": "bfloat16", "I32": "int32", "U32": "uint32",
    "F32": "float32", "F64": "float64", "I64": "int64", "U64": "uint64",
    "F8_E5M2": "float8_e5m2", "F8_E4M3": "float8_e4m3fn", "C64": "complex64",
}


def parse_args(loader, extra=None):
    """Parses the arguments every baseline takes; extra(parser) adds more."""
    p = argparse.ArgumentParser(description=f"{loader}: one timed load into a GPU, one JSON line")
    p.add_argument("files", nargs="*", help="safetensors files")
    p.add_argument("--index", help="model.safetensors.index.json: load every shard it names")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--label", default="", help="which file this is (llama, moe, sharded)")
    p.add_argument("--round", type=int, default=0)
    p.add_argument("--t0", type=float, default=0.0, help="Unix time the script started this process")
    p.add_argument("--verify", action="store_true", help="compare every tensor with the file afterwards")
    p.add_argument("--loader", default=loader, help="name in the report")
    if extra:
        extra(p)
    a = p.parse_args()
    if a.index:
        a.files = index_files(a.index)
    if not a.files:
        p.error("give files or --index")
    return a


def index_files(index):
    """Returns the shard paths a transformers index names, sorted, once each."""
    with open(index) as f:
        wm = json.load(f)["weight_map"]
    d = os.path.dirname(index)
    return [os.path.join(d, s) for s in sorted(set(wm.values()))]


def read_header(path):
    """Returns (data_start, {name: (dtype, shape, begin, end)}) of a file,
    in data-offset order, without the __metadata__ entry."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    entries = sorted(h.items(), key=lambda kv: (kv[1]["data_offsets"][0], kv[0]))
    return 8 + n, {k: (v["dtype"], v["shape"], v["data_offsets"][0], v["data_offsets"][1]) for k, v in entries}


def payload(paths):
    """Tensor bytes and tensor count of the files (headers excluded)."""
    total, count = 0, 0
    for p in paths:
        start, entries = read_header(p)
        total += os.path.getsize(p) - start
        count += len(entries)
    return total, count


def chunks(total, size):
    """Splits [0, total) into (offset, length) pieces of at most size."""
    return [(off, min(size, total - off)) for off in range(0, total, size)]


def import_torch():
    """Imports torch and returns (torch, seconds taken)."""
    t = time.perf_counter()
    import torch  # noqa: PLC0415 - lazily, so the helpers work without it
    return torch, time.perf_counter() - t


def make_context(torch, device):
    """Creates the CUDA context before the window, as the protocol says."""
    t = time.perf_counter()
    torch.zeros(1, device=device)
    torch.cuda.synchronize(device)
    return time.perf_counter() - t


def pinned_peak(torch):
    """Peak pinned host memory of torch's caching host allocator, if this
    torch reports it (torch.cuda.host_memory_stats, torch >= 2.5)."""
    try:
        s = torch.cuda.host_memory_stats()
    except Exception:  # noqa: BLE001 - older torch, or no such counter
        return 0
    for key in ("reserved_bytes.peak", "allocated_bytes.peak", "reserved_bytes.all.peak", "allocated_bytes.all.peak"):
        if key in s:
            return int(s[key])
    return 0


def verify(torch, tensors, paths, device):
    """Compares every loaded tensor with the file's bytes, bit for bit (as
    uint8: random bf16 bytes include NaNs, which == would call unequal).
    Returns (ok, message)."""
    from safetensors import safe_open  # noqa: PLC0415

    seen = 0
    for p in paths:
        with safe_open(p, "pt", device="cpu") as f:
            for k in f.keys():
                ref = f.get_tensor(k)
                got = tensors.get(k)
                if got is None:
                    return False, f"{k} missing"
                if tuple(got.shape) != tuple(ref.shape) or got.dtype != ref.dtype:
                    return False, f"{k}: {got.dtype}{tuple(got.shape)} vs file {ref.dtype}{tuple(ref.shape)}"
                if ref.numel() and not torch.equal(
                    got.reshape(-1).view(torch.uint8),
                    ref.reshape(-1).view(torch.uint8).to(device),
                ):
                    return False, f"{k}: bytes differ"
                seen += 1
    if seen != len(tensors):
        return False, f"{len(tensors)} tensors loaded, {seen} in the files"
    return True, ""


def run(loader, load, extra=None):
    """Runs one trial: load(torch, args, mark_first) must return
    ({name: tensor}, pinned_bytes or 0) and call mark_first() once the
    first tensor is usable on the device (optional). Prints the JSON line."""
    args = parse_args(loader, extra)
    out = {"kind": "trial", "loader": args.loader, "label": args.label, "round": args.round,
           "device": args.device, "file": args.index or args.files[0]}
    rc = 0
    try:
        torch, out["import_s"] = import_torch()
        out["context_s"] = make_context(torch, args.device)
        out["bytes"], out["tensors"] = payload(args.files)
        first = []
        start = time.perf_counter()

        def mark_first():
            if not first:
                torch.cuda.synchronize(args.device)
                first.append(time.perf_counter() - start)

        tensors, pinned = load(torch, args, mark_first)
        torch.cuda.synchronize(args.device)
        secs = time.perf_counter() - start
        out["seconds"] = secs
        out["gbps"] = out["bytes"] / secs / 1e9
        if first:
            out["first_tensor_s"] = first[0]
        out["pinned_bytes"] = pinned or pinned_peak(torch)
        out["device_bytes"] = torch.cuda.memory_allocated(args.device)
        if len(tensors) != out["tensors"]:
            raise RuntimeError(f"loaded {len(tensors)} tensors, the files hold {out['tensors']}")
        if args.verify:
            t = time.perf_counter()
            ok, msg = verify(torch, tensors, args.files, args.device)
            out["verify_s"] = time.perf_counter() - t
            out["verified"] = ok
            if not ok:
                out["error"] = "verification failed: " + msg
                rc = 1
        out["note"] = f"torch {torch.__version__}"
    except Exception as e:  # noqa: BLE001 - every failure becomes the JSON line's error
        out["error"] = f"{type(e).__name__}: {e}"
        traceback.print_exc(file=sys.stderr)
        rc = 1
    out["process_s"] = time.time() - (args.t0 or PROCESS_START)
    print(json.dumps(out), flush=True)
    return rc
