"""Harmonic-analysis instruments: scattering transforms, sparse coding, natural-image statistics.

Facade over :mod:`~deepscope.instruments.harmonic.scattering` (Gabor atoms, translated signals,
Littlewood-Paley-normalised Morlet banks and the full-resolution scattering cascade: Mallat 2012,
Bruna & Mallat 2013), :mod:`.sparse_coding` (FISTA for the lasso, Mairal et al.'s online
dictionary learning), :mod:`.natural_images` (dead-leaves images, Olshausen & Field's whitening,
phase randomisation, patch sampling) and :mod:`.filter_statistics` (localisation, orientation and
bandwidth of filters; kurtosis of coefficients).

Pure numpy at import; kymatio and numba are imported by the functions that need them.

References:
    Mallat 2012, Comm. Pure Appl. Math. 65:1331 (``mallat2012``); Bruna & Mallat 2013, IEEE
    TPAMI 35:1872 (``bruna2013``); Anden & Mallat 2014 (``anden2014``); Andreux et al. 2020,
    kymatio (``andreux2020``); Olshausen & Field 1996, Nature 381:607 (``olshausen1996``);
    Mairal et al. 2010, JMLR 11:19 (``mairal2010``); Lee, Mumford & Huang 2001, IJCV 41:35
    (``lee2001``).
"""

from __future__ import annotations

from .filter_statistics import (
    anisotropy,
    kurtosis,
    kurtosis_ratio,
    radial_bandwidth,
    window_energy_fraction,
)
from .natural_images import (
    NYQUIST_F0,
    dead_leaves,
    leaf_radii,
    phase_randomise,
    sample_patches,
    whiten,
    whitening_filter,
)
from .scattering import cascade, embed, gabor, relative_change, scattering_banks, tight_frame
from .sparse_coding import learn_dictionary, sparse_codes

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
