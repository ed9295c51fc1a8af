"""Random-direction slices under the rescalings their normalisation absorbs (Dinh et al. 2017).

A rescaling ``T`` that leaves the network's function unchanged must leave every 2-D slice
``L(theta + a d1 + b d2)`` unchanged when the directions are drawn at ``T theta`` instead of
``theta``. Truth: the loss of the unscaled model on the same grid, recomputed point by point; the
tolerance 1e-10 (float64) is rounding: each loss is a few hundred float64 operations on O(1)
values (measured: at most 4.4e-16), while Euclidean orthogonalisation moves these planes by
8e-3 to 2e-1. Negative controls (Euclidean orthogonalisation, unnormalised 1-D pieces) show that
the tests can fail.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.landscape import evaluate_grid, random_directions

TOL = 1e-10
GRID = {"grid": (7, 7), "span": (-1.0, 1.0), "accuracy": False}


def plane(model, data, bn="frozen", **kw):
    dirs = random_directions(model, 2, seed=kw.pop("seed", 3), **kw)
    return evaluate_grid(model, "ce", data, dirs, bn=bn, **GRID).loss


def scaled_copy(model, factors, buffers=None):
    """A copy with parameters (and buffers) multiplied by the given factors."""
    out = copy.deepcopy(model)
    named = {**dict(out.named_parameters()), **dict(out.named_buffers())}
    with torch.no_grad():
        for name, f in {**factors, **(buffers or {})}.items():
            named[name].mul_(f)
    return out


def outputs_equal(a, b, X):
    with torch.no_grad():
        ya, yb = a(X), b(X)
    return float((ya - yb).abs().max() / ya.abs().max())


# ----------------------------------------------------------------------------- MLP
def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(),
                         nn.Linear(6, 3)).double()


def mlp_data(n=40):
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(n, 5, generator=gen, dtype=torch.float64),
            torch.randint(0, 3, (n,), generator=gen))


def dinh(alpha):
    """T_alpha on the ReLU pair (layer 0, bias included; layer 2)."""
    return {"0.weight": alpha, "0.bias": alpha, "2.weight": 1 / alpha}


@pytest.mark.parametrize("alpha", [0.3, 3.7, 16.0])
@pytest.mark.parametrize("norm", ["filter", "layer", "adaptive"])
@pytest.mark.parametrize("one_d", ["ignore", "normalise"])
def test_mlp_plane_invariant_by_default(alpha, norm, one_d):
    model, data = mlp(), mlp_data()
    other = scaled_copy(model, dinh(alpha))
    assert outputs_equal(model, other, data[0]) < 1e-13
    base = plane(model, data, norm=norm, one_d=one_d)
    moved = plane(other, data, norm=norm, one_d=one_d)
    assert np.abs(base - moved).max() < TOL
    assert np.ptp(base) > 0.05  # the plane is not flat: the comparison has content


@pytest.mark.parametrize("orthogonalise", ["blockwise", "scaled", "none"])
def test_directions_equivariant(orthogonalise):
    """d(T theta) = T d(theta) exactly, for every invariant orthogonalisation."""
    model, alpha = mlp(), 3.7
    other = scaled_copy(model, dinh(alpha))
    for one_d in ("ignore", "normalise"):
        d0 = random_directions(model, 3, seed=5, one_d=one_d, orthogonalise=orthogonalise)
        d1 = random_directions(other, 3, seed=5, one_d=one_d, orthogonalise=orthogonalise)
        for i in range(3):
            p0, p1 = d0.split(i), d1.split(i)
            for name, f in {**dinh(alpha), "2.bias": 1.0, "4.weight": 1.0}.items():
                np.testing.assert_allclose(p1[name], f * p0[name], rtol=1e-12, atol=1e-14)


def test_blockwise_exact_filter_norms_and_orthogonality():
    model = mlp()
    dirs = random_directions(model, 3, seed=1, one_d="normalise")
    assert dirs.info["small_blocks"] == []
    for i in range(3):
        for name, p in model.named_parameters():
            d = dirs.split(i)[name]
            dims = tuple(range(1, p.ndim)) if p.ndim > 1 else (0,)
            np.testing.assert_allclose(torch.linalg.vector_norm(d, dim=dims),
                                       torch.linalg.vector_norm(p.detach(), dim=dims), rtol=1e-12)
            for j in range(i):  # orthogonal filter by filter, hence in every metric
                dot = (d * dirs.split(j)[name]).sum(dim=dims).abs()
                assert float(dot.max()) < 1e-12 * float(p.detach().norm() ** 2)
    assert np.abs(dirs.cosines - np.eye(3)).max() < 1e-12
    assert np.abs(np.asarray(dirs.info["cosines_metric"]) - np.eye(3)).max() < 1e-12


def test_small_blocks_orthogonalised_in_scaled_metric():
    """Filters of one element cannot hold two orthogonal pieces: scaled metric there."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(1, 6), nn.ReLU(), nn.Linear(6, 2)).double()
    X = torch.linspace(-2, 2, 30, dtype=torch.float64)[:, None]
    data = (X, (X[:, 0] > 0.3).long())
    dirs = random_directions(model, 2, seed=0)
    assert dirs.info["small_blocks"] == ["0.weight"]
    assert abs(dirs.info["cosines_metric"][0][1]) < 1e-12
    d0, d1 = dirs.split(0)["2.weight"], dirs.split(1)["2.weight"]
    np.testing.assert_allclose(d1.norm(dim=1), model[2].weight.detach().norm(dim=1), rtol=1e-12)
    assert float((d0 * d1).sum(dim=1).abs().max()) < 1e-12
    other = scaled_copy(model, dinh(2.9))
    assert np.abs(plane(model, data, seed=0) - plane(other, data, seed=0)).max() < TOL


def test_euclidean_orthogonalisation_is_not_invariant():
    model, data = mlp(), mlp_data()
    other = scaled_copy(model, dinh(3.7))
    base = plane(model, data, orthogonalise="euclidean")
    moved = plane(other, data, orthogonalise="euclidean")
    assert np.abs(base - moved).max() > 1e-3


def test_unnormalised_bias_is_not_invariant():
    """``one_d="keep"`` draws the bias piece without its scale: alpha b_1 is not absorbed."""
    model, data = mlp(), mlp_data()
    other = scaled_copy(model, dinh(3.7))
    base = plane(model, data, one_d="keep")
    assert np.abs(base - plane(other, data, one_d="keep")).max() > 1e-3


# ----------------------------------------------------------------------------- CNN with BN
class ConvBN(nn.Module):
    def __init__(self, eps=1e-5):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(4, eps=eps)
        self.conv2 = nn.Conv2d(4, 5, 3)
        self.bn2 = nn.BatchNorm2d(5, eps=eps)
        self.head = nn.Linear(5 * 4 * 4, 3)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))
        return self.head(h.flatten(1))


def conv_model(eps=1e-5):
    torch.manual_seed(0)
    model = ConvBN(eps).double()
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(24, 2, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (24,), generator=gen)
    with torch.no_grad():  # running statistics of a model that has seen data
        model.train()
        model(X)
        for bn in (model.bn1, model.bn2):
            bn.weight.uniform_(0.5, 1.5, generator=gen)
            bn.bias.uniform_(-0.5, 0.5, generator=gen)
    return model.eval(), (X, y)


@pytest.mark.parametrize("alpha", [0.3, 3.7])
@pytest.mark.parametrize("one_d", ["ignore", "normalise"])
def test_cnn_relu_pair_after_batchnorm(alpha, one_d):
    """T_alpha on (BN affine of layer 1, conv2 weight): exact in eval mode, eps included."""
    model, data = conv_model()
    other = scaled_copy(model, {"bn1.weight": alpha, "bn1.bias": alpha,
                                "conv2.weight": 1 / alpha})
    assert outputs_equal(model, other, data[0]) < 1e-13
    base = plane(model, data, one_d=one_d)
    assert np.abs(base - plane(other, data, one_d=one_d)).max() < TOL
    assert np.ptp(base) > 0.05
    euclid = plane(other, data, one_d=one_d, orthogonalise="euclidean")
    assert np.abs(plane(model, data, one_d=one_d, orthogonalise="euclidean") - euclid).max() > 1e-3


@pytest.mark.parametrize("bn", ["frozen", "recompute"])
def test_cnn_conv_weight_scale_under_batchnorm(bn):
    """BN makes conv1's weight scale-invariant: exactly when eps vanishes next to the variances
    (eps = 1e-300: var + eps == var in float64; the default 1e-5 moves the plane by 1e-6), with the
    running statistics scaled along in eval mode, re-estimated at every point otherwise."""
    model, data = conv_model(eps=1e-300)
    s = 3.7
    buffers = {"bn1.running_mean": s, "bn1.running_var": s * s}  # unused by "recompute"
    other = scaled_copy(model, {"conv1.weight": s}, buffers)
    assert outputs_equal(model, other, data[0]) < 1e-12
    for one_d in ("ignore", "normalise"):
        base = plane(model, data, bn=bn, one_d=one_d)
        assert np.abs(base - plane(other, data, bn=bn, one_d=one_d)).max() < TOL
        assert np.ptp(base) > 0.05


# ----------------------------------------------------------------------------- attention block
class Block(nn.Module):
    """Pre-norm single-head attention and a ReLU MLP, mean-pooled, linear head."""

    def __init__(self, d=6, hidden=10, classes=3):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        z = self.ln1(x)
        att = torch.softmax(self.q(z) @ self.k(z).transpose(1, 2) / z.shape[-1] ** 0.5, dim=-1)
        x = x + self.o(att @ self.v(z))
        x = x + self.fc2(torch.relu(self.fc1(self.ln2(x))))
        return self.head(x.mean(dim=1))


def block_symmetries(a, b, c):
    """W_V -> a W_V (with b_V), W_O -> W_O / a; W_Q -> b W_Q, W_K -> W_K / b (biases along,
    q.k is bilinear); the MLP's ReLU pair by c."""
    return {"v.weight": a, "v.bias": a, "o.weight": 1 / a,
            "q.weight": b, "q.bias": b, "k.weight": 1 / b, "k.bias": 1 / b,
            "fc1.weight": c, "fc1.bias": c, "fc2.weight": 1 / c}


@pytest.mark.parametrize("one_d", ["ignore", "normalise"])
def test_attention_block_rescalings(one_d):
    torch.manual_seed(0)
    model = Block().double()
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(16, 5, 6, generator=gen, dtype=torch.float64)
    data = (X, torch.randint(0, 3, (16,), generator=gen))
    other = scaled_copy(model, block_symmetries(3.7, 0.3, 2.2))
    assert outputs_equal(model, other, X) < 1e-12
    base = plane(model, data, one_d=one_d)
    assert np.abs(base - plane(other, data, one_d=one_d)).max() < TOL
    assert np.ptp(base) > 0.05
    euclid = [plane(m, data, one_d=one_d, orthogonalise="euclidean") for m in (model, other)]
    assert np.abs(euclid[0] - euclid[1]).max() > 1e-3
