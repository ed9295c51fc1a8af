"""Sparse coding of image patches: solver, filter measures and images against closed forms."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from deepscope.errors import UserInputError
from deepscope.experiments import sparse_coding_filters as scf


def test_fista_matches_soft_threshold_for_orthonormal_dictionary():
    # With orthonormal atoms the lasso solution is soft(D x, alpha) in closed form.
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    x = rng.standard_normal((50, 16)) * 2
    alpha = 0.7
    z = x @ q.T
    truth = np.sign(z) * np.maximum(np.abs(z) - alpha, 0)
    codes = scf.sparse_codes(q, x, alpha, steps=5)
    assert np.max(np.abs(codes - truth)) < 1e-12


def test_fista_satisfies_lasso_optimality_for_overcomplete_dictionary():
    rng = np.random.default_rng(2)
    d = rng.standard_normal((40, 16))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    x = rng.standard_normal((30, 16))
    alpha = 0.5
    a = scf.sparse_codes(d, x, alpha, steps=3000)
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
    d = scf.learn_dictionary(x, 16, 0.1, steps=100, batch=128, fista_steps=50, rng=rng)
    overlap = np.abs(true @ d.T).max(axis=1)
    assert np.all(overlap > 0.99)
    assert np.all(np.linalg.norm(d, axis=1) <= 1 + 1e-12)


def test_window_energy_fraction_brute_force():
    rng = np.random.default_rng(4)
    f = rng.standard_normal((3, 64))
    got = scf.window_energy_fraction(f, 8, 3)
    for i in range(3):
        e = f[i].reshape(8, 8) ** 2
        best = max(e[y:y + 3, x:x + 3].sum() for y in range(6) for x in range(6))
        assert got[i] == pytest.approx(best / e.sum(), abs=1e-12)
    delta = np.zeros((1, 64))
    delta[0, 27] = 1
    assert scf.window_energy_fraction(delta, 8, 3)[0] == pytest.approx(1.0)
    assert scf.window_energy_fraction(np.ones((1, 64)), 8, 3)[0] == pytest.approx(9 / 64)


def test_anisotropy_of_isotropic_and_oriented_filters():
    p = 16
    y, x = np.mgrid[0:p, 0:p] - (p - 1) / 2
    blob = np.exp(-(x**2 + y**2) / 8)
    # 4-fold symmetric spectrum: the second-moment tensor is a multiple of the identity.
    assert scf.anisotropy(blob.ravel()[None], p)[0] < 1e-12
    gabor = np.exp(-(x**2 + y**2) / 18) * np.cos(2 * np.pi * 0.25 * x)
    assert scf.anisotropy(gabor.ravel()[None], p)[0] > 0.9
    rotated = np.exp(-(x**2 + y**2) / 18) * np.cos(2 * np.pi * 0.25 * (x + y) / math.sqrt(2))
    assert scf.anisotropy(rotated.ravel()[None], p)[0] > 0.9


def test_radial_bandwidth_band_pass_versus_delta():
    p = 12
    y, x = np.mgrid[0:p, 0:p] - (p - 1) / 2
    gabor = np.exp(-(x**2 + y**2) / 8) * np.cos(2 * np.pi * 0.2 * x)
    peak, width = scf.radial_bandwidth(gabor.ravel()[None], p)
    assert abs(peak[0] - 0.2) < 0.03 and 0.5 < width[0] < 2.0
    delta = np.zeros((1, p * p))
    delta[0, 66] = 1
    assert np.isinf(scf.radial_bandwidth(delta, p)[1][0])  # flat spectrum: not band-pass


def test_kurtosis_closed_forms():
    rng = np.random.default_rng(5)
    g = rng.standard_normal((200000, 2))
    lap = rng.laplace(size=(200000, 1))
    assert np.allclose(scf.kurtosis(g), 3.0, atol=0.05)
    assert scf.kurtosis(lap)[0] == pytest.approx(6.0, abs=0.3)


def test_leaf_radii_follow_inverse_cube_density():
    rng = np.random.default_rng(6)
    r = scf.leaf_radii(200000, 2.0, 50.0, rng)
    assert r.min() >= 2.0 and r.max() <= 50.0
    # P(R > s) = (s^-2 - 50^-2) / (2^-2 - 50^-2) for density ~ r^-3.
    for s in (3.0, 6.0, 12.0):
        exact = (s**-2 - 50.0**-2) / (2.0**-2 - 50.0**-2)
        assert np.mean(r > s) == pytest.approx(exact, abs=0.005)


def test_dead_leaves_covers_image_with_disc_grey_levels():
    img, used = scf.dead_leaves(64, 4.0, np.random.default_rng(7))
    assert img.shape == (64, 64) and np.all(np.isfinite(img)) and used > 0
    assert img.min() >= 0 and img.max() < 1
    assert len(np.unique(img)) <= used


def test_whitening_filter_and_phase_randomisation_spectra():
    rng = np.random.default_rng(8)
    img = rng.standard_normal((32, 48))
    w = scf.whiten(img)
    assert w.std() == pytest.approx(1.0) and abs(w.mean()) < 1e-12
    r = scf.whitening_filter((32, 48))
    ratio = np.abs(np.fft.fft2(w)) / np.maximum(np.abs(np.fft.fft2(img - img.mean())), 1e-12)
    mask = r > 1e-3
    assert np.allclose(ratio[mask] / r[mask], (ratio[mask] / r[mask])[0], rtol=1e-8)
    pr = scf.phase_randomise(img, rng)
    assert np.allclose(np.abs(np.fft.fft2(pr)), np.abs(np.fft.fft2(img)), rtol=1e-8, atol=1e-8)


def test_sample_patches_are_windows_with_mean_removed():
    img = np.arange(400.0).reshape(20, 20)
    patches = scf.sample_patches([img], 10, 4, np.random.default_rng(9))
    assert patches.shape == (10, 16)
    assert np.allclose(patches.mean(axis=1), 0)
    # Every window of this ramp image, centred, is the same pattern.
    assert np.allclose(patches, patches[0])


def test_photographs_ship_with_scikit_learn():
    photos = scf.photographs()
    assert len(photos) == 2 and all(p.shape == (427, 640) for p in photos)


def test_config_validation():
    with pytest.raises(UserInputError):
        dataclasses.replace(scf.Config(), patch=4).validate()
    with pytest.raises(UserInputError):
        dataclasses.replace(scf.Config(), alpha=0.0).validate()
    with pytest.raises(UserInputError):
        dataclasses.replace(scf.Config(), n_patches=10).validate()
    scf.Config.quick().validate()


def test_quick_preset_computes_every_check():
    cfg = dataclasses.replace(scf.Config.quick(), photographs=False, n_images=2, steps=20,
                              n_test=200)
    res = scf.run(cfg, np.random.default_rng(0))
    names = {c.name for c in res.checks}
    assert {"atoms_localised", "pca_not_localised", "atoms_oriented", "atoms_band_pass",
            "codes_sparser_than_pca", "gaussian_control_not_localised", "atom_norms",
            "lasso_optimality", "reconstruction_residual"} <= names
    assert res.verdict in ("reproduced", "not_reproduced", "inconclusive")
    assert res.headline == "atoms_localised" and res.deviations
    assert res.measurements["fraction_atoms_localised"].value > \
        res.measurements["fraction_pca_localised"].value
    again = scf.run(cfg, np.random.default_rng(0))
    assert np.array_equal(res.arrays["atoms"], again.arrays["atoms"])
