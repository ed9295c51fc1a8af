"""Per-layer blocks of a curvature operator and the block-diagonal approximation.

``SubspaceOperator(op, names)`` is the diagonal block ``H_SS`` for a subset S of the parameters
(``[H P_S v]_S``, one product of the full operator). ``BlockDiagonalOperator(op, groups)`` keeps
the diagonal blocks of the groups (by default one group per module) and drops the couplings
between them; all groups are computed in one batched product.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import UserInputError
from ._base import CurvatureLinearOperator


def parameter_groups(op, by: str = "module") -> dict[str, list[str]]:
    """Group the operator's parameter names by module (``"module"``) or one per parameter."""
    if by not in ("module", "parameter"):
        raise UserInputError(f"group by 'module' or 'parameter', got {by!r}")
    groups: dict[str, list[str]] = {}
    for name in op.param_names:
        key = name.rpartition(".")[0] or name if by == "module" else name
        groups.setdefault(key, []).append(name)
    return groups


def _indices(op, names: Sequence[str]) -> torch.Tensor:
    offsets, start = {}, 0
    for name, shape in zip(op.param_names, op.param_shapes):
        size = int(torch.tensor(shape).prod()) if shape else 1
        offsets[name] = (start, start + size)
        start += size
    unknown = [n for n in names if n not in offsets]
    if unknown:
        raise UserInputError(f"parameters {unknown} are not in the operator")
    return torch.cat([torch.arange(*offsets[n]) for n in names])


class _BlockOf(CurvatureLinearOperator):
    """Products through a base operator: its mode, and a path that names it."""

    base: CurvatureLinearOperator

    @property
    def mode(self) -> str:  # type: ignore[override]
        return getattr(self.base, "mode", "matmat")

    @property
    def path(self) -> str:
        return f"{type(self).__name__}({getattr(self.base, 'path', type(self.base).__name__)})"


class SubspaceOperator(_BlockOf):
    """The block of ``op`` on the parameters ``names`` (flat order: as in ``op``)."""

    def __init__(self, op: CurvatureLinearOperator, names: Sequence[str]):
        self.base = op
        self.names = [n for n in op.param_names if n in set(names)]
        self.index = _indices(op, self.names).to(op.device)
        super().__init__(len(self.index), op.dtype, op.device)

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        full = torch.zeros(self.base.shape[0], V.shape[1], dtype=V.dtype, device=V.device)
        full[self.index] = V
        return (self.base @ full)[self.index]


class BlockDiagonalOperator(_BlockOf):
    """``diag(H_11, ..., H_gg)`` over parameter groups, in one batched product per call."""

    def __init__(self, op: CurvatureLinearOperator, groups: dict[str, list[str]] | None = None):
        self.base = op
        self.groups = parameter_groups(op) if groups is None else dict(groups)
        self.indices = [_indices(op, names).to(op.device) for names in self.groups.values()]
        covered = torch.cat(self.indices)
        if len(covered) != len(torch.unique(covered)):
            raise UserInputError("parameter groups overlap")
        super().__init__(op.shape[0], op.dtype, op.device)

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        P, k = V.shape
        g = len(self.indices)
        stacked = torch.zeros(P, g * k, dtype=V.dtype, device=V.device)
        for j, idx in enumerate(self.indices):
            stacked[idx, j * k:(j + 1) * k] = V[idx]
        products = self.base @ stacked
        out = torch.zeros_like(V)
        for j, idx in enumerate(self.indices):
            out[idx] = products[idx, j * k:(j + 1) * k]
        return out
