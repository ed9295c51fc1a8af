"""HVP time / gradient time for deepscope's HessianOperator on two transformers.

Models (float32, CPU, evaluation mode):

- ``gpt2``: ``GPT2LMHeadModel`` built from ``GPT2Config(n_layer=2, n_embd=128, n_head=4,
  vocab_size=1000, n_positions=128)`` (P = 0.53 M), one batch of 8 x 128 token ids, padded
  sequences (lengths 64-128, attention mask, labels -100 on padding), next-token cross-entropy
  from ``.logits`` with ``ignore_index=-100`` (a closure loss weighted by its tokens).
- ``mha``: two ``nn.MultiheadAttention`` layers (embedding 128, 4 heads, residual, tanh on the
  second) over 64 embedded token ids, mean-pooled, a linear head; batch 32, cross-entropy.

Timed (medians of ``--repeats`` after two warm-up calls, ``benchmarks/_timing.py``):

- ``grad``: one forward and backward of the same loss (``torch.autograd.grad`` over every
  parameter) with PyTorch's default attention kernels: the denominator of every ratio;
- ``grad_math``: the same with the math attention backend that products use;
- ``plain``: a plain ``torch.func`` jvp of grad through ``functional_call`` (math backend, which
  forward-mode AD needs);
- each mode of ``HessianOperator`` on its own (for ``retained-graph`` also its first product,
  which builds the kept graph), and the operator built with ``mode="auto"`` (its pick, its
  construction time with the mode timings, and the estimated bytes of its kept graphs are
  printed), one vector per product (``op @ v``);
- ``--block K`` adds the per-vector time of a block of K vectors (``op @ V``) per mode;
- ``--solvers`` runs ``eigenvalues(op, k=1)`` and ``trace(op)`` on the auto operator once.

Run: ``OMP_NUM_THREADS=2 python benchmarks/bench_transformer_hvp.py [--threads 2,1]
[--repeats 7] [--models gpt2,mha] [--block 4] [--solvers]``; one JSON line per (model, threads).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from _timing import median_time
from torch import nn
from torch.func import functional_call, grad, jvp
from torch.nn import functional as F

from deepscope.curvature import HessianOperator, differentiable_attention, eigenvalues, trace
from deepscope.store import cpu_model

IGNORE = -100
HVP_MODES = ("forward-over-reverse", "reverse-over-reverse", "retained-graph")


class AttentionClassifier(nn.Module):
    """Two multi-head self-attention layers over embedded token ids, mean-pooled, linear head."""

    def __init__(self, vocab: int = 1000, d: int = 128, heads: int = 4, classes: int = 10):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.att1 = nn.MultiheadAttention(d, heads, batch_first=True)
        self.att2 = nn.MultiheadAttention(d, heads, batch_first=True)
        self.head = nn.Linear(d, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.emb(ids)
        h = h + self.att1(h, h, h, need_weights=False)[0]
        h = h + torch.tanh(self.att2(h, h, h, need_weights=False)[0])
        return self.head(h.mean(dim=1))


def lm_loss(model, batch):
    """Next-token cross-entropy from ``.logits``, padding ignored (a mean over tokens)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                           batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE)


def shifted_terms(batch) -> int:
    return int((batch["labels"][:, 1:] != IGNORE).sum())


def gpt2_case():
    import transformers

    config = transformers.GPT2Config(n_layer=2, n_embd=128, n_head=4, vocab_size=1000,
                                     n_positions=128, bos_token_id=0, eos_token_id=0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = transformers.GPT2LMHeadModel(config).eval()
    g = torch.Generator().manual_seed(0)
    n, T = 8, 128
    ids = torch.randint(1, 1000, (n, T), generator=g)
    lengths = torch.randint(64, T + 1, (n,), generator=g)
    lengths[0] = T
    mask = (torch.arange(T)[None] < lengths[:, None]).long()
    ids = ids * mask
    batch = {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, IGNORE)}

    def call(m, params=None):
        if params is None:
            return lm_loss(m, batch)
        return lm_loss(lambda **kw: functional_call(m, params, (), kw), batch)

    op_args = (lm_loss, [batch])
    op_kwargs = {"batch_weights": shifted_terms}
    return model, call, op_args, op_kwargs


def mha_case():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = AttentionClassifier().eval()
    g = torch.Generator().manual_seed(0)
    X = torch.randint(0, 1000, (32, 64), generator=g)
    y = torch.randint(0, 10, (32,), generator=g)
    loss_fn = nn.CrossEntropyLoss()

    def call(m, params=None):
        out = m(X) if params is None else functional_call(m, params, (X,))
        return loss_fn(out, y)

    return model, call, (loss_fn, (X, y)), {}


CASES = {"gpt2": gpt2_case, "mha": mha_case}


def bench(name: str, repeats: int, block: int, solvers: bool) -> dict:
    model, call, op_args, op_kwargs = CASES[name]()
    params = dict(model.named_parameters())
    plist = list(params.values())
    P = sum(p.numel() for p in plist)
    row: dict = {"model": name, "params": P, "threads": torch.get_num_threads()}

    def gradient():
        return torch.autograd.grad(call(model), plist)

    t_grad = median_time(gradient, repeats)
    with differentiable_attention():
        t_grad_math = median_time(gradient, repeats)
    row["grad_s"] = t_grad
    row["grad_math_s"] = t_grad_math

    p0 = {k: v.detach() for k, v in params.items()}
    gen = torch.Generator().manual_seed(1)
    tangent = {k: torch.randn(t.shape, generator=gen) for k, t in p0.items()}

    def plain():
        return jvp(grad(lambda p: call(model, p)), (p0,), (tangent,))[1]

    with differentiable_attention():
        row["plain_func_ratio"] = median_time(plain, repeats) / t_grad

    flat = torch.randn(P, generator=torch.Generator().manual_seed(2))
    V = torch.randn(P, block, generator=torch.Generator().manual_seed(3)) if block > 1 else None
    for mode in HVP_MODES:
        op = HessianOperator(model, *op_args, mode=mode, check_determinism=False, **op_kwargs)
        if mode == "retained-graph":  # the first product also builds the kept graph
            start = time.perf_counter()
            op @ flat
            row[f"{mode}_first_product_ratio"] = (time.perf_counter() - start) / t_grad
        row[f"{mode}_ratio"] = median_time(lambda op=op: op @ flat, repeats) / t_grad
        if V is not None:
            row[f"{mode}_block{block}_ratio_per_vector"] = (
                median_time(lambda op=op: op @ V, max(3, repeats // 2)) / t_grad / block)
    start = time.perf_counter()
    auto = HessianOperator(model, *op_args, check_determinism=False, **op_kwargs)
    row["auto_build_s"] = time.perf_counter() - start
    row["auto_mode"], row["auto_block_mode"] = auto.mode, auto.batched_mode
    row["auto_retained_graph_mb"] = (None if auto.retained_graph_bytes is None
                                     else auto.retained_graph_bytes / 1e6)
    row["auto_ratio"] = median_time(lambda: auto @ flat, repeats) / t_grad
    if solvers:
        start = time.perf_counter()
        eig = eigenvalues(auto, k=1, tol=1e-3, seed=0)
        row["top_eigenvalue"] = float(eig.values[0])
        row["top_eigenvalue_converged"] = bool(eig.converged[0])
        row["top_eigenvalue_matvecs"] = int(eig.n_matvecs)
        row["top_eigenvalue_s"] = time.perf_counter() - start
        start = time.perf_counter()
        tr = trace(auto, rtol=0.1, max_matvecs=64, seed=0)
        row["trace"] = float(tr.value)
        row["trace_stderr"] = float(tr.stderr)
        row["trace_matvecs"] = int(tr.n_matvecs)
        row["trace_s"] = time.perf_counter() - start
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--models", default="gpt2,mha")
    parser.add_argument("--block", type=int, default=0)
    parser.add_argument("--solvers", action="store_true")
    args = parser.parse_args()
    print(json.dumps({"cpu": cpu_model(), "torch": torch.__version__}))
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for name in args.models.split(","):
            row = bench(name, args.repeats, args.block, args.solvers)
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                              for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()
