"""B3, the strongest pure-torch loader of the protocol: one torch.empty on the
device per file, reader threads os.preadv the file into a ring of pinned
buffers, copy_(non_blocking=True) on 2 streams with events recycling the
buffers, then views via .view(dtype).reshape(shape). The same algorithm as
the Go loader, in Python. One timed load, one JSON line (see common.py).

Every thread owns `--per-thread` buffers and takes chunks in order from a
shared counter; before refilling a buffer it waits for the event recorded
after that buffer's last copy. os.preadv and the CUDA waits release the GIL,
so reads run in parallel."""

import os
import sys
import threading
import time

import common


def extra(p):
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--per-thread", type=int, default=2, help="pinned buffers per thread")
    p.add_argument("--chunk-mib", type=int, default=16)
    p.add_argument("--streams", type=int, default=2)


def load_one(torch, args, path, streams, bufs, mark_first):
    start, entries = common.read_header(path)
    total = os.path.getsize(path) - start
    flat = torch.empty(total, dtype=torch.uint8, device=args.device)
    size = args.chunk_mib << 20
    pieces = common.chunks(total, size)
    # The chunk holding the last byte of the first tensor: once its copy is
    # done, the first tensor is usable.
    first_end = next(iter(entries.values()))[3] if entries else 0
    first_chunk = max(0, (first_end - 1) // size)
    done = [None] * len(pieces)
    lock = threading.Lock()
    nxt = [0]
    errors = []
    fd = os.open(path, os.O_RDONLY)

    def worker(t):
        mine = bufs[t]
        last = [None] * len(mine)
        stream = streams[t % len(streams)]
        k = 0
        try:
            while True:
                with lock:
                    j = nxt[0]
                    nxt[0] += 1
                if j >= len(pieces):
                    return
                off, n = pieces[j]
                b = k % len(mine)
                k += 1
                if last[b] is not None:
                    last[b].synchronize()
                host = mine[b]
                view = memoryview(host.numpy())[:n]
                got = 0
                while got < n:
                    r = os.preadv(fd, [view[got:]], start + off + got)
                    if r <= 0:
                        raise IOError(f"short read at {start + off + got}")
                    got += r
                with torch.cuda.stream(stream):
                    flat[off:off + n].copy_(host[:n], non_blocking=True)
                    ev = torch.cuda.Event()
                    ev.record(stream)
                last[b] = ev
                done[j] = ev
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(len(bufs))]
    for th in threads:
        th.start()
    if pieces:
        while done[first_chunk] is None and not errors and any(th.is_alive() for th in threads):
            time.sleep(0.0002)
        if done[first_chunk] is not None:
            done[first_chunk].synchronize()
            mark_first()
    for th in threads:
        th.join()
    os.close(fd)
    if errors:
        raise errors[0]
    out = {}
    for name, (dt, shape, b, e) in entries.items():
        out[name] = flat[b:e].view(getattr(torch, common.TORCH_DTYPES[dt])).reshape(shape)
    return out


def load(torch, args, mark_first):
    size = args.chunk_mib << 20
    bufs = [[torch.empty(size, dtype=torch.uint8, pin_memory=True) for _ in range(args.per_thread)]
            for _ in range(args.threads)]
    streams = [torch.cuda.Stream(args.device) for _ in range(args.streams)]
    out = {}
    for p in args.files:
        out.update(load_one(torch, args, p, streams, bufs, mark_first))
    for s in streams:
        s.synchronize()
    return out, size * args.threads * args.per_thread


if __name__ == "__main__":
    sys.exit(common.run("torch_ring", load, extra))
