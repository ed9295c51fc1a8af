"""Statistics of correlated Monte Carlo time series: ``Stats`` objects instead of bare floats.

A Markov chain's successive samples are correlated, so the naive standard error
``std / sqrt(n)`` is too small by ``sqrt(2 tau_int)``. Here

    tau_int = 1/2 + sum_{t=1}^{W} rho(t),      SE = sqrt(2 tau_int * var / n),

with the normalised autocorrelation ``rho`` (computed by FFT) and the window ``W`` chosen
automatically (Sokal 1989; Madras & Sokal 1988): the smallest ``W`` with ``W >= c * tau_int(W)``,
``c = 6`` by default. ``n_effective = n / (2 tau_int)``. When the window never closes (a series
shorter than about ``c * tau_int``) the estimate is flagged with ``window_closed = False``.

Nonlinear functions of averages (the Binder cumulant, the susceptibility) get their error from a
jackknife over contiguous blocks that are much longer than ``tau_int`` (blocking + jackknife).

References:
    A. D. Sokal, 'Monte Carlo methods in statistical mechanics: foundations and new algorithms',
    Cours de Troisieme Cycle, Lausanne (1989); N. Madras and A. D. Sokal, J. Stat. Phys. 50:109
    (1988); U. Wolff, Comput. Phys. Commun. 156:143 (2004).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from deepscope.errors import UserInputError

__all__ = ["Stats", "autocorrelation", "binder_stats", "estimate", "integrated_time",
           "jackknife_blocks", "susceptibility_stats"]

DEFAULT_C = 6.0


@dataclasses.dataclass(frozen=True)
class Stats:
    """A Monte Carlo estimate.

    Attributes:
        mean: the estimate.
        stderr: its standard error, corrected for autocorrelation.
        tau_int: integrated autocorrelation time in units of the sample spacing (0.5 = independent).
        n_samples: number of samples in the series.
        n_effective: ``n_samples / (2 tau_int)``.
        window: the summation window ``W`` (or number of jackknife blocks, for jackknifed stats).
        window_closed: whether the automatic window criterion was met.
    """

    mean: float
    stderr: float
    tau_int: float
    n_samples: int
    n_effective: float
    window: int
    window_closed: bool = True

    def __str__(self) -> str:
        return f"{self.mean:.6g} +- {self.stderr:.2g} (tau_int {self.tau_int:.3g})"


def _series(x) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).ravel()
    if arr.size < 4 or not np.all(np.isfinite(arr)):
        raise UserInputError("a time series needs at least 4 finite samples")
    return arr


def autocorrelation(x) -> np.ndarray:
    """Normalised autocorrelation ``rho(t)``, ``t = 0..n-1`` (FFT, zero-padded; rho(0) = 1).

    A constant series has ``rho = [1, 0, 0, ...]`` by convention.
    """
    arr = _series(x)
    d = arr - arr.mean()
    n = d.size
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(d, size)
    acov = np.fft.irfft(f * np.conj(f), size)[:n] / n
    if acov[0] <= 0:
        out = np.zeros(n)
        out[0] = 1.0
        return out
    return acov / acov[0]


def integrated_time(x, c: float = DEFAULT_C) -> tuple[float, int, bool]:
    """``(tau_int, W, window_closed)`` with Sokal's automatic window ``W >= c tau_int(W)``."""
    rho = autocorrelation(x)
    taus = 0.5 + np.cumsum(rho[1:])  # taus[W-1] = tau_int with window W
    windows = np.arange(1, rho.size)
    ok = windows >= c * taus
    if not ok.any():
        return float(max(taus[-1], 0.5)), int(windows[-1]), False
    w = int(np.argmax(ok))
    return float(max(taus[w], 0.5)), int(windows[w]), True


def estimate(x, c: float = DEFAULT_C) -> Stats:
    """Mean of a correlated series with the autocorrelation-corrected standard error.

    >>> rng = np.random.default_rng(0)
    >>> s = estimate(rng.normal(size=4000))
    >>> abs(s.tau_int - 0.5) < 0.1 and abs(s.stderr - 1 / np.sqrt(4000)) < 2e-3
    True
    """
    arr = _series(x)
    tau, w, closed = integrated_time(arr, c)
    n = arr.size
    var = float(arr.var(ddof=1))
    return Stats(mean=float(arr.mean()), stderr=math.sqrt(2.0 * tau * var / n), tau_int=tau,
                 n_samples=n, n_effective=n / (2.0 * tau), window=w, window_closed=closed)


def jackknife_blocks(columns: list[np.ndarray], func: Callable[..., float], tau_int: float,
                     n_blocks: int | None = None, min_block_taus: float = 4.0) -> Stats:
    """Blocked jackknife of ``func(mean_1, mean_2, ...)`` over aligned series.

    The series are cut into ``n_blocks`` contiguous blocks (default: as many as fit with blocks
    at least ``min_block_taus * 2 tau_int`` long, between 8 and 64). Each jackknife replicate
    drops one block; ``SE^2 = (n_b - 1)/n_b * sum (f_i - f_bar)^2``.
    """
    cols = [_series(c) for c in columns]
    n = cols[0].size
    if any(c.size != n for c in cols):
        raise UserInputError("jackknife series must have equal lengths")
    if n_blocks is None:
        block_len = max(1.0, min_block_taus * 2.0 * tau_int)
        n_blocks = int(min(64, max(8, n // block_len)))
    n_blocks = int(min(n_blocks, n))
    edges = np.linspace(0, n, n_blocks + 1).astype(int)
    sums = np.array([[c[a:b].sum() for a, b in zip(edges[:-1], edges[1:])] for c in cols])
    sizes = np.diff(edges).astype(np.float64)
    total = sums.sum(axis=1)
    reps = np.array([func(*((total - sums[:, i]) / (n - sizes[i]))) for i in range(n_blocks)])
    full = float(func(*(total / n)))
    se = math.sqrt((n_blocks - 1) / n_blocks * float(((reps - reps.mean()) ** 2).sum()))
    return Stats(mean=full, stderr=se, tau_int=float(tau_int), n_samples=n,
                 n_effective=n / (2.0 * tau_int), window=n_blocks,
                 window_closed=n / n_blocks >= 2.0 * tau_int)


def binder_stats(m, c: float = DEFAULT_C) -> Stats:
    """Binder cumulant ``U = 1 - <m^4> / (3 <m^2>^2)`` of a magnetisation series, jackknifed."""
    m = _series(m)
    tau = max(integrated_time(m**2, c)[0], integrated_time(np.abs(m), c)[0])
    return jackknife_blocks([m**2, m**4], lambda a, b: 1.0 - b / (3.0 * a * a), tau)


def susceptibility_stats(m, n_spins: int, T: float, c: float = DEFAULT_C) -> Stats:
    """``chi = N (<m^2> - <|m|>^2) / T`` from a magnetisation-per-spin series, jackknifed."""
    m = _series(m)
    tau = max(integrated_time(m**2, c)[0], integrated_time(np.abs(m), c)[0])
    return jackknife_blocks([m**2, np.abs(m)], lambda a, b: n_spins * (a - b * b) / T, tau)
