"""The inference plan (BatchNorm folded, channels-last convolutions, single-threaded workers)
against the exact per-point ``functional_call`` of the unfolded model (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.landscape._folding import find_pairs, inplace_activations
from deepscope.landscape._inference import build_inference_plan
from deepscope.models import build


def perturbed_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Nontrivial running statistics and affine parameters in every BatchNorm layer."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=gen, dtype=torch.float64) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen, dtype=torch.float64) * 2 + 0.3)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=gen, dtype=torch.float64) + 0.5)
                    m.bias.copy_(torch.rand(c, generator=gen, dtype=torch.float64) - 0.5)
    return model.eval()


def basis_of(model: nn.Module, K: int = 3, seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, p in model.named_parameters():
        rows = [p.detach()] + [0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype)
                               for _ in range(K - 1)]
        out[name] = torch.stack(rows)
    return out


def exact(model: nn.Module, basis: dict, C: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Per-point outputs of the unfolded model: ``theta_p = sum_j C[p, j] B_j``."""
    outs = []
    with torch.no_grad():
        for p in range(C.shape[0]):
            params = {n: torch.einsum("k,k...->...", C[p], b) for n, b in basis.items()}
            outs.append(torch.func.functional_call(model, params, (X,)))
    return torch.stack(outs)


def coeffs(K: int = 3, n: int = 5, seed: int = 2, dtype=torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    C = torch.rand(n, K, generator=gen, dtype=torch.float64) * 2 - 1
    C[:, 0] += 1.0
    C[0] = torch.tensor([1.0] + [0.0] * (K - 1))
    return C.to(dtype)


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).abs().max() / want.abs().max())


class ConvBN(nn.Module):
    """Conv (bias) -> BN -> ReLU -> Conv (no bias) -> BN without affine -> ReLU -> head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 5, 3, padding=1, stride=2, bias=False), nn.BatchNorm2d(5, affine=False),
            nn.ReLU())
        self.head = nn.Linear(5 * 3 * 3, 3)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def images(n=9, c=2, size=6, seed=3):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, size, size, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("case", ["convbn", "resnet", "cnn1d", "resnet1d"])
def test_plan_matches_per_point_functional_call(case, channels_last):
    torch.manual_seed(0)
    if case == "convbn":
        model, X = ConvBN().double(), images()
    elif case == "resnet":
        model = build("resnet:width=4,n_blocks=1", input_shape=(2, 6, 6), n_classes=3).double()
        X = images()
    else:
        spec = "cnn1d:channels=3-4" if case == "cnn1d" else "resnet1d:width=4,n_blocks=1"
        model = build(spec, input_shape=(1, 16), n_classes=3).double()
        X = images(c=1, size=4).reshape(9, 1, 16)
    model = perturbed_bn(model)
    basis = basis_of(model)
    plan = build_inference_plan(model, basis, bn="frozen", channels_last=channels_last)
    assert plan is not None and plan.name == "inference"
    n_bn = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert len(plan.pairs) == n_bn
    assert bool(plan.cl_convs) == channels_last
    C = coeffs()
    want = exact(model, basis, C, X)
    got = plan.outputs(C, X)
    assert got.shape == want.shape == (5, 9, 3)
    assert rel_err(got, want) < 1e-10
    # the folded BatchNorm changes the outputs: the comparison is not vacuous
    model.apply(lambda m: m.running_var.mul_(4.0) if isinstance(
        m, nn.modules.batchnorm._BatchNorm) else None)
    if n_bn:
        assert rel_err(got, exact(model, basis, C, X)) > 1e-3


def test_workers_give_the_single_thread_outputs():
    model = perturbed_bn(build("resnet:width=4,n_blocks=1", input_shape=(2, 6, 6),
                               n_classes=3).double())
    basis = basis_of(model)
    X, C = images(), coeffs(n=6)
    plan = build_inference_plan(model, basis, bn="frozen", channels_last=True)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = plan.outputs(C, X)
        torch.set_num_threads(2)
        pooled = plan.outputs(C, X)
        assert torch.get_num_threads() == 2  # the workers' setting stays theirs
        assert plan._pool is not None and plan._pool[0] == 2
    finally:
        torch.set_num_threads(before)
    assert torch.equal(alone, pooled)
    assert rel_err(pooled, exact(model, basis, C, X)) < 1e-10


def test_outputs_do_not_depend_on_how_points_are_cut_into_passes():
    model = perturbed_bn(build("resnet:width=4,n_blocks=1", input_shape=(2, 6, 6),
                               n_classes=3).float())
    basis = {k: v.float() for k, v in basis_of(model).items()}
    X, C = images().float(), coeffs(n=5).float()
    plan = build_inference_plan(model, basis, bn="frozen")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        whole = plan.outputs(C, X)
        one_by_one = torch.cat([plan.outputs(C[i:i + 1], X) for i in range(len(C))])
        pairs = torch.cat([plan.outputs(C[i:i + 2], X) for i in range(0, len(C), 2)])
    finally:
        torch.set_num_threads(before)
    assert torch.equal(whole, one_by_one) and torch.equal(whole, pairs)


class SignalHead(nn.Module):
    """1-D convolution, then a head on the signal flattened by ``view``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 3, 5, padding=2)
        self.head = nn.Linear(3 * 16, 3)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).view(x.shape[0], -1))


@pytest.mark.parametrize("spec, flattens", [
    ("cnn1d:channels=3-4", True),           # flatten(1) of (N, 4, 16) before the head
    ("resnet1d:width=4,n_blocks=1", False),  # global pooling: flatten(1) of (N, 4, 1)
    (SignalHead, True),                      # view(N, -1) of (N, 3, 16)
    ("resnet:width=4,n_blocks=1", False),    # flatten(1) of (N, 4, 1, 1)
    (ConvBN, True),                          # flatten(1) of (N, 5, 3, 3)
])
def test_channels_last_by_default_unless_feature_maps_are_flattened(spec, flattens):
    """In float32 the convolutions run channels-last unless the forward pass merges a feature
    map's channels and positions, read from the first batch; outputs equal the per-point
    outputs of the unfolded model either way."""
    from deepscope.landscape._inference import flattens_feature_maps

    torch.manual_seed(0)
    two_d = spec == "resnet:width=4,n_blocks=1" or spec is ConvBN
    if isinstance(spec, str):
        model = build(spec, input_shape=(2, 6, 6) if two_d else (1, 16), n_classes=3)
    else:
        model = spec()
    model = perturbed_bn(model.double()).float()
    X = images().float() if two_d else images(c=1, size=4).float().reshape(9, 1, 16)
    assert flattens_feature_maps(model, X[:1]) is flattens
    basis = {k: v.float() for k, v in basis_of(model).items()}
    plan = build_inference_plan(model, basis, bn="frozen")
    assert plan.cl_convs == {} and plan.layout_pending
    C = coeffs(dtype=torch.float32)
    got = plan.outputs(C, X)
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    assert not plan.layout_pending
    assert len(plan.cl_convs) == (0 if flattens else len(convs))
    assert rel_err(got, exact(model, basis, C, X)) < 1e-5
    assert torch.equal(plan.outputs(C, X), got)  # decided once: the next call is the same
    # float64 keeps the layout without a decision
    model64 = model.double()
    plan64 = build_inference_plan(model64, basis_of(model64), bn="frozen")
    assert not plan64.layout_pending and plan64.cl_convs == {}


class ReusedConvOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, x):
        y = self.conv(x)
        return (self.bn(y) + y).flatten(1)


class ReluInputReused(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.conv(x)
        return (self.relu(y) - y).flatten(1)


class Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, x):
        if float(x.sum()) > 1e9:  # data-dependent control flow: no graph
            return x.flatten(1)
        return self.bn(self.conv(x)).flatten(1)


class BNOnInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(2)
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(self.bn(x)).flatten(1)


@pytest.mark.parametrize("make, bn, why", [
    (ConvBN, "recompute", "recomputed"),
    (ReusedConvOutput, "frozen", "used by more than"),
    (Untraceable, "frozen", "traceable"),
    (BNOnInput, "frozen", "does not follow a convolution"),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(72, 4), nn.BatchNorm1d(4)), "frozen",
     "no convolution"),
    (lambda: nn.Sequential(nn.Conv2d(2, 2, 3), nn.BatchNorm2d(2, track_running_stats=False)),
     "frozen", "running statistics"),
    (lambda: nn.Sequential(nn.Conv2d(2, 2, 1), nn.Linear(6, 6), nn.BatchNorm2d(2)), "frozen",
     "follows Linear"),
])
def test_refuses_structures_it_cannot_fold(make, bn, why):
    model = make().double().eval()
    reasons: list[str] = []
    assert build_inference_plan(model, basis_of(model), bn=bn, reasons=reasons) is None
    assert len(reasons) == 1 and why in reasons[0]


def test_recompute_without_batchnorm_is_the_frozen_plan():
    model = build("cnn1d:channels=3-4", input_shape=(1, 16), n_classes=3).double().eval()
    basis = basis_of(model)
    plan = build_inference_plan(model, basis, bn="recompute")
    X, C = images(c=1, size=4).reshape(9, 1, 16), coeffs()
    assert rel_err(plan.outputs(C, X), exact(model, basis, C, X)) < 1e-10


def test_relu_in_place_only_where_its_input_has_no_other_user():
    model = ReluInputReused().double().eval()
    assert inplace_activations(model) == []
    basis = basis_of(model)
    plan = build_inference_plan(model, basis, bn="frozen", channels_last=True)
    X, C = images(), coeffs()
    want = exact(model, basis, C, X)
    assert float(want.abs().max()) > 0.1  # relu(y) - y = -min(y, 0): not zero
    assert rel_err(plan.outputs(C, X), want) < 1e-10
    resnet = build("resnet:width=4,n_blocks=1", input_shape=(2, 6, 6), n_classes=3)
    assert inplace_activations(resnet) == ["blocks.0.relu", "stem.2"]
    assert [(p.layer, p.norm) for p in find_pairs(resnet)] == [
        ("stem.0", "stem.1"), ("blocks.0.conv1", "blocks.0.norm1"),
        ("blocks.0.conv2", "blocks.0.norm2")]


class MixesSamples(nn.Module):
    """Subtracts the batch mean: its outputs depend on which samples share the pass."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        y = self.conv(x).flatten(1)
        return y - y.mean(0)


@pytest.mark.parametrize("make, blocked", [
    (lambda: build("resnet:width=4,n_blocks=1", input_shape=(2, 6, 6), n_classes=3), True),
    (MixesSamples, False),
])
def test_sample_blocks_only_where_samples_are_independent(make, blocked):
    model = perturbed_bn(make().double())
    basis = basis_of(model)
    plan = build_inference_plan(model, basis, bn="frozen", sample_block=4)
    X, C = images(), coeffs()
    got = plan.outputs(C, X)
    (_, block, _), = plan._data.values()
    assert block == (4 if blocked else 9)
    assert rel_err(got, exact(model, basis, C, X)) < 1e-10


class ReluOnInputView(nn.Module):
    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(self.relu(x.view(x.shape))).flatten(1)


def test_relu_on_a_view_of_the_data_leaves_the_data_alone():
    model = ReluOnInputView().double().eval()
    assert inplace_activations(model) == []
    basis = basis_of(model)
    plan = build_inference_plan(model, basis, bn="frozen")
    X, C = images(), coeffs()
    before = X.clone()
    assert rel_err(plan.outputs(C, X), exact(model, basis, C, X)) < 1e-10
    assert torch.equal(X, before) and bool((X < 0).any())


def test_passes_are_sized_by_outputs_and_do_not_depend_on_threads():
    """The evaluator sizes the inference scorer's passes by what a pass keeps (each point's
    outputs and parameters), in multiples of PASS_QUANTUM points whatever the budget, and the
    same on any number of threads, so a grid's bits do not depend on the threads."""
    from deepscope.landscape import LandscapeEvaluator
    from deepscope.landscape._inference import PASS_QUANTUM

    model = perturbed_bn(build("resnet:width=4,n_blocks=1", input_shape=(2, 6, 6),
                               n_classes=3).float())
    X = images(n=40).float()
    y = torch.arange(40) % 3
    P = sum(p.numel() for p in model.parameters())
    basis = torch.randn(3, P, generator=torch.Generator().manual_seed(1))
    C = torch.rand(150, 3, generator=torch.Generator().manual_seed(0)).numpy()
    C[:, 0] += 1.0
    before = torch.get_num_threads()
    sizes, losses = [], []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            tight = LandscapeEvaluator(model, "ce", (X, y), basis, max_memory=1)
            assert tight.batched_path_ == "inference"
            assert tight.chunk_size() == 1  # not even one point's outputs fit: one a pass
            fp = tight._footprint
            # the activations fill the budget, the points' own numbers fit: PASS_QUANTUM
            busy = LandscapeEvaluator(model, "ce", (X, y), basis,
                                      max_memory=int(2 * fp.layers * 40 * 4))
            assert busy.chunk_size() == PASS_QUANTUM
            ev = LandscapeEvaluator(model, "ce", (X, y), basis, max_memory=1 << 20)
            sizes.append(ev.chunk_size())
            losses.append(ev.evaluate_points(C)["loss"])
    finally:
        torch.set_num_threads(before)
    assert sizes[0] == sizes[1] == sizes[2] and sizes[0] % PASS_QUANTUM == 0
    # 1 MiB holds far more points than a pass sized by all activations of every point would
    fp = ev._footprint
    by_activations = (1 << 20) // (2 * (fp.layers * 40 + 2 * P) * 4)
    assert sizes[0] >= 2 * max(by_activations, PASS_QUANTUM)
    assert sizes[0] < 150  # this grid takes several passes
    assert np.array_equal(losses[0], losses[1]) and np.array_equal(losses[0], losses[2])
    one = LandscapeEvaluator(model, "ce", (X, y), basis, points_per_pass=1)
    assert np.allclose(losses[0], one.evaluate_points(C)["loss"], rtol=1e-6, atol=0)


class NeedsContiguous(nn.Module):
    """Two 1-D convolutions and a head that insists on the signal's own layout (a check the
    layout decision cannot see)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(1, 3, 5, padding=2)
        self.conv2 = nn.Conv1d(3, 3, 5, padding=2)
        self.head = nn.Linear(3, 3)

    def forward(self, x):
        h = self.conv2(torch.relu(self.conv1(x)))
        if not h.is_contiguous():
            raise RuntimeError("this head reads the signal's memory in its own layout")
        return self.head(h.mean(-1))


class SqueezeHead(nn.Module):
    """A head that squeezes, then views: with one sample the squeeze drops the batch axis."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(1, 3, 5, padding=2)
        self.conv2 = nn.Conv1d(3, 3, 5, padding=2)
        self.head = nn.Linear(3 * 16, 3)

    def forward(self, x):
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.head(h.squeeze().view(x.shape[0], -1))


@pytest.mark.parametrize("make", [NeedsContiguous, SqueezeHead])
def test_a_layout_the_model_cannot_run_falls_back_to_its_own(make):
    """A model the layout check misreads (NeedsContiguous) or that a one-sample check would
    misread (SqueezeHead) runs in its own layout: the bits of a plan that never tried
    channels-last, on every later call and on several workers, and after pickling."""
    import pickle

    from deepscope.landscape import LandscapeEvaluator
    from deepscope.landscape._inference import flattens_feature_maps

    torch.manual_seed(0)
    model = make()
    X = images(n=9, c=1, size=4).float().reshape(9, 1, 16)
    y = torch.arange(9) % 3
    assert flattens_feature_maps(model, X[:2]) is (make is SqueezeHead)
    P = sum(p.numel() for p in model.parameters())
    ev = LandscapeEvaluator(model, "ce", (X, y), torch.randn(3, P), method="batched")
    assert ev.batched_path_ == "inference"
    plan = ev.scorer.plan
    assert plan.cl_convs == {} and not plan.layout_pending and plan._plain is None
    basis = {k: v.float() for k, v in basis_of(model).items()}
    C = coeffs(n=6, dtype=torch.float32)
    fresh = build_inference_plan(model, basis, bn="frozen")
    plain = build_inference_plan(model, basis, bn="frozen", channels_last=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        first = fresh.outputs(C, X)  # channels-last tried, given up, retried
        assert fresh.cl_convs == {} and fresh._plain is None
        want = plain.outputs(C, X)
        assert torch.equal(first, want)
        for _ in range(3):  # the workers run the module's own layout from now on
            assert torch.equal(fresh.outputs(C, X), want)
        assert torch.equal(pickle.loads(pickle.dumps(fresh)).outputs(C, X), want)
        # a worker of the failed pass that stored its channels-last copy late: not kept
        torch.set_num_threads(1)
        stale = build_inference_plan(model, basis, bn="frozen", channels_last=True).net
        fresh._local.net, fresh._local.src = stale, stale
        assert torch.equal(fresh.outputs(C, X), want)
    finally:
        torch.set_num_threads(before)
    assert rel_err(want, exact(model, basis, C, X)) < 1e-5


def test_flatten_of_positions_only_keeps_channels_last():
    from deepscope.landscape._inference import flattens_feature_maps

    class Tokens(nn.Module):  # patch embedding: (N, C, H, W) -> (N, C, H*W), a view
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(x).flatten(2).mean(-1)

    class ViewAs(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 3, 5, padding=2)

        def forward(self, x):
            h = self.conv(x)
            return h.view_as(torch.empty(x.shape[0], 48)).sum(1)

    assert not flattens_feature_maps(Tokens(), images(n=2).float())
    assert flattens_feature_maps(ViewAs(), torch.randn(2, 1, 16))


def test_a_plan_pickles_without_its_threads():
    import pickle

    model = perturbed_bn(build("resnet:width=4,n_blocks=1", input_shape=(2, 6, 6),
                               n_classes=3).float())
    basis = {k: v.float() for k, v in basis_of(model).items()}
    X, C = images().float(), coeffs(dtype=torch.float32)
    plan = build_inference_plan(model, basis, bn="frozen")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        got = plan.outputs(C, X)  # starts the workers
        copy_ = pickle.loads(pickle.dumps(plan))
        assert copy_._pool is None and copy_.cl_convs == plan.cl_convs
        assert plan._data and copy_._data == {}  # its cache is keyed by this process's addresses
        assert torch.equal(copy_.outputs(C, X), got)
    finally:
        torch.set_num_threads(before)
