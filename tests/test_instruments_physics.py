"""Tests of deepscope.physics (1D Ising decimation) against independent truths.

Brute-force enumeration of all 2^N states gives partition functions independent of the transfer
matrix; exact open-chain sampling checks tanh K -> tanh^2 K -> tanh^4 K under decimation.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from deepscope import physics as ph
from deepscope.errors import UserInputError


def _states(n: int) -> np.ndarray:
    """All 2^n spin configurations as a (2^n, n) array of +-1."""
    idx = np.arange(2**n)[:, None]
    return ((idx >> np.arange(n)) & 1) * 2 - 1


def _logsumexp(x: np.ndarray) -> float:
    m = x.max()
    return float(m + np.log(np.exp(x - m).sum()))


def brute_log_z(K: float, n: int, periodic: bool) -> float:
    s = _states(n)
    if periodic:
        bonds = (s * np.roll(s, -1, axis=1)).sum(axis=1)  # n bonds, i -> (i+1) mod n
    else:
        bonds = (s[:, 1:] * s[:, :-1]).sum(axis=1)
    return _logsumexp(K * bonds.astype(np.float64))


KS = [0.1, 0.7, 2.0, 10.0]


def test_flow_from_one_matches_reference_digits():
    flow = ph.decimation_flow(1.0, 5)
    assert flow.shape == (6,) and flow[0] == 1.0
    expected = [(0.6625, 4), (0.3501, 4), (0.1137, 4), (0.01281, 4), (1.64e-4, 3)]
    for got, (ref, sig) in zip(flow[1:], expected, strict=True):
        assert float(f"{got:.{sig}g}") == ref, (got, ref)
    assert np.all(np.diff(flow) < 0)


def test_decimate_vectorised_and_small_k_accurate():
    k = np.array([0.05, 0.3, 0.499, 0.5, 0.501, 3.0])  # both sides of the branch at 2K = 1
    kp = ph.decimate_1d(k)
    assert kp.shape == k.shape
    np.testing.assert_allclose(kp, 0.5 * np.log(np.cosh(2 * k)), rtol=1e-13, atol=0)
    # Series K' = K^2 - (2/3) K^4 + ... holds to full relative precision at small K.
    small = np.array([1e-8, 1e-5, 1e-4])
    np.testing.assert_allclose(ph.decimate_1d(small), small**2 - 2 / 3 * small**4, rtol=1e-12)
    assert ph.decimate_1d(-0.7) == ph.decimate_1d(0.7)
    assert isinstance(ph.decimate_1d(0.7), float)


@pytest.mark.parametrize("K", [50.0, 400.0, 1e5])
def test_large_k_is_stable(K):
    kp = ph.decimate_1d(K)
    assert math.isfinite(kp) and kp == pytest.approx(K - math.log(2) / 2, rel=1e-15)
    assert math.isfinite(ph.log_decimation_constant(K))
    assert math.isfinite(ph.free_energy_per_spin(K))
    assert math.isfinite(ph.log_partition_periodic(K, 64))
    assert ph.free_energy_per_spin(K) == pytest.approx(K, rel=1e-14)
    assert ph.decimation_constant(50.0) == pytest.approx(2 * math.sqrt(math.cosh(100.0)))
    assert abs(ph.free_energy_identity_residual(K)) < 1e-12 * K


@pytest.mark.parametrize("K", KS)
def test_thermodynamic_identity_to_roundoff(K):
    assert abs(ph.free_energy_identity_residual(K)) < 1e-12
    # and directly from the closed forms
    kp = ph.decimate_1d(K)
    lhs = math.log(2 * math.cosh(kp))
    rhs = 2 * math.log(2 * math.cosh(K)) - math.log(2 * math.sqrt(math.cosh(2 * K)))
    assert abs(lhs - rhs) < 1e-12


@pytest.mark.parametrize("K", [0.1, 0.7, 2.0, -0.7])
def test_periodic_and_open_partition_functions_against_enumeration(K):
    for n in range(1, 13):
        assert ph.log_partition_periodic(K, n) == pytest.approx(brute_log_z(K, n, True), rel=1e-13)
        assert ph.log_partition_open(K, n) == pytest.approx(brute_log_z(K, n, False), rel=1e-13)


@pytest.mark.parametrize("K", [0.1, 0.7, 2.0, -0.7])
def test_finite_decimation_identity_on_enumerated_partition_functions(K):
    kp = ph.decimate_1d(K)
    lnz = ph.log_decimation_constant(K)
    for n in range(2, 13, 2):
        residual = brute_log_z(K, n, True) - (n / 2 * lnz + brute_log_z(kp, n // 2, True))
        assert abs(residual) < 1e-12
        assert abs(ph.finite_decimation_residual(K, n)) < 1e-12


def test_decimation_constant_sums_out_a_spin():
    for K in [0.3, 1.5]:
        z, kp = ph.decimation_constant(K), ph.decimate_1d(K)
        for a in (1, -1):
            for b in (1, -1):
                summed = sum(math.exp(K * s * (a + b)) for s in (1, -1))
                assert summed == pytest.approx(z * math.exp(kp * a * b), rel=1e-14)


def test_transfer_matrix_eigenvalues_and_trace():
    K = 0.7
    t = ph.transfer_matrix(K)
    assert t.shape == (2, 2)
    ev = np.sort(np.linalg.eigvalsh(t))
    np.testing.assert_allclose(ev, [2 * math.sinh(K), 2 * math.cosh(K)], rtol=1e-14)
    for n in (3, 8):
        tr = np.trace(np.linalg.matrix_power(t, n))
        assert math.log(tr) == pytest.approx(ph.log_partition_periodic(K, n), rel=1e-14)


@pytest.mark.parametrize("K", KS + [50.0])
def test_tanh_identity_and_correlation_length_halves(K):
    assert abs(ph.tanh_identity_residual(K)) < 1e-15
    kp = ph.decimate_1d(K)
    assert ph.log_tanh(kp) == pytest.approx(2 * ph.log_tanh(K), rel=1e-12)
    assert ph.correlation_length(kp) == pytest.approx(ph.correlation_length(K) / 2, rel=1e-12)
    assert ph.nn_correlation(K) == pytest.approx(math.tanh(K), rel=1e-15)


def test_correlation_length_limits():
    assert ph.correlation_length(0.0) == 0.0
    assert ph.correlation_length(1.0) == pytest.approx(-1 / math.log(math.tanh(1.0)), rel=1e-14)
    assert math.isfinite(ph.correlation_length(50.0))
    assert ph.correlation_length(1000.0) == math.inf
    xi = ph.correlation_length(np.array([0.0, 0.5, 2.0]))
    assert xi.shape == (3,) and np.all(np.diff(xi) > 0)
    with pytest.raises(UserInputError):
        ph.correlation_length(-0.5)


def test_flow_derivative_and_fixed_points():
    ks = np.array([0.05, 0.5, 2.0])
    h = 1e-6
    fd = (ph.decimate_1d(ks + h) - ph.decimate_1d(ks - h)) / (2 * h)
    np.testing.assert_allclose(ph.flow_derivative(ks), fd, rtol=1e-7)
    assert abs(ph.flow_derivative(0.01)) < 1  # K* = 0 attracts
    zero, inf = ph.fixed_points_1d()
    assert zero.K == 0.0 and zero.stable and zero.dt_prime_dt < 1
    assert inf.K == math.inf and not inf.stable and inf.dt_prime_dt > 1
    assert ph.decimate_1d(0.0) == 0.0
    # flows: small K goes to 0, large K loses ~ln2/2 per step (moves away from infinity)
    assert ph.decimation_flow(0.1, 6)[-1] < 1e-30
    big = ph.decimation_flow(30.0, 3)
    np.testing.assert_allclose(np.diff(big), -math.log(2) / 2, rtol=1e-12)


def test_sampling_is_exact_and_reproducible():
    K = 0.8
    spins = ph.sample_chain(K, 2**16, 16, np.random.default_rng(7))
    assert spins.shape == (16, 2**16) and spins.dtype == np.int8
    assert set(np.unique(spins)) == {-1, 1}
    again = ph.sample_chain(K, 2**16, 16, np.random.default_rng(7))
    assert np.array_equal(spins, again)
    assert not np.array_equal(spins, ph.sample_chain(K, 2**16, 16, np.random.default_rng(8)))
    t = math.tanh(K)
    for level in range(3):
        mean, se = ph.nn_correlation_estimate(spins)
        truth = t ** (2**level)
        assert abs(mean - truth) < 3 * se, (level, mean, truth, se)
        assert abs(mean - truth) < 0.005
        assert 0 < se < 0.003
        spins = ph.decimate_samples(spins)
    assert spins.shape == (16, 2**13)  # three decimations ran


def test_sampling_extremes_and_first_spin():
    ordered = ph.sample_chain(50.0, 100, 200, np.random.default_rng(0))
    assert np.all(ordered == ordered[:, :1])
    assert 0.3 < (ordered[:, 0] == 1).mean() < 0.7
    anti = ph.sample_chain(-50.0, 10, 3, np.random.default_rng(0))
    assert np.all(anti[:, 1:] * anti[:, :-1] == -1)
    free = ph.sample_chain(0.0, 10_000, 4, np.random.default_rng(1))
    mean, se = ph.nn_correlation_estimate(free)
    assert abs(mean) < 3 * se
    assert ph.sample_chain(0.5, 1, 2, np.random.default_rng(0)).shape == (2, 1)


def test_bad_arguments_raise_user_input_error():
    rng = np.random.default_rng(0)
    with pytest.raises(UserInputError):
        ph.sample_chain(0.5, 10, 2, rng=0)
    with pytest.raises(UserInputError):
        ph.sample_chain(0.5, 0, 2, rng)
    with pytest.raises(UserInputError):
        ph.decimation_flow(1.0, -1)
    with pytest.raises(UserInputError):
        ph.finite_decimation_residual(0.5, 7)
    with pytest.raises(UserInputError):
        ph.log_partition_periodic(0.5, 0)
    with pytest.raises(UserInputError):
        ph.nn_correlation_estimate(np.ones((3, 1)))
    with pytest.raises(UserInputError):
        ph.decimate_1d(float("nan"))
    with pytest.raises(ValueError):  # UserInputError is a ValueError
        ph.decimate_1d("abc")


def test_physics_does_not_import_torch():
    code = (
        "import sys, deepscope.physics as p; p.decimate_1d(1.0); "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
