"""How ``mode="auto"`` picks a Hessian product: from the model's structure, never by timing.

A pick made by timing the modes on the first batch changes with the load of the machine, and so
do the last bits of every result. The rule below depends only on the model, the loss and the
data; a trial product (on the first :data:`~._trial.SLICE` samples of the first batch, zero
vectors) detects whether a mode RUNS, which is as structural as the module types. In order:

1. ``"pearlmutter"``: the R-operator covers the model (:meth:`SequentialROperator.build`: a
   sequence of Linear, Conv1d/Conv2d, elementwise activations, max pooling and Flatten, loss
   ``"ce"`` or ``"mse"``, every parameter) and its trial product runs (the shapes and labels it
   needs). Measured (``benchmarks/bench_hvp.py``, float32, 2 threads): MLP 784-512-512-10 at
   1.60-2.21 gradient times against 2.15-2.83 for double backward and 2.66-3.28 for
   forward-over-reverse; a two-conv CNN at 1.30-1.78 against 2.24-3.64 for the autodiff modes.
2. ``"retained-graph"``: the model has an attention module, double backward runs, and the kept
   first-order graphs of all batches, extrapolated from the first batch's saved tensors, fit in
   :data:`RETAINED_GRAPH_BYTES` (the first batch's graph, built for the estimate, is kept for
   the first product). Measured (``benchmarks/bench_transformer_hvp.py``): 1.81-2.09 against
   2.84-3.18 (double backward) and 2.99-3.94 (forward-over-reverse) on GPT-2 and an
   ``nn.MultiheadAttention`` classifier.
3. ``"reverse-over-reverse"``: double backward runs. It beat forward-over-reverse in the
   recorded measurements but one: the MLP above; GPT-2 (2.84-3.15 against 3.68-3.94); per vector
   in blocks of 4 on both transformers (2.05-2.37 against 2.39-2.70); the BatchNorm CNN and the
   GELU MLP of ``bench_hvp.py`` at one thread, per vector for blocks of 1, 4 and 16 (CNN 0.41,
   0.29, 0.28 s against 0.45, 0.37, 0.48 s; MLP 47, 34, 29 ms against 60, 38, 30 ms). The
   exception, single vectors on the attention classifier at 2 threads, split (3.18 against 2.99
   in one run, 2.98 against 3.21 in the other). At 2 threads on a machine loaded beyond its
   cores the order of the two was not stable from block size to block size.
4. ``"forward-over-reverse"``: only forward-mode AD over the gradient runs.

Otherwise the operator is refused. The same mode serves single vectors and blocks.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import UserInputError
from ._autodiff import differentiable_attention, has_attention
from ._trial import runs

#: the most bytes the kept first-order graphs of all batches may hold for ``auto`` to pick the
#: ``"retained-graph"`` mode (an estimate from the tensors the first batch's graph saves)
RETAINED_GRAPH_BYTES = 1 << 30


def choose_mode(op: Any) -> str:
    """The product mode of a :class:`HessianOperator` (or residual) under ``mode="auto"``."""
    problem = op.problem
    batch = problem.cast_batch(problem.batches[0])
    V = problem.split(torch.zeros(1, problem.size, dtype=problem.dtype, device=problem.device))

    def trial(mode: str) -> bool:
        return runs(lambda b: op._product_with(mode, b, V), batch)

    with differentiable_attention():
        if op._rop is not None and trial("pearlmutter"):
            return "pearlmutter"
        if trial("reverse-over-reverse"):
            if has_attention(problem.module) and op._keep_first_graph(batch,
                                                                      RETAINED_GRAPH_BYTES):
                return "retained-graph"
            return "reverse-over-reverse"
        if trial("forward-over-reverse"):
            return "forward-over-reverse"
    raise UserInputError("neither forward-over-reverse nor double backward works here")
