"""Pure measurement instruments used by the experiments.

Every instrument is a side-effect-free function or small class: no file I/O, no printing and no
global random state (randomness comes in as an explicit ``numpy.random.Generator`` or seed).
Sub-packages are imported on first use and this module imports nothing heavy:

- ``deepscope.instruments.physics``: exactly solvable statistical physics (1D Ising decimation,
  partition functions, exact chain sampling), numpy only.
- ``deepscope.instruments.expressivity``: the Lin-Tegmark-Rolnick gates (multiplication, square,
  bit product) built as real torch modules, and exact parameter counting.
"""

from __future__ import annotations
