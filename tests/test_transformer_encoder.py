"""Curvature and landscapes of a BERT-style encoder built from a config (no download).

Truth: the dense float64 Hessian of the loss of all the data as ONE batch, by ``torch.func.hessian``
through a copy of the model that runs attention eagerly (an explicit softmax, independent of the
``scaled_dot_product_attention`` kernels the measured model uses). The batches have different
sizes and lengths, with padding masked out by ``attention_mask``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from deepscope.curvature import HessianOperator, eigenvalues
from deepscope.landscape import evaluate_grid, random_directions

transformers = pytest.importorskip("transformers")

DT = torch.float64


def encoder(attn: str | None = None):
    config = transformers.BertConfig(
        vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=24, max_position_embeddings=16, num_labels=3,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        if attn is None:
            model = transformers.BertForSequenceClassification(config)
        else:
            model = transformers.BertForSequenceClassification._from_config(
                config, attn_implementation=attn)
    return model.to(DT).eval()


def batches(seed: int = 4):
    g = torch.Generator().manual_seed(seed)
    out = []
    for n, T, lengths in ((3, 7, (7, 4, 2)), (2, 5, (5, 3))):
        ids = torch.randint(1, 30, (n, T), generator=g)
        mask = (torch.arange(T)[None] < torch.tensor(lengths)[:, None]).long()
        out.append({"input_ids": ids * mask, "attention_mask": mask,
                    "labels": torch.randint(0, 3, (n,), generator=g)})
    return out


def one_batch(parts):
    T = max(b["input_ids"].shape[1] for b in parts)
    return {k: torch.cat([F.pad(b[k], (0, T - b[k].shape[1])) if b[k].ndim == 2 else b[k]
                          for b in parts]) for k in parts[0]}


def loss(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(logits, batch["labels"])


def dense_hessian(model, batch, names):
    named = dict(model.named_parameters())
    sizes = [named[n].numel() for n in names]
    shapes = [named[n].shape for n in names]
    flat0 = torch.cat([named[n].detach().reshape(-1) for n in names])

    def fn(flat):
        params = {n: t.reshape(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}
        logits = torch.func.functional_call(
            model, params, (), {"input_ids": batch["input_ids"],
                                "attention_mask": batch["attention_mask"]}).logits
        return F.cross_entropy(logits, batch["labels"])

    return torch.func.hessian(fn)(flat0).detach()


PARAMS = ["bert.encoder.layer.0.attention.self.query.*", "classifier.*"]


def test_bert_encoder_products_and_top_eigenvalue():
    model, ref = encoder(), encoder("eager")
    ref.load_state_dict(model.state_dict())
    names = [n for n, _ in model.named_parameters()
             if n.startswith(("bert.encoder.layer.0.attention.self.query", "classifier"))]
    parts = batches()
    dense = dense_hessian(ref, one_batch(parts), names)
    op = HessianOperator(model, loss, parts, params=PARAMS)
    assert op.shape == (len(dense), len(dense))
    V = torch.randn(len(dense), 4, generator=torch.Generator().manual_seed(1), dtype=DT)
    want = dense @ V
    scale = float(want.abs().max())
    assert float((op @ V - want).abs().max()) <= 1e-10 * scale
    top = float(torch.linalg.eigvalsh(dense)[-1])
    res = eigenvalues(op, k=1, tol=1e-10, seed=0)
    assert bool(res.converged[0])
    assert abs(float(res.values[0]) - top) <= 1e-8 * abs(top)


def at(model, params):
    """The model evaluated at ``params`` (keyword inputs), as a closure loss receives it."""
    return lambda **kw: torch.func.functional_call(model, params, (), kw)


def test_bert_encoder_landscape_line_is_the_loss_along_the_line():
    model = encoder()
    parts = batches()
    d = random_directions(model, 1, norm="filter", seed=3)
    res = evaluate_grid(model, loss, parts, d, grid=5, span=(-0.5, 0.5))
    # truth: the loss of all data as one batch at theta + t d, by an explicit parameter update
    whole = one_batch(parts)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    direction = dict(zip(d.names, torch.split(d.vectors[0].to(DT),
                                            [base[n].numel() for n in d.names])))
    want = []
    for t in np.linspace(-0.5, 0.5, 5):
        params = dict(base)
        params.update({n: base[n] + t * direction[n].reshape(base[n].shape) for n in d.names})
        with torch.no_grad():
            want.append(float(loss(at(model, params), whole)))
    np.testing.assert_allclose(res.loss, want, rtol=1e-12)
