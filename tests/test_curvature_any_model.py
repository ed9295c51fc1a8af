"""Curvature operators on attention models, token inputs, closure losses and token-mean losses.

Truth: the dense float64 Hessian of the loss of ALL the data as one batch, from
``torch.func.hessian`` of a flat-parameter function. Where the operator runs attention through
``scaled_dot_product_attention``, the truth runs an explicit softmax(Q K^T / sqrt(d)) V (an
independent implementation), so a product that picked the wrong kernel or weighted batches wrongly
would fail.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from deepscope.cli import main
from deepscope.curvature import GGNOperator, HessianOperator, eigenvalues
from deepscope.errors import UserInputError
from deepscope.problem import is_closure

DT = torch.float64
PAD = 0
IGNORE = -100
MODES = ("forward-over-reverse", "reverse-over-reverse", "retained-graph", "auto")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def dense_hessian(model: nn.Module, loss_of, names: list[str] | None = None) -> torch.Tensor:
    """``torch.func.hessian`` of ``flat -> loss_of(f)``, ``f`` the model at ``flat``."""
    named = dict(model.named_parameters())
    names = names or list(named)
    shapes = [named[n].shape for n in names]
    sizes = [named[n].numel() for n in names]
    flat0 = torch.cat([named[n].detach().reshape(-1) for n in names])

    def fn(flat):
        params = {n: t.reshape(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}

        def f(*args, **kwargs):
            return torch.func.functional_call(model, params, args, kwargs)

        return loss_of(f)

    return torch.func.hessian(fn)(flat0).detach()


def assert_products(op, dense: torch.Tensor, seed: int = 0, k: int = 5) -> None:
    """Products with k random vectors, one at a time and as a block, to 1e-10 (relative to
    the largest entry of the dense product): float64 round-off is ~1e-15 here."""
    V = torch.randn(dense.shape[0], k, generator=gen(seed), dtype=DT)
    want = dense @ V
    scale = float(want.abs().max())
    assert float((op @ V - want).abs().max()) <= 1e-10 * scale
    assert float((op @ V[:, 0] - want[:, 0]).abs().max()) <= 1e-10 * scale


def assert_top_eigenvalue(op, dense: torch.Tensor) -> None:
    """Lanczos' top eigenvalue against ``eigvalsh`` of the dense truth, to 1e-8 relative."""
    top = float(torch.linalg.eigvalsh(dense)[-1])
    res = eigenvalues(op, k=1, tol=1e-10, seed=0)
    assert bool(res.converged[0])
    assert abs(float(res.values[0]) - top) <= 1e-8 * abs(top)


def softmax_attention(q, k, v, causal: bool = False):
    """Attention written out: the reference for ``F.scaled_dot_product_attention``."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        T = q.shape[-2]
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


# ----------------------------------------------------------------------------- models
class AttentionClassifier(nn.Module):
    """Two ``nn.MultiheadAttention`` layers over embedded token ids, mean-pooled, a linear head.
    ``need_weights=False`` runs the fused ``scaled_dot_product_attention`` path; ``True`` runs
    MultiheadAttention's explicit softmax (the reference)."""

    def __init__(self, vocab=11, d=8, heads=2, classes=3, need_weights=False):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.att1 = nn.MultiheadAttention(d, heads, batch_first=True)
        self.att2 = nn.MultiheadAttention(d, heads, batch_first=True)
        self.head = nn.Linear(d, classes)
        self.need_weights = need_weights

    def forward(self, ids):
        h = self.emb(ids)
        h = h + self.att1(h, h, h, need_weights=self.need_weights)[0]
        h = h + torch.tanh(self.att2(h, h, h, need_weights=self.need_weights)[0])
        return self.head(h.mean(dim=1))


class CausalLM(nn.Module):
    """Embedding, one causal ``F.scaled_dot_product_attention`` block, an LM head.
    Logits come out as (batch, vocab, time), the layout ``nn.CrossEntropyLoss`` takes."""

    def __init__(self, vocab=9, d=6, manual=False):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(0.3 * torch.randn(8, d))
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.head = nn.Linear(d, vocab)
        self.manual = manual

    def forward(self, ids):
        h = self.emb(ids) + self.pos[: ids.shape[1]]
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        if self.manual:
            a = softmax_attention(q, k, v, causal=True)
        else:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = h + self.proj(torch.tanh(a))
        return self.head(h).transpose(1, 2)


def build(cls, seed: int, **kwargs) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return cls(**kwargs).to(DT).eval()


def reference_copy(model: nn.Module, cls, **kwargs) -> nn.Module:
    ref = build(cls, 0, **kwargs)
    ref.load_state_dict(model.state_dict())
    return ref


def padded_token_batches(seed: int = 3, vocab: int = 9):
    """Uneven LM batches: different batch sizes, lengths and padding (labels IGNORE there)."""
    g = gen(seed)
    batches = []
    for n, T, lengths in ((3, 6, (6, 4, 2)), (2, 4, (4, 3)), (4, 5, (1, 5, 3, 2))):
        ids = torch.randint(1, vocab, (n, T), generator=g)
        labels = torch.randint(0, vocab, (n, T), generator=g)
        for i, length in enumerate(lengths):
            ids[i, length:] = PAD
            labels[i, length:] = IGNORE
        batches.append((ids, labels))
    return batches


def as_one_batch(batches):
    """The batches padded to one length and stacked: the data set as ONE batch."""
    T = max(b[0].shape[1] for b in batches)
    ids = torch.cat([F.pad(b[0], (0, T - b[0].shape[1]), value=PAD) for b in batches])
    labels = torch.cat([F.pad(b[1], (0, T - b[1].shape[1]), value=IGNORE) for b in batches])
    return ids, labels


# ----------------------------------------------------------------------------- tests
def test_multihead_attention_classifier_over_token_ids():
    model = build(AttentionClassifier, 0)
    g = gen(1)
    batches = [(torch.randint(0, 11, (n, 5), generator=g), torch.randint(0, 3, (n,), generator=g))
               for n in (7, 4)]
    X = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    ref = reference_copy(model, AttentionClassifier, need_weights=True)
    dense = dense_hessian(ref, lambda f: F.cross_entropy(f(X), y))
    for mode in MODES:
        op = HessianOperator(model, "ce", batches, mode=mode)
        assert_products(op, dense)
    assert_top_eigenvalue(op, dense)
    assert torch.backends.mha.get_fastpath_enabled()  # the setting comes back after products
    # the GGN goes through attention in forward mode: fused path against the explicit softmax
    ggn = GGNOperator(model, "ce", batches).to_dense()
    ggn_ref = GGNOperator(ref, "ce", batches).to_dense()
    assert float((ggn - ggn_ref).abs().max()) <= 1e-12 * float(ggn_ref.abs().max())


def test_padded_token_batches_weighted_by_loss_terms():
    """A causal LM over uneven padded batches: the operator is the Hessian of the mean over all
    non-ignored tokens, as if the data were one batch; weighting by sequences is not."""
    model = build(CausalLM, 2)
    batches = padded_token_batches()
    ids, labels = as_one_batch(batches)
    loss = nn.CrossEntropyLoss(ignore_index=IGNORE)
    ref = reference_copy(model, CausalLM, manual=True)
    dense = dense_hessian(ref, lambda f: loss(f(ids), labels))
    for mode in MODES:
        op = HessianOperator(model, loss, batches, mode=mode)
        assert_products(op, dense)
    assert op.problem.terms == [12.0, 7.0, 11.0]
    with torch.no_grad():
        assert abs(op.loss_value - float(loss(ref(ids), labels))) <= 1e-12
    assert_top_eigenvalue(op, dense)
    by_sequences = HessianOperator(model, loss, batches, batch_weights="samples").to_dense()
    assert float((by_sequences - dense).abs().max()) > 1e-3 * float(dense.abs().max())
    by_list = HessianOperator(model, loss, batches, batch_weights=[12, 7, 11])
    assert_products(by_list, dense)


def test_dict_batch_closure_with_term_counts():
    model = build(CausalLM, 4)
    batches = [{"ids": ids, "labels": labels} for ids, labels in padded_token_batches(seed=5)]
    ids, labels = as_one_batch([(b["ids"], b["labels"]) for b in batches])

    def loss(m, batch):  # detected as a closure from its parameter names
        return F.cross_entropy(m(batch["ids"]), batch["labels"], ignore_index=IGNORE)

    ref = reference_copy(model, CausalLM, manual=True)
    dense = dense_hessian(ref, lambda f: F.cross_entropy(f(ids), labels, ignore_index=IGNORE))
    terms = lambda batch: (batch["labels"] != IGNORE).sum()  # noqa: E731
    for mode in MODES:
        op = HessianOperator(model, loss, batches, mode=mode, batch_weights=terms)
        assert op.problem.closure
        assert_products(op, dense)
    assert_top_eigenvalue(op, dense)


def test_closure_detection_and_its_refusal():
    def closure_short(m, batch):
        return m(batch)

    def closure_annotated(a: nn.Module, b):
        return a(b)

    def output_form(logits, target):
        return F.cross_entropy(logits, target)

    def unclear(first, second):
        return first

    assert is_closure(closure_short, "auto")
    assert is_closure(closure_annotated, "auto")
    assert is_closure(lambda p, b: p(b), "auto")  # the batch's name decides
    assert is_closure(lambda net, data: net(data), "auto")
    assert not is_closure(output_form, "auto")
    assert not is_closure(lambda o, t: F.mse_loss(o, t), "auto")
    assert not is_closure(F.cross_entropy, "auto")
    assert not is_closure(nn.MSELoss(), "auto")
    with pytest.raises(UserInputError) as info:
        is_closure(unclear, "auto")
    message = str(info.value)
    assert "\n" not in message and "loss_form='closure'" in message and "(first, second)" in message
    assert is_closure(unclear, "closure") and not is_closure(unclear, "output")


def test_term_weights_equal_sample_weights_without_padding():
    """Element-wise MSE over uneven batches: terms n_b * d give the old sample weights."""
    model = build(lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), 6)
    g = gen(7)
    batches = [(torch.randn(n, 3, generator=g, dtype=DT), torch.randn(n, 2, generator=g, dtype=DT))
               for n in (5, 2, 9)]
    op = HessianOperator(model, "mse", batches)
    assert op.problem.terms == [10.0, 4.0, 18.0]
    assert op.problem.weights == [c / 16 for c in (5, 2, 9)]
    with pytest.raises(UserInputError, match="mean-reduced"):
        HessianOperator(model, nn.MSELoss(reduction="sum"), batches, batch_weights=[1, 1, 1])


TOKEN_MODEL = '''
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 6)
        self.att = nn.MultiheadAttention(6, 2, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, ids):
        h = self.emb(ids)
        h = h + self.att(h, h, h, need_weights=False)[0]
        return self.head(h.mean(dim=1))


def make():
    torch.manual_seed(0)
    return Model().eval()
'''


def test_cli_on_integer_token_ids(tmp_path):
    (tmp_path / "token_model.py").write_text(TOKEN_MODEL)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 7, size=(20, 5)).astype(np.int64)
    y = rng.integers(0, 3, size=20).astype(np.int64)
    data = tmp_path / "tokens.npz"
    np.savez(data, X=X, y=y, X_test=X[:4], y_test=y[:4])
    spec = f"{tmp_path / 'token_model.py'}:make"
    out = tmp_path / "h"
    args = ["hessian", "--model", spec, "--data", str(data), "--batch-size", "8", "--top-k",
            "1", "--out", str(out)]
    assert main(args) == 0
    record = json.loads((out / "result.json").read_text())
    assert record["n_batches"] == 3

    from deepscope.models import load_model

    model = load_model(spec).to(DT)
    model.att.forward = _explicit_attention(model.att)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    dense = dense_hessian(model, lambda f: F.cross_entropy(f(Xt), yt))
    top = float(torch.linalg.eigvalsh(dense)[-1])
    assert abs(record["top_eigenvalues"]["values"][0] - top) <= 1e-8 * abs(top)

    out2 = tmp_path / "l"
    args = ["landscape", "--model", spec, "--data", str(data), "--batch-size", "8", "--grid",
            "3", "--kind", "line", "--dtype", "float64", "--out", str(out2)]
    assert main(args) == 0
    land = json.loads((out2 / "result.json").read_text())
    with torch.no_grad():
        base = float(F.cross_entropy(model(Xt), yt))
    assert abs(land["base_loss"] - base) <= 1e-12


def _explicit_attention(mha: nn.MultiheadAttention):
    """MultiheadAttention's explicit-softmax path (the reference for the fused one)."""
    plain = mha.forward

    def forward(q, k, v, need_weights=False, **kwargs):
        return plain(q, k, v, need_weights=True, **kwargs)

    return forward


def test_gpt2_from_config_with_dict_batches():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50,
                                     n_positions=16, bos_token_id=0, eos_token_id=0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = transformers.GPT2LMHeadModel(config).to(DT).eval()
    ref = transformers.GPT2LMHeadModel._from_config(config, attn_implementation="eager")
    ref = ref.to(DT).eval()
    ref.load_state_dict(model.state_dict())
    g = gen(9)
    batches = []
    for n, T, lengths in ((3, 7, (7, 5, 3)), (2, 4, (4, 2))):
        ids = torch.randint(1, 50, (n, T), generator=g)
        mask = (torch.arange(T)[None] < torch.tensor(lengths)[:, None]).long()
        ids = ids * mask
        labels = ids.masked_fill(mask == 0, IGNORE)
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    T = 7
    one = {k: torch.cat([F.pad(b[k], (0, T - b[k].shape[1]), value=IGNORE if k == "labels"
                                else 0) for b in batches]) for k in batches[0]}

    def loss(model, batch):  # next-token cross-entropy in float64 (``.loss`` upcasts to
        # float32 only, whatever the model's dtype)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                               batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE)

    def shifted_terms(batch):  # the causal LM loss predicts token t+1 from tokens <= t
        return (batch["labels"][:, 1:] != IGNORE).sum()

    params = "transformer.h.0.attn.c_attn.*"
    names = [n for n, _ in model.named_parameters() if n.startswith("transformer.h.0.attn.c_attn")]
    dense = dense_hessian(ref, lambda f: loss(f, one), names)
    op = HessianOperator(model, loss, batches, params=params, batch_weights=shifted_terms)
    assert op.problem.terms == [12.0, 4.0]
    assert_products(op, dense)
    assert_top_eigenvalue(op, dense)
