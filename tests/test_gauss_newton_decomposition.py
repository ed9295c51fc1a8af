"""H = G + R for a small MLP, tested against autograd Hessians and closed forms (float64)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from deepscope.errors import UserInputError
from deepscope.experiments import gauss_newton_decomposition as gnd

C = gnd.N_CLASSES


def _model(d_in=5, width=3, seed=0, hidden=True):
    torch.manual_seed(seed)
    if not hidden:
        return torch.nn.Linear(d_in, C).to(torch.float64)
    return torch.nn.Sequential(torch.nn.Linear(d_in, width), torch.nn.Tanh(),
                               torch.nn.Linear(width, C)).to(torch.float64)


def _data(n=6, d_in=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    labels = torch.randint(0, C, (n,), generator=g)
    Y = torch.nn.functional.one_hot(labels, C).to(torch.float64)
    return X, labels, Y


def _autograd_hessian(model, X, loss_of_output):
    """Independent truth: torch.autograd.functional.hessian of the loss over flat parameters."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(t):
        parts = {n: c.reshape(s) for n, c, s in zip(names, torch.split(t, sizes), shapes)}
        return loss_of_output(torch.func.functional_call(model, parts, (X,)))

    return torch.autograd.functional.hessian(loss, theta)


def _rel(a, b):
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def test_mse_decomposition_sums_to_the_autograd_hessian():
    model = _model()
    X, _, Y = _data()
    mats = gnd._decomposition(model, X, Y, "mse")
    H = _autograd_hessian(model, X, lambda out: 0.5 * ((out - Y) ** 2).sum(-1).mean())
    assert _rel(mats["H"], H) <= 1e-13
    assert _rel(mats["G"] + mats["R"], H) <= 1e-13
    assert float(torch.linalg.norm(mats["R"])) > 1e-3 * float(torch.linalg.norm(H))  # non-trivial


def test_ce_decomposition_sums_to_the_autograd_hessian_and_has_rank_n_c_minus_1():
    model = _model(width=8)
    X, labels, _ = _data()
    mats = gnd._decomposition(model, X, labels, "ce")
    H = _autograd_hessian(model, X, lambda out: torch.nn.functional.cross_entropy(out, labels))
    assert _rel(mats["G"] + mats["R"], H) <= 1e-13
    ev = torch.linalg.eigvalsh(mats["G"])
    assert ev[0] >= -1e-13 * ev[-1]
    n = X.shape[0]
    assert int(torch.sum(ev > 1e-10 * ev[-1])) == n * (C - 1)  # P = 138 > N (C - 1) = 54


def test_linear_model_has_zero_residual_and_closed_form_ggn():
    """f = W x + b is linear in its parameters: R = 0 and H = G = (1/N) sum x~ x~^T (x) I."""
    model = _model(hidden=False)
    X, _, Y = _data()
    mats = gnd._decomposition(model, X, Y, "mse")
    assert float(torch.linalg.norm(mats["R"])) == 0.0
    Xt = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1) / np.sqrt(len(X))
    # parameters: weight (C, d) row-major, then bias (C)
    P_w = C * X.shape[1]
    G = torch.zeros(P_w + C, P_w + C, dtype=X.dtype)
    M = Xt.T @ Xt
    G[:P_w, :P_w] = torch.kron(torch.eye(C, dtype=X.dtype), M[:-1, :-1])
    G[:P_w, P_w:] = torch.kron(torch.eye(C, dtype=X.dtype), M[:-1, -1:])
    G[P_w:, :P_w] = G[:P_w, P_w:].T
    G[P_w:, P_w:] = M[-1, -1] * torch.eye(C, dtype=X.dtype)
    assert _rel(mats["G"], G) <= 1e-14
    assert _rel(mats["H"], G) <= 1e-14


def test_residual_vanishes_at_exact_interpolation():
    """Targets equal to the outputs: f - y = 0, so R = 0 exactly and H = G (to round-off)."""
    model = _model()
    X, _, _ = _data()
    with torch.no_grad():
        Y = model(X)
    mats = gnd._decomposition(model, X, Y, "mse")
    assert float(torch.linalg.norm(mats["R"])) == 0.0
    H = _autograd_hessian(model, X, lambda out: 0.5 * ((out - Y) ** 2).sum(-1).mean())
    assert _rel(mats["G"], H) <= 1e-13
    assert float(torch.linalg.eigvalsh(H)[0]) >= -1e-13 * float(torch.linalg.norm(H))


def test_residual_is_linear_in_the_residuals():
    """R(c y1 + (1 - c) y2) = c R(y1) + (1 - c) R(y2) for the squared loss."""
    model = _model()
    X, _, Y1 = _data()
    Y2 = _data(seed=7)[2]
    R1, R2 = (gnd._decomposition(model, X, Y, "mse")["R"] for Y in (Y1, Y2))
    R_mix = gnd._decomposition(model, X, 0.3 * Y1 + 0.7 * Y2, "mse")["R"]
    assert _rel(R_mix, 0.3 * R1 + 0.7 * R2) <= 1e-13


def test_weyl_bound_and_summary():
    model = _model(width=6)
    X, _, Y = _data()
    s = gnd._summary(gnd._decomposition(model, X, Y, "mse"), X.shape[0] * C)
    assert s["h_min"] < 0  # a tanh network off interpolation has negative curvature
    assert s["h_min"] >= -s["r_norm"] * (1 + 1e-12)
    assert s["g_min_rel"] >= -1e-13
    assert s["g_rank"] <= s["rank_bound"]
    assert s["identity"] <= 1e-14


def test_instruments_agree_with_the_dense_matrices():
    model = _model()
    X, _, Y = _data()
    mats = gnd._decomposition(model, X, Y, "mse")
    errors = gnd._instrument_errors(model, X, Y, mats)
    assert max(errors.values()) <= 1e-13


def test_config_validation_refuses_bad_values():
    full = gnd.Config.full()
    for change in [{"n_samples": 1}, {"n_seeds": 1}, {"loss_levels": (1.0,)},
                   {"loss_levels": (0.5, 0.1)}, {"loss_levels": (1.0, 0.1, 0.2)},
                   {"learning_rate": 0.0}, {"width": 100}]:
        with pytest.raises(UserInputError):
            dataclasses.replace(full, **change).validate()
    full.validate()
    gnd.Config.quick().validate()


def test_quick_preset_changes_only_sizes():
    assert set(gnd.Config.QUICK) <= {"n_samples", "width", "n_seeds", "loss_levels"}
    assert gnd.Config.quick().learning_rate == gnd.Config.full().learning_rate


@pytest.fixture(scope="module")
def quick_result():
    return gnd.run(gnd.Config.quick(), np.random.default_rng(0))


def test_quick_preset_computes_every_check(quick_result):
    r = quick_result
    names = {c.name for c in r.checks}
    assert {"residual_vanishes", "identity_mse", "identity_ce", "weyl_bound", "ggn_psd",
            "rank_mse", "rank_ce", "instruments_h", "instruments_g", "instruments_r"} <= names
    roles = {c.name: c.role for c in r.checks}
    assert roles["residual_vanishes"] == roles["identity_mse"] == "evidence"
    assert roles["ggn_psd"] == roles["rank_mse"] == "sanity"
    assert r.headline_check().name == "residual_vanishes"
    assert r.deviations and r.figures
    head = next(c for c in r.checks if c.name == "residual_vanishes")
    assert head.stderr is not None and np.isfinite(head.measured)
    for c in r.checks:
        if c.kind == "exact":
            assert c.stderr is None

