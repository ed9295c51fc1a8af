"""2D Ising instruments against independent truths: Onsager's solution, exact enumeration,
Boltzmann visit frequencies and detailed balance on tiny lattices, seeded determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepscope import physics as ph
from deepscope.errors import UserInputError


def test_critical_point_and_onsager_values():
    assert ph.critical_temperature() == pytest.approx(2.269185314213022, abs=1e-12)
    assert ph.critical_coupling() == pytest.approx(0.4406867935097715, abs=1e-13)
    assert ph.onsager_magnetization(2.0) == pytest.approx(0.911319, abs=1e-6)
    assert ph.onsager_magnetization(2.3) == 0.0
    # energy at T_c is -sqrt(2); free energy at T_c: ln(2)/2 + 2G/pi (G = Catalan's constant)
    assert ph.onsager_energy(ph.critical_temperature()) == pytest.approx(-math.sqrt(2), abs=1e-9)
    catalan = 0.915965594177219
    assert ph.onsager_free_energy(ph.critical_temperature()) == pytest.approx(
        0.5 * math.log(2) + 2 * catalan / math.pi, abs=1e-9)


def test_onsager_energy_is_derivative_of_free_energy():
    K = np.array([0.25, 0.42, 0.47, 0.7])
    h = 1e-5
    fd = -(ph.onsager_free_energy(1 / (K + h)) - ph.onsager_free_energy(1 / (K - h))) / (2 * h)
    np.testing.assert_allclose(fd, ph.onsager_energy(1 / K), atol=1e-7)


def test_enumeration_against_brute_force_and_limits():
    E, M, g = ph.enumerate_ising2d(3)
    assert g.sum() == 2**9
    # brute force Z at T = 1.7 straight from all states
    idx = np.arange(2**9)[:, None]
    s = (((idx >> np.arange(9)) & 1) * 2 - 1).reshape(-1, 3, 3)
    e = -(s * np.roll(s, 1, 1) + s * np.roll(s, 1, 2)).sum(axis=(1, 2))
    w = np.exp(-e / 1.7)
    ex = ph.exact_averages(3, 1.7)
    assert ex.energy[0] == pytest.approx((w @ e) / w.sum() / 9, abs=1e-13)
    low, high = ph.exact_averages(4, [0.2, 1e4]), ph.exact_averages(4, 1e4)
    assert low.abs_m[0] == pytest.approx(1.0, abs=1e-9) and low.binder[0] == pytest.approx(2 / 3)
    assert high.energy[0] == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(UserInputError):
        ph.enumerate_ising2d(5)


@pytest.mark.parametrize("method", ["metropolis", "wolff"])
@pytest.mark.parametrize("T", [1.6, 2.269, 3.5])
def test_sampler_matches_enumeration_L4(method, T):
    e, m = ph.ising2d_timeseries(4, T, 60000, method, seed=11, n_sweeps_between=1, n_burn_in=100)
    ex = ph.exact_averages(4, T)
    for est, ref in ((ph.estimate(e), ex.energy[0]), (ph.estimate(np.abs(m)), ex.abs_m[0]),
                     (ph.estimate(m**2), ex.m2[0]), (ph.binder_stats(m), ex.binder[0])):
        assert abs(est.mean - ref) <= 3 * est.stderr + 1e-12, (est, ref)


def _state_index(samples):
    flat = (samples.reshape(len(samples), -1) > 0).astype(np.int64)
    return flat @ (1 << np.arange(flat.shape[1]))


def test_wolff_visit_frequencies_are_boltzmann_L2():
    T = 2.0
    samples = ph.sample_ising2d(2, T, 40000, "wolff", seed=5, n_sweeps_between=1, n_burn_in=50)
    idx = _state_index(samples)
    states = ((np.arange(16)[:, None] >> np.arange(4)) & 1) * 2 - 1
    energy = ph.lattice_energy(states.reshape(16, 2, 2)) * 4
    p = np.exp(-energy / T)
    p /= p.sum()
    for k in range(16):
        st = ph.estimate((idx == k).astype(float))
        assert abs(st.mean - p[k]) <= 4 * max(st.stderr, 1e-4), (k, st, p[k])


def test_metropolis_visits_energy_magnetisation_classes_L4():
    """Frequencies of every (E, M) class on L = 4 against g(E, M) e^{-E/T} / Z."""
    T = 2.5
    e, m = ph.ising2d_timeseries(4, T, 100000, "metropolis", seed=8, n_sweeps_between=1,
                                 n_burn_in=50)
    E, M, g = ph.enumerate_ising2d(4)
    w = g * np.exp(-(E - E.min()) / T)
    w /= w.sum()
    for k in np.flatnonzero(w > 1e-3):
        hit = (np.round(e * 16) == E[k]) & (np.round(m * 16) == M[k])
        st = ph.estimate(hit.astype(float))
        assert abs(st.mean - w[k]) <= 4 * st.stderr, (E[k], M[k], st, w[k])


def test_metropolis_L2_stripes_are_a_closed_class():
    """Documented quirk: on the 2 x 2 torus the zero-field stripe states have h = 0 everywhere,
    so the checkerboard (acceptance 1 at dE = 0) maps stripes onto stripes and never enters
    them from elsewhere; the L = 2 chain is not ergodic (L >= 4 is)."""
    samples = ph.sample_ising2d(2, 2.0, 2000, "metropolis", seed=5, n_sweeps_between=1)
    assert not np.isin(_state_index(samples), [3, 5, 10, 12]).any()


def test_wolff_detailed_balance_L2():
    """Wolff updates are reversible: pi_a P(a->b) = pi_b P(b->a), i.e. N(a->b) ~ N(b->a)."""
    samples = ph.sample_ising2d(2, 2.5, 60000, "wolff", seed=9, n_sweeps_between=1, n_burn_in=10)
    idx = _state_index(samples)
    counts = np.zeros((16, 16))
    np.add.at(counts, (idx[:-1], idx[1:]), 1)
    n = counts + counts.T
    mask = n > 50
    z = np.abs(counts - counts.T)[mask] / np.sqrt(n[mask])
    assert z.max() < 4.5


def test_wolff_and_metropolis_agree_L16():
    T = 2.4
    res = {}
    for method in ("wolff", "metropolis"):
        e, m = ph.ising2d_timeseries(16, T, 20000, method, seed=3, n_sweeps_between=1,
                                     n_burn_in=500)
        res[method] = (ph.estimate(e), ph.estimate(np.abs(m)))
    for k in range(2):
        a, b = res["wolff"][k], res["metropolis"][k]
        assert abs(a.mean - b.mean) <= 3 * math.hypot(a.stderr, b.stderr), (a, b)
    # Wolff decorrelates |m| faster than Metropolis near T_c
    assert res["wolff"][1].tau_int < res["metropolis"][1].tau_int


@pytest.mark.parametrize("method", ["metropolis", "wolff"])
def test_same_seed_same_chain(method):
    a = ph.sample_ising2d(8, 2.3, 20, method, seed=42, n_sweeps_between=2, n_burn_in=10)
    b = ph.sample_ising2d(8, 2.3, 20, method, seed=42, n_sweeps_between=2, n_burn_in=10)
    c = ph.sample_ising2d(8, 2.3, 20, method, seed=43, n_sweeps_between=2, n_burn_in=10)
    g = ph.sample_ising2d(8, 2.3, 20, method, seed=np.random.default_rng(42),
                          n_sweeps_between=2, n_burn_in=10)
    assert a.dtype == np.int8 and a.shape == (20, 8, 8) and set(np.unique(a)) <= {-1, 1}
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, g)
    assert not np.array_equal(a, c)


def test_timeseries_matches_samples():
    e, m, s = ph.ising2d_timeseries(8, 2.5, 6, "metropolis", seed=1, n_sweeps_between=3,
                                    n_burn_in=5, return_samples=True)
    np.testing.assert_allclose(ph.lattice_energy(s), e)
    np.testing.assert_allclose(s.mean(axis=(1, 2)), m)
    np.testing.assert_array_equal(s, ph.sample_ising2d(8, 2.5, 6, "metropolis", seed=1,
                                                       n_sweeps_between=3, n_burn_in=5))


def test_sampler_input_errors():
    with pytest.raises(UserInputError):
        ph.sample_ising2d(7, 2.0, 5, "metropolis")
    with pytest.raises(UserInputError):
        ph.sample_ising2d(8, -1.0, 5)
    with pytest.raises(UserInputError):
        ph.sample_ising2d(8, 2.0, 5, method="heatbath")


def test_low_temperature_magnetisation_L32():
    e, m = ph.ising2d_timeseries(32, 1.8, 3000, "wolff", seed=2, n_burn_in=200)
    st = ph.estimate(np.abs(m))
    # finite-size corrections are exponentially small far below T_c
    assert abs(st.mean - ph.onsager_magnetization(1.8)) < 3 * st.stderr + 2e-3
