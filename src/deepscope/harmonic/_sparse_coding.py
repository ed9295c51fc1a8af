"""Sparse coding: FISTA for the lasso and Mairal et al.'s online dictionary learning.

Olshausen & Field 1996 (``olshausen1996``) learn a basis in which image patches have sparse
codes by minimising sum_x [||x - D a||^2 / 2 + alpha S(a)]; with S = |.| (the L1 form they also
used) the coding step is a lasso. :func:`sparse_codes` solves it for many samples at once by
FISTA (Beck & Teboulle 2009: proximal gradient steps with step 1/L, L the largest eigenvalue of
the Gram matrix, and Nesterov momentum); :func:`learn_dictionary` alternates it with Mairal,
Bach, Ponce & Sapiro's online block-coordinate update of the atoms (2010, ``mairal2010``, Algs. 1
and 2, mini-batch; the algorithm behind scikit-learn's MiniBatchDictionaryLearning), projecting
every atom onto ||d|| <= 1.

Atoms are the rows of ``D`` and samples the rows of ``X``. Pure numpy, randomness only from the
caller's ``numpy.random.Generator``, no I/O.
"""

from __future__ import annotations

import math

import numpy as np


def sparse_codes(D: np.ndarray, X: np.ndarray, alpha: float, steps: int) -> np.ndarray:
    """FISTA for min_a 1/2 ||x - a D||^2 + alpha ||a||_1 per row x of X (atoms: rows of D)."""
    G = D @ D.T
    L = float(np.linalg.eigvalsh(G)[-1])
    C = X @ D.T
    A = np.zeros((X.shape[0], D.shape[0]), dtype=X.dtype)
    Y, t = A.copy(), 1.0
    for _ in range(steps):
        Z = Y - (Y @ G - C) / L
        A_new = np.sign(Z) * np.maximum(np.abs(Z) - alpha / L, 0.0)
        t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        Y = A_new + ((t - 1.0) / t_new) * (A_new - A)
        A, t = A_new, t_new
    return A


def learn_dictionary(X, n_atoms, alpha, steps, batch, fista_steps, rng, rho=10.0):
    """Mairal et al.'s online dictionary learning (their Alg. 1-2, mini-batch, past statistics
    down-weighted by (1 - 1/t)^rho): FISTA codes, then one block-coordinate pass over the atoms
    with the projection onto ||d|| <= 1. Rows of X are samples; returns D (atoms as rows)."""
    D = rng.standard_normal((n_atoms, X.shape[1])).astype(X.dtype)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    A_stat = np.zeros((n_atoms, n_atoms), dtype=X.dtype)
    B_stat = np.zeros_like(D)
    for t in range(1, steps + 1):
        xb = X[rng.integers(len(X), size=batch)]
        a = sparse_codes(D, xb, alpha, fista_steps)
        beta = (1.0 - 1.0 / t) ** rho
        A_stat = beta * A_stat + a.T @ a / batch
        B_stat = beta * B_stat + a.T @ xb / batch
        for j in range(n_atoms):
            if A_stat[j, j] > 1e-12:
                u = D[j] + (B_stat[j] - A_stat[j] @ D) / A_stat[j, j]
                D[j] = u / max(float(np.linalg.norm(u)), 1.0)
    return D
