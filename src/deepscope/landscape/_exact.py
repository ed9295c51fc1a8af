"""The exact scorer: one ``torch.func.functional_call`` per point.

Any module, any batch the model takes (dict batches included), closure losses
``loss_fn(model, batch)`` (through :class:`~deepscope.problem.FunctionalModel`), and BatchNorm
statistics re-estimated at every point (``bn="recompute"``: one pass in training mode over the
evaluation data with a sample-weighted cumulative average, as in Garipov et al. 2018). The
reference every other scorer is probed against; a point equal to one basis vector goes through it
to reproduce that model's loss bit for bit.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..errors import UserInputError
from ..problem import FunctionalModel, Problem


class ExactScorer:
    """Per-point outputs (and closure losses) of ``problem``'s model at ``C @ basis``."""

    name = "exact"

    def __init__(self, problem: Problem, basis: torch.Tensor, recompute_bn: bool):
        self.problem = problem
        self.basis = basis
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                     for m in problem.module.modules())
        #: a private copy whose BatchNorm layers run in training mode to re-estimate statistics
        self._rc_module = copy.deepcopy(problem.module) if recompute_bn and has_bn else None
        self._point: tuple[bytes, dict[str, torch.Tensor]] | None = None

    @property
    def recomputes(self) -> bool:
        return self._rc_module is not None

    def named(self, row: torch.Tensor) -> tuple[nn.Module, dict[str, torch.Tensor]]:
        """The module to call and its parameters (and recomputed buffers) at one point (K,)."""
        key = row.detach().cpu().numpy().tobytes()
        if self._point is not None and self._point[0] == key:
            module = self._rc_module if self._rc_module is not None else self.problem.module
            return module, self._point[1]
        params = self.problem.split(row @ self.basis)
        named = dict(params)
        module = self.problem.module
        if self._rc_module is not None:
            module = self._rc_module
            named.update(self._recompute_buffers(params))
        self._point = (key, named)
        return module, named

    def outputs(self, C: torch.Tensor, X: Any, key: object = None) -> torch.Tensor:
        outs = []
        for p in range(int(C.shape[0])):
            module, named = self.named(C[p])
            outs.append(torch.func.functional_call(module, named, (X,)))
        return outs[0].unsqueeze(0) if len(outs) == 1 else torch.stack(outs)

    def closure_losses(self, C: torch.Tensor, batch: Any) -> torch.Tensor:
        """``loss_fn(model at point p, batch)`` for a closure loss: (n,)."""
        losses = []
        for p in range(int(C.shape[0])):
            module, named = self.named(C[p])
            loss = self.problem.loss_fn(FunctionalModel(module, named), batch)
            if loss.ndim != 0:
                raise UserInputError(f"loss_fn must return a scalar, got {tuple(loss.shape)}")
            losses.append(loss)
        return torch.stack(losses)

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
