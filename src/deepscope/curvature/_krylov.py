"""Krylov building blocks shared by the solvers: block orthonormalisation, the batched Lanczos
three-term recurrence, and the Gauss quadrature of its tridiagonal matrices.

- :func:`orthonormalize_block`: classical Gram-Schmidt applied twice against an orthonormal
  basis ("twice is enough": Parlett 1980; Golub & Van Loan Sec. 10.3), then QR; dead directions
  (an invariant subspace) are replaced by random ones orthogonal to everything before them.
  Used by block Lanczos (:mod:`._lanczos`), Hutch++ (:mod:`._trace`) and the deflated diagonal
  (:mod:`._diagonal`).
- :func:`batched_lanczos`: one Lanczos recurrence per probe, all advanced by ONE product a step,
  each reorthogonalised against its own stored basis.
- :func:`gauss_quadrature`: nodes, weights and Ritz residual bounds of the tridiagonal matrices
  (Golub & Meurant 2010), and :func:`probe_moments` / :func:`mean_stderr` for the spectral
  moments they give. Used by :func:`spectral_density` and :func:`bulk_and_outliers`.

References:
    Lanczos 1950; Paige 1972; Parlett, The Symmetric Eigenvalue Problem (1980); Golub & Van Loan,
    Matrix Computations (4th ed.), Sec. 10.1-10.3; Golub & Meurant, Matrices, Moments and
    Quadrature (2010); Ubaru, Chen & Saad 2017 (stochastic Lanczos quadrature).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ._products import F64, randn

_EPS = float(torch.finfo(F64).eps)
#: spectral moments ``v^T A^j v``, j = 1..N_MOMENTS, reported by the quadrature solvers
N_MOMENTS = 4


def dead_threshold(P: int, scale: float) -> float:
    """Norm below which a new Krylov direction counts as zero (an invariant subspace)."""
    return 64.0 * _EPS * math.sqrt(P) * scale


def random_orthonormal(basis: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random unit vector orthogonal to the columns of ``basis`` (which must not span R^P)."""
    P = basis.shape[0]
    for _ in range(5):
        x = randn(gen, (P,), basis.device)
        for _ in range(2):
            x = x - basis @ (basis.T @ x)
        nrm = float(x.norm())
        if nrm > 1e-8:
            return x / nrm
    raise RuntimeError("could not find a vector orthogonal to the basis (basis spans R^P)")


def orthonormalize_block(
    V: torch.Tensor, W: torch.Tensor, thresh: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Orthonormalise the block ``W`` against the orthonormal ``V`` and within itself.

    Returns ``(Q, C, R)`` with ``W = V C + Q R``, ``Q^T Q = I``, ``V^T Q = 0`` (to rounding) and
    ``R`` upper triangular. Classical Gram-Schmidt against ``V`` is applied twice; a column whose
    remaining norm is ``<= thresh`` is dead (invariant subspace): its row of ``R`` is zero and its
    column of ``Q`` is a random unit vector orthogonal to everything before it.
    """
    C = V.T @ W
    W = W - V @ C
    C2 = V.T @ W
    W = W - V @ C2
    C = C + C2
    b = W.shape[1]
    if b == 0:
        return W, C, W.new_zeros(0, 0)
    Q, R = torch.linalg.qr(W)
    if bool((R.diagonal().abs() > thresh).all()):
        # One more projection restores V^T Q = 0 when R is ill-conditioned; keep W = V C + Q R.
        D = V.T @ Q
        Q = Q - V @ D
        C = C + D @ R
        Q2, R2 = torch.linalg.qr(Q)
        return Q2, C, R2 @ R
    # Slow path (rare): column by column, replacing dead directions by random ones.
    m = V.shape[1]
    Q = torch.empty_like(W)
    R = W.new_zeros(b, b)
    for j in range(b):
        w = W[:, j].clone()
        basis = torch.cat([V, Q[:, :j]], dim=1)
        after = float(w.norm())
        for _ in range(3):
            before = after
            c = basis.T @ w
            w = w - basis @ c
            C[:, j] += c[:m]
            R[:j, j] += c[m:]
            after = float(w.norm())
            if after > 0.7 * before:
                break
        if after > thresh:
            Q[:, j] = w / after
            R[j, j] = after
        else:
            Q[:, j] = random_orthonormal(basis, gen)
    return Q, C, R


def batched_lanczos(
    A: Any, V0: torch.Tensor, n_steps: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Advance one Lanczos recurrence per column of ``V0`` (unit columns) together.

    ``A`` maps a ``(P, n)`` float64 block to its products (a :class:`~._products.Products`, or
    a projected one). Each step is a single product ``A(V)`` for all columns. The recurrence
    runs in float64: the three-term update ``w -= alpha_j v_j + beta_{j-1} v_{j-1}`` followed by
    one full classical Gram-Schmidt pass against the stored basis (batched over probes), which
    keeps the basis orthogonal to the precision it is stored in. The basis is stored in float64
    for float64 operators and in float32 otherwise: for a float32 model the products carry
    float32 rounding anyway, and reading a float32 basis halves the memory traffic that
    dominates reorthogonalisation at large P. If a probe's Krylov space becomes invariant
    (``beta ~ 0``), it continues with a random unit vector orthogonal to its basis and a zero
    coupling. Returns ``alpha (n, m)`` and ``beta (n, m - 1)`` of the tridiagonal matrices and
    ``beta_next (n,)`` (the norm of the last residual, for Ritz residual bounds
    ``|beta_next * Y[m-1, i]|``), on the CPU.
    """
    P, n = V0.shape
    dev = V0.device
    store = F64 if A.dtype == F64 else torch.float32
    basis = torch.empty(n, n_steps, P, dtype=store, device=dev)  # basis[p, j] = j-th vector
    alpha = torch.zeros(n, n_steps, dtype=F64, device=dev)
    beta = torch.zeros(n, max(n_steps - 1, 0), dtype=F64, device=dev)
    v = V0
    v_prev = torch.zeros_like(V0)
    scale = 0.0
    for j in range(n_steps):
        basis[:, j] = v.T
        w = A(v)  # (P, n): one batched product per step
        scale = max(scale, float(w.norm(dim=0).max()))
        a = (v * w).sum(dim=0)  # (n,)
        w = w - v * a
        if j:
            w = w - v_prev * beta[:, j - 1]
        B = basis[:, : j + 1]  # (n, j+1, P)
        wt = w.T.unsqueeze(2).to(store)  # (n, P, 1)
        c = torch.bmm(B, wt)
        w = w - torch.bmm(B.transpose(1, 2), c).squeeze(2).T.to(F64)
        alpha[:, j] = a + c[:, j, 0].to(F64)
        wt = w.T  # (n, P)
        b = wt.norm(dim=1)
        if j == n_steps - 1:
            beta_next = b
            break
        dead = b <= dead_threshold(P, scale)
        b = torch.where(dead, torch.zeros_like(b), b)
        v_new = wt / torch.where(dead, torch.ones_like(b), b)[:, None]
        for p in torch.nonzero(dead).flatten().tolist():  # rare: invariant Krylov space
            v_new[p] = random_orthonormal(basis[p, : j + 1].to(F64).T, gen)
        beta[:, j] = b
        v_prev, v = v, v_new.T
    return alpha.cpu(), beta.cpu(), beta_next.cpu()


def gauss_quadrature(
    alpha: torch.Tensor, beta: torch.Tensor, beta_next: torch.Tensor
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per probe, the Gauss rule of its tridiagonal ``T = Y diag(theta) Y^T``.

    Returns ``(nodes, weights, ritz_residuals)``, each ``(n, m)``: the Ritz values ``theta``
    (ascending), the weights ``Y_{1i}^2`` (each row sums to 1) and the bounds
    ``|beta_next Y_{mi}|`` (an eigenvalue lies within this distance of each node).
    """
    T = torch.diag_embed(alpha) + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)
    theta, Y = torch.linalg.eigh(T)
    nodes = theta.numpy()
    weights = (Y[:, 0, :] ** 2).numpy()
    ritz = (beta_next[:, None] * Y[:, -1, :]).abs().numpy()
    weights = weights / weights.sum(axis=1, keepdims=True)  # sums to 1 up to rounding already
    return nodes, weights, ritz


def probe_moments(nodes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(n, N_MOMENTS)``: ``sum_i w_i theta_i^j`` per probe for j = 1..N_MOMENTS."""
    return np.stack([(weights * nodes**j).sum(axis=1) for j in range(1, N_MOMENTS + 1)], 1)


def mean_stderr(per_probe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean over probes (axis 0) and its standard error (nan for one probe)."""
    mean = per_probe.mean(axis=0)
    n = per_probe.shape[0]
    if n > 1:
        return mean, per_probe.std(axis=0, ddof=1) / math.sqrt(n)
    return mean, np.full(per_probe.shape[1:], np.nan)
