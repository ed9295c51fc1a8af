"""Public harmonic-analysis API: scattering, sparse coding and natural-image statistics.

Re-exports :mod:`deepscope.harmonic` (pure measurement code, numpy at import):

- Scattering (Mallat 2012; Bruna & Mallat 2013): :func:`scattering_banks` (kymatio's Morlet
  banks made an exact Littlewood-Paley tight frame by :func:`tight_frame`), :func:`cascade`
  (full-resolution scattering over all paths: energy per order, remainder, coefficients),
  :func:`gabor`, :func:`embed`, :func:`relative_change`.
- Sparse coding (Olshausen & Field 1996; Mairal et al. 2010): :func:`sparse_codes` (FISTA for
  min_a 1/2 ||x - a D||^2 + alpha ||a||_1, atoms as rows of D) and :func:`learn_dictionary`
  (online dictionary learning, ||d_k|| <= 1).
- Natural images: :func:`dead_leaves` (Lee, Mumford & Huang 2001) with :func:`leaf_radii`,
  :func:`whiten` / :func:`whitening_filter` (R(f) = f exp(-(f/f0)^4)), :func:`phase_randomise`,
  :func:`sample_patches`.
- Filter and coefficient statistics: :func:`window_energy_fraction`, :func:`anisotropy`,
  :func:`radial_bandwidth`, :func:`kurtosis`, :func:`kurtosis_ratio`.

Example:
    >>> import numpy as np
    >>> from deepscope.harmonic import sparse_codes
    >>> codes = sparse_codes(np.eye(2), np.array([[3.0, -0.5]]), alpha=1.0, steps=5)
    >>> codes.tolist()
    [[2.0, -0.0]]
"""

from __future__ import annotations

from ._filter_statistics import (
    anisotropy,
    kurtosis,
    kurtosis_ratio,
    radial_bandwidth,
    window_energy_fraction,
)
from ._natural_images import (
    NYQUIST_F0,
    dead_leaves,
    leaf_radii,
    phase_randomise,
    sample_patches,
    whiten,
    whitening_filter,
)
from ._scattering import cascade, embed, gabor, relative_change, scattering_banks, tight_frame
from ._sparse_coding import learn_dictionary, sparse_codes

__all__ = [
    # scattering
    "cascade", "embed", "gabor", "relative_change", "scattering_banks", "tight_frame",
    # sparse coding
    "learn_dictionary", "sparse_codes",
    # natural-image statistics
    "NYQUIST_F0", "dead_leaves", "leaf_radii", "phase_randomise", "sample_patches", "whiten",
    "whitening_filter",
    # filter and coefficient statistics
    "anisotropy", "kurtosis", "kurtosis_ratio", "radial_bandwidth", "window_energy_fraction",
]
