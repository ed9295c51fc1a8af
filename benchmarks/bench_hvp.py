"""HVP time / gradient time for deepscope's HessianOperator, per product mode, and what ``auto``
picks and costs to build.

Models (float32, cross-entropy, batch 1024 unless said): MLP 784-512-512-10 and a two-conv CNN
(both covered by the R-operator), a two-conv CNN with BatchNorm (batch 256) and an MLP
784-256-256-10 with GELU (batch 512), neither covered. Compared: one gradient
(torch.autograd.grad), a plain torch.func HVP (jvp of grad), and deepscope's operator in each mode
that runs, for one vector and per vector in blocks (4 by default, ``--blocks 4,16``). The
repeats interleave the modes
(one call of each per round) and report medians. ``auto_build_s`` is the construction of
``mode="auto"`` (one loss pass, the determinism check and the structural pick's trial products),
``fixed_build_s`` that of an operator with its mode given.

Run: python benchmarks/bench_hvp.py [repeats] [--threads N] [--blocks 4,16] (prints JSON lines,
then the CPU and the date).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time

import torch
from torch import nn
from torch.func import functional_call, grad, jvp

from deepscope.curvature import HessianOperator
from deepscope.errors import UserInputError

MODES = ("forward-over-reverse", "reverse-over-reverse", "pearlmutter")


def models():
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                            nn.Linear(512, 10))
        cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
        bn_cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                               nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                               nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                               nn.Linear(32 * 7 * 7, 10)).eval()
        gelu = nn.Sequential(nn.Linear(784, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(),
                             nn.Linear(256, 10))
    X_flat = torch.randn(1024, 784, generator=g)
    X_img = torch.randn(1024, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (1024,), generator=g)
    return {"mlp-784-512-512-10": (mlp, X_flat, y), "cnn-2conv": (cnn, X_img, y),
            "cnn-2conv-batchnorm": (bn_cnn, X_img[:256], y[:256]),
            "mlp-784-256-256-10-gelu": (gelu, X_flat[:512], y[:512])}


def interleaved(fns: dict[str, object], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each ``fn()``, the functions called in turn within every round."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench(name, model, X, y, repeats, blocks=(4,)):
    loss_fn = nn.CrossEntropyLoss()
    params = dict(model.named_parameters())
    plist = list(params.values())
    p0 = {k: v.detach() for k, v in params.items()}
    v = {k: torch.randn_like(t) for k, t in p0.items()}
    P = sum(p.numel() for p in plist)
    gen = torch.Generator().manual_seed(1)
    one = torch.randn(P, generator=gen)
    block = {b: torch.randn(P, b, generator=gen) for b in blocks}

    def gradient():
        return torch.autograd.grad(loss_fn(model(X), y), plist)

    def plain_func_hvp():
        f = lambda p: loss_fn(functional_call(model, p, (X,)), y)  # noqa: E731
        return jvp(grad(f), (p0,), (v,))[1]

    ops = {}
    for mode in MODES:
        try:
            ops[mode] = HessianOperator(model, loss_fn, (X, y), mode=mode)
        except UserInputError:  # the R-operator covers sequential networks of its layers only
            continue
    fns = {"grad": gradient, "plain_torch_func_hvp": plain_func_hvp}
    for mode, op in ops.items():
        fns[mode] = lambda op=op: op @ one
        for b, V in block.items():
            fns[f"{mode}_block{b}"] = lambda op=op, V=V: op @ V
    fns["auto_build"] = lambda: HessianOperator(model, loss_fn, (X, y))
    fns["fixed_build"] = lambda: HessianOperator(model, loss_fn, (X, y),
                                                 mode="reverse-over-reverse")
    t = interleaved(fns, repeats)
    auto = HessianOperator(model, loss_fn, (X, y))
    row = {"model": name, "params": P, "batch": int(X.shape[0]), "grad_s": t["grad"],
           "plain_torch_func_hvp_ratio": t["plain_torch_func_hvp"] / t["grad"]}
    for mode in ops:
        row[f"{mode}_ratio"] = t[mode] / t["grad"]
        for b in blocks:
            row[f"{mode}_block{b}_ratio_per_vector"] = t[f"{mode}_block{b}"] / b / t["grad"]
    fastest = min(ops, key=lambda m: t[m])
    row.update(auto_mode=auto.mode, auto_ratio=t[auto.mode] / t["grad"], fastest_mode=fastest,
               auto_build_s=t["auto_build"], fixed_build_s=t["fixed_build"],
               auto_build_in_gradients=t["auto_build"] / t["grad"])
    return row


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("repeats", nargs="?", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--blocks", default="4", help="block sizes, comma-separated")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    blocks = tuple(int(b) for b in args.blocks.split(","))
    for name, spec in models().items():
        row = bench(name, *spec, args.repeats, blocks)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                          for k, v in row.items()}), flush=True)
    print(json.dumps({"cpu": cpu_model(), "threads": args.threads, "torch": torch.__version__,
                      "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                          timespec="minutes")}))


if __name__ == "__main__":
    main()
