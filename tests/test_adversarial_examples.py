"""FGSM, the linear explanation and minimal L-BFGS distortions, against closed forms."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from deepscope.errors import UserInputError
from deepscope.experiments import adversarial_examples as ae


def _linear(w, b):
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
    got = ae.fgsm_direction(_linear(w, b), torch.from_numpy(x), torch.from_numpy(y)).numpy()
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
    model = _linear(w + np.eye(10, 4), np.zeros(10))
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    got = ae.margin_weights(model, x, torch.tensor([2])).numpy()
    expected = (w + np.eye(10, 4))[2] - (w + np.eye(10, 4))[9]
    assert np.array_equal(got[0], expected)


def test_resample_identity_and_block_means():
    x = torch.from_numpy(np.random.default_rng(5).uniform(0, 1, (3, 64)))
    assert torch.equal(ae.resample(x, 8), x)
    blocks = x.numpy().reshape(3, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(3, 16)
    assert np.allclose(ae.resample(x, 4).numpy(), blocks, rtol=0, atol=1e-15)
    assert ae.resample(x, 16).shape == (3, 256)


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
    model = _linear(weights, bias)
    x = 0.5 + 0.05 * np.sign(v)[None, :] * rng.uniform(0.2, 1.0, (4, n))   # class 0, interior
    target = torch.ones(4, dtype=torch.int64)
    r, ok = ae.lbfgs_minimal_distortion(model, torch.from_numpy(x), target, (1e-4, 1e2), 12)
    assert ok.all()
    exact = (x @ v) / np.linalg.norm(v)
    got = np.linalg.norm(r, axis=1)
    assert np.all(got >= exact * (1 - 1e-9))
    assert np.all(got <= exact * 1.25)
    assert np.all(x + r >= 0) and np.all(x + r <= 1)


def test_train_logistic_matches_scikit_learn_predictions():
    from sklearn.linear_model import LogisticRegression

    from deepscope.data import digits

    data = digits(seed=1, test_fraction=0.3)
    X = torch.tensor(data.X_train, dtype=torch.float64)
    model = ae.train_logistic(X, torch.tensor(data.y_train), 10.0)
    ref = LogisticRegression(C=10.0, tol=1e-4, max_iter=500).fit(data.X_train.astype(float),
                                                                  data.y_train)
    with torch.no_grad():
        pred = model(torch.tensor(data.X_test, dtype=torch.float64)).argmax(1).numpy()
    assert np.mean(pred == ref.predict(data.X_test.astype(float))) >= 0.99


@pytest.mark.parametrize("change", [{"n_seeds": 1}, {"eps_low": 0.3}, {"lr_c_strong": 20.0},
                                    {"sides": (4, 16, 32)}, {"adv_alpha": 1.0},
                                    {"lbfgs_c_range": (1.0, 0.1)}])
def test_config_validation(change):
    with pytest.raises(UserInputError):
        dataclasses.replace(ae.Config.quick(), **change).validate()


@pytest.fixture(scope="module")
def quick_result():
    return ae.run(ae.Config.quick(), np.random.default_rng(0))


def test_quick_preset_checks_computed(quick_result):
    r = quick_result
    names = {c.name for c in r.checks}
    assert {"fgsm_own_error", "fgsm_transfer", "random_sign_far_less_harmful",
            "linear_ratio_slope", "adversarial_training_reduces_error",
            "lbfgs_fools_every_model", "lbfgs_distortion_small"} <= names
    assert r.headline == "fgsm_own_error"
    assert r.verdict in ("reproduced", "not_reproduced", "inconclusive")
    assert all(c.outcome in ("pass", "fail", "inconclusive") for c in r.checks)
    assert all(c.stderr is not None for c in r.checks if c.kind == "statistical")
    assert r.deviations and set(r.figures) == {"fgsm_error_vs_eps", "linear_explanation",
                                               "minimal_distortion"}
    # FGSM at eps = 0 is the clean error; the error grows with eps for every model.
    err = r.arrays["fgsm_cross_error"]
    own = np.diagonal(err, axis1=2, axis2=3)
    assert np.allclose(own[:, 0], r.arrays["clean_error"][:, :3])
    assert np.all(own[:, -1] >= own[:, 0])
