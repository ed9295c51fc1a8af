"""HVP time / gradient time for deepscope's HessianOperator.

Models: MLP 784-512-512-10 and a two-conv CNN, batch 1024, float32, cross-entropy, 2 threads.
Compared: one gradient (torch.autograd.grad), a plain torch.func HVP (jvp of grad), and
deepscope's operator in both modes. Run: python benchmarks/bench_hvp.py
"""

from __future__ import annotations

import json
import sys

import torch
from _timing import median_time
from torch import nn
from torch.func import functional_call, grad, jvp

from deepscope.curvature import HessianOperator


def models():
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                            nn.Linear(512, 10))
        cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    X_flat = torch.randn(1024, 784, generator=g)
    X_img = torch.randn(1024, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (1024,), generator=g)
    return {"mlp-784-512-512-10": (mlp, X_flat, y), "cnn-2conv": (cnn, X_img, y)}


def bench(name, model, X, y, repeats):
    loss_fn = nn.CrossEntropyLoss()
    params = dict(model.named_parameters())
    plist = list(params.values())

    def gradient():
        loss = loss_fn(model(X), y)
        return torch.autograd.grad(loss, plist)

    p0 = {k: v.detach() for k, v in params.items()}
    v = {k: torch.randn_like(t) for k, t in p0.items()}

    def plain_func_hvp():
        f = lambda p: loss_fn(functional_call(model, p, (X,)), y)  # noqa: E731
        return jvp(grad(f), (p0,), (v,))[1]

    t_grad = median_time(gradient, repeats)
    row = {"model": name, "params": sum(p.numel() for p in plist), "grad_s": t_grad,
           "plain_torch_func_hvp_ratio": median_time(plain_func_hvp, repeats) / t_grad}
    flat = torch.randn(sum(p.numel() for p in plist), generator=torch.Generator().manual_seed(1))
    for mode in ("forward-over-reverse", "reverse-over-reverse", "pearlmutter"):
        try:
            op = HessianOperator(model, loss_fn, (X, y), mode=mode, check_determinism=False)
        except ValueError:  # the R-operator covers sequential MLPs only
            continue
        row[f"deepscope_{mode}_ratio"] = median_time(lambda op=op: op @ flat, repeats) / t_grad
    auto = HessianOperator(model, loss_fn, (X, y), check_determinism=False)
    row["auto_mode"] = auto.mode
    row["deepscope_auto_ratio"] = row[f"deepscope_{auto.mode}_ratio"]
    return row


def main() -> None:
    torch.set_num_threads(2)
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    rows = [bench(name, *spec, repeats) for name, spec in models().items()]
    for row in rows:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                          for k, v in row.items()}))


if __name__ == "__main__":
    main()
