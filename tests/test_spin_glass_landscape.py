"""The spherical p-spin instrument against autograd and closed forms; the experiment's quick run."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from conftest import quick_verdict
from deepscope.errors import UserInputError
from deepscope.experiments import spin_glass_landscape as exp
from deepscope.landscape import spin_glass as sg

F64 = torch.float64


def _direct_energy(j, w):
    """H from the unsymmetrised couplings: n^{-(p-1)/2} sum J_{i..} w_i ... (single w)."""
    n, p = j.shape[0], j.dim()
    out = j
    for _ in range(p):
        out = out @ w
    return out * n ** (-(p - 1) / 2)


def _sphere_point(rng, n):
    w = torch.from_numpy(rng.standard_normal(n))
    return w * math.sqrt(n) / w.norm()


def test_thresholds_closed_forms():
    assert sg.threshold_energy(3) == pytest.approx(2 * math.sqrt(2 / 3), abs=1e-15)
    e0 = sg.ground_state_energy(3)
    # Auffinger, Ben Arous & Cerny 2013 / Choromanska et al. 2015 quote E_0(3) = 1.657.
    assert e0 == pytest.approx(1.657, abs=5e-4)
    assert abs(sg.complexity(-e0, 3)) < 1e-12
    assert sg.complexity(-sg.threshold_energy(3), 3) > 0
    with pytest.raises(ValueError):
        sg.complexity(-1.0, 3)


@pytest.mark.parametrize("p", [2, 3])
def test_energy_and_gradient_against_autograd(p):
    n = 9
    rng = np.random.default_rng(5)
    s = sg.couplings(n, p, np.random.default_rng(11))
    j = torch.from_numpy(np.random.default_rng(11).standard_normal((n,) * p))
    w = torch.stack([_sphere_point(rng, n) for _ in range(3)])
    h = sg.energy(s, w)
    for i in range(3):
        wi = w[i].clone().requires_grad_(True)
        ref = _direct_energy(j, wi)
        (g_ref,) = torch.autograd.grad(ref, wi)
        assert float(h[i]) == pytest.approx(float(ref.detach()), abs=1e-12 * n)
        g = sg.euclidean_gradient(s, w[i:i + 1])[0]
        assert torch.allclose(g, g_ref, atol=1e-12 * n, rtol=0)
        # Homogeneity <w, g> = p H, and the Riemannian gradient is the tangent projection.
        assert float(g @ w[i]) == pytest.approx(p * float(ref.detach()), abs=1e-11 * n)
        gr = sg.riemannian_gradient(s, w[i:i + 1])[0]
        proj = g_ref - w[i] * (g_ref @ w[i]) / n
        assert torch.allclose(gr, proj, atol=1e-12 * n, rtol=0)
        assert abs(float(gr @ w[i])) < 1e-11 * n


@pytest.mark.parametrize("p", [2, 3])
def test_tangent_hessian_against_autograd(p):
    """Hess(H o R_w)(0) with the projection retraction R_w(v) = sqrt(n)(w + v)/||w + v|| (a
    second-order retraction) is the Riemannian Hessian at any point, critical or not."""
    n = 8
    s = sg.couplings(n, p, np.random.default_rng(3))
    j = torch.from_numpy(np.random.default_rng(3).standard_normal((n,) * p))
    w = _sphere_point(np.random.default_rng(4), n)
    q = sg.tangent_basis(w.reshape(1, -1))[0]
    assert torch.allclose(q.T @ q, torch.eye(n - 1, dtype=F64), atol=1e-14)
    assert float((q.T @ w).abs().max()) < 1e-13

    def pulled(x):
        v = w + q @ x
        return _direct_energy(j, math.sqrt(n) * v / v.norm())

    ref = torch.func.hessian(pulled)(torch.zeros(n - 1, dtype=F64))
    got = sg.tangent_hessian(s, w)
    assert torch.allclose(got, 0.5 * (ref + ref.T), atol=1e-11, rtol=0)


def test_descent_finds_ground_state_of_p2():
    """p = 2: H = n^{-1/2} w^T S w on ||w||^2 = n has minimum sqrt(n) lambda_1(S), and there the
    tangent Hessian has eigenvalues 2 n^{-1/2} (lambda_j - lambda_1), j >= 2 (closed forms)."""
    n = 30
    s = sg.couplings(n, 2, np.random.default_rng(8))
    lam = torch.linalg.eigvalsh(s)
    w0 = torch.from_numpy(np.random.default_rng(9).standard_normal((4, n)))
    w, _ = sg.riemannian_descent(s, w0, 0.1, 20000, 1e-12 * math.sqrt(n), 1e-2 * math.sqrt(n),
                                 momentum=0.8)
    h, g, hess, _ = sg.local_terms(s, w)
    assert torch.allclose(h, math.sqrt(n) * lam[0].expand(4), atol=1e-10, rtol=0)
    assert float(g.norm(dim=1).max()) <= 1e-12 * math.sqrt(n) * 1.0001
    closed = 2 / math.sqrt(n) * (lam[1:] - lam[0])
    for k in range(4):
        assert torch.allclose(torch.linalg.eigvalsh(hess[k]), closed, atol=1e-11, rtol=0)


def test_descent_ends_at_minima_of_p3():
    n = 20
    s = sg.couplings(n, 3, np.random.default_rng(21))
    w0 = torch.from_numpy(np.random.default_rng(22).standard_normal((6, n)))
    w, steps = sg.riemannian_descent(s, w0, 0.1, 5000, 1e-10 * math.sqrt(n),
                                     1e-2 * math.sqrt(n), momentum=0.8,
                                     fast_dtype=torch.float32)
    radius = torch.full((6,), math.sqrt(n), dtype=F64)
    assert torch.allclose(w.norm(dim=1), radius, atol=1e-12, rtol=0)
    h, g, hess, _ = sg.local_terms(s, w)
    assert float(g.norm(dim=1).max()) <= 1e-10 * math.sqrt(n)
    assert float(torch.linalg.eigvalsh(hess)[:, 0].min()) > 0
    # Each end point is no higher than its start (descent).
    h0 = sg.energy(s, w0 * math.sqrt(n) / w0.norm(dim=1, keepdim=True))
    assert bool((h <= h0).all())
    assert (steps < 5000).all()


def test_config_validation():
    with pytest.raises(UserInputError):
        exp.Config(sizes=(50, 25)).validate()
    with pytest.raises(UserInputError):
        exp.Config(widths=(8,)).validate()
    with pytest.raises(UserInputError):
        exp.Config(momentum=1.0).validate()
    exp.Config.quick().validate()
    exp.Config().validate()


def test_spin_glass_part_is_reproducible():
    cfg = dataclasses.replace(exp.Config.quick(), sizes=(12, 16), n_disorder=2, n_starts=3)
    a = exp._spin_glass(cfg, np.random.default_rng(0))
    b = exp._spin_glass(cfg, np.random.default_rng(0))
    for n in cfg.sizes:
        assert np.array_equal(a[n]["energy"], b[n]["energy"])


@pytest.fixture(scope="module")
def quick_result():
    return exp.run(exp.Config.quick(), np.random.default_rng(0))


def test_quick_preset_checks(quick_result):
    r = quick_result
    names = {c.name: c for c in r.checks}
    assert {"energy_spread_shrinks", "mean_energy_moves_down", "none_below_ground_state",
            "hessian_semicircle_radius", "test_loss_spread_shrinks",
            "train_test_correlation_falls", "end_points_critical",
            "end_points_are_minima"} <= set(names)
    assert r.verdict == quick_verdict("spin-glass-landscape")
    for c in r.checks:
        assert math.isfinite(float(c.measured))
        if c.role == "sanity":
            assert c.outcome == "pass"
        if c.kind == "statistical":
            assert c.stderr is not None and c.stderr > 0
    assert r.headline_check().role == "evidence"
    assert r.deviations and all(isinstance(d, str) for d in r.deviations)
    # The minima's energies per site lie between -E_0 - 0.2 and 0 at these sizes.
    for n in exp.Config.quick().sizes:
        e = r.arrays[f"energy_L{n}"]
        assert e.max() < 0 and e.min() > -sg.ground_state_energy(3) - 0.2
    assert set(r.figures) == {"energy_histograms", "test_loss_distributions"}
