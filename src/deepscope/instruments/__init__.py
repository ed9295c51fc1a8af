"""Pure measurement instruments used by the experiments.

Every instrument is a side-effect-free function or small class: no file I/O, no printing and no
global random state (randomness comes in as an explicit ``numpy.random.Generator`` or seed).
Sub-packages are imported on first use and this module imports nothing heavy:

- ``deepscope.instruments.physics``: exactly solvable statistical physics (1D Ising decimation,
  partition functions, exact chain sampling), numpy only.
- ``deepscope.instruments.expressivity``: the Lin-Tegmark-Rolnick gates (multiplication, square,
  bit product) built as real torch modules, and exact parameter counting.
- ``deepscope.instruments.curvature``: matrix-free Hessian, GGN and Fisher operators and the
  solvers on them (Lanczos, trace, SLQ, bulk and outliers, diagonals, index, critical points).
- ``deepscope.instruments.landscape``: directions, grids, curves, sharpness, flat-minimum
  description length, spherical spin glasses, deep linear networks.
- ``deepscope.instruments.harmonic``: scattering filter banks and cascades, sparse coding,
  natural-image statistics.
- ``deepscope.instruments.robustness``: adversarial perturbations, minimal distortions,
  activation maximisation.
"""

from __future__ import annotations
