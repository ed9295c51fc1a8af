"""Tests of the scattering-invariance experiment against closed forms and direct computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepscope.errors import UserInputError
from deepscope.experiments import scattering_invariance as si

pytest.importorskip("kymatio")


def test_embed_shift_is_exact_translation():
    x = np.arange(1.0, 41.0)[None]
    a, b = si.embed(x, 256), si.embed(x, 256, 3)
    np.testing.assert_array_equal(np.roll(a, 3, axis=1), b)


def test_gabor_dilation_closed_form():
    n, sigma, xi, s = 512, 40.0, 0.15, 0.02
    t = np.arange(n) - n / 2
    expected = np.exp(-((1 + s) * t) ** 2 / (2 * sigma**2)) * np.cos(2 * np.pi * xi * (1 + s) * t)
    np.testing.assert_allclose(si.gabor(n, xi, sigma, s), expected, rtol=0, atol=1e-12)


def test_fourier_modulus_change_of_gaussian_shift():
    # Far from zero frequency the spectrum of a Gabor atom is a Gaussian of width 1/(2 pi sigma);
    # a dilation moves it by s xi, so the relative change is sqrt(2 (1 - exp(-d^2/4))), with d the
    # shift in widths (up to the small change of the width itself).
    n, sigma, xi, s = 4096, 40.0, 0.2, 0.005
    f0 = np.abs(np.fft.fft(si.gabor(n, xi, sigma)))
    fs = np.abs(np.fft.fft(si.gabor(n, xi, sigma, s)))
    d = s * xi * 2 * np.pi * sigma
    expected = math.sqrt(2 * (1 - math.exp(-d * d / 4)))
    assert si.relative_change(f0[None], fs[None])[0] == pytest.approx(expected, rel=0.05)


def test_tight_frame_parseval_and_energy_closure():
    banks, dev = si.scattering_banks(256, 5)
    assert dev < 1e-12
    rng = np.random.default_rng(1)
    x = rng.standard_normal(256)
    phi, psi = banks[0]
    # One layer, computed in the time domain: ||x * phi||^2 + sum ||x * psi||^2 = ||x||^2.
    conv = lambda h: np.fft.ifft(np.fft.fft(x) * h)  # noqa: E731
    total = np.sum(conv(phi).real ** 2) + sum(np.sum(np.abs(conv(h)) ** 2) for h in psi)
    assert total == pytest.approx(x @ x, rel=1e-12)
    e, rem, _ = si.cascade(x, banks, 2)
    assert e.sum() + rem == pytest.approx(x @ x, rel=1e-12)
    assert e[0] == pytest.approx(np.sum(conv(phi).real ** 2), rel=1e-12)


def test_cascade_is_non_expansive_and_translation_covariant():
    banks, _ = si.scattering_banks(256, 4)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, 256))
    sx, sy = (si.cascade(v, banks, 2, True)[2] for v in (x, y))
    assert np.sum((sx - sy) ** 2) <= np.sum((x - y) ** 2)
    # Full-resolution coefficients of a circular shift are the shifted coefficients.
    sr = si.cascade(np.roll(x, 5), banks, 2, True)[2].reshape(-1, 256)
    np.testing.assert_allclose(sr, np.roll(sx.reshape(-1, 256), 5, axis=1), atol=1e-10)


def test_config_validation():
    with pytest.raises(UserInputError):
        si.Config(J=7).validate()
    with pytest.raises(UserInputError):
        si.Config(window=300).validate()
    with pytest.raises(UserInputError):
        si.Config(n_seeds=1).validate()
    si.Config().validate()
    si.Config.quick().validate()


@pytest.fixture(scope="module")
def quick_result():
    return si.run(si.Config.quick(), np.random.default_rng(0))


def test_quick_checks_computed(quick_result):
    r = quick_result
    names = {c.name for c in r.checks}
    assert {"translation_change_j6_c4", "energy_orders_le_2", "scattering_linear_vs_cnn"} <= names
    assert all(np.isfinite(c.measured) for c in r.checks)
    assert any(c.role == "evidence" for c in r.checks)
    assert r.verdict in ("reproduced", "not_reproduced", "inconclusive")
    assert r.deviations and r.figures
    # Translation change halves when J grows by one at c 2^-J <= 1/2 (the c 2^-J law).
    ch = r.arrays["translation_change"]
    assert 0.35 < ch[-1, 0] / ch[-2, 0] < 0.65
    # Energy fractions and remainder add up to one for every signal.
    np.testing.assert_allclose(r.arrays["energy_fractions"].sum(axis=1), 1.0, atol=1e-12)


def test_bit_reproducible(quick_result):
    again = si.run(si.Config.quick(), np.random.default_rng(0))
    for a, b in zip(quick_result.checks, again.checks):
        assert a.measured == b.measured
