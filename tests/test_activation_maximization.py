"""Activation maximisation against closed forms, a linear-programming solver and hand counts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from deepscope.errors import UserInputError
from deepscope.experiments import activation_maximization as am

EPS = float(np.finfo(np.float64).eps)


def _linear(n_in=64, n_out=12, seed=3):
    gen = torch.Generator().manual_seed(seed)
    lin = torch.nn.Linear(n_in, n_out).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(n_out, n_in, generator=gen, dtype=torch.float64) * 0.3)
        lin.bias.copy_(torch.randn(n_out, generator=gen, dtype=torch.float64))
    return lin


def test_ball_ascent_reaches_the_cauchy_schwarz_maximiser():
    lin = _linear()
    rho = 2.0
    x0 = torch.from_numpy(np.random.default_rng(1).uniform(-0.2, 0.2, size=(12, 64)))
    w = lin.weight.detach().numpy()
    closed = rho * w / np.linalg.norm(w, axis=1, keepdims=True)
    x, err = am.unit_ascent(lin, x0, am.ball_update(rho, 1.0), 300, torch.from_numpy(closed))
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
    lin = _linear(n_in=20, n_out=5, seed=7)
    mean = torch.from_numpy(np.random.default_rng(3).uniform(size=20))
    p0 = torch.from_numpy(np.random.default_rng(4).uniform(size=(5, 20)))
    w = lin.weight.detach().numpy()
    pattern = torch.from_numpy((w > 0).astype(float))
    p, dist = am.unit_ascent(lin, p0, am.box_sign_update(0.05), 40, pattern, shift=mean)
    p = p.numpy()
    assert float(dist[20].max()) == 0.0 and float(dist[19].max()) > 0.0
    for j in range(5):
        lp = linprog(-w[j], bounds=[(0.0, 1.0)] * 20, method="highs")
        assert lp.status == 0
        assert np.array_equal(p[j], np.round(lp.x))
        assert np.array_equal(p[j], (w[j] > 0).astype(float))


def test_class_model_of_a_linear_score_is_w_over_two_lambda():
    lin = _linear(n_in=64, n_out=10, seed=11)
    for lam in (0.5, 3.0):
        x = am.class_models(lin, lam, 0.25, 300).numpy()
        closed = lin.weight.detach().numpy() / (2 * lam)
        assert np.max(np.abs(x - closed)) <= 1e-10 * np.max(np.abs(closed))


def test_label_purity_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3])
    scores = torch.tensor([[9.0, 0.0], [8.0, 1.0], [7.0, 2.0], [1.0, 9.0], [0.0, 8.0],
                           [2.0, 3.0], [3.0, 7.0], [4.0, 6.0]], dtype=torch.float64)
    # top-4 of column 0: rows 0, 1, 2, 7 -> labels 0, 0, 1, 3 -> 2/4;
    # column 1: rows 3, 4, 6, 7 -> labels 1, 1, 3, 3 -> 2/4; top-2 of column 1: 1, 1 -> 1.
    assert am.label_purity(scores, labels, 4).tolist() == [0.5, 0.5]
    assert am.label_purity(scores, labels, 2).tolist() == [1.0, 1.0]


def test_make_mlp_is_seeded_and_float64():
    a = am.make_mlp(16, torch.Generator().manual_seed(5))
    b = am.make_mlp(16, torch.Generator().manual_seed(5))
    for p, q in zip(a.parameters(), b.parameters()):
        assert p.dtype == torch.float64 and torch.equal(p, q)


@pytest.fixture(scope="module")
def quick_result():
    return am.run(am.Config.quick(), np.random.default_rng(0))


def test_quick_preset_checks(quick_result):
    res = quick_result
    by_name = {c.name: c for c in res.checks}
    evidence = {"unit_ball_maximiser", "unit_ball_activation", "unit_box_maximiser",
                "class_models_exceed_data", "class_models_match_own_mean",
                "class_models_beat_untrained_null", "random_directions_as_semantic",
                "random_directions_semantic"}
    assert {n for n, c in by_name.items() if c.role == "evidence"} == evidence
    assert res.headline_check().role == "evidence"
    assert all(c.stderr is None for c in res.checks if c.kind == "exact")
    assert all(c.stderr > 0 for c in res.checks if c.kind == "statistical")
    for c in res.checks:
        assert math.isfinite(float(c.measured)), c.name
    # The first-layer checks are exact identities that hold at every seed.
    for name in ("unit_ball_maximiser", "unit_ball_activation", "unit_box_maximiser"):
        assert by_name[name].outcome == "pass", name
    assert res.verdict in ("reproduced", "not_reproduced", "inconclusive")
    assert res.deviations and any("3 networks" in s for s in res.deviations)
    assert set(res.figures) == {"class_models", "first_layer_units", "feature_purity"}
    # Purities are shares of k = 8 images; chance is near the mean largest label share.
    pur = res.arrays["purity_layer2"]
    assert pur.shape == (3, 3) and np.all((pur >= 1 / 8) & (pur <= 1))
    assert 0.2 < res.measurements["purity_chance"].value < 0.4
    res.to_json()


def test_bit_reproducible_small_config():
    cfg = dataclasses.replace(am.Config.quick(), n_models=2, epochs=2, n_directions=10,
                              class_steps=20, ascent_steps=100)
    a = am.run(cfg, np.random.default_rng(0))
    b = am.run(cfg, np.random.default_rng(0))
    for key in a.arrays:
        assert np.array_equal(a.arrays[key], b.arrays[key]), key
    assert [c.measured for c in a.checks] == [c.measured for c in b.checks]


@pytest.mark.parametrize("change", [{"n_models": 1}, {"width": 0}, {"epochs": 0},
                                    {"sign_step": 0.0}, {"sign_step": 1.5},
                                    {"class_lambda": 0.0}, {"ball_radius": -1.0},
                                    {"top_k": 40}, {"match_threshold": 0.0}])
def test_config_validation(change):
    cfg = dataclasses.replace(am.Config(), **change)
    with pytest.raises(UserInputError):
        cfg.validate()
    with pytest.raises(UserInputError):
        am.run(cfg, np.random.default_rng(0))


def test_presets_share_the_protocol():
    full, quick = am.Config.full(), am.Config.quick()
    assert set(am.Config.QUICK) == {"n_models", "n_directions"}
    assert quick.class_lambda == full.class_lambda and quick.top_k == full.top_k
    assert quick.epochs == full.epochs and quick.purity_tolerance == full.purity_tolerance
