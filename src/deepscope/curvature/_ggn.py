"""Generalised Gauss-Newton and empirical Fisher operators, exact and matrix-free.

With outputs ``z = f(theta)`` (shape ``(n, C)``), output Jacobian ``J = dz/dtheta`` and loss
Hessian with respect to the outputs ``H_L = d^2 L / dz^2``:

- ``GGNOperator``: ``G v = J^T H_L J v``, computed as a Jacobian-vector product (forward mode), a
  product with ``H_L`` and a vector-Jacobian product (reverse mode). For softmax cross-entropy
  ``H_L`` is analytic, ``(diag(p) - p p^T)`` per sample; for MSE it is ``2 I`` (both scaled by the
  reduction); for any other ``loss_fn(output, target)`` it is the exact autodiff Hessian in output
  space. No finite differences anywhere.
- ``EmpiricalFisherOperator``: ``F v = (1/N) sum_i g_i g_i^T v`` with ``g_i`` the gradient of
  sample i's loss ``l_i`` (mean reduction; the plain sum for sum reduction), computed as
  ``J^T (r (r^T J v))`` with ``r_i = dl_i/dz_i``, never materialising per-sample gradients.

References:
    Schraudolph 2002 (Gauss-Newton products); Martens 2020, 'New insights and perspectives on the
    natural gradient method', JMLR 21:146 (GGN and Fisher); Kunstner, Hennig & Balles 2019 (the
    limitations of the empirical Fisher).
"""

from __future__ import annotations

from typing import Any

import torch

from ._hessian import ModelCurvatureOperator
from ._output_hessian import output_hessian_product


class _OutputSpaceOperator(ModelCurvatureOperator):
    """Shared pieces: J V by forward mode, J^T W by reverse mode, batched over k vectors."""

    needs_output_loss = True
    #: J V by forward mode, H_L (analytic for "ce"/"mse", else autodiff), J^T W by reverse mode
    mode = "jvp-vjp"

    def _jacobian_products(self, batch: Any, V: dict[str, torch.Tensor]):
        problem = self.problem
        p0 = problem.params

        def f(p: dict[str, torch.Tensor]) -> torch.Tensor:
            return problem.output(p, batch)

        JV = torch.func.vmap(lambda v: torch.func.jvp(f, (p0,), (v,))[1])(V)
        out, vjp_fn = torch.func.vjp(f, p0)
        return out, JV, lambda W: torch.func.vmap(vjp_fn)(W)[0]


class GGNOperator(_OutputSpaceOperator):
    """Exact generalised Gauss-Newton matrix ``G = J^T H_L J`` over all samples.

    Same constructor as :class:`~deepscope.curvature._hessian.HessianOperator`; the
    loss must be ``loss_fn(output, target)`` (``"ce"``, ``"mse"`` or any such callable). For MSE,
    ``G`` equals the Hessian of a model that is linear in its parameters.

    References:
        Schraudolph 2002; Martens 2020.
    """

    def _batch_product(self, batch: Any, V: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        problem = self.problem
        out, JV, jt = self._jacobian_products(batch, V)
        HJV = output_hessian_product(problem.loss_kind, problem.loss_fn, problem.reduction,
                                     out.detach(), problem.target(batch), JV)
        return jt(HJV)


class EmpiricalFisherOperator(_OutputSpaceOperator):
    """The empirical Fisher ``F = (1/N) sum_i grad l_i grad l_i^T`` over all samples.

    ``l_i`` is sample i's loss with the same per-sample form as ``loss_fn`` (mean reduction:
    ``L_b = mean_i l_i``, so ``dl_i/dz_i = n_b dL_b/dz_i``). With ``reduction="sum"`` the ``1/N`` is
    dropped. Batches must be ``(X, y)`` pairs.

    References:
        Martens 2020; Kunstner, Hennig & Balles, NeurIPS 2019.
    """

    def _batch_weight(self, count: int, weight: float) -> float:
        return 1.0 / self.problem.n_samples if self.problem.reduction == "mean" else 1.0

    def _batch_product(self, batch: Any, V: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        problem = self.problem
        out, JV, jt = self._jacobian_products(batch, V)
        z = out.detach().requires_grad_(True)
        with torch.enable_grad():
            batch_loss = problem.loss_fn(z, problem.target(batch))
            r = torch.autograd.grad(batch_loss, z)[0]
        if problem.reduction == "mean":
            r = r * out.shape[0]
        n = out.shape[0]
        r_flat = r.reshape(n, -1)
        s = (JV.reshape(JV.shape[0], n, -1) * r_flat).sum(dim=-1)  # (k, n): g_i^T v
        W = (s.unsqueeze(-1) * r_flat).reshape(JV.shape)
        return jt(W)
