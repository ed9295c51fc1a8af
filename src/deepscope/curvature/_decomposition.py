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
    """Build H, G and R = H - G for the same model, loss, data and options.

    The three share one :class:`~deepscope.problem.Problem` (one model copy, one pass over the
    data for the loss): G and R are built with :meth:`~HessianOperator.sharing` from H. ``mode``
    applies to H and R (R's ``auto`` never picks the R-operator: R is not a loss's Hessian).
    """
    mode = kwargs.pop("mode", "auto")
    H = HessianOperator(model, loss_fn, data, mode=mode, **kwargs)
    G = GGNOperator.sharing(H)
    R = GaussNewtonResidualOperator.sharing(H, mode=mode)
    return GaussNewtonDecomposition(H, G, R)
