"""Curvature along a training run: the top Hessian eigenvalues every N steps, warm-started.

:class:`CurvatureTracker` is called inside a training loop (``tracker.step(t)`` after each update).
Every ``every`` steps it builds a :class:`HessianOperator` at the current parameters and computes
the top-k eigenpairs with block Lanczos (:func:`eigenvalues`), starting from the previous call's
top eigenvectors (``v0``). Optionally it adds a Hutch++ trace with its standard error. Each call
is a row of ``history``; :meth:`CurvatureTracker.overhead` compares the products of warm calls with
those of cold (random-start) solves, measured on the first call and, with ``cold_every=M``, on every
M-th call at the same parameters.

Why a warm start helps. Let ``u_1`` be the top eigenvector and ``phi`` the angle between the
starting vector and ``u_1``. After m Lanczos steps the Ritz value obeys the Kaniel-Paige-Saad
bound ``0 <= lambda_1 - theta_1 <= (lambda_1 - lambda_P) (tan(phi) / T_{m-1}(1 + 2 gamma))^2`` with
``gamma = (lambda_1 - lambda_2) / (lambda_2 - lambda_P)`` and ``T`` the Chebyshev polynomial, which
grows like ``exp(2 m sqrt(gamma))``. So the steps needed to reach a tolerance grow with
``log(tan(phi) / tol)``. A random start has ``tan(phi) ~ sqrt(P)``. Between nearby iterates the
Hessian moves by ``||dH|| = O(lr * ||grad|| * ||D^3 L||)`` per step, and by Davis-Kahan the top
eigenvector turns by at most ``~ ||dH|| / (lambda_1 - lambda_2)``; the previous vector therefore has
``tan(phi)`` of that order, and Lanczos needs proportionally fewer steps. The saving shrinks when
the spectral gap closes (the eigenvectors rotate fast, e.g. at an eigenvalue crossing) or when
the tracked steps are far apart.

References:
    Lanczos 1950; Saad, 'Numerical Methods for Large Eigenvalue Problems' (2011), Sec. 6.6
    (Kaniel-Paige-Saad bounds); Davis & Kahan 1970, SIAM J. Numer. Anal. 7:1 (sin-theta theorem);
    Meyer et al. 2021 (Hutch++); Ghorbani, Krishnan & Xiao 2019 and Cohen et al. 2021
    (curvature tracked during training).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserInputError
from ._checks import check_float, check_int
from ._hessian import HessianOperator
from ._lanczos import eigenvalues
from ._products import make_generator
from ._record import ResultRecord
from ._trace import trace as trace_estimate

__all__ = ["CurvatureTracker", "TrackRecord", "TrackingOverhead"]


@dataclass(frozen=True)
class TrackRecord(ResultRecord):
    """One tracked step.

    Attributes:
        step: the training step index given to :meth:`CurvatureTracker.step`.
        values: float64 (k,) top eigenvalues (descending), Rayleigh quotients.
        residuals: float64 (k,) true residuals ``||H x - lambda x||``; each value lies within its
            residual of an eigenvalue of H.
        converged: whether every pair met the relative tolerance.
        n_matvecs: Hessian-vector products of the tracked eigen-solve.
        wall_time: seconds for the whole call (operator, eigen-solve, cold check, trace).
        warm: whether the solve started from the previous call's eigenvectors.
        cold_matvecs: products of a cold (random-start) solve at the same parameters, when one
            was run (first call: the tracked solve itself), else None.
        cold_values: the cold solve's eigenvalues, else None.
        alignment: ``|<x_prev, x>|`` of the previous and the new top eigenvector (the cosine of
            the warm start's angle to the new top vector), None on the first call.
        trace, trace_stderr, trace_matvecs: the Hutch++ trace with its standard error, and its
            products (None, None, 0 without ``trace=True``).
        path: the Hessian operator's class and resolved product mode (see :mod:`._record`).
    """

    step: int
    values: np.ndarray
    residuals: np.ndarray
    converged: bool
    n_matvecs: int
    wall_time: float
    warm: bool
    cold_matvecs: int | None
    cold_values: np.ndarray | None
    alignment: float | None
    trace: float | None
    trace_stderr: float | None
    trace_matvecs: int
    path: str | None = None


@dataclass(frozen=True)
class TrackingOverhead:
    """Products per tracked call, warm versus cold.

    Attributes:
        calls: tracked calls so far.
        warm_calls: calls whose solve was warm-started.
        warm_mean, warm_stderr: mean products of the warm solves and its standard error over
            calls (nan without two warm calls).
        cold_mean, cold_stderr: the same for the cold solves (first call and cold checks).
        ratio: ``warm_mean / cold_mean``. Without ``cold_every`` the only cold solve is the
            first call's, at the initial parameters, whose cost can differ from a cold solve
            later in training (digits MLP: 25 products at step 0, 15-22 later); ``cold_every=1``
            compares both at the same parameters.
        total_matvecs: every product spent (tracked solves, cold checks and traces).
        total_time: seconds spent in the tracker.
    """

    calls: int
    warm_calls: int
    warm_mean: float
    warm_stderr: float
    cold_mean: float
    cold_stderr: float
    ratio: float
    total_matvecs: int
    total_time: float


def _mean_se(x: list[int]) -> tuple[float, float]:
    if not x:
        return math.nan, math.nan
    a = np.asarray(x, dtype=np.float64)
    se = float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else math.nan
    return float(a.mean()), se


class CurvatureTracker:
    """Top-k Hessian eigenvalues (and optionally the trace) every ``every`` training steps.

    Args:
        model: the network being trained (read at each tracked step, never modified).
        loss_fn: as for :class:`HessianOperator` (``"ce"``, ``"mse"``, a callable).
        data: the batch or batches the Hessian is taken over (an ``(X, y)`` pair or a list).
        every: track when ``step % every == 0``.
        k: eigenvalues at the top of the spectrum.
        trace: also estimate ``tr(H)`` by Hutch++ to ``trace_rtol`` (95% interval).
        tol: relative residual tolerance of the eigen-solves.
        seed: int seed or ``torch.Generator``: every random start and probe is drawn from it.
        cold_every: every M-th tracked call also runs a cold solve at the same parameters, to
            measure what the warm start saves (None: only the first call, which is cold anyway).
        params: parameter names or globs (default: all trainable parameters).
        dtype: compute the products in this dtype (e.g. ``torch.float64``).
        mode: Hessian product mode; ``"auto"`` is resolved on the first call (from the model's
            structure, see :class:`HessianOperator`) and then fixed.
        trace_rtol, trace_max_matvecs: the trace's stopping rule and budget.

    Raises:
        UserInputError: bad arguments (one line each).

    Example:
        >>> tracker = CurvatureTracker(model, "ce", (X, y), every=10, k=1)  # doctest: +SKIP
        >>> for t in range(steps):  # doctest: +SKIP
        ...     train_step(); tracker.step(t)
        >>> tracker.history[-1].values, tracker.overhead().ratio  # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Any,
        data: Any,
        every: int = 10,
        k: int = 1,
        trace: bool = False,
        *,
        tol: float = 1e-6,
        seed: int | torch.Generator = 0,
        cold_every: int | None = None,
        params: str | Sequence[str] | None = None,
        dtype: torch.dtype | None = None,
        mode: str = "auto",
        trace_rtol: float = 1e-2,
        trace_max_matvecs: int = 1000,
    ):
        if not isinstance(model, nn.Module):
            raise UserInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.every = check_int(every, "every", 1)
        self.k = check_int(k, "k", 1)
        if not isinstance(trace, bool):
            raise UserInputError(f"trace must be True or False, got {trace!r}")
        self.tol = check_float(tol, "tol", 0.0, strict=True)
        if self.tol >= 1.0:
            raise UserInputError(f"tol must be in (0, 1), got {tol!r}")
        self.cold_every = None if cold_every is None else check_int(cold_every, "cold_every", 1)
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise UserInputError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.trace_rtol = check_float(trace_rtol, "trace_rtol", 0.0, strict=True)
        self.trace_max_matvecs = check_int(trace_max_matvecs, "trace_max_matvecs", 4)
        self.model, self.loss_fn, self.data = model, loss_fn, data
        self.trace, self.params, self.dtype, self.mode = trace, params, dtype, mode
        self._gen = make_generator(seed, torch.device("cpu"))
        self._vectors: torch.Tensor | None = None
        self._last_step: int | None = None
        self.history: list[TrackRecord] = []
        self._total_matvecs = 0
        self._total_time = 0.0

    def __call__(self, step_index: int) -> TrackRecord | None:
        return self.step(step_index)

    def _operator(self) -> HessianOperator:
        op = HessianOperator(self.model, self.loss_fn, self.data, params=self.params,
                             mode=self.mode, dtype=self.dtype,
                             check_determinism=not self.history)
        if self.mode == "auto":  # the structural pick, made once: later calls skip its trials
            self.mode = op.mode
        return op

    def _solve(self, op: HessianOperator, v0: torch.Tensor | None):
        res = eigenvalues(op, self.k, "largest", tol=self.tol, seed=self._gen, v0=v0)
        self._total_matvecs += res.n_matvecs
        return res

    def step(self, step_index: int) -> TrackRecord | None:
        """Track at this step if ``step_index % every == 0``; return the new row or None."""
        step_index = check_int(step_index, "step_index", 0)
        if self._last_step is not None and step_index <= self._last_step:
            raise UserInputError(
                f"step_index must increase: got {step_index} after {self._last_step}"
            )
        if step_index % self.every:
            return None
        self._last_step = step_index
        t0 = time.perf_counter()
        op = self._operator()
        if self._vectors is not None and self._vectors.shape[0] != op.shape[0]:
            raise UserInputError("the number of tracked parameters changed between calls")
        warm = self._vectors is not None
        block = min(self.k, op.shape[0], 8)  # eigenvalues' default block size
        v0 = self._vectors[:, :block] if warm else None
        res = self._solve(op, v0)
        cold_n, cold_vals = (res.n_matvecs, res.values.numpy().copy()) if not warm else (None, None)
        calls = len(self.history)
        if warm and self.cold_every is not None and calls % self.cold_every == 0:
            cold = self._solve(op, None)
            cold_n, cold_vals = cold.n_matvecs, cold.values.numpy().copy()
        align = float((self._vectors[:, 0] @ res.vectors[:, 0]).abs()) if warm else None
        self._vectors = res.vectors.detach().clone()
        tr = tr_se = None
        tr_n = 0
        if self.trace:
            est = trace_estimate(op, "hutch++", rtol=self.trace_rtol,
                                 max_matvecs=self.trace_max_matvecs, seed=self._gen)
            tr, tr_se, tr_n = est.value, est.stderr, est.n_matvecs
            self._total_matvecs += tr_n
        wall = time.perf_counter() - t0
        self._total_time += wall
        record = TrackRecord(
            step=step_index, values=res.values.numpy().copy(),
            residuals=res.residuals.numpy().copy(), converged=res.all_converged,
            n_matvecs=res.n_matvecs, wall_time=wall, warm=warm, cold_matvecs=cold_n,
            cold_values=cold_vals, alignment=align, trace=tr, trace_stderr=tr_se,
            trace_matvecs=tr_n, path=op.path,
        )
        self.history.append(record)
        return record

    def overhead(self) -> TrackingOverhead:
        """Products per call of the warm solves against the cold ones measured so far."""
        warm = [r.n_matvecs for r in self.history if r.warm]
        cold = [r.cold_matvecs for r in self.history if r.cold_matvecs is not None]
        wm, ws = _mean_se(warm)
        cm, cs = _mean_se(cold)
        return TrackingOverhead(
            calls=len(self.history), warm_calls=len(warm), warm_mean=wm, warm_stderr=ws,
            cold_mean=cm, cold_stderr=cs,
            ratio=wm / cm if warm and cold else math.nan,
            total_matvecs=self._total_matvecs, total_time=self._total_time,
        )
