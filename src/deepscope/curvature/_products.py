"""Products with an operator as the solvers see them: counted, checked, float64, and the random
vectors they multiply.

The solvers see an operator only through products ``A @ V`` (``V`` of shape ``(P, b)``, all b
columns in one batched pass). :class:`Products` casts them to float64 on arrival, counts them,
refuses NaN/inf, and records the operator's :func:`path` (the algorithm behind a product), which
every solver's result carries. All randomness of a solver call comes from one generator
(:func:`make_generator`).
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import UserInputError
from ._checks import check_int

F64 = torch.float64
_DENSE_CHUNK = 256


def path(op: Any) -> str:
    """The algorithm behind ``op @ V``: the operator's ``path`` (class and resolved product
    mode, e.g. ``"HessianOperator:pearlmutter"``), or its class name for any other operator."""
    named = getattr(op, "path", None)
    return named if isinstance(named, str) else type(op).__name__


class Products:
    """Counts and checks products with an operator; returns float64 on the operator's device."""

    def __init__(self, op: Any):
        self.op = op
        self.P = int(op.shape[0])
        self.device = torch.device(getattr(op, "device", "cpu"))
        self.dtype = getattr(op, "dtype", F64)
        self.path = path(op)
        self.count = 0  # single-vector products (a P x k product counts k)
        self.calls = 0  # batched passes

    def __call__(self, V: torch.Tensor) -> torch.Tensor:
        out = self.op @ V.to(device=self.device, dtype=self.dtype)
        out = torch.as_tensor(out)
        if tuple(out.shape) != tuple(V.shape):
            raise UserInputError(
                f"operator returned shape {tuple(out.shape)} for input {tuple(V.shape)}"
            )
        out = out.to(device=self.device, dtype=F64)
        self.count += V.shape[1] if V.ndim == 2 else 1
        self.calls += 1
        if not bool(torch.isfinite(out).all()):
            raise UserInputError(
                f"operator product is not finite (NaN or inf) after {self.count} products; "
                "check the model, data and loss"
            )
        return out

    def dense(self) -> torch.Tensor:
        """The symmetrised float64 matrix from P products with identity columns (in chunks)."""
        P = self.P
        cols = []
        for start in range(0, P, _DENSE_CHUNK):
            stop = min(P, start + _DENSE_CHUNK)
            E = torch.zeros(P, stop - start, dtype=F64, device=self.device)
            E[torch.arange(start, stop), torch.arange(stop - start)] = 1.0
            cols.append(self(E))
        M = torch.cat(cols, dim=1)
        return 0.5 * (M + M.T)


def make_generator(seed: int | torch.Generator, device: torch.device) -> torch.Generator:
    """The generator for all randomness of one call: a given Generator, or one seeded by int."""
    if isinstance(seed, torch.Generator):
        return seed
    s = check_int(seed, "seed", minimum=0)
    gen = torch.Generator(device=device if device.type != "meta" else "cpu")
    gen.manual_seed(s)
    return gen


def randn(gen: torch.Generator, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Standard normal float64 tensor drawn from ``gen``, placed on ``device``."""
    return torch.randn(shape, generator=gen, dtype=F64, device=gen.device).to(device)


def rademacher(gen: torch.Generator, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Independent +-1 entries (float64) drawn from ``gen``, placed on ``device``."""
    bits = torch.randint(0, 2, shape, generator=gen, device=gen.device, dtype=F64)
    return (2.0 * bits - 1.0).to(device)
