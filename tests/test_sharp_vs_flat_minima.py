"""Sharp and flat minima: T_alpha against a dense float64 Hessian, slices against direct losses."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from deepscope.curvature import HessianOperator, eigenvalues, ggn_diagonal
from deepscope.errors import UserInputError
from deepscope.experiments import sharp_vs_flat_minima as sf
from deepscope.landscape import evaluate_grid, random_directions
from deepscope.landscape._flatness import (
    box_widths,
    description_length,
    rescaling_shift,
)


@pytest.fixture(scope="module")
def small_net():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    net = sf.mlp((6, 5, 3), seed=1, dtype=torch.float64)
    return net, X, y


def _flat(net):
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def _dense_hessian(net, X, y):
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]

    def loss(flat):
        parts = dict(zip(names, (t.reshape(s) for t, s in zip(torch.split(flat, sizes),
                                                                 shapes))))
        out = torch.func.functional_call(net, parts, (X,))
        return torch.nn.functional.cross_entropy(out, y)

    return torch.autograd.functional.hessian(loss, _flat(net))


@pytest.mark.parametrize("alpha", [0.1, 0.3, 3.0, 10.0])
def test_rescaling_keeps_function_and_transforms_hessian(small_net, alpha):
    net, X, y = small_net
    m = sf.rescale(net, alpha)
    with torch.no_grad():
        assert torch.allclose(m(X), net(X), rtol=0, atol=1e-13)
    H, Ha = _dense_hessian(net, X, y), _dense_hessian(m, X, y)
    n1 = 6 * 5 + 5
    n2 = n1 + 5 * 3
    d = torch.ones(H.shape[0], dtype=torch.float64)
    d[:n1], d[n1:n2] = alpha, 1 / alpha
    predicted = H / d[:, None] / d[None, :]
    assert torch.allclose(Ha, predicted, rtol=0, atol=1e-12 * float(predicted.abs().max()))
    # Block eigenvalues scale as alpha^-2 (layer 1) and alpha^2 (layer-2 weight).
    l1 = torch.linalg.eigvalsh(H[:n1, :n1])[-1]
    l1a = torch.linalg.eigvalsh(Ha[:n1, :n1])[-1]
    l2 = torch.linalg.eigvalsh(H[n1:n2, n1:n2])[-1]
    l2a = torch.linalg.eigvalsh(Ha[n1:n2, n1:n2])[-1]
    assert float(l1a) == pytest.approx(float(l1) / alpha**2, rel=1e-10)
    assert float(l2a) == pytest.approx(float(l2) * alpha**2, rel=1e-10)
    # The library's Lanczos on the block operator agrees with the dense block.
    op = HessianOperator(m, "ce", (X, y), params=["2.weight"])
    lam = float(eigenvalues(op, k=1, which="largest", tol=1e-10).values[0])
    assert lam == pytest.approx(float(l2a), rel=1e-8)
    full = float(eigenvalues(HessianOperator(m, "ce", (X, y)), k=1, tol=1e-10).values[0])
    assert full == pytest.approx(float(torch.linalg.eigvalsh(Ha)[-1]), rel=1e-8)


def test_filter_normalised_slice_is_rescaling_invariant(small_net):
    net, X, y = small_net
    m = sf.rescale(net, 7.0)
    d0 = random_directions(net, 1, norm="filter", seed=3)
    d1 = random_directions(m, 1, norm="filter", seed=3)
    s0 = evaluate_grid(net, "ce", (X, y), d0, grid=9, span=(-1, 1), accuracy=False).loss
    s1 = evaluate_grid(m, "ce", (X, y), d1, grid=9, span=(-1, 1), accuracy=False).loss
    assert np.allclose(s0, s1, rtol=1e-12, atol=0)
    # direct check at one point: theta + t d by hand
    t = 0.5
    theta = _flat(net) + t * d0.vectors[0]
    probe = sf.mlp((6, 5, 3), seed=1, dtype=torch.float64)
    torch.nn.utils.vector_to_parameters(theta, probe.parameters())
    with torch.no_grad():
        direct = float(torch.nn.functional.cross_entropy(probe(X), y))
    assert direct == pytest.approx(float(np.asarray(s0)[6]), rel=1e-12)
    r0 = random_directions(net, 1, norm="none", seed=3)
    r1 = random_directions(m, 1, norm="none", seed=3)
    a = evaluate_grid(net, "ce", (X, y), r0, grid=9, span=(-1, 1), accuracy=False).loss
    b = evaluate_grid(m, "ce", (X, y), r1, grid=9, span=(-1, 1), accuracy=False).loss
    assert np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.asarray(a)) > 0.1


def test_train_adam_reproducible_and_leaves_model(small_net):
    net, X, y = small_net
    before = _flat(net).clone()
    a = sf.train_adam(net, X, y, batch=8, lr=1e-2, target=0.0, max_epochs=3,
                      rng=np.random.default_rng(1))
    b = sf.train_adam(net, X, y, batch=8, lr=1e-2, target=0.0, max_epochs=3,
                      rng=np.random.default_rng(1))
    assert torch.equal(_flat(net), before)
    assert torch.equal(_flat(a[0]), _flat(b[0]))
    assert a[1] == 3 and a[2] == 15
    c = sf.train_adam(net, X, y, batch=8, lr=1e-2, target=0.0, max_epochs=100, max_steps=7,
                      rng=np.random.default_rng(1))
    assert c[2] == 10  # stops at the end of the epoch in which max_steps is reached


@pytest.fixture(scope="module")
def quick_result():
    return sf.run(sf.Config.quick(), np.random.default_rng(0))


def test_quick_preset_checks(quick_result):
    res = quick_result
    by_name = {c.name: c for c in res.checks}
    evidence = {"lb_sharper", "function_invariant", "layer1_block_scaling",
                "layer2_block_scaling", "eps_sharpness_moves", "filter_slices_identical",
                "description_length_lb_longer", "description_length_rescaling"}
    assert {n for n, c in by_name.items() if c.role == "evidence"} == evidence
    assert res.headline_check().name == "lb_sharper"
    assert by_name["lb_sharper"].stderr is not None
    assert all(c.stderr is None for c in res.checks if c.kind == "exact")
    for c in res.checks:
        assert math.isfinite(float(c.measured)), c.name
    assert set(res.figures) == {"keskar", "dinh"}
    assert res.deviations
    res.to_json()


def test_quick_arrays_recompute_the_checks(quick_result):
    a = quick_result.arrays
    by_name = {c.name: c for c in quick_result.checks}
    lr = np.log10(a["phi_lb"] / a["phi_sb"])
    assert by_name["lb_sharper"].measured == pytest.approx(lr.mean(), rel=1e-12)
    al = a["alphas"]
    i1 = int(np.flatnonzero(al == 1.0)[0])
    pred = a["lambda_layer2"][i1] * al**2
    assert np.allclose(a["lambda_layer2"], pred, rtol=1e-8)
    assert np.allclose(a["lambda_layer1"], a["lambda_layer1"][i1] / al**2, rtol=1e-8)
    assert np.all(a["lambda_full"] >= np.maximum(pred, a["lambda_layer1"][i1] / al**2)
                  * (1 - 1e-8))
    assert np.allclose(a["slice_filter"], a["slice_filter"][i1], rtol=1e-9)


@pytest.mark.parametrize("change", [{"n_seeds": 1}, {"hidden": ()}, {"dinh_hidden": 0},
                                    {"small_batch": 400}, {"learning_rate": 0.0},
                                    {"target_loss": 0.0}, {"eps": 0.0}, {"max_steps": 0},
                                    {"alphas": (0.5, 2.0)}, {"alphas": (1.0, -1.0)},
                                    {"slice_points": 2}, {"hs_delta": 0.0},
                                    {"hs_floor": -1e-12}, {"hs_radius": 0.0}])
def test_config_validation(change):
    cfg = dataclasses.replace(sf.Config(), **change)
    with pytest.raises(UserInputError):
        cfg.validate()
    with pytest.raises(UserInputError):
        sf.run(cfg, np.random.default_rng(0))


def test_presets_share_the_protocol():
    full, quick = sf.Config.full(), sf.Config.quick()
    for name in ("small_batch", "large_batch", "learning_rate", "target_loss", "eps",
                 "lbfgs_iter", "alphas", "hs_delta", "hs_radius", "hs_floor"):
        assert getattr(quick, name) == getattr(full, name)


# ------------------------------------------------------------- Hochreiter & Schmidhuber's B

def _dense_ggn(net, X, y):
    """J^T H_L J by hand: the Jacobian of the logits by autograd, the softmax cross-entropy
    Hessian (diag p - p p^T) / N per sample."""
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]

    def logits(flat):
        parts = dict(zip(names, (t.reshape(s) for t, s in zip(torch.split(flat, sizes),
                                                                 shapes))))
        return torch.func.functional_call(net, parts, (X,))

    flat = _flat(net)
    J = torch.autograd.functional.jacobian(logits, flat)  # (N, C, P)
    p = torch.softmax(logits(flat), dim=1).detach()
    HL = (torch.diag_embed(p) - p[:, :, None] * p[:, None, :]) / len(X)
    return torch.einsum("ncp,ncd,ndq->pq", J, HL, J)


def test_ggn_description_length_matches_dense_ggn(small_net):
    net, X, y = small_net
    G = _dense_ggn(net, X, y)
    c = ggn_diagonal(net, "ce", (X, y))
    assert torch.allclose(c, G.diagonal(), rtol=1e-12, atol=1e-15 * float(G.abs().max()))
    for floor in (1e-12, 1e-3):  # the second one binds on some entries
        B = description_length(c, 1e-3, radius=2.0, floor=floor)
        dense = float(np.sum(np.log2(2.0 / np.sqrt(2e-3 / np.maximum(
            G.diagonal().numpy(), floor)))))
        assert B == pytest.approx(dense, abs=1e-9)
        assert B == pytest.approx(float(np.sum(np.log2(2.0 / box_widths(c, 1e-3, floor=floor)))),
                                  abs=1e-9)
    # R cancels in differences between two diagonals of the same length
    c2 = 3.0 * c
    for R in (1.0, 1e5):
        diff = description_length(c2, 1e-3, radius=R) - description_length(c, 1e-3, radius=R)
        assert diff == pytest.approx(c.numel() * 0.5 * math.log2(3.0), rel=1e-12)


@pytest.mark.parametrize("alpha", [0.1, 0.3, 3.0, 10.0])
def test_description_length_rescaling_closed_form(small_net, alpha):
    net, X, y = small_net
    m = sf.rescale(net, alpha)
    n1, n2 = 6 * 5 + 5, 5 * 3
    d = torch.ones(n1 + n2 + 3, dtype=torch.float64)
    d[:n1], d[n1:n1 + n2] = alpha, 1 / alpha
    # G(T theta) = D^-1 G(theta) D^-1 on the dense GGN (independent of ggn_diagonal)
    G, Ga = _dense_ggn(net, X, y), _dense_ggn(m, X, y)
    assert torch.allclose(Ga, G / d[:, None] / d[None, :], rtol=0,
                          atol=1e-12 * float(Ga.abs().max()))
    c, ca = ggn_diagonal(net, "ce", (X, y)), ggn_diagonal(m, "ce", (X, y))
    assert float(c.min()) > 1e-6  # no entry near the floor: the floor-free closed form applies
    change = description_length(ca, 1e-3) - description_length(c, 1e-3)
    closed = (n2 - n1) * math.log2(alpha)
    assert change == pytest.approx(closed, abs=1e-10)
    assert rescaling_shift(d) == pytest.approx(closed, abs=1e-12)
    assert rescaling_shift(d, c) == pytest.approx(closed, abs=1e-12)
    # with a floor that binds, the floor-aware prediction still matches the measured change
    floor = float(torch.quantile(c, 0.5))
    change = description_length(ca, 1e-3, floor=floor) - description_length(c, 1e-3, floor=floor)
    assert change == pytest.approx(rescaling_shift(d, c, floor=floor), abs=1e-10)
    assert abs(change - closed) > 1.0


def test_flatness_rejects_bad_input():
    with pytest.raises(UserInputError):
        description_length([1.0, float("nan")], 1e-3)
    with pytest.raises(UserInputError):
        description_length([1.0], 0.0)
    with pytest.raises(UserInputError):
        box_widths([1.0], 1e-3, floor=0.0)
    with pytest.raises(UserInputError):
        rescaling_shift([1.0, 0.0])
    with pytest.raises(UserInputError):
        rescaling_shift([1.0, 2.0], [1.0])


def test_quick_description_length_checks(quick_result):
    res = quick_result
    a, by_name = res.arrays, {c.name: c for c in res.checks}
    lb = by_name["description_length_lb_longer"]
    dB = a["dB_common"]
    assert lb.measured == pytest.approx(dB.mean(), rel=1e-12)
    # the all-entry difference (which depends on the floor) is reported beside it
    all_entries = res.measurements["B_lb_minus_sb_all_entries"].value
    assert all_entries == pytest.approx((a["B_lb"] - a["B_sb"]).mean(), rel=1e-12)
    assert lb.stderr == pytest.approx(dB.std(ddof=1) / math.sqrt(len(dB)), rel=1e-12)
    assert lb.kind == "directional" and lb.comparison == "at_least"
    assert lb.outcome == ("pass" if lb.measured - 2 * lb.stderr >= 0 else
                          "fail" if lb.measured + 2 * lb.stderr < 0 else "inconclusive")
    assert np.all(a["B_sb"] >= 0) and np.all(a["B_lb"] >= 0)  # R = sqrt(2 delta / floor)
    resc = by_name["description_length_rescaling"]
    assert resc.kind == "exact" and resc.stderr is None and 0 < resc.tolerance < 1e-6
    i1 = int(np.flatnonzero(a["alphas"] == 1.0)[0])
    change = a["B_alpha"] - a["B_alpha"][i1]
    assert resc.measured == pytest.approx(np.max(np.abs(change - a["B_change_pred"])), abs=1e-15)
    assert np.allclose(change, a["B_change_pred"], rtol=0, atol=1e-8)
    # B moves by thousands of bits over alpha in [0.1, 10]: not a function of the network
    assert np.ptp(a["B_alpha"]) > 100
    assert len(res.measurements["B_sb"].value) == sf.Config.quick().n_seeds
