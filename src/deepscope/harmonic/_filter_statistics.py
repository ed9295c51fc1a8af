"""Shape statistics of filters (dictionary atoms, principal components) and of coefficients.

The measures that turn Olshausen & Field's (1996, ``olshausen1996``, Fig. 4) description of
learned basis functions, "localised, oriented and band-pass", and of their coefficients,
"sparse", into numbers:

- :func:`window_energy_fraction`: the largest fraction of a p x p filter's energy in a w x w
  window (localisation; 1 for a delta, (w/p)^2 for a uniform filter).
- :func:`anisotropy`: (l1 - l2) / (l1 + l2) of the power-weighted second-moment tensor of the
  filter's 2D power spectrum (0 for an isotropic spectrum, 1 for a single orientation).
- :func:`radial_bandwidth`: the peak frequency of the ring-averaged power spectrum and its
  half-power bandwidth in octaves (inf when the filter is not band-pass).
- :func:`kurtosis` per coefficient (3 for a Gaussian) and :func:`kurtosis_ratio`, the median
  kurtosis of sparse codes over that of PCA coefficients with a delete-a-group jackknife stderr.

Pure numpy, deterministic, no I/O.
"""

from __future__ import annotations

import math

import numpy as np


def window_energy_fraction(F: np.ndarray, p: int, w: int) -> np.ndarray:
    """Per filter (rows of F, p x p): the largest fraction of its energy in a w x w window."""
    E = F.reshape(-1, p, p) ** 2
    E = E / E.sum(axis=(1, 2), keepdims=True)
    c = np.pad(E.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
    s = c[:, w:, w:] - c[:, :-w, w:] - c[:, w:, :-w] + c[:, :-w, :-w]
    return s.reshape(len(F), -1).max(axis=1)


def anisotropy(F: np.ndarray, p: int, pad: int = 32) -> np.ndarray:
    """Per filter: (l1 - l2) / (l1 + l2) of the power-weighted tensor sum_k P(k) k k^T of its
    zero-padded power spectrum (0 for an isotropic spectrum, 1 for a single orientation)."""
    P = np.abs(np.fft.fft2(F.reshape(-1, p, p), s=(pad, pad))) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(pad), np.fft.fftfreq(pad), indexing="ij")
    txx, tyy, txy = ((P * fx * fx).sum((1, 2)), (P * fy * fy).sum((1, 2)),
                     (P * fx * fy).sum((1, 2)))
    return 2 * np.sqrt(((txx - tyy) / 2) ** 2 + txy**2) / (txx + tyy)


def radial_bandwidth(F: np.ndarray, p: int, pad: int = 64):
    """Per filter: the peak frequency (cycles/pixel) of its ring-averaged power spectrum (rings
    of width 1/pad up to Nyquist) and the half-power bandwidth log2(f_hi / f_lo) in octaves,
    inf when the power does not fall below half on both sides of the peak (not band-pass)."""
    P = np.abs(np.fft.fft2(F.reshape(-1, p, p), s=(pad, pad))) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(pad), np.fft.fftfreq(pad), indexing="ij")
    ring = np.floor(np.sqrt(fx**2 + fy**2).ravel() * pad).astype(int)
    keep = ring < pad // 2
    counts = np.bincount(ring[keep], minlength=pad // 2)
    profiles = np.stack([np.bincount(ring[keep], weights=q.ravel()[keep], minlength=pad // 2)
                         for q in P]) / counts
    centres = (np.arange(pad // 2) + 0.5) / pad
    peak, width = np.empty(len(F)), np.full(len(F), np.inf)
    for i, prof in enumerate(profiles):
        k = int(prof.argmax())
        peak[i] = centres[k]
        lo, hi = np.flatnonzero(prof[:k] < prof[k] / 2), np.flatnonzero(prof[k:] < prof[k] / 2)
        if len(lo) and len(hi):
            width[i] = math.log2(centres[k + hi[0]] / centres[lo[-1]])
    return peak, width


def kurtosis(A: np.ndarray) -> np.ndarray:
    """Per column: E[(a - mean)^4] / E[(a - mean)^2]^2 (3 for a Gaussian)."""
    c = A - A.mean(axis=0)
    return (c**4).mean(axis=0) / np.maximum((c**2).mean(axis=0), 1e-300) ** 2


def kurtosis_ratio(codes: np.ndarray, pca: np.ndarray, n_blocks: int = 10):
    """median kurtosis of the codes / median kurtosis of the PCA coefficients (units with
    variance), with its delete-a-group jackknife standard error over blocks of patches."""

    def ratio(rows):
        a, b = codes[rows], pca[rows]
        ka = kurtosis(a[:, a.var(axis=0) > 0])
        return float(np.median(ka) / np.median(kurtosis(b)))

    n = len(codes)
    blocks = np.arange(n) % n_blocks
    full = ratio(np.arange(n))
    loo = np.array([ratio(np.flatnonzero(blocks != b)) for b in range(n_blocks)])
    se = math.sqrt((n_blocks - 1) / n_blocks * np.sum((loo - loo.mean()) ** 2))
    return full, se
