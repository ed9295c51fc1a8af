"""Landscape evaluation against analytic answers; fast scorers against the exact per-point one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.curvature import HessianOperator
from deepscope.errors import UserInputError
from deepscope.landscape import (
    LandscapeEvaluator,
    evaluate_grid,
    flat_parameters,
    random_directions,
)
from deepscope.models import SmallCNN, SmallResNet


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.5)
    return module


def classification(n=60, d=6, c=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=gen)
    return X, y


def uneven(X, y, sizes=(25, 20, 15)):
    out, start = [], 0
    for s in sizes:
        out.append((X[start:start + s], y[start:start + s]))
        start += s
    return out


class Point(nn.Module):
    """A model whose output is its parameter vector (one row per sample)."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float64))

    def forward(self, x):
        return self.w.expand(x.shape[0], -1)


def test_quadratic_slice_matches_hvp():
    # least squares at its minimum: L(w* + a d) = 1/2 a^2 d^T H d exactly
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(40, 7, generator=gen, dtype=torch.float64)
    w_star = torch.randn(1, 7, generator=gen, dtype=torch.float64)
    y = X @ w_star.T
    model = nn.Linear(7, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w_star)
    dirs = random_directions(model, 1, norm="layer", seed=3)
    res = evaluate_grid(model, "mse", (X, y), dirs, grid=21, span=(-2, 2), method="batched")
    assert res.method == "batched"
    d = dirs.vectors[0]
    curvature = float(d @ (HessianOperator(model, "mse", (X, y)) @ d))
    a = res.coords[0]
    np.testing.assert_allclose(res.loss, 0.5 * a ** 2 * curvature, rtol=1e-12, atol=1e-28)
    assert res.loss.shape == (21,)


def test_rosenbrock_slices_closed_form():
    def rosen(out, _y):
        x, yv = out[:, 0], out[:, 1]
        return ((1 - x) ** 2 + 100 * (yv - x ** 2) ** 2).mean()

    x0 = np.array([-0.7, 1.3])
    model = Point(x0)
    data = (torch.zeros(3, 1, dtype=torch.float64), torch.zeros(3))
    D = torch.tensor([[0.6, -0.8], [0.3, 0.4]], dtype=torch.float64)
    res = evaluate_grid(model, rosen, data, D, grid=(9, 7), span=[(-1, 1), (-0.5, 2)])
    A, B = np.meshgrid(*res.coords, indexing="ij")
    x = x0[0] + A * 0.6 + B * 0.3
    yv = x0[1] - A * 0.8 + B * 0.4
    np.testing.assert_allclose(res.loss, (1 - x) ** 2 + 100 * (yv - x ** 2) ** 2, rtol=1e-13)
    assert res.method == "exact"
    with pytest.raises(UserInputError, match="Point"):
        evaluate_grid(model, rosen, data, D, grid=(3, 3), method="batched")


def test_centre_equals_base_loss_bitwise():
    from deepscope.problem import Problem

    X, y = classification()
    model = seeded(nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double())
    batches = uneven(X, y)
    res = evaluate_grid(model, "ce", batches, random_directions(model, 2, seed=0), grid=(5, 5))
    base = float(Problem(model, "ce", batches).loss())
    assert res.loss[2, 2] == base == res.base_loss
    with torch.no_grad():
        manual = sum(len(b[1]) / 60 * float(nn.functional.cross_entropy(model(b[0]), b[1]))
                     for b in batches)
    assert abs(base - manual) < 1e-15


def _compare_paths(model, loss, data, k=2, grid=(5, 4), scorer="chain", **kw):
    dirs = random_directions(model, k, seed=2, one_d="normalise")
    fast = evaluate_grid(model, loss, data, dirs, grid=grid, method="batched", **kw)
    slow = evaluate_grid(model, loss, data, dirs, grid=grid, method="exact", **kw)
    assert fast.method == "batched" and slow.method == "exact"
    assert fast.scorer.startswith(scorer) and fast.scorer.endswith("(unit points: exact)")
    assert slow.scorer == "exact" and fast.info["scorer"] == fast.scorer
    for name in slow.values:
        np.testing.assert_allclose(fast.values[name], slow.values[name], rtol=1e-12, atol=1e-12)
    return fast


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
def test_batched_equals_loop_mlp(act):
    X, y = classification()
    model = seeded(nn.Sequential(nn.Linear(6, 8), act(), nn.Linear(8, 8), act(),
                                 nn.Linear(8, 3)).double())

    def margin(out, target):
        return (out.gather(1, target[:, None]).squeeze(1) - out.mean(1)).mean()

    res = _compare_paths(model, "ce", uneven(X, y), metrics={"margin": margin})
    assert set(res.values) == {"loss", "accuracy", "margin"}
    _compare_paths(model, nn.CrossEntropyLoss(reduction="sum"), uneven(X, y), k=1, grid=6)
    _compare_paths(model, lambda o, t: nn.functional.cross_entropy(o, t), uneven(X, y), k=3,
                   grid=(3, 3, 2), points_per_pass=5)


def test_conv_nets_take_the_inference_scorer_others_the_exact_one():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(12, 1, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (12,), generator=gen)
    batches = [(X[:7], y[:7]), (X[7:], y[7:])]
    _compare_paths(seeded(SmallCNN(n_classes=4, channels=(3, 4)).double()), "ce", batches,
                   scorer="inference")
    resnet = seeded(SmallResNet(n_classes=4, width=4, n_blocks=1).double())
    with torch.no_grad():  # non-trivial running statistics
        for m in resnet.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
    _compare_paths(resnet, "ce", batches, grid=(3, 3), scorer="inference")
    dirs = random_directions(resnet, 2, seed=2)
    auto = evaluate_grid(resnet, "ce", batches, dirs, grid=(3, 3), bn="recompute")
    assert auto.method == "exact" and "recomputed" in auto.info["fallback_reason"]
    with pytest.raises(UserInputError, match="recomputed"):
        evaluate_grid(resnet, "ce", batches, dirs, grid=(3, 3), bn="recompute",
                      method="batched")
    Xf, yf = classification(n=20)
    ln = seeded(nn.Sequential(nn.Linear(6, 5), nn.LayerNorm(5), nn.ReLU(),
                              nn.Linear(5, 2)).double())
    data = (Xf, yf[:, None].double().repeat(1, 2))
    dirs = random_directions(ln, 2, seed=2)
    res = evaluate_grid(ln, "mse", data, dirs, grid=(4, 3))
    assert res.scorer == "exact" and "LayerNorm" in res.info["fallback_reason"]
    with pytest.raises(UserInputError, match="LayerNorm"):
        evaluate_grid(ln, "mse", data, dirs, grid=(4, 3), method="batched")


def test_recompute_differs_from_frozen_and_model_untouched():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(16, 1, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (16,), generator=gen)
    model = seeded(SmallResNet(n_classes=4, width=4, n_blocks=1).double())
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    dirs = random_directions(model, 2, seed=0)
    frozen = evaluate_grid(model, "ce", (X, y), dirs, grid=(3, 3), bn="frozen")
    recompute = evaluate_grid(model, "ce", (X, y), dirs, grid=(3, 3), bn="recompute")
    assert np.abs(frozen.loss - recompute.loss).max() > 1e-3
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training


def test_same_seed_bit_identical_and_chunking():
    X, y = classification()
    model = seeded(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double())
    runs = [evaluate_grid(model, "ce", (X, y), random_directions(model, 2, seed=5),
                          grid=(6, 6)).loss for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])
    small = evaluate_grid(model, "ce", (X, y), random_directions(model, 2, seed=5), grid=(6, 6),
                          points_per_pass=7).loss
    np.testing.assert_allclose(small, runs[0], rtol=1e-13)
    other = evaluate_grid(model, "ce", (X, y), random_directions(model, 2, seed=6),
                          grid=(6, 6)).loss
    assert not np.array_equal(other, runs[0])


def test_float32_model_float64_evaluation():
    X, y = classification()
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    dirs = random_directions(model, 2, seed=0)
    r64 = evaluate_grid(model, "ce", (X.float(), y), dirs, grid=(4, 4), dtype=torch.float64)
    r32 = evaluate_grid(model, "ce", (X.float(), y), dirs, grid=(4, 4))
    np.testing.assert_allclose(r32.loss, r64.loss, rtol=1e-5)


def test_subsampling_standard_error():
    X, y = classification(n=200)
    model = seeded(nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)).double())
    theta = flat_parameters(model)
    dirs = random_directions(model, 1, seed=0)
    ev = LandscapeEvaluator(model, "ce", uneven(X, y, (120, 80)),
                            torch.cat([theta[None], dirs.vectors]), n_samples=50, seed=4)
    out = ev.evaluate_points(np.array([[1.0, 0.0], [1.0, 0.5]]))
    idx = torch.as_tensor(ev.subset)
    with torch.no_grad():
        per = nn.functional.cross_entropy(model(X[idx]), y[idx], reduction="none")
    assert abs(out["loss"][0] - float(per.mean())) < 1e-14
    want = float(per.std()) / np.sqrt(50) * np.sqrt(1 - 50 / 200)
    assert abs(out["loss_stderr"][0] - want) < 1e-14
    assert np.all(out["loss_stderr"] > 0) and np.all(out["accuracy_stderr"] > 0)
    res = evaluate_grid(model, "ce", (X, y), dirs, grid=5, n_samples=50, seed=4)
    assert res.stderr.shape == (5,) and np.isfinite(res.stderr).all()


def test_fallback_when_weights_used_outside_module():
    class Sneaky(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 3)

        def forward(self, x):
            return nn.functional.linear(x, self.lin.weight * 2) + self.lin.bias

    X, y = classification()
    model = seeded(Sneaky().double())
    dirs = random_directions(model, 2, seed=0)
    auto = evaluate_grid(model, "ce", (X, y), dirs, grid=(3, 3))
    exact = evaluate_grid(model, "ce", (X, y), dirs, grid=(3, 3), method="exact")
    assert auto.method == "exact" and auto.scorer == "exact"
    np.testing.assert_array_equal(auto.loss, exact.loss)
    with pytest.raises(UserInputError, match="Sneaky"):
        evaluate_grid(model, "ce", (X, y), dirs, grid=(3, 3), method="batched")


def test_closure_loss_uses_exact_path():
    X, y = classification()
    model = seeded(nn.Sequential(nn.Linear(6, 3)).double())

    def closure(model, batch):
        return nn.functional.cross_entropy(model(batch[0]), batch[1])

    dirs = random_directions(model, 1, seed=0, one_d="keep")
    a = evaluate_grid(model, closure, (X, y), dirs, grid=5)
    b = evaluate_grid(model, "ce", (X, y), dirs, grid=5)
    assert a.method == "exact"
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-13)


@pytest.mark.parametrize("grid,span", [("0x5", (-1, 1)), ((5, 5), (1, -1)), ((5, 5), (0, 0)),
                                       ((3,), (-1, 1)), ("ax3", (-1, 1)),
                                       ((5, 5), (-1, float("nan")))])
def test_bad_grid_and_span(grid, span):
    X, y = classification()
    model = nn.Sequential(nn.Linear(6, 3)).double()
    with pytest.raises(UserInputError) as info:
        evaluate_grid(model, "ce", (X, y), random_directions(model, 2, one_d="keep"), grid=grid,
                      span=span)
    assert "\n" not in str(info.value)


def test_nan_directions_refused():
    X, y = classification()
    model = nn.Sequential(nn.Linear(6, 3)).double()
    D = torch.zeros(1, 21, dtype=torch.float64)
    D[0, 3] = float("nan")
    with pytest.raises(UserInputError, match="NaN"):
        evaluate_grid(model, "ce", (X, y), D, grid=5)
    with pytest.raises(UserInputError, match="entries"):
        evaluate_grid(model, "ce", (X, y), torch.zeros(1, 5, dtype=torch.float64), grid=5)


def test_sample_blocks_give_the_same_metrics():
    X, y = classification(n=300)
    model = seeded(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double())
    dirs = random_directions(model, 2, seed=1)
    whole = evaluate_grid(model, "ce", (X, y), dirs, grid=(4, 4))
    ev = LandscapeEvaluator(model, "ce", (X, y),
                            torch.cat([flat_parameters(model)[None], dirs.vectors]),
                            points_per_pass=4, sample_block=400)
    pieces = evaluate_grid(model, "ce", (X, y), dirs, grid=(4, 4), evaluator=ev)
    for name in whole.values:
        np.testing.assert_allclose(pieces.values[name], whole.values[name], rtol=1e-12)


def test_closure_loss_subsample_standard_error_is_calibrated():
    """Closure losses are batch means: their error comes from random groups of the subset."""
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(2000, 6, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (2000,), generator=gen)
    model = seeded(nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)).double())
    basis = flat_parameters(model)[None]
    batches = [(X[i:i + 500], y[i:i + 500]) for i in range(0, 2000, 500)]

    def closure(model, batch):
        return nn.functional.cross_entropy(model(batch[0]), batch[1])

    with torch.no_grad():
        truth = float(nn.functional.cross_entropy(model(X), y))
    z, ratios = [], []
    for seed in range(120):
        ev = LandscapeEvaluator(model, closure, batches, basis, n_samples=200, seed=seed)
        got = ev.evaluate_points(np.array([[1.0]]))
        idx = torch.as_tensor(ev.subset)
        with torch.no_grad():
            per = nn.functional.cross_entropy(model(X[idx]), y[idx], reduction="none")
        assert abs(got["loss"][0] - float(per.mean())) < 1e-13  # the subset's mean loss
        assert np.isfinite(got["loss_stderr"][0]) and got["loss_stderr"][0] > 0
        z.append((got["loss"][0] - truth) / got["loss_stderr"][0])
        ratios.append(got["loss_stderr"][0] / (float(per.std()) / np.sqrt(200)
                                               * np.sqrt(1 - 200 / 2000)))
    z = np.abs(np.array(z))
    assert np.mean(z < 3) >= 0.95 and np.mean(z < 1) > 0.55
    assert 0.85 < np.median(ratios) < 1.15   # agrees with the per-sample error
