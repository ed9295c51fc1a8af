"""Curvature benchmarks against PyHessian 0.1 and hessian-eigenthings 1.0.0a5.

Run in one process, same model, data and thread count:

1. Top Hessian eigenvalue to 1e-4 relative accuracy: deepscope ``eigenvalues`` against
   PyHessian's power iteration (its ``tol`` tightened until it reaches the accuracy).
2. Spectral density with equal probes and steps: deepscope ``spectral_density`` (probes batched)
   against hessian-eigenthings ``spectral_density`` on an MLP 64-512-512-10 over digits.
3. Trace to equal relative error: Hutch++ against Hutchinson, products counted, on a model whose
   top eigenvalues dominate.

Peers are installed with ``pip install --no-deps pyhessian==0.1 hessian-eigenthings==1.0.0a5``.
Run: ``python benchmarks/bench_curvature.py`` (prints JSON lines).
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import torch
from torch import nn


def digits_tensors(n: int | None = None):
    from deepscope.data import digits

    data = digits(seed=0)
    X = torch.as_tensor(np.concatenate([data.X_train, data.X_test]))
    y = torch.as_tensor(np.concatenate([data.y_train, data.y_test])).long()
    return (X[:n], y[:n]) if n else (X, y)


def mlp(widths, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers[:-1])


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def top_eigenvalue(model, X, y, target_rtol=1e-4):
    """Wall time for each tool to get the top eigenvalue within ``target_rtol`` of the truth."""
    from pyhessian import hessian as PyHessian

    from deepscope.curvature import HessianOperator, eigenvalues

    loss = nn.CrossEntropyLoss()
    op = HessianOperator(model, loss, (X, y), check_determinism=False)
    truth = float(eigenvalues(op, k=1, tol=1e-10, seed=1).values[0])

    def ours(tol):
        o = HessianOperator(model, loss, (X, y), mode=op.mode, check_determinism=False)
        res = eigenvalues(o, k=1, tol=tol, seed=0)
        return float(res.values[0]), res.n_matvecs

    row = {"benchmark": "top_eigenvalue", "truth": truth, "target_rtol": target_rtol}
    for tol in (1e-2, 3e-3, 1e-3, 3e-4, 1e-4):
        (value, n), t = timed(lambda tol=tol: ours(tol))
        if abs(value - truth) / abs(truth) <= target_rtol:
            row.update(deepscope_s=t, deepscope_tol=tol, deepscope_matvecs=n,
                       deepscope_rel_err=abs(value - truth) / abs(truth))
            break
    for tol in (1e-3, 1e-4, 1e-5, 1e-6, 1e-7):
        def peer(tol=tol):
            torch.manual_seed(0)
            h = PyHessian(model, loss, data=(X, y), cuda=False)
            return h.eigenvalues(maxIter=1000, tol=tol, top_n=1)[0][0]

        value, t = timed(peer)
        if abs(value - truth) / abs(truth) <= target_rtol:
            row.update(pyhessian_s=t, pyhessian_tol=tol,
                       pyhessian_rel_err=abs(value - truth) / abs(truth))
            break
    if "deepscope_s" in row and "pyhessian_s" in row:
        row["speedup"] = row["pyhessian_s"] / row["deepscope_s"]
    return row


def density(model, X, y, n_probes=4, n_steps=50, rounds=2):
    """Equal probes and steps; the two tools alternate ``rounds`` times, best time of each kept."""
    import hessian_eigenthings as he

    from deepscope.curvature import HessianOperator, spectral_density

    loss = nn.CrossEntropyLoss()
    t_ours, t_peer = [], []
    for _ in range(rounds):
        def ours():
            op = HessianOperator(model, loss, (X, y), check_determinism=False)
            return op, spectral_density(op, n_probes=n_probes, n_steps=n_steps, seed=0)

        (op, sd), t = timed(ours)
        t_ours.append(t)
        peer_op = he.HessianOperator(model, [(X, y)], he.supervised_loss(loss))
        _, t = timed(lambda peer_op=peer_op: he.spectral_density(
            peer_op, num_runs=n_probes, lanczos_steps=n_steps, seed=0))
        t_peer.append(t)
    return {"benchmark": "spectral_density", "n_probes": n_probes, "n_steps": n_steps,
            "deepscope_s": min(t_ours), "eigenthings_s": min(t_peer),
            "speedup": min(t_peer) / min(t_ours), "deepscope_matvecs": sd.n_matvecs,
            "deepscope_path": op.path,
            "note": "deepscope time includes operator construction (one loss pass and the "
                    "structural mode pick)"}


def trace_products(model, X, y, rel_target=1e-2, seeds=5):
    """Products needed for a 95% interval of half-width rel_target * |trace|."""
    from deepscope.curvature import GGNOperator, trace

    op = GGNOperator(model, nn.CrossEntropyLoss(), (X, y), check_determinism=False)
    truth = float(torch.trace(op.to_dense()))
    rows = {}
    for method in ("hutch++", "hutchinson"):
        n, errs = [], []
        for seed in range(seeds):
            est = trace(op, method=method, rtol=rel_target, seed=seed, max_matvecs=200_000)
            n.append(est.n_matvecs)
            errs.append(abs(est.value - truth) / abs(truth))
        rows[method] = {"median_matvecs": float(np.median(n)), "max_rel_err": float(max(errs))}
    return {"benchmark": "trace", "operator": "GGN (PSD, top eigenvalues dominate)",
            "params": op.shape[0], "truth": truth, "rel_target": rel_target, **rows,
            "ratio": rows["hutchinson"]["median_matvecs"] / rows["hutch++"]["median_matvecs"]}


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    X, y = digits_tensors()
    rows = [
        top_eigenvalue(mlp((64, 128, 128, 10)), X, y),
        density(mlp((64, 512, 512, 10)), X, y),
        trace_products(mlp((64, 32, 10)), X[:512], y[:512]),
    ]
    for row in rows:
        print(json.dumps({k: (round(v, 6) if isinstance(v, float) else v)
                          for k, v in row.items()}))


if __name__ == "__main__":
    main()
