"""Stochastic trace estimation with honest error bars: Hutchinson and adaptive Hutch++.

Hutchinson (1989): for Rademacher probes ``z`` (independent +-1 entries), ``E[z^T A z] = tr(A)``
and ``Var[z^T A z] = 2 (||A||_F^2 - sum_i A_ii^2)``. With n probes the estimate is the sample
mean of the values ``x_i = z_i^T A z_i`` and its standard error is ``s / sqrt(n)`` with ``s`` the
sample standard deviation of the ``x_i`` (not a formula that needs ``||A||_F``).

Hutch++ (Meyer, Musco, Musco & Woodruff 2021): with ``Q`` an orthonormal basis of ``A S`` for a
Gaussian sketch ``S`` (s columns) and ``Pi = I - Q Q^T``,

    tr(A) = tr(Q^T A Q) + tr(Pi A Pi)

exactly. The first term is computed exactly (s products with ``Q``), the second by Hutchinson
with projected probes ``Pi z`` (one product each). Conditional on the sketch the estimate is
unbiased and ALL of its randomness is in the second term, so its standard error is the sample
standard error of the projected-probe values; when the top of the spectrum dominates,
``||Pi A Pi||_F << ||A||_F`` and far fewer products are needed than for Hutchinson.

Adaptive rounds (both methods): probes are drawn ``batch`` at a time (one batched product per
round). After each round, with ``n >= min_probes`` values, the estimate stops when the
two-sided ``confidence`` interval is narrow enough:

    t_{(1+confidence)/2, n-1} * stderr <= max(atol, rtol * |estimate|)

(Student t quantile; with many probes 1.96 for 95%). It never stops because "the running mean
stopped moving". If ``max_matvecs`` runs out first, the estimate is returned with
``converged=False`` and its (wider) interval. Hutch++ additionally decides after each round
whether enlarging the sketch is cheaper than more probes: if the probes still needed with the
current sketch, ``(t s / target)^2 - n``, exceed the cost of doubling the sketch
(``2 s_add`` products plus ``min_probes`` new probes), the sketch is doubled (``Q`` is extended,
only the new columns cost products) and the projected-probe values collected so far are
discarded (they belong to the old projector, so mixing them would bias nothing but would
misstate the variance). Sketches are capped at ``P / 2`` columns.

For tiny operators (``P <= 2 * batch`` or ``P <= min_probes``) the exact trace from P unit-vector
products is returned with ``stderr = 0`` and ``method = "exact"``.

References:
    Hutchinson 1989, Commun. Stat. Simul. Comput. 18:1059;
    Meyer, Musco, Musco & Woodruff 2021, SOSA (Hutch++), arXiv:2010.09649;
    Avron & Toledo 2011, J. ACM 58:8 (variance of trace estimators).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import UserInputError
from ._checks import as_operator, check_choice, check_float, check_int
from ._krylov import orthonormalize_block
from ._products import Products, make_generator, rademacher, randn
from ._record import ResultRecord

__all__ = ["TraceEstimate", "trace"]

_METHODS = ("hutch++", "hutchinson")


@dataclass(frozen=True)
class TraceEstimate(ResultRecord):
    """A trace estimate with its standard error and confidence interval.

    Attributes:
        value: the estimate of ``tr(A)``.
        stderr: its standard error (sample standard error of the stochastic part; 0 if exact).
        ci: ``(low, high)``, ``value -+ t * stderr`` at level ``confidence``.
        confidence: the two-sided level of ``ci`` (and of the stopping rule).
        converged: whether the interval half-width met ``max(atol, rtol * |value|)``.
        n_matvecs: single-vector products used by this call.
        n_probes: Hutchinson probes behind ``stderr`` (projected probes for Hutch++).
        method: ``"hutchinson"``, ``"hutch++"`` or ``"exact"``.
        wall_time: seconds.
        sketch_size: columns of the Hutch++ sketch ``Q`` (0 for Hutchinson).
        sketch_trace: exact part ``tr(Q^T A Q)`` (0 for Hutchinson).
        samples: float64 array of the per-probe values behind ``stderr``.
        path: the operator's class and resolved product mode (see :mod:`._record`).
    """

    value: float
    stderr: float
    ci: tuple[float, float]
    confidence: float
    converged: bool
    n_matvecs: int
    n_probes: int
    method: str
    wall_time: float
    sketch_size: int
    sketch_trace: float
    samples: np.ndarray
    path: str | None = None

    @property
    def half_width(self) -> float:
        return 0.5 * (self.ci[1] - self.ci[0])

    @property
    def relative_error_bound(self) -> float:
        """Half-width of the interval relative to ``|value|`` (inf when the value is 0)."""
        return self.half_width / abs(self.value) if self.value else math.inf

    def __repr__(self) -> str:
        from ..notebook import brief

        return brief("TraceEstimate", value=self.value, stderr=self.stderr, ci=self.ci,
                     method=self.method, n_probes=self.n_probes, n_matvecs=self.n_matvecs,
                     converged=self.converged)

    def _repr_html_(self) -> str:
        from ..notebook import trace_html

        return trace_html(self)


@functools.lru_cache(maxsize=4096)
def _quantile(confidence: float, n: int) -> float:
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 * (1.0 + confidence), max(n - 1, 1)))


def _stats(vals: list[float]) -> tuple[float, float]:
    x = np.asarray(vals, dtype=np.float64)
    if x.size < 2:
        return float(x.mean()) if x.size else 0.0, math.inf
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def trace(
    op: Any,
    method: str = "hutch++",
    *,
    rtol: float = 1e-2,
    atol: float = 0.0,
    max_matvecs: int = 2000,
    seed: int | torch.Generator = 0,
    batch: int = 16,
    confidence: float = 0.95,
    min_probes: int = 16,
) -> TraceEstimate:
    """Estimate ``tr(A)`` to a confidence interval (Hutchinson or adaptive Hutch++).

    Args:
        op: symmetric operator (``.shape``, ``.dtype``, ``.device``, ``@``), or a square tensor.
        method: ``"hutch++"`` (default) or ``"hutchinson"``.
        rtol, atol: stop when ``t * stderr <= max(atol, rtol * |estimate|)``. With both 0 the
            whole budget is spent (useful for fixed-budget runs).
        max_matvecs: budget of single-vector products (at least 4).
        seed: int seed or ``torch.Generator``; probes are float64 on the operator's device.
        batch: probes per round, all in one batched product.
        confidence: two-sided level of the interval and of the stopping rule.
        min_probes: fewest probe values before the stopping rule may fire.

    Returns:
        TraceEstimate (value, stderr, ci, converged, n_matvecs, ...); see the module docstring
        for how the error bar is computed.

    Raises:
        UserInputError: bad arguments, a non-square operator, or a NaN/inf product.

    References:
        Hutchinson 1989; Meyer, Musco, Musco & Woodruff 2021 (Hutch++, SOSA).
    """
    t0 = time.perf_counter()
    op = as_operator(op)
    method = check_choice(method, "method", _METHODS)
    rtol = check_float(rtol, "rtol", 0.0)
    atol = check_float(atol, "atol", 0.0)
    max_matvecs = check_int(max_matvecs, "max_matvecs", 4)
    batch = check_int(batch, "batch", 1)
    min_probes = check_int(min_probes, "min_probes", 2)
    confidence = check_float(confidence, "confidence", 0.0, strict=True)
    if confidence >= 1.0:
        raise UserInputError(f"confidence must be in (0, 1), got {confidence!r}")
    A = Products(op)
    P = A.P
    gen = make_generator(seed, A.device)

    if P <= 2 * batch or P <= min_probes:
        value = float(torch.diagonal(A.dense()).sum())
        return TraceEstimate(
            value, 0.0, (value, value), confidence, True, A.count, 0, "exact",
            time.perf_counter() - t0, 0, 0.0, np.zeros(0), A.path,
        )

    def target(est: float) -> float:
        return max(atol, rtol * abs(est))

    Q = torch.zeros(P, 0, dtype=torch.float64, device=A.device)
    sketch_trace = 0.0
    norm_scale = 0.0

    def grow(s: int) -> None:
        nonlocal Q, sketch_trace, norm_scale
        W = A(randn(gen, (P, s), A.device))
        norm_scale = max(norm_scale, float(W.norm(dim=0).max()))
        Qn, _, _ = orthonormalize_block(Q, W, 1e-12 * norm_scale, gen)
        sketch_trace += float((Qn * A(Qn)).sum())
        Q = torch.cat([Q, Qn], dim=1)

    if method == "hutch++":
        grow(max(1, min(batch, (max_matvecs - 2) // 2)))

    vals: list[float] = []
    converged = False
    while True:
        nb = min(batch, max_matvecs - A.count)
        if nb < 1:
            break
        Z = rademacher(gen, (P, nb), A.device)
        if Q.shape[1]:
            for _ in range(2):
                Z = Z - Q @ (Q.T @ Z)
        vals.extend((Z * A(Z)).sum(dim=0).tolist())
        mean, se = _stats(vals)
        est = sketch_trace + mean
        n = len(vals)
        if n >= min_probes and _quantile(confidence, n) * se <= target(est):
            converged = True
            break
        if method == "hutch++" and n >= 2:
            s_add = Q.shape[1]
            tgt = target(est)
            sd = se * math.sqrt(n)
            need = math.inf if tgt == 0 else (_quantile(confidence, n) * sd / tgt) ** 2 - n
            cost = 2 * s_add + min_probes
            if (
                need > cost
                and Q.shape[1] + s_add <= P // 2
                and A.count + cost <= max_matvecs
            ):
                grow(s_add)
                vals = []

    mean, se = _stats(vals)
    value = sketch_trace + mean
    half = _quantile(confidence, len(vals)) * se
    return TraceEstimate(
        value=value, stderr=se, ci=(value - half, value + half), confidence=confidence,
        converged=converged, n_matvecs=A.count, n_probes=len(vals), method=method,
        wall_time=time.perf_counter() - t0, sketch_size=int(Q.shape[1]),
        sketch_trace=sketch_trace, samples=np.asarray(vals, dtype=np.float64), path=A.path,
    )
