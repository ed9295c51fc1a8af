"""Curvature of a model's loss: exact matrix-free operators and solvers with error bars.

Operators (each ``Op(model, loss_fn, data, params=None, bn="eval", ...)``; ``op @ v`` for a flat
vector of length P, ``op @ V`` for a P x k matrix in one batched pass, ``op.shape``,
``op.to_dense()``, ``op.to_scipy()``):

- :class:`HessianOperator`: the exact Hessian (forward-over-reverse or double backward).
- :class:`GGNOperator`: the generalised Gauss-Newton matrix ``J^T H_L J``.
- :class:`EmpiricalFisherOperator`: ``(1/N) sum_i g_i g_i^T``.
- :class:`GaussNewtonResidualOperator`: ``R = H - G``; :func:`gauss_newton_decomposition`.
- :class:`SubspaceOperator`, :class:`BlockDiagonalOperator`: per-layer blocks.
- :class:`DenseOperator`: a matrix behind the same protocol.

A flat vector lists the selected parameters in ``model.named_parameters()`` order.
"""

from __future__ import annotations

from .instruments.curvature._base import CurvatureLinearOperator, DenseOperator, ScaledSumOperator
from .instruments.curvature.blocks import (
    BlockDiagonalOperator,
    SubspaceOperator,
    parameter_groups,
)
from .instruments.curvature.decomposition import (
    GaussNewtonDecomposition,
    gauss_newton_decomposition,
)
from .instruments.curvature.ggn import EmpiricalFisherOperator, GGNOperator
from .instruments.curvature.hessian import GaussNewtonResidualOperator, HessianOperator

__all__ = [
    # operators
    "HessianOperator",
    "GGNOperator",
    "EmpiricalFisherOperator",
    "GaussNewtonResidualOperator",
    "GaussNewtonDecomposition",
    "gauss_newton_decomposition",
    "SubspaceOperator",
    "BlockDiagonalOperator",
    "parameter_groups",
    "CurvatureLinearOperator",
    "DenseOperator",
    "ScaledSumOperator",
]
