"""hessian-bulk-outliers: the gap rule, the overlap, the instruments against torch.func."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import quick_verdict
from deepscope.errors import UserInputError
from deepscope.experiments import hessian_bulk_outliers as hbo


def _flat_loss(model, X, y):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]

    def loss(theta):
        parts = dict(zip(names, (t.reshape(s) for t, s in zip(torch.split(theta, sizes), shapes))))
        out = torch.func.functional_call(model, parts, (X,))
        return torch.nn.functional.cross_entropy(out, y)

    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return loss, theta


def test_gap_rule_on_a_planted_spectrum():
    bulk = np.linspace(1e-3, 1e-2, 500)
    spikes = np.array([5.0, 4.0, 3.0])
    assert hbo.outliers_above_gap(np.concatenate([bulk, spikes, -bulk])) == 3
    # non-positive eigenvalues are cut before the ratios are taken
    assert hbo.outliers_above_gap(np.array([2.0, 1.0, 0.0, -1.0])) == 1
    assert hbo.outliers_above_gap(np.array([1.0])) == 1


def test_overlap_identities():
    rng = np.random.default_rng(1)
    P, C = 400, 10
    U = np.linalg.qr(rng.standard_normal((P, C)))[0]
    assert hbo.subspace_overlap(U, U @ rng.standard_normal((C, C))) == pytest.approx(1.0, 1e-12)
    # a random C-dimensional span has expected overlap C / P
    vals = [hbo.subspace_overlap(U, rng.standard_normal((P, C))) for _ in range(200)]
    assert np.mean(vals) == pytest.approx(C / P, rel=0.15)


def test_dense_hessian_and_ggn_against_torch_func():
    from deepscope.curvature import GGNOperator, HessianOperator, eigenvalues

    rng = np.random.default_rng(3)
    X, y = hbo.clusters(3, 5, 40, 0.2, rng)
    model = hbo.mlp((5, 6, 6, 3), rng)
    loss, theta = _flat_loss(model, X, y)
    H_ref = torch.func.hessian(loss)(theta)
    H = HessianOperator(model, "ce", (X, y)).to_dense()
    assert float(torch.linalg.norm(H - H_ref) / torch.linalg.norm(H_ref)) < 1e-12
    # G from per-sample Jacobians and the softmax covariance, written out by hand
    names = [n for n, _ in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]

    def f(t):
        parts = dict(zip(names, (c.reshape(s) for c, s in zip(torch.split(t, sizes), shapes))))
        return torch.func.functional_call(model, parts, (X,))

    J = torch.func.jacrev(f)(theta)
    p = torch.softmax(f(theta), -1).detach()
    Hl = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    G_ref = torch.einsum("ikp,ikl,ilq->pq", J, Hl, J) / len(X)
    top = eigenvalues(GGNOperator(model, "ce", (X, y)), k=3, tol=1e-10, seed=0).values
    ref = torch.linalg.eigvalsh(G_ref).flip(0)[:3]
    assert torch.allclose(top, ref, rtol=1e-8, atol=1e-12)


def test_batchnorm_hessian_is_the_loss_as_trained():
    """bn='batch' differentiates the train-mode loss with full-batch statistics."""
    from deepscope.curvature import HessianOperator

    rng = np.random.default_rng(4)
    X = torch.tensor(rng.standard_normal((30, 4)))
    y = torch.tensor(rng.integers(3, size=30))
    model = hbo.mlp((4, 5, 3), rng, batchnorm=True)
    model.train()
    H = HessianOperator(model, "ce", (X, y), bn="batch").to_dense()
    for m in model.modules():  # batch statistics without buffer updates, for torch.func
        if isinstance(m, torch.nn.BatchNorm1d):
            m.track_running_stats, m.running_mean, m.running_var = False, None, None
    loss, theta = _flat_loss(model, X, y)
    # double backward (torch.func.hessian's forward mode through batch_norm is not used here)
    H_ref = torch.autograd.functional.hessian(loss, theta)
    b0 = 20  # the first bias before BatchNorm cancels in the normalisation: a zero row
    assert float(H[b0].abs().max()) < 1e-15 and float(H_ref[b0].abs().max()) < 1e-15
    assert float(torch.linalg.norm(H - H_ref) / torch.linalg.norm(H_ref)) < 1e-12


def test_config_validation():
    with pytest.raises(UserInputError):
        hbo.Config(n_seeds=1).validate()
    with pytest.raises(UserInputError):
        hbo.Config(cluster_ks=(1, 2)).validate()
    with pytest.raises(UserInputError):
        hbo.Config(digits_width=200).validate()
    hbo.Config.quick().validate()


def test_quick_preset_checks_are_computed():
    r = hbo.run(hbo.Config.quick(), np.random.default_rng(0))
    names = {c.name: c for c in r.checks}
    assert {"outliers_k2", "outliers_k5", "outliers_k10", "bulk_fraction",
            "gauss_newton_outliers", "class_mean_overlap", "bn_outlier_ratio"} <= set(names)
    assert r.checks
    assert names[r.headline].role == "evidence"
    assert r.verdict == quick_verdict("hessian-bulk-outliers")
    assert r.deviations and r.figures
    # the overlap must beat the random-subspace null by far
    assert r.measurements["overlap_loss_means"].value > 10 * r.measurements["overlap_null"].value
