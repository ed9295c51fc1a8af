"""RG maps, statistics, RBM identities and mutual information against independent truths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepscope import physics as ph
from deepscope.errors import UserInputError


def test_decimate_1d_reexported():
    assert ph.decimate_1d(1.0) == pytest.approx(0.5 * math.log(math.cosh(2.0)))


def test_migdal_kadanoff_fixed_point():
    mk = ph.migdal_kadanoff(b=2)
    # independent: the real root of x^3 - x^2 - x - 1 (numpy), x = e^{2K*}
    roots = np.roots([1, -1, -1, -1])
    x = roots[np.abs(roots.imag) < 1e-12].real[0]
    assert abs(mk.K_star - 0.5 * math.log(x)) < 1e-8
    assert abs(0.5 * math.log(math.cosh(4 * mk.K_star)) - mk.K_star) < 1e-12
    assert mk.K_star == pytest.approx(0.30469, abs=1e-5)
    assert mk.nu == pytest.approx(1.338, abs=1e-3)
    assert mk.lambda_T == pytest.approx(2 * math.tanh(4 * mk.K_star), abs=1e-12)
    flow_hi = ph.migdal_kadanoff_flow(mk.K_star + 1e-3, 25)
    flow_lo = ph.migdal_kadanoff_flow(mk.K_star - 1e-3, 25)
    assert flow_hi[-1] > 10 and flow_lo[-1] < 1e-6


def test_migdal_kadanoff_b3_derivative_and_1d_limit():
    h = 1e-6
    for K in (0.1, 0.3, 0.8):
        fd = (ph.migdal_kadanoff_map(K + h, 3) - ph.migdal_kadanoff_map(K - h, 3)) / (2 * h)
        assert ph.migdal_kadanoff_derivative(K, 3) == pytest.approx(fd, rel=1e-7)
    # with b = 2 and no bond moving the map is the 1D decimation: tanh K' = tanh^2 K
    assert ph.migdal_kadanoff_map(0.35, 2, 2) == pytest.approx(ph.decimate_1d(0.7))
    with pytest.raises(UserInputError):
        ph.migdal_kadanoff(b=1)


def test_majority_rule_and_decimation():
    rng = np.random.default_rng(0)
    s = np.where(rng.random((5, 6, 6)) < 0.5, 1, -1).astype(np.int8)
    blocks = ph.majority_rule(s, 3)
    manual = np.sign(s.reshape(5, 2, 3, 2, 3).sum(axis=(2, 4)))
    np.testing.assert_array_equal(blocks, manual)
    ties = np.array([[[1, -1], [-1, 1]]], dtype=np.int8)
    assert ph.majority_rule(ties, 2, tie="corner")[0, 0, 0] == 1
    a = ph.majority_rule(np.tile(ties, (200, 1, 1)), 2, np.random.default_rng(1))
    b = ph.majority_rule(np.tile(ties, (200, 1, 1)), 2, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert 60 < (a == 1).sum() < 140
    with pytest.raises(UserInputError):
        ph.majority_rule(ties, 2)
    np.testing.assert_array_equal(ph.decimate_2d(s, 2), s[:, ::2, ::2])
    ordered = np.ones((2, 9, 9), np.int8)
    flow = ph.block_flow(ordered, 3, 2)
    np.testing.assert_allclose(flow["nn"], 1.0)
    assert list(flow["L"]) == [9, 3, 1]


def test_nn_correlation_is_minus_half_energy():
    s = ph.sample_ising2d(8, 2.5, 10, seed=0)
    np.testing.assert_allclose(ph.nn_correlation_2d(s), -0.5 * ph.lattice_energy(s))


def test_stats_tau_int_of_ar1():
    """AR(1) with coefficient a has tau_int = (1 + a) / (2 (1 - a))."""
    rng = np.random.default_rng(3)
    a, n = 0.8, 200000
    x = np.empty(n)
    x[0] = 0.0
    noise = rng.normal(size=n)
    for i in range(1, n):
        x[i] = a * x[i - 1] + noise[i]
    st = ph.estimate(x)
    assert st.tau_int == pytest.approx((1 + a) / (2 * (1 - a)), rel=0.1)
    assert st.window_closed and st.n_effective == pytest.approx(n / (2 * st.tau_int))
    exact_se = math.sqrt(1 / (1 - a * a) * 2 * st.tau_int / n)
    assert st.stderr == pytest.approx(exact_se, rel=0.1)


def test_jackknife_errors_shrink_and_cover():
    rng = np.random.default_rng(4)
    means = []
    for _ in range(200):
        m = rng.normal(0.0, 1.0, 400)
        means.append(ph.binder_stats(m))
    # Gaussian m: U = 0 exactly; the jackknife error should cover it ~99.7% within 3 SE
    z = np.array([s.mean / s.stderr for s in means])
    assert np.mean(np.abs(z) < 3) > 0.95
    assert np.mean([s.mean for s in means]) == pytest.approx(0.0, abs=0.02)


def test_rbm_identities_by_enumeration():
    rng = np.random.default_rng(5)
    rbm = ph.RBM(W=rng.normal(size=(4, 2)), a=rng.normal(size=4), b=rng.normal(size=2))
    res = ph.rg_identity_residuals(rbm, lambda v: -0.5 * ((2 * v - 1) @ np.ones(4)) ** 2)
    assert res["eq21"] < 1e-12 and res["eq22"] < 1e-12 and res["kl_identity"] < 1e-12
    assert res["kl"] > 1e-3 and res["trace_dev"] > 1e-3
    own = ph.rg_identity_residuals(rbm, rbm.hamiltonian_visible)
    assert own["trace_dev"] < 1e-12 and abs(own["kl"]) < 1e-12


def test_rbm_training_is_seeded_and_learns():
    rng = np.random.default_rng(0)
    data = (rng.random((300, 12)) < np.linspace(0.1, 0.9, 12)).astype(float)
    r1, err1 = ph.train_rbm(data, 4, np.random.default_rng(1), n_epochs=15)
    r2, _ = ph.train_rbm(data, 4, np.random.default_rng(1), n_epochs=15)
    np.testing.assert_array_equal(r1.W, r2.W)
    assert err1[-1] < err1[0]
    # visible biases learn the marginals
    p = r1.visible_prob(np.zeros((1, 4)))[0]
    assert np.corrcoef(p, data.mean(axis=0))[0, 1] > 0.9


def test_locality_measures():
    L = 10
    point = np.zeros((L * L, 1))
    point[3 * L + 4] = 1.0
    assert ph.window_mass_fraction(point, L, 3)[0] == pytest.approx(1.0)
    assert ph.radius_of_gyration(point, L)[0] == pytest.approx(0.0, abs=1e-12)
    flat = np.ones((L * L, 1))
    assert ph.window_mass_fraction(flat, L, 3)[0] == pytest.approx(0.09)
    # a 2 x 2 square across the periodic boundary: Rg^2 = 0.25 + 0.25
    sq = np.zeros((L, L))
    sq[np.ix_([9, 0], [9, 0])] = 1.0
    assert ph.radius_of_gyration(sq.reshape(-1, 1), L)[0] == pytest.approx(math.sqrt(0.5))
    fields = ph.receptive_fields([np.eye(3), 2 * np.eye(3)])
    np.testing.assert_array_equal(fields[1], 2 * np.eye(3))


def test_mutual_information_against_exact():
    """Binary symmetric channel: I = 1 - H2(eps) bits."""
    rng = np.random.default_rng(6)
    n, eps = 200000, 0.1
    x = (rng.random(n) < 0.5).astype(int)
    y = x ^ (rng.random(n) < eps)
    mi, se = ph.mutual_information(x, y)
    exact = 1 + eps * math.log2(eps) + (1 - eps) * math.log2(1 - eps)
    assert abs(mi - exact) < 4 * se
    indep, se0 = ph.mutual_information(x, (rng.random(n) < 0.5).astype(int))
    assert abs(indep) < 4 * se0 + 1e-5  # Miller-Madow removes the positive plug-in bias


def test_mutual_information_filters_consistent():
    rng = np.random.default_rng(2)
    s = ph.sample_ising2d(16, 2.4, 20, seed=1)
    block, env, group = ph.block_environment_codes(s)
    assert block.shape == (20 * 64, 4) and env.max() < 16
    filters = np.array([[1.0, 0, 0, 0], [1.0, 1, 1, 1]])
    mi, se, reps = ph.mutual_information_filters(block, env, group, filters, rng, 10)
    direct, _ = ph.mutual_information((block[:, 0] > 0).astype(int), env, group, 10)
    assert mi[0] == pytest.approx(direct, abs=1e-12)
    assert reps.shape == (2, 10) and len(ph.filter_grid()) == 624
