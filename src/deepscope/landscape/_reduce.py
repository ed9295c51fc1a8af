"""The reducer: loss, accuracy and user metrics of many points from their outputs.

Every scorer (:mod:`._scorer`) hands over model outputs (n, b, ...) or per-sample loss terms;
everything else is decided here, once:

- The loss. On whole batches it is ``loss_fn`` itself (one call per point, or vmapped over the
  points), so a point reproduces ``Problem.loss`` bit for bit; batches weigh by their loss terms
  (``Problem.weights``), so the loss is that of all the data as one batch. When the loss is a
  mean (or sum) of per-sample terms (:meth:`Reducer.per_sample` : plain cross-entropy with labels
  in range, MSE with targets of the output's shape), a scorer may split batches into blocks of
  samples: per-sample terms are summed and divided by the sample count at the end (by the
  batches' terms per sample when they do not weigh by samples).
- Cross-entropy per sample: ``-log_softmax`` over the class axis, gathered at the label, in
  whichever memory layout the outputs come (a feature-major layout reduces over a short strided
  axis with long contiguous rows, several times faster).
- Accuracy: ``argmax(output) == label``; ties go to the first maximal class and a NaN logit
  counts as the maximum (torch.argmax's rules). On feature-major logits it is read off the
  log-softmax (the target against the other classes' masked maximum), and the columns where they
  tie or the loss is NaN are settled by argmax itself.
- User metrics ``fn(output, target)``, batch means weighted by samples.
- Standard errors under a random subset of samples (:meth:`Reducer.standard_errors`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import UserInputError
from ..problem import Problem, batch_size
from ._workspace import Workspace


def vmapped(fn: Callable, out: torch.Tensor, y: Any) -> torch.Tensor:
    """``fn(out[p], y)`` for every point p."""
    try:
        return torch.func.vmap(lambda o: fn(o, y))(out)
    except (RuntimeError, ValueError, TypeError):
        return torch.stack([fn(out[p], y) for p in range(out.shape[0])])


def feature_major(out: torch.Tensor) -> bool:
    """Whether outputs (n, b, classes) are a view of feature-major storage (n, classes, b)."""
    return out.ndim == 3 and out.stride(1) == 1 and out.transpose(1, 2).is_contiguous()


class Reducer:
    """Metrics of the points of one evaluator (see the module docstring).

    Running sums are ``(totals, samples)``: ``{name: (n,) tensor}`` and ``{name: [per-sample
    (n, b) tensors]}`` (the latter only when standard errors are needed).
    """

    def __init__(self, problem: Problem, accuracy: bool, metrics: dict[str, Callable]):
        self.problem = problem
        self.accuracy = accuracy
        self.metrics = metrics
        self.names = ["loss"] + (["accuracy"] if accuracy else []) + list(metrics)
        pr = problem
        #: whether every batch's loss weight is its share of the samples (terms proportional to
        #: samples, e.g. one class label per sample): per-sample terms then sum over samples
        self.by_samples = pr.reduction == "sum" or all(
            t * pr.n_samples == c * pr.n_terms for t, c in zip(pr.terms, pr.counts))
        self._per_sample: dict[int, bool] = {}
        self._masks: dict = {}
        self.workspace = Workspace()

    def start(self, n: int) -> tuple[dict, dict]:
        pr = self.problem
        return ({k: torch.zeros(n, dtype=pr.dtype, device=pr.device) for k in self.names},
                {k: [] for k in self.names})

    # ------------------------------------------------------------------ whole batches
    def batch_loss(self, out: torch.Tensor, y: Any) -> torch.Tensor:
        """``loss_fn`` of each point on a whole batch: (n,)."""
        fn = self.problem.loss_fn
        if out.shape[0] == 1:
            loss = fn(out[0], y)
            if loss.ndim != 0:
                raise UserInputError(f"loss_fn must return a scalar, got {tuple(loss.shape)}")
            return loss.reshape(1)
        return vmapped(fn, out, y)

    def sample_losses(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample loss (n, b) whose mean (or sum) is the batch loss, for standard errors."""
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

    def batch_metrics(self, out: torch.Tensor, y: Any, loss: torch.Tensor | None, need: bool
                      ) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """{name: (batch values (n,), per-sample values (n, b) or None)} for outputs (n, b, ...)
        and the batch loss (None: user metrics only)."""
        pr = self.problem
        res = {}
        if loss is not None:
            res["loss"] = (loss, self.sample_losses(out, y) if need else None)
            if self.accuracy:
                hits = (out.argmax(-1) == y).to(pr.dtype)
                res["accuracy"] = (hits.mean(1), hits)
        for name, fn in self.metrics.items():
            samples = None
            if need:
                def one(o, t, fn=fn):
                    return fn(o.unsqueeze(0), t.unsqueeze(0))
                samples = torch.func.vmap(torch.func.vmap(one), in_dims=(0, None))(out, y)
            res[name] = (vmapped(fn, out, y), samples)
        return res

    def add_batch(self, totals: dict, samples: dict, batch_res: dict, count: int,
                  w_loss: float) -> None:
        """Add a batch's metrics: the loss with weight ``w_loss`` (its share of the loss
        terms, 1 for sums), the others with the batch's share of the samples."""
        w = count / self.problem.n_samples
        for name, (values, s) in batch_res.items():
            totals[name] = totals[name] + (w_loss if name == "loss" else w) * values.to(
                self.problem.dtype)
            if s is not None:
                samples[name].append(s)

    # ------------------------------------------------------------------ per-sample terms
    def per_sample(self, out_features: int) -> bool:
        """Whether the loss is a mean (or sum) of per-sample terms computed here: plain
        cross-entropy with integer labels in range in every batch, or MSE with targets of the
        output's shape. Anything else (a callable loss, weighted or ignored classes,
        broadcasting targets) is scored by ``loss_fn`` on whole batches."""
        hit = self._per_sample.get(out_features)
        if hit is not None:
            return hit
        pr = self.problem
        ok = pr.loss_kind in ("ce", "mse")
        for batch in pr.batches:
            if not ok:
                break
            y = pr.target(batch)
            if not isinstance(y, torch.Tensor):
                ok = False
            elif pr.loss_kind == "ce":
                # (labels equal to ignore_index already made loss_kind None: Problem)
                ok = (y.ndim == 1 and not y.is_floating_point() and not y.is_complex()
                      and y.dtype != torch.bool
                      and not bool(((y < 0) | (y >= out_features)).any()))
            else:
                ok = tuple(y.shape) == (batch_size(batch), out_features)
        self._per_sample[out_features] = ok
        return ok

    def sample_terms(self, out: torch.Tensor, y: torch.Tensor, key: object
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-sample loss (n, b) and accuracy hits (n, b) of a block, for a loss that
        :meth:`per_sample` passed. ``key`` names the block (its label masks are kept)."""
        pr = self.problem
        if not feature_major(out):
            hits = (out.argmax(-1) == y).to(pr.dtype) if self.accuracy else None
            return self.sample_losses(out, y), hits
        fm = out.transpose(1, 2)                 # (n, classes, b), contiguous
        hits = None
        if pr.loss_kind == "ce":
            y = y.long()
            s, top, tie = self._ce_feature_major(fm, y, key)
            if self.accuracy:
                hits = self._hits(fm, s, top, tie, y)
            return s, hits
        d = fm - y.T
        d = d.mul_(d)
        if self.accuracy:
            hits = (fm.argmax(1) == y).to(pr.dtype)
        return (d.mean(1) if pr.reduction == "mean" else d.sum(1)), hits

    def _ce_feature_major(self, out: torch.Tensor, y: torch.Tensor, key: object):
        """Per-sample cross-entropy (n, b) of feature-major logits (n, C, b); with accuracy,
        also whether the target's logit is above all others (``top``) or ties with the largest
        other (``tie``).

        ``log_softmax`` over the class axis of the feature-major logits is one fused pass (about
        the cost of ``exp`` alone, measured); the others' maximum comes from one reduction over
        the logits with the target masked to -inf, so accuracy needs no argmax over the short,
        strided class axis.
        """
        P, C, n = out.shape
        hit = self._masks.get(key) if key is not None else None
        if hit is None:
            cols = torch.arange(n, device=y.device)
            mask = torch.zeros(C, n, dtype=out.dtype, device=out.device)
            mask[y, cols] = float("-inf")
            hit = (mask, y * n + cols)
            if key is not None and len(self._masks) < 4096:
                self._masks[key] = hit
        mask, flat = hit
        logp = self.workspace.get("log_softmax", tuple(out.shape), out)
        torch.ops.aten._log_softmax.out(out, 1, False, out=logp)
        picked = logp.view(P, C * n).index_select(1, flat)
        s = picked.neg()
        if not self.accuracy:
            return s, None, None
        # log_softmax shifts each column by one number, monotonically after rounding: a strict
        # order in logp is one in the logits; ties in logp are settled on the logits (argmax)
        m_other = logp.add_(mask).amax(1)
        return s, picked > m_other, picked == m_other

    def _hits(self, out: torch.Tensor, s: torch.Tensor, top: torch.Tensor, tie: torch.Tensor,
              y: torch.Tensor) -> torch.Tensor:
        """``argmax(out, 1) == y`` from the comparison of the target's logit with the other
        classes' maximum. Where they tie, argmax returns the first maximal class, and where a
        logit is NaN (then the loss is NaN) argmax points at it: those few columns are settled
        by argmax itself."""
        odd = tie | torch.isnan(s)
        if bool(odd.any()):
            p_idx, s_idx = torch.nonzero(odd, as_tuple=True)
            top = top.clone()
            top[p_idx, s_idx] = out[p_idx, :, s_idx].argmax(1) == y[s_idx]
        return top.to(self.problem.dtype)

    def add_terms(self, sums: dict, samples: dict, weighted: torch.Tensor | None,
                  s: torch.Tensor, hits: torch.Tensor | None, per_sample: float | None,
                  need: bool) -> None:
        """Add a block's per-sample loss terms and hits (``per_sample``: the loss weight of
        each sample, ``t / (c T)``, when the batches do not weigh by samples)."""
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

    def add_block_metrics(self, sums: dict, samples: dict, out: torch.Tensor, y: Any,
                          count: int, need: bool) -> None:
        """User metrics of a whole batch scored in per-sample mode (summed by samples)."""
        res = self.batch_metrics(out, y, None, need)
        for name in self.metrics:
            values, per = res[name]
            sums[name] += values.to(self.problem.dtype) * count
            if per is not None:
                samples[name].append(per)

    def finish_terms(self, sums: dict, weighted: torch.Tensor | None) -> dict:
        """Means over the samples of the per-sample sums (the loss as the reduction says)."""
        pr = self.problem
        totals = {k: v / pr.n_samples for k, v in sums.items()}
        if pr.reduction == "sum":
            totals["loss"] = sums["loss"]
        elif weighted is not None:
            totals["loss"] = weighted
        return totals

    # ------------------------------------------------------------------ standard errors
    def standard_errors(self, errors: dict, idx: Sequence[int], samples: dict, m: int,
                        n_total: int, group_weights: list[float] | None,
                        sample_terms: list[torch.Tensor] | None) -> None:
        """``NAME_stderr`` of a subset of ``m`` of ``n_total`` samples, with the
        finite-population correction, into ``errors[name][idx]``."""
        fpc = math.sqrt(max(1.0 - m / n_total, 0.0))
        for name, parts in samples.items():
            if parts and self.problem.closure:
                if not group_weights or len(parts) < 2:
                    continue  # no per-sample or per-group values: the error stays NaN
                # batch means over random groups of the subset: the subset mean is
                # sum_g w_g L_g with w_g = t_g / T (the groups' shares of the loss terms);
                # Var ~ G/(G-1) sum_g w_g^2 (L_g - mean)^2
                L = torch.cat(parts, dim=1).double()
                w = torch.tensor(group_weights, dtype=torch.float64)
                mean = (L * w).sum(1, keepdim=True)
                G = len(parts)
                var = G / (G - 1) * ((L - mean) ** 2 * w ** 2).sum(1)
                errors[name][idx] = (var.sqrt() * fpc).cpu().numpy()
            elif parts and name == "loss" and sample_terms is not None:
                # a ratio of sums over samples, L = sum_i a_i / sum_i t_i with a_i = t_i s_i
                # (s_i: the sample's mean over its t_i terms): linearised variance
                # m/(m-1) sum_i (a_i - L t_i)^2 / (sum_i t_i)^2
                t = torch.cat(sample_terms).to(self.problem.device)
                s = torch.cat(parts, dim=1).double()
                a = torch.where(t > 0, s * t, torch.zeros((), dtype=s.dtype))
                ratio = a.sum(1, keepdim=True) / t.sum()
                var = m / (m - 1) * ((a - ratio * t) ** 2).sum(1) / t.sum() ** 2
                errors[name][idx] = (var.sqrt() * fpc).cpu().numpy()
            elif parts:
                s = torch.cat(parts, dim=1).double()
                errors[name][idx] = (s.std(dim=1, unbiased=True) / math.sqrt(m) * fpc
                                     ).cpu().numpy()
