"""The Hessian of the loss with respect to the model's outputs, ``H_L = d^2 L / dz^2``.

For softmax cross-entropy over ``(N, C)`` logits ``z`` with ``p = softmax(z)``, each sample's
block is ``diag(p) - p p^T`` (Bishop 2006, Sec. 4.3.2 and 5.4), so a product is
``p * u - p (p . u)``, and the block factorises as ``S S^T`` with ``S = diag(sqrt p) -
p sqrt(p)^T`` (column c is ``sqrt(p_c) (e_c - p)``); for the squared error it is ``2 I``. Both
are scaled by the reduction: ``1/N`` (cross-entropy) or ``1/numel`` (squared error) for means.
The GGN products (:mod:`._ggn`), the R-operator (:mod:`._rop`) and the exact GGN diagonal
(:mod:`._diagonal`) all use these; any other ``loss_fn(output, target)`` gets its exact autodiff
Hessian in output space.

References:
    Schraudolph 2002 (Gauss-Newton products); Martens 2020 (GGN); Dangel, Kunstner & Hennig 2020
    (the factor ``S`` of BackPACK's DiagGGN).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def loss_scale(kind: str, reduction: str, out: torch.Tensor) -> float:
    """The constant in front of ``H_L``: ``1/N`` or 1 for cross-entropy over ``(N, C)``
    outputs, ``2/numel`` or 2 for the squared error (mean or sum reduction)."""
    if kind == "ce":
        return 1.0 / out.shape[0] if reduction == "mean" else 1.0
    return 2.0 / out.numel() if reduction == "mean" else 2.0


def softmax_hessian_product(p: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """``(diag(p) - p p^T) u`` per sample, for probabilities ``p`` (N, C) and ``U`` (..., N, C)."""
    return p * U - p * (p * U).sum(dim=-1, keepdim=True)


def softmax_hessian_factor(p: torch.Tensor) -> torch.Tensor:
    """``S`` with ``S S^T = diag(p) - p p^T`` per sample, as (N, C, C) with row c the c-th column
    ``sqrt(p_c) (e_c - p)``."""
    eye = torch.eye(p.shape[-1], dtype=p.dtype, device=p.device)
    return p.sqrt()[:, :, None] * (eye[None] - p[:, None, :])


def output_hessian_product(kind: str | None, loss_fn: Callable, reduction: str,
                           out: torch.Tensor, target: Any, U: torch.Tensor) -> torch.Tensor:
    """``H_L u`` for k output-space vectors ``U`` of shape ``(k, *out.shape)``."""
    if kind == "ce" and out.ndim == 2:
        p = torch.softmax(out, dim=-1)
        return loss_scale(kind, reduction, out) * softmax_hessian_product(p, U)
    if kind == "mse":
        return loss_scale(kind, reduction, out) * U
    grad_z = torch.func.grad(lambda z: loss_fn(z, target))
    return torch.func.vmap(lambda u: torch.func.jvp(grad_z, (out,), (u,))[1])(U)
