"""Interpolation, Dinh et al. rescaling invariance, mode connectivity and sharpness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.errors import UserInputError
from deepscope.landscape import (
    adaptive_sharpness,
    barrier_heights,
    curve_coefficients,
    epsilon_sharpness,
    evaluate_curve,
    evaluate_grid,
    fit_curve,
    hessian_sharpness,
    interpolate,
    random_directions,
    worst_case_sharpness,
)
from deepscope.problem import Problem


def relu_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(),
                         nn.Linear(6, 3)).double()


def data(n=50, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    return X, torch.randint(0, 3, (n,), generator=gen)


def rescaled(model, alpha):
    """Dinh et al.'s T_alpha on the first layer (weights and bias) and the second weight."""
    out = relu_net()
    out.load_state_dict(model.state_dict())
    with torch.no_grad():
        out[0].weight.mul_(alpha)
        out[0].bias.mul_(alpha)
        out[2].weight.div_(alpha)
    return out


def test_interpolation_endpoints_exact():
    X, y = data()
    a, b = relu_net(0), relu_net(1)
    batches = [(X[:30], y[:30]), (X[30:], y[30:])]
    res = interpolate(a, b, "ce", batches, n_points=11, span=(-0.5, 1.5), method="batched")
    la = float(Problem(a, "ce", batches).loss())
    lb = float(Problem(b, "ce", batches).loss())
    assert res.loss[res.t == 0][0] == la and res.loss[res.t == 1][0] == lb
    assert res.method == "batched" and res.barrier >= 0 and res.monotone_barrier >= 0
    slow = interpolate(a, b, "ce", batches, n_points=11, span=(-0.5, 1.5), method="exact")
    np.testing.assert_allclose(res.loss, slow.loss, rtol=1e-12)
    other = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    with pytest.raises(UserInputError, match="architecture"):
        interpolate(a, other, "ce", (X, y))
    with pytest.raises(UserInputError, match="contain"):
        interpolate(a, b, "ce", (X, y), span=(0.2, 1))


def test_barrier_heights_analytic():
    t = np.linspace(0, 1, 101)
    loss = 1 + t + 0.5 * np.sin(np.pi * t)  # chord 1 + t, bump 0.5 at t = 1/2
    barrier, monotone = barrier_heights(t, loss)
    assert abs(barrier - 0.5) < 1e-12
    assert abs(monotone - (loss.max() - 1)) < 1e-12  # the rise above the running minimum
    barrier, monotone = barrier_heights(t, 2 - t)
    assert abs(barrier) < 1e-15 and monotone == 0.0


@pytest.mark.parametrize("alpha", [0.25, 4.0])
def test_dinh_rescaling_filter_slices_invariant(alpha):
    X, y = data()
    model = relu_net()
    scaled = rescaled(model, alpha)
    with torch.no_grad():
        assert torch.allclose(model(X), scaled(X), rtol=1e-12, atol=1e-12)
    kw = {"grid": 15, "span": (-1, 1)}
    f0 = evaluate_grid(model, "ce", (X, y), random_directions(model, 1, "filter", seed=3), **kw)
    f1 = evaluate_grid(scaled, "ce", (X, y), random_directions(scaled, 1, "filter", seed=3), **kw)
    assert np.abs(f0.loss - f1.loss).max() < 1e-8
    # a plane with orthogonalisation in the normalisation's own metric stays invariant too
    p0 = evaluate_grid(model, "ce", (X, y),
                       random_directions(model, 2, "filter", seed=3, orthogonalise="scaled"),
                       grid=(5, 5))
    p1 = evaluate_grid(scaled, "ce", (X, y),
                       random_directions(scaled, 2, "filter", seed=3, orthogonalise="scaled"),
                       grid=(5, 5))
    assert np.abs(p0.loss - p1.loss).max() < 1e-8
    r0 = evaluate_grid(model, "ce", (X, y), random_directions(model, 1, "none", seed=3), **kw)
    r1 = evaluate_grid(scaled, "ce", (X, y), random_directions(scaled, 1, "none", seed=3), **kw)
    rel = np.abs(r0.loss - r1.loss) / np.abs(r0.loss)
    assert rel.max() > 0.1


def test_dinh_rescaling_sharpness():
    X, y = data()
    model = relu_net()
    scaled = rescaled(model, 5.0)
    for kind in ("worst", "average"):
        s0 = adaptive_sharpness(model, "ce", (X, y), rho=0.1, kind=kind, n_steps=5, n_samples=8)
        s1 = adaptive_sharpness(scaled, "ce", (X, y), rho=0.1, kind=kind, n_steps=5, n_samples=8)
        assert s0.value != 0 and abs(s0.value - s1.value) < 1e-8, kind
        assert s0.invariant_to == "elementwise rescaling"
    e0 = epsilon_sharpness(model, "ce", (X, y), eps=1e-2, max_iter=5)
    e1 = epsilon_sharpness(scaled, "ce", (X, y), eps=1e-2, max_iter=5)
    assert abs(e0.value - e1.value) > 0.05 * abs(e0.value)
    w0 = worst_case_sharpness(model, "ce", (X, y), rho=0.1, n_steps=5)
    w1 = worst_case_sharpness(scaled, "ce", (X, y), rho=0.1, n_steps=5)
    assert abs(w0.value - w1.value) > 0.05 * abs(w0.value)


def quadratic_problem(p=6):
    # least squares with X = I: L(w) = (1/p) ||w - w*||^2, H = (2/p) I, minimum at w*
    X = torch.eye(p, dtype=torch.float64)
    w_star = torch.linspace(-1, 2, p, dtype=torch.float64)
    model = nn.Linear(p, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w_star[None])
    return model, (X, (X @ w_star)[:, None]), w_star


def test_sharpness_on_quadratic_closed_forms():
    p = 6
    model, dat, w_star = quadratic_problem(p)
    eps = 1e-2
    es = epsilon_sharpness(model, "mse", dat, eps=eps)
    bound = eps * (w_star.abs() + 1)
    assert abs(es.value - 100 * float((bound ** 2).sum()) / p) < 1e-9
    sub = epsilon_sharpness(model, "mse", dat, eps=eps, subspace_dim=2, seed=1)
    assert sub.value > 0 and sub.info["subspace_dim"] == 2
    rho = 0.3
    wc = worst_case_sharpness(model, "mse", dat, rho=rho, n_steps=3)
    assert abs(wc.value - rho ** 2 / p) < 1e-12
    ad = adaptive_sharpness(model, "mse", dat, rho=rho, kind="worst", n_steps=30, step=0.3)
    assert abs(ad.value - rho ** 2 * float(w_star.abs().max()) ** 2 / p) < 1e-3 * ad.value
    hs = hessian_sharpness(model, "mse", dat, trace=True, trace_rtol=1e-3)
    assert abs(hs["lambda_max"].value - 2 / p) < 1e-10
    assert abs(hs["trace"].value - 2.0) < 1e-8
    with pytest.raises(UserInputError):
        epsilon_sharpness(model, "mse", dat, eps=-1)


class Point(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x):
        return self.w.expand(x.shape[0], 2)


def ring(out, _target):
    return (((out ** 2).sum(1) - 1) ** 2).mean()


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_mode_connectivity_on_a_ring(kind):
    a, b = Point([1.0, 0.0]), Point([-0.6, 0.8])
    X = torch.zeros(4, 1, dtype=torch.float64)
    dat = (X, torch.zeros(4))
    curve = fit_curve(a, b, ring, dat, kind=kind, n_bends=2 if kind == "polychain" else 1,
                      n_steps=400, lr=2e-2, seed=0)
    for t, model in ((0.0, a), (1.0, b)):
        out = torch.func.functional_call(Point([0.0, 0.0]), curve.parameters_at(t), (X,))
        with torch.no_grad():
            assert torch.allclose(out, model(X), atol=1e-6, rtol=0)
    on_curve = evaluate_curve(curve, a, ring, dat, n_points=41)
    line = interpolate(a, b, ring, dat, n_points=41)
    assert line.barrier > 0.5
    assert on_curve.max_loss < 0.5 * float(np.max(line.loss))
    assert on_curve.loss[0] == line.loss[0] and on_curve.loss[-1] == line.loss[-1]


def test_curve_coefficients_ends_and_partition():
    for kind in ("bezier", "polychain"):
        c = curve_coefficients(kind, np.linspace(0, 1, 9), 3)
        np.testing.assert_allclose(c.sum(1), 1, atol=1e-14)
        assert np.array_equal(c[0], np.eye(5)[0]) and np.array_equal(c[-1], np.eye(5)[-1])
    with pytest.raises(UserInputError):
        curve_coefficients("spline", [0.5], 1)


def test_curve_reproduces_network_endpoints():
    X, y = data()
    a, b = relu_net(0), relu_net(1)
    curve = fit_curve(a, b, "ce", (X, y), n_steps=20, seed=0)
    for t, model in ((0.0, a), (1.0, b)):
        with torch.no_grad():
            out = torch.func.functional_call(relu_net(5), curve.parameters_at(t), (X,))
            assert (out - model(X)).abs().max() < 1e-6
