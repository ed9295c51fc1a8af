"""Cheap evaluations at construction: the loss check and the support trials of ``mode="auto"``.

An operator evaluates its loss once over all the data (the value it reports, refused when not
finite) and checks determinism on a slice of the first batch: two evaluations of the loss of its
first :data:`SLICE` samples must agree bit for bit (dropout, noise layers or a random data
augmentation in a closure change every sample, so a slice shows them; nondeterminism that only
appears at larger sizes, such as atomic accumulation on a GPU, is not looked for). A slice whose
loss is not finite (its samples carry no loss term: padding or prompts only) is replaced by the
whole first batch. The same
slice serves the trial products with which ``auto`` detects whether a product mode runs at all
on the model (see :mod:`._paths`): a trial answers "runs" or "raises", never "how fast".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from ..errors import UserInputError
from ..problem import batch_size

#: samples of the first batch that the determinism check and the support trials evaluate
SLICE = 2


def head(batch: Any, n: int = SLICE) -> Any:
    """The first ``n`` samples of a batch: every tensor whose leading dimension is the batch's
    size is sliced (a batch of at most ``n`` samples is returned as it is)."""
    size = batch_size(batch)
    if size <= n:
        return batch
    leaves, spec = tree_flatten(batch)
    leaves = [t[:n] if isinstance(t, torch.Tensor) and t.ndim and t.shape[0] == size else t
              for t in leaves]
    return tree_unflatten(leaves, spec)


def on_slice(run: Callable[[Any], Any], batch: Any) -> Any:
    """``run`` on the first samples of ``batch``; on the whole batch when the slice itself is
    refused with anything but ``NotImplementedError`` (a model that fixes its batch size)."""
    try:
        return run(head(batch))
    except NotImplementedError:
        raise
    except Exception:  # the slice, not the model, may be at fault: decide on the whole batch
        return run(batch)


def runs(product: Callable[[Any], Any], batch: Any) -> bool:
    """Whether ``product`` (one trial product on a batch) runs: a structural answer."""
    try:
        on_slice(product, batch)
    except (RuntimeError, NotImplementedError):
        return False
    return True


def checked_loss(problem: Any) -> float:
    """The loss over all the data in one pass; refuses a non-finite loss and a model whose loss
    differs between two evaluations (random layers, data augmentation)."""
    value = float(problem.loss())
    if not math.isfinite(value):
        raise UserInputError(f"the loss is not finite ({value}) at the given parameters")

    def twice(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return (problem.batch_loss(problem.params, batch),
                    problem.batch_loss(problem.params, batch))

    batch = problem.cast_batch(problem.batches[0])
    first, second = on_slice(twice, batch)
    if not (torch.isfinite(first).all() and torch.isfinite(second).all()):
        first, second = twice(batch)  # a slice without loss terms: check the whole batch
    if not torch.equal(first, second):
        raise UserInputError(
            "the model is not deterministic: two evaluations of the loss differ by "
            f"{abs(float(first - second)):.3g} (random layers or data augmentation?)"
        )
    return value
