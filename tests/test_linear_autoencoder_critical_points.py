"""linear-autoencoder-critical-points: the critical points against independent float64 truths.

The Hessian, gradient and loss at each constructed critical point are recomputed here with
``torch.autograd.functional.hessian`` on a loss written from scratch (not the model, not the
curvature operator), and compared with Eq. 11 and the inverted-pair index in closed form.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from deepscope.errors import UserInputError
from deepscope.experiments import linear_autoencoder_critical_points as lacp


def _problem(seed=7, n=5, T=400):
    rng = np.random.default_rng(seed)
    cfg = dataclasses.replace(lacp.Config(), n=n, p=2, n_samples=T,
                              eigenvalues=tuple(float(v) for v in range(n, 0, -1)))
    X = lacp.make_data(cfg, rng)
    S = X.T @ X
    lam, U = np.linalg.eigh(S)
    return rng, X, S, lam[::-1].copy(), U[:, ::-1].copy()


def _loss(theta, X, n, p):
    """E(A, B) = sum_t ||x_t - A B x_t||^2, written directly (theta = [vec B, vec A])."""
    B = theta[: n * p].reshape(p, n)
    A = theta[n * p:].reshape(n, p)
    R = X - X @ B.T @ A.T
    return (R**2).sum()


def _independent(X, A, B):
    n, p = A.shape
    Xt = torch.from_numpy(X)
    theta = torch.cat([torch.from_numpy(B).reshape(-1), torch.from_numpy(A).reshape(-1)])
    theta.requires_grad_(True)
    E = _loss(theta, Xt, n, p)
    (g,) = torch.autograd.grad(E, theta)
    H = torch.autograd.functional.hessian(lambda t: _loss(t, Xt, n, p), theta.detach())
    return float(E.detach()), g.numpy(), H.numpy()


def test_inverted_pairs_closed_forms():
    n, p = 6, 2
    assert lacp.inverted_pairs((0, 1), n) == 0
    assert lacp.inverted_pairs((4, 5), n) == p * (n - p)
    assert lacp.inverted_pairs((0, 2), n) == 1
    counts = [lacp.inverted_pairs(s, n) for s in itertools.combinations(range(n), p)]
    assert counts.count(0) == 1 and len(counts) == math.comb(n, p)


def test_critical_points_against_independent_hessian():
    rng, X, S, lam, U = _problem()
    n, p = U.shape[0], 2
    tr = np.trace(S)
    for index_set in itertools.combinations(range(n), p):
        C = lacp.random_gauge(rng, p, 0.5, 2.0)
        A = U[:, list(index_set)] @ C
        B = np.linalg.solve(C, U[:, list(index_set)].T)
        E, g, H = _independent(X, A, B)
        # Eq. 11 in closed form, and a vanishing gradient, in float64
        assert abs(E - (tr - lam[list(index_set)].sum())) <= 1e-12 * tr
        assert np.linalg.norm(g) <= 1e-12 * tr
        # the operator-based Hessian of the experiment equals the independent one
        rep = lacp.critical_point_report(torch, X, A, B)
        assert np.max(np.abs(rep["hessian"] - H)) <= 1e-11 * np.max(np.abs(H))
        assert abs(rep["E"] - E) <= 1e-12 * tr
        ev = np.linalg.eigvalsh(0.5 * (H + H.T))
        band = 1e-9 * np.max(np.abs(ev))
        assert int(np.sum(ev < -band)) == lacp.inverted_pairs(index_set, n)
        assert int(np.sum(np.abs(ev) <= band)) == p * p  # the C-gauge
        if index_set == (0, 1):
            assert ev[0] >= -band
        else:
            assert ev[0] < -1e-3 * np.max(np.abs(ev))


def test_index_does_not_depend_on_the_gauge():
    rng, X, S, lam, U = _problem(seed=3)
    index_set = (1, 3)
    counts = set()
    for lo, hi in [(1.0, 1.0), (0.2, 5.0), (0.5, 2.0)]:
        C = lacp.random_gauge(rng, 2, lo, hi)
        A, B = U[:, list(index_set)] @ C, np.linalg.solve(C, U[:, list(index_set)].T)
        ev = np.linalg.eigvalsh(_independent(X, A, B)[2])
        counts.add(int(np.sum(ev < -1e-9 * np.max(np.abs(ev)))))
    assert counts == {lacp.inverted_pairs(index_set, 5)}


def test_gradient_descent_and_search_reach_critical_points():
    rng, X, S, lam, U = _problem(seed=5)
    n = U.shape[0]
    cfg = dataclasses.replace(lacp.Config(), n=n, gd_runs=4, gd_steps=3000, search_starts=6,
                              search_iters=60, eigenvalues=(5.0, 4.0, 3.0, 2.0, 1.0))
    steps, curves = lacp.gradient_descent(torch, S, cfg, rng)
    e_star = np.trace(S) - lam[:2].sum()
    assert steps[-1] == cfg.gd_steps and curves.shape == (4, len(steps))
    assert np.all((curves[:, -1] - e_star) / e_star <= 1e-8)
    theta, gnorm, _ = lacp.critical_point_search(torch, S, cfg, rng)
    done = np.flatnonzero(gnorm <= cfg.search_gtol)
    assert len(done) >= 3
    for i in done:
        B = theta[i, n * 2:].reshape(2, n)
        A = theta[i, : n * 2].reshape(n, 2)
        _, g, _ = _independent(X, A, B)
        assert np.linalg.norm(g) <= 1e-8 * np.trace(S)


def test_quick_preset_checks():
    cfg = lacp.Config.quick()
    assert cfg != lacp.Config.full()
    result = lacp.run(cfg, np.random.default_rng(0))
    names = {c.name: c for c in result.checks}
    evidence = {"eq11_max_rel_error", "max_rel_gradient", "saddles_with_negative_curvature",
                "min_eig_at_global_min", "index_matches_pair_count",
                "search_points_are_projectors", "gd_success_fraction"}
    assert evidence <= {n for n, c in names.items() if c.role == "evidence"}
    assert {"gauge_nullity", "sample_covariance"} <= {
        n for n, c in names.items() if c.role == "sanity"}
    assert names["gd_success_fraction"].kind == "statistical"
    assert names["gd_success_fraction"].stderr > 0
    assert result.headline_check().role == "evidence"
    assert result.deviations and "critical_points" in result.figures
    assert result.arrays["hessian_eigs"].shape == (15, 24)
    assert sorted(result.measurements["hessian_index"].value) == sorted(
        lacp.inverted_pairs(s, 6) for s in itertools.combinations(range(6), 2))


def test_small_run_is_bit_reproducible():
    cfg = dataclasses.replace(lacp.Config.quick(), gd_runs=3, gd_steps=50, search_starts=3,
                              search_iters=5, n_samples=200)
    a = lacp.run(cfg, np.random.default_rng(11))
    b = lacp.run(cfg, np.random.default_rng(11))
    for key in a.arrays:
        assert np.array_equal(a.arrays[key], b.arrays[key])
    np.testing.assert_array_equal([c.measured for c in a.checks],
                                  [c.measured for c in b.checks])


@pytest.mark.parametrize("change", [
    {"p": 6}, {"p": 0}, {"eigenvalues": (6.0, 5.0, 4.0)},
    {"eigenvalues": (6.0, 5.0, 5.0, 3.0, 2.0, 1.0)}, {"n_samples": 5},
    {"c_singular_range": (0.0, 1.0)}, {"gd_lr": 0.9}, {"gd_runs": 0}, {"success_margin": 1.5},
])
def test_config_validation(change):
    with pytest.raises(UserInputError):
        dataclasses.replace(lacp.Config(), **change).validate()
