"""Shared fixtures: one quick reproduction per test session, run with the network blocked."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# Tests run many products on tiny models, where a second intra-op thread costs more in
# synchronisation than it gains (measured 3-10x slower here). Benchmarks set their own count.
torch.set_num_threads(1)


def sym(evals, seed: int = 0) -> torch.Tensor:
    """``Q diag(evals) Q^T`` with a Haar-random orthogonal Q (a matrix with a known spectrum)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((len(evals), len(evals))))
    q = q * np.sign(np.diag(r))
    return torch.tensor((q * np.asarray(evals)) @ q.T)


def quick_verdict(experiment_id: str) -> str:
    """The recorded quick-preset verdict of an experiment at seed 0 (tests/fixtures)."""
    import json

    path = Path(__file__).parent / "fixtures" / "quick_verdicts.json"
    return json.loads(path.read_text())[experiment_id]


class NetworkBlocked(RuntimeError):
    pass


@contextlib.contextmanager
def block_network() -> Iterator[list[str]]:
    """Make every socket connection or name lookup fail, and record the attempts."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise NetworkBlocked(f"network access attempted: {args[:2]!r}")

    saved = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection,
             socket.getaddrinfo)
    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]
    try:
        yield attempts
    finally:
        (socket.socket.connect, socket.socket.connect_ex, socket.create_connection,
         socket.getaddrinfo) = saved


@pytest.fixture(scope="session")
def quick_reproduction(tmp_path_factory) -> dict:
    """``deepscope reproduce --quick`` run once, in-process, with sockets blocked."""
    from deepscope.cli import main

    out = tmp_path_factory.mktemp("reproduce") / "quick"
    with block_network() as attempts:
        status = main(["reproduce", "--quick", "--out", str(out)])
    return {"out": Path(out), "status": status, "network_attempts": attempts}
