"""Lin-Tegmark-Rolnick gates built as real torch networks with the exact weights.

With ``sigma_k = sigma^(k)(0)`` the Taylor derivatives of a smooth activation at 0:

* Multiplication gate (LTR Eq. 11), one hidden layer of 4 neurons::

      m(u, v) = [s(l(u+v)) + s(-l(u+v)) - s(l(u-v)) - s(-l(u-v))] / (4 l^2 sigma_2)
              = u v [1 + (sigma_4 / (6 sigma_2)) l^2 (u^2 + v^2) + O(l^4)],

  so the error is O(l^2) (for softplus the relative error is ``-l^2 (u^2 + v^2) / 12``).
* Square gate, 3 bias-free neurons: ``x^2 ~ [s(l x) + s(-l x) - 2 s(0)] / (l^2 sigma_2)``
  ``= x^2 [1 + (sigma_4 / (12 sigma_2)) l^2 x^2 + O(l^4)]``.
* Bit-product gate, one sigmoid neuron: ``prod_i x_i ~ sigmoid(-beta (k - 1/2 - sum_i x_i))``
  for bits ``x_i in {0, 1}``; the worst pattern sits at distance ``beta / 2`` from the threshold,
  so the error is ``sigmoid(-beta/2) = 1 / (1 + e^{beta/2}) ~ e^{-beta/2}`` (``beta = D ln 10``
  gives D/2 correct decimals, not D).

The gates need ``sigma_2 != 0``: tanh and sigmoid (odd about their centre) and ReLU (not smooth)
are refused; shifted activations such as ``"tanh+0.5"`` (``tanh(z + 0.5)``, implemented as a
hidden bias of 0.5) are accepted.

References:
    Lin, Tegmark & Rolnick 2017, J. Stat. Phys. 168:1223, arXiv:1608.08225 (Eqs. 11, 13);
    Rolnick & Tegmark 2018, ICLR, arXiv:1705.05502 (Sec. 4, the square gate).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepscope.errors import UserInputError

__all__ = [
    "ACTIVATION_TABLE",
    "MAX_DERIVATIVE_ORDER",
    "Activation",
    "BitProductGate",
    "GateErrorScan",
    "MultiplicationGate",
    "SquareGate",
    "bit_product_gate",
    "fit_loglog_slope",
    "gate_error_scan",
    "get_activation",
    "multiplication_gate",
    "next_order_relative_error",
    "square_gate",
    "square_next_order_relative_error",
]

MAX_DERIVATIVE_ORDER = 6


def _chain_derivatives(g: list[float], x: float, value: float) -> list[float]:
    """Derivatives 0..MAX of ``y(z)`` at a point where ``y = x`` and ``dy/dz = g(y)`` (poly)."""
    poly = [0.0, 1.0]  # d^0 y / dz^0 = y
    out = [value]
    for _ in range(MAX_DERIVATIVE_ORDER):
        dpoly = [i * c for i, c in enumerate(poly)][1:] or [0.0]
        new = [0.0] * (len(dpoly) + len(g) - 1)
        for i, a in enumerate(dpoly):
            for j, b in enumerate(g):
                new[i + j] += a * b
        poly = new
        out.append(sum(c * x**i for i, c in enumerate(poly)))
    return out


def _derivatives_at(base: str, c: float) -> tuple[float, ...] | None:
    """Exact-in-floats Taylor derivatives sigma^(k)(c), k = 0..6, of a named base activation."""
    if base == "exp":
        return (math.exp(c),) * (MAX_DERIVATIVE_ORDER + 1)
    if base in ("sigmoid", "softplus"):
        s = 1.0 / (1.0 + math.exp(-c))
        sig = _chain_derivatives([0.0, 1.0, -1.0], s, s)  # s' = s - s^2
        if base == "sigmoid":
            return tuple(sig)
        sp = max(c, 0.0) + math.log1p(math.exp(-abs(c)))
        return (sp, *sig[:MAX_DERIVATIVE_ORDER])
    if base == "tanh":
        t = math.tanh(c)
        return tuple(_chain_derivatives([1.0, 0.0, -1.0], t, t))  # t' = 1 - t^2
    if base == "relu":
        if c == 0.0:
            return None  # kink at 0
        return (max(c, 0.0), 1.0 if c > 0 else 0.0) + (0.0,) * (MAX_DERIVATIVE_ORDER - 1)
    raise KeyError(base)


_BASE_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "softplus": F.softplus,
    "exp": torch.exp,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
}

#: name -> (torch function, (sigma_0, ..., sigma_6) at 0, or None where not smooth at 0).
ACTIVATION_TABLE: Mapping[str, tuple[Callable[[torch.Tensor], torch.Tensor], tuple | None]] = (
    MappingProxyType(
        {name: (fn, _derivatives_at(name, 0.0)) for name, fn in _BASE_FUNCTIONS.items()}
    )
)

_SPEC = re.compile(r"^\s*([a-z]+)\s*(?:([+-])\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?))?\s*$")


@dataclass(frozen=True)
class Activation:
    """An activation ``z -> base(z + shift)`` with known Taylor derivatives at ``z = 0``.

    Attributes:
        name: display name (``"softplus"``, ``"tanh+0.5"``, or the callable's name).
        base: the torch function applied after the (possibly zero) shift.
        shift: added before ``base``; gates implement it as the hidden-layer bias.
        derivatives: ``{k: sigma^(k)(0)}`` of the shifted function (possibly partial or empty).
        reason: why derivatives are missing, if they are.
    """

    name: str
    base: Callable[[torch.Tensor], torch.Tensor]
    shift: float = 0.0
    derivatives: Mapping[int, float] = field(default_factory=dict)
    reason: str = ""

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.base(z + self.shift) if self.shift else self.base(z)

    def derivative(self, k: int, purpose: str = "this computation") -> float:
        """``sigma^(k)(0)``, or a one-line ``UserInputError`` naming what is missing."""
        if k not in self.derivatives:
            why = f" ({self.reason})" if self.reason else ""
            raise UserInputError(
                f"activation {self.name!r}: derivative sigma^({k})(0) is unknown{why}; "
                f"{purpose} needs it"
            )
        return float(self.derivatives[k])


def get_activation(activation, derivatives: Mapping[int, float] | None = None) -> Activation:
    """Resolve a name such as ``"softplus"``, ``"softplus+1"``, ``"tanh+0.5"``, an
    :class:`Activation`, or a user torch callable (``derivatives={k: sigma^(k)(0)}`` required for
    the gates to use it)."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        m = _SPEC.match(activation.lower())
        if not m or m.group(1) not in _BASE_FUNCTIONS:
            known = ", ".join(sorted(_BASE_FUNCTIONS))
            raise UserInputError(
                f"unknown activation {activation!r}; use one of {known}, optionally shifted "
                f"like 'softplus+1'"
            )
        base, sign, num = m.groups()
        shift = (-1.0 if sign == "-" else 1.0) * float(num) if num else 0.0
        if derivatives is not None:
            raise UserInputError("derivatives= is only for user callables, not named activations")
        ders = _derivatives_at(base, shift)
        name = base if shift == 0.0 else f"{base}{shift:+g}"
        if ders is None:
            return Activation(name, _BASE_FUNCTIONS[base], shift, {}, f"{base} is not smooth at 0")
        return Activation(name, _BASE_FUNCTIONS[base], shift, dict(enumerate(ders)))
    if callable(activation):
        ders = {int(k): float(v) for k, v in (derivatives or {}).items()}
        reason = "" if ders else "give derivatives={k: value} with the callable"
        return Activation(
            getattr(activation, "__name__", "callable"), activation, 0.0, ders, reason
        )
    raise UserInputError(
        f"activation must be a name or a callable, got {type(activation).__name__}"
    )


def _check_lam(lam) -> float:
    try:
        val = float(lam)
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"lam must be a positive number, got {lam!r}") from exc
    if not (val > 0 and math.isfinite(val)):
        raise UserInputError(f"lam must be a positive finite number, got {lam!r}")
    return val


def _nonzero_sigma2(act: Activation, gate: str) -> float:
    s2 = act.derivative(2, f"the {gate} gate")
    if s2 == 0.0:
        raise UserInputError(
            f"activation {act.name!r} has sigma''(0) = 0, so the {gate} gate would divide by "
            f"zero; use a shifted one such as 'tanh+0.5'"
        )
    return s2


class _Gate(nn.Module):
    """Linear -> activation -> Linear with fixed, exact weights; output shape ``(N,)``."""

    n_inputs: int
    n_hidden: int

    def __init__(self, act: Activation, w_hidden, w_out, bias: float, dtype: torch.dtype):
        super().__init__()
        self.activation = act
        self.n_hidden = len(w_out)
        self.n_inputs = len(w_hidden[0])
        self.dtype = dtype
        # skip_init: no random initialisation, so building a gate leaves torch's global RNG alone
        self.hidden = nn.utils.skip_init(
            nn.Linear, self.n_inputs, self.n_hidden, bias=bias != 0.0, dtype=dtype
        )
        self.output = nn.utils.skip_init(nn.Linear, self.n_hidden, 1, bias=False, dtype=dtype)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.tensor(w_hidden, dtype=dtype))
            if self.hidden.bias is not None:
                self.hidden.bias.fill_(bias)
            self.output.weight.copy_(torch.tensor([w_out], dtype=dtype))

    def forward(self, x) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise UserInputError(
                f"{type(self).__name__} expects input of shape (N, {self.n_inputs}), "
                f"got {tuple(x.shape)}"
            )
        return self.output(self.activation.base(self.hidden(x))).squeeze(-1)


class MultiplicationGate(_Gate):
    """LTR Eq. 11: ``(u, v) -> u v`` with 4 hidden neurons; see :func:`multiplication_gate`."""


class SquareGate(_Gate):
    """``x -> x^2`` with 3 hidden neurons; see :func:`square_gate`."""


class BitProductGate(_Gate):
    """Product of ``k`` bits with one sigmoid neuron; see :func:`bit_product_gate`."""


def multiplication_gate(
    activation="softplus", lam: float = 0.1, dtype: torch.dtype = torch.float64, derivatives=None
) -> MultiplicationGate:
    """The 4-neuron multiplication gate of LTR Eq. 11 as ``Linear(2,4) -> sigma -> Linear(4,1)``.

    Hidden weights ``lam * [[1,1],[-1,-1],[1,-1],[-1,1]]`` (bias = the activation's shift, none
    for unshifted ones), output weights ``[1, 1, -1, -1] / (4 lam^2 sigma''(0))``. Input
    ``(N, 2)``, output ``(N,)``; ``m = u v [1 + (sigma_4/(6 sigma_2)) lam^2 (u^2+v^2) + ...]``.

    Raises:
        UserInputError: if ``sigma''(0)`` is zero (tanh, sigmoid) or unknown (relu).

    References:
        Lin, Tegmark & Rolnick 2017, arXiv:1608.08225, Eq. 11.
    """
    act = get_activation(activation, derivatives)
    s2 = _nonzero_sigma2(act, "multiplication")
    lam = _check_lam(lam)
    c = 1.0 / (4.0 * lam**2 * s2)
    w_h = [[lam, lam], [-lam, -lam], [lam, -lam], [-lam, lam]]
    return MultiplicationGate(act, w_h, [c, c, -c, -c], act.shift, dtype)


def square_gate(
    activation="softplus", lam: float = 0.1, dtype: torch.dtype = torch.float64, derivatives=None
) -> SquareGate:
    """``x^2 ~ [sigma(lam x) + sigma(-lam x) - 2 sigma(0)] / (lam^2 sigma''(0))``, 3 neurons.

    Hidden weights ``[lam, -lam, 0]`` (the third neuron computes the constant ``sigma(0)``), no
    bias except an activation shift; output weights ``[1, 1, -2] / (lam^2 sigma''(0))``. Input
    ``(N, 1)``, output ``(N,)``; relative error ``(sigma_4/(12 sigma_2)) lam^2 x^2 + O(lam^4)``.

    References:
        Rolnick & Tegmark 2018, arXiv:1705.05502, Sec. 4; LTR 2017 Sec. II C.
    """
    act = get_activation(activation, derivatives)
    s2 = _nonzero_sigma2(act, "square")
    lam = _check_lam(lam)
    c = 1.0 / (lam**2 * s2)
    return SquareGate(act, [[lam], [-lam], [0.0]], [c, c, -2.0 * c], act.shift, dtype)


def bit_product_gate(k: int, beta: float, dtype: torch.dtype = torch.float64) -> BitProductGate:
    """``prod_{i<k} x_i ~ sigmoid(-beta (k - 1/2 - sum_i x_i))`` for bits, one neuron.

    Weights ``beta`` on every input, bias ``-beta (k - 1/2)``, output weight 1. Input ``(N, k)``,
    output ``(N,)``. Worst-case error over all ``2^k`` patterns is ``1/(1 + e^{beta/2})``.

    References:
        Lin, Tegmark & Rolnick 2017, arXiv:1608.08225, Eq. 13.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise UserInputError(f"k must be a positive integer, got {k!r}")
    b = _check_lam(beta)
    act = Activation("sigmoid", torch.sigmoid, 0.0, dict(enumerate(_derivatives_at("sigmoid", 0))))
    return BitProductGate(act, [[b] * int(k)], [1.0], -b * (int(k) - 0.5), dtype)


def next_order_relative_error(activation, lam, u, v, derivatives=None):
    """Next-order term of ``m/(uv) - 1`` for the multiplication gate (LTR 2017, Eq. 11).

    ``(sigma_4 / (6 sigma_2)) lam^2 (u^2 + v^2)``; for softplus ``-lam^2 (u^2 + v^2) / 12``.
    Vectorised over numpy ``u, v``.
    """
    act = get_activation(activation, derivatives)
    s2 = _nonzero_sigma2(act, "multiplication")
    s4 = act.derivative(4, "the next-order error")
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    res = s4 / (6.0 * s2) * _check_lam(lam) ** 2 * (u**2 + v**2)
    return float(res) if res.ndim == 0 else res


def square_next_order_relative_error(activation, lam, x, derivatives=None):
    """Next-order term of ``q(x)/x^2 - 1`` for the square gate: ``(s4/(12 s2)) lam^2 x^2``."""
    act = get_activation(activation, derivatives)
    s2 = _nonzero_sigma2(act, "square")
    s4 = act.derivative(4, "the next-order error")
    x = np.asarray(x, dtype=np.float64)
    res = s4 / (12.0 * s2) * _check_lam(lam) ** 2 * x**2
    return float(res) if res.ndim == 0 else res


@dataclass(frozen=True)
class GateErrorScan:
    """Result of :func:`gate_error_scan` (arrays indexed like ``lams``).

    Attributes:
        activation: the activation's name.
        lams: the input scales.
        max_error: ``max |m(u,v) - u v|`` over the points.
        max_predicted_error: ``max |u v * next_order_relative_error(u, v)|`` on the same points.
        n_points: number of points uniform on ``[-1, 1]^2``.
    """

    activation: str
    lams: np.ndarray
    max_error: np.ndarray
    max_predicted_error: np.ndarray
    n_points: int

    @property
    def relative_agreement(self) -> np.ndarray:
        """``max_error / max_predicted_error - 1``."""
        return self.max_error / self.max_predicted_error - 1.0


def gate_error_scan(
    activation, lams, n_points: int, rng: np.random.Generator, derivatives=None
) -> GateErrorScan:
    """Measure the multiplication gate's worst error against ``lam`` on shared random points."""
    if not isinstance(rng, np.random.Generator):
        raise UserInputError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 1:
        raise UserInputError(f"n_points must be a positive integer, got {n_points!r}")
    act = get_activation(activation, derivatives)
    lam_arr = np.atleast_1d(np.asarray(lams, dtype=np.float64))
    pts = rng.uniform(-1.0, 1.0, size=(int(n_points), 2))
    u, v = pts[:, 0], pts[:, 1]
    x = torch.from_numpy(pts)
    errs, preds = [], []
    for lam in lam_arr:
        with torch.no_grad():
            m = multiplication_gate(act, float(lam))(x).numpy()
        errs.append(np.max(np.abs(m - u * v)))
        preds.append(np.max(np.abs(u * v * next_order_relative_error(act, float(lam), u, v))))
    return GateErrorScan(act.name, lam_arr, np.array(errs), np.array(preds), int(n_points))


def fit_loglog_slope(x, y) -> tuple[float, float, float]:
    """Least-squares line ``ln y = slope * ln x + intercept``.

    Returns:
        ``(slope, intercept, slope_standard_error)``; the intercept is in natural log units and
        the standard error is ``sqrt(SSR / (n - 2) / Sxx)`` (``nan`` for exactly two points).
    """
    xa, ya = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape or xa.size < 2:
        raise UserInputError("fit_loglog_slope needs x and y of equal length >= 2")
    if (xa <= 0).any() or (ya <= 0).any():
        raise UserInputError("fit_loglog_slope needs strictly positive x and y")
    lx, ly = np.log(xa), np.log(ya)
    dx = lx - lx.mean()
    sxx = float(dx @ dx)
    if sxx == 0.0:
        raise UserInputError("fit_loglog_slope needs at least two distinct x values")
    slope = float(dx @ (ly - ly.mean())) / sxx
    intercept = float(ly.mean() - slope * lx.mean())
    if xa.size == 2:
        return slope, intercept, math.nan
    resid = ly - (slope * lx + intercept)
    return slope, intercept, math.sqrt(float(resid @ resid) / (xa.size - 2) / sxx)
