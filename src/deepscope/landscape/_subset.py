"""Samples of the evaluation data: a fixed random subset, random groups, terms per sample."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from ..errors import UserInputError
from ..problem import batch_size, batch_terms, loss_terms, normalise_data


def _select_rows(batch: Any, rows: torch.Tensor, n: int) -> Any:
    def pick(t: Any) -> Any:
        if isinstance(t, torch.Tensor) and t.ndim and t.shape[0] == n:
            return t[rows]
        return t

    if isinstance(batch, dict):
        return {k: pick(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(pick(v) for v in batch)
    return pick(batch)


def subsample(data: Any, n_samples: int, seed: int) -> tuple[list[Any], np.ndarray, int]:
    """A fixed random subset of ``n_samples`` samples (uniform, without replacement).

    Returns the batches restricted to the subset, the global indices chosen and the total count.
    """
    batches = list(normalise_data(data))
    counts = [batch_size(b) for b in batches]
    total = sum(counts)
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise UserInputError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    if n_samples >= total:
        return batches, np.arange(total), total
    chosen = np.sort(np.random.default_rng(seed).choice(total, n_samples, replace=False))
    out, start = [], 0
    for batch, count in zip(batches, counts):
        local = chosen[(chosen >= start) & (chosen < start + count)] - start
        if len(local):
            out.append(_select_rows(batch, torch.as_tensor(local), count))
        start += count
    return out, chosen, total


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_concat([p[i] for p in parts]) for i in range(len(first)))
    raise TypeError(type(first).__name__)


def random_groups(batches: list[Any], counts: list[int], seed: int,
                  n_groups: int = 32) -> list[tuple[Any, int]] | None:
    """The samples of ``batches`` dealt at random into ``min(n_groups, n // 2)`` groups of near
    equal size (for a batch-means standard error of losses known only as batch means).

    None when the batches cannot be regrouped (a field that is not a tensor of n rows).
    """
    total = sum(counts)
    G = min(n_groups, total // 2)
    if G < 2:
        return None
    order = np.random.default_rng([seed, 7]).permutation(total)
    offsets = np.cumsum([0] + list(counts))
    groups = []
    try:
        for members in np.array_split(order, G):
            members = np.sort(members)
            parts = []
            for b, (batch, count) in enumerate(zip(batches, counts)):
                local = members[(members >= offsets[b]) & (members < offsets[b + 1])] - offsets[b]
                if len(local):
                    parts.append(_select_rows(batch, torch.as_tensor(local), count))
            groups.append((_concat(parts), len(members)))
    except (TypeError, RuntimeError):
        return None
    return groups


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable on Linux; 2 GiB when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2 << 30




def terms_per_sample(problem: Any, batch_weights: Any) -> list[torch.Tensor]:
    """The loss terms of each sample, batch by batch (for the standard error of a subset
    whose batches do not weigh by samples: a ratio of term sums)."""
    pr = problem
    out = []
    for batch, count in zip(pr.batches, pr.counts):
        rows = [_select_rows(batch, torch.tensor([i]), count) for i in range(count)]
        if batch_weights is None:
            terms = [loss_terms(pr.loss_fn, pr.closure, r) for r in rows]
        else:
            terms = batch_terms(rows, [1] * count, pr.loss_fn, pr.closure, batch_weights)
        out.append(torch.tensor(terms, dtype=torch.float64))
    return out
