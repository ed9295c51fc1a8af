"""Free additive convolution of Marchenko-Pastur and a semicircle: density, edges, index.

The model of Pennington & Bahri (2017) for the Hessian at a critical point: ``H = H0 + H1`` with
``H0`` a Wishart matrix of ratio ``phi`` (Marchenko-Pastur law of unit scale, R-transform
``1 / (1 - phi z)``) and ``H1`` a Wigner matrix of variance ``2 eps`` (semicircle of radius
``2 sqrt(2 eps)``, R-transform ``2 eps z``). For free summands the R-transforms add,
``R(z) = 1 / (1 - phi z) + 2 eps z``, and the Stieltjes transform ``G(z) = int rho / (z - x)``
solves ``R(G) + 1 / G = z``; clearing denominators gives the cubic

    -2 eps phi G^3 + (2 eps + phi z) G^2 + (1 - phi - z) G + 1 = 0.

On the real axis the density is ``|Im G| / pi`` of the complex root (inside the support the cubic
has one conjugate pair). The support edges are the critical values of the inverse
``z(G) = 1 / G + 1 / (1 - phi G) + 2 eps G``: ``z'(G) = 0`` is the quartic

    2 eps phi^2 G^4 - 4 eps phi G^3 + (2 eps + phi - phi^2) G^2 + 2 phi G - 1 = 0,

and the left edge is ``z(G*)`` for the negative root ``G*`` nearest to 0 (``z`` increases from
``-inf`` as ``G`` falls from ``0-`` until its first critical point). For ``0 < phi < 1`` the
support is one interval, so the index (the fraction of negative eigenvalues) is
``alpha = int_a^0 rho`` when the left edge ``a < 0`` and 0 otherwise. ``eps_c`` is where the left
edge crosses 0; Pennington & Bahri give it in closed form (their Eq. 21).

Everything here is computed numerically from the cubic and the quartic, independently of the
paper's closed forms, so that comparing the two tests them.

References:
    Pennington & Bahri, ICML 2017, Secs. 2-4, Eqs. 16-21.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UserInputError

__all__ = [
    "critical_epsilon",
    "critical_epsilon_closed_form",
    "free_index",
    "left_edge",
    "mp_semicircle_density",
    "sample_negative_counts",
]


def _check(eps: float, phi: float) -> tuple[float, float]:
    eps, phi = float(eps), float(phi)
    if not (math.isfinite(eps) and eps >= 0):
        raise UserInputError(f"eps must be a finite number >= 0, got {eps!r}")
    if not (math.isfinite(phi) and 0 < phi < 1):
        raise UserInputError(f"phi must lie in (0, 1), got {phi!r}")
    return eps, phi


def critical_epsilon_closed_form(phi: float) -> float:
    """Pennington & Bahri Eq. 21: ``eps_c = (1 - 20 phi - 8 phi^2 + (1 + 8 phi)^{3/2}) / 16``."""
    _, phi = _check(0.0, phi)
    return (1.0 - 20.0 * phi - 8.0 * phi**2 + (1.0 + 8.0 * phi) ** 1.5) / 16.0


def _cubic_roots(z: np.ndarray, eps: float, phi: float) -> np.ndarray:
    """Roots (K, 3) of the Stieltjes cubic at the K points ``z``, by companion eigenvalues."""
    z = np.asarray(z, dtype=np.complex128).ravel()
    if eps == 0.0:  # the cubic degenerates to the Marchenko-Pastur quadratic
        a, b, c = phi * z, 1.0 - phi - z, np.ones_like(z)
        disc = np.sqrt(b * b - 4 * a * c)
        r = np.stack([(-b + disc) / (2 * a), (-b - disc) / (2 * a)], axis=1)
        return np.concatenate([r, np.full((z.size, 1), np.nan + 0j)], axis=1)
    lead = -2.0 * eps * phi
    c2 = (2.0 * eps + phi * z) / lead
    c1 = (1.0 - phi - z) / lead
    c0 = np.full_like(z, 1.0 / lead)
    comp = np.zeros((z.size, 3, 3), dtype=np.complex128)
    comp[:, 0, :] = -np.stack([c2, c1, c0], axis=1)
    comp[:, 1, 0] = 1.0
    comp[:, 2, 1] = 1.0
    return np.linalg.eigvals(comp)


def mp_semicircle_density(x: np.ndarray, eps: float, phi: float) -> np.ndarray:
    """Density of the free sum at real points ``x``: ``|Im G(x)| / pi`` of the complex root."""
    eps, phi = _check(eps, phi)
    roots = _cubic_roots(np.asarray(x, dtype=np.float64), eps, phi)
    im = np.nan_to_num(np.abs(roots.imag), nan=0.0).max(axis=1)
    return (im / math.pi).reshape(np.shape(x))


def _z_of_g(g: float, eps: float, phi: float) -> float:
    return 1.0 / g + 1.0 / (1.0 - phi * g) + 2.0 * eps * g


def left_edge(eps: float, phi: float) -> float:
    """Left edge of the support of the free sum (see the module docstring)."""
    eps, phi = _check(eps, phi)
    coeffs = [2 * eps * phi**2, -4 * eps * phi, 2 * eps + phi - phi**2, 2 * phi, -1.0]
    roots = np.roots(coeffs if eps > 0 else coeffs[2:])
    real = roots[(np.abs(roots.imag) <= 1e-9 * np.abs(roots)) & (roots.real < 0)].real
    if real.size == 0:  # pragma: no cover - cannot happen for 0 < phi < 1
        raise RuntimeError("no negative critical point of z(G)")
    g = float(real.max())
    # one Newton polish of z'(G) = 0 on the quartic's root
    for _ in range(3):
        d1 = -1 / g**2 + phi / (1 - phi * g) ** 2 + 2 * eps
        d2 = 2 / g**3 + 2 * phi**2 / (1 - phi * g) ** 3
        if d2 == 0:
            break
        g -= d1 / d2
    return _z_of_g(g, eps, phi)


def free_index(eps: float, phi: float, n_nodes: int = 400) -> float:
    """The index ``int_{-inf}^0 rho`` of the free sum (``N -> inf``).

    The integral runs over ``[a, 0]`` with ``x = a + t^2`` (``a`` the left edge), which turns the
    square-root edge into a smooth integrand; Gauss-Legendre with ``n_nodes`` nodes in ``t``.
    """
    eps, phi = _check(eps, phi)
    a = left_edge(eps, phi)
    if a >= 0:
        return 0.0
    t_max = math.sqrt(-a)
    nodes, weights = np.polynomial.legendre.leggauss(int(n_nodes))
    t = 0.5 * t_max * (nodes + 1.0)
    w = 0.5 * t_max * weights
    rho = mp_semicircle_density(a + t**2, eps, phi)
    return float(np.sum(w * rho * 2.0 * t))


def critical_epsilon(phi: float, xtol: float = 1e-15) -> float:
    """``eps_c``: the ``eps`` at which the left edge of the free sum reaches 0 (bisection)."""
    from scipy.optimize import brentq

    _, phi = _check(0.0, phi)
    lo, hi = 0.0, 1e-3
    while left_edge(hi, phi) > 0:
        lo, hi = hi, 2 * hi
    return float(brentq(lambda e: left_edge(e, phi), lo, hi, xtol=xtol, rtol=1e-15))


def sample_negative_counts(
    n: int, phi: float, eps_values: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Negative-eigenvalue counts of ``X X^T / p + sqrt(2 eps) W`` for each ``eps`` (one draw).

    ``X`` is ``n x p`` standard Gaussian with ``p = round(n / phi)``; ``W`` is a GOE matrix
    normalised to the semicircle of radius 2 (off-diagonal variance ``1 / n``). The same ``X``
    and ``W`` serve every ``eps`` (common random numbers), so differences between ``eps`` values
    are not blurred by independent draws. Counts use ``eigvalsh`` in float64.
    """
    n = int(n)
    if n < 2:
        raise UserInputError(f"n must be >= 2, got {n}")
    _, phi = _check(0.0, phi)
    p = max(1, int(round(n / phi)))
    X = rng.standard_normal((n, p))
    H0 = X @ X.T / p
    A = rng.standard_normal((n, n))
    W = (A + A.T) / math.sqrt(2.0 * n)
    out = np.empty(len(eps_values), dtype=np.int64)
    for i, eps in enumerate(eps_values):
        lam = np.linalg.eigvalsh(H0 + math.sqrt(2.0 * float(eps)) * W)
        out[i] = int(np.count_nonzero(lam < 0))
    return out
