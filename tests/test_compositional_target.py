"""The compositional-deep-vs-shallow target, its variance shares and the cosine fit loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from deepscope.errors import UserInputError
from deepscope.expressivity._compositional import (
    fit_cosine,
    sensitivity_indices,
    shared_tree_function,
    tree_constituent,
)
from deepscope.registry import get


def test_constituent_maps_the_square_onto_itself():
    g = np.linspace(-1.0, 1.0, 201)
    a, b = np.meshgrid(g, g)
    h = tree_constituent(a, b)
    assert h.min() == pytest.approx(-1.0) and h.max() == pytest.approx(1.0)
    np.testing.assert_allclose(h, tree_constituent(b, a))


def test_tree_function_is_the_nested_constituent_and_symmetric():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(50, 8))
    h = tree_constituent
    direct = h(h(h(x[:, 0], x[:, 1]), h(x[:, 2], x[:, 3])),
               h(h(x[:, 4], x[:, 5]), h(x[:, 6], x[:, 7])))
    np.testing.assert_allclose(shared_tree_function(x), direct)
    swapped = x[:, [4, 5, 6, 7, 1, 0, 2, 3]]  # swap halves, then a pair inside one half
    np.testing.assert_allclose(shared_tree_function(swapped), direct)
    with pytest.raises(UserInputError):
        shared_tree_function(x[:, :6])


def test_every_variable_carries_a_comparable_share():
    first, first_se, total, total_se = sensitivity_indices(
        shared_tree_function, 8, 4_000, np.random.default_rng(2))
    assert np.all(np.abs(total - total.mean()) < 5 * total_se + 1e-12)
    assert total.min() > 0.15 and first.sum() < total.sum()


def test_sensitivity_indices_of_an_additive_function():
    def func(x):
        return x[:, 0] + 2.0 * x[:, 1]

    first, _, total, _ = sensitivity_indices(func, 3, 20_000, np.random.default_rng(3))
    np.testing.assert_allclose(first, [0.2, 0.8, 0.0], atol=0.03)
    np.testing.assert_allclose(total, [0.2, 0.8, 0.0], atol=0.03)


def test_fit_cosine_reduces_the_loss():
    from deepscope.expressivity import DenseNet

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(256, 2, generator=gen)
    y = x[:, 0] - x[:, 1]
    model = DenseNet(2, [8], "relu", gen)
    with torch.no_grad():
        start = float(((model(x) - y) ** 2).mean())
    final = fit_cosine(model, x, y, steps=200, lr=0.02, batch_size=64, gen=gen)
    assert final < 0.1 * start


def test_config_refuses_one_seed():
    cls = get("compositional-deep-vs-shallow").config_cls
    with pytest.raises(UserInputError):
        dataclasses.replace(cls.full(), seeds=1).validate()
