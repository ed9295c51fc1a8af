"""The n-fold product in one hidden layer (2^n neurons) and the rank argument of no-flattening.

Shallow construction (LTR Sec. III H and App. A), bias-free apart from an activation shift:

    prod_i x_i ~ sum_{s in {+-1}^n} (prod_i s_i) sigma(lam s.x) / (2^n sigma_n lam^n),

with ``sigma_k = sigma^(k)(0)``. Summing over sign patterns keeps only Taylor terms in which every
``x_i`` appears an odd number of times, so all degrees below ``n`` cancel exactly, degree ``n``
gives ``prod x``, degree ``n + 1`` cancels by parity and the first correction is

    prod_i x_i * (sigma_{n+2} / (6 sigma_n)) lam^2 sum_j x_j^2        (n = 2: LTR Eq. 11).

It needs ``sigma_n != 0``: plain softplus (``softplus'''(0) = 0``) cannot do ``n = 3``.

Necessity (LTR App. A): a bias-free hidden layer with input weights ``a_{hj}`` matches the Taylor
polynomial of ``prod x`` only if the ``2^n x m`` matrix ``A_{S,j} = prod_{h in S} a_{hj}`` (rows:
subsets ``S`` of the inputs) has full row rank ``2^n``, hence ``m >= 2^n``.
:func:`minimum_shallow_width` finds that smallest ``m`` numerically from the singular values of
``A`` at generic weights; for the construction (``a_j = s_j``) ``A`` is the ``2^n x 2^n``
Walsh-Hadamard matrix, ``A^T A = 2^n I``.

References:
    Lin, Tegmark & Rolnick 2017, arXiv:1608.08225, Sec. III H and App. A.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from deepscope.errors import UserInputError

from ._gates import _check_lam, _Gate, get_activation
from ._taylor import activation_derivatives

__all__ = [
    "ShallowProductNetwork",
    "minimum_shallow_width",
    "shallow_product_network",
    "shallow_product_next_order",
    "subset_matrix",
    "subset_matrix_rank",
]


class ShallowProductNetwork(_Gate):
    """``prod x`` with ``2^n`` neurons in one hidden layer; see :func:`shallow_product_network`."""


def _check_n(n, minimum: int = 1, maximum: int = 16) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not minimum <= n <= maximum:
        raise UserInputError(f"n must be an integer in [{minimum}, {maximum}], got {n!r}")
    return int(n)


def _sigma_n(act, n: int, purpose: str) -> float:
    sig = activation_derivatives(act, n)[n]
    if sig == 0.0:
        raise UserInputError(
            f"activation {act.name!r} has sigma^({n})(0) = 0, so {purpose} is impossible; use "
            f"one with all derivatives nonzero such as 'exp' or 'softplus+1'"
        )
    return sig


def shallow_product_network(n: int, activation="exp", lam: float = 0.1,
                            dtype: torch.dtype = torch.float64, derivatives=None
                            ) -> ShallowProductNetwork:
    """The ``2^n``-neuron single-hidden-layer product network (module docstring).

    Hidden weights ``lam * s`` for all ``s in {+-1}^n`` (bias = the activation's shift), output
    weights ``prod(s) / (2^n sigma_n lam^n)``. Input ``(N, n)``, output ``(N,)``;
    ``n_hidden = 2^n``.

    Raises:
        UserInputError: ``sigma^(n)(0)`` is zero (plain softplus at ``n = 3``, tanh at even
            ``n``) or unknown (ReLU, or a callable without that derivative).

    Example:
        >>> net = shallow_product_network(3, "exp", 0.01)
        >>> net.n_hidden, round(float(net(torch.tensor([[0.5, -0.5, 1.0]]))), 3)
        (8, -0.25)
    """
    n = _check_n(n)
    act = get_activation(activation, derivatives)
    lam = _check_lam(lam)
    sig = _sigma_n(act, n, f"the {n}-input shallow product")
    signs = list(itertools.product((1.0, -1.0), repeat=n))
    scale = 1.0 / (2**n * sig * lam**n)
    w_out = [float(np.prod(s)) * scale for s in signs]
    return ShallowProductNetwork(act, [[lam * si for si in s] for s in signs], w_out, act.shift,
                                 dtype)


def shallow_product_next_order(activation, lam: float, x, derivatives=None) -> np.ndarray:
    """Next-order error ``prod x (sigma_{n+2} / (6 sigma_n)) lam^2 sum_j x_j^2`` at rows of x."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise UserInputError("x must have shape (N, n)")
    n = x.shape[1]
    act = get_activation(activation, derivatives)
    ders = activation_derivatives(act, n + 2)
    sig = _sigma_n(act, n, f"the {n}-input shallow product")
    return (np.prod(x, axis=1) * ders[n + 2] / (6.0 * sig) * _check_lam(lam) ** 2
            * np.sum(x**2, axis=1))


def subset_matrix(a) -> np.ndarray:
    """``A_{S,j} = prod_{h in S} a_{hj}`` for the ``2^n`` subsets ``S`` (row = bit mask of S).

    Args:
        a: input weights, shape ``(n, m)`` (column ``j`` is neuron ``j``'s weight vector).
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise UserInputError("a must have shape (n, m)")
    n, m = a.shape
    rows = np.ones((2**n, m))
    for mask in range(2**n):
        for h in range(n):
            if mask >> h & 1:
                rows[mask] *= a[h]
    return rows


def subset_matrix_rank(a, rtol: float = 1e-10) -> tuple[int, float]:
    """``(numerical rank, s_min / s_max)`` of :func:`subset_matrix` ``(a)`` (SVD, rank at rtol)."""
    sv = np.linalg.svd(subset_matrix(a), compute_uv=False)
    if sv.size == 0 or sv[0] == 0.0:
        return 0, 0.0
    return int(np.sum(sv > rtol * sv[0])), float(sv[-1] / sv[0])


def minimum_shallow_width(n: int, rng: np.random.Generator | None = None, rtol: float = 1e-10
                          ) -> int:
    """Smallest hidden width ``m`` whose generic subset matrix has full row rank ``2^n``.

    For each ``m = 1, 2, ...`` draws weights ``a ~ U[-1, 1]^{n x m}`` and tests the rank of
    :func:`subset_matrix`; the answer is ``2^n`` (the no-flattening bound, LTR Sec. III H).

    Example:
        >>> [minimum_shallow_width(n) for n in (1, 2, 3, 4)]
        [2, 4, 8, 16]
    """
    n = _check_n(n, 1, 10)
    rng = np.random.default_rng(0) if rng is None else rng
    for m in range(1, 2**n + 2):
        rank, _ = subset_matrix_rank(rng.uniform(-1.0, 1.0, size=(n, m)), rtol)
        if rank == 2**n:
            return m
    raise RuntimeError("no full-rank width found")  # unreachable for generic weights
