"""Scoring many parameter points: ``theta_p = sum_j C[p, j] B_j`` on the same data.

:class:`LandscapeEvaluator` holds a private copy of the model, the data (optionally a fixed random
subset, the same at every point), a basis ``B`` (K, P) and the metrics; its
:meth:`~LandscapeEvaluator.evaluate_points` maps a (n, K) chunk of coefficients to metric arrays
and has no side effects, so chunks of a grid can be handed to other processes.

Three paths compute the same numbers:

- ``"batched"``, chain: fully connected chains (Linear layers and elementwise activations) in a
  feature-major layout with the first layer mixed from cached basis products (see
  :mod:`._chain`); passes sized to stay in cache.
- ``"batched"``, modules: any model whose parameters live in Linear, Conv, BatchNorm or
  LayerNorm layers, with the points folded into the batch dimension (see :mod:`._batched`).
- ``"exact"``: one ``torch.func.functional_call`` per point (any module, closure losses).

``method="batched"`` builds the chain path when it applies, else the module path, and checks its
outputs against the exact path on two probe points; an unsupported layer or a disagreement is a
clear error. ``method="auto"`` takes the chain path when it applies and the per-point loop
otherwise: measured on CPU, the module path is no faster than the loop (benchmarks/README.md).
The choice depends only on the model's structure, so the same seed gives the same bits. A point
equal to one basis vector (coefficients a unit vector, e.g. the grid's centre or an
interpolation endpoint) is always scored by the exact path, so it reproduces that model's loss
bit for bit.

BatchNorm (``bn``): ``"frozen"`` uses the running statistics of the model; ``"recompute"``
re-estimates them at every point from the evaluation data (a pass in training mode with a
sample-weighted cumulative average, as in Garipov et al. 2018), then evaluates.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserInputError
from ..problem import (
    FunctionalModel,
    Problem,
    batch_size,
    batch_terms,
    loss_terms,
    normalise_data,
)
from ._batched import Unsupported, build_batched
from ._chain import ChainPlan, chain_layout

BN_POLICIES = ("frozen", "recompute")
METHODS = ("auto", "batched", "exact")


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


def _per_sample_terms(kind: str, out: torch.Tensor, y: Any) -> bool:
    """Whether the batch loss of outputs (P, n, ...) is exactly the mean (or sum) of the
    per-sample terms: cross-entropy with class labels in range or probability targets, MSE with
    targets of the output's shape (not ignored classes, not broadcasting targets)."""
    if not isinstance(y, torch.Tensor):
        return False
    if kind == "ce":  # (ignored labels already made the kind None: Problem)
        if y.is_floating_point():
            return tuple(y.shape) == tuple(out.shape[1:])
        return out.ndim >= 3 and bool(((y >= 0) & (y < out.shape[2])).all())
    return tuple(y.shape) == tuple(out.shape[1:])


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


class LandscapeEvaluator:
    """Metrics of a model at many points ``sum_j C[p, j] B_j`` of parameter space.

    Args:
        model: the user's model (copied, never modified).
        loss_fn: ``loss_fn(output, target)`` (batch mean or sum), ``"ce"``/``"mse"``, or a
            closure ``loss_fn(model, batch)`` (exact path only).
        data: an ``(X, y)`` pair or an iterable of batches. Batches weigh by their number of
            loss terms, as in the curvature operators (``Problem``): the loss is that of all
            the data as one batch, however it is cut or padded (``ignore_index`` targets).
        basis: (K, P) tensor over the model's trainable parameters (``named_parameters()``
            order).
        bn: ``"frozen"`` or ``"recompute"`` (see the module docstring).
        metrics: extra ``{name: fn(output, target)}`` returning the batch mean, scored in the
            same forward pass as the loss.
        accuracy: add ``"accuracy"`` (argmax against integer targets); None: when the targets of
            the first batch are integer class labels.
        n_samples: score a fixed random subset of this many samples (the same at every point)
            and report ``NAME_stderr``: the standard error of each metric over samples, with the
            finite-population correction. A closure loss is known only as batch means, so its
            subset is dealt at random into up to 32 groups and the error is the batch-means
            estimate over them.
        seed: seed of the subset.
        batch_weights: the number of loss terms of each batch (mean reductions): ``None``
            (read from the loss), ``"samples"``, one number per batch (not with a subset of
            samples) or a callable ``batch -> number``; see ``Problem``.
        dtype: evaluate in this dtype (e.g. ``torch.float64``).
        method: ``"auto"``, ``"batched"`` or ``"exact"``.
        points_per_pass: points per batched forward pass (default: from available memory).
        max_memory: bytes the activations of one pass may take (default: a quarter of the
            available memory, at most 512 MiB).

    A chain ``Linear -> ReLU -> Linear`` scored by cross-entropy (and accuracy) on the CPU runs
    as one compiled pass per chunk of points (:mod:`._fused`); set the class attribute
    ``compiled_head = False`` to score it through the torch operators instead.
    """

    #: score ``Linear -> ReLU -> Linear`` chains with the compiled cross-entropy pass
    compiled_head = True

    def __init__(self, model: nn.Module, loss_fn: Any, data: Any, basis: torch.Tensor, *,
                 bn: str = "frozen", metrics: dict[str, Callable] | None = None,
                 accuracy: bool | None = None, n_samples: int | None = None, seed: int = 0,
                 dtype: torch.dtype | None = None, method: str = "auto",
                 points_per_pass: int | None = None, max_memory: int | None = None,
                 sample_block: int | None = None, loss_form: str = "auto",
                 reduction: str | None = None, cache_bytes: int = 16 << 20,
                 batch_weights: Any = None):
        if bn not in BN_POLICIES:
            raise UserInputError(f"bn must be one of {', '.join(BN_POLICIES)}, got {bn!r}")
        if method not in METHODS:
            raise UserInputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        self.bn = bn
        self.n_total = None
        self.subset = None
        if n_samples is not None:
            data, self.subset, self.n_total = subsample(data, n_samples, seed)
            per_batch = not (batch_weights is None or isinstance(batch_weights, str)
                             or callable(batch_weights))
            if per_batch and len(self.subset) < self.n_total:
                raise UserInputError("batch_weights as one number per batch cannot follow a "
                                     "random subset of samples: pass a callable batch -> number")
        self.problem = Problem(model, loss_fn, data, params=None, bn="eval", dtype=dtype,
                                 loss_form=loss_form, reduction=reduction,
                                 batch_weights=batch_weights)
        pr = self.problem
        #: whether every batch's loss weight is its share of the samples (terms proportional to
        #: samples, e.g. one class label per sample): the per-sample fast paths then sum samples
        self._by_samples = pr.reduction == "sum" or all(
            t * pr.n_samples == c * pr.n_terms for t, c in zip(pr.terms, pr.counts))
        self._sample_terms: list[torch.Tensor] | None = None
        if self.subset is not None and not self._by_samples:
            self._sample_terms = self._terms_per_sample(batch_weights)
        if self.n_total is None:
            self.n_total = pr.n_samples
        if self.subset is not None and pr.reduction == "sum":
            raise UserInputError("n_samples needs a mean-reduced loss (reduction='sum' given)")
        self._groups: list[tuple[Any, int]] | None = None
        self._group_weights: list[float] = []
        if self.subset is not None and pr.closure:
            self._groups = random_groups(pr.batches, pr.counts, seed)
        if self._groups is not None:
            group_terms = batch_terms([g for g, _ in self._groups],
                                      [c for _, c in self._groups], pr.loss_fn, pr.closure,
                                      batch_weights)
            total = sum(group_terms)
            self._group_weights = [t / total for t in group_terms]
        basis = torch.as_tensor(basis)
        if basis.ndim != 2 or basis.shape[1] != pr.size:
            raise UserInputError(f"the basis must be (K, {pr.size}) for this model's trainable "
                                 f"parameters, got {tuple(basis.shape)}")
        if not bool(torch.isfinite(basis).all()):
            raise UserInputError("the directions or models contain NaN or inf")
        self.basis = basis.to(dtype=pr.dtype, device=pr.device)
        self.K = int(basis.shape[0])
        self.metrics = dict(metrics or {})
        for name, fn in self.metrics.items():
            if name in ("loss", "accuracy") or not callable(fn):
                raise UserInputError(f"metric {name!r} must be a callable with another name "
                                     "than 'loss' or 'accuracy'")
        if pr.closure and (self.metrics or accuracy):
            raise UserInputError("extra metrics need loss_fn(output, target), not a closure")
        if accuracy is None:
            accuracy = not pr.closure and self._integer_targets()
        self.accuracy = bool(accuracy)
        self.metric_names = ["loss"] + (["accuracy"] if self.accuracy else []) + list(
            self.metrics)
        self.points_per_pass = points_per_pass
        self.max_memory = max_memory
        self.sample_block = sample_block
        self._bn_modules = [m for m in pr.module.modules()
                            if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self._rc_module = None
        if bn == "recompute" and self._bn_modules:
            self._rc_module = copy.deepcopy(pr.module)
        self.fallback_reason_: str | None = None
        self.method_ = "exact"
        self.batched_path_: str | None = None
        self._batched = None
        self._chain: ChainPlan | None = None
        self.cache_bytes = int(cache_bytes)
        self._masks: dict = {}
        self._fused: bool | None = None
        self._kernel: bool | None = None
        #: why the compiled cross-entropy pass is not used, when it was tried and refused
        self.kernel_reason_: str | None = None
        self._layout: tuple | None = None
        self._unit_cache: dict[int, tuple[dict, dict]] = {}
        if method in ("batched", "auto"):
            self._setup_batched(method)

    # ------------------------------------------------------------------ set-up
    def _integer_targets(self) -> bool:
        batch = self.problem.batches[0]
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            return False
        y = batch[1]
        return isinstance(y, torch.Tensor) and y.ndim == 1 and not y.is_floating_point() \
            and not y.is_complex() and y.dtype != torch.bool

    def _terms_per_sample(self, batch_weights: Any) -> list[torch.Tensor]:
        """The loss terms of each sample, batch by batch (for the standard error of a subset
        whose batches do not weigh by samples: a ratio of term sums)."""
        pr = self.problem
        out = []
        for batch, count in zip(pr.batches, pr.counts):
            rows = [_select_rows(batch, torch.tensor([i]), count) for i in range(count)]
            if batch_weights is None:
                terms = [loss_terms(pr.loss_fn, pr.closure, r) for r in rows]
            else:
                terms = batch_terms(rows, [1] * count, pr.loss_fn, pr.closure, batch_weights)
            out.append(torch.tensor(terms, dtype=torch.float64))
        return out

    def _setup_batched(self, method: str) -> None:
        """Pick the batched path: the feature-major chain, else (``"batched"`` only) the folded
        module path; ``"auto"`` takes the per-point loop when the chain does not apply."""
        pr = self.problem
        if pr.closure:
            self._refuse_or_fallback(method, "the loss is a closure loss_fn(model, batch)")
            return
        basis = pr.split(self.basis)
        reasons = []
        try:
            if self._rc_module is not None:
                raise Unsupported("BatchNorm statistics are recomputed")
            self._chain = ChainPlan.build(pr.module, basis)
            self._probe(self._chain_outputs)
            self.method_, self.batched_path_ = "batched", "chain"
            return
        except Unsupported as exc:
            self._chain = None
            reasons.append(f"chain: {exc}")
        if method == "auto":
            # Measured on the 2-core CPU (benchmarks/README.md): the folded module path is no
            # faster than the per-point loop (MLPs) or slower (CNNs), so "auto" takes the loop.
            # The choice depends on the model's structure only, so grids stay bit-reproducible.
            self.fallback_reason_ = "; ".join(reasons) + "; the per-point loop is used"
            return
        try:
            module, state = build_batched(pr.module, basis)
            self._batched = (module, state)
            self._probe(self._batched_outputs)
        except Unsupported as exc:
            self._batched = None
            reasons.append(f"modules: {exc}")
            self._refuse_or_fallback(method, "; ".join(reasons))
            return
        self.method_, self.batched_path_ = "batched", "modules"

    def _refuse_or_fallback(self, method: str, reason: str) -> None:
        if method == "batched":
            raise UserInputError(f"the batched path cannot evaluate this model: {reason}")
        self.fallback_reason_ = reason

    def _probe(self, outputs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        """Compare batched and exact outputs at two points on a few samples; size the passes."""
        pr = self.problem
        batch = pr.cast_batch(pr.batches[0])
        X = batch[0] if isinstance(batch, (tuple, list)) else batch
        n = min(int(X.shape[0]), 16)
        X = X[:n].clone()  # never handed to the model as a view of the user's data
        rng = np.random.default_rng(20240611)
        C = rng.uniform(-0.5, 0.5, size=(2, self.K))
        C[:, 0] += 1.0
        C = torch.as_tensor(C, dtype=pr.dtype, device=pr.device)
        elems = [0]

        def count(_mod, _inp, out):
            if isinstance(out, torch.Tensor):
                elems[0] += out.numel()

        hooks = [m.register_forward_hook(count) for m in pr.module.modules()
                 if not list(m.children())]
        try:
            with torch.no_grad():  # a fresh copy per call: a layer may overwrite its input
                exact = [torch.func.functional_call(pr.module, pr.split(C[p] @ self.basis),
                                                    (X.clone(),)) for p in range(2)]
        finally:
            for h in hooks:
                h.remove()
        self._elems_per_sample = max(elems[0] / (2 * n), 1.0)
        try:
            with torch.no_grad():
                got = outputs(C, X.clone())
        except Unsupported:
            raise
        except Exception as exc:  # any failure of the batched path means: use the loop
            raise Unsupported(f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
        want = torch.stack(exact)
        if got.shape != want.shape:
            raise Unsupported(f"batched output shape {tuple(got.shape)} != {tuple(want.shape)}")
        tol = 1e-9 if pr.dtype == torch.float64 else 1e-4
        scale = float(want.abs().max()) + 1e-30
        err = float((got - want).abs().max())
        if not err <= tol * scale:
            raise Unsupported(f"batched outputs differ from the per-point loop by {err:.3g} "
                              "(a layer uses its weights outside the module, or mixes samples)")

    def _batched_outputs(self, C: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        module, state = self._batched
        state.set_points(C)
        state.n = int(X.shape[0])
        state.bn_mode = "frozen"
        out = module(X)
        if not isinstance(out, torch.Tensor):
            raise Unsupported("the model does not return one tensor")
        P = int(C.shape[0])
        lead = int(out.shape[0]) if out.ndim else -1
        if lead == state.n and P > 1:
            return out.unsqueeze(0).expand(P, *out.shape)
        if lead != P * state.n:
            raise Unsupported(f"output leading dimension {lead} is not P*n")
        return out.reshape(P, state.n, *out.shape[1:])

    def _chain_outputs(self, C: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        return self._chain.outputs(C, X).transpose(1, 2)

    def chain_layout(self) -> tuple[int, int]:
        """(points per pass, samples per block) of the chain path (cache-sized passes)."""
        key = (self.cache_bytes, self.max_memory, self.points_per_pass, bool(self.metrics))
        if self._layout is not None and self._layout[0] == key:
            return self._layout[1]
        budget = self.cache_bytes
        if self.max_memory is not None:
            budget = min(budget, int(self.max_memory))
        points, block = chain_layout(self._chain.widths, self._chain.first_width, self.K,
                                     max(self.problem.counts),
                                     torch.finfo(self.problem.dtype).bits // 8, budget,
                                     self.points_per_pass, self._chain.per_point)
        if self.metrics or not self._chain_fusable():
            block = max(self.problem.counts)  # user metrics and losses see whole batches
        if self._kernel_ok():
            # one compiled pass keeps its working set in cache by itself; what a pass holds is
            # the first layer's products (K x hidden per sample), each point's last layer (and
            # the temporary that mixes it) and its per-sample losses (and hits), all within
            # max_memory (default 64 MiB)
            n_max = max(self.problem.counts)
            itemsize = torch.finfo(self.problem.dtype).bits // 8
            mem = int(self.max_memory) if self.max_memory is not None else 64 << 20
            first, last = self._chain.fused_head()
            hidden, classes = first.module.out_features, last.module.out_features
            per_sample = self.K * hidden * itemsize
            block = n_max if per_sample * n_max <= mem else min(max(mem // per_sample, 256),
                                                                 n_max)
            if self.points_per_pass is None:
                per_point = (2 * (classes * hidden + classes)
                             + block * (2 if self.accuracy else 1)) * itemsize
                points = int(min(1024, max(1, mem // per_point)))
        self._layout = (key, (points, block))
        return points, block

    def chunk_size(self) -> int:
        """Points per batched pass: ``points_per_pass``, else from the cache budget (chain path)
        or the memory budget (module path)."""
        if self.points_per_pass is not None:
            return max(int(self.points_per_pass), 1)
        if self._chain is not None:
            return self.chain_layout()[0]
        budget = self.max_memory or min(available_memory() // 4, 512 << 20)
        n_max = max(self.problem.counts)
        per_point = self._elems_per_sample * n_max * torch.finfo(self.problem.dtype).bits // 8
        return int(min(max(budget // max(2 * per_point, 1), 1), 4096))

    # ------------------------------------------------------------------ metrics of one batch
    def _per_sample_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Per-sample contributions s (P, n) with batch loss = mean (or sum) of s, when known."""
        pr = self.problem
        P, n = out.shape[0], out.shape[1]
        if pr.loss_kind == "ce":
            flat = out.reshape(P * n, *out.shape[2:])
            yy = y.repeat(P, *([1] * (y.ndim - 1)))
            s = nn.functional.cross_entropy(flat, yy, reduction="none").reshape(P, n, -1)
        elif pr.loss_kind == "mse":
            s = ((out - y) ** 2).reshape(P, n, -1)
        else:
            fn = pr.loss_fn

            def one(o, t):
                return fn(o.unsqueeze(0), t.unsqueeze(0))

            try:
                return torch.func.vmap(torch.func.vmap(one), in_dims=(0, None))(out, y)
            except (RuntimeError, ValueError, TypeError):
                return torch.stack([torch.stack([one(out[p, i], y[i]) for i in range(n)])
                                    for p in range(P)])
        return s.mean(-1) if pr.reduction == "mean" or pr.loss_kind == "ce" else s.sum(-1)

    def _vmapped(self, fn: Callable, out: torch.Tensor, y: Any) -> torch.Tensor:
        try:
            return torch.func.vmap(lambda o: fn(o, y))(out)
        except (RuntimeError, ValueError, TypeError):
            return torch.stack([fn(out[p], y) for p in range(out.shape[0])])

    def _batch_metrics(self, out: torch.Tensor, y: Any, loss: torch.Tensor | None,
                       need: bool) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """{name: (batch values (P,), per-sample values (P, n) or None)} for outputs (P, n, ...)."""
        pr = self.problem
        res = {}
        s = self._per_sample_loss(out, y) if (pr.loss_kind or need) and loss is None else None
        if loss is None:
            if s is not None and pr.loss_kind and _per_sample_terms(pr.loss_kind, out, y):
                loss = s.mean(1) if pr.reduction == "mean" else s.sum(1)
            else:
                loss = self._vmapped(pr.loss_fn, out, y)
        elif need:
            s = self._per_sample_loss(out, y)
        res["loss"] = (loss, s)
        if self.accuracy:
            hits = (out.argmax(-1) == y).to(pr.dtype)
            res["accuracy"] = (hits.mean(1), hits)
        for name, fn in self.metrics.items():
            samples = None
            if need:
                def one(o, t, fn=fn):
                    return fn(o.unsqueeze(0), t.unsqueeze(0))
                samples = torch.func.vmap(torch.func.vmap(one), in_dims=(0, None))(out, y)
            res[name] = (self._vmapped(fn, out, y), samples)
        return res

    # ------------------------------------------------------------------ the two paths
    def _accumulate(self, totals, samples, batch_res, count, w_loss):
        """Add a batch's metrics: the loss with weight ``w_loss`` (its share of the loss
        terms, 1 for sums), the others with the batch's share of the samples."""
        w = count / self.problem.n_samples
        for name, (values, s) in batch_res.items():
            totals[name] = totals[name] + (w_loss if name == "loss" else w) * values.to(
                self.problem.dtype)
            if s is not None:
                samples[name].append(s)

    def _unit_point(self, row: torch.Tensor, need: bool) -> tuple[dict, dict]:
        """:meth:`_exact_point` at a basis vector (a grid's centre, an interpolation's end),
        kept: a grid asks for its centre twice."""
        j = int(torch.argmax(row))
        hit = self._unit_cache.get(j)
        if hit is None:
            hit = self._exact_point(row, need)
            if len(self._unit_cache) < 64:
                self._unit_cache[j] = hit
        return hit

    def _exact_point(self, row: torch.Tensor, need: bool) -> tuple[dict, dict]:
        pr = self.problem
        params = pr.split(row @ self.basis)
        module, named = pr.module, dict(params)
        if self._rc_module is not None:
            module = self._rc_module
            named.update(self._recompute_buffers(params))
        totals = {k: torch.zeros(1, dtype=pr.dtype, device=pr.device) for k in self.metric_names}
        samples: dict[str, list] = {k: [] for k in self.metric_names}
        pieces = zip(pr.batches, pr.counts, pr.weights)
        if pr.closure and need and self._groups is not None:
            # random groups of the subset: batch-means standard error
            pieces = ((g, c, w) for (g, c), w in zip(self._groups, self._group_weights))
        for batch, count, w_loss in pieces:
            batch = pr.cast_batch(batch)
            if pr.closure:
                loss = pr.loss_fn(FunctionalModel(module, named), batch)
                if loss.ndim != 0:
                    raise UserInputError(f"loss_fn must return a scalar, got {tuple(loss.shape)}")
                res = {"loss": (loss.reshape(1), loss.reshape(1, 1) if need else None)}
            else:
                X = batch[0] if isinstance(batch, (tuple, list)) else batch
                out = torch.func.functional_call(module, named, (X,))
                y = pr.target(batch)
                loss = pr.loss_fn(out, y)
                if loss.ndim != 0:
                    raise UserInputError(f"loss_fn must return a scalar, got {tuple(loss.shape)}")
                res = self._batch_metrics(out.unsqueeze(0), y, loss.reshape(1), need)
            self._accumulate(totals, samples, res, count, w_loss)
        return totals, samples

    def _recompute_buffers(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Fresh BatchNorm statistics at ``params``: one training-mode pass over the data."""
        pr = self.problem
        module = self._rc_module
        buffers = {}
        for name, mod in module.named_modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.running_mean is not None:
                buffers[f"{name}.running_mean"] = torch.zeros_like(mod.running_mean)
                buffers[f"{name}.running_var"] = torch.ones_like(mod.running_var)
                buffers[f"{name}.num_batches_tracked"] = torch.zeros_like(
                    mod.num_batches_tracked)
        bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        module.train()
        seen = 0
        try:
            for batch, count in zip(pr.batches, pr.counts):
                batch = pr.cast_batch(batch)
                for m in bns:
                    m.momentum = count / (seen + count)
                X = batch[0] if isinstance(batch, (tuple, list)) else batch
                torch.func.functional_call(module, {**params, **buffers}, (X,))
                seen += count
        finally:
            module.eval()
        return buffers

    def _pieces(self, P: int):
        """The data batches for a batched pass, split into cache-sized pieces when exact.

        Splitting a batch changes nothing for per-sample losses (``"ce"``/``"mse"``) and
        accuracy, whose batch value is a mean over samples; user metrics, closure losses and
        recomputed BatchNorm statistics keep the user's batches.

        Yields (batch, samples, loss weight): a piece of p of a batch's c samples carries
        ``p / c`` of its weight ``t / T`` (every sample of a per-sample loss has as many terms),
        computed as ``(t p) / (c T)`` in one rounding.
        """
        pr = self.problem
        split = (pr.loss_kind is not None and not self.metrics and self._rc_module is None
                 and self.sample_block is not None)
        for batch, count, terms, weight in zip(pr.batches, pr.counts, pr.terms, pr.weights):
            batch = pr.cast_batch(batch)
            if not split or not isinstance(batch, (tuple, list)):
                yield batch, count, weight
                continue
            size = max(int(self.sample_block // max(P, 1)), 64)
            for start in range(0, count, size):
                piece = _select_rows(batch, slice(start, start + size), count)
                p = min(size, count - start)
                w = 1.0 if pr.reduction == "sum" else (terms * p) / (count * pr.n_terms)
                yield piece, p, w

    def _batched_chunk(self, C: torch.Tensor, need: bool) -> tuple[dict, dict]:
        pr = self.problem
        module, state = self._batched
        state.set_points(C)
        P = int(C.shape[0])
        if self._rc_module is not None:
            state.bn_mode = "collect"
            for batch, count in zip(pr.batches, pr.counts):
                batch = pr.cast_batch(batch)
                state.n = count
                module(batch[0] if isinstance(batch, (tuple, list)) else batch)
            state.bn_mode = "apply"
        else:
            state.bn_mode = "frozen"
        totals = {k: torch.zeros(P, dtype=pr.dtype, device=pr.device) for k in self.metric_names}
        samples: dict[str, list] = {k: [] for k in self.metric_names}
        for batch, count, w_loss in self._pieces(P):
            state.n = count
            out = module(batch[0] if isinstance(batch, (tuple, list)) else batch)
            if out.shape[0] == count and P > 1:
                out = out.unsqueeze(0).expand(P, *out.shape)
            else:
                out = out.reshape(P, count, *out.shape[1:])
            self._accumulate(totals, samples, self._batch_metrics(out, pr.target(batch), None,
                                                                  need), count, w_loss)
        return totals, samples

    def _chain_fusable(self) -> bool:
        """Whether the loss is a mean (or sum) of per-sample terms the chain path computes
        itself: plain cross-entropy with integer labels in range in every batch, or MSE with
        targets of the output's shape. Anything else (a callable loss, weighted or ignored
        classes, broadcasting targets) is scored by ``loss_fn`` on whole batches."""
        if self._fused is not None:
            return self._fused
        pr = self.problem
        fused = pr.loss_kind in ("ce", "mse")
        out_dim = self._chain.steps[max(i for i, st in enumerate(self._chain.steps)
                                        if st.kind == "linear")].module.out_features
        for batch in pr.batches:
            if not fused:
                break
            y = pr.target(batch)
            if not isinstance(y, torch.Tensor):
                fused = False
            elif pr.loss_kind == "ce":
                # (labels equal to ignore_index already made loss_kind None: Problem)
                fused = (y.ndim == 1 and not y.is_floating_point() and not y.is_complex()
                         and y.dtype != torch.bool and not bool(((y < 0) | (y >= out_dim)).any()))
            else:
                fused = tuple(y.shape) == (batch_size(batch), out_dim)
        self._fused = fused
        return fused

    def _kernel_ok(self) -> bool:
        """Whether the chain's cross-entropy (and accuracy) come from one compiled pass
        (:mod:`._fused`): a ``Linear -> ReLU -> Linear`` chain on the CPU, float32 or float64,
        a per-sample cross-entropy with integer labels and no user metrics."""
        if self._kernel is not None:
            return self._kernel
        ok = False
        pr = self.problem
        if self.compiled_head and self._chain is not None and not self.metrics \
                and pr.loss_kind == "ce" \
                and pr.device.type == "cpu" and pr.dtype in (torch.float32, torch.float64) \
                and self._chain.fused_head() is not None and self._chain_fusable():
            from . import _fused

            last = self._chain.fused_head()[1].module
            ok = _fused.supported(self.K, last.out_features, pr.dtype)
            if ok:
                try:
                    ok = self._probe_kernel()
                except Exception as exc:  # noqa: BLE001 - e.g. numba cannot compile here
                    ok = False
                    self.kernel_reason_ = f"{type(exc).__name__}: {exc}"
        self._kernel = ok
        return ok

    def _probe_kernel(self) -> bool:
        """The compiled pass against the chain's torch operators at two points on a few
        samples (compiling it on first use); a disagreement turns it off."""
        pr = self.problem
        batch = pr.cast_batch(pr.batches[0])
        X = (batch[0] if isinstance(batch, (tuple, list)) else batch)[:64]
        y = pr.target(batch)[:64].long()
        rows = [[1.0] + [0.37] * (self.K - 1), [0.8] + [-0.21] * (self.K - 1)]
        C = torch.tensor(rows, dtype=pr.dtype, device=pr.device)
        weights = self._chain.point_weights(C)
        s, hits = self._chain.ce_fused(C, X, y, None, weights, True)
        out = self._chain.outputs(C, X, key=None, weights=weights)
        P, n = int(C.shape[0]), int(X.shape[0])
        ref = -torch.log_softmax(out, 1).gather(1, y[None, None].expand(P, 1, n)).squeeze(1)
        tol = 1e-9 if pr.dtype == torch.float64 else 1e-3
        err = float(((s - ref).abs() / (1 + ref.abs())).max())
        if not err <= tol:
            self.kernel_reason_ = f"the compiled pass differs from the operators by {err:.3g}"
            return False
        # hits: only where the top two logits are not within rounding of each other
        top2 = out.topk(2, dim=1).values
        clear = (top2[:, 0] - top2[:, 1]) > tol * (1 + top2[:, 0].abs())
        want = (out.argmax(1) == y).to(hits.dtype)
        if not bool((hits == want)[clear].all()):
            self.kernel_reason_ = "the compiled pass's accuracy differs from argmax"
            return False
        return True

    def _chain_chunk(self, C: torch.Tensor, need: bool) -> tuple[dict, dict]:
        """Metrics of the points C through the feature-major chain (see :mod:`._chain`).

        A per-sample loss (see :meth:`_chain_fusable`) and accuracy are summed over samples in
        blocks (exactly the batch mean, by linearity), over all samples when the batches weigh
        by samples, else each batch with its weight per sample ``t / (c T)``; any other loss
        and user metrics see each batch whole, through ``loss_fn`` itself, as on the per-point
        path.
        """
        pr = self.problem
        P = int(C.shape[0])
        _, block = self.chain_layout()
        fused = self._chain_fusable()
        kernel = self._kernel_ok()
        weights = self._chain.point_weights(C) if kernel or not self._chain.per_point else None
        sums = {k: torch.zeros(P, dtype=pr.dtype, device=pr.device) for k in self.metric_names}
        samples: dict[str, list] = {k: [] for k in self.metric_names}
        weighted = None if self._by_samples else torch.zeros_like(sums["loss"])
        for bi, (batch, count) in enumerate(zip(pr.batches, pr.counts)):
            batch = pr.cast_batch(batch)
            X = batch[0] if isinstance(batch, (tuple, list)) else batch
            y = pr.target(batch)
            if not fused:
                out = self._chain.outputs(C, X, key=(bi, 0, count), weights=weights)
                rows = out.transpose(1, 2)
                res = self._batch_metrics(rows, y, self._vmapped(pr.loss_fn, rows, y), need)
                self._accumulate(sums, samples, res, count, pr.weights[bi])
                continue
            per_sample = None if weighted is None else pr.terms[bi] / (count * pr.n_terms)
            for start in range(0, count, block):
                stop = min(start + block, count)
                Xb = X if (start, stop) == (0, count) else X[start:stop]
                yb = y if (start, stop) == (0, count) else y[start:stop]
                if kernel:
                    s, hits = self._chain.ce_fused(C, Xb, yb, (bi, start, stop), weights,
                                                   self.accuracy)
                else:
                    out = self._chain.outputs(C, Xb, key=(bi, start, stop), weights=weights,
                                              reuse=True)
                    s, hits = self._chain_per_sample(out, yb, (bi, start, stop))
                if weighted is None:
                    sums["loss"] += s.sum(1)
                else:
                    weighted += s.sum(1) * per_sample
                if need:
                    samples["loss"].append(s)
                if self.accuracy:
                    sums["accuracy"] += hits.sum(1)
                    if need:
                        samples["accuracy"].append(hits)
                if self.metrics:  # block == count here (chain_layout)
                    res = self._batch_metrics(out.transpose(1, 2), yb, torch.zeros(P), need)
                    for name in self.metrics:
                        values, per = res[name]
                        sums[name] += values.to(pr.dtype) * count
                        if per is not None:
                            samples[name].append(per)
        if not fused:
            return sums, samples
        n = pr.n_samples
        totals = {k: v / n for k, v in sums.items()}
        if pr.reduction == "sum":
            totals["loss"] = sums["loss"]
        elif weighted is not None:
            totals["loss"] = weighted
        return totals, samples

    def _chain_per_sample(self, out: torch.Tensor, y: torch.Tensor,
                          key: object) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-sample loss (P, n) (the batch loss is its mean, or sum) and accuracy hits from
        feature-major outputs (P, classes, n), for a loss that :meth:`_chain_fusable` passed."""
        pr = self.problem
        hits = None
        if pr.loss_kind == "ce":
            y = y.long()
            s, top, tie = self._chain_ce(out, y, key)
            if self.accuracy:
                hits = self._chain_hits(out, s, top, tie, y)
            return s, hits
        d = out - y.T
        d = d.mul_(d)
        if self.accuracy:
            hits = (out.argmax(1) == y).to(pr.dtype)
        return (d.mean(1) if pr.reduction == "mean" else d.sum(1)), hits

    def _chain_ce(self, out: torch.Tensor, y: torch.Tensor, key: object):
        """Per-sample cross-entropy (P, n) of feature-major logits (P, C, n); with accuracy,
        also whether the target's logit is above all others (``top``) or ties with the largest
        other (``tie``).

        ``log_softmax`` over the class axis of the feature-major logits is one fused pass (about
        the cost of ``exp`` alone, measured); the others' maximum comes from one reduction over
        the logits with the target masked to -inf, so accuracy needs no argmax over the short,
        strided class axis.
        """
        P, C, n = out.shape
        hit = self._masks.get(key)
        if hit is None:
            cols = torch.arange(n, device=y.device)
            mask = torch.zeros(C, n, dtype=out.dtype, device=out.device)
            mask[y, cols] = float("-inf")
            hit = (mask, y * n + cols)
            if len(self._masks) < 4096:
                self._masks[key] = hit
        mask, flat = hit
        ws = self._chain.workspace
        logp = ws.get("log_softmax", tuple(out.shape), out)
        torch.ops.aten._log_softmax.out(out, 1, False, out=logp)
        picked = logp.view(P, C * n).index_select(1, flat)
        s = picked.neg()
        if not self.accuracy:
            return s, None, None
        # log_softmax shifts each column by one number, monotonically after rounding: a strict
        # order in logp is one in the logits; ties in logp are settled on the logits (argmax)
        m_other = logp.add_(mask).amax(1)
        return s, picked > m_other, picked == m_other

    def _chain_hits(self, out: torch.Tensor, s: torch.Tensor, top: torch.Tensor,
                    tie: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``argmax(out, 1) == y`` from :meth:`_chain_ce`'s comparison of the target's logit with
        the other classes' maximum. Where they tie, argmax returns the first maximal class, and
        where a logit is NaN (then the loss is NaN) argmax points at it: those few columns are
        settled by argmax itself."""
        odd = tie | torch.isnan(s)
        if bool(odd.any()):
            p_idx, s_idx = torch.nonzero(odd, as_tuple=True)
            top = top.clone()
            top[p_idx, s_idx] = out[p_idx, :, s_idx].argmax(1) == y[s_idx]
        return top.to(self.problem.dtype)

    # ------------------------------------------------------------------ public
    def evaluate_points(self, coeffs: Any) -> dict[str, np.ndarray]:
        """Metrics at the points ``coeffs @ basis`` (``coeffs``: (n, K) array).

        Returns ``{name: float64 array (n,)}`` for each metric, plus ``NAME_stderr`` when a
        subset of samples is scored. No side effects: the same coefficients, passed in the
        same chunks (``points_per_pass``), give the same bits; a batched pass may round a point
        differently (last bits) when other points share it.
        """
        pr = self.problem
        C = torch.as_tensor(np.asarray(coeffs, dtype=np.float64)).to(pr.dtype)
        if C.ndim != 2 or C.shape[1] != self.K:
            raise UserInputError(f"points must be an (n, {self.K}) array, got {tuple(C.shape)}")
        if not bool(torch.isfinite(C).all()):
            raise UserInputError("grid coordinates contain NaN or inf")
        C = C.to(pr.device)
        n = int(C.shape[0])
        need = self.subset is not None
        values = {k: np.empty(n) for k in self.metric_names}
        errors = {k: np.full(n, np.nan) for k in self.metric_names} if need else {}
        unit = (((C != 0).sum(1) == 1) & ((C == 1).sum(1) == 1)).cpu().numpy()
        exact = np.ones_like(unit) if self.method_ == "exact" else unit
        exact_rows = np.flatnonzero(exact).tolist()
        other = np.flatnonzero(~exact).tolist()
        with torch.no_grad():
            for i in exact_rows:
                res = self._unit_point(C[i], need) if unit[i] else self._exact_point(C[i], need)
                self._store(values, errors, [i], *res)
            step = self.chunk_size() if other else 1
            chunk = self._chain_chunk if self._chain is not None else self._batched_chunk
            for start, stop in self._passes(np.asarray(coeffs, dtype=np.float64)[other], step):
                idx = other[start:stop]
                rows = (C[idx[0]:idx[-1] + 1] if idx[-1] - idx[0] == len(idx) - 1
                        else C[idx])  # a slice where the rows are consecutive
                self._store(values, errors, idx, *chunk(rows, need))
        out = dict(values)
        for k, e in errors.items():
            out[f"{k}_stderr"] = e
        return out

    def _passes(self, coeffs: np.ndarray, step: int) -> list[tuple[int, int]]:
        """Consecutive passes of at most ``step`` points; on the chain path, passes hold whole
        runs of points that differ only in the last coefficient (a grid's rows: see
        ``ChainPlan._mix_runs``), with ``step`` raised to one run when runs are up to twice
        as long (unless ``points_per_pass`` fixes it)."""
        m = len(coeffs)
        if self._chain is None or self._chain.per_point or m == 0 or self.K < 2:
            return [(s, min(s + step, m)) for s in range(0, m, step)]
        change = np.flatnonzero(np.any(coeffs[1:, :-1] != coeffs[:-1, :-1], axis=1)) + 1
        bounds = [0, *change.tolist(), m]
        longest = max(b - a for a, b in zip(bounds[:-1], bounds[1:]))
        if longest <= 2 * step and self.points_per_pass is None:
            step = max(step, longest)
        passes, start = [], 0
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b - start > step and a > start:
                passes.append((start, a))       # close the pass before this run
                start = a
            while b - start > step:             # a run longer than a pass
                passes.append((start, start + step))
                start += step
        if start < m:
            passes.append((start, m))
        return passes

    def _store(self, values, errors, idx: Sequence[int], totals, samples) -> None:
        for name, t in totals.items():
            values[name][idx] = t.double().cpu().numpy()
        if errors:
            m = len(self.subset)
            fpc = math.sqrt(max(1.0 - m / self.n_total, 0.0))
            for name, parts in samples.items():
                if parts and self.problem.closure:
                    if self._groups is None or len(parts) < 2:
                        continue  # no per-sample or per-group values: the error stays NaN
                    # batch means over random groups of the subset: the subset mean is
                    # sum_g w_g L_g with w_g = t_g / T (the groups' shares of the loss terms);
                    # Var ~ G/(G-1) sum_g w_g^2 (L_g - mean)^2
                    L = torch.cat(parts, dim=1).double()
                    w = torch.tensor(self._group_weights, dtype=torch.float64)
                    mean = (L * w).sum(1, keepdim=True)
                    G = len(parts)
                    var = G / (G - 1) * ((L - mean) ** 2 * w ** 2).sum(1)
                    errors[name][idx] = (var.sqrt() * fpc).cpu().numpy()
                elif parts and name == "loss" and self._sample_terms is not None:
                    # a ratio of sums over samples, L = sum_i a_i / sum_i t_i with a_i = t_i s_i
                    # (s_i: the sample's mean over its t_i terms): linearised variance
                    # m/(m-1) sum_i (a_i - L t_i)^2 / (sum_i t_i)^2
                    t = torch.cat(self._sample_terms).to(self.problem.device)
                    s = torch.cat(parts, dim=1).double()
                    a = torch.where(t > 0, s * t, torch.zeros((), dtype=s.dtype))
                    ratio = a.sum(1, keepdim=True) / t.sum()
                    var = m / (m - 1) * ((a - ratio * t) ** 2).sum(1) / t.sum() ** 2
                    errors[name][idx] = (var.sqrt() * fpc).cpu().numpy()
                elif parts:
                    s = torch.cat(parts, dim=1).double()
                    errors[name][idx] = (s.std(dim=1, unbiased=True) / math.sqrt(m) * fpc
                                         ).cpu().numpy()
