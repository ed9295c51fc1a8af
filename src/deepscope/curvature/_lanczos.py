"""Extreme eigenpairs of a curvature operator: block Krylov-Schur (thick-restart) Lanczos.

The solver sees the operator only through products ``A @ V`` (``V`` of shape ``(P, b)``, all b
columns in one batched pass). Everything else is done in float64 whatever the operator's dtype:
products are cast to float64 on arrival, and the basis, the projected matrix and its small
eigenproblem are float64.

Method (block Lanczos with full reorthogonalisation and Krylov-Schur restarts). With an
orthonormal basis ``V = [X_0, X_1, ...]`` of blocks of ``b`` columns, each step forms one product
``W = A X_j`` and orthogonalises it against the *whole* basis twice (classical Gram-Schmidt
applied twice, "twice is enough": Parlett 1980 / Golub & Van Loan Sec. 10.3), which keeps
``V^T V = I`` to machine precision and so rules out the spurious copies ("ghosts") of plain
Lanczos (Paige 1972). The coefficients give the projected matrix ``H = V^T A V`` (block
tridiagonal in exact arithmetic) and the next block ``X_{j+1} R_j = W - V C`` (QR), so that

    A V_n = V_n H_n + X_next R E_n^T.

The Ritz pairs ``(theta_i, V_n y_i)`` of ``H_n = Y Theta Y^T`` have the residual norms
``||A V_n y_i - theta_i V_n y_i|| = ||R E_n^T y_i||`` (no extra product). When the basis is full
(``ncv`` columns), it is restarted Krylov-Schur style (Stewart 2001; the symmetric case is the
thick-restart Lanczos of Wu & Simon 2000): the ``n_keep`` Ritz vectors nearest the wanted end are
kept, ``V <- V Y_keep``, ``H <- diag(theta_keep)`` with the coupling row ``R E^T Y_keep`` to the
pending block, and the expansion continues. Converged pairs are never removed, so they cannot
reappear. A block of ``b >= m`` random starting vectors sees an eigenvalue of multiplicity ``m``
with all its copies (a single vector sees only one), so the default block size is ``min(k, 8)``.

If the residual block is (numerically) rank deficient - an invariant subspace, ``beta ~ 0``, e.g.
for the zero operator - the dead directions are replaced by random vectors orthogonalised against
the basis (with a zero coupling), so the iteration always continues in a fresh direction.

Every reported pair is then checked with its TRUE residual: one extra batched product
``A X`` of all reported vectors, ``lambda_i = x_i^T A x_i`` (Rayleigh quotient) and
``r_i = ||A x_i - lambda_i x_i||``. A pair is ``converged`` only if
``r_i <= tol * max(|lambda_i|, ||A||_est)`` where ``||A||_est`` is the largest ``|theta|`` or
``||A x||`` seen (a lower bound on ``||A||_2``), and its vector is orthogonal to the other reported
ones (a duplicate cannot pass). For small problems (``P <= ncv + b`` or ``k >= P``) the operator
is made dense with P products and solved with ``eigh``; the same true-residual check is applied.

References:
    Lanczos 1950, J. Res. Nat. Bur. Standards 45:255; Paige 1972, IMA J. Appl. Math. 10:373;
    Parlett & Scott 1979, Math. Comp. 33:217; Golub & Van Loan, Matrix Computations (4th ed.),
    Sec. 10.1-10.3; Stewart 2001, SIAM J. Matrix Anal. Appl. 23:601 (Krylov-Schur);
    Wu & Simon 2000, SIAM J. Matrix Anal. Appl. 22:602 (thick restart).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import UserInputError
from ._checks import as_operator, check_choice, check_float, check_int
from ._krylov import dead_threshold, orthonormalize_block
from ._products import F64, Products, make_generator, randn
from ._record import ResultRecord

__all__ = ["EigenResult", "eigenvalues"]

_WHICH = ("largest", "smallest", "both")


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class EigenResult(ResultRecord):
    """Extreme eigenpairs with their true residuals.

    Attributes:
        values: float64 (k,) eigenvalue estimates (Rayleigh quotients ``x^T A x``), CPU. Sorted
            from the largest down for ``which="largest"``, from the smallest up for
            ``"smallest"``; for ``"both"`` the k largest (descending) followed by the k smallest
            (ascending) - use ``.largest`` / ``.smallest`` for the two parts.
        vectors: float64 (P, k) orthonormal eigenvector estimates on the operator's device.
        residuals: float64 (k,) TRUE absolute residuals ``||A x - lambda x||`` (one extra
            product), CPU.
        converged: bool (k,): ``residuals <= tol * max(|lambda|, norm_estimate)`` and the vector
            is orthogonal to the other reported ones.
        n_matvecs: single-vector products used by this call (a P x b product counts b).
        wall_time: seconds.
        n_iter: block Lanczos steps (batched products in the expansion).
        which, tol, block_size: the settings used.
        norm_estimate: lower bound on ``||A||_2`` (largest ``|theta|`` or ``||A x||`` seen).
        n_restarts: Krylov-Schur restarts.
        method: ``"krylov-schur"`` or ``"dense"`` (small P).
        path: the operator's class and resolved product mode (see :mod:`._record`).
    """

    _bulky = ("vectors",)

    values: torch.Tensor
    vectors: torch.Tensor
    residuals: torch.Tensor
    converged: torch.Tensor
    n_matvecs: int
    wall_time: float
    n_iter: int
    which: str
    tol: float
    norm_estimate: float
    n_restarts: int
    method: str
    block_size: int
    path: str | None = None

    @property
    def k(self) -> int:
        n = int(self.values.shape[0])
        return n // 2 if self.which == "both" else n

    @property
    def relative_residuals(self) -> torch.Tensor:
        """``residuals / max(|values|, norm_estimate)`` (0 where both are 0)."""
        scale = self.values.abs().clamp(min=self.norm_estimate)
        rel = self.residuals / torch.where(scale > 0, scale, torch.ones_like(scale))
        return torch.where(scale > 0, rel, torch.where(self.residuals > 0, math.inf, 0.0))

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())

    def _part(self, sl: slice, which: str) -> EigenResult:
        return EigenResult(
            self.values[sl], self.vectors[:, sl], self.residuals[sl], self.converged[sl],
            self.n_matvecs, self.wall_time, self.n_iter, which, self.tol, self.norm_estimate,
            self.n_restarts, self.method, self.block_size, self.path,
        )

    @property
    def largest(self) -> EigenResult:
        """The largest-end pairs (descending) of a ``"largest"`` or ``"both"`` result."""
        if self.which == "largest":
            return self
        if self.which == "both":
            return self._part(slice(0, self.k), "largest")
        raise AttributeError("a which='smallest' result has no largest part")

    @property
    def smallest(self) -> EigenResult:
        """The smallest-end pairs (ascending) of a ``"smallest"`` or ``"both"`` result."""
        if self.which == "smallest":
            return self
        if self.which == "both":
            return self._part(slice(self.k, 2 * self.k), "smallest")
        raise AttributeError("a which='largest' result has no smallest part")

    def __repr__(self) -> str:
        from ..notebook import brief

        return brief("EigenResult", which=self.which, values=self.values,
                     converged=f"{int(self.converged.sum())}/{self.converged.numel()}",
                     n_matvecs=self.n_matvecs, method=self.method)

    def _repr_html_(self) -> str:
        from ..notebook import eigen_html

        return eigen_html(self)


# --------------------------------------------------------------------------- solver


def _select(theta: torch.Tensor, which: str, k: int) -> torch.Tensor:
    """Indices of the wanted Ritz values in reporting order (theta ascending from eigh)."""
    n = theta.shape[0]
    k = min(k, n)
    top = torch.arange(n - 1, n - 1 - k, -1)
    bottom = torch.arange(0, k)
    if which == "largest":
        return top
    if which == "smallest":
        return bottom
    return torch.cat([top, bottom])


def _keep_set(theta: torch.Tensor, which: str, n_keep: int) -> torch.Tensor:
    n = theta.shape[0]
    if which == "both":
        half = max(1, n_keep // 2)
        idx = torch.cat([torch.arange(n - half, n), torch.arange(0, n_keep - half)])
        return torch.unique(idx)
    if which == "largest":
        return torch.arange(n - n_keep, n)
    return torch.arange(0, n_keep)


def _krylov_schur(
    A: Products, k: int, which: str, tol: float, m: int, b: int, max_iter: int,
    gen: torch.Generator, v0: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, float, int, int]:
    """Run block Krylov-Schur; return (Ritz vectors in reporting order, Ritz values, ||A||_est,
    steps, restarts)."""
    P, dev = A.P, A.device
    k_total = 2 * k if which == "both" else k
    n_keep = min(m - b, max(k_total, (k_total + m - b) // 2))
    V = torch.zeros(P, m + b, dtype=F64, device=dev)
    H = torch.zeros(m + b, m, dtype=F64)
    X0 = randn(gen, (P, b), dev)
    if v0 is not None:
        X0[:, : v0.shape[1]] = v0.to(device=dev, dtype=F64)
    Q, _, _ = orthonormalize_block(V[:, :0], X0, 1e-10 * float(X0.norm(dim=0).max()), gen)
    V[:, :b] = Q
    n = steps = restarts = 0
    scale = 0.0
    while True:
        AX = A(V[:, n : n + b])
        scale = max(scale, float(AX.norm(dim=0).max()))
        Q, C, R = orthonormalize_block(V[:, : n + b], AX, dead_threshold(P, scale), gen)
        H[: n + b, n : n + b] = C.cpu()
        H[n + b : n + 2 * b, n : n + b] = R.cpu()
        V[:, n + b : n + 2 * b] = Q
        n += b
        steps += 1
        S = H[:n, :n]
        theta, Y = torch.linalg.eigh(0.5 * (S + S.T))
        scale = max(scale, float(theta.abs().max()))
        res = (H[n : n + b, :n] @ Y).norm(dim=0)
        want = _select(theta, which, k)
        ok = res[want] <= tol * theta[want].abs().clamp(min=scale)
        if (n >= k_total and bool(ok.all())) or steps >= max_iter:
            break
        if n + b > m:  # basis full: Krylov-Schur restart
            keep = _keep_set(theta, which, n_keep)
            Yk = Y[:, keep]
            nk = int(keep.shape[0])
            kept = V[:, :n] @ Yk.to(dev)
            pending = V[:, n : n + b].clone()
            coupling = H[n : n + b, :n] @ Yk
            V[:, :nk] = kept
            V[:, nk : nk + b] = pending
            V[:, nk + b :] = 0.0
            H.zero_()
            H[:nk, :nk] = torch.diag(theta[keep])
            H[nk : nk + b, :nk] = coupling
            n = nk
            restarts += 1
    X = V[:, :n] @ Y[:, want].to(dev)
    return X, theta[want], scale, steps, restarts


def _finish(
    A: Products, X: torch.Tensor, which: str, k: int, tol: float, scale: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """True residuals with one batched product; Rayleigh quotients; sort; converged flags."""
    AX = A(X)
    scale = max(scale, float(AX.norm(dim=0).max()) if X.shape[1] else 0.0)
    lam = (X * AX).sum(dim=0)
    res = (AX - X * lam).norm(dim=0)
    lam, res = lam.cpu(), res.cpu()
    # Sort each part in reporting order (Rayleigh quotients can swap near-equal Ritz values).
    parts = [(0, k, True), (k, 2 * k, False)] if which == "both" else [
        (0, lam.shape[0], which == "largest")
    ]
    order = torch.cat([
        lo + torch.argsort(lam[lo:hi], descending=desc, stable=True) for lo, hi, desc in parts
    ])
    X, lam, res = X[:, order.to(X.device)], lam[order], res[order]
    ok = res <= tol * lam.abs().clamp(min=scale)
    # Defence against duplicates: a vector not orthogonal to an earlier reported one fails.
    G = (X.T @ X).cpu()
    overlap = (G - torch.eye(G.shape[0], dtype=F64)).abs()
    for lo, hi, _ in parts:
        block = overlap[lo:hi, lo:hi].tril(-1)
        dup = (block > 1e-6).any(dim=1)
        ok[lo:hi] &= ~dup
    return lam, X, res, ok, scale


def eigenvalues(
    op: Any,
    k: int = 1,
    which: str = "largest",
    *,
    tol: float = 1e-8,
    max_iter: int | None = None,
    seed: int | torch.Generator = 0,
    block_size: int | None = None,
    ncv: int | None = None,
    v0: torch.Tensor | None = None,
) -> EigenResult:
    """The k algebraically largest and/or smallest eigenpairs of a symmetric operator.

    Block Krylov-Schur Lanczos with full (twice classical Gram-Schmidt) reorthogonalisation; the
    recurrence and the projected eigenproblem are float64 whatever the operator's dtype. See the
    module docstring for the method. Convergence is tested on the Ritz residual
    ``||R E^T y_i|| <= tol * max(|theta_i|, ||A||_est)`` and then CONFIRMED with the true residual
    ``||A x_i - lambda_i x_i||`` from one extra batched product of all reported vectors;
    ``converged`` reflects the true residual only.

    Args:
        op: symmetric operator (``.shape``, ``.dtype``, ``.device``, ``@``), or a square tensor.
        k: pairs wanted at each requested end (clipped to P).
        which: ``"largest"``, ``"smallest"`` or ``"both"`` (k at each end).
        tol: relative residual tolerance. Products in float32 limit what is reachable to about
            ``1e-6``; pass a larger ``tol`` for low-precision operators.
        max_iter: maximum block Lanczos steps (batched products), default ``100 * ceil(ncv/b)``.
        seed: int seed or ``torch.Generator`` for the random starting block.
        block_size: columns per product, default ``min(k_total, 8)``. An eigenvalue of
            multiplicity ``m`` is resolved with all its copies only if ``block_size >= m``;
            with a smaller block a missing copy is replaced by the next eigenvalue (a true
            eigenpair, so its residual is small: the check cannot flag it). ``block_size=1``
            uses the fewest products, larger blocks the fewest batched passes. Reported as 0
            when the dense path (``k_total >= P`` or ``P <= ncv + b``) was taken.
        ncv: basis size before a restart, default ``max(2 k_total + 10 b, k_total + 30)``
            (memory: ``(ncv + b) * P`` float64 numbers).
        v0: optional starting vector(s), shape (P,) or (P, j) with ``j <= block_size``.

    Returns:
        EigenResult (values, vectors, residuals, converged, n_matvecs, wall_time, n_iter, ...).

    Raises:
        UserInputError: bad k/which/tol/sizes, a non-square operator, or a NaN/inf product.

    References:
        Lanczos 1950; Paige 1972; Parlett & Scott 1979; Golub & Van Loan Sec. 10.3 (full
        reorthogonalisation); Stewart 2001 (Krylov-Schur); Wu & Simon 2000 (thick restart).
    """
    t0 = time.perf_counter()
    op = as_operator(op)
    k = check_int(k, "k", 1)
    which = check_choice(which, "which", _WHICH)
    tol = check_float(tol, "tol", 0.0)
    A = Products(op)
    P = A.P
    k = min(k, P)
    k_total = 2 * k if which == "both" else k
    b = check_int(block_size, "block_size", 1) if block_size is not None else min(k_total, 8)
    m = (
        check_int(ncv, "ncv", 1) if ncv is not None else max(2 * k_total + 10 * b, k_total + 30)
    )
    if m < k_total + b:
        raise UserInputError(f"ncv must be >= k_total + block_size = {k_total + b}, got {m}")
    if max_iter is None:
        max_iter = 100 * math.ceil(m / b)
    max_iter = check_int(max_iter, "max_iter", 1)
    gen = make_generator(seed, A.device)
    if v0 is not None:
        v0 = torch.as_tensor(v0)
        v0 = v0[:, None] if v0.ndim == 1 else v0
        if v0.ndim != 2 or v0.shape[0] != P or not 1 <= v0.shape[1] <= b:
            raise UserInputError(f"v0 must have shape (P,) or (P, j) with j <= block_size={b}")
        if not bool(torch.isfinite(v0).all()):
            raise UserInputError("v0 contains NaN or inf")

    if k_total >= P or P <= m + b:
        M = A.dense()
        theta, Y = torch.linalg.eigh(M.cpu())
        want = _select(theta, which, k)
        X = Y[:, want].to(A.device)
        scale = float(theta.abs().max())
        steps = restarts = 0
        method = "dense"
        b = 0
    else:
        X, _, scale, steps, restarts = _krylov_schur(A, k, which, tol, m, b, max_iter, gen, v0)
        method = "krylov-schur"
    lam, X, res, ok, scale = _finish(A, X, which, k, tol, scale)
    return EigenResult(
        values=lam, vectors=X, residuals=res, converged=ok, n_matvecs=A.count,
        wall_time=time.perf_counter() - t0, n_iter=steps, which=which, tol=tol,
        norm_estimate=scale, n_restarts=restarts, method=method, block_size=b, path=A.path,
    )
