"""Exact 1D Ising chain: decimation RG, partition functions, exact sampling.

The chain has Hamiltonian ``H = -K sum_i s_i s_{i+1}`` with spins ``s_i = +-1``, zero field and
``k_B T = 1`` absorbed into the dimensionless coupling ``K``. Summing out every other spin
(decimation, scale factor ``b = 2``) maps the chain onto itself with

    K' = (1/2) ln cosh 2K,        equivalently  tanh K' = tanh^2 K,

and a spin-independent factor ``z(K) = 2 sqrt(cosh 2K)`` per removed spin. With
``f = (1/N) ln Z`` (the sign flips for ``f = -(1/N) ln Z``) this gives, for the infinite chain,

    f(K') = 2 f(K) - ln z(K),     f(K) = ln(2 cosh K),

and, exactly, for a periodic chain of even length ``N``:

    ln Z_N(K) = (N/2) ln z(K) + ln Z_{N/2}(K').

The correlation length ``xi = -1/ln tanh K`` halves at each step. ``K* = 0`` is a stable fixed
point and ``K* = infinity`` an unstable one. Everything here is numpy only and numerically stable
for large ``|K|`` (``K = 50`` neither overflows nor returns NaN).

References:
    Kadanoff, "Scaling laws for Ising models near T_c", Physics 2, 263 (1966), and textbook
    decimation (e.g. Goldenfeld, Lectures on Phase Transitions and the RG, ch. 9);
    Mehta & Schwab 2014, arXiv:1410.3831 (the form tanh K' = tanh^2 K);
    Lin, Tegmark & Rolnick 2017, J. Stat. Phys. 168:1223, arXiv:1608.08225.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepscope.errors import UserInputError

__all__ = [
    "FixedPoint",
    "correlation_length",
    "decimate_1d",
    "decimate_samples",
    "decimation_constant",
    "decimation_flow",
    "finite_decimation_residual",
    "fixed_points_1d",
    "flow_derivative",
    "free_energy_identity_residual",
    "free_energy_per_spin",
    "log_decimation_constant",
    "log_partition_open",
    "log_partition_periodic",
    "log_tanh",
    "nn_correlation",
    "nn_correlation_estimate",
    "sample_chain",
    "tanh_identity_residual",
    "transfer_matrix",
]

_LN2 = math.log(2.0)


def _as_float_array(K, name: str = "K") -> np.ndarray:
    try:
        arr = np.asarray(K, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"{name} must be a real number or array of reals, got {K!r}") from exc
    if np.isnan(arr).any():
        raise UserInputError(f"{name} must not be NaN")
    return arr


def _out(arr: np.ndarray):
    """Return a Python float for 0-d results and the array otherwise."""
    return float(arr) if np.ndim(arr) == 0 else arr


def _log_cosh(x: np.ndarray) -> np.ndarray:
    """Stable ln cosh x: log1p(2 sinh^2(x/2)) for |x| < 1, |x| + log1p(e^{-2|x|}) - ln 2 above."""
    ax = np.abs(x)
    small = np.minimum(ax, 1.0)
    near = np.log1p(2.0 * np.sinh(small / 2.0) ** 2)
    far = ax + np.log1p(np.exp(-2.0 * ax)) - _LN2
    return np.where(ax < 1.0, near, far)


def log_tanh(K):
    """ln tanh K for K >= 0, stable at both ends: log1p(-e^{-2K}) - log1p(e^{-2K}).

    Returns ``-inf`` at ``K = 0`` and a tiny negative number (not 0) for large ``K`` until
    ``e^{-2K}`` underflows.
    """
    k = _as_float_array(K)
    if (k < 0).any():
        raise UserInputError("log_tanh needs K >= 0 (ferromagnetic coupling)")
    e = np.exp(-2.0 * k)
    with np.errstate(divide="ignore"):
        return _out(np.log1p(-e) - np.log1p(e))


def decimate_1d(K):
    """One decimation step ``K' = (1/2) ln cosh 2K`` (vectorised, stable for large ``|K|``).

    Args:
        K: coupling(s) ``K = J / k_B T``; any real (the map is even in ``K``).

    Returns:
        ``K'`` with the shape of ``K`` (a float for scalar input).

    References:
        Kadanoff 1966; Mehta & Schwab 2014, arXiv:1410.3831.
    """
    return _out(0.5 * _log_cosh(2.0 * _as_float_array(K)))


def log_decimation_constant(K):
    """``ln z(K) = ln 2 + (1/2) ln cosh 2K = ln 2 + K'(K)``, stable for large ``|K|``."""
    return _out(_LN2 + 0.5 * _log_cosh(2.0 * _as_float_array(K)))


def decimation_constant(K):
    """``z(K) = 2 sqrt(cosh 2K)``: the spin-independent factor per decimated spin.

    Summing ``s`` between neighbours ``a, b`` gives ``sum_s e^{K s (a+b)} = z(K) e^{K' a b}``.
    Overflows to ``inf`` only for ``|K| > ~354``; use :func:`log_decimation_constant` there.
    """
    with np.errstate(over="ignore"):
        return _out(np.exp(np.asarray(log_decimation_constant(K))))


def decimation_flow(K0: float, n_steps: int) -> np.ndarray:
    """The RG trajectory ``[K0, K1, ..., K_n]`` with ``K_{j+1} = (1/2) ln cosh 2K_j``.

    From ``K0 = 1``: 1, 0.6625, 0.3501, 0.1137, 0.01281, 1.64e-4 (flowing to ``K* = 0``).
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
        raise UserInputError(f"n_steps must be a non-negative integer, got {n_steps!r}")
    k0 = _as_float_array(K0)
    if k0.ndim != 0:
        raise UserInputError("decimation_flow takes a scalar K0")
    flow = np.empty(int(n_steps) + 1, dtype=np.float64)
    flow[0] = float(k0)
    for j in range(int(n_steps)):
        flow[j + 1] = decimate_1d(flow[j])
    return flow


def flow_derivative(K):
    """``dK'/dK = tanh 2K``: below 1 everywhere, so ``K* = 0`` is stable (``dK'/dK -> 0``).

    At ``K -> infinity`` the derivative tends to 1 but ``K - K' -> ln 2 / 2 > 0``, so the flow
    moves away from infinity; in ``t = tanh K`` (``t' = t^2``) the eigenvalue there is
    ``dt'/dt = 2t = 2 > 1``: unstable.
    """
    return _out(np.tanh(2.0 * _as_float_array(K)))


@dataclass(frozen=True)
class FixedPoint:
    """A fixed point of the 1D decimation map.

    Attributes:
        K: the coupling (0 or ``inf``).
        t: ``tanh K`` at the fixed point; the map is ``t' = t^2``.
        dK_prime_dK: ``dK'/dK = tanh 2K`` at (the limit to) the fixed point.
        dt_prime_dt: ``dt'/dt = 2t``, the linearised RG eigenvalue in the ``t`` variable.
        stable: whether nearby couplings flow into it.
        description: one line in words.
    """

    K: float
    t: float
    dK_prime_dK: float
    dt_prime_dt: float
    stable: bool
    description: str


def fixed_points_1d() -> tuple[FixedPoint, FixedPoint]:
    """The two fixed points ``K* = 0`` (stable, disordered) and ``K* = inf`` (unstable, ordered)."""
    stable = FixedPoint(
        K=0.0,
        t=0.0,
        dK_prime_dK=0.0,
        dt_prime_dt=0.0,
        stable=True,
        description="K*=0 (T=inf, disordered): stable, every finite K flows here",
    )
    unstable = FixedPoint(
        K=math.inf,
        t=1.0,
        dK_prime_dK=1.0,
        dt_prime_dt=2.0,
        stable=False,
        description="K*=inf (T=0, ordered): unstable, K decreases by ~ln2/2 per step",
    )
    return stable, unstable


def free_energy_per_spin(K):
    """Thermodynamic-limit ``f(K) = lim (1/N) ln Z_N = ln(2 cosh K)`` (stable for large ``|K|``)."""
    return _out(_LN2 + _log_cosh(_as_float_array(K)))


def free_energy_identity_residual(K):
    """``f(K') - [2 f(K) - ln z(K)]``: zero up to round-off for every ``K``."""
    kp = np.asarray(decimate_1d(K))
    lhs = np.asarray(free_energy_per_spin(kp))
    rhs = 2.0 * np.asarray(free_energy_per_spin(K)) - np.asarray(log_decimation_constant(K))
    return _out(lhs - rhs)


def tanh_identity_residual(K):
    """``tanh K' - tanh^2 K``: zero up to round-off (Mehta-Schwab form of the map)."""
    k = _as_float_array(K)
    return _out(np.tanh(np.asarray(decimate_1d(k))) - np.tanh(k) ** 2)


def _check_n(N, minimum: int = 1) -> int:
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < minimum:
        raise UserInputError(f"N must be an integer >= {minimum}, got {N!r}")
    return int(N)


def log_partition_periodic(K, N: int):
    """Exact ``ln Z_N`` of a periodic chain of ``N`` spins (``N`` bonds), any real ``K``.

    From the transfer matrix eigenvalues ``2 cosh K`` and ``2 sinh K``:
    ``Z_N = (2 cosh K)^N + (2 sinh K)^N``, evaluated as
    ``N ln(2 cosh K) + log1p(tanh(K)^N)`` (no overflow; the sign of ``sinh`` for ``K < 0`` is
    carried by ``tanh^N``).
    """
    n = _check_n(N)
    k = _as_float_array(K)
    return _out(n * (_LN2 + _log_cosh(k)) + np.log1p(np.tanh(k) ** n))


def log_partition_open(K, N: int):
    """Exact ``ln Z_N`` of an open chain of ``N`` spins: ``ln 2 + (N-1) ln(2 cosh K)``."""
    n = _check_n(N)
    k = _as_float_array(K)
    return _out(_LN2 + (n - 1) * (_LN2 + _log_cosh(k)))


def finite_decimation_residual(K, N: int):
    """``ln Z_N(K) - [(N/2) ln z(K) + ln Z_{N/2}(K')]`` for a periodic chain of even ``N``.

    Zero up to round-off: decimation is exact on a finite periodic chain.
    """
    n = _check_n(N, 2)
    if n % 2:
        raise UserInputError(f"finite decimation needs an even N, got {n}")
    kp = decimate_1d(K)
    rhs = 0.5 * n * np.asarray(log_decimation_constant(K)) + np.asarray(
        log_partition_periodic(kp, n // 2)
    )
    return _out(np.asarray(log_partition_periodic(K, n)) - rhs)


def transfer_matrix(K: float) -> np.ndarray:
    """The 2x2 transfer matrix ``T[s, s'] = exp(K s s')``, rows/cols ordered ``s = +1, -1``.

    Its eigenvalues are ``2 cosh K`` and ``2 sinh K``.
    """
    k = _as_float_array(K)
    if k.ndim != 0:
        raise UserInputError("transfer_matrix takes a scalar K")
    a, b = math.exp(float(k)), math.exp(-float(k))
    return np.array([[a, b], [b, a]], dtype=np.float64)


def nn_correlation(K):
    """Exact ``<s_i s_{i+1}> = tanh K`` (infinite chain, or any bond of an open chain)."""
    return _out(np.tanh(_as_float_array(K)))


def correlation_length(K):
    """``xi(K) = -1 / ln tanh K`` in lattice units, for ``K >= 0``.

    ``<s_0 s_r> = (tanh K)^r = e^{-r/xi}``. ``xi(0) = 0``; ``xi`` grows like ``e^{2K}/2`` and
    becomes ``inf`` only when ``e^{-2K}`` underflows. Decimation halves it: ``xi(K') = xi(K)/2``.
    """
    lt = np.asarray(log_tanh(K))
    with np.errstate(divide="ignore"):
        xi = np.where(lt == 0.0, np.inf, -1.0 / np.where(lt == 0.0, -1.0, lt))
    return _out(xi)


def sample_chain(K: float, n_spins: int, n_chains: int, rng: np.random.Generator) -> np.ndarray:
    """Exact, independent samples of OPEN Ising chains.

    ``s_0`` is ``+-1`` with probability 1/2 each; each bond independently is a domain wall
    (``s_{i+1} = -s_i``) with probability ``q = e^{-K} / (2 cosh K) = 1 / (1 + e^{2K})``. For an
    open chain in zero field this is the exact Boltzmann distribution, so bond variables
    ``s_i s_{i+1}`` are i.i.d. with mean ``tanh K``.

    Args:
        K: coupling (any real; ``K < 0`` gives the antiferromagnet).
        n_spins: spins per chain (>= 1).
        n_chains: number of independent chains (>= 1).
        rng: the ``numpy.random.Generator`` that supplies all randomness.

    Returns:
        ``int8`` array of shape ``(n_chains, n_spins)`` with entries ``+-1``.
    """
    if not isinstance(rng, np.random.Generator):
        raise UserInputError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    n = _check_n(n_spins)
    m = _check_n(n_chains)
    k = _as_float_array(K)
    if k.ndim != 0:
        raise UserInputError("sample_chain takes a scalar K")
    kf = float(k)
    if kf >= 0:  # q = 1/(1+e^{2K}) written so that neither branch overflows
        q = math.exp(-2.0 * kf) / (1.0 + math.exp(-2.0 * kf))
    else:
        q = 1.0 / (1.0 + math.exp(2.0 * kf))
    first = np.where(rng.random((m, 1)) < 0.5, 1, -1).astype(np.int8)
    bonds = np.where(rng.random((m, n - 1)) < q, -1, 1).astype(np.int8)
    return np.cumprod(np.concatenate([first, bonds], axis=1), axis=1, dtype=np.int8)


def decimate_samples(spins: np.ndarray) -> np.ndarray:
    """Keep every other spin (indices 0, 2, 4, ... along the last axis).

    For exact open-chain samples at coupling ``K`` the result is an exact open-chain sample at
    ``K' = (1/2) ln cosh 2K`` (each new bond is the product of two independent old bonds).
    """
    arr = np.asarray(spins)
    if arr.ndim < 1 or arr.shape[-1] < 1:
        raise UserInputError("spins must have at least one spin along the last axis")
    return arr[..., ::2]


def nn_correlation_estimate(spins: np.ndarray) -> tuple[float, float]:
    """Sample mean and standard error of ``s_i s_{i+1}`` over all bonds of all chains.

    The standard error is the plain ``std(ddof=1) / sqrt(n_bonds)``. That is correct for exact
    open-chain samples (from :func:`sample_chain`, decimated or not), whose bond variables are
    independent; for Markov-chain samples or periodic chains it would underestimate the error.

    Args:
        spins: array ``(..., n_spins)`` of ``+-1`` values, ``n_spins >= 2``.

    Returns:
        ``(mean, standard_error)`` as floats.
    """
    arr = np.asarray(spins)
    if arr.ndim < 1 or arr.shape[-1] < 2:
        raise UserInputError("spins need at least 2 spins along the last axis to form a bond")
    prod = (arr[..., 1:].astype(np.float64) * arr[..., :-1]).ravel()
    if prod.size < 2:
        raise UserInputError("need at least 2 bonds to estimate a standard error")
    return float(prod.mean()), float(prod.std(ddof=1) / math.sqrt(prod.size))
