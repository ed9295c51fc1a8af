"""Edge of stability: sharpness and GD pieces against dense float64 Hessians and autograd."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from deepscope.errors import UserInputError
from deepscope.experiments import edge_of_stability as eos


def _problem(n=40, width=5, seed=0):
    rng = np.random.default_rng(seed)
    X = torch.from_numpy(rng.standard_normal((n, eos.N_INPUTS)) * 0.3)
    labels = torch.from_numpy(rng.integers(0, eos.N_CLASSES, n))
    Y = torch.nn.functional.one_hot(labels, eos.N_CLASSES).to(torch.float64)
    return eos.mlp(width, rng), X, Y


def _dense_hessian(model, X, Y):
    """Independent truth: torch.autograd.functional.hessian of (1/2N) sum |f - y|^2."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(t):
        parts = {n: c.reshape(s) for n, c, s in zip(names, torch.split(t, sizes), shapes)}
        out = torch.func.functional_call(model, parts, (X,))
        return 0.5 * ((out - Y) ** 2).sum() / X.shape[0]

    return torch.autograd.functional.hessian(loss, theta)


def test_sharpness_matches_the_dense_hessian():
    model, X, Y = _problem()
    H = _dense_hessian(model, X, Y)
    ev, vecs = torch.linalg.eigh(H)
    S, v, converged, resid, n_hvp = eos.sharpness(model, X, Y, tol=1e-10, seed=0)
    assert converged and resid <= 1e-10 and n_hvp > 0
    assert abs(S - float(ev[-1])) <= 1e-10 * float(ev[-1])
    assert abs(float(v @ vecs[:, -1])) >= 1 - 1e-8
    # the independent double-backward Rayleigh quotient agrees to round-off
    q = eos.rayleigh_double_backward(model, X, Y, v)
    assert abs(q - float(ev[-1])) <= 1e-12 * float(ev[-1])
    assert abs(q - float(v @ H @ v)) <= 1e-12 * float(ev[-1])


def test_warm_start_gives_the_same_sharpness_with_fewer_products():
    model, X, Y = _problem(seed=3)
    S1, v, *_, n1 = eos.sharpness(model, X, Y, tol=1e-8, seed=0)
    S2, _, ok, _, n2 = eos.sharpness(model, X, Y, tol=1e-8, v0=v, seed=0)
    assert ok and abs(S2 - S1) <= 1e-12 * S1
    assert n2 < n1


def test_gd_step_matches_autograd():
    model, X, Y = _problem(seed=1)
    ref = copy.deepcopy(model)
    params = list(ref.parameters())
    loss = eos.half_squared_error(ref(X), Y)
    grads = torch.autograd.grad(loss, params)
    value = eos.gd_step([p.data for p in model.parameters()], X, Y, 0.3)
    assert abs(value - loss.item()) <= 1e-14 * loss.item()
    for p, p0, g in zip(model.parameters(), params, grads):
        assert torch.allclose(p, p0 - 0.3 * g, rtol=0, atol=1e-14)


def test_half_squared_error_is_one_half_the_summed_error():
    out = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[0.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert float(eos.half_squared_error(out, y)) == pytest.approx(0.5 * 5 / 2)


def test_gd_on_a_quadratic_loses_stability_at_two_over_eta():
    """The classical rule behind the claim: x <- (1 - eta S) x is stable iff S < 2/eta."""
    eta = 0.2
    for S, grows in ((9.9, False), (10.1, True)):
        x = 1.0
        for _ in range(2000):
            x -= eta * S * x
        assert (abs(x) > 1.0) is grows


def test_gradient_descent_records_and_small_step_descends():
    model, X, Y = _problem(seed=2)
    S0 = eos.sharpness(model, X, Y, tol=1e-8)[0]
    eta = 0.5 / S0  # far below 2/S
    r = eos.gradient_descent(model, X, Y, eta, 60, 4, 1e-8, 0)
    assert list(r["steps"]) == [0, 15, 30, 45, 60]
    assert r["S"][0] == pytest.approx(S0, rel=1e-12)
    assert r["converged"].all() and r["n_hvp"] > 0
    assert np.all(np.diff(r["loss"]) < 0)
    s = eos.summarise(r)
    assert s["ups"] == 0 and s["ups_all"] == 0 and s["fall"] < 0
    assert s["ratio"] == pytest.approx(np.median(r["S"][2:]) * eta / 2)
    assert s["max_ratio"] < 1 and np.isnan(s["crossing"])
    # the final sharpness is that of the final parameters
    assert r["S"][-1] == pytest.approx(eos.sharpness(model, X, Y, tol=1e-8)[0], rel=1e-8)


def test_summarise_counts_rises_and_the_edge():
    loss = np.array([4.0, 3.0, 2.0, 2.5, 1.8, 1.9, 1.0, 1.2, 0.9])
    r = {"eta": 0.5, "loss": loss, "steps": np.array([0, 4, 8]), "S": np.array([1.0, 4.2, 3.9])}
    s = eos.summarise(r)
    # late window = steps 4..8: 1.8, 1.9, 1.0, 1.2, 0.9 -> two rises
    assert s["ups"] == 2 and s["ups_all"] == 3
    assert s["ratio"] == pytest.approx(np.median([4.2, 3.9]) * 0.25)
    assert s["rise"] == pytest.approx((np.median([4.2, 3.9]) - 1.0) * 0.25)
    assert s["crossing"] == pytest.approx(0.5 * 4)
    assert s["fall"] == pytest.approx(np.log(0.9 / 1.8))


def test_config_validation_refuses_bad_values():
    full = eos.Config.full()
    for change in [{"n_samples": 5}, {"width": 0}, {"step_sizes": (0.4,)},
                   {"step_sizes": (0.4, 0.4)}, {"step_sizes": (0.4, -0.1)},
                   {"time_budget": 0.0}, {"n_seeds": 1}, {"sharpness_points": 2},
                   {"band": 0.0}, {"lanczos_tol": 0.5}, {"time_budget": 1e6}]:
        with pytest.raises(UserInputError):
            dataclasses.replace(full, **change).validate()
    full.validate()
    eos.Config.quick().validate()


def test_quick_preset_changes_only_sizes():
    assert set(eos.Config.QUICK) <= {"n_samples", "n_seeds", "time_budget", "step_sizes",
                                     "sharpness_points"}
    quick, full = eos.Config.quick(), eos.Config.full()
    assert set(quick.step_sizes) <= set(full.step_sizes)
    assert (quick.width, quick.band, quick.lanczos_tol) == (full.width, full.band,
                                                            full.lanczos_tol)


def test_tiny_run_is_bit_reproducible():
    cfg = dataclasses.replace(eos.Config.quick(), n_samples=30, width=4, n_seeds=2,
                              time_budget=20.0, sharpness_points=4)
    a = eos.run(cfg, np.random.default_rng(7))
    b = eos.run(cfg, np.random.default_rng(7))
    assert sorted(a.arrays) == sorted(b.arrays)
    for key in a.arrays:
        assert np.array_equal(a.arrays[key], b.arrays[key], equal_nan=True)


@pytest.fixture(scope="module")
def quick_result():
    return eos.run(eos.Config.quick(), np.random.default_rng(0))


def test_quick_preset_computes_every_check(quick_result):
    r = quick_result
    by_name = {c.name: c for c in r.checks}
    evidence = {"edge_ratio_eta_0.4", "edge_ratio_eta_0.3", "sharpening_eta_0.4",
                "sharpening_eta_0.3", "loss_nonmonotone", "loss_falls", "control_below_own_edge",
                "control_loss_monotone", "control_exceeds_edge"}
    assert {n for n, c in by_name.items() if c.role == "evidence"} == evidence
    assert {n for n, c in by_name.items() if c.role == "sanity"} == {
        "lanczos_converged", "sharpness_independent_hvp"}
    assert r.headline_check().name == "edge_ratio_eta_0.3"
    assert by_name["edge_ratio_eta_0.3"].stderr > 0
    for c in r.checks:
        assert np.isfinite(float(c.measured))
        if c.kind == "exact":
            assert c.stderr is None
    assert r.deviations and r.figures and r.measurements["hessian_vector_products"].value > 0
    assert r.arrays["edge_ratio"].shape == (2, 3)
