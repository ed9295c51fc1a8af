"""The chain scorer: fully connected chains, many points per pass (see :mod:`._chain`).

Outputs are the chain's feature-major logits ``(n, classes, b)`` handed over as the (n, b,
classes) view the protocol asks for; the reducer reads the layout from the strides. Option: a
``Linear -> ReLU -> Linear`` chain scored by cross-entropy (and accuracy) on the CPU runs as one
compiled pass per chunk of points (:mod:`._fused`, numba), which gives per-sample losses and hits
itself (:class:`~._scorer.TermScorer`). The kernel is imported and compiled inside its fallback:
a missing or broken numba, or a kernel that disagrees with the torch operators on two probe
points, leaves the torch path in place and the reason in :attr:`ChainScorer.kernel_reason`.
"""

from __future__ import annotations

from typing import Any

import torch

from ..problem import Problem
from ._chain import ChainPlan, chain_layout


class ChainScorer:
    """:class:`~._scorer.Scorer` over a :class:`ChainPlan` (raises Unsupported when the model
    is not a supported chain)."""

    def __init__(self, problem: Problem, basis: dict[str, torch.Tensor]):
        self.problem = problem
        self.plan = ChainPlan.build(problem.module, basis)
        self.K = self.plan.K
        self.out_features = self.plan.steps[max(
            i for i, st in enumerate(self.plan.steps) if st.kind == "linear")].module.out_features
        self.terms_ok = False
        #: why the compiled cross-entropy pass is not used, when it was tried and refused
        self.kernel_reason: str | None = None
        self._weights: tuple[torch.Tensor, dict] | None = None

    @property
    def name(self) -> str:
        return "chain + compiled cross-entropy" if self.terms_ok else "chain"

    # ------------------------------------------------------------------ protocol
    def point_weights(self, C: torch.Tensor, compiled: bool = False
                      ) -> dict[str, torch.Tensor] | None:
        """The deeper layers' weights at the points C, formed once per pass (kept while the
        same tensor C is scored block after block); None where the plan runs point by point
        (it forms one point's weights at a time), unless for the ``compiled`` pass."""
        if self.plan.per_point and not compiled:
            return None
        if self._weights is None or self._weights[0] is not C:
            self._weights = (C, self.plan.point_weights(C))
        return self._weights[1]

    def outputs(self, C: torch.Tensor, X: Any, key: object = None) -> torch.Tensor:
        weights = self.point_weights(C) if key is not None else None
        return self.plan.outputs(C, X, key=key, weights=weights,
                                 reuse=key is not None).transpose(1, 2)

    def terms(self, C: torch.Tensor, X: torch.Tensor, y: torch.Tensor, key: object,
              accuracy: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-sample cross-entropy (n, b) and hits of the points C on (X, y), in one compiled
        pass (:func:`._fused.ce_pass`)."""
        from . import _fused

        plan = self.plan
        weights = self.point_weights(C, compiled=True)
        first, last = plan.fused_head()
        n = int(X.shape[0])
        A = plan._first_layer(first, X.reshape(n, -1), key, True)
        lin0, lin1 = first.module, last.module
        b1 = lin0.bias if first.bias is None and lin0.bias is not None else None
        P = int(C.shape[0])
        W = weights[last.weight] if last.weight is not None else \
            lin1.weight.unsqueeze(0).expand(P, -1, -1)
        if last.bias is not None:
            b2 = weights[last.bias]
        elif lin1.bias is not None:
            b2 = lin1.bias.unsqueeze(0).expand(P, -1)
        else:
            b2 = torch.zeros(P, lin1.out_features, dtype=A.dtype, device=A.device)
        return _fused.ce_pass(A, C, b1, W, b2, y, accuracy)

    # ------------------------------------------------------------------ the compiled option
    def enable_kernel(self, accuracy: bool) -> bool:
        """Turn on the compiled cross-entropy pass if this chain has its shape and it agrees
        with the torch operators at two points (a structural choice: the same model and data
        always decide the same way). The caller checks the loss (plain cross-entropy with
        labels in range, no user metrics)."""
        pr = self.problem
        self.terms_ok = False
        if pr.device.type != "cpu" or pr.dtype not in (torch.float32, torch.float64) \
                or self.plan.fused_head() is None:
            return False
        try:
            from . import _fused  # numba: absent or broken means the torch path

            if not _fused.supported(self.K, self.plan.fused_head()[1].module.out_features,
                                    pr.dtype):
                return False
            self.terms_ok = self._probe_kernel(accuracy)
        except Exception as exc:  # noqa: BLE001 - no numba, or it cannot compile here
            self.terms_ok = False
            self.kernel_reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return self.terms_ok

    def _probe_kernel(self, accuracy: bool) -> bool:
        """The compiled pass against the chain's torch operators at two points on a few
        samples (compiling it on first use); a disagreement turns it off."""
        pr = self.problem
        batch = pr.cast_batch(pr.batches[0])
        X = (batch[0] if isinstance(batch, (tuple, list)) else batch)[:64]
        y = pr.target(batch)[:64].long()
        rows = [[1.0] + [0.37] * (self.K - 1), [0.8] + [-0.21] * (self.K - 1)]
        C = torch.tensor(rows, dtype=pr.dtype, device=pr.device)
        weights = self.plan.point_weights(C)
        self._weights = (C, weights)
        s, hits = self.terms(C, X, y, None, True)
        out = self.plan.outputs(C, X, key=None, weights=weights)
        P, n = int(C.shape[0]), int(X.shape[0])
        ref = -torch.log_softmax(out, 1).gather(1, y[None, None].expand(P, 1, n)).squeeze(1)
        tol = 1e-9 if pr.dtype == torch.float64 else 1e-3
        err = float(((s - ref).abs() / (1 + ref.abs())).max())
        self._weights = None
        if not err <= tol:
            self.kernel_reason = f"the compiled pass differs from the operators by {err:.3g}"
            return False
        # hits: only where the top two logits are not within rounding of each other
        top2 = out.topk(2, dim=1).values
        clear = (top2[:, 0] - top2[:, 1]) > tol * (1 + top2[:, 0].abs())
        want = (out.argmax(1) == y).to(hits.dtype)
        if not bool((hits == want)[clear].all()):
            self.kernel_reason = "the compiled pass's accuracy differs from argmax"
            return False
        return True

    # ------------------------------------------------------------------ passes
    def layout(self, K: int, n_max: int, budget: int, max_memory: int | None,
               points: int | None, whole_batches: bool, accuracy: bool) -> tuple[int, int]:
        """(points per pass, samples per block): cache-sized passes (:func:`chain_layout`), or
        for the compiled pass, what fits in ``max_memory`` (default 64 MiB)."""
        pr = self.problem
        itemsize = torch.finfo(pr.dtype).bits // 8
        plan = self.plan
        fixed = points
        points, block = chain_layout(plan.widths, plan.first_width, K, n_max, itemsize, budget,
                                     fixed, plan.per_point)
        if whole_batches:
            block = n_max  # user metrics and losses see whole batches
        if self.terms_ok:
            # one compiled pass keeps its working set in cache by itself; what a pass holds is
            # the first layer's products (K x hidden per sample), each point's last layer (and
            # the temporary that mixes it) and its per-sample losses (and hits)
            mem = int(max_memory) if max_memory is not None else 64 << 20
            first, last = plan.fused_head()
            hidden, classes = first.module.out_features, last.module.out_features
            per_sample = K * hidden * itemsize
            block = n_max if per_sample * n_max <= mem else min(max(mem // per_sample, 256),
                                                                 n_max)
            if fixed is None:
                per_point = (2 * (classes * hidden + classes)
                             + block * (2 if accuracy else 1)) * itemsize
                points = int(min(1024, max(1, mem // per_point)))
        return points, block
