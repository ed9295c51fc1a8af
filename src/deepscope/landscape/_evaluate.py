"""Scoring many parameter points: ``theta_p = sum_j C[p, j] B_j`` on the same data.

:class:`LandscapeEvaluator` holds a private copy of the model, the data (optionally a fixed random
subset, the same at every point), a basis ``B`` (K, P) and the metrics; its
:meth:`~LandscapeEvaluator.evaluate_points` maps a (n, K) chunk of coefficients to metric arrays
and has no side effects, so chunks of a grid can be handed to other processes.

Points are scored by a scorer (:mod:`._scorer`: model outputs of many points) and reduced to
metrics by one reducer (:mod:`._reduce`: loss, accuracy, user metrics, batch weights, ties and
NaNs). ``method="auto"`` picks the scorer from the model's structure alone, never from timings,
so the same seed gives the same bits:

- ``"chain"`` for fully connected chains (Linear layers and elementwise activations;
  :mod:`._chain_scorer`), with its compiled cross-entropy pass where it applies;
- ``"inference"`` for networks with convolutions, frozen (or no) BatchNorm and a loss of the
  outputs (:mod:`._inference`);
- ``"exact"`` otherwise (closure losses, recomputed BatchNorm statistics, anything else): one
  ``torch.func.functional_call`` per point.

A fast scorer is probed against the exact one on two points first; a failure or a disagreement
falls back to ``"exact"`` with the reason (``method="batched"``: a clear error). A point equal to
one basis vector (coefficients a unit vector, e.g. the grid's centre or an interpolation
endpoint) is always scored exactly, so it reproduces that model's loss bit for bit;
:meth:`~LandscapeEvaluator.describe` names the scorers a set of points goes through.

BatchNorm (``bn``): ``"frozen"`` uses the running statistics of the model; ``"recompute"``
re-estimates them at every point from the evaluation data (a pass in training mode with a
sample-weighted cumulative average, as in Garipov et al. 2018), then evaluates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserInputError
from ..problem import Problem, batch_terms
from ._chain_scorer import ChainScorer
from ._exact import ExactScorer
from ._reduce import Reducer
from ._scorer import Footprint, Scorer, SizedScorer, Unsupported, probe, probe_points
from ._subset import available_memory, random_groups, subsample, terms_per_sample

BN_POLICIES = ("frozen", "recompute")
METHODS = ("auto", "batched", "exact")


class _InferenceScorer:
    """The protocol's face of an inference plan (:mod:`._inference`)."""

    name = "inference"

    def __init__(self, plan: Any):
        self.plan = plan

    def outputs(self, C: torch.Tensor, X: Any, key: object = None) -> torch.Tensor:
        return self.plan.outputs(C, X)

    def points_per_pass(self, budget: int, samples: int, footprint: Footprint,
                        itemsize: int) -> int:
        return self.plan.points_per_pass(budget, samples, footprint, itemsize)


def inference_scorer(module: nn.Module, basis: dict[str, torch.Tensor], bn: str
                     ) -> _InferenceScorer:
    """The conv-net scorer, or Unsupported (the structure does not apply: no convolution,
    BatchNorm that does not fold or is recomputed)."""
    from ._inference import build_inference_plan

    reasons: list[str] = []
    plan = build_inference_plan(module, basis, bn=bn, reasons=reasons)
    if plan is None:
        raise Unsupported("; ".join(reasons) or "does not apply")
    return _InferenceScorer(plan)


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
        method: ``"auto"`` (the scorer the model's structure allows, see the module
            docstring), ``"exact"``, or ``"batched"``: the fast scorer for this structure,
            refused with the reason when none applies.
        points_per_pass: points per pass of a fast scorer (default: from the cache budget of the
            chain scorer; for the inference scorer from what a pass keeps, each point's outputs
            and parameters, in multiples of 16 points and the same on any number of threads;
            else from available memory).
        max_memory: bytes one pass may take (default: a quarter of the available memory, at
            most 512 MiB; 64 MiB for the compiled cross-entropy pass).
        sample_block: samples per block when per-sample loss terms are summed (at least 64;
            default: from ``cache_bytes``, the cache budget of a pass of the chain scorer).
        loss_form, reduction: as for ``Problem``.

    Attributes after construction: ``scorer`` (the scorer of points that are not basis
    vectors), ``method_`` (``"exact"`` or ``"batched"`` for a fast scorer),
    ``fallback_reason_`` (why no fast scorer applies) and ``kernel_reason_`` (why the compiled
    cross-entropy pass is not used, when it was tried). A chain ``Linear -> ReLU -> Linear``
    scored by cross-entropy (and accuracy) on the CPU runs as one compiled pass per chunk of
    points (:mod:`._fused`); set the class attribute ``compiled_head = False`` to score it
    through the torch operators instead.
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
        if self.n_total is None:
            self.n_total = pr.n_samples
        if self.subset is not None and pr.reduction == "sum":
            raise UserInputError("n_samples needs a mean-reduced loss (reduction='sum' given)")
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
        self.reducer = Reducer(pr, self.accuracy, self.metrics)
        self.metric_names = list(self.reducer.names)
        self._sample_terms: list[torch.Tensor] | None = None
        if self.subset is not None and not self.reducer.by_samples:
            self._sample_terms = terms_per_sample(pr, batch_weights)
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
        self.points_per_pass = points_per_pass
        self.max_memory = max_memory
        self.sample_block = sample_block
        self.cache_bytes = int(cache_bytes)
        self.exact = ExactScorer(pr, self.basis, recompute_bn=bn == "recompute")
        #: the scorer of points that are not basis vectors
        self.scorer: Scorer = self.exact
        self.fallback_reason_: str | None = None
        self._footprint = Footprint(1.0, 1.0)
        self._layout: tuple | None = None
        self._unit_cache: dict[int, tuple[dict, dict]] = {}
        if method != "exact":
            self._choose(method)

    # ------------------------------------------------------------------ the scorer
    def _integer_targets(self) -> bool:
        batch = self.problem.batches[0]
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            return False
        y = batch[1]
        return isinstance(y, torch.Tensor) and y.ndim == 1 and not y.is_floating_point() \
            and not y.is_complex() and y.dtype != torch.bool

    def _choose(self, method: str) -> None:
        """The fast scorer this model's structure allows (chain, then inference), probed
        against the exact scorer; else the exact scorer (``"auto"``) or an error
        (``"batched"``)."""
        pr = self.problem
        reasons = []
        batch = pr.cast_batch(pr.batches[0])
        X = batch[0] if isinstance(batch, (tuple, list)) else batch
        if pr.closure:
            reasons.append("the loss is a closure loss_fn(model, batch)")
        elif self.exact.recomputes:
            reasons.append("BatchNorm statistics are recomputed at every point")
        elif not isinstance(X, torch.Tensor):
            reasons.append("the model input is not one tensor")
        else:
            basis = pr.split(self.basis)
            C = probe_points(self.K, pr.dtype, pr.device)
            builders = (("chain", lambda: ChainScorer(pr, basis)),
                        ("inference", lambda: inference_scorer(pr.module, basis, self.bn)))
            for name, build in builders:
                try:
                    scorer = build()
                    self._footprint = probe(scorer, self.exact, X, C, pr.module)
                except Unsupported as exc:
                    reasons.append(f"{name}: {exc}")
                    continue
                self.scorer = scorer
                if isinstance(scorer, ChainScorer) and self.compiled_head \
                        and not self.metrics and pr.loss_kind == "ce" \
                        and self.reducer.per_sample(scorer.out_features):
                    scorer.enable_kernel(self.accuracy)
                return
        reason = "; ".join(reasons)
        if method == "batched":
            raise UserInputError(f"no fast scorer can evaluate this model: {reason}")
        self.fallback_reason_ = reason + "; the exact per-point scorer is used"

    @property
    def method_(self) -> str:
        """``"exact"``, or ``"batched"`` when a fast scorer takes the points."""
        return "exact" if self.scorer is self.exact else "batched"

    @property
    def batched_path_(self) -> str | None:
        """The fast scorer's kind (``"chain"``, ``"inference"``), None for the exact one."""
        return None if self.scorer is self.exact else self.scorer.name.split(" ")[0]

    @property
    def kernel_reason_(self) -> str | None:
        """Why the compiled cross-entropy pass is not used, when it was tried and refused."""
        return getattr(self.scorer, "kernel_reason", None)

    def _kernel_ok(self) -> bool:
        return bool(getattr(self.scorer, "terms_ok", False))

    def describe(self, coeffs: Any) -> str:
        """The scorers that score the points ``coeffs``: the scorer's name, with
        ``" (unit points: exact)"`` when some points are basis vectors scored exactly."""
        name = self.scorer.name
        if self.scorer is self.exact:
            return name
        C = np.asarray(coeffs, dtype=np.float64).reshape(-1, self.K)
        unit = ((C != 0).sum(1) == 1) & ((C == 1).sum(1) == 1)
        return f"{name} (unit points: exact)" if bool(unit.any()) else name

    # ------------------------------------------------------------------ passes
    def _per_sample_mode(self) -> bool:
        """Whether passes sum per-sample loss terms over blocks of samples (the chain scorer
        with a per-sample loss) rather than calling ``loss_fn`` on whole batches."""
        return isinstance(self.scorer, ChainScorer) \
            and self.reducer.per_sample(self.scorer.out_features)

    def chain_layout(self) -> tuple[int, int]:
        """(points per pass, samples per block) of the chain scorer (cache-sized passes)."""
        key = (self.cache_bytes, self.max_memory, self.points_per_pass, self.sample_block)
        if self._layout is not None and self._layout[0] == key:
            return self._layout[1]
        budget = self.cache_bytes
        if self.max_memory is not None:
            budget = min(budget, int(self.max_memory))
        n_max = max(self.problem.counts)
        whole = bool(self.metrics) or not self._per_sample_mode()
        points, block = self.scorer.layout(self.K, n_max, budget, self.max_memory,
                                           self.points_per_pass, whole, self.accuracy)
        if self.sample_block is not None and not whole:
            block = min(max(int(self.sample_block), 64), n_max)
        self._layout = (key, (points, block))
        return points, block

    def chunk_size(self) -> int:
        """Points per pass of a fast scorer: ``points_per_pass``, else from the cache budget
        (chain scorer), the scorer's own sizing (:class:`SizedScorer`), or the memory budget
        (outputs of the layers, and the parameters, of each point)."""
        if self.points_per_pass is not None:
            return max(int(self.points_per_pass), 1)
        if isinstance(self.scorer, ChainScorer):
            return self.chain_layout()[0]
        budget = self.max_memory or min(available_memory() // 4, 512 << 20)
        n_max = max(self.problem.counts)
        itemsize = torch.finfo(self.problem.dtype).bits // 8
        if isinstance(self.scorer, SizedScorer):
            return self.scorer.points_per_pass(budget, n_max, self._footprint, itemsize)
        per_point = (self._footprint.layers * n_max + 2 * self.problem.size) * itemsize
        return int(min(max(budget // max(2 * per_point, 1), 1), 4096))

    def _passes(self, coeffs: np.ndarray, step: int) -> list[tuple[int, int]]:
        """Consecutive passes of at most ``step`` points; on the chain scorer, passes hold whole
        runs of points that differ only in the last coefficient (a grid's rows: see
        ``FirstLayerMix._mix_runs``), with ``step`` raised to one run when runs are up to twice
        as long (unless ``points_per_pass`` fixes it)."""
        m = len(coeffs)
        if not isinstance(self.scorer, ChainScorer) or self.scorer.plan.per_point or m == 0 \
                or self.K < 2:
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

    # ------------------------------------------------------------------ scoring
    def _score(self, scorer: Scorer, C: torch.Tensor, need: bool) -> tuple[dict, dict]:
        """Metrics of the points C: ``loss_fn`` on whole batches (the reducer weighs them)."""
        if scorer is not self.exact and self._per_sample_mode():
            return self._score_terms(scorer, C, need)
        pr, red = self.problem, self.reducer
        P = int(C.shape[0])
        totals, samples = red.start(P)
        pieces = zip(pr.batches, pr.counts, pr.weights)
        if pr.closure and need and self._groups is not None:
            # random groups of the subset: batch-means standard error
            pieces = ((g, c, w) for (g, c), w in zip(self._groups, self._group_weights))
        for bi, (batch, count, w_loss) in enumerate(pieces):
            batch = pr.cast_batch(batch)
            if pr.closure:
                loss = scorer.closure_losses(C, batch)
                res = {"loss": (loss, loss.reshape(P, 1) if need else None)}
            else:
                X = batch[0] if isinstance(batch, (tuple, list)) else batch
                out = scorer.outputs(C, X, key=(bi, 0, count))
                y = pr.target(batch)
                res = red.batch_metrics(out, y, red.batch_loss(out, y), need)
            red.add_batch(totals, samples, res, count, w_loss)
        return totals, samples

    def _score_terms(self, scorer: ChainScorer, C: torch.Tensor, need: bool
                     ) -> tuple[dict, dict]:
        """Metrics of the points C from per-sample loss terms summed over blocks of samples
        (exactly the batch mean, by linearity): over all samples when the batches weigh by
        samples, else each batch with its weight per sample ``t / (c T)``. User metrics see
        each batch whole (``chain_layout`` then makes blocks whole batches)."""
        pr, red = self.problem, self.reducer
        _, block = self.chain_layout()
        kernel = scorer.terms_ok
        sums, samples = red.start(int(C.shape[0]))
        weighted = None if red.by_samples else torch.zeros_like(sums["loss"])
        for bi, (batch, count) in enumerate(zip(pr.batches, pr.counts)):
            batch = pr.cast_batch(batch)
            X = batch[0] if isinstance(batch, (tuple, list)) else batch
            y = pr.target(batch)
            per_sample = None if weighted is None else pr.terms[bi] / (count * pr.n_terms)
            for start in range(0, count, block):
                stop = min(start + block, count)
                Xb = X if (start, stop) == (0, count) else X[start:stop]
                yb = y if (start, stop) == (0, count) else y[start:stop]
                key = (bi, start, stop)
                if kernel:
                    s, hits = scorer.terms(C, Xb, yb, key, self.accuracy)
                else:
                    out = scorer.outputs(C, Xb, key)
                    s, hits = red.sample_terms(out, yb, key)
                red.add_terms(sums, samples, weighted, s, hits, per_sample, need)
                if self.metrics:
                    red.add_block_metrics(sums, samples, out, yb, count, need)
        return red.finish_terms(sums, weighted), samples

    def _unit_point(self, C: torch.Tensor, i: int, need: bool) -> tuple[dict, dict]:
        """The exact scorer at a basis vector (a grid's centre, an interpolation's end), kept:
        a grid asks for its centre twice."""
        j = int(torch.argmax(C[i]))
        hit = self._unit_cache.get(j)
        if hit is None:
            hit = self._score(self.exact, C[i:i + 1], need)
            if len(self._unit_cache) < 64:
                self._unit_cache[j] = hit
        return hit

    # ------------------------------------------------------------------ public
    def evaluate_points(self, coeffs: Any) -> dict[str, np.ndarray]:
        """Metrics at the points ``coeffs @ basis`` (``coeffs``: (n, K) array).

        Returns ``{name: float64 array (n,)}`` for each metric, plus ``NAME_stderr`` when a
        subset of samples is scored. No side effects: the same coefficients, passed in the
        same chunks (``points_per_pass``), give the same bits; a pass of many points may round
        a point differently (last bits) when other points share it.
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
        exact = np.ones_like(unit) if self.scorer is self.exact else unit
        other = np.flatnonzero(~exact).tolist()
        with torch.no_grad():
            for i in np.flatnonzero(exact).tolist():
                res = self._unit_point(C, i, need) if unit[i] else \
                    self._score(self.exact, C[i:i + 1], need)
                self._store(values, errors, [i], *res)
            step = self.chunk_size() if other else 1
            for start, stop in self._passes(np.asarray(coeffs, dtype=np.float64)[other], step):
                idx = other[start:stop]
                rows = (C[idx[0]:idx[-1] + 1] if idx[-1] - idx[0] == len(idx) - 1
                        else C[idx])  # a slice where the rows are consecutive
                self._store(values, errors, idx, *self._score(self.scorer, rows, need))
        out = dict(values)
        for k, e in errors.items():
            out[f"{k}_stderr"] = e
        return out

    def _store(self, values, errors, idx: Sequence[int], totals, samples) -> None:
        for name, t in totals.items():
            values[name][idx] = t.double().cpu().numpy()
        if errors:
            self.reducer.standard_errors(errors, idx, samples, len(self.subset), self.n_total,
                                         self._group_weights if self._groups else None,
                                         self._sample_terms)
