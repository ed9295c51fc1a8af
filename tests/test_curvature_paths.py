"""How ``mode="auto"`` resolves, what construction costs, and the path every result records.

Truths: the structure rule's expected pick for each model family (R-operator for a plain MLP,
double backward for a BatchNorm CNN, the kept graph for an attention classifier), bit-for-bit
equality of products across constructions under a clock that returns random numbers, the
number of samples the model sees while an operator is built, and dense float64 Hessians
(``torch.autograd.functional.hessian`` of the full-data loss) for the fallbacks.
"""

from __future__ import annotations

import json
import random
import time

import pytest
import torch
from torch import nn

from deepscope.curvature import (
    GaussNewtonResidualOperator,
    GGNOperator,
    HessianOperator,
    SubspaceOperator,
    bulk_and_outliers,
    diagonal,
    eigenvalues,
    gauss_newton_decomposition,
    hessian_index,
    spectral_density,
    trace,
)
from deepscope.errors import UserInputError

DT = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def build(factory, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return factory().to(DT).eval()


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))


def bn_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


class Attention(nn.Module):
    """``nn.MultiheadAttention`` over embedded token ids, mean-pooled, a linear head."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 4)
        self.att = nn.MultiheadAttention(4, 2, batch_first=True)
        self.head = nn.Linear(4, 3)

    def forward(self, ids):
        h = self.emb(ids)
        h = h + self.att(h, h, h, need_weights=False)[0]
        return self.head(h.mean(dim=1))


def cases():
    g = gen(1)
    y = torch.randint(0, 3, (10,), generator=g)
    return {
        "mlp": (mlp, [(torch.randn(7, 5, generator=g, dtype=DT), y[:7]),
                      (torch.randn(3, 5, generator=g, dtype=DT), y[7:])]),
        "bn-cnn": (bn_cnn, [(torch.randn(10, 1, 4, 4, generator=g, dtype=DT), y)]),
        "attention": (Attention, [(torch.randint(0, 7, (10, 5), generator=g), y)]),
    }


EXPECTED = {"mlp": "pearlmutter", "bn-cnn": "reverse-over-reverse",
            "attention": "retained-graph"}


def dense_hessian(model: nn.Module, loss_of) -> torch.Tensor:
    named = dict(model.named_parameters())
    names = list(named)
    shapes = [named[n].shape for n in names]
    sizes = [named[n].numel() for n in names]
    flat0 = torch.cat([named[n].detach().reshape(-1) for n in names])

    def f(flat):
        params = {n: t.reshape(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}
        return loss_of(lambda x: torch.func.functional_call(model, params, (x,)))

    return torch.autograd.functional.hessian(f, flat0)


@pytest.mark.parametrize("case", list(EXPECTED))
def test_structure_rule_picks_by_model_family(case):
    factory, batches = cases()[case]
    op = HessianOperator(build(factory), "ce", batches)
    assert op.mode == op.batched_mode == EXPECTED[case]
    assert op.path == f"HessianOperator:{EXPECTED[case]}"
    assert not hasattr(op, "mode_timings")
    if case == "attention":
        assert 0 < op.retained_graph_bytes < 1 << 30


@pytest.mark.parametrize("case", list(EXPECTED))
def test_auto_is_repeatable_bit_for_bit_whatever_the_clock_says(case, monkeypatch):
    """Three constructions, each under a clock that returns a fresh random stream: the same mode
    and the same products to the last bit; construction never reads the clock."""
    factory, batches = cases()[case]
    model = build(factory)
    clock = random.Random(0)
    reads = []

    def random_clock() -> float:
        reads.append(1)
        return clock.random() * 1e3

    V = torch.randn(sum(p.numel() for p in model.parameters()), 3, generator=gen(5), dtype=DT)
    with monkeypatch.context() as m:
        m.setattr(time, "perf_counter", random_clock)
        ops = [HessianOperator(model, "ce", batches) for _ in range(3)]
        assert not reads  # no timing anywhere in construction
    assert {op.mode for op in ops} == {EXPECTED[case]}
    products = [op @ V for op in ops]
    singles = [op @ V[:, 0] for op in ops]
    for other, single in zip(products[1:], singles[1:]):
        assert torch.equal(products[0], other)
        assert torch.equal(singles[0], single)


def test_attention_over_the_memory_bound_uses_double_backward(monkeypatch):
    import deepscope.curvature._paths as paths

    factory, batches = cases()["attention"]
    monkeypatch.setattr(paths, "RETAINED_GRAPH_BYTES", 1024)
    op = HessianOperator(build(factory), "ce", batches)
    assert op.mode == "reverse-over-reverse"
    assert op.retained_graph_bytes > 1024 and not op._graphs


class TwoRanks:
    """A stand-in for a two-process group in which this process is rank 0 and the other rank
    holds an identical shard, except for the answer of ``everywhere`` (whether the other rank's
    kept graphs fit the memory bound)."""

    world_size, rank = 2, 0

    def __init__(self, other_fits: bool):
        self.other_fits = other_fits

    def run(self, fn):
        return fn()

    def all_sum(self, values):
        return [2.0 * v for v in values]

    def setup(self, make_problem, evaluate):
        from deepscope.curvature._distributed import DataParallel

        return DataParallel.setup(self, make_problem, evaluate)

    def agree_on(self, choose, names):
        return list(choose())

    def everywhere(self, flag):
        return bool(flag) and self.other_fits


@pytest.mark.parametrize("other_fits", [True, False])
def test_retained_graph_only_when_every_rank_fits(other_fits, monkeypatch):
    from deepscope.curvature._distributed import DataParallel

    monkeypatch.setattr(DataParallel, "resolve", classmethod(lambda cls, d, m: d))
    factory, batches = cases()["attention"]
    op = HessianOperator(build(factory), "ce", batches, distributed=TwoRanks(other_fits))
    assert op.mode == ("retained-graph" if other_fits else "reverse-over-reverse")
    if not other_fits:
        assert not op._graphs


def test_a_failing_trial_falls_back_exactly():
    """Conv1d logits (N, C, L) with per-position labels: the R-operator is built for the layers
    but its trial refuses the 3-D cross-entropy, so auto takes double backward; exact."""
    model = build(lambda: nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.Tanh(),
                                        nn.Conv1d(3, 4, 1)))
    g = gen(3)
    X = torch.randn(6, 2, 5, generator=g, dtype=DT)
    y = torch.randint(0, 4, (6, 5), generator=g)
    op = HessianOperator(model, "ce", (X, y))
    assert op._rop is not None and op.mode == "reverse-over-reverse"
    dense = dense_hessian(model, lambda f: nn.functional.cross_entropy(f(X), y))
    V = torch.randn(op.shape[0], 3, generator=gen(4), dtype=DT)
    torch.testing.assert_close(op @ V, dense @ V, rtol=1e-12, atol=1e-13)


def test_residual_never_takes_the_r_operator():
    factory, batches = cases()["mlp"]
    R = GaussNewtonResidualOperator(build(factory), "ce", batches)
    assert R.mode == "reverse-over-reverse"


class Counting(nn.Module):
    """An MLP that records the batch size of every forward pass (in a list its copies share)."""

    seen: list[int] = []

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 6), nn.GELU(), nn.Linear(6, 3))

    def forward(self, x):
        Counting.seen.append(int(x.shape[0]))
        return self.body(x)


def counting_batches():
    g = gen(2)
    return [(torch.randn(n, 5, generator=g, dtype=DT), torch.randint(0, 3, (n,), generator=g))
            for n in (32, 32, 6)]


def test_construction_is_one_pass_over_the_data():
    """The loss over the 70 samples once, the determinism check on 2 samples twice, and for
    auto one trial product on 2 samples: 76 samples, where two full passes were 140."""
    model, batches = build(Counting), counting_batches()
    Counting.seen.clear()
    op = HessianOperator(model, "ce", batches, mode="reverse-over-reverse")
    assert sum(Counting.seen) == 70 + 2 + 2
    Counting.seen.clear()
    op = HessianOperator(model, "ce", batches)
    assert op.mode == "reverse-over-reverse"
    assert sum(Counting.seen) == 70 + 2 + 2 + 2


def test_refusals_survive_the_cheaper_check():
    class Noisy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 3)

        def forward(self, x):
            return self.lin(x) + 1e-3 * torch.randn(x.shape[0], 3, dtype=x.dtype)

    with pytest.raises(UserInputError, match="not deterministic"):
        HessianOperator(build(Noisy), "ce", counting_batches())
    nan_late = counting_batches()
    nan_late[2][0][0, 0] = float("nan")  # only the last batch: the one full pass must see it
    with pytest.raises(UserInputError, match="not finite"):
        HessianOperator(build(mlp), "ce", nan_late)


def test_slice_without_loss_terms_checks_the_whole_batch():
    # the first two samples carry only ignore_index labels: their mean loss is NaN, which must
    # not read as a nondeterministic model
    batches = counting_batches()
    batches[0][1][:2] = -100
    model = build(mlp)
    op = HessianOperator(model, "ce", batches)
    X = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    with torch.no_grad():
        want = nn.functional.cross_entropy(model(X), y, ignore_index=-100)
    assert op.loss_value == pytest.approx(float(want), rel=1e-13)


def test_decomposition_shares_one_problem_and_one_pass():
    model, batches = build(Counting), counting_batches()
    Counting.seen.clear()
    H, G, R = gauss_newton_decomposition(model, "ce", batches, mode="reverse-over-reverse")
    assert sum(Counting.seen) == 70 + 2 + 2  # H's pass; G and R reuse it
    assert H.problem is G.problem is R.problem
    assert H.loss_value == G.loss_value == R.loss_value
    V = torch.randn(H.shape[0], 3, generator=gen(6), dtype=DT)
    G_alone = GGNOperator(model, "ce", batches)
    R_alone = GaussNewtonResidualOperator(model, "ce", batches, mode="reverse-over-reverse")
    assert torch.equal(G @ V, G_alone @ V) and torch.equal(R @ V, R_alone @ V)
    X = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    dense = dense_hessian(model, lambda f: nn.functional.cross_entropy(f(X), y))
    torch.testing.assert_close(G @ V + R @ V, dense @ V, rtol=1e-12, atol=1e-13)


def test_results_record_the_path_in_their_dict_form():
    factory, batches = cases()["mlp"]
    H = HessianOperator(build(factory), "ce", batches)
    want = "HessianOperator:pearlmutter"
    eig = eigenvalues(H, k=2, seed=0)
    results = {
        "eigen": eig,
        "trace": trace(H, seed=0),
        "density": spectral_density(H, n_probes=2, n_steps=5, seed=0),
        "index_dense": hessian_index(H, method="dense"),
        "index_slq": hessian_index(H, method="slq", n_probes=2, n_steps=5),
        "diagonal": diagonal(H, n_probes=4, seed=0),
        "bulk": bulk_and_outliers(H, k=2, n_probes=2, n_steps=5, seed=0),
    }
    for name, res in results.items():
        record = res.to_dict()
        assert res.path == record["path"] == want, name
        json.dumps(record)  # JSON-ready
    record = eig.to_dict()
    assert "vectors" not in record  # P-sized vectors belong in array files
    assert record["values"] == eig.values.tolist() and record["n_matvecs"] == eig.n_matvecs
    assert results["index_slq"].to_dict()["density"]["path"] == want
    assert eigenvalues(GGNOperator(build(factory), "ce", batches), k=1).path == \
        "GGNOperator:jvp-vjp"
    assert trace(torch.eye(40, dtype=DT)).to_dict()["path"] == "DenseOperator:dense"
    sub = SubspaceOperator(H, ["2.weight"])
    assert eigenvalues(sub, k=1).path == f"SubspaceOperator({want})"
