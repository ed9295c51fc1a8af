"""critical-point-index: closed forms checked directly, the quick preset's checks computed."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from conftest import quick_verdict
from deepscope.curvature import _free_probability as fp
from deepscope.errors import UserInputError
from deepscope.experiments import critical_point_index as exp


def test_paper_values_of_eq21():
    # P-B Eq. 21 at phi = 1/4 and 1/2, evaluated by hand
    assert fp.critical_epsilon_closed_form(0.25) == pytest.approx(
        (1 - 5 - 0.5 + 3**1.5) / 16, rel=1e-15)
    assert fp.critical_epsilon_closed_form(0.5) == pytest.approx((1 - 10 - 2 + 5**1.5) / 16,
                                                                 rel=1e-15)


def test_exponent_of_free_index_is_three_halves():
    phi = 0.25
    ec = fp.critical_epsilon(phi)
    d = np.array([5e-4, 1e-3])
    a = [fp.free_index(ec * (1 + x), phi) for x in d]
    slope = math.log(a[1] / a[0]) / math.log(2)
    assert abs(slope - 1.5) < 2e-3


def test_toy_newton_and_saddle_free_newton_closed_form():
    # independent of the module: f = x^2 - y^2 + y^4/4, g = (2x, -2y + y^3), H = diag(2, 3y^2 - 2)
    def step(x, y, sfn):
        hy = 3 * y * y - 2
        hy = abs(hy) if sfn else hy
        return x - 2 * x / 2, y - (-2 * y + y**3) / hy

    x, y = 1.0, 1e-3
    for _ in range(20):
        x, y = step(x, y, False)
    assert math.hypot(x, y) < 1e-6
    x, y = 1.0, 1e-3
    for _ in range(60):
        x, y = step(x, y, True)
    assert abs(abs(y) - math.sqrt(2)) < 1e-12 and x == 0.0


@pytest.fixture(scope="module")
def quick_result():
    return exp.run(exp.Config.quick(), np.random.default_rng(0))


def test_quick_preset_checks(quick_result):
    r = quick_result
    names = {c.name for c in r.checks}
    assert {"eps_c_edge_vs_eq21_phi0p5", "alpha_exponent_phi0p5", "newton_reaches_saddle",
            "sfn_escapes_saddle", "index_loss_spearman_phi0p5"} <= names
    assert all(c.outcome == "pass" for c in r.checks if c.role == "sanity")
    assert r.verdict == quick_verdict("critical-point-index")
    assert r.deviations and "alpha_vs_eps" in r.figures and "index_vs_loss" in r.figures
    by = {c.name: c for c in r.checks}
    assert by["eps_c_edge_vs_eq21_phi0p5"].outcome == "pass"
    assert by["newton_reaches_saddle"].outcome == "pass"
    assert by["sfn_escapes_saddle"].outcome == "pass"
    assert r.headline in names


def test_config_validation():
    with pytest.raises(UserInputError):
        dataclasses.replace(exp.Config.quick(), phis=(1.5,)).validate()
    with pytest.raises(UserInputError):
        dataclasses.replace(exp.Config.quick(), checked_ratios=(7.0,)).validate()
    with pytest.raises(UserInputError):
        dataclasses.replace(exp.Config.quick(), matrix_draws=1).validate()
    exp.Config.quick().validate()
    exp.Config.full().validate()
