"""Cross-entropy over tokens for models that return logits, Hugging Face models included.

:class:`TokenCrossEntropy` is a closure loss ``loss(model, batch)`` for dict batches such as a
tokenizer's (``input_ids``, ``attention_mask``, ``labels``). It computes the cross-entropy from
the logits in the model's own dtype (a Hugging Face model's ``.loss`` is computed in float32 even
for a float64 model) and declares how many loss terms each batch has (:meth:`terms`: the targets
not equal to ``ignore_index``), which :class:`deepscope.problem.Problem` uses to weight batches,
so padded batches of uneven lengths give the loss of all the data as one batch.

Three shapes of logits are understood:

- ``(n, T, V)`` with ``causal=True``: next-token prediction (GPT-2 and other causal LMs); the
  logits at position t score the label at t + 1, as the models' own loss does.
- ``(n, T, V)`` with ``causal=False``: one label per position (masked LMs, token classification).
- ``(n, C)``: one label per sequence (sequence classification).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as F

from .errors import UserInputError

__all__ = ["TokenCrossEntropy"]


class TokenCrossEntropy:
    """``loss(model, batch)``: the mean cross-entropy over a batch's labelled tokens.

    Args:
        causal: shift labels by one position (next-token prediction) for per-position logits.
        ignore_index: the label of positions that carry no loss (padding, prompts).
        inputs: the batch keys handed to the model as keyword arguments (those present).
        labels: the batch key of the targets.
    """

    def __init__(self, *, causal: bool = True, ignore_index: int = -100,
                 inputs: Sequence[str] = ("input_ids", "attention_mask", "token_type_ids",
                                          "position_ids"),
                 labels: str = "labels"):
        self.causal = bool(causal)
        self.ignore_index = int(ignore_index)
        self.inputs = tuple(inputs)
        self.labels = labels

    def __repr__(self) -> str:
        return (f"TokenCrossEntropy(causal={self.causal}, ignore_index={self.ignore_index}, "
                f"labels={self.labels!r})")

    def _shifted(self, labels: torch.Tensor) -> bool:
        """Whether labels are per position and shifted (one rule for the loss and its terms):
        causal, and labels (n, T) with T > 1; labels (n,) or (n, 1) are one per sequence."""
        return self.causal and labels.ndim == 2 and labels.shape[1] > 1

    def _pairs(self, logits: torch.Tensor, labels: torch.Tensor):
        if logits.ndim == 2:
            if labels.ndim == 2 and labels.shape[1] > 1:
                raise UserInputError(f"per-sequence logits {tuple(logits.shape)} with "
                                     f"per-position labels {tuple(labels.shape)}")
            return logits, labels.reshape(-1)
        if logits.ndim != 3:
            raise UserInputError(f"TokenCrossEntropy expects logits (n, C) or (n, T, V), got shape "
                                 f"{tuple(logits.shape)}")
        if self._shifted(labels):
            logits, labels = logits[:, :-1], labels[:, 1:]
        return logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)

    def _labels(self, batch: Any) -> torch.Tensor:
        if not isinstance(batch, dict) or self.labels not in batch:
            raise UserInputError(f"TokenCrossEntropy needs dict batches with a {self.labels!r} "
                                 "entry")
        return batch[self.labels]

    def __call__(self, model: Any, batch: Any) -> torch.Tensor:
        labels = self._labels(batch)
        out = model(**{k: batch[k] for k in self.inputs if k in batch})
        logits = getattr(out, "logits", out)
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        flat_logits, flat_labels = self._pairs(logits, labels)
        return F.cross_entropy(flat_logits, flat_labels, ignore_index=self.ignore_index)

    def terms(self, batch: Any) -> float:
        """How many targets the batch's mean runs over (its weight in the total loss)."""
        labels = self._labels(batch)
        if self._shifted(labels):
            labels = labels[:, 1:]
        return float((labels != self.ignore_index).sum())
