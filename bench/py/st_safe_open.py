"""B1, what users type: safe_open(p, "pt", device="cuda:0"), get every tensor,
torch.cuda.synchronize(). One timed load, one JSON line (see common.py)."""

import sys

import common


def load(torch, args, mark_first):
    from safetensors import safe_open

    out = {}
    for p in args.files:
        with safe_open(p, "pt", device=args.device) as f:
            for k in f.keys():
                out[k] = f.get_tensor(k)
                mark_first()
    return out, 0


if __name__ == "__main__":
    sys.exit(common.run("safe_open", load))
