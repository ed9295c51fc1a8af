"""Landscapes of token data: padded, uneven batches weighted by loss terms; token .npz files.

Truth: the loss of ALL the data as ONE batch (``F.cross_entropy`` with ``ignore_index`` over the
concatenated rows, float64) at the same parameters. A weighting by samples instead of loss terms
misses it by far more than the tolerance (asserted), so each comparison can fail.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from deepscope import data
from deepscope.cli import main
from deepscope.errors import UserInputError
from deepscope.landscape._evaluate import LandscapeEvaluator
from deepscope.landscape._grid import evaluate_grid

DT = torch.float64
IGNORE = -100
VOCAB, WIDTH, SEQ = 7, 8, 6
SIZES = (2, 5, 3)   # three uneven batches


class TinyLM(nn.Module):
    """Embedding + one causal transformer layer + head; logits as (B, vocab, T) for
    ``nn.CrossEntropyLoss`` with (B, T) targets."""

    def __init__(self, vocab: int = VOCAB, width: int = WIDTH, seq: int = SEQ):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(0.1 * torch.randn(seq, width))
        self.block = nn.TransformerEncoderLayer(width, 2, 16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(width, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        mask = torch.full((T, T), float("-inf"), dtype=self.pos.dtype).triu(1)
        h = self.emb(ids) + self.pos[:T]
        h = self.block(h, src_mask=mask, is_causal=True)
        return self.head(h).transpose(1, 2)


def make_lm() -> TinyLM:
    torch.manual_seed(0)
    return TinyLM().to(DT).eval()


def token_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of token ids (1..vocab-1, padded with 0) and next-token targets (``IGNORE`` where
    the next token is padding): lengths 2..SEQ, so rows have 1..SEQ-1 loss terms."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, SEQ), dtype=np.int64)
    y = np.full((n, SEQ), IGNORE, dtype=np.int64)
    for i, length in enumerate(rng.integers(2, SEQ + 1, size=n)):
        X[i, :length] = rng.integers(1, VOCAB, size=length)
        y[i, : length - 1] = X[i, 1:length]
    return X, y


def token_batches(seed: int = 0):
    X, y = token_rows(sum(SIZES), seed)
    edges = np.cumsum((0,) + SIZES)
    batches = [(torch.as_tensor(X[a:b]), torch.as_tensor(y[a:b]))
               for a, b in zip(edges[:-1], edges[1:])]
    return batches, torch.as_tensor(X), torch.as_tensor(y)


def flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def loss_at(model: nn.Module, flat: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> float:
    """Cross-entropy of (X, y) as one batch at the flat parameters ``flat``."""
    params, start = {}, 0
    for name, p in model.named_parameters():
        params[name] = flat[start:start + p.numel()].reshape(p.shape)
        start += p.numel()
    with torch.no_grad():
        out = torch.func.functional_call(model, params, (X,))
        return float(F.cross_entropy(out, y, ignore_index=IGNORE))


def by_samples(model, flat, batches) -> float:
    """The sample-weighted mean of batch losses (the weighting the terms replace)."""
    n = sum(len(b[0]) for b in batches)
    return sum(len(b[0]) / n * loss_at(model, flat, *b) for b in batches)


def test_line_through_padded_batches_is_the_loss_of_all_data():
    model = make_lm()
    batches, X, y = token_batches()
    theta = flat_params(model)
    d = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(1), dtype=DT)
    d = d * theta.norm() / d.norm() * 0.3
    res = evaluate_grid(model, nn.CrossEntropyLoss(), batches, d[None], grid=5,
                        span=(-1.0, 1.0), dtype=DT)
    truth = np.array([loss_at(model, theta + a * d, X, y) for a in res.coords[0]])
    assert abs(res.base_loss - loss_at(model, theta, X, y)) <= 1e-12
    np.testing.assert_allclose(res.loss, truth, rtol=0, atol=1e-12)
    # the test can fail: weighting by samples misses the truth by far more than 1e-12
    assert abs(by_samples(model, theta, batches) - truth[2]) > 1e-3
    assert res.method == "exact"


def test_subset_of_token_rows_weighs_by_terms_with_ratio_stderr():
    model = make_lm()
    batches, X, y = token_batches()
    basis = flat_params(model)[None]
    ev = LandscapeEvaluator(model, "ce", batches, basis, n_samples=6, seed=3, dtype=DT)
    got = ev.evaluate_points(np.ones((1, 1)))
    rows = torch.as_tensor(ev.subset)
    want = loss_at(model, basis[0], X[rows], y[rows])
    assert abs(got["loss"][0] - want) <= 1e-12
    # standard error of a ratio of sums over the sampled rows, computed here row by row
    with torch.no_grad():
        out = model(X[rows])
    a = np.array([float(F.cross_entropy(out[i:i + 1], y[rows][i:i + 1], ignore_index=IGNORE,
                                        reduction="sum")) for i in range(len(rows))])
    t = (y[rows] != IGNORE).sum(1).double().numpy()
    m, N = len(rows), sum(SIZES)
    resid = a - a.sum() / t.sum() * t
    se = np.sqrt(m / (m - 1) * (resid ** 2).sum() / t.sum() ** 2 * (1 - m / N))
    assert abs(got["loss_stderr"][0] - se) <= 1e-12 * se
    with pytest.raises(UserInputError, match="callable"):
        LandscapeEvaluator(model, "ce", batches, basis, n_samples=6, batch_weights=[1, 2, 3])


def test_closure_with_token_count_weights():
    model = make_lm()
    batches, X, y = token_batches()
    theta = flat_params(model)
    d = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(2), dtype=DT) * 0.01

    def token_mean(model, batch):
        return F.cross_entropy(model(batch[0]), batch[1], ignore_index=IGNORE)

    ev = LandscapeEvaluator(model, token_mean, batches, torch.stack([theta, d]), dtype=DT,
                            batch_weights=lambda b: (b[1] != IGNORE).sum())
    got = ev.evaluate_points(np.array([[1.0, 0.0], [1.0, 1.5]]))["loss"]
    want = [loss_at(model, theta, X, y), loss_at(model, theta + 1.5 * d, X, y)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


PATHS = {  # name: (method, second layer, compiled cross-entropy pass)
    "chain-compiled": ("auto", nn.ReLU, True),
    "chain-operators": ("batched", nn.ReLU, False),
    "layernorm-auto": ("auto", nn.LayerNorm, True),  # no fast scorer covers it: exact
    "exact": ("exact", nn.ReLU, True),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_batch_weights_override_on_every_path(path, monkeypatch):
    method, layer, compiled = PATHS[path]
    monkeypatch.setattr(LandscapeEvaluator, "compiled_head", compiled)
    torch.manual_seed(4)
    middle = layer(5) if layer is nn.LayerNorm else layer()
    model = nn.Sequential(nn.Linear(3, 5), middle, nn.Linear(5, 4)).to(DT)
    g = torch.Generator().manual_seed(5)
    sizes, weights = (70, 40, 90), [2.0, 5.0, 1.0]
    batches = [(torch.randn(n, 3, generator=g, dtype=DT), torch.randint(0, 4, (n,), generator=g))
               for n in sizes]
    theta = flat_params(model)
    basis = torch.stack([theta, torch.randn(theta.numel(), generator=g, dtype=DT)])
    coeffs = np.array([[1.0, 0.3], [1.0, -0.7], [0.5, 0.2]])
    options = {"dtype": DT, "method": method, "sample_block": 1}  # pieces of 64 samples
    ev = LandscapeEvaluator(model, "ce", batches, basis, batch_weights=weights, **options)
    got = ev.evaluate_points(coeffs)["loss"]
    for row, value in zip(coeffs, got):
        flat = torch.as_tensor(row) @ basis
        losses = [loss_at(model, flat, *b) for b in batches]
        want = sum(w * v for w, v in zip(weights, losses)) / sum(weights)
        assert abs(value - want) <= 1e-12
        assert abs(value - by_samples(model, flat, batches)) > 1e-4
    assert ev.method_ == ("exact" if path in ("exact", "layernorm-auto") else "batched")
    if ev.method_ != "exact":
        assert ev.scorer.name.startswith("chain")
        assert ev._kernel_ok() is (path == "chain-compiled")
        plain = LandscapeEvaluator(model, "ce", batches, basis, **options)
        same = LandscapeEvaluator(model, "ce", batches, basis, batch_weights="samples",
                                  **options)
        # ordinary labels: terms are samples, the fast path gives the same bits
        np.testing.assert_array_equal(plain.evaluate_points(coeffs)["loss"],
                                      same.evaluate_points(coeffs)["loss"])


LM_FILE = '''
import torch
from torch import nn


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 8)
        self.pos = nn.Parameter(0.1 * torch.randn(6, 8))
        self.block = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(8, 7)

    def forward(self, ids):
        T = ids.shape[1]
        mask = torch.full((T, T), float("-inf"), dtype=self.pos.dtype).triu(1)
        h = self.emb(ids) + self.pos[:T]
        h = self.block(h, src_mask=mask, is_causal=True)
        return self.head(h).transpose(1, 2)


def make():
    torch.manual_seed(0)
    return TinyLM().eval()
'''


def test_cli_landscape_on_token_npz(tmp_path):
    (tmp_path / "lm.py").write_text(LM_FILE)
    X, y = token_rows(10, seed=6)
    path = tmp_path / "tokens.npz"
    np.savez(path, X=X, y=y, X_test=X[:2], y_test=y[:2])
    spec = f"{tmp_path / 'lm.py'}:make"
    out = tmp_path / "land"
    args = ["landscape", "--model", spec, "--data", str(path), "--batch-size", "4", "--grid",
            "3", "--kind", "line", "--dtype", "float64", "--out", str(out)]
    assert main(args) == 0
    record = json.loads((out / "result.json").read_text())
    from deepscope.models import load_model

    model = load_model(spec).to(DT)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    truth = loss_at(model, flat_params(model), Xt, yt)
    assert abs(record["base_loss"] - truth) <= 1e-12
    batches = [(Xt[i:i + 4], yt[i:i + 4]) for i in range(0, 10, 4)]
    assert abs(by_samples(model, flat_params(model), batches) - truth) > 1e-3


# ----------------------------------------------------------------------------- the .npz loader


def test_npz_keeps_token_ids_and_position_targets(tmp_path):
    X, y = token_rows(8, seed=7)
    path = tmp_path / "t.npz"
    np.savez(path, X=X.astype(np.uint16), y=y.astype(np.int32))
    ds = data.from_npz(path, seed=0)
    assert ds.X_train.dtype == np.int64 and ds.y_train.dtype == np.int64
    assert ds.task == "classification" and ds.input_shape == (SEQ,)
    assert ds.n_classes == int(y[y != IGNORE].max()) + 1
    rows = np.concatenate([ds.meta["train_indices"], ds.meta["test_indices"]])
    np.testing.assert_array_equal(np.concatenate([ds.X_train, ds.X_test]), X[rows])
    np.testing.assert_array_equal(np.concatenate([ds.y_train, ds.y_test]), y[rows])
    float_path = tmp_path / "f.npz"
    np.savez(float_path, X=X.astype(np.float64), y=y[:, 0].clip(0))
    assert data.from_npz(float_path).X_train.dtype == np.float32


NPZ_TOKEN_ERRORS = {
    "negative label": ({"X": np.zeros((4, 3), dtype=int), "y": np.full((4, 3), -1)}, ">= 0"),
    "all padding": ({"X": np.zeros((4, 3), dtype=int), "y": np.full((4, 3), IGNORE)},
                    "padding"),
    "uint64 ids": ({"X": np.full((3, 2), 2**63, dtype=np.uint64), "y": np.zeros(3, dtype=int)},
                   "int64"),
    "mixed X": ({"X": np.zeros((4, 3), dtype=int), "y": np.zeros(4, dtype=int),
                 "X_test": np.zeros((2, 3)), "y_test": np.zeros(2, dtype=int)},
                "both be integer"),
    "complex": ({"X": np.zeros((4, 3), dtype=complex), "y": np.zeros(4, dtype=int)},
                "numeric"),
    "object": ({"X": np.array([{"a": 1}, None], dtype=object), "y": np.zeros(2, dtype=int)},
               "pickle"),
}


@pytest.mark.parametrize("case", list(NPZ_TOKEN_ERRORS))
def test_npz_token_errors(tmp_path, case):
    arrays, fragment = NPZ_TOKEN_ERRORS[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(UserInputError, match=fragment) as info:
        data.from_npz(path)
    assert "\n" not in str(info.value)
