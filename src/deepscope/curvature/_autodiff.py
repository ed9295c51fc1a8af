"""Hessian-vector products by automatic differentiation, and attention that supports them.

Three ways to multiply the Hessian of a scalar ``fn(params, aux)`` by k vectors:

- :func:`hvp_forward_over_reverse`: ``torch.func.jvp`` of ``torch.func.grad``, the k vectors
  through ``vmap`` in one pass.
- :func:`hvp_reverse_over_reverse`: double backward; the first-order graph (the forward pass and
  the gradient with ``create_graph=True``) is built once per call and shared by the k vectors.
- :class:`RetainedGraph`: the same double backward on a first-order graph built ONCE and kept
  across calls (an operator's parameters and data never change), so a product is only the
  second backward: the same operations as :func:`hvp_reverse_over_reverse`, bit for bit.

:func:`differentiable_attention` selects the attention kernels that both modes can go through.

References:
    Pearlmutter, 'Fast exact multiplication by the Hessian', Neural Comput. 6:147 (1994).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

ScalarFn = Callable[[dict[str, torch.Tensor], tuple[torch.Tensor, ...]], torch.Tensor]


def hvp_forward_over_reverse(fn: ScalarFn, p0: dict[str, torch.Tensor],
                             V: dict[str, torch.Tensor],
                             aux: tuple[torch.Tensor, ...] = ()) -> dict[str, torch.Tensor]:
    """Products of the Hessian of ``fn(p, aux)`` at ``p0`` with k vectors (leading dim of ``V``).

    The floating tensors ``aux`` (inputs, targets) enter as primals with zero tangents: some
    backward formulas (MSE, softplus) write into the tangent of a tensor that has none, which
    forward-mode AD refuses for its immutable zero tangents.
    """
    grad_fn = torch.func.grad(fn)
    zeros = tuple(torch.zeros_like(a) for a in aux)

    def one(v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return torch.func.jvp(grad_fn, (p0, aux), (v, zeros))[1]

    k = next(iter(V.values())).shape[0]
    if k == 1:
        return {n: t.unsqueeze(0) for n, t in one({n: t[0] for n, t in V.items()}).items()}
    return torch.func.vmap(one)(V)


def hvp_reverse_over_reverse(fn: ScalarFn, p0: dict[str, torch.Tensor],
                             V: dict[str, torch.Tensor],
                             aux: tuple[torch.Tensor, ...] = ()) -> dict[str, torch.Tensor]:
    """The same products by double backward; the first-order graph is shared by all vectors."""
    names = list(p0)
    leaves = [p0[n].detach().requires_grad_(True) for n in names]
    k = next(iter(V.values())).shape[0]
    with torch.enable_grad():
        value = fn(dict(zip(names, leaves)), aux)
        grads = (
            torch.autograd.grad(value, leaves, create_graph=True, allow_unused=True,
                                materialize_grads=True)
            if value.requires_grad else ()
        )
        active = [i for i, g in enumerate(grads) if g.requires_grad]
        if not active:
            return {n: torch.zeros_like(V[n]) for n in names}
        columns = []
        for j in range(k):
            columns.append(torch.autograd.grad(
                [grads[i] for i in active], leaves,
                grad_outputs=[V[names[i]][j] for i in active],
                retain_graph=j < k - 1, allow_unused=True, materialize_grads=True,
            ))
    return {n: torch.stack([col[i] for col in columns]) for i, n in enumerate(names)}


HVP = {"forward-over-reverse": hvp_forward_over_reverse,
        "reverse-over-reverse": hvp_reverse_over_reverse}


class RetainedGraph:
    """The first-order graph of one batch, built once; each product is one more backward.

    ``hvp`` runs the second backward of :func:`hvp_reverse_over_reverse` on the kept graph
    (``retain_graph=True``), so its products equal that function's bit for bit.
    """

    def __init__(self, fn: ScalarFn, p0: dict[str, torch.Tensor],
                 aux: tuple[torch.Tensor, ...] = ()):
        self.names = list(p0)
        self.leaves = [p0[n].detach().requires_grad_(True) for n in self.names]
        with torch.enable_grad():
            value = fn(dict(zip(self.names, self.leaves)), aux)
            grads = (
                torch.autograd.grad(value, self.leaves, create_graph=True, allow_unused=True,
                                    materialize_grads=True)
                if value.requires_grad else ()
            )
        self.active = [i for i, g in enumerate(grads) if g.requires_grad]
        self.grads = [grads[i] for i in self.active]

    def hvp(self, V: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        names = self.names
        if not self.active:
            return {n: torch.zeros_like(V[n]) for n in names}
        k = next(iter(V.values())).shape[0]
        with torch.enable_grad():
            columns = [torch.autograd.grad(
                self.grads, self.leaves, grad_outputs=[V[names[i]][j] for i in self.active],
                retain_graph=True, allow_unused=True, materialize_grads=True,
            ) for j in range(k)]
        return {n: torch.stack([col[i] for col in columns]) for i, n in enumerate(names)}


def saved_bytes(build: Callable[[], Any]) -> tuple[Any, int]:
    """``build()`` and the bytes of the distinct storages its autograd graph saves."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = build()
    return result, sum(storages.values())


def has_attention(module: nn.Module) -> bool:
    """Whether the model has an attention layer: ``nn.MultiheadAttention``, or a submodule whose
    class name contains "Attention" (Hugging Face's ``GPT2Attention``, ``BertSelfAttention``, ...).
    """
    return any(isinstance(m, nn.MultiheadAttention) or "attention" in type(m).__name__.lower()
               for m in module.modules())


@contextlib.contextmanager
def differentiable_attention() -> Iterator[None]:
    """Attention that automatic differentiation can go through twice and in forward mode.

    Selects the math backend of ``scaled_dot_product_attention`` (the fused flash and
    memory-efficient kernels have neither forward-mode AD nor a double backward) and turns off the
    fused fast path of ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` (no forward-mode
    AD); the previous settings come back on exit.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
