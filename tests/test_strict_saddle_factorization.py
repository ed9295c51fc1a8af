"""Strict saddles of f(U) = 1/2 ||U U^T - M||_F^2, tested against autograd and closed forms."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from deepscope.errors import UserInputError
from deepscope.experiments import strict_saddle_factorization as ssf

D, R = 7, 3


def _target(seed=5, d=D, r=R):
    g = np.random.default_rng(seed).standard_normal((d, r))
    m = g @ g.T
    w, v = np.linalg.eigh(m)
    return m, w[::-1][:r].copy(), v[:, ::-1][:, :r].copy()


def _autograd_hessian(u_np, m_np):
    """Independent truth: torch.autograd.functional.hessian of the loss written out directly."""
    m = torch.from_numpy(m_np)
    d, r = u_np.shape

    def f(x):
        res = x.reshape(d, r) @ x.reshape(d, r).T - m
        return 0.5 * torch.sum(res**2)

    x = torch.from_numpy(u_np.reshape(-1).copy())
    return torch.autograd.functional.hessian(f, x).numpy()


def _quadratic_form_hessian(u, m):
    """Hessian from D^2 f[V, W] = <UV^T + VU^T, UW^T + WU^T> + <UU^T - M, VW^T + WV^T>."""
    d, r = u.shape
    basis = np.eye(d * r).reshape(d * r, d, r)
    sym = [u @ b.T + b @ u.T for b in basis]
    res = u @ u.T - m
    h = np.empty((d * r, d * r))
    for i, j in itertools.product(range(d * r), repeat=2):
        h[i, j] = np.sum(sym[i] * sym[j]) + np.sum(res * (basis[i] @ basis[j].T
                                                          + basis[j] @ basis[i].T))
    return h


def test_dense_hessian_matches_autograd_and_quadratic_form():
    m, _, _ = _target()
    u = np.random.default_rng(1).standard_normal((D, R))
    h = ssf.dense_hessian(torch.from_numpy(u), torch.from_numpy(m)).numpy()
    scale = np.abs(h).max()
    assert np.max(np.abs(h - _autograd_hessian(u, m))) <= 1e-13 * scale
    assert np.max(np.abs(h - _quadratic_form_hessian(u, m))) <= 1e-12 * scale


def test_gradient_matches_autograd():
    m, _, _ = _target()
    u = torch.from_numpy(np.random.default_rng(2).standard_normal((D, R))).requires_grad_()
    (g_auto,) = torch.autograd.grad(ssf.loss(u, torch.from_numpy(m)), u)
    g = ssf.grad(u.detach(), torch.from_numpy(m))
    assert torch.allclose(g, g_auto, rtol=1e-13, atol=1e-13)


def test_hessian_at_zero_is_minus_two_kron_m():
    m, lam, _ = _target()
    h = _autograd_hessian(np.zeros((D, R)), m)
    ev = np.linalg.eigvalsh(h)
    assert abs(ev[0] - (-2 * lam[0])) <= 1e-12 * lam[0]
    closed = np.sort(-2 * np.repeat(np.linalg.eigvalsh(m), R))
    assert np.max(np.abs(ev - closed)) <= 1e-12 * lam[0]
    # Row-major flattening of U (index a r + k): H(0) = -2 M kron I_r.
    assert np.allclose(h, -2 * np.kron(m, np.eye(R)), rtol=0, atol=1e-12 * lam[0])


@pytest.mark.parametrize("subset", [s for k in range(R + 1)
                                    for s in itertools.combinations(range(R), k)])
def test_critical_points_and_their_curvature(subset):
    m, lam, vecs = _target()
    rot, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((R, R)))
    u = ssf.critical_point(lam, vecs, subset, rot)
    ut = torch.from_numpy(u).requires_grad_()
    (g,) = torch.autograd.grad(ssf.loss(ut, torch.from_numpy(m)), ut)
    assert float(g.norm()) <= 1e-12 * lam[0] ** 1.5
    ev = np.linalg.eigvalsh(_autograd_hessian(u, m))
    if len(subset) == R:
        # global minimum: PSD with exactly r(r-1)/2 flat directions (U* -> U* Q, Q orthogonal)
        assert ev[0] >= -1e-12 * lam[0]
        assert int(np.sum(np.abs(ev) <= 1e-10 * lam[0])) == R * (R - 1) // 2
        assert ssf.loss(torch.from_numpy(u), torch.from_numpy(m)) <= 1e-24 * lam[0] ** 2
    else:
        expect = -2 * max(lam[j] for j in range(R) if j not in subset)
        assert abs(ev[0] - expect) <= 1e-12 * lam[0]
        assert ev[0] <= -lam[-1] / 3  # Jin et al.'s gamma = sigma_r / 3


def test_plain_gd_at_zero_never_moves_and_pgd_escapes():
    m, lam, _ = _target()
    mt = torch.from_numpy(m)[None].repeat(4, 1, 1)
    eta = torch.full((4,), 0.1 / lam[0], dtype=torch.float64)
    zeros = torch.zeros(4, D, R, dtype=torch.float64)
    u, fs = ssf.gradient_descent(zeros.clone(), mt, eta, 200)
    assert float(u.abs().max()) == 0.0
    assert np.all(fs == 0.5 * np.sum(m**2))
    rng = np.random.default_rng(4)
    u, fs, kicks = ssf.perturbed_gradient_descent(
        zeros.clone(), mt, eta, 2000, np.full(4, 1e-3 * math.sqrt(lam[0])),
        np.full(4, 1e-8 * lam[0] ** 1.5), 100, torch.full((4,), 1e-6 * lam[0] ** 2), rng)
    final = ssf.loss(u, mt).numpy()
    assert np.all(final < 1e-10)
    assert np.all(kicks >= 1)
    assert np.all(np.isfinite(fs))


def test_ball_is_inside_radius_and_fills_it():
    rng = np.random.default_rng(6)
    x = ssf._ball(rng, 4000, (3, 2), np.full(4000, 2.0))
    norms = np.linalg.norm(x.reshape(4000, -1), axis=1)
    assert norms.max() <= 2.0
    # ||x|| / radius ~ U^(1/6): P(||x|| <= radius/2) = 2^-6
    frac = float(np.mean(norms <= 1.0))
    assert abs(frac - 2.0**-6) <= 4 * math.sqrt(2.0**-6 / 4000)


@pytest.fixture(scope="module")
def quick_result():
    return ssf.run(ssf.Config.quick(), np.random.default_rng(0))


def test_quick_preset_checks(quick_result):
    res = quick_result
    by_name = {c.name: c for c in res.checks}
    evidence = {"lambda_min_at_zero", "saddles_negative_curvature", "gd_small_init_success",
                "pgd_from_zero_success", "spectrum_at_zero", "saddle_lambda_min_closed_form"}
    assert {n for n, c in by_name.items() if c.role == "evidence"} == evidence
    assert res.headline_check().role == "evidence"
    assert all(c.stderr is None for c in res.checks if c.kind == "exact")
    assert by_name["gd_small_init_success"].stderr > 0
    for c in res.checks:
        assert math.isfinite(float(c.measured)), c.name
    assert res.deviations and any("40 runs" in s for s in res.deviations)
    assert set(res.figures) == {"loss_curves", "hessian_spectrum"}
    # The measured lambda_min at 0 is -2 sigma_1 of the first target (recomputed here).
    lam0 = res.measurements["lambda_min_at_zero"].value
    sig = res.arrays["sigma_first_target"]
    assert abs(lam0 + 2 * sig[0]) <= 1e-12 * sig[0]
    assert np.all(res.arrays["plain_gd_f_curve"] == res.arrays["plain_gd_f_curve"][0])
    res.to_json()


def test_bit_reproducible_small_config():
    cfg = dataclasses.replace(ssf.Config.quick(), n_targets=2, n_runs=4, steps=600)
    a = ssf.run(cfg, np.random.default_rng(0))
    b = ssf.run(cfg, np.random.default_rng(0))
    for key in a.arrays:
        assert np.array_equal(a.arrays[key], b.arrays[key]), key
    assert [c.measured for c in a.checks] == [c.measured for c in b.checks]


@pytest.mark.parametrize("change", [{"r": 0}, {"r": 21}, {"d": 1}, {"n_runs": 0},
                                    {"eta_scale": 0.5}, {"eta_scale": 0.0},
                                    {"f_target": 0.0}, {"pgd_wait": 0}, {"r": 9, "d": 20}])
def test_config_validation(change):
    cfg = dataclasses.replace(ssf.Config(), **change)
    with pytest.raises(UserInputError):
        cfg.validate()
    with pytest.raises(UserInputError):
        ssf.run(cfg, np.random.default_rng(0))


def test_presets_share_the_protocol():
    full, quick = ssf.Config.full(), ssf.Config.quick()
    assert set(ssf.Config.QUICK) == {"n_targets", "n_runs"}
    assert (full.d, full.r, full.n_runs) == (20, 3, 100)
    assert quick.steps == full.steps and quick.eta_scale == full.eta_scale
