"""Compile a multivariate polynomial into a torch network of LTR gates with a certified bound.

Construction (LTR corollary after Eq. 11; Rolnick & Tegmark Prop. 3.3):

* every monomial of degree ``d >= 2`` is written as its sorted list of factors (``x^2 y`` is
  ``[x, x, y]``) and reduced by a binary tree: at each layer adjacent factors are paired; a pair of
  equal factors goes through a 3-neuron square gate, a pair of different ones through a 4-neuron
  multiplication gate, and an odd factor out is passed on unchanged. Powers therefore come from
  repeated squaring (``x^4 = (x^2)^2``: two square gates) and multiplication (``x^5 = x^4 * x``).
  Identical gates in the same layer are built once (``x^4`` needs only one ``x^2`` gate);
* degree-1 terms and monomials already finished are carried to later layers on linear
  passthrough wires (an exact copy, no neuron): lower-degree terms cost nothing and add no error;
* the constant term is the readout's bias, and the readout's weights are the coefficients.

So the number of hidden neurons depends only on the monomials, never on the accuracy: a smaller
``lam`` only makes the weights larger (each gate's output weights are ``~ lam^-2``).

Certified error bound (on a box ``|x_i| <= B_i``). With ``sigma_k = sigma^(k)(0)`` and
``M4(r) = sup_{|s| <= r} |sigma''''(s)|`` (computed exactly for the named activations by
:func:`.taylor.sup_abs_derivative`), Taylor's theorem with Lagrange remainder gives

    sigma(t) + sigma(-t) = 2 sigma_0 + sigma_2 t^2 + R(t),   |R(t)| <= M4(|t|) t^4 / 12.

* Multiplication gate, ``a = u + v``, ``b = u - v``: ``m - uv = [R(lam a) - R(lam b)] /
  (4 lam^2 sigma_2)``, so for ``|u| <= U, |v| <= V``:
  ``|m - uv| <= M4(lam (U + V)) lam^2 2 (U^4 + 6 U^2 V^2 + V^4) / (48 |sigma_2|)``
  (at ``U = V`` this is the next-order term ``sigma_4 lam^2 U^4 / (3 sigma_2)`` as lam -> 0, so
  the bound is asymptotically tight at the corners).
* Square gate: ``|q - x^2| <= M4(lam X) lam^2 X^4 / (12 |sigma_2|)`` for ``|x| <= X``.
* Propagation: a wire carries ``y_hat`` with ``|y_hat - y| <= delta`` and exact range ``|y| <= B``
  (``B`` = product of the factors' ``B_i``). A gate fed ``y_hat_1, y_hat_2`` is evaluated on the box
  ``U = B_1 + delta_1``, ``V = B_2 + delta_2``, and
  ``|m(y_hat_1, y_hat_2) - y_1 y_2| <= G(U, V) + B_1 delta_2 + B_2 delta_1 + delta_1 delta_2``
  (``2 B delta + delta^2`` for a square). The readout adds ``sum_k |c_k| delta_k``.
* Floating point: each gate adds ``16 eps sum_j |w_out,j| sup|sigma|`` (rounding of the hidden
  activations amplified by the output weights; negligible for lam >= 1e-3 in float64).

For a user callable activation the supremum of ``sigma''''`` is unknown and the bound is ``nan``.

References:
    Lin, Tegmark & Rolnick 2017, arXiv:1608.08225, Sec. II C; Rolnick & Tegmark 2018,
    arXiv:1705.05502, Prop. 3.3 and Thm. 3.4.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from deepscope.errors import UserInputError

from ._gates import _check_lam, get_activation, multiplication_gate, square_gate
from ._taylor import sup_abs_derivative

__all__ = [
    "CompilationReport",
    "GateLayer",
    "PolynomialNetwork",
    "box_points",
    "compile_polynomial",
    "deep_product_network",
    "evaluate_terms",
    "observed_max_error",
    "polynomial_terms",
]

_EPS = float(np.finfo(np.float64).eps)


@dataclasses.dataclass(frozen=True)
class CompilationReport:
    """What :func:`compile_polynomial` built.

    Attributes:
        variables: input names, in input-column order.
        terms: ``((exponents, coefficient), ...)`` of the polynomial.
        activation: the activation's name.
        lam: the gates' input scale.
        n_hidden: hidden neurons (independent of ``lam``).
        depth: number of gate layers (``max ceil(log2 degree)``).
        n_multiplication_gates: 4-neuron gates.
        n_square_gates: 3-neuron gates.
        largest_weight: largest absolute weight of the module as built (``~ lam^-2``).
        error_bound: certified ``sup_box |network - p|`` (``nan`` for a user callable).
        box: ``((lo, hi), ...)`` per variable, the box the bound holds on.
    """

    variables: tuple[str, ...]
    terms: tuple[tuple[tuple[int, ...], float], ...]
    activation: str
    lam: float
    n_hidden: int
    depth: int
    n_multiplication_gates: int
    n_square_gates: int
    largest_weight: float
    error_bound: float
    box: tuple[tuple[float, float], ...]


class GateLayer(nn.Module):
    """One layer of wires: gates applied to selected input wires, plus exact passthrough wires.

    Output columns are ``[gate_0(x[:, inputs_0]), ..., x[:, passthrough_0], ...]``.
    """

    def __init__(self, gates, gate_inputs, passthrough):
        super().__init__()
        self.gates = nn.ModuleList(gates)
        self.gate_inputs = [list(idx) for idx in gate_inputs]
        self.passthrough = list(passthrough)
        self.n_hidden = sum(g.n_hidden for g in gates)
        self.n_outputs = len(gates) + len(self.passthrough)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cols = [g(x[:, idx]) for g, idx in zip(self.gates, self.gate_inputs)]
        cols += [x[:, j] for j in self.passthrough]
        return torch.stack(cols, dim=1)


class PolynomialNetwork(nn.Module):
    """A compiled polynomial: ``(N, n_inputs) -> (N,)``; see :func:`compile_polynomial`.

    Attributes:
        n_inputs, n_hidden, depth, variables: as in :attr:`report`.
        report: the :class:`CompilationReport`.
    """

    def __init__(self, layers, readout_weights, constant, report: CompilationReport, dtype):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.dtype = dtype
        width = len(readout_weights)
        self.readout = nn.utils.skip_init(nn.Linear, width, 1, bias=True, dtype=dtype)
        with torch.no_grad():
            self.readout.weight.copy_(torch.tensor([list(readout_weights)], dtype=dtype))
            self.readout.bias.fill_(float(constant))
        self.report = report
        self.variables = report.variables
        self.n_inputs = len(report.variables)
        self.n_hidden = report.n_hidden
        self.depth = report.depth

    def forward(self, x) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise UserInputError(
                f"PolynomialNetwork expects input of shape (N, {self.n_inputs}), "
                f"got {tuple(x.shape)}"
            )
        for layer in self.layers:
            x = layer(x)
        return self.readout(x).squeeze(-1)


def polynomial_terms(poly) -> tuple[tuple[str, ...], dict[tuple[int, ...], float]]:
    """``(variables, {exponents: coefficient})`` of a sympy expression or a coefficient mapping.

    A sympy expression's variables are ``sorted(poly.free_symbols, key=str)``; a mapping
    ``{exponent tuple: coeff}`` names its variables ``x0, x1, ...``. Zero coefficients are dropped.
    """
    if isinstance(poly, Mapping):
        if not poly:
            raise UserInputError("the coefficient mapping is empty")
        keys = list(poly)
        n = len(keys[0]) if isinstance(keys[0], tuple) else -1
        terms: dict[tuple[int, ...], float] = {}
        for key, coeff in poly.items():
            if (not isinstance(key, tuple) or len(key) != n or n < 1
                    or any(isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < 0
                           for e in key)):
                raise UserInputError(
                    "coefficient mapping keys must be tuples of equal length >= 1 of integer "
                    f"exponents >= 0, got {key!r}"
                )
            terms[tuple(int(e) for e in key)] = terms.get(tuple(int(e) for e in key), 0.0) + (
                _finite(coeff, key))
        return tuple(f"x{i}" for i in range(n)), {k: c for k, c in terms.items() if c != 0.0}
    import sympy

    try:
        expr = sympy.sympify(poly)
    except (sympy.SympifyError, TypeError) as exc:
        raise UserInputError(f"cannot read {poly!r} as a polynomial") from exc
    symbols = sorted(expr.free_symbols, key=str)
    if not symbols:
        raise UserInputError(f"polynomial {poly!r} has no variables")
    try:
        p = sympy.Poly(expr, *symbols)
    except sympy.PolynomialError as exc:
        raise UserInputError(f"{poly} is not a polynomial in {symbols}") from exc
    terms = {}
    for monom, coeff in p.terms():
        if not coeff.is_number:
            raise UserInputError(f"coefficient {coeff} of {poly} is not a number")
        terms[tuple(int(e) for e in monom)] = _finite(coeff, monom)
    return tuple(str(s) for s in symbols), {k: c for k, c in terms.items() if c != 0.0}


def _finite(coeff, key) -> float:
    try:
        val = float(coeff)
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"coefficient of {key} must be a real number, got {coeff!r}") from exc
    if not math.isfinite(val):
        raise UserInputError(f"coefficient of {key} must be finite, got {coeff!r}")
    return val


def _box(box, n: int) -> tuple[tuple[float, float], ...]:
    arr = np.asarray(box, dtype=np.float64)
    if arr.shape == (2,):
        arr = np.tile(arr, (n, 1))
    if arr.shape != (n, 2) or not np.all(np.isfinite(arr)) or np.any(arr[:, 0] > arr[:, 1]):
        raise UserInputError(f"box must be (lo, hi) or {n} pairs (lo, hi) with lo <= hi")
    return tuple((float(lo), float(hi)) for lo, hi in arr)


def compile_polynomial(poly, activation="softplus", lam: float = 0.1, *, box=(-1.0, 1.0),
                       dtype: torch.dtype = torch.float64, derivatives=None) -> PolynomialNetwork:
    """Compile ``poly`` into a network of multiplication/square gates (module docstring).

    Args:
        poly: a sympy polynomial expression (inputs ordered ``sorted(free_symbols, key=str)``)
            or ``{exponent tuple: coefficient}`` (inputs ``x0, x1, ...``).
        activation: a name (``"softplus"``, ``"exp"``, ``"tanh+0.5"``, ...) or a callable with
            ``derivatives={2: sigma''(0), ...}``; needs ``sigma''(0) != 0``.
        lam: the gates' input scale; the error is ``O(lam^2)``, the neuron count fixed.
        box: ``(lo, hi)`` for every variable, or one pair per variable: where the bound holds.
        dtype: parameter dtype (float64 by default).

    Returns:
        A :class:`PolynomialNetwork` mapping ``(N, n_inputs)`` to ``(N,)``; its ``report`` has
        the neuron count, depth, largest weight and the certified error bound on ``box``.

    Raises:
        UserInputError: not a polynomial, or an activation with ``sigma''(0) = 0``
            (tanh, sigmoid), or without derivatives (ReLU).

    Example:
        >>> import sympy
        >>> x, y, z = sympy.symbols("x y z")
        >>> net = compile_polynomial(x*y*z + 2*x**2*y - z**3, "softplus", 0.1)
        >>> net.n_hidden, net.depth
        (22, 2)
    """
    variables, terms = polynomial_terms(poly)
    act = get_activation(activation, derivatives)
    lam = _check_lam(lam)
    # Resolve the gates once so that an unusable activation fails before anything is built.
    multiplication_gate(act, lam, dtype=dtype)
    s2 = abs(act.derivative(2, "the gates"))
    n = len(variables)
    box_t = _box(box, n)
    b_in = [max(abs(lo), abs(hi)) for lo, hi in box_t]

    def bound_of(key):
        return math.prod(b_in[i] for i in key)

    constant = terms.get((0,) * n, 0.0)
    monos = [(tuple(i for i in range(n) for _ in range(e[i])), c)
             for e, c in terms.items() if sum(e) >= 1]
    operands = [[(i,) for i in key] for key, _ in monos]
    wires = [(i,) for i in range(n)]
    delta = {(i,): 0.0 for i in range(n)}
    layers, n_mult, n_square, largest = [], 0, 0, 0.0
    while any(len(ops) > 1 for ops in operands):
        index = {k: j for j, k in enumerate(wires)}
        spec: dict[tuple[int, ...], tuple] = {}
        for m, ops in enumerate(operands):
            if len(ops) == 1:
                continue
            new = []
            for a, b in zip(ops[0::2], ops[1::2]):
                key = tuple(sorted(a + b))
                spec.setdefault(key, (a, b))
                new.append(key)
            if len(ops) % 2:
                new.append(ops[-1])
            operands[m] = new
        needed = list(dict.fromkeys(k for ops in operands for k in ops))
        gate_keys = [k for k in needed if k not in index]
        pass_keys = [k for k in needed if k in index]
        gates, gate_inputs = [], []
        for key in gate_keys:
            a, b = spec[key]
            ua, ub = bound_of(a) + delta[a], bound_of(b) + delta[b]
            if a == b:
                gate = square_gate(act, lam, dtype=dtype)
                n_square += 1
                r = lam * ua
                g_err = sup_abs_derivative(act, 4, r) * lam**2 * ua**4 / (12.0 * s2)
                prop = 2.0 * bound_of(a) * delta[a] + delta[a] ** 2
                gate_inputs.append((index[a],))
            else:
                gate = multiplication_gate(act, lam, dtype=dtype)
                n_mult += 1
                r = lam * (ua + ub)
                g_err = (sup_abs_derivative(act, 4, r) * lam**2
                         * 2.0 * (ua**4 + 6.0 * ua**2 * ub**2 + ub**4) / (48.0 * s2))
                prop = bound_of(a) * delta[b] + bound_of(b) * delta[a] + delta[a] * delta[b]
                gate_inputs.append((index[a], index[b]))
            w_out = gate.output.weight.detach().abs()
            fp = 16.0 * _EPS * float(w_out.sum()) * sup_abs_derivative(act, 0, r)
            delta[key] = g_err + fp + prop
            w_in = float(gate.hidden.weight.detach().abs().max())
            largest = max(largest, float(w_out.max()), w_in)
            gates.append(gate)
        layers.append(GateLayer(gates, gate_inputs, [index[k] for k in pass_keys]))
        wires = gate_keys + pass_keys
    index = {k: j for j, k in enumerate(wires)}
    readout = [0.0] * len(wires)
    bound = 0.0
    for (key, coeff), ops in zip(monos, operands):
        readout[index[ops[0]]] += coeff
        bound += abs(coeff) * (delta[ops[0]] + 4.0 * _EPS * (bound_of(key) + delta[ops[0]]))
    largest = max([largest] + [abs(c) for c in readout])
    report = CompilationReport(
        variables=variables, terms=tuple(sorted(terms.items())), activation=act.name, lam=lam,
        n_hidden=sum(layer.n_hidden for layer in layers), depth=len(layers),
        n_multiplication_gates=n_mult, n_square_gates=n_square, largest_weight=largest,
        error_bound=float(bound), box=box_t,
    )
    return PolynomialNetwork(layers, readout, constant, report, dtype)


def deep_product_network(n: int, activation="softplus", lam: float = 0.1, *, box=(-1.0, 1.0),
                         dtype: torch.dtype = torch.float64) -> PolynomialNetwork:
    """``x_0 x_1 ... x_{n-1}`` as a binary tree of ``n - 1`` 4-neuron multiplication gates.

    ``4 (n - 1)`` hidden neurons in ``ceil(log2 n)`` layers (LTR Sec. III H: "about 4n"), against
    ``2^n`` for one hidden layer (:func:`.products.shallow_product_network`).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UserInputError(f"n must be a positive integer, got {n!r}")
    return compile_polynomial({(1,) * int(n): 1.0}, activation, lam, box=box, dtype=dtype)


def evaluate_terms(terms, x: np.ndarray) -> np.ndarray:
    """Exact (float64) value of ``sum_k c_k prod_i x_i^{e_ki}`` at the rows of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    items = terms.items() if isinstance(terms, Mapping) else terms
    out = np.zeros(x.shape[0])
    for exps, coeff in items:
        out += coeff * np.prod(x ** np.asarray(exps, dtype=np.float64), axis=1)
    return out


def box_points(box, n_points: int, rng: np.random.Generator) -> np.ndarray:
    """``n_points`` uniform points in the box followed by all ``2^n`` corners."""
    box_a = np.asarray(box, dtype=np.float64)
    lo, hi = box_a[:, 0], box_a[:, 1]
    pts = lo + (hi - lo) * rng.random((int(n_points), len(lo)))
    corners = np.array(list(itertools.product(*box_a)), dtype=np.float64)
    return np.concatenate([pts, corners])


def observed_max_error(network: PolynomialNetwork, n_points: int, rng: np.random.Generator
                       ) -> float:
    """``max |network(x) - p(x)|`` over :func:`box_points` of the network's box."""
    pts = box_points(network.report.box, n_points, rng)
    with torch.no_grad():
        out = network(torch.from_numpy(pts)).numpy()
    return float(np.max(np.abs(out - evaluate_terms(network.report.terms, pts))))
