"""The compiled cross-entropy pass (``_fused.ce_pass``) against torch's log-softmax and argmax."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.landscape import LandscapeEvaluator, _fused, evaluate_grid, random_directions


def reference(A, C, b1, W, b2, y):
    """Loss and hits in float64 through torch operators."""
    A, C, W, b2 = A.double(), C.double(), W.double(), b2.double()
    z = torch.einsum("pk,khn->phn", C, A)
    if b1 is not None:
        z = z + b1.double()[None, :, None]
    logits = torch.bmm(W, z.relu()) + b2[:, :, None]
    P, _, n = logits.shape
    loss = -torch.log_softmax(logits, 1).gather(1, y[None, None].expand(P, 1, n)).squeeze(1)
    return loss, (logits.argmax(1) == y).double(), logits


def inputs(K, H, NC, n, P, dtype=torch.float64, seed=0, scale=1.0, b1=False):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(K, H, n, generator=g, dtype=dtype)
    C = torch.randn(P, K, generator=g, dtype=dtype)
    W = torch.randn(P, NC, H, generator=g, dtype=dtype) * scale / max(H, 1) ** 0.5
    b2 = torch.randn(P, NC, generator=g, dtype=dtype)
    y = torch.randint(0, NC, (n,), generator=g)
    bias = torch.randn(H, generator=g, dtype=dtype) if b1 else None
    return A, C, bias, W, b2, y


@pytest.mark.parametrize("K,H,NC,n,b1", [
    (1, 1, 2, 1, False),        # one hidden unit, one sample
    (2, 8, 10, 256, False),     # one full group, one full block
    (2, 9, 3, 257, True),       # a group plus a tail unit; a block plus one sample
    (3, 33, 17, 600, False),    # odd class count (the pairwise class sweep's remainder)
    (5, 7, 2, 513, True),       # only a tail group
])
def test_float64_matches_log_softmax(K, H, NC, n, b1):
    A, C, bias, W, b2, y = inputs(K, H, NC, n, P=6, b1=b1, scale=3.0)
    s, hits = _fused.ce_pass(A, C, bias, W, b2, y, accuracy=True)
    loss, want_hits, _ = reference(A, C, bias, W, b2, y)
    np.testing.assert_allclose(s.numpy(), loss.numpy(), rtol=1e-13, atol=1e-13)
    assert torch.equal(hits, want_hits)
    s2, none = _fused.ce_pass(A, C, bias, W, b2, y, accuracy=False)
    assert none is None and torch.equal(s2, s)


def test_float32_within_float32_rounding():
    A, C, bias, W, b2, y = inputs(2, 32, 10, 700, P=5, dtype=torch.float32, scale=4.0)
    s, hits = _fused.ce_pass(A, C, bias, W, b2, y, accuracy=True)
    loss, _, logits = reference(A, C, bias, W, b2, y)
    # the float32 inputs' own rounding through 32 products: ~1e-6 of the logits' size
    tol = 4e-6 * (1 + logits.abs().amax(1))
    assert bool(((s.double() - loss).abs() <= tol).all())
    want = (torch.bmm(W, torch.einsum("pk,khn->phn", C, A).relu()) + b2[:, :, None]).argmax(1)
    assert torch.equal(hits, (want == y).float())


def test_extreme_logits_ties_and_non_finite():
    K, H, NC, n = 1, 2, 4, 6
    A = torch.ones(K, H, n, dtype=torch.float64)
    C = torch.ones(5, K, dtype=torch.float64)
    W = torch.zeros(5, NC, H, dtype=torch.float64)
    b2 = torch.tensor([[0.0, 0.0, 0.0, 0.0],          # all tied: argmax is class 0
                       [900.0, -900.0, 0.0, 899.0],   # exp underflows below e^-40
                       [float("nan"), 0.0, 1.0, 2.0],
                       [float("inf"), 0.0, 0.0, 0.0],
                       [0.0, float("-inf"), 3.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 1, 3])
    s, hits = _fused.ce_pass(A, C, None, W, b2, y, accuracy=True)
    logits = b2[:, :, None].expand(5, NC, n)
    want = -torch.log_softmax(logits, 1).gather(1, y[None, None].expand(5, 1, n)).squeeze(1)
    np.testing.assert_allclose(s.numpy(), want.numpy(), rtol=1e-13, atol=1e-13)
    assert torch.isnan(s[2]).all() and torch.isnan(s[3]).all()
    assert torch.isinf(s[4, 1]) and s[4, 1] > 0      # the target's logit is -inf
    assert torch.equal(hits, (logits.argmax(1) == y).double())


def test_each_point_is_the_same_whatever_the_pass():
    A, C, bias, W, b2, y = inputs(2, 20, 10, 900, P=9, dtype=torch.float32, b1=True)
    whole, hits = _fused.ce_pass(A, C, bias, W, b2, y, accuracy=True)
    for idx in ([4], [8, 0, 3], list(range(5))):
        part, ph = _fused.ce_pass(A, C[idx], bias, W[idx], b2[idx], y, accuracy=True)
        assert torch.equal(part, whole[idx]) and torch.equal(ph, hits[idx])


def test_thread_count_does_not_change_bits():
    A, C, bias, W, b2, y = inputs(2, 16, 10, 1000, P=7, dtype=torch.float32)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, _ = _fused.ce_pass(A, C, bias, W, b2, y, accuracy=False)
        torch.set_num_threads(2)
        two, _ = _fused.ce_pass(A, C, bias, W, b2, y, accuracy=False)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)


def test_evaluator_takes_the_compiled_pass_and_matches_the_loop():
    gen = torch.Generator().manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 5)).double()
    X = torch.randn(300, 3, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 5, (300,), generator=gen)
    dirs = random_directions(model, 2, seed=0)
    fast = evaluate_grid(model, "ce", (X, y), dirs, grid=(7, 5), span=(-1, 1), accuracy=True)
    slow = evaluate_grid(model, "ce", (X, y), dirs, grid=(7, 5), span=(-1, 1), accuracy=True,
                         method="exact")
    np.testing.assert_allclose(fast.loss, slow.loss, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(fast.values["accuracy"], slow.values["accuracy"])
    basis = torch.cat([torch.cat([p.detach().reshape(-1) for p in model.parameters()])[None],
                       dirs.vectors])
    ev = LandscapeEvaluator(model, "ce", (X, y), basis, method="batched")
    assert ev.scorer.terms_ok
    # a first-layer bias that is not varied, a last layer that is not varied
    for frozen in ("1.bias", "3.weight"):
        names = [n for n, _ in model.named_parameters() if n != frozen]
        for n_, p in model.named_parameters():
            p.requires_grad_(n_ != frozen)
        d = random_directions(model, 2, seed=4)
        got = evaluate_grid(model, "ce", (X, y), d, grid=(4, 3), span=(-1, 1))
        want = evaluate_grid(model, "ce", (X, y), d, grid=(4, 3), span=(-1, 1),
                             method="exact")
        np.testing.assert_allclose(got.loss, want.loss, rtol=1e-12, atol=1e-13,
                                   err_msg=f"{frozen} fixed; varied: {names}")
        for p in model.parameters():
            p.requires_grad_(True)


@pytest.mark.parametrize("failure", ["raises", "wrong"])
def test_a_failing_compiled_pass_falls_back_to_the_operators(failure, monkeypatch):
    def broken(A, C, b1, W, b2, y, accuracy):
        if failure == "raises":
            raise RuntimeError("no compiler here")
        return torch.zeros(C.shape[0], A.shape[2], dtype=A.dtype), None

    monkeypatch.setattr(_fused, "ce_pass", broken)
    gen = torch.Generator().manual_seed(2)
    model = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 3)).double()
    X = torch.randn(80, 6, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (80,), generator=gen)
    dirs = random_directions(model, 2, seed=1)
    basis = torch.cat([torch.cat([p.detach().reshape(-1) for p in model.parameters()])[None],
                       dirs.vectors])
    ev = LandscapeEvaluator(model, "ce", (X, y), basis, method="batched")
    C = np.array([[1.0, 0.2, -0.4], [1.0, -0.5, 0.1]])
    got = ev.evaluate_points(C)["loss"]
    assert not ev.scorer.terms_ok
    assert ("no compiler" if failure == "raises" else "differs") in ev.kernel_reason_
    want = LandscapeEvaluator(model, "ce", (X, y), basis, method="exact").evaluate_points(C)
    np.testing.assert_allclose(got, want["loss"], rtol=1e-12)


@pytest.mark.parametrize("dtype,big", [(torch.float64, 1e3), (torch.float64, 1e17),
                                       (torch.float32, 1e8)])
def test_large_logits_keep_the_loss(dtype, big):
    """A confident sample's loss is small next to its logits: computed as log_softmax does,
    ``log(sum) - (l_y - max)``, not ``(max + log(sum)) - l_y``, which rounds it away."""
    A = torch.ones(1, 1, 3, dtype=dtype)
    b2 = torch.tensor([[big, big, big - 4]], dtype=dtype)
    y = torch.tensor([0, 1, 2])
    s, _ = _fused.ce_pass(A, torch.ones(1, 1, dtype=dtype), None,
                          torch.zeros(1, 3, 1, dtype=dtype), b2, y, False)
    want = -torch.log_softmax(b2[:, :, None].expand(1, 3, 3), 1).gather(
        1, y[None, None]).squeeze(1)
    np.testing.assert_allclose(s.numpy(), want.numpy(), rtol=1e-13 if dtype == torch.float64
                               else 1e-6)


def test_shifted_logits_through_the_evaluator():
    """Adding a constant to every logit leaves the cross-entropy unchanged; the compiled pass
    must keep it to 1e-12 against the loop even with a large shift."""
    gen = torch.Generator().manual_seed(5)
    model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 4)).double()
    with torch.no_grad():
        model[2].bias.add_(1e5)
    X = torch.randn(200, 6, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (200,), generator=gen)
    dirs = random_directions(model, 2, seed=2)
    fast = evaluate_grid(model, "ce", (X, y), dirs, grid=(5, 4), span=(-1, 1))
    slow = evaluate_grid(model, "ce", (X, y), dirs, grid=(5, 4), span=(-1, 1), method="exact")
    np.testing.assert_allclose(fast.loss, slow.loss, rtol=1e-12, atol=0)


def test_passes_stay_within_max_memory():
    """Wide layers: each pass's last-layer weights, first-layer products and outputs fit in
    ``max_memory`` (the layout used to take 1024 points of 512 x 256 weights at once)."""
    model = nn.Sequential(nn.Linear(50, 512), nn.ReLU(), nn.Linear(512, 256)).double()
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(500, 50, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 256, (500,), generator=gen)
    dirs = random_directions(model, 2, seed=0)
    basis = torch.cat([torch.cat([p.detach().reshape(-1) for p in model.parameters()])[None],
                       dirs.vectors])
    mem = 16 << 20
    ev = LandscapeEvaluator(model, "ce", (X, y), basis, method="batched", max_memory=mem)
    assert ev.scorer.terms_ok
    points, block = ev.chain_layout()
    per_point = (2 * (256 * 512 + 256) + block * 2) * 8
    assert points * per_point <= mem and 2 * 512 * block * 8 <= mem
    C = np.array([[1.0, 0.3, -0.2], [1.0, -0.1, 0.4]])
    want = LandscapeEvaluator(model, "ce", (X, y), basis, method="exact").evaluate_points(C)
    np.testing.assert_allclose(ev.evaluate_points(C)["loss"], want["loss"], rtol=1e-12)
