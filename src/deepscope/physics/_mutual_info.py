"""Mutual-information coarse-graining (RSMI, Koch-Janusz & Ringel 2018) on 2D Ising samples.

A 2 x 2 block ``V`` of spins is coarse-grained into one binary variable ``h = sign(w . v)``
(ties broken by a fair coin drawn once per block, shared by all filters so that filters are
compared with common random numbers). The environment ``E`` is a set of spins beyond a buffer.
The filter that keeps the most information about the environment, ``argmax_w I(h : E)``, is the
relevant coarse variable.

``I(h : E)`` is estimated by the plug-in formula over the empirical joint histogram, with the
Miller-Madow bias correction applied to each entropy (``+ (m - 1) / 2N`` nats for ``m`` occupied
bins), in bits. Blocks from one configuration are correlated, so the standard error is a
delete-one-group jackknife over groups of configurations.

The default environment (:data:`PINWHEEL_ENV`) is four spins at distance 3 from the block
(buffer of 2), placed so that a 90 degree rotation about the block centre maps the set onto
itself: ``(-3, 0), (0, 4), (4, 1), (1, -3)`` relative to the block's top-left spin.

References:
    M. Koch-Janusz and Z. Ringel, Nature Physics 14:578 (2018), arXiv:1704.06279;
    G. A. Miller, 'Note on the bias of information estimates' (1955).
"""

from __future__ import annotations

import itertools

import numpy as np

from deepscope.errors import UserInputError

__all__ = ["BLOCK_OFFSETS", "PINWHEEL_ENV", "block_environment_codes", "filter_grid",
           "mutual_information", "mutual_information_filters"]

BLOCK_OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))
PINWHEEL_ENV = ((-3, 0), (0, 4), (4, 1), (1, -3))


def block_environment_codes(samples, env=PINWHEEL_ENV, stride: int = 2):
    """Block states and environment states for every ``stride``-spaced 2 x 2 block.

    Returns:
        ``(block, env_code, group)``: ``block`` ``(n, 4)`` spins of each block (``+-1``),
        ``env_code`` the environment as an integer in ``[0, 2^len(env))``, ``group`` the
        index of the configuration each block comes from.
    """
    s = np.asarray(samples)
    if s.ndim != 3 or s.shape[1] != s.shape[2]:
        raise UserInputError("samples must have shape (n_samples, L, L)")
    n, L, _ = s.shape
    rows = np.arange(0, L, stride)
    i, j = np.meshgrid(rows, rows, indexing="ij")
    i, j = i.ravel(), j.ravel()
    block = np.stack([s[:, (i + a) % L, (j + b) % L] for a, b in BLOCK_OFFSETS], axis=-1)
    bits = np.stack([(s[:, (i + a) % L, (j + b) % L] > 0) for a, b in env], axis=-1)
    code = (bits * (1 << np.arange(len(env)))).sum(axis=-1)
    group = np.repeat(np.arange(n), len(i))
    return block.reshape(-1, 4).astype(np.int8), code.reshape(-1), group


def _entropy_mm(counts: np.ndarray, axis_sum: tuple) -> np.ndarray:
    """Miller-Madow entropy (nats) of histograms along the trailing axes."""
    total = counts.sum(axis=axis_sum)
    p = counts / np.expand_dims(total, axis_sum)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(counts > 0, p * np.log(p), 0.0).sum(axis=axis_sum)
    return h + ((counts > 0).sum(axis=axis_sum) - 1) / (2.0 * total)


def mutual_information(x, y, group=None, n_groups: int = 20, return_replicates: bool = False):
    """Bias-corrected plug-in ``I(x : y)`` in bits for non-negative integer codes, and its SE.

    Returns ``(mi, se)``, plus the jackknife replicates when ``return_replicates`` is set (for
    paired differences between estimates that share groups).

    Args:
        x, y: integer codes of equal length.
        group: group label per pair (e.g. the configuration); groups are merged into
            ``n_groups`` jackknife blocks. Without it the pairs are treated as independent.
    """
    x, y = np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise UserInputError("x and y must be 1D integer arrays of equal length")
    g = np.arange(x.size) if group is None else np.asarray(group)
    nb = int(min(n_groups, np.unique(g).size))
    jb = np.searchsorted(np.unique(g), g) * nb // np.unique(g).size
    kx, ky = int(x.max()) + 1, int(y.max()) + 1
    counts = np.bincount((jb * kx + x) * ky + y, minlength=nb * kx * ky).reshape(nb, kx, ky)
    return _mi_jackknife(counts, return_replicates)


def _mi_bits(c: np.ndarray) -> np.ndarray:
    """Miller-Madow ``I`` (bits) of joint histograms ``(..., kx, ky)``."""
    return (_entropy_mm(c.sum(-1), (-1,)) + _entropy_mm(c.sum(-2), (-1,))
            - _entropy_mm(c, (-2, -1))) / np.log(2.0)


def _mi_jackknife(counts: np.ndarray, return_replicates: bool):
    """Estimate and delete-one-block jackknife from per-block histograms ``(nb, kx, ky)``."""
    nb = counts.shape[0]
    total = counts.sum(axis=0)
    full = float(_mi_bits(total))
    reps = _mi_bits(total[None] - counts)
    se = float(np.sqrt((nb - 1) / nb * ((reps - reps.mean()) ** 2).sum()))
    return (full, se, reps) if return_replicates else (full, se)


def filter_grid(values=(-1.0, -0.5, 0.0, 0.5, 1.0)) -> np.ndarray:
    """All filters ``w in values^4`` except the zero filter, shape ``(n, 4)``."""
    grid = np.array(list(itertools.product(values, repeat=4)), dtype=np.float64)
    return grid[np.any(grid != 0, axis=1)]


def mutual_information_filters(block, env_code, group, filters, rng: np.random.Generator,
                               n_groups: int = 20):
    """``I(sign(w . v) : E)`` (bits), its jackknife SE and replicates for each filter ``w``.

    One coin per block breaks every tie ``w . v = 0`` (common random numbers across filters).
    Returns ``(mi, se, replicates)`` with replicates ``(n_filters, n_groups)``; the SE of a
    difference ``mi[a] - mi[b]`` is ``sqrt((g-1)/g * sum((d_i - mean d)^2))`` over
    ``d = replicates[a] - replicates[b]``.
    """
    f = np.asarray(filters, dtype=np.float64).reshape(-1, 4)
    coin = rng.random(len(block)) < 0.5
    states = ((np.asarray(block) > 0) * (1 << np.arange(4))).sum(axis=1)
    all_states = np.array(list(itertools.product((-1, 1), repeat=4)))[:, ::-1]
    # all_states[k] is the +-1 block with bit i of k giving spin i
    scores = all_states @ f.T  # (16, n_filters)
    g = np.asarray(group)
    ug = np.unique(g)
    nb = int(min(n_groups, ug.size))
    jb = np.searchsorted(ug, g) * nb // ug.size
    env_code = np.asarray(env_code, dtype=np.int64)
    ke = int(env_code.max()) + 1
    # one histogram over (jackknife block, block state, coin, environment); filters only relabel
    key = ((jb * 16 + states) * 2 + coin) * ke + env_code
    table = np.bincount(key, minlength=nb * 32 * ke).reshape(nb, 16, 2, ke).astype(np.float64)
    mis, ses, reps = np.empty(len(f)), np.empty(len(f)), []
    for n_f in range(len(f)):
        sc = scores[:, n_f]
        h = np.where(sc[:, None] > 0, 1, np.where(sc[:, None] < 0, 0, np.arange(2)[None, :]))
        onehot = np.stack([(h == 0), (h == 1)], axis=-1).astype(np.float64)  # (16, 2, 2)
        counts = np.einsum("bsce,sch->bhe", table, onehot)
        mis[n_f], ses[n_f], rep = _mi_jackknife(counts, True)
        reps.append(rep)
    return mis, ses, np.array(reps)
