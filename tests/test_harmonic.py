"""Harmonic-analysis instruments against closed forms and direct computation: scattering banks
and cascade, FISTA and dictionary learning, natural-image statistics, filter statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepscope import harmonic as hm


def test_embed_shift_is_exact_translation():
    x = np.arange(1.0, 41.0)[None]
    a, b = hm.embed(x, 256), hm.embed(x, 256, 3)
    np.testing.assert_array_equal(np.roll(a, 3, axis=1), b)


def test_gabor_dilation_closed_form():
    n, sigma, xi, s = 512, 40.0, 0.15, 0.02
    t = np.arange(n) - n / 2
    expected = np.exp(-((1 + s) * t) ** 2 / (2 * sigma**2)) * np.cos(2 * np.pi * xi * (1 + s) * t)
    np.testing.assert_allclose(hm.gabor(n, xi, sigma, s), expected, rtol=0, atol=1e-12)


def test_fourier_modulus_change_of_gaussian_shift():
    # Far from zero frequency the spectrum of a Gabor atom is a Gaussian of width 1/(2 pi sigma);
    # a dilation moves it by s xi, so the relative change is sqrt(2 (1 - exp(-d^2/4))), with d the
    # shift in widths (up to the small change of the width itself).
    n, sigma, xi, s = 4096, 40.0, 0.2, 0.005
    f0 = np.abs(np.fft.fft(hm.gabor(n, xi, sigma)))
    fs = np.abs(np.fft.fft(hm.gabor(n, xi, sigma, s)))
    d = s * xi * 2 * np.pi * sigma
    expected = math.sqrt(2 * (1 - math.exp(-d * d / 4)))
    assert hm.relative_change(f0[None], fs[None])[0] == pytest.approx(expected, rel=0.05)


def test_tight_frame_parseval_and_energy_closure():
    pytest.importorskip("kymatio")
    banks, dev = hm.scattering_banks(256, 5)
    assert dev < 1e-12
    rng = np.random.default_rng(1)
    x = rng.standard_normal(256)
    phi, psi = banks[0]
    # One layer, computed in the time domain: ||x * phi||^2 + sum ||x * psi||^2 = ||x||^2.
    conv = lambda h: np.fft.ifft(np.fft.fft(x) * h)  # noqa: E731
    total = np.sum(conv(phi).real ** 2) + sum(np.sum(np.abs(conv(h)) ** 2) for h in psi)
    assert total == pytest.approx(x @ x, rel=1e-12)
    e, rem, _ = hm.cascade(x, banks, 2)
    assert e.sum() + rem == pytest.approx(x @ x, rel=1e-12)
    assert e[0] == pytest.approx(np.sum(conv(phi).real ** 2), rel=1e-12)


def test_cascade_is_non_expansive_and_translation_covariant():
    pytest.importorskip("kymatio")
    banks, _ = hm.scattering_banks(256, 4)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, 256))
    sx, sy = (hm.cascade(v, banks, 2, True)[2] for v in (x, y))
    assert np.sum((sx - sy) ** 2) <= np.sum((x - y) ** 2)
    # Full-resolution coefficients of a circular shift are the shifted coefficients.
    sr = hm.cascade(np.roll(x, 5), banks, 2, True)[2].reshape(-1, 256)
    np.testing.assert_allclose(sr, np.roll(sx.reshape(-1, 256), 5, axis=1), atol=1e-10)


def test_fista_matches_soft_threshold_for_orthonormal_dictionary():
    # With orthonormal atoms the lasso solution is soft(D x, alpha) in closed form.
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    x = rng.standard_normal((50, 16)) * 2
    alpha = 0.7
    z = x @ q.T
    truth = np.sign(z) * np.maximum(np.abs(z) - alpha, 0)
    codes = hm.sparse_codes(q, x, alpha, steps=5)
    assert np.max(np.abs(codes - truth)) < 1e-12


def test_fista_satisfies_lasso_optimality_for_overcomplete_dictionary():
    rng = np.random.default_rng(2)
    d = rng.standard_normal((40, 16))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    x = rng.standard_normal((30, 16))
    alpha = 0.5
    a = hm.sparse_codes(d, x, alpha, steps=3000)
    g = (x - a @ d) @ d.T
    assert np.max(np.abs(g)) <= alpha * (1 + 1e-6)
    on = a != 0
    assert np.max(np.abs(g[on] - alpha * np.sign(a[on]))) < 1e-6


def test_dictionary_learning_recovers_sparse_generating_atoms():
    # Data from 8 orthonormal atoms with one active atom per sample: a dictionary of 16 atoms
    # (spare atoms avoid the local minima where one atom straddles two generators) contains
    # each generating atom up to sign.
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    true = q[:8]
    idx = rng.integers(8, size=4000)
    x = true[idx] * rng.choice([-3.0, 3.0], size=(4000, 1))
    d = hm.learn_dictionary(x, 16, 0.1, steps=100, batch=128, fista_steps=50, rng=rng)
    overlap = np.abs(true @ d.T).max(axis=1)
    assert np.all(overlap > 0.99)
    assert np.all(np.linalg.norm(d, axis=1) <= 1 + 1e-12)


def test_window_energy_fraction_brute_force():
    rng = np.random.default_rng(4)
    f = rng.standard_normal((3, 64))
    got = hm.window_energy_fraction(f, 8, 3)
    for i in range(3):
        e = f[i].reshape(8, 8) ** 2
        best = max(e[y:y + 3, x:x + 3].sum() for y in range(6) for x in range(6))
        assert got[i] == pytest.approx(best / e.sum(), abs=1e-12)
    delta = np.zeros((1, 64))
    delta[0, 27] = 1
    assert hm.window_energy_fraction(delta, 8, 3)[0] == pytest.approx(1.0)
    assert hm.window_energy_fraction(np.ones((1, 64)), 8, 3)[0] == pytest.approx(9 / 64)


def test_anisotropy_of_isotropic_and_oriented_filters():
    p = 16
    y, x = np.mgrid[0:p, 0:p] - (p - 1) / 2
    blob = np.exp(-(x**2 + y**2) / 8)
    # 4-fold symmetric spectrum: the second-moment tensor is a multiple of the identity.
    assert hm.anisotropy(blob.ravel()[None], p)[0] < 1e-12
    gabor = np.exp(-(x**2 + y**2) / 18) * np.cos(2 * np.pi * 0.25 * x)
    assert hm.anisotropy(gabor.ravel()[None], p)[0] > 0.9
    rotated = np.exp(-(x**2 + y**2) / 18) * np.cos(2 * np.pi * 0.25 * (x + y) / math.sqrt(2))
    assert hm.anisotropy(rotated.ravel()[None], p)[0] > 0.9


def test_radial_bandwidth_band_pass_versus_delta():
    p = 12
    y, x = np.mgrid[0:p, 0:p] - (p - 1) / 2
    gabor = np.exp(-(x**2 + y**2) / 8) * np.cos(2 * np.pi * 0.2 * x)
    peak, width = hm.radial_bandwidth(gabor.ravel()[None], p)
    assert abs(peak[0] - 0.2) < 0.03 and 0.5 < width[0] < 2.0
    delta = np.zeros((1, p * p))
    delta[0, 66] = 1
    assert np.isinf(hm.radial_bandwidth(delta, p)[1][0])  # flat spectrum: not band-pass


def test_kurtosis_closed_forms():
    rng = np.random.default_rng(5)
    g = rng.standard_normal((200000, 2))
    lap = rng.laplace(size=(200000, 1))
    assert np.allclose(hm.kurtosis(g), 3.0, atol=0.05)
    assert hm.kurtosis(lap)[0] == pytest.approx(6.0, abs=0.3)


def test_leaf_radii_follow_inverse_cube_density():
    rng = np.random.default_rng(6)
    r = hm.leaf_radii(200000, 2.0, 50.0, rng)
    assert r.min() >= 2.0 and r.max() <= 50.0
    # P(R > s) = (s^-2 - 50^-2) / (2^-2 - 50^-2) for density ~ r^-3.
    for s in (3.0, 6.0, 12.0):
        exact = (s**-2 - 50.0**-2) / (2.0**-2 - 50.0**-2)
        assert np.mean(r > s) == pytest.approx(exact, abs=0.005)


def test_dead_leaves_covers_image_with_disc_grey_levels():
    img, used = hm.dead_leaves(64, 4.0, np.random.default_rng(7))
    assert img.shape == (64, 64) and np.all(np.isfinite(img)) and used > 0
    assert img.min() >= 0 and img.max() < 1
    assert len(np.unique(img)) <= used


def test_whitening_filter_and_phase_randomisation_spectra():
    rng = np.random.default_rng(8)
    img = rng.standard_normal((32, 48))
    w = hm.whiten(img)
    assert w.std() == pytest.approx(1.0) and abs(w.mean()) < 1e-12
    r = hm.whitening_filter((32, 48))
    ratio = np.abs(np.fft.fft2(w)) / np.maximum(np.abs(np.fft.fft2(img - img.mean())), 1e-12)
    mask = r > 1e-3
    assert np.allclose(ratio[mask] / r[mask], (ratio[mask] / r[mask])[0], rtol=1e-8)
    pr = hm.phase_randomise(img, rng)
    assert np.allclose(np.abs(np.fft.fft2(pr)), np.abs(np.fft.fft2(img)), rtol=1e-8, atol=1e-8)


def test_sample_patches_are_windows_with_mean_removed():
    img = np.arange(400.0).reshape(20, 20)
    patches = hm.sample_patches([img], 10, 4, np.random.default_rng(9))
    assert patches.shape == (10, 16)
    assert np.allclose(patches.mean(axis=1), 0)
    # Every window of this ramp image, centred, is the same pattern.
    assert np.allclose(patches, patches[0])


def test_kurtosis_ratio_of_laplace_codes_over_gaussian_coefficients():
    # Laplace kurtosis 6 over Gaussian 3: ratio 2; the jackknife stderr covers the deviation.
    rng = np.random.default_rng(10)
    codes, pca = rng.laplace(size=(40000, 4)), rng.standard_normal((40000, 4))
    ratio, se = hm.kurtosis_ratio(codes, pca)
    assert 0 < se < 0.1
    assert abs(ratio - 2.0) < 4 * se + 0.02
