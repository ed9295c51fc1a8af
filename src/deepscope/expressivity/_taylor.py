"""Taylor data of the named activations to any order, and certified bounds on their derivatives.

For the named smooth activations every derivative is a polynomial in the activation itself:

* sigmoid ``s``: ``s' = s - s^2``, so ``s^(k) = P_k(s)`` with ``P_0 = y``,
  ``P_{k+1} = P_k'(y) (y - y^2)``;
* softplus: ``softplus' = s``, so ``softplus^(k) = P_{k-1}(s)`` for ``k >= 1``;
* tanh ``t``: ``t' = 1 - t^2``, ``Q_0 = y``, ``Q_{k+1} = Q_k'(y) (1 - y^2)``;
* exp: every derivative is ``e^z``.

On an interval ``[c - r, c + r]`` the inner function (sigmoid or tanh) is increasing, so the
supremum of ``|sigma^(k)|`` is the supremum of ``|P(y)|`` on an interval of ``y``. That is attained
at an endpoint or at a real root of ``P'`` inside it, so it is computed exactly up to rounding
(inflated by a relative 1e-12 to stay an upper bound). This is what turns the gates' Taylor
remainders into *certified* error bounds (see :mod:`.compiler`).

References:
    Lin, Tegmark & Rolnick 2017, arXiv:1608.08225 (Sec. II C, App. A).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from numpy.polynomial import polynomial as P

from deepscope.errors import UserInputError

from ._gates import Activation, get_activation

__all__ = ["activation_derivatives", "base_name", "sup_abs_derivative"]

_BASES = ((F.softplus, "softplus"), (torch.exp, "exp"), (torch.sigmoid, "sigmoid"),
          (torch.tanh, "tanh"), (torch.relu, "relu"))
_INFLATE = 1.0 + 1e-12


def base_name(act: Activation) -> str | None:
    """The named base function of ``act`` (``"softplus"``, ...) or ``None`` for user callables."""
    for fn, name in _BASES:
        if act.base is fn:
            return name
    return None


def _chain_polys(kind: str, order: int) -> list[np.ndarray]:
    """Coefficient arrays of ``P_0 .. P_order`` (sigmoid) or ``Q_0 .. Q_order`` (tanh)."""
    flow = np.array([0.0, 1.0, -1.0]) if kind == "sigmoid" else np.array([1.0, 0.0, -1.0])
    polys = [np.array([0.0, 1.0])]
    for _ in range(order):
        polys.append(P.polymul(P.polyder(polys[-1]), flow))
    return polys


def _derivative_poly(base: str, k: int) -> tuple[str, np.ndarray]:
    """``(inner, coeffs)``: ``sigma^(k)(z) = poly(inner(z))`` for sigmoid, softplus, tanh."""
    if base == "sigmoid":
        return "sigmoid", _chain_polys("sigmoid", k)[k]
    if base == "softplus":
        if k == 0:
            raise ValueError("softplus itself is not a polynomial in the sigmoid")
        return "sigmoid", _chain_polys("sigmoid", k - 1)[k - 1]
    if base == "tanh":
        return "tanh", _chain_polys("tanh", k)[k]
    raise KeyError(base)


def _inner(kind: str, z: float) -> float:
    if kind == "tanh":
        return math.tanh(z)
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def activation_derivatives(activation, order: int, derivatives=None) -> tuple[float, ...]:
    """``(sigma(0), sigma'(0), ..., sigma^(order)(0))`` of the (possibly shifted) activation.

    Named activations are exact to any order; a user callable needs ``derivatives={k: value}``
    covering ``0..order`` (a missing one is a one-line ``UserInputError``).

    Example:
        >>> activation_derivatives("softplus", 6)[3:]
        (0.0, -0.125, 0.0, 0.25)
    """
    act = get_activation(activation, derivatives)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
        raise UserInputError(f"order must be an integer >= 0, got {order!r}")
    base = base_name(act)
    if base is None:
        return tuple(act.derivative(k, f"order-{order} Taylor data") for k in range(order + 1))
    c = act.shift
    if base == "relu":
        raise UserInputError(f"activation {act.name!r} is not smooth at 0 (relu has a kink)")
    if base == "exp":
        return (math.exp(c),) * (order + 1)
    out = []
    for k in range(order + 1):
        if base == "softplus" and k == 0:
            out.append(max(c, 0.0) + math.log1p(math.exp(-abs(c))))
            continue
        kind, poly = _derivative_poly(base, k)
        val = float(P.polyval(_inner(kind, c), poly))
        out.append(val)
    return tuple(out)


def sup_abs_derivative(activation, k: int, radius: float) -> float:
    """Certified ``sup_{|s| <= radius} |sigma^(k)(s)|`` of a named (possibly shifted) activation.

    The shift is included: ``sigma(s) = base(s + shift)``. Returns ``nan`` for a user callable
    (its derivatives away from 0 are unknown) and raises for ReLU.

    Example:
        >>> round(sup_abs_derivative("exp", 4, 1.0), 12) == round(math.e, 12)
        True
    """
    act = get_activation(activation)
    base = base_name(act)
    if base is None:
        return math.nan
    if base == "relu":
        raise UserInputError(f"activation {act.name!r} is not smooth at 0 (relu has a kink)")
    r = abs(float(radius))
    lo, hi = act.shift - r, act.shift + r
    if base == "exp":
        return math.exp(hi) * _INFLATE
    if base == "softplus" and k == 0:
        return max(abs(F.softplus(torch.tensor(v, dtype=torch.float64)).item()) for v in (lo, hi)) \
            * _INFLATE
    kind, poly = _derivative_poly(base, k)
    y_lo, y_hi = _inner(kind, lo), _inner(kind, hi)
    cands = [y_lo, y_hi]
    dpoly = P.polyder(poly)
    if dpoly.size and np.any(dpoly != 0):
        for root in np.roots(dpoly[::-1]) if dpoly.size > 1 else []:
            if abs(root.imag) < 1e-12 and y_lo <= root.real <= y_hi:
                cands.append(float(root.real))
    return max(abs(float(P.polyval(y, poly))) for y in cands) * _INFLATE
