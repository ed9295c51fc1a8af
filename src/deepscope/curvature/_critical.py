"""Critical points of any index: Levenberg-Marquardt on the gradient, with the index at the end.

A critical point solves ``g(theta) = grad L(theta) = 0``; minima, saddles and maxima alike. The
search minimises ``J = ||g||^2 / 2``, whose gradient is ``H g`` (one Hessian-vector product), as a
nonlinear least-squares problem in the residual ``g`` whose Jacobian is the Hessian ``H``
(Pennington & Bahri 2017 minimise ``||grad L||^2`` by gradient descent; Dauphin et al. 2014 use
Newton's method to reach saddles). Plain gradient descent on ``J`` contracts along each
eigendirection at a rate set by ``lambda_i^2``, so it crawls where ``H`` has small eigenvalues
(near degenerate points and near every critical point of an ill-conditioned loss). We use
Levenberg-Marquardt instead: each step solves

    (H^2 + mu I) d = -H g,

the Gauss-Newton model of ``J`` (``J(theta + d) ~ ||g + H d||^2 / 2``, exact up to the third
derivative of ``L``) damped by ``mu``. Far from a critical point a large ``mu`` makes the step a
short gradient step on ``J``; as ``mu -> 0`` it becomes Newton's step ``-H^{-1} g``, which
converges quadratically to a nondegenerate critical point of ANY index, because ``J`` has a strict
local minimum there (``J ~ (theta - theta*)^T H^2 (theta - theta*) / 2`` with ``H^2`` positive
definite) whatever the signs of ``H``'s eigenvalues. Unlike undamped Newton on ``g``, every
accepted step decreases ``J``. ``mu`` follows Nielsen's gain-ratio rule (Madsen, Nielsen &
Tingleff 2004): shrink it when the model predicts the decrease well, double it after a rejected
step. Newton-MR (MINRES on ``H d = -g``) would also do; LM was chosen because its damping gives
monotone decrease of ``J`` and a well-posed step at singular ``H`` without a line search.

Two linear solvers: ``"dense"`` builds ``H`` (P products) and diagonalises it, after which every
trial ``mu`` is free (``d = -Q diag(l / (l^2 + mu)) Q^T g``); ``"cg"`` is matrix-free conjugate
gradients on ``H^2 + mu I`` (two Hessian-vector products per CG step), for large P.
``"auto"`` picks dense for ``P <= dense_limit``.

At the point found, the index comes from :func:`~deepscope.curvature.hessian_index` (exact for
small P, SLQ with its standard error otherwise) and the lowest eigenvalues from ``eigvalsh`` or
:func:`~deepscope.curvature.eigenvalues`.

References:
    Pennington & Bahri, ICML 2017, Sec. 6 (critical points by minimising ||grad L||^2).
    Dauphin et al., NeurIPS 2014, Sec. 4 and App. C (Newton's method finds saddles).
    Madsen, Nielsen & Tingleff 2004, 'Methods for non-linear least squares problems' (LM).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from ..errors import UserInputError
from ..problem import Problem
from ._base import CurvatureLinearOperator
from ._checks import check_float, check_int
from ._index import HessianIndex, hessian_index
from ._lanczos import eigenvalues
from ._record import ResultRecord

__all__ = ["CriticalPoint", "LossFunction", "find_critical_point"]

_METHODS = ("auto", "dense", "cg")


class LossFunction(CurvatureLinearOperator):
    """The loss of (model, loss_fn, data) as a function of a flat parameter vector.

    ``value(theta)``, ``grad(theta)``, ``hvp(theta, V)``; as an operator, ``self @ V`` is the
    Hessian at the current point ``self.theta`` (set with :meth:`at`). Float64 throughout.
    """

    mode = "forward-over-reverse"

    def __init__(self, model: torch.nn.Module, loss_fn: Any, data: Any, params: Any = None,
                 loss_form: str = "auto"):
        self.problem = Problem(model, loss_fn, data, params=params, dtype=torch.float64,
                                 loss_form=loss_form)
        super().__init__(self.problem.size, torch.float64, self.problem.device)
        # Floating batch tensors enter as primals with zero tangents: some backward formulas
        # (MSE) write into the tangent of a tensor that has none (see hvp_forward_over_reverse).
        self.batches, self.aux = [], []
        for batch, w in self.problem.iter_batches():
            leaves, spec = tree_flatten(batch)
            where = [i for i, t in enumerate(leaves)
                     if isinstance(t, torch.Tensor) and t.is_floating_point()]
            self.batches.append((leaves, spec, where, w))
            self.aux.extend(leaves[i] for i in where)
        self.aux = tuple(self.aux)
        self._zeros = tuple(torch.zeros_like(a) for a in self.aux)
        self.theta = self.problem.join(self.problem.params)
        self._grad = torch.func.grad(self._loss)

    def _loss(self, flat: torch.Tensor, aux: tuple[torch.Tensor, ...]) -> torch.Tensor:
        p = self.problem.split(flat)
        total = flat.new_zeros(())
        k = 0
        for leaves, spec, where, w in self.batches:
            items = list(leaves)
            for i in where:
                items[i] = aux[k]
                k += 1
            total = total + w * self.problem.batch_loss(p, tree_unflatten(items, spec))
        return total

    def value(self, theta: torch.Tensor) -> float:
        with torch.no_grad():
            return float(self._loss(theta, self.aux))

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return self._grad(theta, self.aux).detach()

    def hvp(self, theta: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        """``H(theta) V`` for V of shape (P,) or (k, P) (rows), by forward-over-reverse."""
        def one(v: torch.Tensor) -> torch.Tensor:
            return torch.func.jvp(self._grad, (theta, self.aux), (v, self._zeros))[1]

        return (one(V) if V.ndim == 1 else torch.func.vmap(one)(V)).detach()

    def at(self, theta: torch.Tensor) -> LossFunction:
        self.theta = theta.detach().clone()
        return self

    def _matmat(self, M: torch.Tensor) -> torch.Tensor:
        return self.hvp(self.theta, M.T.contiguous()).T

    def dense(self, theta: torch.Tensor, chunk: int = 256) -> torch.Tensor:
        P = self.shape[0]
        eye = torch.eye(P, dtype=torch.float64)
        rows = [self.hvp(theta, eye[i:i + chunk]) for i in range(0, P, chunk)]
        self.n_matvecs += P
        H = torch.cat(rows)
        return (H + H.T) / 2


@dataclass(frozen=True)
class CriticalPoint(ResultRecord):
    """A point where the gradient (nearly) vanishes, with its Hessian index.

    Attributes:
        point: float64 flat parameter vector (``named_parameters()`` order of the selection).
        state: the same as a dict of parameter-shaped tensors.
        loss: the loss at ``point``.
        grad_norm: ``||grad L||_2`` at ``point``.
        converged: ``grad_norm <= gtol``.
        iterations: accepted plus rejected LM steps.
        n_matvecs: Hessian-vector products used (search and index).
        index: :class:`HessianIndex` at ``point`` (exact count when dense).
        lowest_eigenvalues: the ``n_lowest`` smallest Hessian eigenvalues, ascending.
        method: the linear solver used, ``"dense"`` or ``"cg"``.
        history: ``||grad L||`` after each iteration (the start first).
        wall_time: seconds.
        path: the Hessian products' class and mode (see :mod:`._record`).
    """

    _bulky = ("point", "state")

    point: torch.Tensor
    state: dict[str, torch.Tensor]
    loss: float
    grad_norm: float
    converged: bool
    iterations: int
    n_matvecs: int
    index: HessianIndex
    lowest_eigenvalues: np.ndarray
    method: str
    history: np.ndarray = field(repr=False)
    wall_time: float = 0.0
    path: str | None = None


def _cg(apply, b: torch.Tensor, tol: float, max_iter: int) -> torch.Tensor:
    """Conjugate gradients for SPD ``apply``; stops at ``||r|| <= tol ||b||``."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = float(r @ r)
    stop = (tol * math.sqrt(float(b @ b))) ** 2
    for _ in range(max_iter):
        if rr <= stop:
            break
        Ap = apply(p)
        alpha = rr / float(p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def find_critical_point(
    model: torch.nn.Module,
    loss_fn: Any,
    data: Any,
    *,
    params: Any = None,
    method: str = "auto",
    max_iter: int = 200,
    gtol: float = 1e-10,
    mu0: float = 1e-3,
    dense_limit: int = 2000,
    cg_tol: float = 1e-10,
    cg_max_iter: int = 500,
    n_lowest: int = 5,
    index_tol: float | None = None,
    seed: int = 0,
    loss_form: str = "auto",
) -> CriticalPoint:
    """Find a critical point of the loss near the model's current parameters (any index).

    Levenberg-Marquardt on the residual ``g = grad L`` (see the module docstring), from the
    model's parameters (the model itself is not modified), in float64.

    Args:
        model, loss_fn, data, params, loss_form: as for ``HessianOperator``.
        method: ``"auto"``, ``"dense"`` (diagonalise H each step) or ``"cg"`` (matrix-free).
        max_iter: maximum LM iterations (accepted or rejected).
        gtol: stop when ``||grad L||_2 <= gtol``.
        mu0: initial damping relative to ``||H||^2`` (dense) or to ``||H g||^2 / ||g||^2`` (cg).
        dense_limit: largest P for ``"auto"`` to choose ``"dense"``.
        cg_tol, cg_max_iter: CG relative residual and step limit per LM step.
        n_lowest: how many of the smallest Hessian eigenvalues to report.
        index_tol: relative threshold of :func:`hessian_index` (its default when None).
        seed: seed of the SLQ probes and Lanczos start (large P only).

    Returns:
        :class:`CriticalPoint`. ``converged`` is False when ``max_iter`` ran out or the damping
        grew without bound (a stationary point of ``J`` that is not critical, e.g. a local
        minimum of ``||g||`` with ``g != 0``); the point is still returned, with its index.

    References:
        Pennington & Bahri 2017; Dauphin et al. 2014; Madsen, Nielsen & Tingleff 2004.
    """
    t0 = time.perf_counter()
    if method not in _METHODS:
        raise UserInputError(f"method must be one of {_METHODS}, got {method!r}")
    max_iter = check_int(max_iter, "max_iter", 0)
    gtol = check_float(gtol, "gtol", 0.0, strict=True)
    mu0 = check_float(mu0, "mu0", 0.0, strict=True)
    n_lowest = check_int(n_lowest, "n_lowest", 1)
    f = LossFunction(model, loss_fn, data, params=params, loss_form=loss_form)
    P = f.shape[0]
    if method == "auto":
        method = "dense" if P <= dense_limit else "cg"

    theta = f.theta.clone()
    g = f.grad(theta)
    J = 0.5 * float(g @ g)
    history = [math.sqrt(2 * J)]
    mu, nu, it = None, 2.0, 0
    eig_at = None  # (theta, eigenvalues, eigenvectors) of the last dense Hessian
    while it < max_iter and math.sqrt(2 * J) > gtol:
        it += 1
        if method == "dense":
            if eig_at is None or eig_at[0] is not theta:  # a rejected step keeps theta
                eig_at = (theta, *torch.linalg.eigh(f.dense(theta)))
            lam, Q = eig_at[1], eig_at[2]
            if mu is None:
                mu = mu0 * float(lam.abs().max()) ** 2
            c = Q.T @ g
            d = -Q @ (lam * c / (lam**2 + mu))
            Hd = Q @ (lam * (Q.T @ d))
        else:
            Hg = f.hvp(theta, g)
            f.n_matvecs += 1
            if mu is None:
                mu = mu0 * float(Hg @ Hg) / max(float(g @ g), 1e-300)

            def apply(v: torch.Tensor, mu: float = mu, theta: torch.Tensor = theta) -> torch.Tensor:
                f.n_matvecs += 2
                return f.hvp(theta, f.hvp(theta, v)) + mu * v

            d = _cg(apply, -Hg, cg_tol, cg_max_iter)
            Hd = f.hvp(theta, d)
            f.n_matvecs += 1
        predicted = J - 0.5 * float((g + Hd) @ (g + Hd))
        trial = theta + d
        g_new = f.grad(trial)
        J_new = 0.5 * float(g_new @ g_new)
        gain = (J - J_new) / predicted if predicted > 0 else -1.0
        if gain > 0 and math.isfinite(J_new):
            theta, g, J = trial, g_new, J_new
            mu *= max(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3)
            nu = 2.0
        else:
            mu *= nu
            nu *= 2.0
        history.append(math.sqrt(2 * J))
        if not math.isfinite(mu) or mu > 1e300:
            break

    f.at(theta)
    grad_norm = math.sqrt(2 * J)
    if P <= dense_limit:
        H = f.dense(theta)
        idx = hessian_index(H, method="dense", tol=index_tol)
        lowest = torch.linalg.eigvalsh(H)[:n_lowest].numpy()
    else:
        idx = hessian_index(f, method="slq", tol=index_tol, seed=seed)
        eig = eigenvalues(f, k=min(n_lowest, P), which="smallest", seed=seed)
        lowest = eig.values.numpy()
    return CriticalPoint(
        point=theta, state={n: t.clone() for n, t in f.problem.split(theta).items()},
        loss=f.value(theta), grad_norm=grad_norm, converged=grad_norm <= gtol, iterations=it,
        n_matvecs=int(f.n_matvecs), index=idx, lowest_eigenvalues=np.asarray(lowest),
        method=method, history=np.asarray(history), wall_time=time.perf_counter() - t0,
        path=f.path,
    )
