"""Validation of the solvers' inputs: one-line ``UserInputError`` for every bad argument.

Every solver of this package checks its operator and its numeric settings here, so that a bad
argument reads the same whichever solver it was given to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import UserInputError, require_int
from ._base import DenseOperator

#: the probe distributions of stochastic Lanczos quadrature
PROBES = ("rademacher", "gaussian")


def as_operator(op: Any) -> Any:
    """Validate a square operator; a torch tensor or numpy matrix is wrapped in DenseOperator."""
    if isinstance(op, (torch.Tensor, np.ndarray)):
        return DenseOperator(op)
    shape = getattr(op, "shape", None)
    try:
        shape = tuple(int(s) for s in shape)  # type: ignore[union-attr]
    except TypeError:
        raise UserInputError(
            f"expected a curvature operator with .shape and @, got {type(op).__name__}"
        ) from None
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise UserInputError(f"operator must be square (P, P) with P >= 1, got shape {shape}")
    if not hasattr(op, "__matmul__"):
        raise UserInputError(f"operator {type(op).__name__} does not support @")
    return op


def check_int(x: Any, name: str, minimum: int = 1) -> int:
    """An integer >= minimum (bools rejected), else a one-line UserInputError."""
    return require_int(x, name, minimum)


def check_float(x: Any, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite float >= minimum (> minimum when strict), else a one-line UserInputError."""
    try:
        val = float(x)
    except (TypeError, ValueError):
        val = float("nan")
    if isinstance(x, bool) or not math.isfinite(val) or val < minimum or (
        strict and val == minimum
    ):
        op = ">" if strict else ">="
        raise UserInputError(f"{name} must be a finite number {op} {minimum}, got {x!r}")
    return val


def check_choice(x: Any, name: str, choices: Sequence[str]) -> str:
    """One of ``choices``, else a one-line UserInputError listing them."""
    if x not in choices:
        raise UserInputError(f"{name} must be one of {tuple(choices)}, got {x!r}")
    return x


def check_quadrature(n_probes: Any, n_steps: Any, probe: Any,
                     sigma: Any) -> tuple[int, int, str, float | None]:
    """The settings of a stochastic Lanczos quadrature: probes, steps, distribution, bandwidth."""
    n_probes = check_int(n_probes, "n_probes", 1)
    n_steps = check_int(n_steps, "n_steps", 1)
    probe = check_choice(probe, "probe", PROBES)
    if sigma is not None:
        sigma = check_float(sigma, "sigma", 0.0, strict=True)
    return n_probes, n_steps, probe, sigma
