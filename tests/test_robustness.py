"""Robustness instruments against closed forms, enumeration, a linear program and hand counts:
FGSM, the linear explanation, box-constrained L-BFGS, activation maximisation, label purity."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from deepscope import robustness as rb

EPS = float(np.finfo(np.float64).eps)


def _frozen_linear(w, b):
    model = torch.nn.Linear(w.shape[1], w.shape[0]).double()
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(w))
        model.bias.copy_(torch.from_numpy(b))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def test_fgsm_direction_is_sign_of_closed_form_gradient():
    rng = np.random.default_rng(3)
    w, b = rng.standard_normal((10, 64)), rng.standard_normal(10)
    x, y = rng.uniform(0, 1, (20, 64)), rng.integers(0, 10, 20)
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(20), y] -= 1.0
    grad = p @ w                       # d CE / dx = W^T (softmax - e_y)
    got = rb.fgsm_direction(_frozen_linear(w, b), torch.from_numpy(x),
                            torch.from_numpy(y)).numpy()
    assert np.array_equal(got, np.sign(grad))


def test_sign_and_random_sign_activation_change_by_enumeration():
    w = np.random.default_rng(4).standard_normal(10)
    eps = 0.2
    assert abs(w @ (eps * np.sign(w)) - eps * np.abs(w).sum()) <= 10 * 1e-16 * np.abs(w).sum()
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=10)))
    second = np.mean((eps * signs @ w) ** 2)        # all 2^10 sign vectors: exact expectation
    assert second == pytest.approx(eps**2 * (w @ w), rel=1e-12)
    assert eps * np.abs(w).sum() > np.sqrt(second)


def test_margin_weights_pick_true_and_runner_up_rows():
    w = np.zeros((10, 4))
    w[:, 0] = np.arange(10.0)
    model = _frozen_linear(w + np.eye(10, 4), np.zeros(10))
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    got = rb.margin_weights(model, x, torch.tensor([2])).numpy()
    expected = (w + np.eye(10, 4))[2] - (w + np.eye(10, 4))[9]
    assert np.array_equal(got[0], expected)


def test_resample_identity_and_block_means():
    x = torch.from_numpy(np.random.default_rng(5).uniform(0, 1, (3, 64)))
    assert torch.equal(rb.resample(x, 8), x)
    blocks = x.numpy().reshape(3, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(3, 16)
    assert np.allclose(rb.resample(x, 4).numpy(), blocks, rtol=0, atol=1e-15)
    assert rb.resample(x, 16).shape == (3, 256)


def test_lbfgs_distortion_near_the_closed_form_minimum():
    """Two live classes with logits +-(w^T x): the smallest L2 step to flip the label is
    |w^T x| / ||w|| (distance to the hyperplane); the search must cross it, barely."""
    rng = np.random.default_rng(6)
    n = 16
    v = rng.standard_normal(n)
    weights = np.zeros((10, n))
    weights[0], weights[1] = v, -v
    bias = np.full(10, -100.0)
    bias[:2] = 0.0
    model = _frozen_linear(weights, bias)
    x = 0.5 + 0.05 * np.sign(v)[None, :] * rng.uniform(0.2, 1.0, (4, n))   # class 0, interior
    target = torch.ones(4, dtype=torch.int64)
    r, ok = rb.lbfgs_minimal_distortion(model, torch.from_numpy(x), target, (1e-4, 1e2), 12)
    assert ok.all()
    exact = (x @ v) / np.linalg.norm(v)
    got = np.linalg.norm(r, axis=1)
    assert np.all(got >= exact * (1 - 1e-9))
    assert np.all(got <= exact * 1.25)
    assert np.all(x + r >= 0) and np.all(x + r <= 1)


def _random_linear(n_in=64, n_out=12, seed=3):
    gen = torch.Generator().manual_seed(seed)
    lin = torch.nn.Linear(n_in, n_out).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(n_out, n_in, generator=gen, dtype=torch.float64) * 0.3)
        lin.bias.copy_(torch.randn(n_out, generator=gen, dtype=torch.float64))
    return lin


def test_ball_ascent_reaches_the_cauchy_schwarz_maximiser():
    lin = _random_linear()
    rho = 2.0
    x0 = torch.from_numpy(np.random.default_rng(1).uniform(-0.2, 0.2, size=(12, 64)))
    w = lin.weight.detach().numpy()
    closed = rho * w / np.linalg.norm(w, axis=1, keepdims=True)
    x, err = rb.unit_ascent(lin, x0, rb.ball_update(rho, 1.0), 300, torch.from_numpy(closed))
    assert np.max(np.linalg.norm(x.numpy() - closed, axis=1)) / rho <= 8 * 64 * EPS
    assert float(err[-1].max()) / rho <= 8 * 64 * EPS
    assert float(err[0].min()) / rho > 0.1  # the start is far from the maximiser
    assert np.all(np.linalg.norm(x.numpy(), axis=1) <= rho * (1 + 4 * EPS))
    # No point of the sphere does better (Monte Carlo on 20,000 random points).
    z = np.random.default_rng(2).standard_normal((20000, 64))
    z = rho * z / np.linalg.norm(z, axis=1, keepdims=True)
    b = lin.bias.detach().numpy()
    best = rho * np.linalg.norm(w, axis=1) + b
    assert np.all((z @ w.T + b).max(axis=0) < best)
    assert np.allclose((x.numpy() * w).sum(axis=1) + b, best, rtol=1e-14, atol=0)


def test_box_sign_ascent_matches_a_linear_program():
    lin = _random_linear(n_in=20, n_out=5, seed=7)
    mean = torch.from_numpy(np.random.default_rng(3).uniform(size=20))
    p0 = torch.from_numpy(np.random.default_rng(4).uniform(size=(5, 20)))
    w = lin.weight.detach().numpy()
    pattern = torch.from_numpy((w > 0).astype(float))
    p, dist = rb.unit_ascent(lin, p0, rb.box_sign_update(0.05), 40, pattern, shift=mean)
    p = p.numpy()
    assert float(dist[20].max()) == 0.0 and float(dist[19].max()) > 0.0
    for j in range(5):
        lp = linprog(-w[j], bounds=[(0.0, 1.0)] * 20, method="highs")
        assert lp.status == 0
        assert np.array_equal(p[j], np.round(lp.x))
        assert np.array_equal(p[j], (w[j] > 0).astype(float))


def test_class_model_of_a_linear_score_is_w_over_two_lambda():
    lin = _random_linear(n_in=64, n_out=10, seed=11)
    for lam in (0.5, 3.0):
        x = rb.class_models(lin, lam, 0.25, 300, n_classes=10, n_inputs=64).numpy()
        closed = lin.weight.detach().numpy() / (2 * lam)
        assert np.max(np.abs(x - closed)) <= 1e-10 * np.max(np.abs(closed))


def test_label_purity_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3])
    scores = torch.tensor([[9.0, 0.0], [8.0, 1.0], [7.0, 2.0], [1.0, 9.0], [0.0, 8.0],
                           [2.0, 3.0], [3.0, 7.0], [4.0, 6.0]], dtype=torch.float64)
    # top-4 of column 0: rows 0, 1, 2, 7 -> labels 0, 0, 1, 3 -> 2/4;
    # column 1: rows 3, 4, 6, 7 -> labels 1, 1, 3, 3 -> 2/4; top-2 of column 1: 1, 1 -> 1.
    assert rb.label_purity(scores, labels, 4).tolist() == [0.5, 0.5]
    assert rb.label_purity(scores, labels, 2).tolist() == [1.0, 1.0]


def test_sign_perturbation_stats_against_numpy_and_enumeration():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((5, 10))
    eps = 0.2
    ratio, residual, second = rb.sign_perturbation_stats(
        torch.from_numpy(w), eps, 4000, torch.Generator().manual_seed(1))
    l1, l2 = np.abs(w).sum(axis=1), np.linalg.norm(w, axis=1)
    np.testing.assert_allclose(ratio.numpy(), l1 / l2, rtol=1e-15)
    assert 0 <= residual <= 10 * EPS
    # Exact expectation over all 2^10 sign vectors is 1 per row; the draws scatter around it.
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=10)))
    exact = np.mean((signs @ w.T) ** 2 / l2**2, axis=0)
    np.testing.assert_allclose(exact, 1.0, rtol=1e-12)
    assert second.shape == (4000,)
    se = second.std(ddof=1) / math.sqrt(len(second))
    assert abs(second.mean() - 1.0) < 4 * se


def test_perturbation_errors_and_error_rate_by_brute_force():
    rng = np.random.default_rng(8)
    models = [_frozen_linear(rng.standard_normal((10, 16)), rng.standard_normal(10))
              for _ in range(2)]
    x, y = rng.uniform(0, 1, (50, 16)), rng.integers(0, 10, 50)
    dirs = [np.sign(rng.standard_normal((50, 16))) for _ in range(3)]
    grid = np.array([0.0, 0.1, 0.3])
    errs, excess = rb.perturbation_errors(models, torch.from_numpy(x), torch.from_numpy(y),
                                          [torch.from_numpy(d) for d in dirs], grid)
    assert errs.shape == (3, 3, 2) and excess <= 4 * EPS
    for e, eps in enumerate(grid):
        for s, d in enumerate(dirs):
            xa = np.clip(x + eps * d, 0, 1)
            for t, m in enumerate(models):
                z = xa @ m.weight.numpy().T + m.bias.numpy()
                assert errs[e, s, t] == np.mean(z.argmax(1) != y)
                assert errs[e, s, t] == rb.error_rate(m, torch.from_numpy(xa),
                                                      torch.from_numpy(y))
