"""The spectrum of a curvature operator as exact outliers plus a deflated SLQ bulk.

A trained network's Hessian has a few large eigenvalues (outliers) far from a bulk concentrated near
zero (Ghorbani, Krishnan & Xiao 2019; Papyan 2019, who traces the outliers to the class structure of
the gradients and measures them apart from the bulk). With ``A = sum_i lambda_i u_i u_i^T`` the
density of states splits exactly:

    phi = (1/P) sum_i delta_{lambda_i}
        = (1/P) sum_{i in O} delta_{lambda_i} + ((P - k) / P) phi_bulk,
    phi_bulk = (1/(P - k)) sum_{i not in O} delta_{lambda_i},

where ``O`` are the k wanted extreme eigenpairs (the k largest, or the k largest and the k
smallest for ``which="both"``; k then counts both ends). This module measures the two parts
separately:

1. Outliers: ``eigenvalues(op, k, which)`` (block Krylov-Schur Lanczos, Lanczos 1950, every
   pair checked by its true residual ``r_i = ||A u_i - lambda_i u_i||``). The Rayleigh quotient
   of a vector with residual r is within ``r^2 / gap`` of an eigenvalue, and the vector within an
   angle ``r / gap`` of its eigenvector (Davis-Kahan), so a relative residual of 1e-4 (the
   default for float32 products) already puts the outliers far below any density resolution.
   Each outlier is a point mass of weight exactly ``1/P``.
2. Bulk: stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017) of the deflated operator
   ``B = Q A Q``, ``Q = I - U U^T``, restricted to ``range(Q)`` (dimension ``P - k``): the probes
   are projected, ``v = Q z / ||Q z||``, and every product is projected on both sides, so the
   Krylov space stays in the complement and the k zero eigenvalues that ``B`` has on
   ``span(U)`` are never seen (their weight ``(u_i^T v)^2`` is zero to rounding). For a Gaussian
   ``z``, ``v`` is uniform on the unit sphere of ``range(Q)``, so ``E[(w^T v)^2] = 1/(P - k)`` for
   every unit ``w`` in it and ``E[mu_v] = phi_bulk`` exactly; for Rademacher ``z`` the
   normalisation by ``||Q z||^2 = P - ||U^T z||^2`` (mean ``P - k``, relative spread about
   ``sqrt(2 k) / P``) leaves a ratio bias of relative order ``k / P^2``, far below the sampling
   error. The m-step Gauss rule reproduces ``v^T B^j v`` exactly for ``j <= 2m - 1``.

The estimate of ``phi`` is ``(1/P) sum_O delta_{lambda_i} + ((P - k)/P) (1/n) sum_p mu_p`` with
``mu_p`` the quadrature measure of probe p (weights summing to 1); its total mass is 1.

Why deflation helps. (a) Plain SLQ gives an outlier the random weight ``(u_i^T v)^2``: mean ``1/P``
but relative standard deviation about ``sqrt(2)`` for one probe, so its mass error over n probes,
``~ sqrt(2 / n) / P``, is carried a distance ``d_i = |lambda_i - bulk|`` and adds about
``sum_O d_i sqrt(2 / n) / P`` to the Wasserstein-1 error; here the outlier masses and positions are
exact. (b) The error of an m-point Gauss rule for ``integral f dmu_v`` is bounded by twice the best
uniform polynomial approximation error of f of degree ``2m - 1`` on the interval that holds the
probe's spectrum (the Chebyshev-approximation argument of Ubaru, Chen & Saad 2017, Section 4); that
error grows with the interval's width relative to the scale on which f varies, and the outliers set
the width: removing them shrinks ``[lambda_min, lambda_1]`` to ``[lambda_min, lambda_{k+1}]``, and
the m nodes, no longer spent on converging to outliers, resolve the bulk on its own scale. The price
is the product count of the eigensolve, reported separately.

Moments: per probe ``m_j = (1/P) sum_O lambda_i^j + ((P - k)/P) sum_i w_i theta_i^j``, each an
unbiased estimate of ``tr(A^j) / P`` (exact for ``j <= 2 n_steps - 1`` given the probe); the
mean and the standard error over probes are reported (the outlier part is deterministic). The
CDF at x is estimated the same way, with its standard error over probes.

``wasserstein1`` compares a discrete measure (this result, a ``SpectralDensity``, or
``(points, masses)``) with an exact spectrum: in one dimension ``W_1 = integral |F - G| dx``,
computed exactly from the merged sorted atoms.

References:
    Lanczos 1950; Ubaru, Chen & Saad 2017 (SLQ and its error bounds); Ghorbani, Krishnan & Xiao
    2019 (Hessian densities by SLQ, outliers); Papyan 2019 (outliers and bulk, separated).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import UserInputError
from ._checks import as_operator, check_choice, check_float, check_int, check_quadrature
from ._density import SpectralDensity, _smooth
from ._krylov import batched_lanczos, gauss_quadrature, mean_stderr, probe_moments
from ._lanczos import eigenvalues
from ._products import F64, Products, make_generator, rademacher, randn
from ._record import ResultRecord

__all__ = ["BulkOutlierSpectrum", "bulk_and_outliers", "wasserstein1"]

_WHICH = ("largest", "both")


@dataclass(frozen=True)
class BulkOutlierSpectrum(ResultRecord):
    """Exact outliers (point masses 1/P) plus the SLQ quadrature of the deflated bulk.

    Attributes:
        outliers: (n_outliers,) eigenvalues: the k largest (descending), followed for
            ``which="both"`` by the k smallest (ascending).
        outlier_residuals: (n_outliers,) true residuals ``||A u - lambda u||``.
        outlier_converged: (n_outliers,) bool, from :func:`eigenvalues`'s residual test.
        outlier_vectors: (P, n_outliers) float64 orthonormal eigenvectors (operator's device).
        bulk_nodes: (n_probes, n_steps) Ritz values of the deflated operator per probe.
        bulk_weights: (n_probes, n_steps) quadrature weights per probe; each row sums to 1
            (a probability measure on the bulk; it carries ``bulk_mass`` of the spectrum).
        bulk_ritz_residuals: (n_probes, n_steps) bounds ``|beta_m y_{m,i}|``.
        moments: (n_probes, 4) per-probe ``m_j`` of the whole spectrum (module docstring).
        moments_mean, moments_stderr: (4,) estimates of ``tr(A^j)/P`` and standard errors over
            probes (nan for one probe).
        sigma: default Gaussian bandwidth of :meth:`evaluate` (1% of the bulk node range).
        size: P. k: pairs per requested end. which: ``"largest"`` or ``"both"``.
        n_outliers: deflated pairs (k, or 2k for ``"both"``).
        n_probes, n_steps, probe: SLQ settings used (n_steps capped at ``P - n_outliers``).
        tol: residual tolerance passed to :func:`eigenvalues`.
        n_matvecs: single-vector products in all; ``n_matvecs_outliers`` and
            ``n_matvecs_bulk`` split it. wall_time (seconds) and its split likewise.
        path: the operator's class and resolved product mode (see :mod:`._record`).
    """

    _bulky = ("outlier_vectors",)

    outliers: np.ndarray
    outlier_residuals: np.ndarray
    outlier_converged: np.ndarray
    outlier_vectors: torch.Tensor
    bulk_nodes: np.ndarray
    bulk_weights: np.ndarray
    bulk_ritz_residuals: np.ndarray
    moments: np.ndarray
    moments_mean: np.ndarray
    moments_stderr: np.ndarray
    sigma: float
    size: int
    k: int
    which: str
    n_outliers: int
    n_probes: int
    n_steps: int
    probe: str
    tol: float
    n_matvecs: int
    n_matvecs_outliers: int
    n_matvecs_bulk: int
    wall_time: float
    wall_time_outliers: float
    wall_time_bulk: float
    path: str | None = None

    @property
    def bulk_mass(self) -> float:
        """``(P - n_outliers) / P``: the share of the spectrum in the bulk."""
        return (self.size - self.n_outliers) / self.size

    @property
    def all_converged(self) -> bool:
        return bool(np.all(self.outlier_converged))

    @property
    def bulk_range(self) -> tuple[float, float]:
        live = self.bulk_weights > 0
        nodes = self.bulk_nodes[live]
        return float(nodes.min()), float(nodes.max())

    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """The estimated spectral measure as sorted points and masses (masses sum to 1)."""
        x = np.concatenate([self.outliers, self.bulk_nodes.reshape(-1)])
        w = np.concatenate([
            np.full(self.n_outliers, 1.0 / self.size),
            self.bulk_weights.reshape(-1) * (self.bulk_mass / self.n_probes),
        ])
        order = np.argsort(x, kind="stable")
        return x[order], w[order]

    def evaluate(self, x: Any, sigma: float | None = None) -> np.ndarray:
        """The density smoothed by a Gaussian of bandwidth sigma at ``x`` (total mass 1)."""
        s = self.sigma if sigma is None else check_float(sigma, "sigma", 0.0, strict=True)
        x = np.asarray(x, dtype=np.float64)
        bulk = _smooth(x, self.bulk_nodes, self.bulk_weights, s)
        out = _smooth(x, self.outliers[None, :], np.ones((1, self.n_outliers)), s)
        return self.bulk_mass * bulk + out / self.size

    def _cdf_per_probe(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        flat = x.reshape(-1)
        out = (self.outliers[None, :] <= flat[:, None]).sum(axis=1) / self.size
        below = self.bulk_nodes[:, :, None] <= flat[None, None, :]
        bulk = (self.bulk_weights[:, :, None] * below).sum(axis=1)  # (n_probes, len(x))
        return (out[None, :] + self.bulk_mass * bulk).reshape(self.n_probes, *x.shape)

    def cdf(self, x: Any) -> np.ndarray:
        """Estimated fraction of eigenvalues ``<= x`` (mean over probes)."""
        return self._cdf_per_probe(x).mean(axis=0)

    def cdf_stderr(self, x: Any) -> np.ndarray:
        """Standard error of :meth:`cdf` over probes (nan for one probe)."""
        per = self._cdf_per_probe(x)
        if self.n_probes < 2:
            return np.full(per.shape[1:], np.nan)
        return per.std(axis=0, ddof=1) / math.sqrt(self.n_probes)

    def moment(self, j: int) -> np.ndarray:
        """Per-probe ``m_j`` (unbiased for ``tr(A^j)/P``; exact given the probe, j <= 2m-1)."""
        j = check_int(j, "j", 0)
        bulk = (self.bulk_weights * self.bulk_nodes**j).sum(axis=1)
        return float(np.sum(self.outliers**j)) / self.size + self.bulk_mass * bulk

    def __repr__(self) -> str:
        from ..notebook import brief

        return brief("BulkOutlierSpectrum", outliers=self.outliers, bulk_range=self.bulk_range,
                     size=self.size, n_probes=self.n_probes, n_steps=self.n_steps,
                     n_matvecs=self.n_matvecs)

    def _repr_html_(self) -> str:
        from ..notebook import outliers_html

        return outliers_html(self)


class _Deflated:
    """Products with ``Q A Q`` (``Q = I - U U^T``), projected before and after; counted by A."""

    def __init__(self, A: Products, U: torch.Tensor):
        self.A, self.U, self.dtype = A, U, A.dtype

    def project(self, V: torch.Tensor) -> torch.Tensor:
        return V - self.U @ (self.U.T @ V)

    def __call__(self, V: torch.Tensor) -> torch.Tensor:
        return self.project(self.A(self.project(V)))


def _probes(
    gen: torch.Generator, defl: _Deflated, P: int, n: int, probe: str, device: torch.device
) -> torch.Tensor:
    """Unit probes in ``range(Q)``: ``Q z / ||Q z||`` (a probe lying in span(U) is redrawn)."""
    Z = rademacher(gen, (P, n), device) if probe == "rademacher" else randn(gen, (P, n), device)
    V = defl.project(defl.project(Z))
    norms = V.norm(dim=0)
    for p in torch.nonzero(norms <= 1e-6 * math.sqrt(P)).flatten().tolist():  # tiny P only
        for _ in range(100):
            x = defl.project(defl.project(randn(gen, (P,), device)))
            if float(x.norm()) > 1e-6:
                V[:, p] = x
                break
    return V / V.norm(dim=0)


def bulk_and_outliers(
    op: Any,
    k: int,
    n_probes: int = 8,
    n_steps: int = 64,
    seed: int | torch.Generator = 0,
    *,
    which: str = "largest",
    probe: str = "rademacher",
    tol: float | None = None,
    sigma: float | None = None,
    block_size: int | None = None,
) -> BulkOutlierSpectrum:
    """Top-k eigenpairs exactly, then SLQ of the operator deflated by them.

    Args:
        op: symmetric operator (``.shape``, ``.dtype``, ``.device``, ``@``), or a square tensor.
        k: outliers per end (``1 <= k``, and ``k < P``; ``2k < P`` for ``which="both"``).
        n_probes: SLQ probes, advanced together (one ``(P, n_probes)`` product a step).
        n_steps: Lanczos steps per probe, capped at ``P - n_outliers``.
        seed: int seed or ``torch.Generator``; the eigensolve and the probes draw from it.
        which: ``"largest"`` (deflate the k largest) or ``"both"`` (also the k smallest, for
            spectra with negative outliers).
        probe: ``"rademacher"`` or ``"gaussian"`` (exactly uniform on the complement's sphere).
        tol: relative residual tolerance of the eigensolve; default 1e-8 for float64 products,
            1e-4 otherwise (eigenvalue error ``<= r^2 / gap``: see the module docstring).
        sigma: default bandwidth of :meth:`BulkOutlierSpectrum.evaluate` (1% of the bulk's
            node range when None).
        block_size: block size of the eigensolve (default that of :func:`eigenvalues`).

    Returns:
        BulkOutlierSpectrum.

    Raises:
        UserInputError: bad arguments (k < 1, k >= P, ...), a non-square operator, or a
            NaN/inf product.

    References:
        Lanczos 1950; Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019; Papyan 2019.
    """
    t0 = time.perf_counter()
    op = as_operator(op)
    P = int(op.shape[0])
    k = check_int(k, "k", 1)
    which = check_choice(which, "which", _WHICH)
    n_out = 2 * k if which == "both" else k
    if n_out >= P:
        raise UserInputError(
            f"k={k} deflates {n_out} eigenpairs of a {P}-dimensional operator; "
            f"need {'2k' if which == 'both' else 'k'} < P so that a bulk remains"
        )
    n_probes, n_steps, probe, sigma = check_quadrature(n_probes, n_steps, probe, sigma)
    A = Products(op)
    if tol is None:
        tol = 1e-8 if A.dtype == F64 else 1e-4
    tol = check_float(tol, "tol", 0.0)
    gen = make_generator(seed, A.device)

    eig = eigenvalues(op, k, which, tol=tol, seed=gen, block_size=block_size)
    t1 = time.perf_counter()
    U = eig.vectors.to(device=A.device, dtype=F64)
    defl = _Deflated(A, U)
    n_steps = min(n_steps, P - n_out)
    V0 = _probes(gen, defl, P, n_probes, probe, A.device)
    nodes, weights, ritz = gauss_quadrature(*batched_lanczos(defl, V0, n_steps, gen))
    t2 = time.perf_counter()

    outliers = eig.values.numpy().astype(np.float64)
    bulk_mass = (P - n_out) / P
    bulk = probe_moments(nodes, weights)  # (n_probes, j = 1..4) of the bulk measure
    moments = np.stack([float(np.sum(outliers**j)) / P + bulk_mass * bulk[:, j - 1]
                        for j in range(1, bulk.shape[1] + 1)], axis=1)
    mean, stderr = mean_stderr(moments)
    if sigma is None:
        live = nodes[weights > 0]
        lo, hi = float(live.min()), float(live.max())
        sigma = 0.01 * (hi - lo) if hi > lo else 0.01 * max(abs(hi), 1.0)
    return BulkOutlierSpectrum(
        outliers=outliers, outlier_residuals=eig.residuals.numpy(),
        outlier_converged=eig.converged.numpy(), outlier_vectors=eig.vectors,
        bulk_nodes=nodes, bulk_weights=weights, bulk_ritz_residuals=ritz, moments=moments,
        moments_mean=mean, moments_stderr=stderr, sigma=float(sigma), size=P, k=k, which=which,
        n_outliers=n_out, n_probes=n_probes, n_steps=n_steps, probe=probe, tol=tol,
        n_matvecs=eig.n_matvecs + A.count, n_matvecs_outliers=eig.n_matvecs,
        n_matvecs_bulk=A.count, wall_time=t2 - t0, wall_time_outliers=t1 - t0,
        wall_time_bulk=t2 - t1, path=A.path,
    )


def _as_atoms(measure: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(measure, BulkOutlierSpectrum):
        return measure.atoms()
    if isinstance(measure, SpectralDensity):
        n = measure.nodes.shape[0]
        return measure.nodes.reshape(-1), measure.weights.reshape(-1) / n
    if isinstance(measure, (tuple, list)) and len(measure) == 2:
        x = np.asarray(measure[0], dtype=np.float64).reshape(-1)
        w = np.asarray(measure[1], dtype=np.float64).reshape(-1)
        if x.shape != w.shape or x.size == 0:
            raise UserInputError("a (points, masses) measure needs two equal-length, non-empty "
                                 "arrays")
        return x, w
    raise UserInputError(
        "measure must be a BulkOutlierSpectrum, a SpectralDensity or (points, masses), "
        f"got {type(measure).__name__}"
    )


def wasserstein1(measure: Any, exact_eigenvalues: Any) -> float:
    """1-D Wasserstein-1 distance ``integral |F - G| dx`` between a discrete measure and a spectrum.

    Args:
        measure: a :class:`BulkOutlierSpectrum`, a ``SpectralDensity`` (probes averaged) or
            ``(points, masses)``; masses must be non-negative and sum to 1 (to 1e-8).
        exact_eigenvalues: the P eigenvalues (each of mass 1/P).

    Returns:
        The distance, in the units of the eigenvalues.
    """
    x, w = _as_atoms(measure)
    lam = np.asarray(exact_eigenvalues, dtype=np.float64).reshape(-1)
    if lam.size == 0 or not np.all(np.isfinite(lam)):
        raise UserInputError("exact_eigenvalues must be a non-empty array of finite numbers")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(w))) or np.any(w < 0):
        raise UserInputError("the measure's points and masses must be finite, masses >= 0")
    if abs(float(w.sum()) - 1.0) > 1e-8:
        raise UserInputError(f"the measure's masses must sum to 1, got {float(w.sum())!r}")
    pts = np.concatenate([x, lam])
    mass = np.concatenate([w, np.full(lam.size, -1.0 / lam.size)])
    order = np.argsort(pts, kind="stable")
    pts, mass = pts[order], mass[order]
    diff = np.cumsum(mass)[:-1]  # F - G on [pts[i], pts[i+1])
    return float(np.sum(np.abs(diff) * np.diff(pts)))
