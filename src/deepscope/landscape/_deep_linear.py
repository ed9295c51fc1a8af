"""Deep linear regression: closed forms, critical points and batched gradient descent.

The loss of ``Y_hat = W_{H+1} ... W_1 X`` is ``L = 1/2 ||Y_hat - Y||_F^2`` with ``X`` of shape
``(d_x, m)`` and ``Y`` of shape ``(d_y, m)``. It depends on the data only through
``C = X X^T``, ``D = Y X^T`` and ``||Y||^2``::

    L(W) = sum(P * (1/2 P C - D)) + 1/2 ||Y||^2,      P = W_{H+1} ... W_1,

and the gradient with respect to ``W_k`` is ``(W_{H+1} ... W_{k+1})^T (P C - D)
(W_{k-1} ... W_1)^T``. With ``Sigma = D C^{-1} D^T`` (eigenvalues ``lambda_1 >= ...``) and ``p``
the smallest width, the global minimum is the rank-restricted regression value
``L* = 1/2 (||Y||^2 - sum_{i <= min(p, d_y)} lambda_i)`` (Eckart-Young applied to the whitened
regression). For an index set ``I`` of eigenvectors ``U_I`` of ``Sigma`` (``|I| <= p``), the
weights ``W_1 = [U_I^T D C^{-1}; 0]``, identity middle layers and ``W_{H+1} = [U_I, 0]`` form a
critical point with ``L = 1/2 (||Y||^2 - sum_{i in I} lambda_i)`` (Baldi and Hornik 1989,
Kawaguchi 2016 Sec. 2).

Everything here is float64 numpy on stacks of ``R`` independent networks (leading axis), so many
initialisations run in one pass and the result is bit-reproducible.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Moments:
    """``C = X X^T``, ``D = Y X^T``, ``Sigma = D C^{-1} D^T`` and its eigen-decomposition."""

    C: np.ndarray
    D: np.ndarray
    y2: float
    sigma: np.ndarray
    eigvals: np.ndarray
    """Eigenvalues of ``Sigma``, descending."""
    eigvecs: np.ndarray
    """Matching eigenvectors (columns)."""

    @classmethod
    def from_data(cls, X: np.ndarray, Y: np.ndarray) -> Moments:
        C = X @ X.T
        D = Y @ X.T
        sigma = D @ np.linalg.solve(C, D.T)
        sigma = 0.5 * (sigma + sigma.T)
        vals, vecs = np.linalg.eigh(sigma)
        order = np.argsort(vals)[::-1]
        return cls(C, D, float(np.sum(Y * Y)), sigma, vals[order], vecs[:, order])

    def critical_value(self, index_set: tuple[int, ...]) -> float:
        """``1/2 (||Y||^2 - sum_{i in I} lambda_i)`` (indices from 0)."""
        return 0.5 * (self.y2 - float(sum(self.eigvals[i] for i in index_set)))

    def global_minimum(self, rank: int) -> float:
        """``L* = 1/2 (||Y||^2 - sum of the top min(rank, d_y) eigenvalues of Sigma)``."""
        k = min(rank, len(self.eigvals))
        return 0.5 * (self.y2 - float(np.sum(self.eigvals[:k])))


def widths_for(d_x: int, d_y: int, width: int, depth: int) -> list[int]:
    """``[d_x, width x depth, d_y]``: ``depth`` hidden layers of equal width."""
    return [d_x] + [width] * depth + [d_y]


def critical_point(moments: Moments, widths: list[int],
                   index_set: tuple[int, ...]) -> list[np.ndarray]:
    """The critical point of index set ``I`` (all hidden widths must equal ``widths[1]``)."""
    width = widths[1]
    if any(w != width for w in widths[1:-1]) or len(index_set) > width:
        raise ValueError("critical_point needs equal hidden widths >= |I|")
    d_x, d_y = widths[0], widths[-1]
    U = moments.eigvecs[:, list(index_set)]
    first = np.zeros((width, d_x))
    last = np.zeros((d_y, width))
    if index_set:
        first[: len(index_set)] = U.T @ np.linalg.solve(moments.C, moments.D.T).T
        last[:, : len(index_set)] = U
    middle = [np.eye(width) for _ in widths[2:-1]]
    return [first, *middle, last]


def product(Ws: list[np.ndarray]) -> np.ndarray:
    """``W_{H+1} ... W_1`` (works on stacks)."""
    out = Ws[0]
    for W in Ws[1:]:
        out = W @ out
    return out


def loss_and_grads(Ws: list[np.ndarray], C: np.ndarray, D: np.ndarray,
                   y2: np.ndarray | float) -> tuple[np.ndarray, list[np.ndarray]]:
    """Loss and gradients of stacks ``Ws[k]`` of shape ``(R, out, in)`` (``C``, ``D`` broadcast)."""
    lefts = []  # lefts[k] = W_{k-1} ... W_1 (None for k = 0)
    acc = None
    for W in Ws:
        lefts.append(acc)
        acc = W if acc is None else W @ acc
    P = acc
    PC = P @ C
    G = PC - D
    loss = np.sum(P * (0.5 * PC - D), axis=(-2, -1)) + 0.5 * y2
    grads: list[np.ndarray] = [None] * len(Ws)  # type: ignore[list-item]
    right = None  # W_{H+1} ... W_{k+1}
    for k in range(len(Ws) - 1, -1, -1):
        g = G if right is None else np.swapaxes(right, -1, -2) @ G
        if lefts[k] is not None:
            g = g @ np.swapaxes(lefts[k], -1, -2)
        grads[k] = g
        right = Ws[k] if right is None else right @ Ws[k]
    return loss, grads


@dataclasses.dataclass
class DescentRecord:
    """What :func:`gradient_descent` measured for each of the ``R`` runs."""

    final_loss: np.ndarray
    hit_step: np.ndarray
    """First step with ``(L - target) / target <= rel_tol`` (-1: never)."""
    escape_step: np.ndarray
    """First step with ``L <= L_0 - escape_fraction (L_0 - target)`` (-1: never)."""
    record_steps: np.ndarray
    curves: np.ndarray
    """Losses at ``record_steps`` (shape ``(len(record_steps), R)``; NaN after the stop)."""
    n_steps: int
    weights: list[np.ndarray]


def gradient_descent(Ws: list[np.ndarray], C: np.ndarray, D: np.ndarray, y2: np.ndarray,
                     target: np.ndarray, *, lr: float, max_steps: int, rel_tol: float,
                     record_steps: np.ndarray, escape_fraction: float = 0.1) -> DescentRecord:
    """Full-batch gradient descent ``W_k <- W_k - lr dL/dW_k`` on a stack of networks.

    Stops when every run is within ``rel_tol`` (relative) of its ``target`` or after
    ``max_steps`` steps. ``C``, ``D``, ``y2`` and ``target`` carry one entry per run.
    """
    Ws = [W.copy() for W in Ws]
    R = Ws[0].shape[0]
    hit = np.full(R, -1, dtype=np.int64)
    escape = np.full(R, -1, dtype=np.int64)
    curves = np.full((len(record_steps), R), np.nan)
    slot = {int(s): i for i, s in enumerate(record_steps)}
    loss0 = None
    step = 0
    for step in range(max_steps + 1):
        loss, grads = loss_and_grads(Ws, C, D, y2)
        if loss0 is None:
            loss0 = loss.copy()
            escape_level = loss0 - escape_fraction * (loss0 - target)
        if step in slot:
            curves[slot[step]] = loss
        within = (loss - target) <= rel_tol * np.abs(target)
        hit[(hit < 0) & within] = step
        escape[(escape < 0) & (loss <= escape_level)] = step
        if within.all() or step == max_steps or not np.all(np.isfinite(loss)):
            break
        for k, g in enumerate(grads):
            Ws[k] -= lr * g
    return DescentRecord(loss, hit, escape, np.asarray(record_steps), curves, step, Ws)


def make_data(rng: np.random.Generator, d_x: int, d_y: int, m: int,
              spectrum: tuple[float, ...], residual_power: float):
    """X (d_x, m) and Y (d_y, m) with eig(Sigma) = spectrum and ||residual||^2 = residual_power.

    Y = B X + N with B = Q diag(sqrt(spectrum)) R (X X^T)^(-1/2) (Q orthogonal, R with
    orthonormal rows), so that Sigma = B X X^T B^T = Q diag(spectrum) Q^T, and N orthogonal to
    the rows of X (it adds to L* but not to Sigma).
    """
    X = rng.standard_normal((d_x, m)) / np.sqrt(m)
    w, V = np.linalg.eigh(X @ X.T)
    Q = np.linalg.qr(rng.standard_normal((d_y, d_y)))[0]
    R = np.linalg.qr(rng.standard_normal((d_x, d_y)))[0].T
    B = Q @ np.diag(np.sqrt(np.asarray(spectrum, float))) @ R @ (V / np.sqrt(w)) @ V.T
    N = rng.standard_normal((d_y, m))
    N -= (N @ X.T) @ np.linalg.solve(X @ X.T, X)
    N *= np.sqrt(residual_power) / np.linalg.norm(N)
    return X, B @ X + N


def descent_direction(moments, widths):
    """The unit direction whose product is u v^T / N^(N/2) ((u, v): top singular pair of D)."""
    U, _, Vt = np.linalg.svd(moments.D)
    n = len(widths) - 1
    dirs = [np.zeros((b, a)) for a, b in zip(widths[:-1], widths[1:])]
    dirs[0][0] = Vt[0]
    for k in range(1, n - 1):
        dirs[k][0, 0] = 1.0
    dirs[-1][:, 0] = U[:, 0]
    return [d / np.sqrt(n) for d in dirs]
