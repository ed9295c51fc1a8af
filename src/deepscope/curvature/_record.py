"""The stored form of a solver's result: a JSON-ready dict that names the algorithm behind it.

Every result of this package carries ``path``: the operator's class and its resolved product
mode (``"HessianOperator:pearlmutter"``, ``"HessianOperator:reverse-over-reverse"``,
``"GGNOperator:jvp-vjp"``, ``"DenseOperator:dense"``, ...), so that a stored number says which
algorithm produced it. :meth:`ResultRecord.to_dict` writes tensors and arrays as lists and
leaves out the P-sized vectors (eigenvectors, probes), which belong in array files.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch


def jsonable(value: Any) -> Any:
    """``value`` with tensors, arrays and numpy scalars as Python lists and numbers."""
    if isinstance(value, ResultRecord):
        return value.to_dict()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    return value


class ResultRecord:
    """Mixin of the result dataclasses: :meth:`to_dict`, without the P-sized fields."""

    #: fields left out of :meth:`to_dict` (vectors of length P)
    _bulky: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict (``path`` included; P-sized vectors left out)."""
        return {f.name: jsonable(getattr(self, f.name))
                for f in dataclasses.fields(self)  # type: ignore[arg-type]
                if f.name not in self._bulky}
