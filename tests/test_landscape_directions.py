"""Directions: normalisations, 1-D rules, orthogonality, regeneration, PCA, Hessian, planes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.errors import UserInputError
from deepscope.landscape import (
    Directions,
    TrajectoryRecorder,
    directions_from_spec,
    evaluate_grid,
    flat_parameters,
    hessian_directions,
    pca_directions,
    plane_through,
    random_directions,
    target_direction,
)


def net(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4),
                          nn.BatchNorm1d(4), nn.Linear(4, 2)).to(dtype)
    with torch.no_grad():
        model[4].weight.uniform_(0.5, 1.5)
        model[4].bias.uniform_(-0.5, 0.5)
    return model


def test_filter_normalisation_per_filter():
    model = net()
    dirs = random_directions(model, 2, norm="filter", seed=0, orthogonalise="none")
    for i in range(2):
        parts = dirs.split(i)
        for name, p in model.named_parameters():
            d = parts[name]
            if p.ndim >= 2:
                dims = tuple(range(1, p.ndim))
                np.testing.assert_allclose(torch.linalg.vector_norm(d, dim=dims),
                                           torch.linalg.vector_norm(p.detach(), dim=dims),
                                           rtol=1e-12)
            else:
                assert torch.count_nonzero(d) == 0  # one_d="ignore"


@pytest.mark.parametrize("norm", ["layer", "model", "adaptive", "none"])
def test_other_normalisations(norm):
    model = net()
    dirs = random_directions(model, 1, norm=norm, seed=1, one_d="normalise")
    parts = dirs.split(0)
    theta = flat_parameters(model)
    d = dirs.vectors[0]
    if norm == "model":
        assert abs(float(d.norm() / theta.norm()) - 1) < 1e-12
    for name, p in model.named_parameters():
        if norm == "layer":
            assert abs(float(parts[name].norm() / p.detach().norm()) - 1) < 1e-12
        if norm == "adaptive":
            ratio = parts[name] / p.detach().abs()
            assert torch.isfinite(ratio).all()  # scaled elementwise by |theta|
    if norm == "none":
        assert not torch.allclose(d.norm(), theta.norm())


def test_one_d_rules():
    model = net()
    keep = random_directions(model, 1, seed=3, one_d="keep", orthogonalise="none").split(0)
    norm = random_directions(model, 1, seed=3, one_d="normalise", orthogonalise="none").split(0)
    for name, p in model.named_parameters():
        if p.ndim == 1:
            assert abs(float(norm[name].norm() / p.detach().norm()) - 1) < 1e-12
            assert torch.allclose(norm[name] / norm[name].norm(), keep[name] / keep[name].norm())
    with pytest.raises(UserInputError):
        random_directions(model, 1, one_d="drop")
    with pytest.raises(UserInputError):
        random_directions(model, 1, norm="unit")
    bias_only = nn.Linear(3, 2).double()
    with pytest.raises(UserInputError, match="zero"):
        random_directions(bias_only, 1, params="bias", one_d="ignore")


@pytest.mark.parametrize("norm", ["filter", "layer", "model", "adaptive"])
def test_axes_orthogonal_after_normalisation(norm):
    model = net()
    dirs = random_directions(model, 3, norm=norm, seed=0)
    # the default is orthogonal in the normalisation's metric; block by block, hence also in the
    # Euclidean one, except for elementwise blocks (adaptive), which cannot hold three pieces
    assert np.abs(np.asarray(dirs.info["cosines_metric"]) - np.eye(3)).max() < 1e-12
    assert dirs.info["small_blocks"] == ([] if norm != "adaptive" else
                                         [n for n, p in model.named_parameters() if p.ndim > 1])
    assert np.abs(dirs.cosines_raw - np.eye(3)).max() > 1e-6  # there was something to remove
    euclid = random_directions(model, 3, norm=norm, seed=0, orthogonalise="euclidean")
    for d in ((dirs, euclid) if norm != "adaptive" else (euclid,)):
        assert np.abs(d.cosines - np.eye(3)).max() < 1e-12
        V = d.vectors.double()
        assert float((V[0] @ V[1]).abs()) < 1e-12 * float(V[0].norm() * V[1].norm())


def test_scaled_orthogonalisation_metric():
    model = net()
    dirs = random_directions(model, 2, seed=0, orthogonalise="scaled")
    assert abs(dirs.info["cosines_metric"][0][1]) < 1e-12


def test_same_seed_same_bits_and_regeneration():
    model = net()
    a = random_directions(model, 2, seed=7)
    b = random_directions(model, 2, seed=7)
    c = directions_from_spec(model, a.spec)
    assert torch.equal(a.vectors, b.vectors) and torch.equal(a.vectors, c.vectors)
    assert not torch.equal(a.vectors, random_directions(model, 2, seed=8).vectors)
    # a float32 copy of the model draws the same Gaussians
    f32 = random_directions(net(dtype=torch.float32), 2, seed=7, norm="none")
    f64 = random_directions(model, 2, seed=7, norm="none")
    np.testing.assert_allclose(f32.vectors.double(), f64.vectors, rtol=1e-6, atol=1e-7)
    with pytest.raises(UserInputError):
        directions_from_spec(model, {"kind": "pca"})


def test_model_never_mutated():
    model = net()
    model[4].running_mean.fill_(0.3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    X = torch.randn(8, 2, 6, dtype=torch.float64)
    y = torch.randint(0, 2, (8,))
    dirs = random_directions(model, 2, seed=0)
    for bn in ("frozen", "recompute"):
        evaluate_grid(model, "ce", (X, y), dirs, grid=(3, 3), bn=bn)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


def test_nan_and_bad_directions():
    with pytest.raises(UserInputError, match="NaN"):
        Directions(torch.tensor([[1.0, float("nan")]]), ["w"], [(2,)])
    with pytest.raises(UserInputError):
        random_directions(net(), 0)


def test_target_and_plane():
    a, b, c = net(0), net(1), net(2)
    d = target_direction(a, b)
    assert torch.equal(d.origin + d.vectors[0], flat_parameters(b)) or torch.allclose(
        d.origin + d.vectors[0], flat_parameters(b), rtol=0, atol=1e-15)
    plane = plane_through(a, b, c)
    c1, c2 = plane.info["model_coords"][2]
    rebuilt = plane.origin + c1 * plane.vectors[0] + c2 * plane.vectors[1]
    assert torch.allclose(rebuilt, flat_parameters(c), atol=1e-12)
    assert abs(plane.cosines[0, 1]) < 1e-12
    other = nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 5))
    with pytest.raises(UserInputError, match="architecture"):
        target_direction(a, other.double())
    with pytest.raises(UserInputError, match="collinear"):
        plane_through(a, b, b)


def test_pca_of_planar_trajectory():
    model = nn.Linear(4, 3).double()
    P = 15
    gen = np.random.default_rng(0)
    u, v = np.linalg.qr(gen.normal(size=(P, 2)))[0].T
    end = flat_parameters(model).numpy()
    s = np.linspace(1, 0, 12)
    rec = TrajectoryRecorder()
    for i, si in enumerate(s):
        point = end + 3 * si * u + np.sin(4 * si) * v
        with torch.no_grad():
            model.weight.copy_(torch.as_tensor(point[:12].reshape(3, 4)))
            model.bias.copy_(torch.as_tensor(point[12:]))
        rec(model, i)
    dirs = pca_directions(rec, model, 2)
    assert abs(sum(dirs.info["explained_variance_ratio"]) - 1) < 1e-10
    assert max(dirs.info["distance_to_plane"]) < 1e-10
    assert torch.allclose(dirs.origin, torch.as_tensor(end))
    V = dirs.vectors.numpy()
    proj = V @ np.stack([u, v]).T  # the components span the same plane
    np.testing.assert_allclose(np.abs(np.linalg.det(proj)), 1, atol=1e-10)
    coords = np.asarray(dirs.info["checkpoint_coords"])
    np.testing.assert_allclose(coords[-1], 0, atol=1e-12)
    with pytest.raises(UserInputError):
        pca_directions(rec, model, 12)
    with pytest.raises(UserInputError):
        pca_directions(np.zeros((5, 3)), model, 2)


def test_hessian_directions_quadratic():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(30, 1, generator=gen, dtype=torch.float64)
    model = nn.Linear(5, 1, bias=False).double()
    dirs = hessian_directions(model, "mse", (X, y), k=2, tol=1e-10)
    H = 2 * X.T @ X / 30
    evals, evecs = torch.linalg.eigh(H)
    np.testing.assert_allclose(dirs.info["eigenvalues"], evals.flip(0)[:2], rtol=1e-10)
    for i in range(2):
        assert abs(abs(float(dirs.vectors[i] @ evecs[:, -1 - i])) - 1) < 1e-8


def test_docstring_examples():
    import doctest

    from deepscope.landscape import _directions as directions
    from deepscope.landscape import _grid as grid
    from deepscope.landscape import _trajectory as trajectory

    for module in (directions, grid, trajectory):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__


@pytest.mark.parametrize("norm", ["model", "none"])
def test_blockwise_is_euclidean_for_whole_vector_norms(norm):
    """One block (the whole vector): Gram-Schmidt before or after the common scale agree."""
    model = net()
    for one_d in ("ignore", "normalise", "keep"):
        block = random_directions(model, 3, norm=norm, seed=4, one_d=one_d)
        metric = np.asarray(block.info["cosines_metric"])
        assert np.abs(metric - np.eye(3)).max() < 1e-12
        if norm == "model" and one_d == "keep":  # the kept 1-D pieces are blocks of their own,
            assert block.info["small_blocks"] == ["5.bias"]  # one of them too small for 3 axes
        else:
            assert np.abs(block.cosines - np.eye(3)).max() < 1e-12
            euclid = random_directions(model, 3, norm=norm, seed=4, one_d=one_d,
                                       orthogonalise="euclidean")
            np.testing.assert_allclose(block.vectors, euclid.vectors, rtol=0, atol=1e-13)
