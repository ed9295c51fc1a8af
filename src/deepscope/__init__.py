"""deepscope: the theory of deep learning, measured.

The top-level package is deliberately light: importing it loads neither torch nor matplotlib.
Sub-packages are imported on first use:

- ``deepscope.data``: embedded data sets (digits, MNIST-1D, teacher-student, Gaussian mixture,
  .npz).
- ``deepscope.models``: the model zoo and the loader for user models.
- Instruments, pure measurement code, one package each behind its ``__init__``:
  ``deepscope.curvature``, ``deepscope.landscape``, ``deepscope.physics``,
  ``deepscope.expressivity``, ``deepscope.harmonic``, ``deepscope.robustness``; the model
  instruments (curvature, landscape) evaluate a model through ``deepscope.problem``.
- ``deepscope.experiments``: one module per theoretical claim; ``deepscope.registry`` lists them.
- ``deepscope.runner``: run one experiment or reproduce them all into a run store.
- ``deepscope.report``: the self-contained HTML report built from stored results.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "data",
    "models",
    "experiments",
    "registry",
    "runner",
    "report",
    "store",
    "results",
    "config",
    "errors",
    "curvature",
    "landscape",
    "expressivity",
    "physics",
    "harmonic",
    "robustness",
    "problem",
    "token_loss",
}

__all__ = ["__version__", *sorted(_LAZY)]

if TYPE_CHECKING:  # pragma: no cover
    from . import (  # noqa: F401  # noqa: F401
        config,
        data,
        errors,
        experiments,
        models,
        registry,
        report,
        results,
        runner,
        store,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'deepscope' has no attribute {name!r}")
