"""deep-linear-no-bad-minima: closed forms against autograd Hessians, and the quick preset."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from deepscope.errors import UserInputError
from deepscope.experiments import deep_linear_no_bad_minima as exp
from deepscope.landscape import deep_linear as dl
from deepscope.results import VERDICTS


def _data(spectrum=(4.0, 2.0, 1.0), seed=7):
    return dl.make_data(np.random.default_rng(seed), 4, 3, 32, spectrum, 1.0)


def _flat_loss(widths, X, Y):
    """L(theta) = 1/2 ||W_N ... W_1 X - Y||^2 on a flat vector (W_1, ..., W_N row-major)."""
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    shapes = [(b, a) for a, b in zip(widths[:-1], widths[1:])]

    def f(theta):
        out, i = Xt, 0
        for b, a in shapes:
            out = theta[i:i + a * b].reshape(b, a) @ out
            i += a * b
        return 0.5 * ((out - Yt) ** 2).sum()

    return f


def _autograd_hessian(widths, Ws, X, Y) -> np.ndarray:
    theta = torch.from_numpy(np.concatenate([W.ravel() for W in Ws]))
    return torch.autograd.functional.hessian(_flat_loss(widths, X, Y), theta).numpy()


def _zeros(widths):
    return [np.zeros((b, a)) for a, b in zip(widths[:-1], widths[1:])]


def test_make_data_prescribes_sigma_and_residual():
    X, Y = _data((4.0, 2.0, 2.0))
    C = X @ X.T
    sigma = Y @ X.T @ np.linalg.solve(C, X @ Y.T)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(sigma)), [2.0, 2.0, 4.0], atol=1e-12)
    B = Y @ X.T @ np.linalg.inv(C)
    residual = Y - B @ X
    np.testing.assert_allclose(np.sum(residual**2), 1.0, rtol=1e-12)
    assert np.linalg.matrix_rank(X @ Y.T) == 3


def test_global_minimum_matches_eckart_young():
    X, Y = _data()
    mom = dl.Moments.from_data(X, Y)
    Q = np.linalg.qr(X.T)[0]  # orthonormal basis of the row space of X
    s = np.linalg.svd(Y @ Q, compute_uv=False)
    for p in (1, 2, 3):
        truth = 0.5 * (np.sum(Y**2) - np.sum(s[:p] ** 2))
        assert mom.global_minimum(p) == pytest.approx(truth, rel=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_loss_and_grads_match_autograd(depth):
    X, Y = _data()
    mom = dl.Moments.from_data(X, Y)
    widths = dl.widths_for(4, 3, 2, depth)
    rng = np.random.default_rng(3)
    stack = [rng.standard_normal((5, b, a)) for a, b in zip(widths[:-1], widths[1:])]
    loss, grads = dl.loss_and_grads(stack, mom.C, mom.D, mom.y2)
    f = _flat_loss(widths, X, Y)
    for r in range(5):
        theta = torch.from_numpy(np.concatenate([W[r].ravel() for W in stack]))
        theta.requires_grad_(True)
        value = f(theta)
        (g,) = torch.autograd.grad(value, theta)
        assert loss[r] == pytest.approx(float(value.detach()), rel=1e-12)
        np.testing.assert_allclose(np.concatenate([G[r].ravel() for G in grads]), g.numpy(),
                                   rtol=1e-10, atol=1e-12)


def test_hessian_at_zero_one_hidden_layer():
    """Kawaguchi 2016 Cor. 2.4 at W = 0, H = 1: lambda_min = -sigma_max(X Y^T)."""
    X, Y = _data()
    widths = dl.widths_for(4, 3, 2, 1)
    H = _autograd_hessian(widths, _zeros(widths), X, Y)
    np.testing.assert_allclose(exp.dense_hessian(widths, _zeros(widths), X, Y), H, atol=1e-13)
    ev = np.linalg.eigvalsh(H)
    sv = np.linalg.svd(X @ Y.T, compute_uv=False)
    assert ev[0] == pytest.approx(-sv[0], rel=1e-13)
    assert ev[-1] == pytest.approx(sv[0], rel=1e-13)
    assert np.sum(np.abs(ev) < 1e-12) == 2  # width * (d_x - d_y) zero modes


@pytest.mark.parametrize("depth", [2, 3])
def test_hessian_at_zero_vanishes_for_deeper_networks(depth):
    X, Y = _data()
    widths = dl.widths_for(4, 3, 2, depth)
    H = _autograd_hessian(widths, _zeros(widths), X, Y)
    assert np.abs(H).max() == 0.0
    assert np.abs(exp.dense_hessian(widths, _zeros(widths), X, Y)).max() == 0.0


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_descent_direction_polynomial(depth):
    """Along d the loss is exactly L(0) - c t^N + b t^(2N), c = sigma_max / N^(N/2)."""
    X, Y = _data()
    mom = dl.Moments.from_data(X, Y)
    widths = dl.widths_for(4, 3, 2, depth)
    dirs = dl.descent_direction(mom, widths)
    assert sum(np.sum(d**2) for d in dirs) == pytest.approx(1.0, rel=1e-14)
    n = depth + 1
    U, s, Vt = np.linalg.svd(Y @ X.T)
    c = s[0] / n ** (n / 2)
    b = 0.5 * float(Vt[0] @ (X @ X.T) @ Vt[0]) / n**n
    base = 0.5 * np.sum(Y**2)
    for t in (0.05, 0.3, 1.0):
        got = exp.model_loss(widths, [t * d for d in dirs], X, Y)
        assert got == pytest.approx(base - c * t**n + b * t ** (2 * n), rel=1e-13)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("spectrum", [(4.0, 2.0, 1.0), (4.0, 2.0, 2.0)])
def test_index_set_critical_points(depth, spectrum):
    """Zero gradient, closed-form value, and negative curvature exactly when not global."""
    X, Y = _data(spectrum)
    mom = dl.Moments.from_data(X, Y)
    lstar = mom.global_minimum(2)
    widths = dl.widths_for(4, 3, 2, depth)
    f = _flat_loss(widths, X, Y)
    n_global = 0
    for idx in [i for r in range(3) for i in itertools.combinations(range(3), r)]:
        Ws = dl.critical_point(mom, widths, idx)
        theta = torch.from_numpy(np.concatenate([W.ravel() for W in Ws])).requires_grad_(True)
        value = f(theta)
        (g,) = torch.autograd.grad(value, theta)
        value = float(value.detach())
        assert np.abs(g.numpy()).max() < 1e-12
        assert value == pytest.approx(0.5 * (np.sum(Y**2) - sum(spectrum[i] for i in idx)),
                                             rel=1e-12)
        ev = np.linalg.eigvalsh(_autograd_hessian(widths, Ws, X, Y))
        if value > lstar * (1 + 1e-8):
            assert ev[0] < -1e-3 * np.abs(ev).max()
        else:
            n_global += 1
            assert ev[0] > -1e-12 * np.abs(ev).max()
    assert n_global == (1 if spectrum[1] != spectrum[2] else 2)


def test_gradient_descent_reaches_global_minimum_and_stops():
    X, Y = _data()
    mom = dl.Moments.from_data(X, Y)
    widths = dl.widths_for(4, 3, 2, 1)
    rng = np.random.default_rng(5)
    R = 4
    Ws = [0.1 * rng.standard_normal((R, b, a)) for a, b in zip(widths[:-1], widths[1:])]
    lstar = mom.global_minimum(2)
    rec = dl.gradient_descent(Ws, mom.C, mom.D, np.full(R, mom.y2), np.full(R, lstar), lr=0.05,
                              max_steps=20_000, rel_tol=1e-8, record_steps=np.array([0, 10]))
    assert rec.n_steps < 20_000
    assert np.all((rec.final_loss - lstar) / lstar <= 1e-8)
    assert np.all((rec.hit_step > 0) & (rec.hit_step <= rec.n_steps))
    assert np.all(rec.escape_step <= rec.hit_step)
    final = dl.product(rec.weights)
    optimum = mom.eigvecs[:, :2] @ mom.eigvecs[:, :2].T @ mom.D @ np.linalg.inv(mom.C)
    np.testing.assert_allclose(final, np.broadcast_to(optimum, final.shape), atol=1e-3)


@pytest.mark.parametrize("change", [
    {"d_y": 5}, {"depths": ()}, {"depths": (1, 1)}, {"n_samples": 4},
    {"spectrum_distinct": (4.0, 2.0, 2.0)}, {"spectrum_repeated": (4.0, 2.0, 1.0)},
    {"spectrum_distinct": (4.0, 2.0)}, {"lr": 0.0}, {"rel_tol": 0.0},
    {"fraction_tolerance": 1.5}, {"descent_ts": (0.1,)}, {"n_runs": 0},
    {"residual_power": 0.0},
])
def test_config_validation(change):
    with pytest.raises(UserInputError):
        dataclasses.replace(exp.Config(), **change).validate()


def test_quick_differs_only_in_scale():
    assert set(exp.Config.QUICK) <= {"n_runs", "max_steps", "depths", "n_record"}
    exp.Config.quick().validate()
    exp.Config.full().validate()


def test_small_run_is_deterministic():
    cfg = dataclasses.replace(exp.Config(), depths=(1, 2), n_runs=3, max_steps=2000)
    a = exp.run(cfg, np.random.default_rng(0))
    b = exp.run(cfg, np.random.default_rng(0))
    assert [c.measured for c in a.checks] == [c.measured for c in b.checks]
    for key in a.arrays:
        np.testing.assert_array_equal(a.arrays[key], b.arrays[key])


@pytest.fixture(scope="module")
def quick_result():
    return exp.run(exp.Config.quick(), np.random.default_rng(0))


def test_quick_preset_computes_its_checks(quick_result):
    r = quick_result
    assert r.verdict in VERDICTS
    names = {c.name for c in r.checks}
    for H in (1, 2, 3):
        for s in ("distinct", "repeated"):
            assert f"global_fraction_h{H}_{s}" in names
        assert f"saddle_negative_curvature_h{H}" in names
    assert {"hessian_at_zero_h1", "hessian_at_zero_h2", "descent_order_h2",
            "descent_coefficient_h2"} <= names
    evidence = [c for c in r.checks if c.role == "evidence"]
    assert r.headline_check().role == "evidence"
    assert all(c.stderr is not None for c in evidence if c.kind == "statistical")
    assert all(c.stderr is None for c in r.checks if c.kind == "exact")
    assert r.deviations and set(r.figures) == {"loss_curves", "hessian_at_zero"}
    assert r.to_json()["verdict"] == r.verdict


def test_quick_exact_numbers_against_closed_forms(quick_result):
    """The measured Hessian and descent numbers equal the closed forms, not only in verdict."""
    checks = {c.name: c for c in quick_result.checks}
    h1 = checks["hessian_at_zero_h1"]
    assert h1.measured == pytest.approx(-quick_result.measurements["sigma_max_XYt"].value,
                                        rel=1e-12)
    assert checks["hessian_at_zero_h2"].measured == 0.0
    assert checks["descent_order_h2"].measured == pytest.approx(3.0, abs=1e-3)
    assert checks["descent_coefficient_h2"].measured == pytest.approx(
        checks["descent_coefficient_h2"].expected, rel=1e-8)
