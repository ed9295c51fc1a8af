"""The diagonal of a curvature matrix: stochastic estimators with per-entry error bars, and the
exact diagonal of the generalised Gauss-Newton matrix for sequential networks.

Hutchinson / Bekas et al. (2007). For a Rademacher probe ``z`` (independent +-1 entries) and any
fixed matrix ``M``,

    E[z_i (M z)_i] = sum_k M_ik E[z_i z_k] = M_ii,

because ``E[z_i z_k] = delta_ik``. The estimate of ``diag(A)`` is the mean of
``x_j = z_j * (A z_j)`` (elementwise) over n probes; entry i of ``x_j`` is
``A_ii + sum_{k != i} A_ik z_i z_k``, so its variance is ``sum_{k != i} A_ik^2`` (the off-diagonal
mass of row i) and the per-entry standard error is the sample standard deviation of the n values
``x_ji`` divided by ``sqrt(n)``: a sampling error from the probes themselves, no formula needing A.

Deflated estimator (in the spirit of Hutch++, Meyer et al. 2021). Let ``Q`` be an orthonormal
basis of ``A S`` for a Gaussian sketch ``S`` (s columns), ``B = A Q`` (s more products) and
``Pi = I - Q Q^T``. Splitting the identity on both sides of ``A``,

    A = Q Q^T A + Pi A Q Q^T + Pi A Pi,

so, since ``Q^T A = B^T`` (A symmetric),

    diag(A) = rowsum(Q * B) + rowsum((Pi B) * Q) + diag(Pi A Pi).

(Note that ``diag(Q Q^T A Q Q^T) + diag(Pi A Pi)`` alone would miss the two cross terms: unlike
the trace, the diagonal does not vanish on ``Q Q^T A Pi``.) The first two terms are computed
exactly from ``Q`` and ``B``; the last is estimated with Hutchinson probes ``z * (Pi A Pi z)``
(one product each). Conditional on the sketch, ``Pi A Pi`` is a fixed matrix and the probes are
independent of it, so the identity above gives ``E[estimate | S] = diag(A)`` exactly, hence the
estimate is unbiased, and all its randomness given ``S`` lies in the probe mean: the per-entry
standard error is the sample standard error of the projected-probe values (as for Hutch++'s trace).
Entry i now has variance ``sum_{k != i} (Pi A Pi)_ik^2``; when A has a dominant low-rank part that
the sketch captures, this is far below Hutchinson's ``sum_{k != i} A_ik^2`` at equal products.

Exact GGN diagonal (:func:`ggn_diagonal`). For ``G = sum_i J_i^T H_i J_i`` with the per-sample
output Hessian factorised as ``H_i = S_i S_i^T`` (C x C), ``diag(G) = sum_i sum_c (J_i^T s_ic)^2``
(elementwise square): the C columns of ``S_i`` are back-propagated like output gradients through
the linearised network, and each layer's weight diagonal is the square-sum of the per-sample,
per-column weight gradients (Martens 2010; BackPACK's DiagGGN, Dangel et al. 2020). Softmax
cross-entropy: ``diag(p) - p p^T = S S^T`` with ``S = diag(sqrt p) - p sqrt(p)^T`` (column c is
``sqrt(p_c) (e_c - p)``; ``S S^T = diag(p) - 2 p p^T + p p^T sum_c p_c``); MSE: ``S = sqrt(2) I``
(times the reductions' scales). Cost: one backward pass with C columns per sample.

References:
    Hutchinson 1989; Bekas, Kokiopoulou & Saad 2007, Appl. Numer. Math. 57:1214;
    Meyer, Musco, Musco & Woodruff 2021 (Hutch++); Martens 2010 (ICML, Hessian-free);
    Dangel, Kunstner & Hennig 2020 (BackPACK, ICLR).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserInputError
from ..problem import Problem, select_parameters
from ._checks import as_operator, check_choice, check_int
from ._krylov import orthonormalize_block
from ._output_hessian import loss_scale, softmax_hessian_factor
from ._products import Products, make_generator, rademacher, randn
from ._record import ResultRecord

__all__ = ["DiagonalEstimate", "diagonal", "ggn_diagonal"]

_METHODS = ("hutchinson", "deflated")


@dataclass(frozen=True)
class DiagonalEstimate(ResultRecord):
    """An estimate of ``diag(A)`` with a standard error per entry.

    Attributes:
        values: float64 (P,) estimate, CPU.
        stderr: float64 (P,) per-entry standard error (sample standard error over the probes; for
            ``"deflated"`` conditional on the sketch, which is exact).
        n_matvecs: single-vector products used (sketch, ``A Q`` and probes).
        n_probes: Hutchinson probes behind ``stderr``.
        wall_time: seconds.
        method: ``"hutchinson"`` or ``"deflated"``.
        rank: columns of the deflation basis ``Q`` (0 for Hutchinson).
        exact_part: float64 (P,) the deterministic part ``rowsum(Q*B) + rowsum((Pi B)*Q)``
            (zeros for Hutchinson).
        path: the operator's class and resolved product mode (see :mod:`._record`).
    """

    values: torch.Tensor
    stderr: torch.Tensor
    n_matvecs: int
    n_probes: int
    wall_time: float
    method: str
    rank: int
    exact_part: torch.Tensor
    path: str | None = None

    def interval(self, z: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(values - z * stderr, values + z * stderr)`` per entry."""
        return self.values - z * self.stderr, self.values + z * self.stderr

    def __repr__(self) -> str:
        from ..notebook import brief

        return brief("DiagonalEstimate", values=self.values, size=int(self.values.numel()),
                     method=self.method, n_probes=self.n_probes, n_matvecs=self.n_matvecs)

    def _repr_html_(self) -> str:
        from ..notebook import diagonal_html

        return diagonal_html(self)


def _budget(method: str, P: int, n_probes: Any, max_matvecs: Any, rank: Any) -> tuple[int, int]:
    """(probes, rank) from the user's n_probes / max_matvecs / rank."""
    if n_probes is not None and max_matvecs is not None:
        raise UserInputError("give n_probes or max_matvecs, not both")
    if method == "hutchinson":
        if rank is not None:
            raise UserInputError("rank applies to method='deflated' only")
        probes = check_int(n_probes if n_probes is not None else
                           (max_matvecs if max_matvecs is not None else 100),
                           "n_probes" if max_matvecs is None else "max_matvecs", 2)
        return probes, 0
    if rank is None:  # Hutch++'s split: a third sketch, a third A Q, a third probes
        budget = 3 * n_probes if n_probes is not None else (
            max_matvecs if max_matvecs is not None else 300)
        rank = max(1, min(P, check_int(budget, "max_matvecs", 6) // 3))
    rank = check_int(rank, "rank", 1)
    if rank > P:
        raise UserInputError(f"rank must be <= P = {P}, got {rank}")
    if n_probes is not None:
        return check_int(n_probes, "n_probes", 2), rank
    budget = check_int(max_matvecs if max_matvecs is not None else 300, "max_matvecs", 1)
    if budget - 2 * rank < 2:
        raise UserInputError(
            f"max_matvecs={budget} leaves fewer than 2 probes after the 2 * rank = {2 * rank} "
            "products of the sketch; lower rank or raise max_matvecs"
        )
    return budget - 2 * rank, rank


def diagonal(
    op: Any,
    method: str = "hutchinson",
    *,
    n_probes: int | None = None,
    max_matvecs: int | None = None,
    rank: int | None = None,
    seed: int | torch.Generator = 0,
    batch: int = 32,
) -> DiagonalEstimate:
    """Estimate ``diag(A)`` of a symmetric operator with a per-entry standard error.

    Args:
        op: symmetric operator (``.shape``, ``.dtype``, ``.device``, ``@``), or a square tensor.
        method: ``"hutchinson"`` (Bekas et al. 2007) or ``"deflated"`` (low-rank deflation, see
            the module docstring for the identity and its unbiasedness).
        n_probes: Hutchinson probes (default 100 when neither budget is given).
        max_matvecs: total products instead: all probes for Hutchinson, ``2 * rank`` for the
            sketch and ``A Q`` plus the rest as probes for ``"deflated"``.
        rank: sketch columns for ``"deflated"`` (default a third of the budget, as in Hutch++).
        seed: int seed or ``torch.Generator``; all randomness (sketch and probes) comes from it.
        batch: probes per batched product.

    Returns:
        DiagonalEstimate (values, stderr, n_matvecs, n_probes, wall_time, method, rank).

    Raises:
        UserInputError: unknown method, bad budgets, a non-square operator, a NaN/inf product.
    """
    t0 = time.perf_counter()
    op = as_operator(op)
    method = check_choice(method, "method", _METHODS)
    batch = check_int(batch, "batch", 1)
    A = Products(op)
    P, dev = A.P, A.device
    probes, s = _budget(method, P, n_probes, max_matvecs, rank)
    gen = make_generator(seed, dev)

    exact = torch.zeros(P, dtype=torch.float64, device=dev)
    Q = torch.zeros(P, 0, dtype=torch.float64, device=dev)
    if s:
        Y = A(randn(gen, (P, s), dev))
        scale = float(Y.norm(dim=0).max())
        Q, _, _ = orthonormalize_block(Q, Y, 1e-12 * scale, gen)
        B = A(Q)
        PiB = B - Q @ (Q.T @ B)
        exact = (Q * B).sum(dim=1) + (PiB * Q).sum(dim=1)

    def project(M: torch.Tensor) -> torch.Tensor:
        for _ in range(2 if s else 0):  # twice: orthogonality to rounding
            M = M - Q @ (Q.T @ M)
        return M

    n, mean, m2 = 0, torch.zeros_like(exact), torch.zeros_like(exact)
    while n < probes:
        nb = min(batch, probes - n)
        Z = rademacher(gen, (P, nb), dev)
        X = Z * project(A(project(Z)))  # z * (Pi A Pi z); Pi = I for Hutchinson
        # Chan et al.'s pairwise update of the running mean and sum of squared deviations
        bmean = X.mean(dim=1)
        bm2 = ((X - bmean[:, None]) ** 2).sum(dim=1)
        delta = bmean - mean
        total = n + nb
        mean = mean + delta * (nb / total)
        m2 = m2 + bm2 + delta * delta * (n * nb / total)
        n = total
    stderr = torch.sqrt(m2 / (n - 1) / n)
    return DiagonalEstimate(
        values=(exact + mean).cpu(), stderr=stderr.cpu(), n_matvecs=A.count, n_probes=n,
        wall_time=time.perf_counter() - t0, method=method, rank=int(Q.shape[1]),
        exact_part=exact.cpu(), path=A.path,
    )


# --------------------------------------------------------------------------- exact GGN diagonal

_SUPPORTED = ("nn.Sequential (nested allowed, or the zoo's MLP) of Linear, Conv1d/Conv2d "
              "(groups=1, zero padding), ReLU, Tanh, Sigmoid, Identity, Flatten and eval-mode "
              "Dropout, with loss 'ce' (nn.CrossEntropyLoss, no weights/smoothing/ignored "
              "labels) or 'mse' (nn.MSELoss), reduction 'mean' or 'sum'")
_ACTS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity)


def _refuse(what: str) -> UserInputError:
    return UserInputError(f"ggn_diagonal does not support {what}; supported: {_SUPPORTED}")


def _layers(problem: Problem) -> list[nn.Module]:
    from ._rop import _conv_opts, _leaves

    leaves = _leaves(problem.module)
    if leaves is None:
        raise _refuse(f"a model of type {type(problem.module).__name__}")
    out = []
    for sub in leaves:
        if type(sub) in (nn.Conv1d, nn.Conv2d):
            if _conv_opts(sub) is None:
                raise _refuse("a convolution with groups != 1, non-zero padding mode or "
                              "asymmetric 'same' padding")
            out.append(sub)
        elif type(sub) is nn.Linear or type(sub) in _ACTS:
            out.append(sub)
        elif type(sub) is nn.Flatten and sub.start_dim == 1 and sub.end_dim == -1:
            out.append(sub)
        elif isinstance(sub, nn.modules.dropout._DropoutNd) and (not sub.training or sub.p == 0):
            continue
        else:
            raise _refuse(f"a layer of type {type(sub).__name__}")
    named = {id(p): n for n, p in problem.module.named_parameters()}
    seen: set[int] = set()
    for sub in out:
        for p in sub.parameters(recurse=False):
            if id(p) in seen or id(p) not in named:
                raise _refuse("shared (tied) parameters")
            seen.add(id(p))
    return out


def _output_factor(kind: str, out: torch.Tensor, y: torch.Tensor, scale: float) -> torch.Tensor:
    """``sqrt(scale) S_i`` per sample as (n, c, C), row c the c-th column of ``S_i``, where
    ``S_i S_i^T`` is the per-sample output Hessian without its scale (CE: ``diag p - p p^T``,
    MSE: ``I``) and ``scale`` carries the loss's constants, reduction and batch weight."""
    if out.ndim != 2:
        raise _refuse(f"outputs of shape {tuple(out.shape)} (need (N, C))")
    n, C = out.shape
    if kind == "ce":
        if y.ndim != 1 or y.is_floating_point() or bool(((y < 0) | (y >= C)).any()):
            raise UserInputError("cross-entropy needs integer class labels in [0, C) of shape (N,)")
        return math.sqrt(scale) * softmax_hessian_factor(torch.softmax(out, dim=-1))
    if tuple(y.shape) != tuple(out.shape):
        raise UserInputError("MSE needs targets of the output's shape")
    eye = torch.eye(C, dtype=out.dtype, device=out.device)
    return math.sqrt(scale) * eye.expand(n, C, C)


def _conv_per_sample(delta: torch.Tensor, h: torch.Tensor, conv: nn.Module) -> torch.Tensor:
    """Square-summed per-(sample, column) weight gradients of a convolution (unfolded input)."""
    from ._rop import _conv_opts

    o = _conv_opts(conv)
    n, c = delta.shape[:2]
    W = conv.weight
    if o["dims"] == 1:  # a 1-d convolution as a 2-d one of height 1
        h = h.unsqueeze(2)
        ks, st, pd, dl = (1, W.shape[2]), (1, *o["stride"]), (0, *o["padding"]), \
            (1, *o["dilation"])
    else:
        ks, st, pd, dl = tuple(W.shape[2:]), o["stride"], o["padding"], o["dilation"]
    U = F.unfold(h, ks, dilation=dl, padding=pd, stride=st)  # (n, in*k, L)
    D = delta.reshape(n, c, W.shape[0], -1)  # (n, c, out, L)
    G = torch.einsum("ncol,nkl->ncok", D, U)
    return (G * G).sum(dim=(0, 1)).reshape(W.shape)


def ggn_diagonal(
    model: nn.Module,
    loss_fn: Any,
    data: Any,
    params: str | Sequence[str] | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The exact diagonal of the GGN ``J^T H_L J`` of a sequential network, in one pass.

    Matches ``GGNOperator(model, loss_fn, data, params).to_dense().diagonal()``: batches are
    weighted as that operator weights them (``n_b / N`` for mean reductions, 1 for sums), and a
    parameter subset selects the corresponding entries (the diagonal of a sub-block is a
    sub-vector of the diagonal). See the module docstring for the method.

    Args:
        model: supported sequential network (see the error message for the list).
        loss_fn: ``"ce"``, ``"mse"``, ``nn.CrossEntropyLoss()`` or ``nn.MSELoss()``.
        data: an ``(X, y)`` pair or an iterable of batches.
        params: parameter names or globs (default: every trainable parameter).
        dtype: compute in this dtype (e.g. ``torch.float64``).

    Returns:
        float64 (P,) tensor on the model's device, in the flat-vector order.

    Raises:
        UserInputError: an unsupported layer or loss (one line naming what is supported).

    References:
        Martens 2010; Dangel, Kunstner & Hennig 2020 (BackPACK DiagGGN).
    """
    problem = Problem(model, loss_fn, data, params=None, dtype=dtype)
    if problem.closure or problem.loss_kind not in ("ce", "mse"):
        raise _refuse(f"the loss {type(problem.loss_fn).__name__}")
    selected = problem.names if params is None else select_parameters(problem.module, params)
    layers = _layers(problem)
    names = {id(p): n for n, p in problem.module.named_parameters()}
    diag = {n: torch.zeros_like(p) for n, p in problem.module.named_parameters()}
    with torch.no_grad():
        for batch, w in problem.iter_batches():
            X, y = batch[0], problem.target(batch)
            h, tape = X, []
            for layer in layers:  # forward, keeping what the backward needs
                if type(layer) is nn.Linear and h.ndim != 2:
                    raise _refuse("a Linear layer on a non-flat input")
                if type(layer) in _ACTS:
                    out = layer(h)
                    tape.append((layer, h, out))
                else:
                    tape.append((layer, h, None))
                    out = layer(h)
                h = out
            scale = loss_scale(problem.loss_kind, problem.reduction, h) * w
            delta = _output_factor(problem.loss_kind, h, y, scale)  # (n, c, C)
            for layer, h_in, h_out in reversed(tape):
                if type(layer) is nn.Linear:
                    d2 = (delta * delta).sum(dim=1)  # (n, out)
                    diag[names[id(layer.weight)]] += d2.T @ (h_in * h_in)
                    if layer.bias is not None:
                        diag[names[id(layer.bias)]] += d2.sum(dim=0)
                    delta = delta @ layer.weight
                elif type(layer) in (nn.Conv1d, nn.Conv2d):
                    diag[names[id(layer.weight)]] += _conv_per_sample(delta, h_in, layer)
                    if layer.bias is not None:
                        b = delta.sum(dim=tuple(range(3, delta.ndim)))  # (n, c, out)
                        diag[names[id(layer.bias)]] += (b * b).sum(dim=(0, 1))
                    delta = _conv_input_grad(delta, h_in, layer)
                elif type(layer) is nn.Flatten:
                    delta = delta.reshape(*delta.shape[:2], *h_in.shape[1:])
                elif type(layer) is nn.ReLU:
                    delta = delta * (h_in > 0).to(delta.dtype).unsqueeze(1)
                elif type(layer) is nn.Tanh:
                    delta = delta * (1 - h_out * h_out).unsqueeze(1)
                elif type(layer) is nn.Sigmoid:
                    delta = delta * (h_out * (1 - h_out)).unsqueeze(1)
    flat = [diag[n].reshape(-1) for n in selected]
    return torch.cat(flat).to(torch.float64)


def _conv_input_grad(delta: torch.Tensor, h_in: torch.Tensor, conv: nn.Module) -> torch.Tensor:
    """Back-propagate (n, c, out, ...) errors to the convolution's input, c columns at once."""
    from ._rop import _conv_grad, _conv_opts

    o = _conv_opts(conv)
    n, c = delta.shape[:2]
    flat = delta.transpose(0, 1).reshape(c * n, *delta.shape[2:])
    g = _conv_grad(flat, conv.weight, (c * n, *h_in.shape[1:]), o, weight_grad=False)
    return g.reshape(c, n, *h_in.shape[1:]).transpose(0, 1)
