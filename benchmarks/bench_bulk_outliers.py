"""Spectral density accuracy against wall time: bulk plus outliers vs hessian-eigenthings' SLQ.

Model: MLP 64-48-48-10 (ReLU, P = 5,962) on the full digits set (1,797 samples), cross-entropy,
trained with 30 full-batch Adam steps (lr 1e-2) from seed 0, so that the Hessian has a few
outliers far from a bulk near zero. Products run in float32, as users run them; the exact
spectrum is ``eigvalsh`` of the dense float64 Hessian (``HessianOperator(..., dtype=float64)``).

Tools, each timed from the operator's construction to the finished measure (one process, same
model, data and thread count):

- ``bulk``: deepscope ``bulk_and_outliers`` (top-k eigenpairs by Krylov-Schur, then SLQ on the
  deflated operator; k = number of classes, fixed before looking at the spectrum);
- ``plain``: deepscope ``spectral_density`` (batched SLQ, no deflation);
- ``peer``: hessian-eigenthings 1.0.0a5 ``spectral_density`` (its own SLQ: one Lanczos run per
  probe with full reorthogonalisation, single-vector double-backward products), whose
  ``raw_eigenvalues`` / ``raw_weights`` give the quadrature measure.

Accuracy: the Wasserstein-1 distance between each tool's discrete quadrature measure (probes
averaged, point masses) and the exact spectrum, ``deepscope.curvature``'s ``wasserstein1``
(``integral |F - G|``). Each budget (probes x steps) runs ``--repeats`` times with seeds 0, 1, ...;
the tables give medians of W1 and of wall time. The summary gives, for the peer's best median W1
over its budgets, the least median time at which each tool reaches it.

Install the peer with ``pip install --no-deps hessian-eigenthings==1.0.0a5``.
Run: ``python benchmarks/bench_bulk_outliers.py [--threads 1] [--repeats 3]`` (prints JSON lines,
then markdown tables).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_curvature import digits_tensors, mlp  # noqa: E402

PEER_BUDGETS = [(2, 20), (4, 30), (8, 40), (16, 50)]
OURS_BUDGETS = [(1, 10), (2, 15), (2, 20), (4, 30), (8, 40), (16, 50)]


def trained_model(widths, steps, lr, X, y):
    model = mlp(widths, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        value = loss(model(X), y)
        value.backward()
        opt.step()
    with torch.no_grad():
        out = model(X)
        return model, float(loss(out, y)), float((out.argmax(1) == y).float().mean())


def exact_spectrum(model, X, y):
    from deepscope.curvature import HessianOperator

    op = HessianOperator(model, nn.CrossEntropyLoss(), (X, y), dtype=torch.float64,
                         check_determinism=False)
    H = op.to_dense(chunk=512)
    return torch.linalg.eigvalsh(0.5 * (H + H.T)).numpy()


def run_bulk(model, X, y, k, n_probes, n_steps, seed):
    from deepscope.curvature import HessianOperator, bulk_and_outliers

    start = time.perf_counter()
    op = HessianOperator(model, nn.CrossEntropyLoss(), (X, y), check_determinism=False)
    res = bulk_and_outliers(op, k, n_probes=n_probes, n_steps=n_steps, seed=seed)
    return res, time.perf_counter() - start, res.n_matvecs


def run_plain(model, X, y, n_probes, n_steps, seed):
    from deepscope.curvature import HessianOperator, spectral_density

    start = time.perf_counter()
    op = HessianOperator(model, nn.CrossEntropyLoss(), (X, y), check_determinism=False)
    res = spectral_density(op, n_probes=n_probes, n_steps=n_steps, seed=seed)
    return res, time.perf_counter() - start, res.n_matvecs


def run_peer(model, X, y, n_probes, n_steps, seed):
    import hessian_eigenthings as he

    start = time.perf_counter()
    op = he.HessianOperator(model, [(X, y)], he.supervised_loss(nn.CrossEntropyLoss()))
    res = he.spectral_density(op, num_runs=n_probes, lanczos_steps=n_steps, seed=seed)
    elapsed = time.perf_counter() - start
    nodes = res.raw_eigenvalues.double().numpy()
    weights = res.raw_weights.double().numpy()
    keep = np.isfinite(nodes) & (weights > 0)
    w = weights / weights.sum(axis=1, keepdims=True) / n_probes  # float32 sums, renormalised
    return (nodes[keep], w[keep]), elapsed, n_probes * n_steps


def curve(name, fn, budgets, repeats, exact):
    from deepscope.curvature import wasserstein1

    rows = []
    for n_probes, n_steps in budgets:
        w1s, times = [], []
        for seed in range(repeats):
            measure, elapsed, n_matvecs = fn(n_probes, n_steps, seed)
            w1s.append(wasserstein1(measure, exact))
            times.append(elapsed)
        row = {"tool": name, "n_probes": n_probes, "n_steps": n_steps, "n_matvecs": n_matvecs,
               "w1_median": statistics.median(w1s), "w1_min": min(w1s), "w1_max": max(w1s),
               "time_median_s": statistics.median(times)}
        if name == "bulk":
            row["matvecs_outliers"] = measure.n_matvecs_outliers
            row["outliers_converged"] = measure.all_converged
        rows.append(row)
        print(json.dumps({a: (round(b, 6) if isinstance(b, float) else b)
                          for a, b in row.items()}), flush=True)
    return rows


def time_to(rows, level):
    """Least median time among budgets whose median W1 is <= level (None if none)."""
    hits = [r["time_median_s"] for r in rows if r["w1_median"] <= level]
    return min(hits) if hits else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--widths", default="64,48,48,10")
    parser.add_argument("--train-steps", type=int, default=30)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    from deepscope.store import cpu_model

    t_start = time.perf_counter()
    widths = tuple(int(w) for w in args.widths.split(","))
    X, y = digits_tensors()
    model, loss, acc = trained_model(widths, args.train_steps, 1e-2, X, y)
    k = widths[-1]  # number of classes
    t0 = time.perf_counter()
    exact = exact_spectrum(model, X, y)
    t_exact = time.perf_counter() - t0
    P = exact.size
    top = np.sort(exact)[::-1]
    header = {"cpu": cpu_model(), "date": datetime.datetime.now(datetime.UTC).isoformat(
        timespec="minutes"), "threads": args.threads, "repeats": args.repeats,
        "model": f"MLP {args.widths}", "P": int(P), "train_loss": loss, "train_acc": acc,
        "k": k, "top_eigenvalues": [round(float(v), 4) for v in top[: k + 2]],
        "exact_spectrum_s": round(t_exact, 1), "torch": torch.__version__}
    print(json.dumps(header), flush=True)

    tools = {
        "bulk": (lambda n, m, s: run_bulk(model, X, y, k, n, m, s), OURS_BUDGETS),
        "plain": (lambda n, m, s: run_plain(model, X, y, n, m, s), PEER_BUDGETS),
        "peer": (lambda n, m, s: run_peer(model, X, y, n, m, s), PEER_BUDGETS),
    }
    curves = {name: curve(name, fn, budgets, args.repeats, exact)
              for name, (fn, budgets) in tools.items()}
    best = min(r["w1_median"] for r in curves["peer"])
    summary = {name: time_to(rows, best) for name, rows in curves.items()}
    ratio = (summary["peer"] / summary["bulk"]) if summary["bulk"] else None
    total = time.perf_counter() - t_start
    print(json.dumps({"peer_best_w1": best, "time_to_peer_best_s": summary,
                      "speedup_bulk_vs_peer": ratio, "total_s": round(total, 1)}), flush=True)

    labels = {"bulk": f"deepscope `bulk_and_outliers` (k = {k})",
              "plain": "deepscope `spectral_density`",
              "peer": "hessian-eigenthings `spectral_density`"}
    print()
    print(f"CPU {header['cpu']}, {header['date']}, torch {torch.__version__}, "
          f"{args.threads} thread(s), medians of {args.repeats} seeds; MLP {args.widths}, "
          f"P = {P:,}, float32 products; exact spectrum from the float64 dense Hessian.")
    print()
    print("| tool | probes × steps | products | median W1 (min-max) | median time (s) |")
    print("|---|---|---|---|---|")
    for name, rows in curves.items():
        for r in rows:
            print(f"| {labels[name]} | {r['n_probes']} × {r['n_steps']} | {r['n_matvecs']} | "
                  f"{r['w1_median']:.2e} ({r['w1_min']:.2e}-{r['w1_max']:.2e}) | "
                  f"{r['time_median_s']:.2f} |")
    print()
    fmt = {n: ("not reached" if v is None else f"{v:.2f} s") for n, v in summary.items()}
    print(f"| to reach the peer's best median W1 = {best:.2e} | time |")
    print("|---|---|")
    for name in curves:
        print(f"| {labels[name]} | {fmt[name]} |")
    verdict = "n/a" if ratio is None else f"{ratio:.1f}×"
    print(f"| speed-up of bulk_and_outliers over the peer (target ≥ 2×) | **{verdict}** |")


if __name__ == "__main__":
    main()
