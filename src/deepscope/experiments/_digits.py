"""A centred float64 subset of scikit-learn's digits with one-hot targets, drawn from a generator.

Shared by the curvature experiments that train small MLPs on digits under the squared loss.
The train split is the one of ``deepscope.data.digits(seed=0)``; only the subset follows ``rng``.
"""

from __future__ import annotations

import numpy as np

N_CLASSES = 10


def digits_subset(n_samples: int, rng: np.random.Generator):
    """``(X, labels, Y)``: ``n_samples`` training images centred per pixel (float64), their
    labels (int64) and one-hot targets (float64), chosen without replacement by ``rng``."""
    import torch

    from ..data import digits

    data = digits(seed=0)
    idx = rng.choice(data.n_train, size=n_samples, replace=False)
    X = torch.tensor(data.X_train[idx], dtype=torch.float64)
    X = X - X.mean(dim=0)
    labels = torch.tensor(data.y_train[idx], dtype=torch.int64)
    Y = torch.nn.functional.one_hot(labels, N_CLASSES).to(torch.float64)
    return X, labels, Y
