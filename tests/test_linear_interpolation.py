"""The line from initialisation to solution, tested against direct forward passes."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from deepscope.data import digits
from deepscope.errors import UserInputError
from deepscope.experiments import linear_interpolation as li
from deepscope.landscape import interpolate
from deepscope.models import build


def _brute_barrier(t, loss):
    """max over t in [0, 1] of loss(t) - min_{t' <= t} loss(t'), by a double loop."""
    pts = sorted((a, b) for a, b in zip(t, loss) if 0.0 <= a <= 1.0)
    best = 0.0
    for i, (_, value) in enumerate(pts):
        best = max(best, value - min(v for _, v in pts[:i + 1]))
    return best


def _flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _loss_at(model, flat, X, y):
    """Cross-entropy in float64 of ``model`` with its parameters replaced by ``flat``."""
    net = copy.deepcopy(model).double()
    torch.nn.utils.vector_to_parameters(flat.double(), net.parameters())
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(net(X.double()), y))


@pytest.fixture(scope="module")
def small_pair():
    data = digits(seed=3)
    X, y = torch.from_numpy(data.X_train[:400]), torch.from_numpy(data.y_train[:400])
    init = build("mlp:hidden=16", input_shape=data.input_shape, n_classes=10, seed=7)
    final = li.train_sgd(init, X, y, epochs=5, batch_size=32, learning_rate=0.05, momentum=0.9,
                         rng=np.random.default_rng(1))
    return init, final, X, y


def test_line_matches_direct_float64_forward(small_pair):
    init, final, X, y = small_pair
    line = interpolate(init, final, "ce", (X, y), n_points=17, span=li.SPAN)
    a, b = _flat(init), _flat(final)
    direct = np.array([_loss_at(init, (1 - t) * a + t * b, X, y) for t in line.t])
    # float32 path against a float64 forward of the same parameters: rounding only
    assert np.max(np.abs(line.loss - direct) / direct) <= 1e-5
    j0 = direct[np.flatnonzero(line.t == 0.0)[0]]
    # The barrier the experiment uses equals the brute-force rise above the running minimum.
    assert math.isclose(line.monotone_barrier, _brute_barrier(line.t, line.loss), abs_tol=0.0)
    assert abs(line.monotone_barrier - _brute_barrier(line.t, direct)) <= 1e-5 * j0


def test_endpoints_are_the_models_bit_for_bit(small_pair):
    init, final, X, y = small_pair
    line = interpolate(init, final, "ce", (X, y), n_points=9, span=li.SPAN)
    i0, i1 = np.flatnonzero(line.t == 0.0)[0], np.flatnonzero(line.t == 1.0)[0]
    assert line.loss[i0] == li.direct_loss_accuracy(init, X, y)[0]
    assert line.loss[i1] == li.direct_loss_accuracy(final, X, y)[0]
    assert line.values["accuracy"][i1] == pytest.approx(li.direct_loss_accuracy(final, X, y)[1])


def test_barrier_on_synthetic_curves():
    from deepscope.landscape import barrier_heights

    t = np.linspace(-0.5, 1.5, 41)
    monotone = np.exp(-3 * t)
    assert barrier_heights(t, monotone)[1] == 0.0
    bump = monotone + 0.2 * np.exp(-((t - 0.5) / 0.05) ** 2)
    expect = _brute_barrier(t, bump)
    assert expect > 0.1
    assert barrier_heights(t, bump)[1] == pytest.approx(expect, rel=1e-15)
    # a rise outside [0, 1] is not a barrier
    outside = monotone + 5.0 * (t > 1.2)
    assert barrier_heights(t, outside)[1] == 0.0


def test_train_sgd_leaves_model_alone_and_is_reproducible(small_pair):
    init, final, X, y = small_pair
    before = _flat(init).clone()
    again = li.train_sgd(init, X, y, epochs=5, batch_size=32, learning_rate=0.05, momentum=0.9,
                         rng=np.random.default_rng(1))
    assert torch.equal(_flat(init), before)
    assert torch.equal(_flat(again), _flat(final))
    assert li.direct_loss_accuracy(final, X, y)[0] < 0.5 * li.direct_loss_accuracy(init, X, y)[0]


def test_direct_loss_accuracy_by_hand(small_pair):
    _, final, X, y = small_pair
    with torch.no_grad():
        logits = final(X).double()
    logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    loss = float(-logp[torch.arange(len(y)), y].mean())
    acc = float((logits.argmax(1) == y).double().mean())
    got_loss, got_acc = li.direct_loss_accuracy(final, X, y)
    assert got_loss == pytest.approx(loss, rel=1e-5)
    assert got_acc == acc


def test_mean_se():
    m, se = li.mean_se([1.0, 2.0, 4.0])
    assert m == pytest.approx(7 / 3)
    assert se == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1) / math.sqrt(3))
    assert li.mean_se([0.5]) == (0.5, 0.0)


@pytest.fixture(scope="module")
def quick_result():
    return li.run(li.Config.quick(), np.random.default_rng(0))


def test_quick_preset_checks(quick_result):
    res = quick_result
    by_name = {c.name: c for c in res.checks}
    no_barrier = {"mlp_no_barrier", "cnn_no_barrier"}
    controls = {"mlp_pair_barrier_visible", "cnn_pair_barrier_visible"}
    assert {n for n, c in by_name.items() if c.role == "evidence"} == no_barrier | controls
    assert res.headline_check().role == "evidence"
    assert all(c.stderr is None for c in res.checks if c.kind == "exact")
    assert all(by_name[n].kind == "statistical" and by_name[n].stderr is not None
               for n in no_barrier)
    assert all(by_name[n].kind == "directional" and by_name[n].comparison == "at_least"
               for n in controls)
    for c in res.checks:
        assert math.isfinite(float(c.measured)), c.name
    assert res.deviations and any("2 pairs" in s for s in res.deviations)
    assert set(res.figures) == {"interpolation_mlp", "interpolation_cnn", "solution_pairs"}
    res.to_json()


def test_quick_arrays_recompute_the_checks(quick_result):
    res = quick_result
    t = res.arrays["alpha"]
    assert t.min() == li.SPAN[0] and t.max() == li.SPAN[1]
    i0 = np.flatnonzero(t == 0.0)[0]
    for kind in li.MODELS:
        losses = res.arrays[f"{kind}_train_loss"]
        assert losses.shape == (4, len(t))
        rel = [_brute_barrier(t, row) / row[i0] for row in losses]
        assert np.array_equal(rel, res.arrays[f"{kind}_barrier_relative"])
        check = next(c for c in res.checks if c.name == f"{kind}_no_barrier")
        assert check.measured == pytest.approx(np.mean(rel), abs=1e-15)
        # At initialisation the logits are small: J(0) is close to ln 10.
        assert np.all(np.abs(losses[:, i0] - math.log(10)) < 0.05)
        pairs = res.arrays[f"{kind}_pair_loss"]
        pt = res.arrays["pair_alpha"]
        rel_pairs = [_brute_barrier(pt, row) / losses[2 * j, i0] for j, row in enumerate(pairs)]
        assert np.allclose(rel_pairs, res.arrays[f"{kind}_pair_barrier_relative"], rtol=1e-12)
        # the pair line starts at the first network's solution
        assert pairs[0][0] == losses[0, np.flatnonzero(t == 1.0)[0]]


def test_bit_reproducible_small_config():
    cfg = dataclasses.replace(li.Config.quick(), n_pairs=1, epochs=2, n_points=9,
                              pair_points=5, mlp_hidden=(16,), cnn_channels=(2, 4))
    a = li.run(cfg, np.random.default_rng(0))
    b = li.run(cfg, np.random.default_rng(0))
    for key in a.arrays:
        assert np.array_equal(a.arrays[key], b.arrays[key]), key
    assert [c.measured for c in a.checks] == [c.measured for c in b.checks]


@pytest.mark.parametrize("change", [{"n_pairs": 0}, {"epochs": 0}, {"batch_size": 0},
                                    {"mlp_hidden": ()}, {"mlp_hidden": (0,)},
                                    {"cnn_channels": (8,)}, {"learning_rate": 0.0},
                                    {"momentum": 1.0}, {"n_points": 4}, {"pair_points": 2},
                                    {"barrier_tolerance": 0.0}, {"barrier_tolerance": 1.0}])
def test_config_validation(change):
    cfg = dataclasses.replace(li.Config(), **change)
    with pytest.raises(UserInputError):
        cfg.validate()
    with pytest.raises(UserInputError):
        li.run(cfg, np.random.default_rng(0))


def test_presets_share_the_protocol():
    full, quick = li.Config.full(), li.Config.quick()
    assert set(li.Config.QUICK) <= {"n_pairs", "epochs", "n_points", "pair_points"}
    assert (quick.learning_rate, quick.momentum, quick.batch_size) == (
        full.learning_rate, full.momentum, full.batch_size)
    assert quick.barrier_tolerance == full.barrier_tolerance
    assert (quick.mlp_hidden, quick.cnn_channels) == (full.mlp_hidden, full.cnn_channels)
