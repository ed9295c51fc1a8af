"""TokenCrossEntropy: the closure loss for models returning logits (Hugging Face models), against
the cross-entropy written out and the dense float64 Hessian of all the data as one batch."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from deepscope.curvature import HessianOperator
from deepscope.errors import UserInputError
from deepscope.problem import Problem
from deepscope.token_loss import TokenCrossEntropy

DT = torch.float64
IGNORE = -100


class TinyLM(nn.Module):
    """Embedding, a causal attention block written out, an LM head; keyword inputs."""

    def __init__(self, vocab=7, d=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.qkv = nn.Linear(d, 3 * d)
        self.head = nn.Linear(d, vocab)

    def forward(self, input_ids, attention_mask=None):
        h = self.emb(input_ids)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        T = h.shape[1]
        scores = q @ k.transpose(1, 2) / 2.0
        allowed = torch.ones(T, T, dtype=torch.bool).tril()[None]
        if attention_mask is not None:
            allowed = allowed & attention_mask[:, None, :].bool()
        scores = scores.masked_fill(~allowed, -1e9)
        return self.head(h + torch.softmax(scores, -1) @ v)  # (n, T, V)


def lm_batches():
    g = torch.Generator().manual_seed(5)
    out = []
    for n, T, lengths in ((3, 6, (6, 4, 2)), (2, 3, (3, 1))):
        ids = torch.randint(1, 7, (n, T), generator=g)
        mask = (torch.arange(T)[None] < torch.tensor(lengths)[:, None]).long()
        out.append({"input_ids": ids * mask, "attention_mask": mask,
                    "labels": (ids * mask).masked_fill(mask == 0, IGNORE)})
    return out


def model():
    with torch.random.fork_rng():
        torch.manual_seed(2)
        return TinyLM().to(DT).eval()


@torch.no_grad()
def test_loss_and_terms_equal_the_written_out_next_token_cross_entropy():
    net, loss = model(), TokenCrossEntropy()
    for batch in lm_batches():
        logits = net(batch["input_ids"], batch["attention_mask"])
        want = F.cross_entropy(logits[:, :-1].reshape(-1, 7), batch["labels"][:, 1:].reshape(-1),
                               ignore_index=IGNORE)
        assert float(loss(net, batch)) == pytest.approx(float(want), rel=1e-15)
        assert loss.terms(batch) == float((batch["labels"][:, 1:] != IGNORE).sum())
    # 3 labelled successors in rows of lengths 6, 4, 2 -> 5 + 3 + 1; rows 3, 1 -> 2 + 0
    assert [loss.terms(b) for b in lm_batches()] == [9.0, 2.0]
    per_position = TokenCrossEntropy(causal=False)
    assert [per_position.terms(b) for b in lm_batches()] == [12.0, 4.0]


def test_problem_weighs_batches_by_the_declared_terms():
    loss = TokenCrossEntropy()
    problem = Problem(model(), loss, lm_batches())
    assert problem.closure and problem.terms == [9.0, 2.0]
    # the total is the mean over all 11 next-token targets: the loss of all data as one batch
    net = model()
    with torch.no_grad():
        num = sum(loss(net, b) * loss.terms(b) for b in lm_batches())
    assert float(problem.loss()) == pytest.approx(float(num) / 11.0, rel=1e-14)


def test_hessian_with_token_loss_equals_the_dense_truth_of_one_batch():
    net, loss = model(), TokenCrossEntropy()
    batches = lm_batches()
    T = 6
    whole = {k: torch.cat([F.pad(b[k], (0, T - b[k].shape[1]), value=IGNORE if k == "labels"
                                 else 0) for b in batches]) for k in batches[0]}
    names = [n for n, _ in net.named_parameters()]
    sizes = [p.numel() for p in net.parameters()]
    shapes = [p.shape for p in net.parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def fn(flat):
        params = dict(zip(names, (t.reshape(s) for t, s in zip(torch.split(flat, sizes), shapes))))
        logits = torch.func.functional_call(net, params, (whole["input_ids"],
                                                          whole["attention_mask"]))
        return F.cross_entropy(logits[:, :-1].reshape(-1, 7), whole["labels"][:, 1:].reshape(-1),
                               ignore_index=IGNORE)

    dense = torch.func.hessian(fn)(flat0)
    op = HessianOperator(net, loss, batches)
    V = torch.randn(len(flat0), 3, generator=torch.Generator().manual_seed(0), dtype=DT)
    want = dense @ V
    assert float((op @ V - want).abs().max()) <= 1e-10 * float(want.abs().max())


def test_sequence_logits_and_errors():
    loss = TokenCrossEntropy()
    logits = torch.randn(4, 3, dtype=DT, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 2, 1, 2])
    got = loss(lambda **kw: logits, {"input_ids": torch.zeros(4, 2), "labels": labels})
    assert float(got) == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-15)
    assert loss.terms({"labels": labels}) == 4.0
    column = labels[:, None]  # one label per sequence as a column: no shift, four terms
    got_col = loss(lambda **kw: logits, {"input_ids": torch.zeros(4, 2), "labels": column})
    assert float(got_col) == float(got) and loss.terms({"labels": column}) == 4.0
    with pytest.raises(UserInputError, match="labels"):
        loss(lambda **kw: logits, {"input_ids": torch.zeros(4, 2)})
    with pytest.raises(UserInputError, match="logits"):
        loss(lambda **kw: torch.zeros(2), {"labels": labels})


def test_gpt2_from_config_with_the_adapter_matches_the_written_out_closure():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=7, n_positions=8,
                                     bos_token_id=0, eos_token_id=0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        gpt = transformers.GPT2LMHeadModel(config).to(DT).eval()
    batches = lm_batches()

    def written_out(model, batch):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return F.cross_entropy(logits[:, :-1].reshape(-1, 7), batch["labels"][:, 1:].reshape(-1),
                               ignore_index=IGNORE)

    params = "transformer.h.0.attn.c_attn.*"
    ours = HessianOperator(gpt, TokenCrossEntropy(), batches, params=params)
    theirs = HessianOperator(gpt, written_out, batches, params=params,
                             batch_weights=lambda b: (b["labels"][:, 1:] != IGNORE).sum())
    assert ours.problem.terms == theirs.problem.terms == [9.0, 2.0]
    V = torch.randn(ours.shape[0], 2, generator=torch.Generator().manual_seed(3), dtype=DT)
    want = theirs @ V
    assert float((ours @ V - want).abs().max()) <= 1e-12 * float(want.abs().max())
