"""Threshold units on the Boolean cube: the perceptron rule, threshold functions, parity networks.

Pure measurement code, exact where it can be:

- :func:`perceptron_integer`: Rosenblatt's error-correction rule on integer data in Python integers,
  with cyclic presentation in a fixed order; it detects convergence (a mistake-free epoch) or a
  repeated weight state at an epoch boundary, which proves the dynamics periodic forever.
- :func:`perceptron_batch`: the same rule in float64 on many data sets at once, counting mistakes
  (for Novikoff's bound).
- :func:`threshold_tables`: every threshold (linearly separable) Boolean function of ``n`` inputs,
  as truth tables, by enumerating small integer weights.
- :func:`parity_networks`: exhaustive search for one-hidden-layer threshold networks (no
  input-output connections) with ``k`` hidden units that compute ``n``-bit parity.
- :func:`staircase_parity`: the ``n``-unit construction ``h_j = [sum x >= j]``,
  output ``[sum_j (-1)^(j+1) h_j >= 1]``.
- :func:`separable_sets`: random data sets with a planted unit separator and a known margin.
- :func:`train_threshold_parity`: threshold networks for parity read off annealed tanh networks
  trained by gradient descent, scored exactly on the cube.

References:
    Rosenblatt 1958; Novikoff 1962; Minsky & Papert 1969 (perceptron cycling, parity).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

# Weights in [-W, W] realise every threshold function of n <= 4 inputs (the counts match
# OEIS A000609: 2, 4, 14, 104, 1882 for n = 0..4).
MAX_WEIGHT = {1: 1, 2: 1, 3: 2, 4: 3}
THRESHOLD_FUNCTION_COUNTS = {0: 2, 1: 4, 2: 14, 3: 104, 4: 1882, 5: 94572}


def cube(n: int) -> np.ndarray:
    """The 2^n vertices of {0,1}^n as rows (int64), vertex v has bits v >> j & 1."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int64)


def parity_labels(n: int) -> np.ndarray:
    """+1 for odd, -1 for even parity on the vertices of :func:`cube`."""
    return np.where(cube(n).sum(axis=1) % 2 == 1, 1, -1)


def perceptron_integer(x, y, w0, order, max_epochs: int, trace: bool = False) -> dict:
    """The perceptron rule w <- w + y_i x_i on every mistake (y_i <w, x_i> <= 0), integers only.

    Args:
        x: rows of integers (augment with a constant 1 for a bias).
        y: labels in {-1, +1}.
        w0: integer start.
        order: the fixed presentation order of the points in every epoch.
        max_epochs: give up after this many epochs.
        trace: also return ``path``, the weights after every update.

    Returns:
        ``converged`` (a mistake-free epoch), ``epochs``, ``mistakes`` per epoch, ``cycle_start``
        and ``period`` (epochs; None unless a weight state at an epoch start repeated, which makes
        the dynamics periodic forever), the final ``w``, the largest ``max_abs_weight`` and the
        ``states`` at epoch starts.
    """
    x = [tuple(int(v) for v in row) for row in x]
    y = [int(v) for v in y]
    w = [int(v) for v in w0]
    seen: dict[tuple, int] = {}
    mistakes: list[int] = []
    states: list[tuple] = []
    path: list[tuple] = [tuple(w)]
    biggest = max(abs(v) for v in w)
    out = {"converged": False, "cycle_start": None, "period": None}
    for epoch in range(max_epochs):
        key = tuple(w)
        if key in seen:
            out.update(cycle_start=seen[key], period=epoch - seen[key])
            break
        seen[key] = epoch
        states.append(key)
        m = 0
        for i in order:
            xi, yi = x[i], y[i]
            if yi * sum(a * b for a, b in zip(w, xi)) <= 0:
                m += 1
                w = [a + yi * b for a, b in zip(w, xi)]
                if trace:
                    path.append(tuple(w))
                biggest = max(biggest, max(abs(v) for v in w))
        mistakes.append(m)
        if m == 0:
            out["converged"] = True
            break
    out.update(epochs=len(mistakes), mistakes=mistakes, w=tuple(w), max_abs_weight=biggest,
               states=states, path=path if trace else None)
    return out


def perceptron_batch(x: np.ndarray, y: np.ndarray, max_epochs: int):
    """The homogeneous perceptron from w = 0 on ``S`` data sets at once (float64).

    Args:
        x: (S, n, d) points; y: (S, n) labels in {-1, +1}.
        max_epochs: epochs at most.

    Returns:
        (mistakes per set, converged per set, final weights (S, d)).
    """
    s, n, d = x.shape
    w = np.zeros((s, d))
    k = np.zeros(s, dtype=np.int64)
    done = np.zeros(s, dtype=bool)
    for _ in range(max_epochs):
        in_epoch = np.zeros(s, dtype=np.int64)
        for i in range(n):
            wrong = (y[:, i] * np.einsum("sd,sd->s", w, x[:, i]) <= 0) & ~done
            w[wrong] += y[wrong, i, None] * x[wrong, i]
            in_epoch += wrong
        k += in_epoch
        done |= in_epoch == 0
        if done.all():
            break
    return k, done, w


def threshold_tables(n: int, max_weight: int | None = None) -> np.ndarray:
    """Truth tables (bool, one row per function, columns the vertices of :func:`cube`) of every
    threshold function [w.x >= t] of n inputs with integer |w_j| <= max_weight, constants
    included."""
    w_max = MAX_WEIGHT[n] if max_weight is None else max_weight
    vertices = cube(n)
    weights = np.array(list(itertools.product(range(-w_max, w_max + 1), repeat=n)))
    values = weights @ vertices.T
    powers = 1 << np.arange(2**n, dtype=np.int64)
    tables = {0}
    for v in values:
        for t in np.unique(v):
            tables.add(int(((v >= t) * powers).sum()))
    codes = np.array(sorted(tables), dtype=np.int64)
    return ((codes[:, None] >> np.arange(2**n)) & 1).astype(bool)


def _cube_edges(n: int) -> np.ndarray:
    return np.array([(v, v | 1 << j) for v in range(2**n) for j in range(n) if not v >> j & 1])


def _realises_parity(hidden: np.ndarray, parity: np.ndarray, out_tables: np.ndarray) -> bool:
    """Do these hidden truth tables (k, 2^n) feed a threshold output unit that computes parity?"""
    k = hidden.shape[0]
    codes = (hidden.astype(np.int64) << np.arange(k)[:, None]).sum(axis=0)
    label: dict[int, int] = {}
    for c, p in zip(codes.tolist(), parity.tolist()):
        if label.setdefault(c, p) != p:
            return False
    used = np.array(list(label))
    want = np.array([label[c] for c in used], dtype=bool)
    return bool(np.any(np.all(out_tables[:, used] == want, axis=1)))


def parity_networks(n: int, k: int) -> dict:
    """Exhaustive count of k-hidden-unit threshold networks computing n-bit parity (n, k <= 4).

    Hidden units range over the non-constant threshold functions of n inputs, one of each
    complementary pair (h and 1 - h feed the output equally after a sign change of its weight),
    as sets of k distinct functions (a repeated or constant unit leaves a smaller network). A
    network must cut every edge of the cube (neighbours differ in parity, so they need different
    hidden codes); the sets that do are then tested exactly: each hidden code must carry one
    parity, and the code-to-parity map must be a threshold function of k inputs.

    Returns:
        ``solutions`` (networks found), ``edge_covers`` (sets cutting every edge), ``functions``
        (hidden-unit candidates), ``max_cut`` (most edges one threshold function cuts).
    """
    tables = threshold_tables(n)
    full = 2 ** (2**n) - 1
    codes = (tables.astype(np.int64) << np.arange(2**n)).sum(axis=1)
    keep = (codes != 0) & (codes < full - codes)
    tables = tables[keep]
    edges = _cube_edges(n)
    cut = tables[:, edges[:, 0]] != tables[:, edges[:, 1]]
    n_edges = len(edges)
    ncut = cut.sum(axis=1)
    max_cut = int(ncut.max())
    masks = (cut.astype(np.uint64) << np.arange(n_edges, dtype=np.uint64)).sum(axis=1)
    masks = masks.astype(np.uint64)
    every = np.uint64((1 << n_edges) - 1)
    parity = cube(n).sum(axis=1) % 2
    out_tables = threshold_tables(k)
    covers: list[tuple[int, ...]] = []
    if k == 1:
        covers = [(i,) for i in np.flatnonzero(masks == every)]
    else:
        for prefix in itertools.combinations(range(len(masks)), k - 2):
            start = prefix[-1] + 1 if prefix else 0
            base = np.uint64(0)
            for i in prefix:
                base |= masks[i]
            if n_edges - int(np.bitwise_count(base)) > k * max_cut:
                continue
            pairs = base | masks[start:]
            close = np.flatnonzero(n_edges - np.bitwise_count(pairs) <= max_cut) + start
            for j in close.tolist():
                rest = np.flatnonzero((masks[j] | base | masks[j + 1:]) == every) + j + 1
                covers.extend((*prefix, j, int(last)) for last in rest)
    solutions = sum(_realises_parity(tables[list(c)], parity, out_tables) for c in covers)
    return {"solutions": int(solutions), "edge_covers": len(covers),
            "functions": int(len(tables)), "max_cut": max_cut}


def staircase_parity(n: int) -> np.ndarray:
    """Outputs (0/1, integers only) of the n-unit staircase network on the vertices of
    :func:`cube`: h_j = [sum x >= j] for j = 1..n, output [sum_j (-1)^(j+1) h_j >= 1]."""
    s = cube(n).sum(axis=1)
    hidden = (s[:, None] >= np.arange(1, n + 1)[None, :]).astype(np.int64)
    signs = np.where(np.arange(1, n + 1) % 2 == 1, 1, -1)
    return (hidden @ signs >= 1).astype(np.int64)


def separable_sets(rng, n_sets: int, n_points: int, d: int):
    """``n_sets`` sets of ``n_points`` unit-norm points in R^d with a planted unit separator u.

    gamma is log-uniform in [0.02, 0.5]; each point is y t u + sqrt(1 - t^2) z with z a random
    unit vector orthogonal to u, t uniform in [gamma, min(1, 2 gamma)] and t = gamma for the
    first point, so R = 1 and u's margin min y <u, x> is gamma (up to rounding).

    Returns (x (S, n, d), y (S, n) in {-1, +1}, u (S, d)).
    """
    gamma = np.exp(rng.uniform(np.log(0.02), np.log(0.5), n_sets))
    u = rng.standard_normal((n_sets, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    g = gamma[:, None]
    t = g + (np.minimum(1.0, 2 * g) - g) * rng.uniform(size=(n_sets, n_points))
    t[:, 0] = gamma
    y = np.where(rng.uniform(size=(n_sets, n_points)) < 0.5, -1.0, 1.0)
    z = rng.standard_normal((n_sets, n_points, d))
    for _ in range(2):  # project twice: one pass leaves <u, z> ~ eps / ||z_perp|| (d = 2)
        z -= np.einsum("snd,sd->sn", z, u)[:, :, None] * u[:, None, :]
    z /= np.linalg.norm(z, axis=2, keepdims=True)
    x = (y * t)[:, :, None] * u[:, None, :] + np.sqrt(1 - t * t)[:, :, None] * z
    return x, y, u


def parity_surrogate_grads(w, v, c, xa, xa_t, y, mask, beta):
    """Gradients in (w, v, c) of L = 1/(2P) sum_p (v.tanh(beta w xa_p) + c - y_p)^2, batched,
    hidden units beyond each network's width masked out."""
    th = (beta * (w @ xa)).tanh() * mask
    r = (v @ th + c - y) / xa.shape[1]
    return ((v.transpose(1, 2) * r) * (beta * (mask - th * th)) @ xa_t,
            r @ th.transpose(1, 2), r.sum(dim=2, keepdim=True))


def train_threshold_parity(rng, n, widths, restarts, steps, lr, momentum, slope_final):
    """Zero-error fraction of threshold networks obtained by training annealed tanh networks.

    Hidden h = tanh(beta (W x + b)), output o = v.h + c, squared error on +-1 parity of +-1
    inputs, momentum GD; beta grows geometrically from 1 to ``slope_final``. The trained weights
    are then read as a threshold network (sign units) and scored exactly on all 2^n inputs.
    Returns the zero-error fraction per width.
    """
    import torch

    x = 2.0 * cube(n) - 1.0
    y = torch.from_numpy(parity_labels(n).astype(np.float64))
    p, k, nb = 2**n, max(widths), len(widths)
    xa = torch.from_numpy(np.concatenate([x, np.ones((p, 1))], axis=1).T.copy())
    xa_t = xa.T.contiguous()
    mask = (np.arange(k)[None, :] < np.array(widths)[:, None]).astype(np.float64)
    mask = torch.from_numpy(np.repeat(mask, restarts, axis=0)[:, :, None])
    b = nb * restarts
    w = torch.from_numpy(np.concatenate([rng.standard_normal((b, k, n)) / math.sqrt(n),
                                         0.5 * rng.standard_normal((b, k, 1))], axis=2))
    v = torch.from_numpy(rng.standard_normal((b, 1, k)) / math.sqrt(k))
    c = torch.zeros((b, 1, 1), dtype=torch.float64)
    vel = [torch.zeros_like(w), torch.zeros_like(v), torch.zeros_like(c)]
    for t in range(steps):
        grads = parity_surrogate_grads(w, v, c, xa, xa_t, y, mask, slope_final ** (t / steps))
        for param, g, vl in zip((w, v, c), grads, vel):
            vl.mul_(momentum).sub_(lr * g)
            param.add_(vl)
    h = torch.where(w @ xa >= 0, 1.0, -1.0) * mask
    o = (v @ h + c)[:, 0]
    wrong = (torch.where(o >= 0, 1.0, -1.0) != y).sum(dim=1).numpy()
    return (wrong == 0).reshape(nb, restarts).mean(axis=1)
