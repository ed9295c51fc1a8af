"""Data-parallel curvature on a 2-process gloo group equals the single-process operators.

The truth is the single-process operator on all batches (itself tested against dense autodiff
Hessians elsewhere) and, for the products, the dense Hessian of the full loss by
``torch.func.hessian``. Processes are spawned on 127.0.0.1 with a free port, joined with a
timeout and terminated if they overstay.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from deepscope.cli import main
from deepscope.curvature import EmpiricalFisherOperator, GGNOperator, HessianOperator, eigenvalues
from deepscope.curvature import trace as trace_estimate
from deepscope.curvature._distributed import DataParallel, shard_batches
from deepscope.errors import UserInputError

WORLD = 2
JOIN_TIMEOUT_S = 60.0
SIZES = (7, 4, 9, 3, 6)  # uneven batches: rank 0 gets 7 + 9 + 6 samples, rank 1 gets 4 + 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def problem():
    """A float64 tanh MLP (P = 4*6 + 6 + 6*3 + 3 = 51) and 29 samples in 5 uneven batches."""
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    model = model.double()
    n = sum(SIZES)
    X = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=gen)
    batches, start = [], 0
    for size in SIZES:
        batches.append((X[start:start + size], y[start:start + size]))
        start += size
    return model, batches, X, y


def measure(model, batches, distributed):
    """Dense H / G / F, top-3 eigenvalues and a fixed-seed Hutch++ trace."""
    H = HessianOperator(model, "ce", batches, distributed=distributed)
    G = GGNOperator(model, "ce", batches, distributed=distributed)
    F = EmpiricalFisherOperator(model, "ce", batches, distributed=distributed)
    top = eigenvalues(H, k=3, seed=0, tol=1e-12)
    est = trace_estimate(H, method="hutch++", rtol=0.0, max_matvecs=40, seed=3, batch=8)
    return {"H": H.to_dense(), "G": G.to_dense(), "F": F.to_dense(), "top": top.values,
            "trace": torch.tensor([est.value, est.stderr]), "loss": torch.tensor(H.loss_value),
            "modes": (H.mode, H.batched_mode)}


def _init(rank: int, port: int) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD)


def worker_products(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    _init(rank, port)
    try:
        model, batches, _, _ = problem()
        torch.save(measure(model, shard_batches(batches), True), Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def worker_failure(rank: int, port: int, out: str) -> None:
    """Rank 1 fails: first at construction (no batch), then inside a product."""
    import torch.distributed as dist

    _init(rank, port)
    messages = []
    model, batches, _, _ = problem()
    try:
        HessianOperator(model, "ce", [] if rank == 1 else batches, distributed=True)
    except Exception as exc:
        messages.append(f"{type(exc).__name__}: {exc}")

    def loss(output, target):
        if rank == 1 and torch.is_grad_enabled():
            raise RuntimeError("boom in a product")
        return torch.nn.functional.cross_entropy(output, target)

    H = HessianOperator(model, loss, shard_batches(batches), mode="reverse-over-reverse",
                        distributed=True)
    try:
        H @ torch.ones(H.shape[0], dtype=torch.float64)
    except Exception as exc:
        messages.append(f"{type(exc).__name__}: {exc}")
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(messages))
    dist.destroy_process_group()
    if rank == 1:
        raise RuntimeError("rank 1 exits with an uncaught error")


def spawn(fn, out: Path) -> mp.ProcessContext:
    """Start WORLD processes, join them within JOIN_TIMEOUT_S, never leave one running."""
    ctx = mp.start_processes(fn, args=(free_port(), str(out)), nprocs=WORLD, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    try:
        while not ctx.join(timeout=1.0):
            if time.monotonic() > deadline:
                raise TimeoutError(f"processes still running after {JOIN_TIMEOUT_S} s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.terminate()
            p.join(5)
    return ctx


@pytest.fixture(scope="module")
def distributed_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    ctx = spawn(worker_products, out)
    assert all(not p.is_alive() and p.exitcode == 0 for p in ctx.processes)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.fixture(scope="module")
def single_results():
    torch.set_num_threads(1)
    model, batches, _, _ = problem()
    return measure(model, batches, False)


def test_ranks_agree_bit_for_bit(distributed_results):
    r0, r1 = distributed_results
    for key in ("H", "G", "F", "top", "trace", "loss"):
        assert torch.equal(r0[key], r1[key]), key
    assert r0["modes"] == r1["modes"]


def test_products_equal_single_process_and_dense_truth(distributed_results, single_results):
    model, _, X, y = problem()
    names = [n for n, _ in model.named_parameters()]
    params = {n: p.detach() for n, p in model.named_parameters()}

    def full_loss(flat):
        split = torch.split(flat, [params[n].numel() for n in names])
        p = {n: t.reshape(params[n].shape) for n, t in zip(names, split)}
        out = torch.func.functional_call(model, p, (X,))
        return torch.nn.functional.cross_entropy(out, y)

    flat0 = torch.cat([params[n].reshape(-1) for n in names])
    truth = torch.func.hessian(full_loss)(flat0)
    dist_H = distributed_results[0]["H"]
    assert dist_H.shape == (51, 51)
    assert torch.allclose(dist_H, truth, rtol=0, atol=1e-12)
    for key in ("H", "G", "F"):
        assert torch.allclose(distributed_results[0][key], single_results[key], rtol=0,
                              atol=1e-10), key
    assert abs(float(distributed_results[0]["loss"]) - float(single_results["loss"])) < 1e-12
    # the GGN is not the Hessian here (a trained-free tanh network): the comparison has teeth
    assert float((single_results["G"] - single_results["H"]).abs().max()) > 1e-3


def test_eigenvalues_and_trace_equal_single_process(distributed_results, single_results):
    top_d, top_s = distributed_results[0]["top"], single_results["top"]
    exact = torch.linalg.eigvalsh(single_results["H"]).flip(0)[:3]
    assert torch.allclose(top_s, exact, rtol=0, atol=1e-10)
    assert torch.allclose(top_d, top_s, rtol=0, atol=1e-10)
    tr_d, tr_s = distributed_results[0]["trace"], single_results["trace"]
    assert torch.allclose(tr_d, tr_s, rtol=1e-10, atol=1e-12)
    # the estimate is not the exact trace by accident of the comparison: it has an error bar
    assert float(tr_s[1]) > 0


def test_failure_on_one_rank_reaches_every_rank(tmp_path):
    with pytest.raises(mp.ProcessRaisedException, match="uncaught"):
        spawn(worker_failure, tmp_path)
    m0 = json.loads((tmp_path / "rank0.json").read_text())
    m1 = json.loads((tmp_path / "rank1.json").read_text())
    assert m0[0].startswith("UserInputError: process 1 of 2: data is empty")
    assert m1[0].startswith("UserInputError: data is empty")
    assert m0[1].startswith("DistributedFailure: process 1 of 2 failed: RuntimeError: boom")
    assert m1[1] == "RuntimeError: boom in a product"


def test_shard_and_argument_checks():
    batches = list(range(5))
    assert shard_batches(batches, 0, 2) == [0, 2, 4]
    assert shard_batches(batches, 1, 2) == [1, 3]
    with pytest.raises(UserInputError, match="at least one per process"):
        shard_batches(batches[:1], 0, 2)
    model, batches, _, _ = problem()
    with pytest.raises(UserInputError, match="initialised process group"):
        HessianOperator(model, "ce", batches, distributed=True)
    with pytest.raises(UserInputError, match="distributed must be"):
        DataParallel.resolve("yes", model)


def _run_group(cmd: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the launcher in its own session; on timeout kill the launcher AND its workers."""
    import signal

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_cli_under_torchrun_matches_single_process(tmp_path):
    args = ["hessian", "--model", "mlp:64-6-10,act=tanh", "--data", "digits", "--max-samples",
            "150", "--batch-size", "40", "--top-k", "2"]
    single = tmp_path / "single"
    assert main([*args, "--out", str(single)]) == 0
    runs = tmp_path / "runs"
    runs.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
           "-m", "deepscope", *args, "--out", str(runs / "ddp")]
    proc = _run_group(cmd, env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [p.name for p in runs.iterdir()] == ["ddp"]
    got = json.loads((runs / "ddp" / "result.json").read_text())
    want = json.loads((single / "result.json").read_text())
    assert got["world_size"] == 2 and got["n_samples"] == want["n_samples"] == 150
    for g, w in zip(got["top_eigenvalues"]["values"], want["top_eigenvalues"]["values"]):
        assert abs(g - w) <= 1e-10 * max(1.0, abs(w))
    # only rank 0 reports: one result line
    assert proc.stdout.count("results:") == 1
    # bad input on every rank: one line on stderr from rank 0, exit 2, no directory left
    bad = _run_group([*cmd[:-1], str(runs / "ddp")], env)
    assert bad.returncode != 0  # the launcher's own status; the workers' is in its summary
    assert bad.stderr.count("deepscope: error:") == 1
    assert "already exists" in bad.stderr and "exitcode  : 2" in bad.stderr
    assert [p.name for p in runs.iterdir()] == ["ddp"]
