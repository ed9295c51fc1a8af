"""Data sets for deepscope experiments.

Every loader returns a `Dataset` (numpy arrays plus task metadata) and takes an explicit
seed: generation and the train/test split are deterministic in it, and no global random
state (numpy, Python, torch) is changed. Importing this package loads neither torch nor
scikit-learn nor mnist1d; they are imported when a loader needs them.

Embedded data sets (see `available`):

- ``digits`` / ``digits-image``: scikit-learn's bundled 8x8 digits, flat or ``(1, 8, 8)``.
- ``mnist1d``: MNIST-1D signals generated locally and cached as ``.npz``.
- ``teacher-student``: regression on a random one-hidden-layer teacher network.
- ``gaussian-mixture``: classification of isotropic Gaussian clusters.

User data: an ``.npz`` file with arrays ``X`` and ``y`` (see `from_npz`).

`load` accepts a SPEC string such as ``"gaussian-mixture:n_classes=3,dim=5"``.
"""

from __future__ import annotations

from ._cache import cache_dir
from ._dataset import Dataset
from ._datasets import digits, gaussian_mixture, mnist1d, teacher_forward, teacher_student
from ._npz import from_npz
from ._spec import available, load, parse_options, parse_value

__all__ = [
    "Dataset",
    "available",
    "cache_dir",
    "digits",
    "from_npz",
    "gaussian_mixture",
    "load",
    "mnist1d",
    "parse_options",
    "parse_value",
    "teacher_forward",
    "teacher_student",
]
