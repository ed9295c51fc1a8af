"""Pearlmutter's R-operator for sequential MLPs: exact Hessian-vector products without autodiff.

For ``nn.Sequential`` stacks of ``Linear`` layers and elementwise activations (ReLU, Tanh,
Sigmoid, Identity, Flatten) with softmax cross-entropy or MSE, the Hessian-vector product is
computed by one forward pass that carries the directional derivatives ``R{a}`` of every
pre-activation, and one backward pass that carries the back-propagated errors ``delta`` and their
directional derivatives ``R{delta}``:

    R{a_l} = h_{l-1} V_l^T + v_l + R{h_{l-1}} W_l^T,      R{h_l} = s'(a_l) R{a_l}
    R{delta_a} = s''(a) R{a} delta_h + s'(a) R{delta_h}
    R{dW_l} = R{delta_l}^T h_{l-1} + delta_l^T R{h_{l-1}},  R{delta_h} = R{delta_a} W + delta_a V

All k vectors of a block go through each matrix product together. The first layer needs no
``R{h_0}`` term and no input error, which is where most of the saving over double backward
comes from for wide first layers.

References:
    Pearlmutter, 'Fast exact multiplication by the Hessian', Neural Comput. 6:147 (1994).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity)


def _apply(module: nn.Module, a: torch.Tensor) -> torch.Tensor:
    """The activation, never in place (the input is kept for the backward pass)."""
    if isinstance(module, nn.ReLU):
        return torch.relu(a)
    if isinstance(module, nn.Tanh):
        return torch.tanh(a)
    if isinstance(module, nn.Sigmoid):
        return torch.sigmoid(a)
    return a


def _derivatives(module: nn.Module, a: torch.Tensor, h: torch.Tensor):
    """(s'(a), s''(a)) for an elementwise activation with input ``a`` and output ``h``."""
    if isinstance(module, nn.ReLU):
        return (a > 0).to(a.dtype), None
    if isinstance(module, nn.Tanh):
        d1 = 1 - h * h
        return d1, -2 * h * d1
    if isinstance(module, nn.Sigmoid):
        d1 = h * (1 - h)
        return d1, d1 * (1 - 2 * h)
    return None, None  # identity


class SequentialROperator:
    """Exact HVPs for a supported ``nn.Sequential`` (see the module docstring).

    Use :meth:`build` to get one, or ``None`` when the model, parameter selection or loss is not
    covered (the operator then uses autodiff).
    """

    def __init__(self, layers: list[tuple[str, nn.Module, str | None, str | None]], kind: str,
                 reduction: str):
        self.layers = layers
        self.kind = kind
        self.reduction = reduction

    @classmethod
    def build(cls, problem: Any) -> SequentialROperator | None:
        module = problem.module
        if problem.closure or problem.loss_kind not in ("ce", "mse"):
            return None
        if not isinstance(module, nn.Sequential):
            return None
        named = dict(module.named_parameters())
        if list(problem.names) != list(named):
            return None  # a parameter subset or frozen parameters: use autodiff
        layers: list[tuple[str, nn.Module, str | None, str | None]] = []
        seen: set[int] = set()
        for name, sub in module._modules.items():  # named_children() hides repeated modules
            if sub is None or id(sub) in seen:
                return None  # a module used twice (tied weights)
            seen.add(id(sub))
            if isinstance(sub, nn.Linear):
                layers.append(("linear", sub, f"{name}.weight",
                               f"{name}.bias" if sub.bias is not None else None))
            elif isinstance(sub, _ACTIVATIONS):
                layers.append(("act", sub, None, None))
            elif isinstance(sub, nn.Flatten) and sub.start_dim == 1 and sub.end_dim == -1:
                layers.append(("flatten", sub, None, None))
            else:
                return None
        if not any(kind == "linear" for kind, *_ in layers):
            return None
        return cls(layers, problem.loss_kind, problem.reduction)

    def _loss_terms(self, z: torch.Tensor, y: torch.Tensor, Rz: torch.Tensor):
        """``dL/dz`` and ``H_L R{z}`` for the batch loss."""
        if self.kind == "ce":
            if z.ndim != 2 or y.ndim != 1:
                raise NotImplementedError("cross-entropy needs (N, C) outputs and class labels")
            scale = 1.0 / z.shape[0] if self.reduction == "mean" else 1.0
            p = torch.softmax(z, dim=-1)
            g = p.clone()
            g[torch.arange(z.shape[0]), y] -= 1
            Rg = p * Rz - p * (p * Rz).sum(-1, keepdim=True)
            return scale * g, scale * Rg
        if z.shape != y.shape:
            raise NotImplementedError("MSE needs targets of the output's shape")
        scale = 2.0 / z.numel() if self.reduction == "mean" else 2.0
        return scale * (z - y), scale * Rz

    def hvp(self, params: dict[str, torch.Tensor], batch: Any,
            V: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Products with k vectors (leading dim of every ``V`` entry) for one batch."""
        X, y = batch[0], batch[1]
        h, Rh = X, None  # Rh: (k, N, width) or None while it is zero
        tape = []
        for kind, module, wname, bname in self.layers:
            if kind == "linear":
                W = params[wname]
                b = params[bname] if bname else None
                a = h @ W.T + (b if b is not None else 0)
                Ra = torch.matmul(h, V[wname].transpose(1, 2))  # (k, N, out)
                if bname:
                    Ra = Ra + V[bname][:, None, :]
                if Rh is not None:
                    Ra = Ra + Rh @ W.T
                tape.append((kind, module, wname, bname, h, Rh))
                h, Rh = a, Ra
            elif kind == "act":
                out = _apply(module, h)
                d1, d2 = _derivatives(module, h, out)
                tape.append((kind, module, d1, d2, h, Rh))
                h, Rh = out, (Rh if d1 is None or Rh is None else d1 * Rh)
            else:  # flatten
                tape.append((kind, module, tuple(h.shape), None, h, Rh))
                h, Rh = h.flatten(1), (None if Rh is None else Rh.flatten(2))
        delta, Rdelta = self._loss_terms(h, y, Rh)
        out: dict[str, torch.Tensor] = {}
        for index in range(len(tape) - 1, -1, -1):
            kind, module, a1, a2, h_in, Rh_in = tape[index]
            if kind == "linear":
                W = params[a1]
                out[a1] = torch.matmul(Rdelta.transpose(1, 2), h_in)  # (k, out, in)
                if Rh_in is not None:
                    out[a1] = out[a1] + torch.matmul(delta.T, Rh_in)
                if a2:
                    out[a2] = Rdelta.sum(dim=1)
                if index == 0 or all(t[0] != "linear" for t in tape[:index]):
                    break  # no parameters below: the input's error is not needed
                delta, Rdelta = (delta @ W,
                                 Rdelta @ W + torch.matmul(delta, V[a1]))
            elif kind == "act":
                d1, d2, Ra_in = a1, a2, Rh_in
                if d1 is None:
                    continue
                new_R = d1 * Rdelta
                if d2 is not None and Ra_in is not None:
                    new_R = new_R + d2 * Ra_in * delta
                delta, Rdelta = d1 * delta, new_R
            else:
                delta, Rdelta = delta.reshape(a1), Rdelta.reshape(Rdelta.shape[0], *a1)
        return out
