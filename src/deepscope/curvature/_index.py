"""Hessian index: the fraction of negative eigenvalues, exact or by stochastic Lanczos quadrature.

The index of a symmetric P x P operator is ``#{i : lambda_i < -eps} / P`` with the threshold
``eps = tol * ||A||`` (``||A||`` the largest ``|lambda|``, or the largest ``|node|`` for SLQ), so
that rounding-level eigenvalues of a (near) positive semidefinite operator do not count.

* ``method="dense"``: the operator is made dense with P products and ``eigvalsh`` gives the
  exact count ``n_negative``; ``stderr = 0``.
* ``method="slq"``: for a unit probe ``v``, ``v^T 1[A < -eps] v`` estimates the index without bias
  (``E = tr(1[A < -eps]) / P``). It is approximated from the SLQ quadrature of each probe (see
  :mod:`deepscope.curvature._density`): the weight on nodes below ``-eps``, with the
  two nodes straddling the threshold split by linear interpolation of the quadrature CDF unless
  they are point masses: converged (Ritz residual below the distance to the threshold) or a
  spike (weight over 4x that of the neighbouring nodes), such as the (near-)zero eigenvalues of
  an overparameterised network's Hessian, which sit right next to the threshold and must not be
  split. Such a spike is counted on the side of ``-eps`` where its node lies; when the spike is
  not resolved to ``eps`` (its node's Ritz residual exceeds ``eps``) that side is uncertain, and
  ``bias_bound`` (below) says so - raise ``tol`` above the SLQ resolution or add steps.
  The mean over probes is ``value`` and the sample standard error over probes is ``stderr``.
  The quadrature of a step function is not exact: by the Chebyshev-Markov-Stieltjes
  inequalities the per-probe error is at most about the weight of the node just below or just
  above the threshold; ``bias_bound`` is the mean of that bound over probes (it shrinks as
  ``n_steps`` grows). This error is not independent across probes (Ritz values from different
  probes sit at nearly the same places) and is NOT in ``stderr``; a worst-case bracket is
  ``value +- (3 stderr + bias_bound)``. In practice (semicircle bulk, P = 2000, 100 steps) the
  interpolated estimate is off by about 0.001, well inside 3 stderr for 12 probes, while the
  plain node count can be off by 0.01.
* ``method="auto"``: dense for ``P <= dense_limit``, else SLQ.

References:
    Ubaru, Chen & Saad 2017 (SLQ); Lin, Saad & Yang 2016 (spectral densities, counting
    eigenvalues in an interval); Golub & Meurant 2010 (Gauss quadrature bounds);
    Ghorbani, Krishnan & Xiao 2019 (Hessian spectra by SLQ).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._checks import as_operator, check_choice, check_float, check_int
from ._density import SpectralDensity, spectral_density
from ._products import Products, path
from ._record import ResultRecord

__all__ = ["HessianIndex", "hessian_index"]

_METHODS = ("auto", "dense", "slq")
_SPIKE = 4.0


@dataclass(frozen=True)
class HessianIndex(ResultRecord):
    """Fraction of eigenvalues below ``-threshold``.

    Attributes:
        value: the index (fraction of negative eigenvalues).
        stderr: standard error over probes (0 for the exact dense count).
        method: ``"dense"`` or ``"slq"``.
        n_negative: exact count (dense), else None.
        threshold: the absolute ``eps``; eigenvalues ``< -eps`` count as negative.
        size: P.
        n_matvecs: single-vector products used.
        wall_time: seconds.
        per_probe: (n_probes,) per-probe estimates (SLQ), else None.
        bias_bound: mean per-probe quadrature error bound (SLQ; 0 for dense).
        density: the SpectralDensity behind an SLQ estimate, else None.
        path: the operator's class and resolved product mode (see :mod:`._record`).
    """

    value: float
    stderr: float
    method: str
    n_negative: int | None
    threshold: float
    size: int
    n_matvecs: int
    wall_time: float
    per_probe: np.ndarray | None = None
    bias_bound: float = 0.0
    density: SpectralDensity | None = None
    path: str | None = None

    def __repr__(self) -> str:
        from ..notebook import brief

        return brief("HessianIndex", value=self.value, stderr=self.stderr, method=self.method,
                     n_negative=self.n_negative, threshold=self.threshold, size=self.size)

    def _repr_html_(self) -> str:
        from ..notebook import index_html

        return index_html(self)


def _default_tol(dtype: torch.dtype) -> float:
    eps = torch.finfo(dtype).eps if dtype.is_floating_point else torch.finfo(torch.float64).eps
    return max(1e-8, 100.0 * eps)


def _point_mass(th: np.ndarray, w: np.ndarray, r: np.ndarray, i: int, t: float) -> bool:
    """Whether node i stands for a point mass rather than a piece of a continuous bulk: its Ritz
    residual is below its distance to ``t`` (an eigenvalue lies on its side: converged), or its
    weight is over ``_SPIKE`` times the mean weight of its neighbours (an unresolved spike, e.g.
    the many zero eigenvalues of an overparameterised Hessian)."""
    if r[i] <= abs(th[i] - t):
        return True
    nb = [w[j] for j in (i - 1, i + 1) if 0 <= j < w.size]
    return bool(nb) and w[i] > _SPIKE * float(np.mean(nb))


def _count_below(
    nodes: np.ndarray, weights: np.ndarray, resid: np.ndarray, t: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-probe estimate of ``v^T 1[A < t] v`` from the quadrature, and its error bound.

    Start from the weight on nodes ``< t`` (raw). The two nodes straddling ``t`` (``theta_k < t
    <= theta_{k+1}``) are the only uncertain ones. A point mass (see ``_point_mass``) keeps its
    whole weight on its side of ``t``; a bulk node is split as the linear interpolation of the
    quadrature CDF (node weights counted half at the node) would split it: node k moves
    ``(1 - s) w_k / 2`` above ``t`` and node k+1 moves ``s w_{k+1} / 2`` below, with
    ``s = (t - theta_k) / (theta_{k+1} - theta_k)``. The Chebyshev-Markov-Stieltjes inequalities
    put the truth in ``[raw - w_k, raw + w_{k+1}]``; the bound is the larger distance from the
    estimate to the ends of that interval.
    """
    est = np.zeros(nodes.shape[0])
    bound = np.zeros(nodes.shape[0])
    for p in range(nodes.shape[0]):  # loop over probes (few), not over P
        live = weights[p] > 0
        th, w, r = nodes[p][live], weights[p][live], resid[p][live]
        below = np.nonzero(th < t)[0]
        above = np.nonzero(th >= t)[0]
        raw = float(w[below].sum())
        e = raw
        wk = float(w[below.max()]) if below.size else 0.0
        wk1 = float(w[above.min()]) if above.size else 0.0
        if below.size and above.size:
            k, k1 = int(below.max()), int(above.min())
            gap = th[k1] - th[k]
            s = (t - th[k]) / gap if gap > 0 else 0.5
            if not _point_mass(th, w, r, k, t):
                e -= (1.0 - s) * wk / 2
            if not _point_mass(th, w, r, k1, t):
                e += s * wk1 / 2
        est[p] = e
        bound[p] = max(e - (raw - wk), raw + wk1 - e)
    return est, bound


def hessian_index(
    op: Any,
    method: str = "auto",
    dense_limit: int = 2000,
    tol: float | None = None,
    n_probes: int = 16,
    n_steps: int = 100,
    seed: int | torch.Generator = 0,
) -> HessianIndex:
    """Fraction of negative eigenvalues of a symmetric operator (exact or SLQ estimate).

    Args:
        op: symmetric operator (``.shape``, ``.dtype``, ``.device``, ``@``), or a square tensor.
        method: ``"auto"`` (dense when ``P <= dense_limit``), ``"dense"`` or ``"slq"``.
        dense_limit: largest P for the exact path under ``"auto"``.
        tol: relative threshold, eigenvalues ``< -tol * ||A||`` count as negative; default
            ``max(1e-8, 100 eps(dtype))``.
        n_probes, n_steps: SLQ probes (one batched product per step) and Lanczos steps (more
            steps shrink the quadrature error ``bias_bound``).
        seed: int seed or ``torch.Generator`` (SLQ).

    Returns:
        HessianIndex (value, stderr, method, n_negative when exact, ...).

    Raises:
        UserInputError: bad arguments, a non-square operator, or a NaN/inf product.

    References:
        Ubaru, Chen & Saad 2017; Lin, Saad & Yang 2016; Ghorbani, Krishnan & Xiao 2019.
    """
    t0 = time.perf_counter()
    op = as_operator(op)
    method = check_choice(method, "method", _METHODS)
    dense_limit = check_int(dense_limit, "dense_limit", 0)
    tol = _default_tol(op.dtype) if tol is None else check_float(tol, "tol", 0.0)
    P = int(op.shape[0])
    if method == "auto":
        method = "dense" if P <= dense_limit else "slq"
    if method == "dense":
        A = Products(op)
        lam = torch.linalg.eigvalsh(A.dense().cpu())
        eps = tol * float(lam.abs().max())
        n_neg = int((lam < -eps).sum())
        return HessianIndex(
            value=n_neg / P, stderr=0.0, method="dense", n_negative=n_neg, threshold=eps,
            size=P, n_matvecs=A.count, wall_time=time.perf_counter() - t0, path=A.path,
        )
    d = spectral_density(op, n_probes=n_probes, n_steps=n_steps, seed=seed)
    eps = tol * float(np.abs(d.nodes).max())
    per_probe, bound = _count_below(d.nodes, d.weights, d.ritz_residuals, -eps)
    n = per_probe.size
    stderr = float(per_probe.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return HessianIndex(
        value=float(per_probe.mean()), stderr=stderr, method="slq", n_negative=None,
        threshold=eps, size=P, n_matvecs=d.n_matvecs, wall_time=time.perf_counter() - t0,
        per_probe=per_probe, bias_bound=float(bound.mean()),
        density=d, path=path(op),
    )
