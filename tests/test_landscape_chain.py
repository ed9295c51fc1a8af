"""The feature-major chain path of the landscape evaluator against the per-point loop (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.errors import UserInputError
from deepscope.landscape import (
    LandscapeEvaluator,
    evaluate_grid,
    flat_parameters,
    interpolate,
    random_directions,
)
from deepscope.landscape._chain import ChainPlan
from deepscope.models import MLP, DeepLinear


@pytest.fixture(autouse=True, params=["passes", "per_point", "compiled"])
def chain_mode(request, monkeypatch):
    """Every test runs three times: points in passes and point by point (the path that chains
    with large layers take, forced here on small ones), both through torch operators; and with
    the compiled cross-entropy pass where it applies (``Linear -> ReLU -> Linear``)."""
    if request.param != "compiled":
        monkeypatch.setattr(LandscapeEvaluator, "compiled_head", False)
    if request.param == "per_point":
        monkeypatch.setattr(ChainPlan, "loop_min_size", 1)
    return request.param


def seeded(module: nn.Module, seed: int = 0, scale: float = 0.5) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale)
    return module


def data(n=70, d=6, c=3, seed=0, sizes=(32, 32, 6)):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=gen)
    out, start = [], 0
    for s in sizes:
        out.append((X[start:start + s], y[start:start + s]))
        start += s
    return out


def evaluators(model, loss, batches, k=2, seed=3, **kw):
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    dirs = random_directions(model, k, seed=seed, one_d="normalise")
    basis = torch.cat([flat_parameters(model, names)[None], dirs.vectors])
    fast = LandscapeEvaluator(model, loss, batches, basis, method="batched", **kw)
    slow = LandscapeEvaluator(model, loss, batches, basis, method="exact", **kw)
    return fast, slow


def points(k, n=9, seed=0):
    rng = np.random.default_rng(seed)
    C = np.concatenate([np.ones((n, 1)), rng.uniform(-1.5, 1.5, (n, k))], axis=1)
    return C


def check(model, loss="ce", batches=None, k=2, **kw):
    batches = batches if batches is not None else data()
    fast, slow = evaluators(model, loss, batches, k=k, **kw)
    assert fast.method_ == "batched" and fast.scorer.name.startswith("chain"), \
        fast.fallback_reason_
    C = points(k)
    got, want = fast.evaluate_points(C), slow.evaluate_points(C)
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-13, err_msg=name)
    return got


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.GELU, nn.Sigmoid, nn.LeakyReLU])
def test_chain_equals_loop_activations(act):
    model = seeded(nn.Sequential(nn.Linear(6, 9), act(), nn.Linear(9, 70), act(),
                                 nn.Linear(70, 3)).double())
    got = check(model)
    assert set(got) == {"loss", "accuracy"}


def test_chain_structures():
    # nested Sequentials, Flatten, dropout in eval mode, an activation after the last layer
    nested = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(6, 5), nn.ReLU()),
                           nn.Dropout(0.3), nn.Sequential(nn.Linear(5, 4), nn.Softplus()),
                           nn.Linear(4, 3), nn.Tanh())
    check(seeded(nested.double()).eval())
    check(seeded(MLP((6, 7, 7, 3), activation="silu").double()))
    check(seeded(DeepLinear((6, 4, 3)).double()))
    check(seeded(nn.Sequential(nn.Linear(6, 3, bias=False)).double()))
    no_bias = nn.Sequential(nn.Linear(6, 5, bias=False), nn.ReLU(), nn.Linear(5, 3, bias=False))
    check(seeded(no_bias.double()))


def test_chain_frozen_layers_and_tied_weights():
    frozen = seeded(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 5), nn.ReLU(),
                                  nn.Linear(5, 3)).double())
    frozen[0].requires_grad_(False)          # shared activations until the second layer
    check(frozen)
    bias_only = seeded(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).double())
    bias_only[0].weight.requires_grad_(False)  # first varied parameter is a bias
    bias_only[2].bias.requires_grad_(False)
    check(bias_only)
    shared = nn.Linear(5, 5)
    tied = seeded(nn.Sequential(nn.Linear(6, 5), nn.Tanh(), shared, nn.Tanh(), shared,
                                nn.Tanh(), nn.Linear(5, 3)).double())
    check(tied)


def test_chain_losses_metrics_and_more_directions_than_inputs():
    model = seeded(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double())
    check(model, nn.CrossEntropyLoss(reduction="sum"))
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    Y = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    for reduction in ("mean", "sum"):
        check(model, nn.MSELoss(reduction=reduction), [(X[:25], Y[:25]), (X[25:], Y[25:])])

    def margin(out, target):
        return (out.gather(1, target[:, None]).squeeze(1) - out.mean(1)).mean()

    got = check(model, metrics={"margin": margin})
    assert set(got) == {"loss", "accuracy", "margin"}
    got = check(model, n_samples=40, seed=2)
    assert np.all(got["loss_stderr"] > 0)
    narrow = seeded(nn.Sequential(nn.Linear(2, 6), nn.ReLU(), nn.Linear(6, 3)).double())
    check(narrow, batches=data(d=2), k=3)  # K = 4 > in_features: per-point first layer


def test_chain_sample_blocks_and_single_point_passes(chain_mode):
    model = seeded(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).double())
    batches = data(n=900, sizes=(600, 300))
    fast, slow = evaluators(model, "ce", batches, cache_bytes=2 * 16 * 8 * 256)
    # 256 samples per block; one point per pass (point by point: the outputs of two fit); the
    # compiled pass blocks samples itself and takes whole batches and many points
    assert fast.chain_layout() == {"passes": (1, 256), "per_point": (2, 256),
                                   "compiled": (1024, 600)}[chain_mode]
    C = points(2, n=5)
    got, want = fast.evaluate_points(C), slow.evaluate_points(C)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12)


def test_chain_accuracy_ties_follow_argmax():
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)).double()
    with torch.no_grad():
        model[2].weight.zero_()   # at the origin all logits are equal: argmax says class 0
        model[2].bias.zero_()
    batches = data()
    dirs = torch.zeros(2, sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    dirs[0, 0] = 1.0
    basis = torch.cat([flat_parameters(model)[None], dirs])
    fast = LandscapeEvaluator(model, "ce", batches, basis, method="batched")
    slow = LandscapeEvaluator(model, "ce", batches, basis, method="exact")
    C = np.array([[1.0, 0.3, 0.0], [1.0, -0.2, 0.5]])
    got, want = fast.evaluate_points(C), slow.evaluate_points(C)
    labels = torch.cat([b[1] for b in batches])
    assert got["accuracy"][0] == want["accuracy"][0] == float((labels == 0).double().mean())
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-12)


def test_chain_interpolation_and_grid_api():
    a = seeded(MLP((6, 8, 3)).double(), seed=1)
    b = seeded(MLP((6, 8, 3)).double(), seed=2)
    res = interpolate(a, b, "ce", data(), n_points=11)
    assert res.method == "batched"
    exact = interpolate(a, b, "ce", data(), n_points=11, method="exact")
    np.testing.assert_allclose(res.loss, exact.loss, rtol=1e-12)
    grid = evaluate_grid(a, "ce", data(), random_directions(a, 2, seed=0), grid=(5, 5))
    assert grid.method == "batched" and grid.loss.shape == (5, 5)


def test_chain_refuses_labels_out_of_range():
    model = seeded(nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)).double())
    X = torch.randn(10, 6, dtype=torch.float64)
    y = torch.full((10,), 5)
    dirs = random_directions(model, 2, seed=0)
    with pytest.raises((UserInputError, IndexError)):
        evaluate_grid(model, "ce", (X, y), dirs, grid=(3, 3))


def test_chain_float32_close_to_float64():
    model = seeded(nn.Sequential(nn.Linear(6, 40), nn.ReLU(), nn.Linear(40, 3)), scale=0.3)
    batches = [(X.float(), y) for X, y in data()]
    fast32, _ = evaluators(model, "ce", batches)
    _, slow64 = evaluators(model, "ce", batches, dtype=torch.float64)
    C = points(2)
    np.testing.assert_allclose(fast32.evaluate_points(C)["loss"],
                               slow64.evaluate_points(C)["loss"], rtol=2e-6)


def _same(model, loss, batches, k=2, **kw):
    fast, slow = evaluators(model, loss, batches, k=k, **kw)
    C = points(k)
    got, want = fast.evaluate_points(C), slow.evaluate_points(C)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-13, err_msg=name)
    return fast


def test_chain_losses_that_are_not_per_sample_means():
    """Weighted or ignored classes and callables see whole batches through loss_fn itself."""
    model = seeded(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double())
    batches = data()
    weighted = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 5.0, 0.2], dtype=torch.float64))
    for loss in (weighted, nn.CrossEntropyLoss(ignore_index=2)):
        assert _same(model, loss, batches).scorer.name == "chain"
    minus = [(X, torch.where(y == 1, torch.full_like(y, -100), y)) for X, y in batches]
    _same(model, "ce", minus)                          # the default ignore_index in the labels
    gen = torch.Generator().manual_seed(4)
    X = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    Y = torch.randn(40, 3, generator=gen, dtype=torch.float64)

    def rmse(out, target):
        return torch.sqrt(nn.functional.mse_loss(out, target))

    _same(model, rmse, [(X[:25], Y[:25]), (X[25:], Y[25:])])
    one = seeded(nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1)).double())
    y1 = torch.randn(900, generator=gen, dtype=torch.float64)  # (n,) against (n, 1): broadcasts
    X1 = torch.randn(900, 6, generator=gen, dtype=torch.float64)
    with pytest.warns(UserWarning):
        _same(one, "mse", (X1, y1), cache_bytes=2 * 16 * 8 * 256)


def test_chain_label_types_empty_batches_and_hooks():
    model = seeded(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double())
    batches = data()
    fast, _ = evaluators(model, "ce", [(X, y.to(torch.uint8)) for X, y in batches])
    _, slow = evaluators(model, "ce", batches)
    C = points(2)
    np.testing.assert_allclose(fast.evaluate_points(C)["loss"], slow.evaluate_points(C)["loss"],
                               rtol=1e-12)
    X, y = batches[0]
    _same(model, "ce", [(X[:0], y[:0])] + batches)    # an empty batch counts for nothing
    normed = nn.Sequential(nn.Linear(6, 8), nn.Tanh(),
                           torch.nn.utils.spectral_norm(nn.Linear(8, 3))).double().eval()
    ev = LandscapeEvaluator(normed, "ce", batches,
                            flat_parameters(normed)[None].repeat(3, 1), method="auto")
    assert ev.method_ == "exact" and "hooks" in ev.fallback_reason_


@pytest.mark.parametrize("first", [nn.ReLU(inplace=True), nn.LeakyReLU(0.1, inplace=True)])
def test_chain_never_writes_into_the_data(first):
    batches = data()
    before = [X.clone() for X, _ in batches]
    for prefix in ([first], [nn.Identity(), first]):
        model = seeded(nn.Sequential(*prefix, nn.Linear(6, 8), nn.ReLU(),
                                     nn.Linear(8, 3)).double())
        _same(model, "ce", batches)
        assert all(torch.equal(X, b) for (X, _), b in zip(batches, before))


def test_large_layers_run_point_by_point_and_grids_do_not_depend_on_chunks(chain_mode):
    model = seeded(MLP((6, 130, 130, 3)).double(), scale=0.1)   # 130 x 130 >= loop_min_size
    batches = data()
    fast, slow = evaluators(model, "ce", batches)
    assert fast.scorer.plan.per_point
    C = points(2)
    got, want = fast.evaluate_points(C), slow.evaluate_points(C)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, err_msg=name)
    dirs = random_directions(model, 2, seed=1)
    grids = [evaluate_grid(model, "ce", batches, dirs, grid=(5, 4), points_per_pass=ppp).loss
             for ppp in (None, 1, 3, 7)]
    for g in grids[1:]:
        assert np.array_equal(g, grids[0])   # the kept partial sums change no bit
    line = evaluate_grid(model, "ce", batches, random_directions(model, 1, seed=1), grid=9)
    three = evaluate_grid(model, "ce", batches, random_directions(model, 3, seed=1),
                          grid=(3, 2, 3), points_per_pass=4)
    for res, k in ((line, 1), (three, 3)):
        ev = LandscapeEvaluator(model, "ce", batches,
                                torch.cat([flat_parameters(model)[None],
                                           random_directions(model, k, seed=1).vectors]),
                                method="exact")
        pts = np.concatenate([np.ones((res.loss.size, 1)),
                              np.stack(np.meshgrid(*res.coords, indexing="ij"), -1)
                              .reshape(-1, k)], axis=1)
        np.testing.assert_allclose(res.loss.reshape(-1), ev.evaluate_points(pts)["loss"],
                                   rtol=1e-12)


def grid_points(lead, shape, k):
    """Rows ``[lead, x_1, ..., x_k]`` of a grid, the last coordinate varying fastest."""
    axes = [np.linspace(-1.2, 0.9, n) for n in shape]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, k)
    return np.concatenate([np.full((len(pts), 1), lead), pts], axis=1)


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
def test_chain_grid_rows_mixed_run_by_run(act):
    """Points that share all but the last coefficient (a grid's rows) are mixed as
    ``R + t (x) A`` with the ReLU fused; lines, planes and 3-D grids, theta_0's coefficient
    1 or not, a fixed first-layer bias (not fused), against the per-point loop."""
    model = seeded(nn.Sequential(nn.Linear(6, 9), act(), nn.Linear(9, 3)).double())
    fixed_bias = seeded(nn.Sequential(nn.Linear(6, 9), nn.ReLU(), nn.Linear(9, 3)).double())
    fixed_bias[0].bias.requires_grad_(False)
    for net in (model, fixed_bias):
        for k, shape in ((1, (13,)), (2, (5, 7)), (3, (3, 2, 6))):
            fast, slow = evaluators(net, "ce", data(), k=k)
            assert fast.scorer.name.startswith("chain"), fast.fallback_reason_
            for lead in (1.0, 0.7):
                C = grid_points(lead, shape, k)
                got, want = fast.evaluate_points(C), slow.evaluate_points(C)
                for name in want:
                    np.testing.assert_allclose(got[name], want[name], rtol=1e-12,
                                               atol=1e-13, err_msg=f"{name} k={k}")
                parts = np.concatenate([fast.evaluate_points(C[:11])["loss"],
                                        fast.evaluate_points(C[11:])["loss"]])
                assert np.array_equal(parts, got["loss"])  # rows cut by a call: same bits
                pick = [5, 12, 3, 7]                            # scattered points: same bits
                assert np.array_equal(fast.evaluate_points(C[pick])["loss"], got["loss"][pick])
                if fast.scorer.plan.per_point:
                    continue
                fast.scorer.plan.scaled_cache_limit = 0          # nothing kept: the same bits
                assert np.array_equal(fast.evaluate_points(C)["loss"], got["loss"])
                fast.scorer.plan.scaled_cache_limit = 64 << 20


def test_passes_hold_whole_rows():
    model = seeded(nn.Sequential(nn.Linear(6, 9), nn.ReLU(), nn.Linear(9, 3)).double())
    fast, _ = evaluators(model, "ce", data())
    if fast.scorer.plan.per_point:
        return
    C = grid_points(1.0, (5, 7), 2)
    assert fast._passes(C, 10) == [(0, 7), (7, 14), (14, 21), (21, 28), (28, 35)]
    assert fast._passes(C, 3) == [(0, 3), (3, 6), (6, 7), (7, 10), (10, 13), (13, 14),
                                  (14, 17), (17, 20), (20, 21), (21, 24), (24, 27), (27, 28),
                                  (28, 31), (31, 34), (34, 35)]
    assert fast._passes(C, 16) == [(0, 14), (14, 28), (28, 35)]
    assert fast._passes(C[2:], 16) == [(0, 12), (12, 26), (26, 33)]


def test_workspace_buffers_pass_to_the_next_workspace_only_when_free(monkeypatch):
    from deepscope.landscape import _workspace

    RECYCLER = _workspace.Recycler()
    monkeypatch.setattr(_workspace, "RECYCLER", RECYCLER)
    Workspace = _workspace.Workspace
    like = torch.zeros(1)
    ws = Workspace()
    a = ws.get("a", (1 << 19,), like)                 # 2 MiB
    ws.get("a", (1 << 20,), like)                     # replaced: `a` may still be read
    assert all(b.data_ptr() != a.data_ptr() for b in RECYCLER._free)
    big = ws.get("a", (1 << 20,), like)
    ptr = big.data_ptr()
    del ws, big                                       # gone: its buffers are free
    ws2 = Workspace()
    assert ws2.get("b", (1 << 20,), like).data_ptr() == ptr
    assert ws2.get("c", (1 << 20,), like).data_ptr() != ptr   # one owner at a time
    model = seeded(MLP((6, 9, 3)).double())
    dirs = random_directions(model, 2, seed=0)
    first = evaluate_grid(model, "ce", data(), dirs, grid=(6, 5)).loss
    again = evaluate_grid(model, "ce", data(), dirs, grid=(6, 5)).loss   # recycled buffers
    assert np.array_equal(first, again)
