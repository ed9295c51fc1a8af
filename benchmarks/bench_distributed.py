"""All-reduce overhead of data-parallel Hessian products (2 processes, gloo, CPU).

Model: MLP 64-256-128-10 (ReLU, P = 50,826) on the digits training set, cross-entropy, float32,
batches of 256 shared round-robin by 2 processes (one torch thread each). For blocks of k = 1
and 8 vectors it times, on each rank, (a) the local weighted product over the rank's shard,
(b) the all-reduce of the (k, P) block (plus the 1 + 2K numbers of the failure flag and input
checksums), after a barrier so that waiting for the other rank is not counted, and (c) the whole
distributed product ``H @ V``; and, in the parent, (d) the single-process product over all
batches. Medians over repeats. Run: OMP_NUM_THREADS=1 python benchmarks/bench_distributed.py
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import sys
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_time  # noqa: E402

WORLD = 2
SPEC = "mlp:64-256-128-10"
BATCH = 256
BLOCKS = (1, 8)


def problem():
    from deepscope.data import load
    from deepscope.models import build

    data = load("digits", seed=0)
    model = build(SPEC, input_shape=data.input_shape, n_classes=10, seed=0)
    X = torch.as_tensor(data.X_train).float()
    y = torch.as_tensor(data.y_train).long()
    batches = [(X[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(X), BATCH)]
    return model, batches


def vectors(P: int, k: int) -> torch.Tensor:
    return torch.randn(P, k, generator=torch.Generator().manual_seed(k))


def worker(rank: int, port: int, repeats: int, out: str) -> None:
    import torch.distributed as dist

    from deepscope.curvature import HessianOperator, shard_batches

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD)
    model, batches = problem()
    H = HessianOperator(model, "ce", shard_batches(batches), distributed=True)
    rows = []
    for k in BLOCKS:
        M = vectors(H.shape[0], k)
        buf = torch.zeros(k * H.shape[0] + 1 + 2 * WORLD)

        def reduce_only(buf=buf):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(buf)
            return time.perf_counter() - start

        for _ in range(2):
            reduce_only()
        reduce_s = sorted(reduce_only() for _ in range(repeats))[repeats // 2]
        local_s = median_time(lambda: H.local_product(M), repeats=repeats)  # noqa: B023
        dist.barrier()
        total_s = median_time(lambda: H @ M, repeats=repeats)  # noqa: B023
        rows.append({"k": k, "local_s": local_s, "allreduce_s": reduce_s, "product_s": total_s,
                     "mode": H.batched_mode if k > 1 else H.mode})
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(
        {"rank": rank, "n_batches": len(shard_batches(batches)), "P": H.shape[0], "rows": rows}))
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    import tempfile

    from deepscope.curvature import HessianOperator
    from deepscope.store import cpu_model

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model, batches = problem()
    H = HessianOperator(model, "ce", batches)
    single = {k: median_time(lambda: H @ vectors(H.shape[0], k), repeats=args.repeats)  # noqa: B023
              for k in BLOCKS}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as out:
        mp.start_processes(worker, args=(port, args.repeats, out), nprocs=WORLD,
                           start_method="spawn")
        ranks = [json.loads((Path(out) / f"rank{r}.json").read_text()) for r in range(WORLD)]
    print(json.dumps({"cpu": cpu_model(), "torch": torch.__version__,
                      "python": platform.python_version(), "P": H.shape[0],
                      "n_batches": len(batches), "single_s": single, "ranks": ranks,
                      "script_s": round(time.perf_counter() - t0, 1)}))
    print()
    print("| k | rank | batches | local product (ms) | all-reduce (ms) | all-reduce / local |"
          " distributed H@V (ms) | one process H@V (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for i, k in enumerate(BLOCKS):
        for rank in ranks:
            row = rank["rows"][i]
            print(f"| {k} | {rank['rank']} | {rank['n_batches']} | {1e3 * row['local_s']:.1f} | "
                  f"{1e3 * row['allreduce_s']:.2f} | {row['allreduce_s'] / row['local_s']:.1%} | "
                  f"{1e3 * row['product_s']:.1f} | {1e3 * single[k]:.1f} |")


if __name__ == "__main__":
    main()
