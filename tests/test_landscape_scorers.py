"""Scorers behind one protocol: each against the exact per-point ``functional_call`` (float64),
the choice made by structure alone, and the scorer named in every result."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import deepscope.landscape as landscape
from deepscope.errors import UserInputError
from deepscope.landscape import (
    LandscapeEvaluator,
    evaluate_curve,
    evaluate_grid,
    fit_curve,
    flat_parameters,
    interpolate,
    random_directions,
)
from deepscope.landscape._chain_scorer import ChainScorer
from deepscope.landscape._scorer import Scorer, probe_points

DT = torch.float64


def seeded(module: nn.Module, seed: int = 0, scale: float = 0.4) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=DT) * scale)
    return module


def mlp():
    return seeded(nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3)).double())


def deep_mlp():
    return seeded(nn.Sequential(nn.Linear(6, 9), nn.Tanh(), nn.Linear(9, 7), nn.ReLU(),
                                nn.Linear(7, 3)).double())


class BNConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))


def bn_conv():
    model = seeded(BNConv().double())
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.3, 0.3, generator=gen)
        model.bn.running_var.uniform_(0.5, 2.0, generator=gen)
    return model.eval()


def vectors(n=90, d=6, c=3, seed=0, sizes=(40, 35, 15)):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, *((d,) if isinstance(d, int) else d), generator=gen, dtype=DT)
    y = torch.randint(0, c, (n,), generator=gen)
    out, start = [], 0
    for s in sizes:
        out.append((X[start:start + s], y[start:start + s]))
        start += s
    return out


def images():
    return vectors(n=30, d=(1, 4, 4), sizes=(18, 12))


def basis_of(model, k=2, seed=3):
    dirs = random_directions(model, k, seed=seed, one_d="normalise")
    return torch.cat([flat_parameters(model)[None], dirs.vectors])


def truth(model, basis, C, batches, loss=F.cross_entropy, closure=False):
    """Loss and accuracy at each point from one functional_call per batch, weighted by samples
    (an independent reference: no evaluator code)."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    total = sum(len(b[1]) if isinstance(b, tuple) else len(b["y"]) for b in batches)
    losses, accs = [], []
    for row in C:
        flat = torch.as_tensor(row, dtype=DT) @ basis
        params = dict(zip(names, (t.reshape(s) for t, s in
                                  zip(flat.split([int(np.prod(s)) for s in shapes]), shapes))))
        L = A = 0.0
        with torch.no_grad():
            for b in batches:
                if closure:
                    out = torch.func.functional_call(model, params, (b,))
                    L += float(F.cross_entropy(out, b["y"])) * len(b["y"]) / total
                    continue
                X, y = b
                out = torch.func.functional_call(model, params, (X,))
                L += float(loss(out, y)) * len(y) / total
                A += float((out.argmax(1) == y).double().sum()) / total
        losses.append(L)
        accs.append(A)
    return np.array(losses), np.array(accs)


def points(K, n=7, seed=0):
    rng = np.random.default_rng(seed)
    C = np.concatenate([np.ones((n, 1)), rng.uniform(-1.2, 1.2, (n, K - 1))], axis=1)
    C[-1] = [0.6, *([0.3] * (K - 1))]        # theta_0's coefficient not 1
    return C


def check_against_truth(ev, model, basis, batches, **kw):
    C = points(ev.K)
    got = ev.evaluate_points(C)
    want_loss, want_acc = truth(model, basis, C, batches, **kw)
    np.testing.assert_allclose(got["loss"], want_loss, rtol=1e-10, atol=1e-12)
    if "accuracy" in got:
        np.testing.assert_allclose(got["accuracy"], want_acc, rtol=0, atol=1e-12)
    return got


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("make", [mlp, deep_mlp])
def test_chain_scorer_matches_functional_call(make, compiled, monkeypatch):
    monkeypatch.setattr(LandscapeEvaluator, "compiled_head", compiled)
    model, batches = make(), vectors()
    basis = basis_of(model)
    ev = LandscapeEvaluator(model, "ce", batches, basis)
    kernel = compiled and make is mlp
    assert ev.scorer.name == ("chain + compiled cross-entropy" if kernel else "chain")
    assert isinstance(ev.scorer, Scorer)
    check_against_truth(ev, model, basis, batches)
    # the protocol itself: (n, b, out) outputs equal to one functional_call per point
    C = probe_points(3, DT, torch.device("cpu"))
    X = batches[0][0]
    got = ev.scorer.outputs(C, X).clone()
    want = ev.exact.outputs(C[:1], X).clone()
    assert got.shape == (2, len(X), 3) and want.shape == (1, len(X), 3)
    torch.testing.assert_close(got[:1], want, rtol=1e-12, atol=1e-13)


def test_inference_scorer_on_a_cnn_with_batchnorm():
    model, batches = bn_conv(), images()
    basis = basis_of(model)
    ev = LandscapeEvaluator(model, "ce", batches, basis)
    assert ev.scorer.name == "inference" and ev.method_ == "batched", ev.fallback_reason_
    assert isinstance(ev.scorer, Scorer)
    check_against_truth(ev, model, basis, batches)
    # BatchNorm re-estimated per point: only the exact scorer does that
    rc = LandscapeEvaluator(model, "ce", batches, basis, bn="recompute")
    assert rc.scorer.name == "exact" and "recomputed" in rc.fallback_reason_


def test_dict_batches_and_closure_losses_take_the_exact_scorer():
    class DictNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 3)

        def forward(self, batch):
            return self.lin(batch["x"])

    model = seeded(DictNet().double())
    basis = basis_of(model)
    raw = vectors()
    pairs = [({"x": X}, y) for X, y in raw]
    ev = LandscapeEvaluator(model, "ce", pairs, basis)
    assert ev.scorer.name == "exact" and "not one tensor" in ev.fallback_reason_
    check_against_truth(ev, model, basis, pairs)

    def closure(m, batch):
        return F.cross_entropy(m(batch), batch["y"])

    dicts = [{"x": X, "y": y} for X, y in raw]
    ev = LandscapeEvaluator(model, closure, dicts, basis)
    assert ev.scorer.name == "exact" and "closure" in ev.fallback_reason_
    check_against_truth(ev, model, basis, dicts, closure=True)
    with pytest.raises(UserInputError, match="closure"):
        LandscapeEvaluator(model, closure, dicts, basis, method="batched")


def test_results_name_their_scorer():
    model, batches = mlp(), vectors()
    dirs = random_directions(model, 2, seed=0)
    grid = evaluate_grid(model, "ce", batches, dirs, grid=(3, 3))
    assert grid.scorer == "chain + compiled cross-entropy (unit points: exact)"
    assert grid.info["scorer"] == grid.scorer and grid.method == "batched"
    exact = evaluate_grid(model, "ce", batches, dirs, grid=(3, 3), method="exact")
    assert exact.scorer == "exact" and exact.method == "exact"
    cnn = bn_conv()
    conv = evaluate_grid(cnn, "ce", images(), random_directions(cnn, 1, seed=0), grid=3)
    assert conv.scorer == "inference (unit points: exact)"
    other = seeded(nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3)).double(), 1)
    line = interpolate(model, other, nn.CrossEntropyLoss(weight=torch.tensor(
        [1.0, 2.0, 0.5], dtype=DT)), batches, n_points=5)
    assert line.scorer == "chain (unit points: exact)"   # a weighted loss: no compiled pass
    curve = fit_curve(model, other, "ce", batches, n_steps=2)
    res = evaluate_curve(curve, model, "ce", batches, n_points=5, method="exact")
    assert res.scorer == "exact" and res.method == "exact"
    # only interior points: no unit point, the chain scorer alone
    ev = LandscapeEvaluator(model, "ce", batches, basis_of(model))
    assert ev.describe(points(3)) == "chain + compiled cross-entropy"


@pytest.mark.parametrize("make,data", [(mlp, vectors), (bn_conv, images)])
def test_auto_choice_is_a_function_of_structure_not_time(make, data, monkeypatch):
    model, batches = make(), data()
    dirs = random_directions(model, 2, seed=1)
    runs = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        monkeypatch.setattr(time, "perf_counter", lambda r=rng: float(r.uniform(0, 1e6)))
        monkeypatch.setattr(time, "time", lambda r=rng: float(r.uniform(0, 1e6)))
        runs.append(evaluate_grid(model, "ce", batches, dirs, grid=(4, 3)))
        monkeypatch.undo()
    assert len({r.scorer for r in runs}) == 1 and runs[0].method == "batched"
    for r in runs[1:]:
        assert np.array_equal(r.loss, runs[0].loss)


def test_probe_catches_a_scorer_that_disagrees(monkeypatch):
    model, batches = deep_mlp(), vectors()
    real = ChainScorer.outputs

    def off(self, C, X, key=None):
        return real(self, C, X, key) * (1 + 1e-6)

    monkeypatch.setattr(ChainScorer, "outputs", off)
    ev = LandscapeEvaluator(model, "ce", batches, basis_of(model))
    assert ev.scorer.name == "exact" and "differ" in ev.fallback_reason_
    with pytest.raises(UserInputError, match="differ"):
        LandscapeEvaluator(model, "ce", batches, basis_of(model), method="batched")


class _Fixed:
    """A scorer that returns given outputs whatever it is asked."""

    name = "fixed"

    def __init__(self, out):
        self.out = out

    def outputs(self, C, X, key=None):
        return self.out.clone()


def test_probe_accepts_equal_non_finite_outputs_and_refuses_different_ones():
    from deepscope.landscape._scorer import Unsupported, probe

    out = torch.tensor([[[1.0, float("nan")], [float("inf"), 2.0]]], dtype=torch.float64)
    X, C = torch.zeros(2, 3), torch.ones(1, 1, dtype=torch.float64)
    probe(_Fixed(out), _Fixed(out), X, C, nn.Identity())  # the same NaN and inf: accepted
    other = out.clone()
    other[0, 1, 0] = float("-inf")
    with pytest.raises(Unsupported):
        probe(_Fixed(other), _Fixed(out), X, C, nn.Identity())
    shifted = out.clone()
    shifted[0, 1, 1] = 2.001
    with pytest.raises(Unsupported):
        probe(_Fixed(shifted), _Fixed(out), X, C, nn.Identity())


def test_missing_numba_falls_back_to_the_torch_path(monkeypatch):
    model, batches = mlp(), vectors()
    basis = basis_of(model)
    with_kernel = LandscapeEvaluator(model, "ce", batches, basis)
    assert with_kernel.scorer.terms_ok
    compiled = with_kernel.evaluate_points(points(3))["loss"]
    monkeypatch.setitem(sys.modules, "numba", None)      # import numba raises ImportError
    monkeypatch.delitem(sys.modules, "deepscope.landscape._fused", raising=False)
    monkeypatch.delattr(landscape, "_fused", raising=False)
    ev = LandscapeEvaluator(model, "ce", batches, basis)
    assert ev.scorer.name == "chain" and not ev.scorer.terms_ok
    assert "numba" in ev.kernel_reason_
    got = check_against_truth(ev, model, basis, batches)
    np.testing.assert_allclose(got["loss"], compiled, rtol=1e-12)
    grid = evaluate_grid(model, "ce", batches, random_directions(model, 2, seed=0), grid=3)
    assert grid.scorer == "chain (unit points: exact)" and "numba" in grid.info["kernel_reason"]
