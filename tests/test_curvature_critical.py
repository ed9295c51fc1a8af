"""Critical-point search and the free-convolution index, against closed forms and dense Hessians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.curvature import _free_probability as fp
from deepscope.curvature._critical import find_critical_point
from deepscope.errors import UserInputError

F64 = torch.float64
DUMMY = (torch.zeros(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64))


class Point(nn.Module):
    def __init__(self, start):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(start, dtype=F64))

    def forward(self, x):
        return self.theta


def toy(model, batch):  # f = x^2 - y^2 + y^4 / 4: saddle (0, 0), minima (0, +-sqrt 2)
    t = model(batch[0])
    return t[0] ** 2 - t[1] ** 2 + t[1] ** 4 / 4


@pytest.mark.parametrize("method", ["dense", "cg"])
def test_quadratic_saddle_is_found_exactly(method):
    gen = torch.Generator().manual_seed(1)
    Q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=F64))
    lam = torch.tensor([-3.0, -1.0, -0.5, 0.7, 2.0, 5.0], dtype=F64)
    A = Q @ torch.diag(lam) @ Q.T
    c = torch.randn(6, generator=gen, dtype=F64)

    def quad(model, batch):
        d = model(batch[0]) - c
        return 0.5 * d @ A @ d

    cp = find_critical_point(Point(torch.randn(6, generator=gen, dtype=F64).tolist()), quad,
                             DUMMY, method=method, gtol=1e-12)
    assert cp.converged and cp.grad_norm <= 1e-12
    assert torch.allclose(cp.point, c, atol=1e-11)
    assert cp.index.value == 3 / 6  # three negative eigenvalues by construction
    np.testing.assert_allclose(cp.lowest_eigenvalues, lam[:5].numpy(), atol=1e-12)


@pytest.mark.parametrize("method", ["dense", "cg"])
def test_toy_converges_to_saddle_from_near_it(method):
    cp = find_critical_point(Point([0.05, 0.08]), toy, DUMMY, method=method, gtol=1e-12)
    assert cp.converged and cp.grad_norm <= 1e-12
    assert float(cp.point.norm()) < 1e-10  # the saddle, not a minimum at y = +-sqrt 2
    H = torch.func.hessian(lambda t: t[0] ** 2 - t[1] ** 2 + t[1] ** 4 / 4)(cp.point)
    assert cp.index.n_negative == int((torch.linalg.eigvalsh(H) < 0).sum()) == 1
    assert cp.index.value == 0.5


def test_toy_converges_to_minimum_from_near_it():
    cp = find_critical_point(Point([0.2, 1.2]), toy, DUMMY, gtol=1e-12)
    assert cp.converged
    assert abs(float(cp.point[1]) - math.sqrt(2)) < 1e-12 and abs(float(cp.point[0])) < 1e-12
    assert cp.index.value == 0.0
    np.testing.assert_allclose(cp.lowest_eigenvalues, [2.0, 4.0], atol=1e-10)


def _tanh_problem(seed=0, n=3, m=12):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(m, n, generator=gen, dtype=F64)
    Y = torch.randn(m, n, generator=gen, dtype=F64)
    net = nn.Sequential(nn.Linear(n, n, bias=False), nn.Tanh(), nn.Linear(n, n, bias=False))
    net = net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=F64) / math.sqrt(n))
    return net, X, Y


def _dense_truth(point, X, Y, n):
    def loss(flat):
        W1, W2 = flat[: n * n].reshape(n, n), flat[n * n:].reshape(n, n)
        return 0.5 * ((torch.tanh(X @ W1.T) @ W2.T - Y) ** 2).sum(1).mean()

    g = torch.func.grad(loss)(point)
    return g, torch.linalg.eigvalsh(torch.func.hessian(loss)(point))


@pytest.mark.parametrize("seed", [0, 2])
def test_tanh_net_critical_point_after_training(seed):
    # gradient descent, then the search: converges (to a saddle of index 1 or 2 here)
    net, X, Y = _tanh_problem(seed, m=30)
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    for _ in range(3000):
        opt.zero_grad()
        nn.functional.mse_loss(net(X), Y).backward()
        opt.step()
    before = next(net.parameters()).detach().clone()
    cp = find_critical_point(net, nn.MSELoss(reduction="mean"), (X, Y), gtol=1e-11,
                             max_iter=200)
    assert cp.converged
    g, lam = _dense_truth(cp.point, X, Y, 3)
    assert float(g.norm()) < 1e-10  # recomputed independently (loss scaled by n / 2)
    # MSELoss(mean) divides by m n and our truth by 2 m: the same signs either way
    assert cp.index.n_negative == int((lam < -1e-8 * lam.abs().max()).sum()) >= 1
    assert torch.equal(next(net.parameters()).detach(), before)  # the model is not modified


def test_tanh_net_converges_to_origin_saddle_from_near_it():
    # W = 0 is critical for a bias-free tanh net; there H = [[0, B], [B^T, 0]] (bilinear term
    # -E[y^T W2 W1 x]), whose eigenvalues come in +- pairs: index exactly 1/2.
    net, X, Y = _tanh_problem(3)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.02)
    cp = find_critical_point(net, lambda out, y: 0.5 * ((out - y) ** 2).sum(1).mean(), (X, Y),
                             gtol=1e-12)
    assert cp.converged and float(cp.point.abs().max()) < 1e-10
    _, lam = _dense_truth(cp.point, X, Y, 3)
    assert cp.index.n_negative == int((lam < 0).sum()) == 9
    assert cp.index.value == 0.5


def test_counts_and_validation():
    cp = find_critical_point(Point([0.3, 0.1]), toy, DUMMY, method="cg", gtol=1e-10)
    assert cp.n_matvecs > 0 and cp.iterations >= 1 and cp.history[0] > cp.history[-1]
    assert cp.method == "cg" and set(cp.state) == {"theta"}
    with pytest.raises(UserInputError):
        find_critical_point(Point([0.3, 0.1]), toy, DUMMY, method="newton")
    with pytest.raises(UserInputError):
        find_critical_point(Point([0.3, 0.1]), toy, DUMMY, gtol=0.0)


# ---------------------------------------------------------------- free probability


@pytest.mark.parametrize("phi", [0.1, 0.25, 0.5, 0.75])
def test_critical_epsilon_from_edge_matches_eq21(phi):
    assert fp.critical_epsilon(phi) == pytest.approx(fp.critical_epsilon_closed_form(phi),
                                                     rel=1e-10)
    ec = fp.critical_epsilon_closed_form(phi)
    assert fp.free_index(0.9 * ec, phi) == 0.0 and fp.free_index(1.1 * ec, phi) > 0


def test_critical_epsilon_near_phi_one():  # P-B: eps_c ~ (2/27)(1 - phi)^3 as phi -> 1
    phi = 0.99
    assert fp.critical_epsilon(phi) == pytest.approx(2 / 27 * (1 - phi) ** 3, rel=0.05)


def test_density_at_eps_zero_is_marchenko_pastur():
    phi = 0.3
    a, b = (1 - math.sqrt(phi)) ** 2, (1 + math.sqrt(phi)) ** 2
    x = np.linspace(a + 1e-3, b - 1e-3, 50)
    mp = np.sqrt((b - x) * (x - a)) / (2 * math.pi * phi * x)
    np.testing.assert_allclose(fp.mp_semicircle_density(x, 0.0, phi), mp, rtol=1e-9)
    assert fp.left_edge(0.0, phi) == pytest.approx(a, rel=1e-12)


@pytest.mark.parametrize("eps", [0.01, 0.05, 0.2])
def test_density_moments(eps):
    # free sum: mean 1 (MP) + 0; variance phi (MP) + 2 eps (semicircle)
    phi = 0.25
    a = fp.left_edge(eps, phi)
    x = np.linspace(a, 4.0, 400_001)
    rho = fp.mp_semicircle_density(x, eps, phi)
    assert rho[-1] == 0.0
    assert np.trapezoid(rho, x) == pytest.approx(1.0, abs=2e-6)
    mean = np.trapezoid(x * rho, x)
    assert mean == pytest.approx(1.0, abs=2e-6)
    assert np.trapezoid((x - 1) ** 2 * rho, x) == pytest.approx(phi + 2 * eps, abs=2e-6)


def test_free_index_against_large_sample():
    phi, eps = 0.25, 2 * fp.critical_epsilon_closed_form(0.25)
    rng = np.random.default_rng(7)
    counts = np.array([fp.sample_negative_counts(600, phi, [eps], rng)[0] for _ in range(4)])
    alpha = counts.mean() / 600
    assert abs(alpha - fp.free_index(eps, phi)) < 3 / 600  # O(1) eigenvalues at the edge


def test_sampling_is_reproducible_and_validated():
    a = fp.sample_negative_counts(60, 0.5, [0.01, 0.05], np.random.default_rng(3))
    b = fp.sample_negative_counts(60, 0.5, [0.01, 0.05], np.random.default_rng(3))
    assert np.array_equal(a, b) and a[0] <= a[1]
    with pytest.raises(UserInputError):
        fp.free_index(0.1, 1.5)
    with pytest.raises(UserInputError):
        fp.free_index(-0.1, 0.5)
