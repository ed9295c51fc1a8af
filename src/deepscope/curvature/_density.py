"""Spectral density of a curvature operator by stochastic Lanczos quadrature (SLQ).

For a unit probe ``v`` and the spectral decomposition ``A = sum_i lambda_i u_i u_i^T``,

    v^T f(A) v = sum_i (u_i^T v)^2 f(lambda_i) = integral f dmu_v,

and ``E[v^T f(A) v] = tr f(A) / P`` for ``v = z / sqrt(P)`` (Rademacher ``z``) or ``v = g / ||g||``
(Gaussian ``g``). m Lanczos steps from ``v`` give a tridiagonal ``T_m = Y diag(theta) Y^T``; the
Gauss quadrature with nodes ``theta_i`` and weights ``w_i = Y_{1i}^2`` (they sum to 1) is exact,
``sum_i w_i theta_i^j = v^T A^j v``, for every polynomial degree ``j <= 2 m - 1``, and for all
``f`` when the Krylov space is invariant (``m >= P``). The density of states
``phi(t) = (1/P) sum_i delta(t - lambda_i)`` is estimated by the average over probes of these
discrete measures, smoothed with a Gaussian of bandwidth ``sigma``:

    phi_sigma(t) = (1/n) sum_probes sum_i w_i N(t; theta_i, sigma^2).

Batching: the ``n_probes`` recurrences are advanced together, so each step is ONE product
``A V`` with ``V`` of shape ``(P, n_probes)``. Each probe keeps its own float64 basis (memory
``n_probes * n_steps * P`` float64 numbers) and its new vector is reorthogonalised against it
twice (classical Gram-Schmidt as batched matrix products). If a probe's Krylov space becomes
invariant (``beta ~ 0``), it continues with a random unit vector orthogonal to its basis and a zero
coupling: ``T`` becomes block diagonal and the extra nodes get weight exactly 0, so every probe
still has ``n_steps`` nodes. ``n_steps`` is capped at P.

Smoothing: default ``sigma = 0.01 * (theta_max - theta_min)`` (1% of the spectral range seen by
the nodes; Lin, Saad & Yang 2016 discuss the choice); the default grid is 1024 points on
``[theta_min - 6 sigma, theta_max + 6 sigma]``. The grid density is divided by its trapezoid
integral (reported as ``normalization``; it is ~1 when the grid covers the nodes by a few
sigma) so that it integrates to 1 on the grid. For a bulk plus far outliers use
``log_density()`` (log10 with a floor) or evaluate on your own grid with ``evaluate()``.

Moments: ``moments[p, j-1] = sum_i w_i theta_i^j = v_p^T A^j v_p`` (exact, j = 1..4 needs only
3 steps), each an unbiased estimate of ``tr(A^j) / P``; ``moments_mean`` and ``moments_stderr``
(sample standard deviation over probes / sqrt(n_probes)) give the estimate and its error.

References:
    Lanczos 1950; Golub & Meurant, Matrices, Moments and Quadrature (2010);
    Ubaru, Chen & Saad 2017, SIAM J. Matrix Anal. Appl. 38:1075 (SLQ);
    Lin, Saad & Yang 2016, SIAM Review 58:34 (density of states, smoothing);
    Ghorbani, Krishnan & Xiao 2019, ICML, arXiv:1901.10159 (Hessian spectra by SLQ).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import UserInputError
from ._checks import as_operator, check_float, check_int, check_quadrature
from ._krylov import batched_lanczos, gauss_quadrature, mean_stderr, probe_moments
from ._products import Products, make_generator, rademacher, randn
from ._record import ResultRecord

__all__ = ["SpectralDensity", "spectral_density"]


@dataclass(frozen=True)
class SpectralDensity(ResultRecord):
    """SLQ quadrature per probe, the smoothed density on a grid, and spectral moments.

    Attributes:
        nodes: (n_probes, n_steps) Ritz values per probe (ascending).
        weights: (n_probes, n_steps) quadrature weights per probe; each row sums to 1.
        grid: (n_grid,) points.
        density: (n_grid,) smoothed density, normalised so its trapezoid integral on ``grid``
            is 1.
        sigma: Gaussian bandwidth used.
        normalization: trapezoid integral of the smoothed density on the grid BEFORE
            normalising (~1 when the grid covers the spectrum by a few sigma).
        ritz_residuals: (n_probes, n_steps) bounds ``|beta_m y_{m,i}|``: an eigenvalue of A lies
            within this distance of each node (small = converged, e.g. an outlier or a spike).
        moments: (n_probes, 4): ``v^T A^j v`` for j = 1..4 per probe.
        moments_mean: (4,) estimates of ``tr(A^j) / P``.
        moments_stderr: (4,) standard errors over probes (nan for one probe).
        spectral_range: (min node, max node).
        n_probes, n_steps, probe: settings used (n_steps after capping at P).
        n_matvecs: single-vector products used (``n_probes * n_steps``).
        n_calls: batched products (``n_steps``: one per Lanczos step for all probes).
        wall_time: seconds.
        probes: the unit probes (P, n_probes) if requested, else None.
        path: the operator's class and resolved product mode (see :mod:`._record`).
    """

    _bulky = ("probes",)

    nodes: np.ndarray
    weights: np.ndarray
    grid: np.ndarray
    density: np.ndarray
    sigma: float
    normalization: float
    ritz_residuals: np.ndarray
    moments: np.ndarray
    moments_mean: np.ndarray
    moments_stderr: np.ndarray
    spectral_range: tuple[float, float]
    n_probes: int
    n_steps: int
    probe: str
    n_matvecs: int
    n_calls: int
    wall_time: float
    probes: torch.Tensor | None = None
    path: str | None = None

    def evaluate(self, x: Any, sigma: float | None = None) -> np.ndarray:
        """The smoothed density at points ``x`` (integrates to 1 over the real line)."""
        s = self.sigma if sigma is None else check_float(sigma, "sigma", 0.0, strict=True)
        return _smooth(np.asarray(x, dtype=np.float64), self.nodes, self.weights, s)

    def log_density(self, floor: float = 1e-12) -> np.ndarray:
        """``log10(max(density, floor))`` on ``grid``: bulk and outliers on one plot."""
        floor = check_float(floor, "floor", 0.0, strict=True)
        return np.log10(np.maximum(self.density, floor))

    def moment(self, j: int) -> np.ndarray:
        """Per-probe ``sum_i w_i theta_i^j`` (= ``v^T A^j v`` exactly for ``j <= 2 n_steps-1``)."""
        j = check_int(j, "j", 0)
        return (self.weights * self.nodes**j).sum(axis=1)

    def weight_below(self, threshold: float) -> np.ndarray:
        """Per-probe quadrature weight on nodes ``< threshold`` (estimates a CDF value)."""
        return (self.weights * (self.nodes < threshold)).sum(axis=1)

    def __repr__(self) -> str:
        from ..notebook import brief

        return brief("SpectralDensity", spectral_range=self.spectral_range,
                     moments_mean=self.moments_mean, n_probes=self.n_probes,
                     n_steps=self.n_steps, sigma=self.sigma, n_matvecs=self.n_matvecs)

    def _repr_html_(self) -> str:
        from ..notebook import density_html

        return density_html(self)


def _smooth(x: np.ndarray, nodes: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """Mixture ``(1/n) sum_p sum_i w_pi N(x; theta_pi, sigma^2)`` without a P-sized loop."""
    flat_t = nodes.reshape(-1)
    flat_w = weights.reshape(-1) / nodes.shape[0]
    keep = flat_w > 0
    flat_t, flat_w = flat_t[keep], flat_w[keep]
    shape = x.shape
    xs = x.reshape(-1)
    out = np.empty_like(xs)
    chunk = max(1, 4_000_000 // max(1, flat_t.size))
    norm = 1.0 / (sigma * math.sqrt(2.0 * math.pi))
    for start in range(0, xs.size, chunk):
        d = (xs[start : start + chunk, None] - flat_t[None, :]) / sigma
        out[start : start + chunk] = norm * (np.exp(-0.5 * d * d) @ flat_w)
    return out.reshape(shape)


def spectral_density(
    op: Any,
    n_probes: int = 8,
    n_steps: int = 64,
    seed: int | torch.Generator = 0,
    grid: Any = None,
    sigma: float | None = None,
    n_grid: int = 1024,
    *,
    probe: str = "rademacher",
    return_probes: bool = False,
) -> SpectralDensity:
    """Estimate the spectral density and moments by batched stochastic Lanczos quadrature.

    Args:
        op: symmetric operator (``.shape``, ``.dtype``, ``.device``, ``@``), or a square tensor.
        n_probes: independent probes, advanced together (one ``(P, n_probes)`` product a step).
        n_steps: Lanczos steps per probe (capped at P); quadrature exact to degree
            ``2 n_steps - 1``.
        seed: int seed or ``torch.Generator``; probes are float64 on the operator's device.
        grid: points for the density (default: ``n_grid`` points covering the nodes +- 6 sigma).
        sigma: Gaussian bandwidth (default 1% of the node range).
        n_grid: size of the default grid.
        probe: ``"rademacher"`` (``z / sqrt(P)``) or ``"gaussian"`` (``g / ||g||``).
        return_probes: keep the unit probes in the result (``probes``).

    Returns:
        SpectralDensity; see the module docstring for the maths and defaults.

    Raises:
        UserInputError: bad arguments, a non-square operator, or a NaN/inf product.

    References:
        Ubaru, Chen & Saad 2017; Lin, Saad & Yang 2016; Ghorbani, Krishnan & Xiao 2019.
    """
    t0 = time.perf_counter()
    op = as_operator(op)
    n_probes, n_steps, probe, sigma = check_quadrature(n_probes, n_steps, probe, sigma)
    n_grid = check_int(n_grid, "n_grid", 2)
    A = Products(op)
    P = A.P
    n_steps = min(n_steps, P)
    gen = make_generator(seed, A.device)
    if probe == "rademacher":
        V0 = rademacher(gen, (P, n_probes), A.device) / math.sqrt(P)
    else:
        V0 = randn(gen, (P, n_probes), A.device)
        V0 = V0 / V0.norm(dim=0)
    nodes, weights, ritz_residuals = gauss_quadrature(*batched_lanczos(A, V0, n_steps, gen))
    moments = probe_moments(nodes, weights)
    mean, stderr = mean_stderr(moments)

    lo, hi = float(nodes.min()), float(nodes.max())
    if sigma is None:
        width = hi - lo if hi > lo else max(abs(hi), 1.0)
        sigma = 0.01 * width
    if grid is None:
        grid_arr = np.linspace(lo - 6 * sigma, hi + 6 * sigma, n_grid)
    else:
        grid_arr = np.asarray(grid, dtype=np.float64).reshape(-1)
        if grid_arr.size < 2 or not np.all(np.isfinite(grid_arr)) or np.any(
            np.diff(grid_arr) <= 0
        ):
            raise UserInputError("grid must be a finite, strictly increasing array of >= 2 points")
    raw = _smooth(grid_arr, nodes, weights, sigma)
    normalization = float(np.trapezoid(raw, grid_arr))
    density = raw / normalization if normalization > 0 else raw
    return SpectralDensity(
        nodes=nodes, weights=weights, grid=grid_arr, density=density, sigma=float(sigma),
        normalization=normalization, ritz_residuals=ritz_residuals, moments=moments,
        moments_mean=mean,
        moments_stderr=stderr, spectral_range=(lo, hi), n_probes=n_probes, n_steps=n_steps,
        probe=probe, n_matvecs=A.count, n_calls=A.calls, wall_time=time.perf_counter() - t0,
        probes=V0 if return_probes else None, path=A.path,
    )
