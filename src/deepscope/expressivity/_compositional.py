"""A level-shared binary-tree target, its variance shares, and a fit loop with a decaying rate.

The target is the binary tree of one bivariate constituent on ``n = 2^L`` inputs::

    h(a, b) = (2/3) (a^2 + a b + b^2) - 1,
    f = h(h(h(x1, x2), h(x3, x4)), h(h(x5, x6), h(x7, x8)))

``h`` maps ``[-1, 1]^2`` onto ``[-1, 1]`` (``a^2 + ab + b^2`` ranges over ``[0, 2]`` there), so
every level sees inputs of the same range and the tree never saturates or blows up. It is
symmetric in ``a, b`` and genuinely bivariate (neither a ridge function nor a sum of univariate
ones), and the same constituent sits at every node, so a tree network with one set of node
weights per level (weight sharing) can represent ``f`` as well as one with a set per node. The
tree's symmetries (swapping the two inputs of any node) permute all leaves transitively, so every
variable carries the same share of the variance by construction; :func:`sensitivity_indices`
measures these shares (Sobol first-order and total-effect indices).

References:
    Mhaskar, Liao & Poggio 2016, arXiv:1603.00988 (Thms 1-2); Poggio, Mhaskar, Rosasco, Miranda &
    Liao 2017, arXiv:1611.00740 (Secs. 3-4); Saltelli et al. 2010, Comput. Phys. Commun.
    181:259 (first-order estimator); Jansen 1999, Comput. Phys. Commun. 117:35 (total effect).
"""

from __future__ import annotations

import math

import numpy as np

from deepscope.errors import UserInputError

__all__ = ["fit_cosine", "sensitivity_indices", "shared_tree_function", "tree_constituent"]


def tree_constituent(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``h(a, b) = (2/3)(a^2 + ab + b^2) - 1``: ``[-1, 1]^2`` onto ``[-1, 1]``."""
    return (2.0 / 3.0) * (a * a + a * b + b * b) - 1.0


def shared_tree_function(x: np.ndarray) -> np.ndarray:
    """The binary tree of :func:`tree_constituent` on the columns of ``x`` (``(N, 2^L)``)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1] if x.ndim == 2 else 0
    if n < 2 or n & (n - 1):
        raise UserInputError(f"shared_tree_function needs shape (N, 2^L), L >= 1; got {x.shape}")
    h = x
    while h.shape[1] > 1:
        h = tree_constituent(h[:, 0::2], h[:, 1::2])
    return h[:, 0]


def sensitivity_indices(func, n_vars: int, n_samples: int, rng: np.random.Generator):
    """Sobol indices of ``func`` on ``U[-1, 1]^n_vars`` by Monte Carlo, with standard errors.

    Returns ``(first, first_se, total, total_se)``, each of shape ``(n_vars,)``: the first-order
    index ``S_i = Var(E[f | x_i]) / Var f`` (Saltelli 2010 estimator) and the total-effect index
    ``T_i = E[Var(f | x_{~i})] / Var f`` (Jansen 1999 estimator), from ``n_samples`` base points;
    the standard errors are the Monte-Carlo errors of the numerators (delta method ignored for
    ``Var f``, which is estimated from ``2 n_samples`` points).
    """
    a = rng.uniform(-1.0, 1.0, size=(n_samples, n_vars))
    b = rng.uniform(-1.0, 1.0, size=(n_samples, n_vars))
    fa, fb = func(a), func(b)
    var = float(np.var(np.concatenate([fa, fb])))
    first, first_se, total, total_se = (np.empty(n_vars) for _ in range(4))
    for i in range(n_vars):
        ab = a.copy()
        ab[:, i] = b[:, i]
        fab = func(ab)
        s_terms = fb * (fab - fa)
        t_terms = 0.5 * (fa - fab) ** 2
        first[i], total[i] = s_terms.mean() / var, t_terms.mean() / var
        first_se[i] = s_terms.std(ddof=1) / math.sqrt(n_samples) / var
        total_se[i] = t_terms.std(ddof=1) / math.sqrt(n_samples) / var
    return first, first_se, total, total_se


def fit_cosine(model, x, y, *, steps: int, lr: float, batch_size: int, gen,
               final_lr_fraction: float = 0.01) -> float:
    """Adam on the MSE with a cosine learning-rate decay from ``lr`` to ``final_lr_fraction lr``.

    Mini-batches of ``batch_size`` rows (with replacement) are drawn from ``gen``; returns the
    last mini-batch loss.
    """
    import torch
    import torch.nn.functional as F

    if steps < 1 or batch_size < 1 or lr <= 0:
        raise UserInputError("steps, batch_size and lr must be positive")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(steps),
                                                       eta_min=lr * final_lr_fraction)
    n = x.shape[0]
    value = math.nan
    for _ in range(int(steps)):
        if batch_size >= n:
            xb, yb = x, y
        else:
            idx = torch.randint(0, n, (int(batch_size),), generator=gen)
            xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        out = F.mse_loss(model(xb), yb)
        out.backward()
        opt.step()
        sched.step()
        value = float(out.detach())
    return value
