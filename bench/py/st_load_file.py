"""B2: safetensors.torch.load_file(p, device="cuda:0"), optionally with
backend="pread" where this safetensors accepts it. One timed load, one JSON
line (see common.py). load_file returns everything at once, so there is no
time to first tensor."""

import sys

import common


def extra(p):
    p.add_argument("--backend", default="", help='e.g. "pread"; passed to load_file when given')


def load(torch, args, mark_first):
    from safetensors.torch import load_file

    kw = {"backend": args.backend} if args.backend else {}
    out = {}
    for p in args.files:
        out.update(load_file(p, device=args.device, **kw))
    return out, 0


if __name__ == "__main__":
    sys.exit(common.run("load_file", load, extra))
