"""Ray backend: 2 single-threaded workers against 1, on a landscape grid and an experiment sweep.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ray.py [--grid 24] [--samples 20000]

Prints a markdown table: the grid (a 3-layer MLP, torch chain path, one grid row per chunk)
scored locally with one torch thread, on Ray with 1 worker and with 2; a sweep of independent
quick experiment runs (``reproduce --backend ray``) on 1 and 2 workers; and Ray's per-task
overhead (the round trip of an empty task, against the mean time of one grid chunk). Each Ray
timing is measured inside a started instance (start-up excluded, reported separately), and
the 2-worker grid is checked to equal the local one bit for bit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepscope import scaleout
from deepscope.landscape import evaluate_grid, random_directions
from deepscope.store import cpu_model

SWEEP_ID, SWEEP_KEY, SWEEP_VALUES, SWEEP_SEEDS = "deep-linear-no-bad-minima", "n_runs", (30, 40), 4


def problem(samples: int):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    g = torch.Generator().manual_seed(1)
    X = torch.randn(samples, 64, generator=g)
    y = torch.randint(0, 10, (samples,), generator=g)
    return model, (X, y), random_directions(model, 2, "filter", 0)


def grid_run(model, data, dirs, n, backend, workers=None):
    chunks = []
    start = time.perf_counter()
    res = evaluate_grid(model, "ce", data, dirs, grid=f"{n}x{n}", points_per_pass=n,
                        backend=backend, workers=workers,
                        on_chunk=lambda idx, v: chunks.append(time.perf_counter()))
    return time.perf_counter() - start, res, len(chunks)


def sweep(workers: int, root: Path) -> float:
    """``deepscope run SWEEP_ID --sweep SWEEP_KEY=... --seeds SWEEP_SEEDS --backend ray`` through
    ``runner.sweep`` inside a started instance (start-up excluded; a worker's first task imports
    deepscope)."""
    from deepscope.runner import sweep as run_sweep

    with scaleout.session(workers=workers):
        start = time.perf_counter()
        run_sweep(SWEEP_ID, {SWEEP_KEY: list(SWEEP_VALUES)}, seeds=SWEEP_SEEDS, preset="quick",
                  out=root / f"sweep-w{workers}", backend="ray", workers=workers)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid", type=int, default=24)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--no-sweep", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, data, dirs = problem(args.samples)
    n = args.grid
    load0 = os.getloadavg()
    t_local, local, n_chunks = grid_run(model, data, dirs, n, "local")
    rows = [("grid, local, 1 torch thread", t_local, n_chunks)]
    start_times = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        with scaleout.session(workers=workers):
            start_times[workers] = time.perf_counter() - t0
            grid_run(model, data, dirs, 4, "ray", workers)  # warm the workers
            t, res, _ = grid_run(model, data, dirs, n, "ray", workers)
            if workers == 2:
                same = all(np.array_equal(res.values[k], local.values[k]) for k in local.values)
                assert same, "the Ray grid differs from the local one"
                import ray

                @ray.remote(num_cpus=1)
                def noop():
                    return None

                ray.get(noop.remote())
                trips = []
                for _ in range(200):
                    s = time.perf_counter()
                    ray.get(noop.remote())
                    trips.append(time.perf_counter() - s)
                trip = statistics.median(trips)
        rows.append((f"grid, Ray, {workers} worker{'s' if workers > 1 else ''}", t, n_chunks))
    chunk = t_local / n_chunks
    if not args.no_sweep:
        root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
        try:
            s1 = sweep(1, root)
            s2 = sweep(2, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    load1 = os.getloadavg()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average before "
          f"{load0[0]:.2f}, after {load1[0]:.2f}")
    print(f"grid {n}x{n}, {args.samples} samples, MLP 64-256-128-10, float32, "
          f"{n_chunks} chunks of {n} points; local instance start-up "
          f"{start_times[1]:.1f} s (1 worker), {start_times[2]:.1f} s (2 workers)\n")
    print("| run | wall time (s) | speed-up |")
    print("|---|---|---|")
    for name, t, _ in rows:
        print(f"| {name} | {t:.2f} | {rows[1][1] / t:.2f}x |")
    if not args.no_sweep:
        n_runs = len(SWEEP_VALUES) * SWEEP_SEEDS
        print(f"| sweep of {n_runs} quick runs, Ray, 1 worker | {s1:.2f} | 1.00x |")
        print(f"| sweep of {n_runs} quick runs, Ray, 2 workers | {s2:.2f} | "
              f"{s1 / s2:.2f}x |")
    print(f"\nempty-task round trip (median of 200): {trip * 1e3:.2f} ms; one chunk: "
          f"{chunk:.2f} s; overhead {100 * trip / chunk:.2f}% of a chunk; Ray 1 worker "
          f"against local: {100 * (rows[1][1] / t_local - 1):+.1f}%")


if __name__ == "__main__":
    main()
