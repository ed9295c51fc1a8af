"""Curvature operators against dense ground truth (float64 autograd Hessians, jacrev).

The reference never goes through deepscope: it concatenates all batches and differentiates the
full-data loss of the original model twice, so uneven-batch weighting, parameter selection,
BatchNorm handling and both product modes are all checked against one independent truth.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call

from deepscope.curvature import (
    BlockDiagonalOperator,
    EmpiricalFisherOperator,
    GGNOperator,
    HessianOperator,
    SubspaceOperator,
    gauss_newton_decomposition,
)
from deepscope.errors import UserInputError

DT = torch.float64
MODES = ["forward-over-reverse", "reverse-over-reverse"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_model(factory, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return factory().to(DT)


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.Conv2d(3, 2, 3, padding=1), nn.Softplus(),
        nn.Flatten(), nn.Linear(2 * 5 * 5, 3),
    )


def classification_batches(sizes=(32, 32, 6), d=5, c=4, seed=1):
    g = gen(seed)
    return [(torch.randn(n, d, generator=g, dtype=DT), torch.randint(0, c, (n,), generator=g))
            for n in sizes]


def image_batches(sizes=(9, 4), c=3, seed=2):
    g = gen(seed)
    return [(torch.randn(n, 1, 5, 5, generator=g, dtype=DT), torch.randn(n, c, generator=g,
                                                                          dtype=DT))
            for n in sizes]


def dense_reference(model, loss_full, names):
    """Hessian of loss_full(model with params) over the flat vector of ``names``."""
    model = copy.deepcopy(model)  # functional_call can leave tied modules altered (torch 2.13)
    named = dict(model.named_parameters())
    shapes = [named[n].shape for n in names]
    sizes = [named[n].numel() for n in names]
    flat0 = torch.cat([named[n].detach().reshape(-1) for n in names])

    def f(flat):
        pieces = torch.split(flat, sizes)
        params = {n: t.reshape(s) for n, t, s in zip(names, pieces, shapes)}
        return loss_full(lambda x: functional_call(model, params, (x,)))

    # torch.autograd.functional.hessian (row-by-row double backward, no vmap). Note: in torch
    # 2.13 torch.func.hessian is wrong by ~9% for BatchNorm with batch statistics (it disagrees
    # with finite differences), so it is not used as the oracle.
    return torch.autograd.functional.hessian(f, flat0)


def assert_matches(op, dense, n_vectors=4, rtol=1e-12):
    V = torch.randn(op.shape[0], n_vectors, generator=gen(9), dtype=DT)
    got, want = op @ V, dense @ V
    err = torch.linalg.norm(got - want) / torch.linalg.norm(want)
    assert err <= rtol, float(err)
    v = V[:, 0]
    assert torch.linalg.norm(op @ v - dense @ v) <= rtol * torch.linalg.norm(dense @ v)


def full_data(batches):
    return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_hessian_mlp_cross_entropy_uneven_batches(mode, reduction):
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4)))
    batches = classification_batches()
    loss = nn.CrossEntropyLoss(reduction=reduction)
    X, y = full_data(batches)
    names = [n for n, _ in model.named_parameters()]
    dense = dense_reference(model, lambda f: loss(f(X), y), names)
    op = HessianOperator(model, loss, batches, mode=mode)
    assert op.shape == (dense.shape[0], dense.shape[0])
    assert_matches(op, dense)
    torch.testing.assert_close(op.to_dense(), dense, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_hessian_cnn_mse(mode):
    model = make_model(cnn)
    batches = image_batches()
    X, y = full_data(batches)
    names = [n for n, _ in model.named_parameters()]
    dense = dense_reference(model, lambda f: nn.functional.mse_loss(f(X), y), names)
    assert_matches(HessianOperator(model, nn.MSELoss(), batches, mode=mode), dense)


def test_auto_mode_picks_a_mode_and_agrees():
    model = make_model(cnn)
    batches = image_batches()
    op = HessianOperator(model, "mse", batches)
    # Softplus is outside the R-operator and there is no attention: double backward
    assert op.mode == op.batched_mode == "reverse-over-reverse"
    dense = HessianOperator(model, "mse", batches, mode=MODES[0]).to_dense()
    assert_matches(op, dense)


def test_parameter_subset_by_glob_and_flat_order():
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4)))
    batches = classification_batches()
    X, y = full_data(batches)
    names = ["0.bias", "2.weight"]
    dense = dense_reference(model, lambda f: nn.functional.cross_entropy(f(X), y), names)
    op = HessianOperator(model, "ce", batches, params=["2.weight", "0.b*"])
    assert op.param_names == names  # named_parameters() order, not the order asked
    assert_matches(op, dense)


def test_frozen_and_unused_parameters():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(5, 6)
            self.b = nn.Linear(6, 4)
            self.unused = nn.Linear(3, 3)

        def forward(self, x):
            return self.b(torch.tanh(self.a(x)))

    model = make_model(Net)
    model.a.weight.requires_grad_(False)
    batches = classification_batches()
    op = HessianOperator(model, "ce", batches)
    assert op.param_names == ["a.bias", "b.weight", "b.bias", "unused.weight", "unused.bias"]
    X, y = full_data(batches)
    dense = dense_reference(model, lambda f: nn.functional.cross_entropy(f(X), y),
                            op.param_names)
    assert_matches(op, dense)
    block = op.to_dense()[-12:, :]
    assert torch.count_nonzero(block) == 0  # no gradient: zero rows
    for mode in MODES:
        assert_matches(HessianOperator(model, "ce", batches, mode=mode), dense)


def test_tied_weights():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(5, 3, bias=False)
            self.dec = nn.Linear(3, 5, bias=False)
            self.dec.weight = nn.Parameter(torch.empty(5, 3))  # replaced below by a tie

        def forward(self, x):
            return nn.functional.linear(torch.tanh(self.enc(x)), self.enc.weight.T)

    model = make_model(Tied)
    del model.dec
    g = gen(3)
    X = torch.randn(12, 5, generator=g, dtype=DT)
    batches = [(X[:7], X[:7]), (X[7:], X[7:])]
    dense = dense_reference(model, lambda f: nn.functional.mse_loss(f(X), X), ["enc.weight"])
    for mode in MODES:
        assert_matches(HessianOperator(model, "mse", batches, mode=mode), dense)


def test_shared_module_tied_parameters():
    lin = nn.Linear(4, 4)
    model = make_model(lambda: nn.Sequential(lin, nn.Tanh(), lin))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias"]  # deduplicated
    g = gen(4)
    X, y = torch.randn(10, 4, generator=g, dtype=DT), torch.randn(10, 4, generator=g, dtype=DT)
    dense = dense_reference(model, lambda f: nn.functional.mse_loss(f(X), y), names)
    assert_matches(HessianOperator(model, "mse", (X, y)), dense)


@pytest.mark.parametrize("bn", ["eval", "batch"])
def test_batchnorm_modes_and_buffers_unchanged(bn):
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Tanh(),
                                             nn.Linear(6, 3)))
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        model[1].running_mean.uniform_(-0.5, 0.5, generator=gen(5))
        model[1].running_var.uniform_(0.5, 2.0, generator=gen(6))
    before = copy.deepcopy(model.state_dict())
    g = gen(7)
    X, y = torch.randn(16, 5, generator=g, dtype=DT), torch.randint(0, 3, (16,), generator=g)
    reference = copy.deepcopy(model)
    reference.train(bn == "batch")
    if bn == "batch":
        reference[1].track_running_stats = False
        reference[1].running_mean = reference[1].running_var = None
    names = [n for n, _ in model.named_parameters()]
    dense = dense_reference(reference, lambda f: nn.functional.cross_entropy(f(X), y), names)
    for mode in MODES:
        op = HessianOperator(model, "ce", (X, y), bn=bn, mode=mode)
        assert_matches(op, dense)
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_closure_loss_with_dict_batches():
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 1)))
    g = gen(8)
    batches = [{"x": torch.randn(n, 5, generator=g, dtype=DT),
                "t": torch.randn(n, 1, generator=g, dtype=DT)} for n in (11, 5)]

    def closure(model, batch):
        return ((model(batch["x"]) - batch["t"]) ** 4).mean()

    X = torch.cat([b["x"] for b in batches])
    T = torch.cat([b["t"] for b in batches])
    names = [n for n, _ in model.named_parameters()]
    dense = dense_reference(model, lambda f: ((f(X) - T) ** 4).mean(), names)
    for mode in MODES:
        assert_matches(HessianOperator(model, closure, batches, mode=mode), dense)


def test_float32_model_in_float64():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    batches = classification_batches(c=3)
    op = HessianOperator(model, "ce", batches, dtype=DT)
    assert op.dtype == DT and next(model.parameters()).dtype == torch.float32
    X, y = full_data(batches)
    ref = copy.deepcopy(model).to(DT)
    names = [n for n, _ in ref.named_parameters()]
    assert_matches(op, dense_reference(ref, lambda f: nn.functional.cross_entropy(f(X), y), names))


# ----------------------------------------------------------------------------- GGN and Fisher
def jacobian_reference(model, X, names):
    model = copy.deepcopy(model)
    named = dict(model.named_parameters())
    shapes = [named[n].shape for n in names]
    sizes = [named[n].numel() for n in names]
    flat0 = torch.cat([named[n].detach().reshape(-1) for n in names])

    def f(flat):
        params = {n: t.reshape(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}
        return functional_call(model, params, (X,))

    return f(flat0).detach(), torch.func.jacrev(f)(flat0)  # (N, C), (N, C, P)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_ggn_cross_entropy_dense_reference(reduction):
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4)))
    batches = classification_batches()
    X, y = full_data(batches)
    names = [n for n, _ in model.named_parameters()]
    out, J = jacobian_reference(model, X, names)
    p = torch.softmax(out, -1)
    HL = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    scale = 1 / len(X) if reduction == "mean" else 1.0
    G = scale * torch.einsum("ncp,ncd,ndq->pq", J, HL, J)
    op = GGNOperator(model, nn.CrossEntropyLoss(reduction=reduction), batches)
    assert_matches(op, G)


def test_ggn_mse_and_generic_loss_paths():
    model = make_model(cnn)
    batches = image_batches()
    X, y = full_data(batches)
    names = [n for n, _ in model.named_parameters()]
    out, J = jacobian_reference(model, X, names)
    G = 2 / out.numel() * torch.einsum("ncp,ncq->pq", J, J)
    assert_matches(GGNOperator(model, "mse", batches), G)
    # a loss without an analytic output Hessian: exact autodiff in output space
    def huber(o, t):
        return nn.functional.smooth_l1_loss(o, t, beta=10.0)  # quadratic here: 0.5 d^2 / beta

    G_huber = 1 / (10.0 * out.numel()) * torch.einsum("ncp,ncq->pq", J, J)
    assert_matches(GGNOperator(model, huber, batches), G_huber)


def test_empirical_fisher_against_per_sample_gradients():
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 4)))
    batches = classification_batches()
    X, y = full_data(batches)
    names = [n for n, _ in model.named_parameters()]
    named = dict(model.named_parameters())

    def sample_loss(params, x, t):
        return nn.functional.cross_entropy(functional_call(model, params, (x[None],)), t[None])

    params = {n: named[n].detach() for n in names}
    grads = torch.func.vmap(torch.func.grad(sample_loss), in_dims=(None, 0, 0))(params, X, y)
    Gs = torch.cat([grads[n].reshape(len(X), -1) for n in names], dim=1)
    F = Gs.T @ Gs / len(X)
    assert_matches(EmpiricalFisherOperator(model, "ce", batches), F)
    F_sum = Gs.T @ Gs
    assert_matches(EmpiricalFisherOperator(model, nn.CrossEntropyLoss(reduction="sum"), batches),
                   F_sum)


def test_gauss_newton_decomposition_is_exact():
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4)))
    batches = classification_batches()
    H, G, R = gauss_newton_decomposition(model, "ce", batches)
    Hd, Gd, Rd = H.to_dense(), G.to_dense(), R.to_dense()
    torch.testing.assert_close(Hd - Gd, Rd, rtol=0, atol=1e-13)
    assert torch.linalg.norm(Rd) > 1e-3  # a real residual, not a trivial zero
    # G is positive semi-definite for convex losses
    assert torch.linalg.eigvalsh(Gd).min() > -1e-12


def test_blocks_and_block_diagonal():
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4)))
    batches = classification_batches()
    op = HessianOperator(model, "ce", batches)
    dense = op.to_dense()
    sub = SubspaceOperator(op, ["2.weight", "2.bias"])
    assert_matches(sub, dense[-32:, -32:])
    bd = BlockDiagonalOperator(op)
    expected = torch.zeros_like(dense)
    expected[:42, :42] = dense[:42, :42]
    expected[42:, 42:] = dense[42:, 42:]
    assert_matches(bd, expected)


def test_numpy_and_scipy_interfaces():
    import numpy as np
    from scipy.sparse.linalg import eigsh

    model = make_model(lambda: nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)))
    op = HessianOperator(model, "ce", classification_batches(c=3))
    dense = op.to_dense().numpy()
    v = np.random.default_rng(0).standard_normal(op.shape[0])
    np.testing.assert_allclose(op @ v, dense @ v, rtol=1e-12, atol=1e-14)
    top = eigsh(op.to_scipy(), k=2, which="LA", tol=1e-12)[0]
    np.testing.assert_allclose(np.sort(top), np.linalg.eigvalsh(dense)[-2:], rtol=1e-9)


# ----------------------------------------------------------------------------- bad input
def test_refusals():
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 6), nn.Dropout(0.5), nn.Linear(6, 4)))
    data = classification_batches()
    model.train()
    with pytest.raises(UserInputError, match="dropout"):
        HessianOperator(model, "ce", data)
    model.eval()
    HessianOperator(model, "ce", data)  # inactive dropout is fine

    class Noisy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 4)

        def forward(self, x):
            return self.lin(x) + torch.randn(x.shape[0], 4, dtype=x.dtype)

    with pytest.raises(UserInputError, match="not deterministic"):
        HessianOperator(make_model(Noisy), "ce", data)

    nan_model = make_model(lambda: nn.Linear(5, 4))
    with torch.no_grad():
        nan_model.weight[0, 0] = float("nan")
    with pytest.raises(UserInputError, match="not finite"):
        HessianOperator(nan_model, "ce", data)
    with pytest.raises(UserInputError, match="empty"):
        HessianOperator(make_model(lambda: nn.Linear(5, 4)), "ce", [])
    with pytest.raises(UserInputError, match="matches no parameter"):
        HessianOperator(make_model(lambda: nn.Linear(5, 4)), "ce", data, params="conv*")
    big = make_model(lambda: nn.Linear(200, 150))
    g = gen(0)
    op = HessianOperator(big, "ce", (torch.randn(4, 200, generator=g, dtype=DT),
                                     torch.randint(0, 150, (4,), generator=g)))
    with pytest.raises(UserInputError, match="too big for to_dense"):
        op.to_dense()
    with pytest.raises(UserInputError, match="needs loss_fn"):
        GGNOperator(make_model(lambda: nn.Linear(5, 4)), lambda model, batch: model(batch[0]).sum(),
                    data)
    with pytest.raises(UserInputError, match="cannot multiply"):
        HessianOperator(make_model(lambda: nn.Linear(5, 4)), "ce", data) @ torch.ones(3)


# ----------------------------------------------------------------------------- solvers on a model
def test_solvers_on_a_model_hessian_against_dense():
    from deepscope.curvature import eigenvalues, hessian_index, spectral_density, trace

    model = make_model(lambda: nn.Sequential(nn.Linear(5, 9), nn.Tanh(), nn.Linear(9, 4)))
    batches = classification_batches(sizes=(32, 32, 6))
    X, y = full_data(batches)
    names = [n for n, _ in model.named_parameters()]
    dense = dense_reference(model, lambda f: nn.functional.cross_entropy(f(X), y), names)
    evals = torch.linalg.eigvalsh(dense)
    op = HessianOperator(model, "ce", batches)

    top = eigenvalues(op, k=5, which="largest", tol=1e-10, seed=0)
    bottom = eigenvalues(op, k=5, which="smallest", tol=1e-10, seed=0)
    torch.testing.assert_close(top.values, evals.flip(0)[:5], rtol=1e-10, atol=0)
    torch.testing.assert_close(bottom.values, evals[:5], rtol=1e-10, atol=1e-14)
    assert bool(top.converged.all()) and bool(bottom.converged.all())
    assert (top.relative_residuals <= 1e-10).all()

    est = trace(op, method="hutch++", rtol=1e-2, seed=0)
    assert abs(est.value - float(evals.sum())) <= 3 * est.stderr + 1e-12

    sd = spectral_density(op, n_probes=16, n_steps=40, seed=0)
    P = op.shape[0]
    for j in range(1, 5):
        truth = float((evals**j).sum()) / P
        assert abs(sd.moments_mean[j - 1] - truth) <= 4 * sd.moments_stderr[j - 1] + 1e-12

    index = hessian_index(op, method="dense")
    assert index.n_negative == int((evals < -1e-10 * evals.abs().max()).sum())


# ----------------------------------------------------------------------------- R-operator path
@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity])
@pytest.mark.parametrize("loss", ["ce", "mse", "ce-sum"])
def test_pearlmutter_products_match_dense(act, loss):
    model = make_model(lambda: nn.Sequential(nn.Flatten(), nn.Linear(5, 6), act(), nn.Linear(6, 5),
                                             act(), nn.Linear(5, 4)))
    if loss == "mse":
        g = gen(11)
        batches = [(torch.randn(n, 5, generator=g, dtype=DT), torch.randn(n, 4, generator=g,
                                                                           dtype=DT))
                   for n in (32, 32, 6)]
        loss_fn, ref = nn.MSELoss(), nn.functional.mse_loss
    else:
        batches = classification_batches()
        reduction = "sum" if loss == "ce-sum" else "mean"
        loss_fn = nn.CrossEntropyLoss(reduction=reduction)

        def ref(o, t):
            return nn.functional.cross_entropy(o, t, reduction=reduction)

    X, y = full_data(batches)
    names = [n for n, _ in model.named_parameters()]
    dense = dense_reference(model, lambda f: ref(f(X), y), names)
    op = HessianOperator(model, loss_fn, batches, mode="pearlmutter")
    assert op.mode == "pearlmutter" and op.batched_mode == "pearlmutter"
    assert_matches(op, dense)


def test_pearlmutter_refused_where_not_covered():
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 6), nn.GELU(), nn.Linear(6, 4)))
    with pytest.raises(UserInputError, match="pearlmutter"):
        HessianOperator(model, "ce", classification_batches(), mode="pearlmutter")
    mlp = make_model(lambda: nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 4)))
    with pytest.raises(UserInputError, match="pearlmutter"):  # a parameter subset
        HessianOperator(mlp, "ce", classification_batches(), params="2.*", mode="pearlmutter")
    auto = HessianOperator(mlp, "ce", classification_batches())
    assert auto.mode == "pearlmutter"


def _conv_cases():
    return {
        "conv2d-relu-maxpool": lambda: nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(3, 4, 3, padding="same"), nn.Tanh(), nn.MaxPool2d(3, stride=1),
            nn.Flatten(), nn.Linear(4, 3)),
        "strided-dilated-nobias": lambda: nn.Sequential(
            nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False), nn.Sigmoid(),
            nn.Conv2d(2, 3, 2, dilation=2), nn.ReLU(), nn.Flatten(), nn.Linear(12, 3)),
        "pool-then-relu-overlapping": lambda: nn.Sequential(
            nn.Conv2d(1, 3, 3), nn.MaxPool2d(3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(3, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 2 * 2, 3)),
        "wide-first-conv": lambda: nn.Sequential(
            nn.Conv2d(1, 5, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(5 * 3 * 3, 3)),
        "conv1d-overlapping-pool": lambda: nn.Sequential(
            nn.Conv1d(1, 3, 3, padding=1), nn.Tanh(), nn.MaxPool1d(3, stride=2, padding=1),
            nn.Conv1d(3, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 12, 3)),
    }


@pytest.mark.parametrize("case", list(_conv_cases()))
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_pearlmutter_convolutions_match_dense(case, loss):
    """The R-operator through convolutions and max pooling against autograd's dense Hessian
    (first convolutions unfolded into a matrix product when small, ReLU fused with pooling)."""
    model = make_model(_conv_cases()[case])
    g = gen(13)
    shape = (1, 25) if "1d" in case else (1, 7, 7)
    X = torch.randn(22, *shape, generator=g, dtype=DT)
    if loss == "mse":
        Y = torch.randn(22, 3, generator=g, dtype=DT)
        batches, ref = [(X[:16], Y[:16]), (X[16:], Y[16:])], nn.functional.mse_loss
    else:
        y = torch.randint(0, 3, (22,), generator=g)
        batches, ref = [(X[:16], y[:16]), (X[16:], y[16:])], nn.functional.cross_entropy
    Xa, ya = full_data(batches)
    names = [n for n, _ in model.named_parameters()]
    dense = dense_reference(model, lambda f: ref(f(Xa), ya), names)
    op = HessianOperator(model, loss, batches, mode="pearlmutter")
    assert op.mode == "pearlmutter"
    assert_matches(op, dense)


def test_pearlmutter_zoo_models_match_dense():
    from deepscope.models import MLP, SmallCNN

    g = gen(14)
    X = torch.randn(20, 36, generator=g, dtype=DT)   # flat input, reshaped by the zoo model
    y = torch.randint(0, 4, (20,), generator=g)
    for factory in (lambda: SmallCNN(n_classes=4, image_size=6, channels=(2, 3)),
                    lambda: MLP((36, 5, 4), activation="tanh")):
        model = make_model(factory)
        names = [n for n, _ in model.named_parameters()]
        dense = dense_reference(model, lambda f: nn.functional.cross_entropy(f(X), y), names)
        op = HessianOperator(model, "ce", [(X[:12], y[:12]), (X[12:], y[12:])],
                             mode="pearlmutter")
        assert_matches(op, dense)


def test_ignored_labels_use_the_true_loss():
    """CrossEntropyLoss(ignore_index=...) with ignored labels present: no analytic shortcut."""
    model = make_model(lambda: nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 4)))
    batches = classification_batches()
    X, y = full_data(batches)
    loss = nn.CrossEntropyLoss(ignore_index=1)
    names = [n for n, _ in model.named_parameters()]
    dense = dense_reference(model, lambda f: loss(f(X), y), names)
    op = HessianOperator(model, loss, [(X, y)])
    assert op.mode != "pearlmutter"
    assert_matches(op, dense)
    ggn_dense = GGNOperator(model, loss, [(X, y)])
    assert ggn_dense.problem.loss_kind is None


def test_pearlmutter_refuses_shared_and_unused_parameters():
    """Tied weights across two layers and a parameter no layer uses: autodiff, still exact."""
    from deepscope.models import MLP

    g = gen(15)
    X = torch.randn(12, 3, generator=g, dtype=DT)
    y = torch.randint(0, 3, (12,), generator=g)
    tied = make_model(lambda: nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 3)))
    tied[2].weight = tied[0].weight
    extra = make_model(lambda: MLP((3, 5, 3), activation="tanh"))
    extra.temperature = nn.Parameter(torch.ones(1, dtype=DT))
    for model in (tied, extra):
        with pytest.raises(UserInputError, match="pearlmutter"):
            HessianOperator(model, "ce", (X, y), mode="pearlmutter")
        names = [n for n, _ in model.named_parameters()]
        dense = dense_reference(model, lambda f: nn.functional.cross_entropy(f(X), y), names)
        op = HessianOperator(model, "ce", (X, y))
        assert op.mode != "pearlmutter"
        assert_matches(op, dense)


def test_pearlmutter_large_blocks_are_split_exactly():
    """More vectors than one R-operator pass takes (ROP_BLOCK): split, same products."""
    from deepscope.curvature._hessian import ROP_BLOCK

    model = make_model(_conv_cases()["conv2d-relu-maxpool"])
    g = gen(16)
    X = torch.randn(10, 1, 7, 7, generator=g, dtype=DT)
    y = torch.randint(0, 3, (10,), generator=g)
    names = [n for n, _ in model.named_parameters()]
    dense = dense_reference(model, lambda f: nn.functional.cross_entropy(f(X), y), names)
    op = HessianOperator(model, "ce", (X, y), mode="pearlmutter")
    assert_matches(op, dense, n_vectors=2 * ROP_BLOCK + 1)
