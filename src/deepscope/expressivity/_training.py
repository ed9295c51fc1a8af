"""Small trained networks for the depth experiments: dense nets, binary-tree nets, a fit loop.

Reproducibility: parameters are created without touching torch's global RNG and initialised
from an explicit ``torch.Generator`` (:func:`torch_generator` derives one from a numpy
``Generator``); mini-batches are drawn from the same generator. The same seed gives the same
bits on the same thread count.

The compositional target of Poggio et al. 2017 (the instance in the co-authors' code)::

    f(x) = h3(h21(h11(x1, x2), h12(x3, x4)), h22(h13(x5, x6), h14(x7, x8)))
    h11 = h13 = (x + 2y)^4 / 20,  h12 = h14 = (3x + 4y)^3 / 2,
    h21 = h22 = (5a + 6b)^2 / 50, h3 = 1.1 sqrt(a + b / 100 + 1).

References:
    Rolnick & Tegmark 2018, arXiv:1705.05502 (Fig. 2); Poggio, Mhaskar, Rosasco, Miranda & Liao
    2017, arXiv:1611.00740 (Secs. 3-4); Mhaskar, Liao & Poggio 2016, arXiv:1603.00988.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepscope.errors import UserInputError

__all__ = [
    "DenseNet",
    "TreeNet",
    "binary_tree_function",
    "fit_regression",
    "split_width",
    "torch_generator",
    "tree_width_for_budget",
]

_ACTS = {"tanh": torch.tanh, "softplus": F.softplus, "relu": torch.relu}


def torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``rng`` (the global torch RNG is not touched)."""
    gen = torch.Generator()
    gen.manual_seed(int(rng.integers(0, 2**62)))
    return gen


def _act(name: str):
    if name not in _ACTS:
        raise UserInputError(f"unknown activation {name!r}; use one of {', '.join(_ACTS)}")
    return _ACTS[name]


def _uniform(shape, fan_in: int, gen: torch.Generator) -> nn.Parameter:
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=gen))


def split_width(total: int, n_layers: int) -> tuple[int, ...]:
    """``total`` neurons split as equally as possible over ``n_layers`` (larger layers first)."""
    base, extra = divmod(int(total), int(n_layers))
    return tuple(base + (i < extra) for i in range(int(n_layers)))


class DenseNet(nn.Module):
    """Fully connected ``n_in -> widths... -> 1`` network; output shape ``(N,)``."""

    def __init__(self, n_in: int, widths, activation: str, gen: torch.Generator):
        super().__init__()
        self.act = _act(activation)
        sizes = [int(n_in), *map(int, widths), 1]
        self.weights = nn.ParameterList(
            [_uniform((b, a), a, gen) for a, b in zip(sizes[:-1], sizes[1:])])
        self.biases = nn.ParameterList([_uniform((b,), a, gen) for a, b in zip(sizes[:-1],
                                                                                sizes[1:])])
        self.n_hidden = sum(int(w) for w in widths)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w.T + b
            if i < len(self.weights) - 1:
                x = self.act(x)
        return x.squeeze(-1)


class TreeNet(nn.Module):
    """Binary-tree network on ``2^L`` inputs: each node a ``2 -> k -> 1`` MLP (Poggio et al.).

    Level ``l`` has ``2^(L-1-l)`` nodes reading adjacent pairs of the level below. With
    ``shared=True`` all nodes of a level share one set of weights (convolution-like).
    Parameters: ``(4k + 1)`` per distinct node.
    """

    def __init__(self, n_in: int, k: int, activation: str, gen: torch.Generator,
                 shared: bool = False):
        super().__init__()
        levels = int(round(math.log2(n_in)))
        if 2**levels != n_in or levels < 1:
            raise UserInputError(f"TreeNet needs a power of 2 >= 2 inputs, got {n_in}")
        self.act = _act(activation)
        self.n_in, self.k, self.shared = int(n_in), int(k), bool(shared)
        self.w1, self.b1, self.w2, self.b2 = (nn.ParameterList() for _ in range(4))
        for lvl in range(levels):
            nodes = 1 if shared else n_in >> (lvl + 1)
            self.w1.append(_uniform((nodes, 2, k), 2, gen))
            self.b1.append(_uniform((nodes, k), 2, gen))
            self.w2.append(_uniform((nodes, k), k, gen))
            self.b2.append(_uniform((nodes,), k, gen))

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for w1, b1, w2, b2 in zip(self.w1, self.b1, self.w2, self.b2):
            pairs = h.reshape(h.shape[0], -1, 2, 1)  # (N, nodes, 2, 1); w1: (nodes or 1, 2, k)
            z = self.act(pairs[:, :, 0] * w1[:, 0] + pairs[:, :, 1] * w1[:, 1] + b1)
            h = (z * w2).sum(-1) + b2
        return h.squeeze(-1)


def tree_width_for_budget(n_in: int, budget: int, shared: bool) -> int:
    """Largest node width ``k`` with tree parameters ``(#distinct nodes)(4k + 1) <= budget``."""
    levels = int(round(math.log2(n_in)))
    nodes = levels if shared else n_in - 1
    return max(1, (int(budget) // nodes - 1) // 4)


def binary_tree_function(x: np.ndarray) -> np.ndarray:
    """Poggio et al.'s 8-variable compositional function at the rows of ``x`` (shape (N, 8))."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 8:
        raise UserInputError("binary_tree_function expects shape (N, 8)")

    def h1a(a, b):
        return (a + 2 * b) ** 4 / 20

    def h1b(a, b):
        return (3 * a + 4 * b) ** 3 / 2

    def h2(a, b):
        return (5 * a + 6 * b) ** 2 / 50

    left = h2(h1a(x[:, 0], x[:, 1]), h1b(x[:, 2], x[:, 3]))
    right = h2(h1a(x[:, 4], x[:, 5]), h1b(x[:, 6], x[:, 7]))
    return 1.1 * np.sqrt(left + right / 100 + 1)


def fit_regression(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float,
                   loss: str = "mse", batch_size: int | None = None,
                   gen: torch.Generator | None = None) -> float:
    """Adam on ``loss`` (``"mse"`` or ``"l1"``), full batch unless ``batch_size``; final loss."""
    if loss not in ("mse", "l1"):
        raise UserInputError(f"loss must be 'mse' or 'l1', got {loss!r}")
    lossf = F.mse_loss if loss == "mse" else F.l1_loss
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[0]
    value = math.nan
    for _ in range(int(steps)):
        if batch_size is None or batch_size >= n:
            xb, yb = x, y
        else:
            idx = torch.randint(0, n, (int(batch_size),), generator=gen)
            xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        out = lossf(model(xb), yb)
        out.backward()
        opt.step()
        value = float(out.detach())
    return value
