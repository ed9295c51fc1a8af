"""Hochreiter & Schmidhuber's description length of a minimum, from a curvature diagonal.

Flat minima (Hochreiter & Schmidhuber 1997). Around a minimum ``w`` take the largest axis-aligned
box on which the training error rises by at most ``delta``; its side along weight i is
``Delta_i``. Specifying the weights to precision ``Delta_i`` inside a range ``R`` takes

    B = sum_i log2(R / Delta_i)  bits,

so a flat minimum (wide box) is a short description (the minimum-description-length argument
for why it generalises). To second order, the error along axis i rises by ``c_ii Delta_i^2 / 2``
with ``c_ii`` the curvature diagonal, so ``Delta_i = sqrt(2 delta / c_ii)``; we floor the
curvature at ``floor`` so that directions with no curvature (dead units, inputs that are always
zero) get a finite width: ``Delta_i = sqrt(2 delta / max(c_ii, floor))``. Hochreiter &
Schmidhuber's own flatness term is built from the derivatives of the network outputs with
respect to the weights, i.e. a Gauss-Newton form, so the natural curvature is the diagonal of
the generalised Gauss-Newton matrix ``G = J^T H_L J`` (:func:`deepscope.curvature.ggn_diagonal`),
which at a well-fitted minimum is the positive semi-definite part of the Hessian (the Hessian is
``G`` plus the residual-weighted output curvature, which vanishes with the residuals).

Dependence on ``R`` and ``delta``: ``B = P log2 R - (P / 2) log2(2 delta)
+ (1 / 2) sum_i log2 max(c_ii, floor)``, so the difference of ``B`` between two minima with the
same number of parameters P depends on neither (only on the floor).

Reparametrisation (Dinh et al. 2017). If ``theta -> D theta`` (D diagonal, invertible) leaves the
network function unchanged, as ``T_alpha`` does on ReLU layers, then ``f(D theta) = f(theta)`` for
every ``theta``, so the Jacobians obey ``J(D theta) D = J(theta)`` and the output-space loss
Hessian ``H_L`` is the same at the same outputs: ``G(D theta) = D^-1 G(theta) D^-1``, and the
diagonal scales as ``c_ii / d_i^2``. Hence ``Delta_i -> |d_i| Delta_i`` and, for every entry
whose curvature stays above the floor,

    B(D theta) - B(theta) = -sum_i log2 |d_i|     (:func:`rescaling_shift`).

For ``T_alpha`` on a two-layer ReLU network (``n1`` layer-1 weights and biases times alpha,
``n2`` layer-2 weights divided by alpha) this is ``(n2 - n1) log2 alpha``: ``B`` is not a
function of what the network computes.

References:
    Hochreiter & Schmidhuber 1997, Neural Comput. 9:1 (flat minima);
    Dinh, Pascanu, Bengio & Bengio 2017 (ICML; sharp minima can generalise, Sec. 4);
    Martens 2010 (the Gauss-Newton matrix).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import UserInputError

__all__ = ["box_widths", "description_length", "rescaling_shift"]


def _diag(curvature: Any) -> np.ndarray:
    c = np.asarray(curvature.detach().cpu() if hasattr(curvature, "detach") else curvature,
                   dtype=np.float64).reshape(-1)
    if c.size == 0 or not np.all(np.isfinite(c)):
        raise UserInputError("the curvature diagonal must be a non-empty finite vector")
    return c


def _positive(value: float, name: str) -> float:
    value = float(value)
    if not value > 0 or not math.isfinite(value):
        raise UserInputError(f"{name} must be a positive finite number, got {value!r}")
    return value


def box_widths(curvature: Any, delta: float, *, floor: float = 1e-12) -> np.ndarray:
    """Per-parameter box sides ``Delta_i = sqrt(2 delta / max(c_ii, floor))``.

    Args:
        curvature: the curvature diagonal ``c`` (array or tensor, any shape; flattened).
        delta: the tolerated rise of the error inside the box.
        floor: lower bound on the curvature (negative and zero entries are floored too).

    Returns:
        float64 array of the sides, one per entry of ``curvature``.
    """
    c = _diag(curvature)
    delta, floor = _positive(delta, "delta"), _positive(floor, "floor")
    return np.sqrt(2.0 * delta / np.maximum(c, floor))


def description_length(curvature: Any, delta: float, *, radius: float = 1.0,
                       floor: float = 1e-12) -> float:
    """Hochreiter & Schmidhuber's ``B = sum_i log2(radius / Delta_i)`` in bits.

    Computed as ``P log2(radius) - (P / 2) log2(2 delta) + (1 / 2) sum_i log2 max(c_ii, floor)``
    (the same number as summing ``log2(radius / box_widths(...))``, without the square roots).

    Args:
        curvature: the curvature diagonal (e.g. :func:`deepscope.curvature.ggn_diagonal`).
        delta: the tolerated rise of the error inside the box.
        radius: the range ``R`` the weights are specified in (cancels in differences between
            minima with the same number of parameters).
        floor: lower bound on the curvature.

    Returns:
        ``B`` in bits (float).
    """
    c = _diag(curvature)
    delta, floor = _positive(delta, "delta"), _positive(floor, "floor")
    radius = _positive(radius, "radius")
    P = c.size
    return float(P * math.log2(radius) - 0.5 * P * math.log2(2.0 * delta)
                 + 0.5 * np.sum(np.log2(np.maximum(c, floor))))


def rescaling_shift(scales: Any, curvature: Any = None, *, floor: float = 1e-12) -> float:
    """The change ``B(D theta) - B(theta)`` of :func:`description_length` under a
    function-preserving ``theta -> D theta``, predicted from ``G(D theta) = D^-1 G(theta) D^-1``.

    Without ``curvature``: the floor-free closed form ``-sum_i log2 |d_i|``. With the curvature
    diagonal ``c`` at ``theta``: ``(1 / 2) sum_i log2(max(c_i / d_i^2, floor) / max(c_i, floor))``,
    which is the closed form restricted to the entries above the floor at both points, plus the
    partial change of the few that cross it (entries at or below the floor at both points, e.g.
    exact zeros, contribute nothing).

    Args:
        scales: the diagonal of ``D`` (non-zero), one entry per parameter.
        curvature: optional curvature diagonal at ``theta`` (same length as ``scales``).
        floor: the floor used in :func:`description_length`.

    Returns:
        the change of ``B`` in bits.
    """
    d = np.abs(_diag(scales))
    if np.any(d == 0):
        raise UserInputError("the scales must be non-zero")
    if curvature is None:
        return float(-np.sum(np.log2(d)))
    c = _diag(curvature)
    if c.shape != d.shape:
        raise UserInputError(f"curvature has {c.size} entries, scales {d.size}")
    floor = _positive(floor, "floor")
    return float(0.5 * np.sum(np.log2(np.maximum(c / d**2, floor))
                              - np.log2(np.maximum(c, floor))))
