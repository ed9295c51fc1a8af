"""Wavelet scattering in one dimension: Gabor atoms, tight-frame filter banks, the full cascade.

The scattering transform (Mallat 2012, ``mallat2012``; Bruna & Mallat 2013, ``bruna2013``)
cascades wavelet transforms and complex moduli and averages each layer with a low-pass filter:
S x = (x * phi, |x * psi_l1| * phi, ||x * psi_l1| * psi_l2| * phi, ...). It is non-expansive when
the filters satisfy the Littlewood-Paley identity
|phi(w)|^2 + 1/2 sum_l (|psi_l(w)|^2 + |psi_l(-w)|^2) = 1 (Mallat 2012, Prop. 2.5), and its
energy decays with the path length.

- :func:`scattering_banks` takes kymatio's Morlet banks (Andreux et al. 2020, ``andreux2020``;
  Q wavelets per octave at the first order, as in Anden & Mallat 2014, ``anden2014``) and
  renormalises them pointwise in frequency into an exact tight frame (:func:`tight_frame`).
- :func:`cascade` computes the full-resolution (unsubsampled) scattering of one signal over all
  paths up to a given order: the energy per order, the remainder ||U_{M+1} x||^2 that closes the
  energy sum, and optionally every coefficient.
- :func:`gabor`, :func:`embed` and :func:`relative_change` build the deformed test signals
  (dilated Gabor atoms, translated signals in a zero window) and measure ||a - b|| / ||a||.

Pure numpy (kymatio is imported inside :func:`scattering_banks`), deterministic, no I/O.
"""

from __future__ import annotations

import numpy as np


def relative_change(a, b):
    """Row-wise ||a - b|| / ||a||."""
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)


def embed(x, n, shift=0):
    """Signals ``x`` (rows) placed in the middle of a zero window of length ``n``, shifted."""
    out = np.zeros((len(x), n))
    start = (n - x.shape[1]) // 2 + shift
    out[:, start:start + x.shape[1]] = x
    return out


def gabor(n, xi, sigma, s=0.0):
    """exp(-u^2 / 2 sigma^2) cos(2 pi xi u) at u = (1 + s) t, t centred in a window of n."""
    u = (1.0 + s) * (np.arange(n) - n / 2)
    return np.exp(-u**2 / (2 * sigma**2)) * np.cos(2 * np.pi * xi * u)


def tight_frame(phi_f, psi_f):
    """Filters divided pointwise by sqrt(A(w)), A = |phi|^2 + 1/2 sum (|psi(w)|^2 + |psi(-w)|^2),
    so that A = 1 (a Parseval frame for real signals). Returns (phi, psi, max |A_new - 1|)."""
    def lp(phi, psi):
        mirror = np.roll(psi[:, ::-1], 1, axis=1)
        return np.abs(phi)**2 + 0.5 * (np.abs(psi)**2 + np.abs(mirror)**2).sum(axis=0)

    scale = 1.0 / np.sqrt(lp(phi_f, psi_f))
    phi, psi = phi_f * scale, psi_f * scale
    return phi, psi, float(np.max(np.abs(lp(phi, psi) - 1.0)))


def scattering_banks(n, J, Q1=8, Q2=1):
    """Littlewood-Paley-normalised kymatio Morlet banks of length n: ((phi1, psi1), (phi2, psi2))
    and the largest deviation of either Littlewood-Paley sum from 1."""
    from kymatio.scattering1d.filter_bank import scattering_filter_factory

    phi, p1, p2 = scattering_filter_factory(n, J, (Q1, Q2), 2**J)
    phi0 = np.asarray(phi["levels"][0], dtype=np.float64)
    banks, dev = [], 0.0
    for bank in (p1, p2):
        psi = np.stack([np.asarray(f["levels"][0], dtype=np.float64) for f in bank])
        a, b, d = tight_frame(phi0, psi)
        banks.append((a, b))
        dev = max(dev, d)
    return banks, dev


def cascade(x, banks, max_order, coefficients=False):
    """Full-resolution scattering of one real signal over all paths up to ``max_order``.

    Order m uses the low-pass of the bank that would build order m + 1 (bank 1 at order 0, bank 2
    after). Returns the energies E_0..E_M, the remainder ||U_{M+1} x||^2 and, if asked, all
    coefficients concatenated (for non-expansiveness)."""
    n = len(x)
    u_f = np.fft.fft(x)[None, :]
    energies, coefs = [], []
    for m in range(max_order + 1):
        phi, psi = banks[min(m, 1)]
        power = np.abs(u_f)**2
        energies.append(float((power * phi**2).sum() / n))
        if coefficients:
            coefs.append(np.fft.ifft(u_f * phi, axis=1).real.ravel())
        if m == max_order:
            remainder = float((power[:, None, :] * np.abs(psi[None])**2).sum() / n)
            break
        u = np.abs(np.fft.ifft(u_f[:, None, :] * psi[None], axis=2)).reshape(-1, n)
        u_f = np.fft.fft(u, axis=1)
    return np.array(energies), remainder, (np.concatenate(coefs) if coefficients else None)
