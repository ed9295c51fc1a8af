"""The physics-ML dictionary in numbers: surprisal and softmax, Markov-chain information, RG trace.

* Hamiltonian = surprisal (LTR Eq. 8): with ``H_y(x) = -ln p(x|y)`` and ``mu_y = -ln p(y)``,
  ``p(y|x) = softmax_y(-H_y(x) - mu_y)`` exactly (:func:`softmax_posterior`).
* Ising chains classified by coupling: an open chain of ``N`` spins at coupling ``K`` has i.i.d.
  domain walls with probability ``q_K = e^{-K} / (2 cosh K)``, so ``H_K`` depends on the spins only
  through the wall count ``W ~ Binomial(N - 1, q_K)``, and the Bayes accuracy between two
  couplings is ``(1/2) sum_W max(P_0(W), P_1(W))`` (equal priors; :func:`ising_bayes_accuracy`).
* Markov hierarchy (LTR Sec. III, Thm 2): for a chain of binary symmetric channels with flip
  probability ``p``, ``I(y_0; y_k) = 1 - H_2((1 - (1 - 2p)^k) / 2)`` bits, non-increasing in ``k``
  (data processing); for i.i.d. Bernoulli(theta) bits the sum is sufficient,
  ``I(theta; sum x) = I(theta; x)``.
* RG trace condition (LTR v1 App. and Schwab-Mehta, arXiv:1609.03541): ``Tr_h e^{T(v,h)} = 1``
  implies ``Z_tot = Z`` (no free-energy change); LTR v1's counterexample
  ``e^{T} = e^{-H(h) - K(v)} / Z~`` keeps ``Z_tot = Z`` while ``Tr_h e^T = Z e^{-K(v)} / Z~`` is
  not 1, so the implication is one-way (:func:`rg_counterexample`).

References:
    Lin, Tegmark & Rolnick 2017, arXiv:1608.08225 (Eq. 8, Table 1, Sec. III, Thm 2; v1 App. B);
    Schwab & Mehta 2016, arXiv:1609.03541.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import special, stats

from deepscope.errors import UserInputError

__all__ = [
    "bsc_chain_information",
    "ising_bayes_accuracy",
    "ising_bayes_predict",
    "ising_energies",
    "table_mutual_information",
    "plugin_mutual_information",
    "rg_counterexample",
    "sample_bsc_chain",
    "softmax_posterior",
    "statistic_information",
    "wall_flip_probability",
]


def softmax_posterior(hamiltonians, mu) -> np.ndarray:
    """``p(y|x) = softmax_y(-H_y(x) - mu_y)``; ``hamiltonians`` has shape ``(n_classes, n_x)``."""
    h = np.asarray(hamiltonians, dtype=np.float64)
    logits = -h - np.asarray(mu, dtype=np.float64)[:, None]
    return np.exp(logits - special.logsumexp(logits, axis=0, keepdims=True))


def wall_flip_probability(K: float) -> float:
    """``q_K = e^{-K} / (2 cosh K) = 1 / (1 + e^{2K})``: probability that a bond is a wall."""
    return float(special.expit(-2.0 * float(K)))


def ising_bayes_accuracy(K0: float, K1: float, n_spins: int) -> float:
    """Closed-form Bayes accuracy telling open chains at ``K0`` from ``K1`` (equal priors)."""
    w = np.arange(int(n_spins))
    p0 = stats.binom.pmf(w, n_spins - 1, wall_flip_probability(K0))
    p1 = stats.binom.pmf(w, n_spins - 1, wall_flip_probability(K1))
    return float(0.5 * np.maximum(p0, p1).sum())


def ising_bayes_predict(spins, K0: float, K1: float) -> np.ndarray:
    """The Bayes rule (label 1 when ``P_1(W) > P_0(W)``) applied to spin configurations."""
    s = np.asarray(spins, dtype=np.int64)
    walls = np.sum(s[:, 1:] != s[:, :-1], axis=1)
    n = s.shape[1] - 1
    return (stats.binom.logpmf(walls, n, wall_flip_probability(K1))
            > stats.binom.logpmf(walls, n, wall_flip_probability(K0))).astype(np.int64)


def ising_energies(J, h, n: int) -> np.ndarray:
    """``H(s) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i`` over all ``2^n`` spin states.

    State ``k`` has ``s_i = +1`` where bit ``i`` of ``k`` is 0 (so state 0 is all up).
    """
    s = 1.0 - 2.0 * np.array(list(itertools.product((0, 1), repeat=n)))[:, ::-1]
    J = np.triu(np.asarray(J, dtype=np.float64), 1)
    return -np.einsum("ki,ij,kj->k", s, J, s) - s @ np.asarray(h, dtype=np.float64)


def table_mutual_information(joint) -> float:
    """``I(A; B)`` in bits of a joint probability table, exactly (no estimation: for samples see
    :func:`plugin_mutual_information`, or :func:`deepscope.physics.mutual_information` for a
    bias-corrected estimate with its jackknife error)."""
    p = np.asarray(joint, dtype=np.float64)
    p = p / p.sum()
    pa, pb = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / (pa @ pb)[nz])))


def plugin_mutual_information(a, b) -> float:
    """Plug-in (empirical) ``I(A; B)`` in bits from paired samples of two discrete variables."""
    _, ia = np.unique(np.asarray(a), return_inverse=True)
    _, ib = np.unique(np.asarray(b), return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1.0)
    return table_mutual_information(table)


def bsc_chain_information(p: float, k) -> np.ndarray:
    """Exact ``I(y_0; y_k) = 1 - H_2((1 - (1 - 2p)^k) / 2)`` bits for a chain of BSC(p)."""
    if not 0.0 <= p <= 1.0:
        raise UserInputError(f"flip probability must be in [0, 1], got {p!r}")
    eff = (1.0 - (1.0 - 2.0 * p) ** np.asarray(k, dtype=np.float64)) / 2.0
    return 1.0 - np.asarray(special.entr(eff) + special.entr(1.0 - eff)) / math.log(2.0)


def sample_bsc_chain(p: float, k_max: int, n_samples: int, rng: np.random.Generator
                     ) -> np.ndarray:
    """``(n_samples, k_max + 1)`` bits: ``y_0`` uniform, each step flipped with probability p."""
    y0 = rng.integers(0, 2, size=(n_samples, 1))
    flips = (rng.random((n_samples, k_max)) < p).astype(np.int64)
    return np.concatenate([y0, (y0 + np.cumsum(flips, axis=1)) % 2], axis=1)


def statistic_information(thetas, prior, n: int, statistic=None) -> float:
    """``I(theta; T(x))`` in bits by enumerating all ``2^n`` patterns of i.i.d. Bernoulli(theta).

    ``statistic`` maps the ``(2^n, n)`` pattern array to one label per row (``None``: the whole
    pattern, i.e. ``I(theta; x)``).
    """
    x = np.array(list(itertools.product((0, 1), repeat=int(n))), dtype=np.int64)
    ones = x.sum(axis=1)
    th = np.asarray(thetas, dtype=np.float64)[:, None]
    like = th**ones * (1.0 - th) ** (n - ones)  # (n_theta, 2^n)
    joint = np.asarray(prior, dtype=np.float64)[:, None] * like
    labels = np.arange(len(x)) if statistic is None else np.asarray(statistic(x))
    _, inv = np.unique(labels, return_inverse=True)
    table = np.zeros((joint.shape[0], inv.max() + 1))
    for t in range(joint.shape[0]):
        np.add.at(table[t], inv, joint[t])
    return table_mutual_information(table)


def rg_counterexample(h_visible, h_coarse, k_visible) -> dict[str, np.ndarray | float]:
    """LTR v1's counterexample by enumeration.

    Args:
        h_visible: ``H(v)`` over the visible states; h_coarse: ``H(h)`` over the coarse states
            (the same Hamiltonian form); k_visible: ``K(v)``.

    Returns:
        ``Z`` (of ``H`` on the coarse spins), ``Z_tot`` (of the joint
        ``H(v) + H(h) + K(v) + ln Z~`` minus ``H(v)``, i.e. ``sum e^{T(v,h) - H(v)}``), ``Z_tilde``,
        ``trace`` (``Tr_h e^{T(v, h)}`` per visible state), ``trace_formula`` (``Z e^{-K} / Z~``),
        ``marginal`` (the visible marginal of the joint), ``p`` (``e^{-H(v)} / Z_v``) and ``kl``
        (``KL(marginal || p)`` in nats).
    """
    hv, hc, kv = (np.asarray(a, dtype=np.float64) for a in (h_visible, h_coarse, k_visible))
    z_coarse = float(np.exp(-hc).sum())
    z_tilde = float(np.exp(-hv - kv).sum())
    t = -hc[None, :] - kv[:, None] - math.log(z_tilde)  # T(v, h)
    trace = np.exp(t).sum(axis=1)
    z_tot = float(np.exp(t - hv[:, None]).sum())
    joint = np.exp(t - hv[:, None])
    marginal = joint.sum(axis=1) / joint.sum()
    p = np.exp(-hv) / np.exp(-hv).sum()
    return {
        "Z": z_coarse, "Z_tot": z_tot, "Z_tilde": z_tilde, "trace": trace,
        "trace_formula": z_coarse * np.exp(-kv) / z_tilde, "marginal": marginal, "p": p,
        "kl": float(np.sum(marginal * np.log(marginal / p))),
    }
