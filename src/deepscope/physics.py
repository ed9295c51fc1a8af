"""Statistical physics instruments: Ising models, exact references and renormalisation maps.

The public path of :mod:`deepscope.instruments.physics` (pure measurement code, seeded, no I/O):

- 1D chain: :func:`decimate_1d` (K' = 1/2 ln cosh 2K), transfer-matrix free energies, exact
  sampling (:func:`sample_chain`) and decimation of samples.
- 2D lattice: :func:`critical_temperature`, :func:`onsager_magnetization`, Onsager's free energy
  and energy, exact enumeration for L <= 4, and :func:`sample_ising2d` (checkerboard Metropolis
  or Wolff, numba, seeded) returning int8 arrays of +-1 with shape (n_samples, L, L).
- Statistics: :class:`Stats` (mean, standard error corrected by the integrated autocorrelation
  time, and that time), jackknife Binder cumulant and susceptibility.
- RG maps: majority-rule blocks, decimation, :func:`migdal_kadanoff` (fixed point K* and nu;
  ``K_star, nu = migdal_kadanoff()``), block flows; RBMs as variational RG; mutual-information
  coarse-graining (Koch-Janusz and Ringel).
"""

from __future__ import annotations

from .instruments.physics import *  # noqa: F403
from .instruments.physics import __all__  # noqa: F401
