"""The Gauss-Newton decomposition ``H = G + R`` with all three parts as operators.

References:
    Schraudolph 2002; Sagun, Evci, Guney, Dauphin & Bottou 2017 (arXiv:1706.04454); Papyan 2019.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._ggn import GGNOperator
from ._hessian import GaussNewtonResidualOperator, HessianOperator


class GaussNewtonDecomposition(NamedTuple):
    """``hessian = ggn + residual`` (exactly, up to round-off)."""

    hessian: HessianOperator
    ggn: GGNOperator
    residual: GaussNewtonResidualOperator


def gauss_newton_decomposition(model, loss_fn, data, **kwargs: Any) -> GaussNewtonDecomposition:
    """Build H, G and R = H - G for the same model, loss, data and options."""
    mode = kwargs.pop("mode", "auto")
    H = HessianOperator(model, loss_fn, data, mode=mode, **kwargs)
    G = GGNOperator(model, loss_fn, data, **kwargs)
    R = GaussNewtonResidualOperator(model, loss_fn, data, mode=mode, **kwargs)
    return GaussNewtonDecomposition(H, G, R)
