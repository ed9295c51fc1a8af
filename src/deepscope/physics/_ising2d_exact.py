"""Exact references for the 2D Ising model (J = 1, k_B = 1, zero field, square lattice).

Two independent kinds of truth:

- Onsager's solution of the infinite lattice: ``T_c = 2 / ln(1 + sqrt 2)``, the free energy as
  a double integral, the energy per spin through the complete elliptic integral ``K(k)`` and the
  spontaneous magnetisation ``(1 - sinh(2/T)^-4)^(1/8)`` below ``T_c``.
- Exact enumeration of all ``2^(L*L)`` states of a small periodic ``L x L`` lattice (``L <= 4``),
  reduced to the density of states over (energy, magnetisation); every thermal average at any
  temperature then follows from one weighted sum.

References:
    L. Onsager, Phys. Rev. 65:117 (1944); C. N. Yang, Phys. Rev. 85:808 (1952);
    K. Binder, Z. Phys. B 43:119 (1981) (the cumulant ``U = 1 - <m^4> / (3 <m^2>^2)``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from deepscope.errors import UserInputError

__all__ = [
    "ExactAverages",
    "critical_coupling",
    "critical_temperature",
    "enumerate_ising2d",
    "exact_averages",
    "onsager_energy",
    "onsager_free_energy",
    "onsager_magnetization",
]


def critical_coupling() -> float:
    """``K_c = (1/2) ln(1 + sqrt 2) = 0.4406868...``."""
    return 0.5 * math.log1p(math.sqrt(2.0))


def critical_temperature() -> float:
    """``T_c = 2 / ln(1 + sqrt 2) = 2.2691853...`` (J = k_B = 1)."""
    return 2.0 / math.log1p(math.sqrt(2.0))


def _temperatures(T) -> np.ndarray:
    arr = np.asarray(T, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise UserInputError("temperatures must be finite and > 0")
    return arr


def _out(arr: np.ndarray):
    return float(arr) if np.ndim(arr) == 0 else arr


def onsager_magnetization(T):
    """Spontaneous magnetisation per spin ``(1 - sinh(2/T)^-4)^(1/8)`` below ``T_c``, 0 above.

    >>> round(onsager_magnetization(2.0), 4)
    0.9113
    """
    t = _temperatures(T)
    s = np.sinh(2.0 / t)
    inner = np.clip(1.0 - s**-4.0, 0.0, None)
    return _out(np.where(t < critical_temperature(), inner**0.125, 0.0))


def onsager_free_energy(T):
    """``-beta f = ln 2 + 1/(8 pi^2) Int_0^2pi Int_0^2pi ln[cosh^2 2K - sinh 2K (cos a + cos b)]``.

    Returned as ``ln Z / N`` per spin (``K = 1/T``). The inner integral over ``b`` is done in
    closed form (``Int_0^2pi ln(A - B cos b) db = 2 pi ln((A + sqrt(A^2 - B^2)) / 2)``) and the
    outer one with :func:`scipy.integrate.quad`; the log singularity at ``T_c`` is integrable.
    """
    from scipy.integrate import quad

    t = np.atleast_1d(_temperatures(T))
    out = np.empty_like(t)
    for i, temp in enumerate(t):
        k = 1.0 / temp
        c2, s2 = math.cosh(2 * k) ** 2, math.sinh(2 * k)

        def inner(a, c2=c2, s2=s2):
            A, B = c2 - s2 * math.cos(a), s2
            return 2 * math.pi * math.log((A + math.sqrt(max(A * A - B * B, 0.0))) / 2.0)

        val, _ = quad(inner, 0.0, math.pi, limit=200, epsabs=1e-13, epsrel=1e-13)
        out[i] = math.log(2.0) + 2.0 * val / (8 * math.pi**2)
    return _out(out.reshape(np.shape(T)))


def onsager_energy(T):
    """Energy per spin ``u = -coth 2K [1 + (2/pi)(2 tanh^2 2K - 1) K(k)]``.

    Here ``k = 2 sinh 2K / cosh^2 2K`` and ``K = 1/T``.

    ``K(k)`` is the complete elliptic integral of the first kind (scipy's ``ellipk(m = k^2)``).
    Equal to ``-d(ln Z/N)/dK``.
    """
    from scipy.special import ellipk

    t = _temperatures(T)
    k = 1.0 / t
    kappa = 2.0 * np.sinh(2 * k) / np.cosh(2 * k) ** 2
    m = np.minimum(kappa**2, 1.0 - 1e-16)
    u = -(1.0 / np.tanh(2 * k)) * (1.0 + (2.0 / np.pi) * (2 * np.tanh(2 * k) ** 2 - 1) * ellipk(m))
    return _out(u)


@dataclasses.dataclass(frozen=True)
class ExactAverages:
    """Exact thermal averages on a periodic ``L x L`` lattice, per spin, at temperatures ``T``.

    Attributes:
        L: lattice side.
        T: temperatures.
        energy: ``<E>/N``.
        abs_m: ``<|m|>`` with ``m = M/N``.
        m2: ``<m^2>``.
        m4: ``<m^4>``.
        binder: ``1 - <m^4> / (3 <m^2>^2)``.
        susceptibility: ``N (<m^2> - <|m|>^2) / T`` (the finite-size convention with ``|m|``).
        specific_heat: ``N (<e^2> - <e>^2) / T^2``.
    """

    L: int
    T: np.ndarray
    energy: np.ndarray
    abs_m: np.ndarray
    m2: np.ndarray
    m4: np.ndarray
    binder: np.ndarray
    susceptibility: np.ndarray
    specific_heat: np.ndarray


def enumerate_ising2d(L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Density of states of the periodic ``L x L`` lattice by brute force over ``2^(L*L)`` states.

    Returns:
        ``(E, M, g)``: distinct (total energy, total magnetisation) pairs and their counts
        (``g.sum() == 2**(L*L)``). For ``L = 2`` every bond is counted twice (each neighbour pair
        is joined by two bonds on the 2 x 2 torus), as a sampler with periodic neighbours does.
    """
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or not 2 <= L <= 4:
        raise UserInputError(f"exact enumeration needs an integer 2 <= L <= 4, got {L!r}")
    n = L * L
    energies, mags = [], []
    chunk = 1 << min(n, 16)
    for start in range(0, 1 << n, chunk):
        idx = np.arange(start, start + chunk, dtype=np.int64)[:, None]
        s = (((idx >> np.arange(n)) & 1) * 2 - 1).astype(np.int8).reshape(-1, L, L)
        bonds = s * np.roll(s, 1, axis=1) + s * np.roll(s, 1, axis=2)
        energies.append(-bonds.sum(axis=(1, 2), dtype=np.int64))
        mags.append(s.sum(axis=(1, 2), dtype=np.int64))
    pairs = np.stack([np.concatenate(energies), np.concatenate(mags)], axis=1)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    return uniq[:, 0].astype(np.float64), uniq[:, 1].astype(np.float64), counts.astype(np.float64)


def exact_averages(L: int, T) -> ExactAverages:
    """Exact averages on the periodic ``L x L`` lattice (``L <= 4``) at each temperature in ``T``.

    Computed from :func:`enumerate_ising2d` with log-weights shifted for stability.
    """
    E, M, g = enumerate_ising2d(L)
    t = np.atleast_1d(_temperatures(T))
    n = L * L
    logw = np.log(g)[None, :] - E[None, :] / t[:, None]
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    e, m = E / n, np.abs(M) / n
    avg = {
        "energy": w @ e, "abs_m": w @ m, "m2": w @ m**2, "m4": w @ m**4, "e2": w @ e**2,
    }
    return ExactAverages(
        L=L, T=t, energy=avg["energy"], abs_m=avg["abs_m"], m2=avg["m2"], m4=avg["m4"],
        binder=1.0 - avg["m4"] / (3.0 * avg["m2"] ** 2),
        susceptibility=n * (avg["m2"] - avg["abs_m"] ** 2) / t,
        specific_heat=n * (avg["e2"] - avg["energy"] ** 2) / t**2,
    )
