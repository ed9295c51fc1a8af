"""Expressivity and physics experiments: citations, presets, refusals and their helpers.

Quick presets are exercised by the contract suite (tests/test_contract.py); full presets are
compared with the recorded verdicts in tests/test_full_presets.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepscope.errors import UserInputError
from deepscope.registry import get

IDS = [
    "multiplication-gate",
    "square-and-bit-product-gates",
    "polynomial-compiler",
    "no-flattening",
    "physics-ml-dictionary",
    "markov-hierarchy-information",
    "rg-trace-condition",
    "compositional-deep-vs-shallow",
]


@pytest.mark.parametrize("experiment_id", IDS)
def test_registered_with_citations(experiment_id):
    from deepscope.citations import REFERENCES

    spec = get(experiment_id)
    assert set(spec.citations) <= set(REFERENCES)
    quick, full = spec.config_cls.quick(), spec.config_cls.full()
    assert quick != full or not spec.config_cls.QUICK


def test_config_validation_refuses_bad_values():
    import dataclasses

    for experiment_id, change in [
        ("polynomial-compiler", {"lams": (0.1,)}),
        ("no-flattening", {"depths": (2, 3)}),
        ("no-flattening", {"compare_depth": 1}),
        ("rg-trace-condition", {"k_scale": 0.0}),
        ("markov-hierarchy-information", {"n_bits": 7}),
    ]:
        cls = get(experiment_id).config_cls
        with pytest.raises(UserInputError):
            dataclasses.replace(cls.full(), **change).validate()


def test_gate_slope_tolerance_bounds_a_known_next_order_curve():
    from deepscope.experiments.multiplication_gate import slope_tolerance
    from deepscope.expressivity._gates import fit_loglog_slope

    lams = np.array([0.3, 0.1, 0.03, 0.01])
    kappa = 0.5
    err = lams**2 * (1 + kappa * lams**2)  # next-order term of relative size exactly kappa l^2
    slope = fit_loglog_slope(lams, err)[0]
    assert 0 < slope - 2 <= slope_tolerance(lams, kappa, 1.0)


def test_polynomial_error_expansion_matches_the_gate_next_order_term():
    import sympy

    from deepscope.experiments.polynomial_compiler import error_expansion
    from deepscope.expressivity import compile_polynomial
    from deepscope.expressivity._gates import next_order_relative_error

    x, y = sympy.symbols("x y")
    report = compile_polynomial(x * y, "softplus", 0.1).report
    a_fn, _ = error_expansion(report, "softplus")
    pts = np.random.default_rng(1).uniform(-1, 1, (50, 2))
    u, v = pts.T
    expected = u * v * next_order_relative_error("softplus", 1.0, u, v)
    np.testing.assert_allclose(a_fn(pts), expected, rtol=1e-12, atol=1e-15)


def test_rg_enumeration_matches_closed_form_and_sees_a_satisfied_trace_condition():
    from deepscope.experiments.rg_trace_condition import enumerate_counterexample
    from deepscope.expressivity import ising_energies, rg_counterexample

    rng = np.random.default_rng(5)
    J, h, K = rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=8)
    enum = enumerate_counterexample(J, h, K)
    res = rg_counterexample(ising_energies(J, h, 3), ising_energies(J, h, 3), K)
    assert np.allclose(enum["trace"], res["trace_formula"], rtol=1e-12)
    assert abs(enum["Z_tot"] / enum["Z"] - 1) < 1e-12 and enum["kl"] > 1e-3
    flat = enumerate_counterexample(J, h, np.full(8, 0.7))  # constant K: Tr_h e^T = 1
    assert np.max(np.abs(flat["trace"] - 1)) < 1e-12 and abs(flat["kl"]) < 1e-12


def test_exp_layer_fit_needs_four_neurons_for_two_inputs():
    import dataclasses

    from deepscope.experiments.no_flattening import Config, best_exp_layer_fit

    config = dataclasses.replace(Config(), lsq_points=200, lsq_restarts=2)
    assert best_exp_layer_fit(2, 3, config, np.random.default_rng(7)) > 0.1
    assert best_exp_layer_fit(2, 4, config, np.random.default_rng(7)) < 0.01


def test_exp_layer_jacobian_matches_finite_differences():
    from deepscope.experiments.no_flattening import exp_layer_problem

    rng = np.random.default_rng(3)
    u = rng.uniform(-1.0, 1.0, size=(50, 3))
    residual, jacobian = exp_layer_problem(u, np.prod(u, axis=1), 5)
    a = rng.normal(0.0, 0.7, size=15)
    fd = np.empty((50, 15))
    for k in range(15):
        step = np.zeros(15)
        step[k] = 1e-6
        fd[:, k] = (residual(a + step) - residual(a - step)) / 2e-6
    np.testing.assert_allclose(jacobian(a), fd, rtol=1e-5, atol=1e-8)
