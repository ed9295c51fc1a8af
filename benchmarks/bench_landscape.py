"""Loss-landscape benchmark against loss-landscapes 3.0.6.

Same process, same model, data and grid: a 31 x 31 filter-normalised random plane on the full
digits set (1,797 samples), float32, 2 threads. loss-landscapes' ``random_plane`` moves the model's
parameters in place point by point (it is given a deep copy here); deepscope scores the points in
batched passes (``deepscope.landscape.evaluate_grid``). Both timings include making the directions.
Repeats are interleaved and the median is reported; the load average is printed with the numbers.

Also reported: points/s, samples/s and the achieved FLOP rate (the FLOPs of a plain per-point
forward pass, 2 x multiply-adds, divided by the wall time), against the rate of a large float32
matmul measured in the same run.

Realistic models (``--models resnet,cnn1d``): the zoo's residual CNN with frozen BatchNorm
(``resnet:width=8,n_blocks=1`` on the 8x8 digits, running statistics from a few training steps)
and the 1-D conv net (``cnn1d``, the 64 pixels as a length-64 signal), 15 x 15 filter-normalised
planes; ``resnet-wide`` (width 32, two blocks), ``cnn1d-wide`` (channels 32-64) and ``resnet1d``
(the zoo's 1-D residual net) are the same at widths where the convolution kernels run near the
matmul rate. Three timings interleaved in one run: deepscope's per-point loop
(``evaluate_grid(method="exact")``), deepscope's ``evaluate_grid(method="auto")``, which takes the
inference scorer for these models (BatchNorm folded into the convolutions, channels-last
convolutions, points on single-threaded workers; directions and evaluator built inside the
timing), and loss-landscapes.

Peer: ``pip install --no-deps loss-landscapes==3.0.6``. Run:
``python benchmarks/bench_landscape.py [--repeats 5]`` (prints JSON lines).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import time

import numpy as np
import torch
from torch import nn

GRID = 31


def digits_tensors():
    from deepscope.data import digits

    data = digits(seed=0)
    X = torch.as_tensor(np.concatenate([data.X_train, data.X_test])).float()
    y = torch.as_tensor(np.concatenate([data.y_train, data.y_test])).long()
    return X, y


def forward_flops(model: nn.Module, X: torch.Tensor) -> int:
    """2 x multiply-adds of one plain forward pass (Linear and Conv layers)."""
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Linear):
            total[0] += 2 * out.numel() * mod.in_features
        elif isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            total[0] += 2 * out.numel() * (mod.in_channels // mod.groups) * math.prod(
                mod.kernel_size)

    hooks = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(X)
    for h in hooks:
        h.remove()
    return total[0]


def matmul_rate(n: int = 2048, repeats: int = 5) -> float:
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


# --method: auto (the chain path for MLPs), batched or exact; --accuracy: also score accuracy
# (by default only the loss, like loss-landscapes' Loss metric)
METHOD = {"value": "auto", "accuracy": False}


def run_ours(model, X, y):
    from deepscope.landscape import evaluate_grid, random_directions

    dirs = random_directions(model, 2, norm="filter", seed=0)
    return evaluate_grid(model, "ce", (X, y), dirs, grid=(GRID, GRID), span=(-1, 1),
                         method=METHOD["value"], accuracy=METHOD["accuracy"])


def run_peer(model, X, y):
    import loss_landscapes
    import loss_landscapes.metrics

    metric = loss_landscapes.metrics.Loss(nn.CrossEntropyLoss(), X, y)
    return loss_landscapes.random_plane(copy.deepcopy(model), metric, distance=1, steps=GRID,
                                        normalization="filter", deepcopy_model=False)


def bench(name, model, X, y, repeats, peer=True, rate=None):
    model.eval()
    ours_t, peer_t = [], []
    with torch.no_grad():
        run_ours(model, X, y)  # warm-up
        if peer:
            run_peer(model, X, y)
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = run_ours(model, X, y)
            ours_t.append(time.perf_counter() - t0)
            if peer:
                t0 = time.perf_counter()
                run_peer(model, X, y)
                peer_t.append(time.perf_counter() - t0)
    t = statistics.median(ours_t)
    n_pts = GRID * GRID
    flops = forward_flops(model, X) * n_pts
    row = {"model": name, "points": n_pts, "samples": len(X), "method": res.method,
           "metrics": sorted(res.values),
           "deepscope_s": t, "deepscope_all_s": ours_t, "points_per_s": n_pts / t,
           "samples_per_s": n_pts * len(X) / t, "flop_per_s": flops / t,
           "plain_forward_gflop": flops / 1e9}
    if rate:
        row["fraction_of_matmul_rate"] = flops / t / rate
    if peer:
        p = statistics.median(peer_t)
        row.update(loss_landscapes_s=p, loss_landscapes_all_s=peer_t, speedup=p / t,
                   loss_landscapes_flop_per_s=flops / p)
    return row


REALISTIC = {"resnet": ("resnet:width=8,n_blocks=1", (1, 8, 8)), "cnn1d": ("cnn1d", (1, 64)),
             # the widths at which the convolution kernels run near the matmul rate
             "resnet-wide": ("resnet:width=32,n_blocks=2", (1, 8, 8)),
             "cnn1d-wide": ("cnn1d:channels=32-64", (1, 64)),
             "resnet1d": ("resnet1d", (1, 64))}
PLANE = 15


def trained(spec: str, shape: tuple, X: torch.Tensor, y: torch.Tensor) -> nn.Module:
    """A zoo model after 30 SGD steps in training mode (nontrivial BatchNorm running
    statistics), returned in evaluation mode."""
    from deepscope.models import build

    model = build(spec, input_shape=shape, n_classes=10, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(30):
        idx = torch.randint(0, len(X), (128,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()
    return model.eval()


def run_exact(model, X, y):
    from deepscope.landscape import evaluate_grid, random_directions

    dirs = random_directions(model, 2, norm="filter", seed=0)
    res = evaluate_grid(model, "ce", (X, y), dirs, grid=(PLANE, PLANE), span=(-1, 1),
                        method="exact", accuracy=False)
    return np.asarray(res.values["loss"]).reshape(-1)


def run_plan(model, X, y):
    """deepscope's ``evaluate_grid(method="auto")``, which picks the inference scorer for these
    models by their structure (checked: the result names it)."""
    from deepscope.landscape import evaluate_grid, random_directions

    dirs = random_directions(model, 2, norm="filter", seed=0)
    res = evaluate_grid(model, "ce", (X, y), dirs, grid=(PLANE, PLANE), span=(-1, 1),
                        method="auto", accuracy=False)
    assert res.scorer.startswith("inference"), res.scorer
    return np.asarray(res.values["loss"]).reshape(-1)


def run_peer_plane(model, X, y):
    import loss_landscapes
    import loss_landscapes.metrics

    metric = loss_landscapes.metrics.Loss(nn.CrossEntropyLoss(), X, y)
    return loss_landscapes.random_plane(copy.deepcopy(model), metric, distance=1, steps=PLANE,
                                        normalization="filter", deepcopy_model=False)


def bench_realistic(key, X, y, repeats, rate):
    spec, shape = REALISTIC[key]
    Xs = X.reshape(-1, *shape).contiguous()
    model = trained(spec, shape, Xs, y)
    runs = {"exact": run_exact, "auto": run_plan, "loss_landscapes": run_peer_plane}
    times = {k: [] for k in runs}
    with torch.no_grad():
        ref = run_exact(model, Xs, y)
        agree = float(np.max(np.abs(run_plan(model, Xs, y) - ref) / np.abs(ref)))
        run_peer_plane(model, Xs, y)
        for _ in range(repeats):
            for name, fn in runs.items():
                t0 = time.perf_counter()
                fn(model, Xs, y)
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    n_pts = PLANE * PLANE
    flops = forward_flops(model, Xs) * n_pts
    row = {"model": spec, "points": n_pts, "samples": len(Xs),
           "auto_vs_exact_max_rel_loss_diff": agree,
           "plain_forward_gflop": flops / 1e9}
    for k in runs:
        row[f"{k}_s"] = med[k]
        row[f"{k}_all_s"] = times[k]
        row[f"{k}_flop_per_s"] = flops / med[k]
        row[f"{k}_fraction_of_matmul_rate"] = flops / med[k] / rate
    row["auto_speedup_vs_loss_landscapes"] = med["loss_landscapes"] / med["auto"]
    row["exact_speedup_vs_loss_landscapes"] = med["loss_landscapes"] / med["exact"]
    row["auto_speedup_vs_exact"] = med["exact"] / med["auto"]
    return row


def main():
    from deepscope.models import MLP, SmallCNN

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--repeats-large", type=int, default=3,
                        help="repeats for the compute-bound MLP and the CNN")
    parser.add_argument("--method", choices=("batched", "exact", "auto"), default="auto")
    parser.add_argument("--accuracy", action="store_true",
                        help="score accuracy as well as the loss (the peer scores the loss only)")
    parser.add_argument("--models", default="small,large,cnn",
                        help="comma-separated subset of small, large, cnn, resnet, cnn1d, "
                        "resnet-wide, cnn1d-wide, resnet1d")
    parser.add_argument("--resnet-spec", default=REALISTIC["resnet"][0],
                        help="zoo spec of the residual CNN (e.g. resnet:width=16,n_blocks=1)")
    parser.add_argument("--cnn1d-spec", default=REALISTIC["cnn1d"][0],
                        help="zoo spec of the 1-D conv net (e.g. cnn1d:channels=32-64)")
    args = parser.parse_args()
    METHOD["value"] = args.method
    REALISTIC["resnet"] = (args.resnet_spec, REALISTIC["resnet"][1])
    REALISTIC["cnn1d"] = (args.cnn1d_spec, REALISTIC["cnn1d"][1])
    METHOD["accuracy"] = args.accuracy
    torch.set_num_threads(2)
    X, y = digits_tensors()
    torch.manual_seed(0)
    load = os.getloadavg()
    rate = matmul_rate()
    print(json.dumps({"torch_threads": torch.get_num_threads(), "load_average": load,
                      "matmul_2048_flop_per_s": rate, "cpu": cpu_model(),
                      "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}), flush=True)
    small = MLP((64, 32, 10))
    big = MLP((64, 256, 256, 10))
    cnn = SmallCNN(n_classes=10)
    chosen = set(args.models.split(","))
    for key, name, model, repeats in (("small", "mlp 64-32-10", small, args.repeats),
                                      ("large", "mlp 64-256-256-10", big, args.repeats_large),
                                      ("cnn", "SmallCNN 8-16", cnn, args.repeats_large)):
        if key not in chosen:
            continue
        row = bench(name, model, X, y, repeats, peer=True, rate=rate)
        row["load_average_after"] = os.getloadavg()
        print(json.dumps(row), flush=True)
    for key in REALISTIC:
        if key in chosen:
            row = bench_realistic(key, X, y, args.repeats_large, rate)
            row["matmul_2048_flop_per_s_now"] = matmul_rate()
            row["load_average_after"] = os.getloadavg()
            print(json.dumps(row), flush=True)
    print(json.dumps({"matmul_2048_flop_per_s_end": matmul_rate()}))


if __name__ == "__main__":
    main()
