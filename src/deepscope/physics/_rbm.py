"""Restricted Boltzmann machines as variational RG (Mehta & Schwab 2014), in numpy.

A Bernoulli RBM over visible ``v in {0,1}^n`` and hidden ``h in {0,1}^m`` has energy
``E(v, h) = -a.v - b.h - v.W.h``. Its marginal Hamiltonians are, in closed form,

    H^RBM(v) = -a.v - sum_j softplus(b_j + (v W)_j),
    H^RBM(h) = -b.h - sum_i softplus(a_i + (W h)_i).

Mehta & Schwab define the variational RG operator ``T(v, h) = -E(v, h) + H(v)`` for data
``P(v) ~ e^{-H(v)}``. Then (their Eqs. 21-22)

    H^RG(h) := -ln Tr_v e^{T(v,h) - H(v)} = H^RBM(h),
    e^{T(v,h)} = p(h|v) e^{H(v) - H^RBM(v)},

so ``Tr_h e^T = 1`` for all ``v`` (an exact RG step) iff ``H = H^RBM`` up to the normalisation,
i.e. iff the RBM reproduces the data (KL = 0). In general
``KL(P || P_RBM) = ln(Z_RBM / Z) - E_P[ln Tr_h e^T]``. :func:`rg_identity_residuals` checks all
of this by brute-force enumeration on small systems.

Training is contrastive divergence (CD-k) with momentum and an L1 penalty; stacking trains each
RBM on the hidden probabilities of the one below. The effective receptive field of layer ``l``
is ``r^(l) = W^(1) ... W^(l)`` (visible x hidden_l); its locality on the ``L x L`` torus is
measured by the fraction of ``|r|`` in the best ``w x w`` window and by the radius of gyration.

References:
    P. Mehta and D. J. Schwab, arXiv:1410.3831 (2014); G. E. Hinton, Neural Comput. 14:1771
    (2002) (CD); G. E. Hinton, 'A practical guide to training RBMs', UTML TR 2010-003.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from deepscope.errors import UserInputError

__all__ = [
    "RBM",
    "radius_of_gyration",
    "random_receptive_fields",
    "receptive_fields",
    "rg_identity_residuals",
    "stack_rbms",
    "train_rbm",
    "window_mass_fraction",
]


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclasses.dataclass
class RBM:
    """Bernoulli RBM parameters: ``W`` (visible x hidden), visible bias ``a``, hidden bias ``b``."""

    W: np.ndarray
    a: np.ndarray
    b: np.ndarray

    def hidden_prob(self, v: np.ndarray) -> np.ndarray:
        """``p(h_j = 1 | v) = sigmoid(b_j + (v W)_j)``."""
        return _sigmoid(v @ self.W + self.b)

    def visible_prob(self, h: np.ndarray) -> np.ndarray:
        """``p(v_i = 1 | h) = sigmoid(a_i + (W h)_i)``."""
        return _sigmoid(h @ self.W.T + self.a)

    def energy(self, v: np.ndarray, h: np.ndarray) -> np.ndarray:
        """``E(v, h)`` for every pair: shape ``(len(v), len(h))``."""
        return -(v @ self.a)[:, None] - (h @ self.b)[None, :] - v @ self.W @ h.T

    def hamiltonian_visible(self, v: np.ndarray) -> np.ndarray:
        """``H^RBM(v) = -ln Tr_h e^{-E(v,h)}`` in closed form."""
        return -(v @ self.a) - _softplus(v @ self.W + self.b).sum(axis=-1)

    def hamiltonian_hidden(self, h: np.ndarray) -> np.ndarray:
        """``H^RBM(h) = -ln Tr_v e^{-E(v,h)}`` in closed form."""
        return -(h @ self.b) - _softplus(h @ self.W.T + self.a).sum(axis=-1)


def _check_data(data) -> np.ndarray:
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or np.any((x < 0) | (x > 1)):
        raise UserInputError("RBM data must be (n_samples, n_visible) with values in [0, 1]")
    return x


def train_rbm(data, n_hidden: int, rng: np.random.Generator, n_epochs: int = 30,
              lr: float = 0.05, batch_size: int = 50, k: int = 1, l1: float = 2e-4,
              momentum: float = 0.5, init_std: float = 0.01) -> tuple[RBM, np.ndarray]:
    """Train an RBM by CD-k with momentum and an L1 weight penalty (``lr * l1 * sign W``).

    The arithmetic runs in torch (float32, CPU) with a ``torch.Generator`` seeded from ``rng``;
    the result is returned as a float64 :class:`RBM`. Same ``rng`` state, same RBM.

    Args:
        data: ``(n_samples, n_visible)`` in ``[0, 1]`` (binary data or probabilities).
        n_hidden: hidden units.
        rng: the only source of randomness (initialisation, shuffling, Gibbs sampling).
        n_epochs, lr, batch_size, k, l1, momentum, init_std: the usual CD hyper-parameters.

    Returns:
        ``(rbm, reconstruction_error)``: the trained RBM and the mean squared one-step
        reconstruction error per epoch.
    """
    import torch

    x_np = _check_data(data)
    n, n_v = x_np.shape
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    x = torch.as_tensor(x_np, dtype=torch.float32)
    p = x.mean(dim=0).clamp(1e-3, 1 - 1e-3)
    W = torch.randn(n_v, n_hidden, generator=gen) * init_std
    a, b = torch.log(p / (1 - p)), torch.zeros(n_hidden)
    params = (W, a, b)
    vel = [torch.zeros_like(t) for t in params]
    errors = np.empty(n_epochs)
    for epoch in range(n_epochs):
        order = torch.randperm(n, generator=gen)
        err = 0.0
        for start in range(0, n, batch_size):
            v0 = x[order[start:start + batch_size]]
            ph0 = torch.sigmoid(v0 @ W + b)
            h = (torch.rand(ph0.shape, generator=gen) < ph0).float()
            for step in range(k):
                pv = torch.sigmoid(h @ W.T + a)
                vk = (torch.rand(pv.shape, generator=gen) < pv).float()
                phk = torch.sigmoid(vk @ W + b)
                if step < k - 1:
                    h = (torch.rand(phk.shape, generator=gen) < phk).float()
            m = v0.shape[0]
            grads = ((v0.T @ ph0 - vk.T @ phk) / m - l1 * torch.sign(W),
                     (v0 - vk).mean(dim=0), (ph0 - phk).mean(dim=0))
            for g, vel_i, param in zip(grads, vel, params):
                vel_i.mul_(momentum).add_(g, alpha=lr)
                param.add_(vel_i)
            err += float(((v0 - pv) ** 2).sum())
        errors[epoch] = err / x.numel()
    rbm = RBM(W=W.double().numpy(), a=a.double().numpy(), b=b.double().numpy())
    return rbm, errors


def stack_rbms(data, layer_sizes, rng: np.random.Generator, **kwargs) -> list[RBM]:
    """Greedy layer-wise stack: each RBM is trained on the hidden probabilities of the last."""
    x = _check_data(data)
    rbms = []
    for size in layer_sizes:
        rbm, _ = train_rbm(x, int(size), rng, **kwargs)
        rbms.append(rbm)
        x = rbm.hidden_prob(x)
    return rbms


def receptive_fields(weights) -> list[np.ndarray]:
    """``r^(l) = W^(1) W^(2) ... W^(l)`` for a list of RBMs or weight matrices."""
    mats = [w.W if isinstance(w, RBM) else np.asarray(w, dtype=np.float64) for w in weights]
    out, r = [], None
    for w in mats:
        r = w if r is None else r @ w
        out.append(r)
    return out


def random_receptive_fields(layer_sizes, n_visible: int, rng: np.random.Generator):
    """The random-weight baseline: products of i.i.d. Gaussian matrices of the same shapes."""
    shapes = zip((n_visible, *layer_sizes[:-1]), layer_sizes)
    return receptive_fields([rng.normal(size=(a, b)) for a, b in shapes])


def _fields(r, L: int) -> np.ndarray:
    r = np.abs(np.asarray(r, dtype=np.float64))
    if r.shape[0] != L * L:
        raise UserInputError(f"receptive fields need {L * L} rows for L = {L}, got {r.shape[0]}")
    return r.T.reshape(-1, L, L)


def window_mass_fraction(r, L: int, window: int = 9) -> np.ndarray:
    """Per hidden unit: the largest fraction of ``|r|`` inside any ``window x window`` torus window.

    A uniformly spread field gives ``window^2 / L^2`` (0.05 for 9 x 9 on 40 x 40).
    """
    f = _fields(r, L)
    c = np.cumsum(np.cumsum(np.concatenate([f, f[:, :window - 1]], axis=1), axis=1), axis=2)
    c = np.concatenate([c, c[:, :, :window - 1] + c[:, :, -1:]], axis=2)
    c = np.pad(c, ((0, 0), (1, 0), (1, 0)))
    w = window
    sums = c[:, w:, w:] - c[:, :-w, w:] - c[:, w:, :-w] + c[:, :-w, :-w]
    return sums.reshape(len(f), -1).max(axis=1) / f.sum(axis=(1, 2))


def radius_of_gyration(r, L: int) -> np.ndarray:
    """Per hidden unit: ``sqrt(sum |r| d^2 / sum |r|)`` on the torus about the circular mean."""
    f = _fields(r, L)
    w = f / f.sum(axis=(1, 2), keepdims=True)
    ang = 2 * np.pi * np.arange(L) / L
    rg2 = 0.0
    for axis in (1, 2):
        marg = w.sum(axis=3 - axis)  # marginal along this axis
        centre = np.angle(marg @ np.exp(1j * ang)) * L / (2 * np.pi)
        d = (np.arange(L)[None, :] - centre[:, None] + L / 2) % L - L / 2
        rg2 = rg2 + (marg * d**2).sum(axis=1)
    return np.sqrt(rg2)


def _states(n: int) -> np.ndarray:
    return np.array(list(itertools.product((0.0, 1.0), repeat=n)))


def rg_identity_residuals(rbm: RBM, H_data) -> dict[str, float]:
    """Check Mehta-Schwab Eqs. 21-22 by enumerating all visible and hidden states.

    Args:
        rbm: an RBM with few units (``2^(n_v + n_h)`` pairs are enumerated).
        H_data: callable or array: the data Hamiltonian ``H(v)`` over :func:`itertools.product`
            ordered states.

    Returns:
        ``eq21``: ``max |H^RG(h) - H^RBM(h)|`` with ``H^RG`` by brute-force sum over ``v``;
        ``eq22``: ``max |T - [ln p(h|v) + H(v) - H^RBM(v)]|`` (log form of Eq. 22);
        ``kl_identity``: ``|KL - (ln(Z_RBM/Z) - E_P[ln Tr_h e^T])|``;
        ``kl``: ``KL(P || P_RBM)``; ``trace_dev``: ``max_v |ln Tr_h e^T - ln(Z_RBM/Z)|``
        (zero iff an exact RG step, i.e. iff KL = 0).
    """
    n_v, n_h = rbm.W.shape
    v, h = _states(n_v), _states(n_h)
    H = np.asarray(H_data(v) if callable(H_data) else H_data, dtype=np.float64)
    E = rbm.energy(v, h)
    T = -E + H[:, None]
    h_rg = -np.logaddexp.reduce(T - H[:, None], axis=0)
    eq21 = float(np.max(np.abs(h_rg - rbm.hamiltonian_hidden(h))))
    ph = rbm.hidden_prob(v)
    log_p_h_v = (np.log(ph) @ h.T) + (np.log1p(-ph) @ (1 - h).T)
    hv = rbm.hamiltonian_visible(v)
    eq22 = float(np.max(np.abs(T - (log_p_h_v + H[:, None] - hv[:, None]))))
    log_trace = np.logaddexp.reduce(T, axis=1)
    log_z, log_zr = np.logaddexp.reduce(-H), np.logaddexp.reduce(-hv)
    p, log_p, log_pr = np.exp(-H - log_z), -H - log_z, -hv - log_zr
    kl = float(np.sum(p * (log_p - log_pr)))
    kl_from_t = float(log_zr - log_z - np.sum(p * log_trace))
    return {"eq21": eq21, "eq22": eq22, "kl": kl, "kl_identity": abs(kl - kl_from_t),
            "trace_dev": float(np.max(np.abs(log_trace - (log_zr - log_z))))}
