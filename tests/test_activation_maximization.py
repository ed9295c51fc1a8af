"""Activation maximisation against closed forms, a linear-programming solver and hand counts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from conftest import quick_verdict
from deepscope.errors import UserInputError
from deepscope.experiments import activation_maximization as am

EPS = float(np.finfo(np.float64).eps)


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
    evidence = {"class_models_exceed_data", "class_models_match_own_mean",
                "class_models_beat_untrained_null", "random_directions_as_semantic",
                "random_directions_semantic"}
    assert {n for n, c in by_name.items() if c.role == "evidence"} == evidence
    assert {by_name[n].role for n in ("unit_ball_maximiser", "unit_ball_activation",
                                      "unit_box_maximiser")} == {"sanity"}
    assert res.headline_check().role == "evidence"
    assert all(c.stderr is None for c in res.checks if c.kind == "exact")
    assert all(c.stderr > 0 for c in res.checks if c.kind == "statistical")
    for c in res.checks:
        assert math.isfinite(float(c.measured)), c.name
    # The first-layer checks are exact identities that hold at every seed.
    for name in ("unit_ball_maximiser", "unit_ball_activation", "unit_box_maximiser"):
        assert by_name[name].outcome == "pass", name
    assert res.verdict == quick_verdict("activation-maximization")
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
