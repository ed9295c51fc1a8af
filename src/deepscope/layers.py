"""Models as a sequence of layers: the one description the fast paths read.

The Pearlmutter R-operator (curvature), the exact GGN diagonal and the landscape chain path run
on models whose forward is a plain composition of layers. They learn that composition from one
walker, :func:`layer_sequence`, and never from a model's class: ``nn.Sequential`` is unrolled,
and any module may describe its own forward by a method ``sequential_layers()`` returning
``(name prefix, module)`` pairs in forward order, where the prefix is the path of the module's
parameters relative to the describing module (``"layers.0."``; ``""`` for a module without
parameters). A parameter-free step applied to the raw input (a reshape) is an
:class:`InputTransform`. A model that describes itself must compute exactly the composition it
describes; models that do not describe themselves take the general (autodiff) paths.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

DESCRIBE = "sequential_layers"


class InputTransform(nn.Module):
    """A parameter-free function of the model's input (e.g. reshaping flat images)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], name: str = "input"):
        super().__init__()
        self.fn = fn
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


def describes_itself(module: nn.Module) -> bool:
    """Whether ``module`` is an ``nn.Sequential`` or defines ``sequential_layers()``."""
    return type(module) is nn.Sequential or callable(getattr(module, DESCRIBE, None))


def layer_sequence(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]] | None:
    """``(parameter-name prefix, layer)`` pairs in forward order, or None if a Sequential holds
    None. A module that neither is a Sequential nor describes itself is one layer."""
    if type(module) is nn.Sequential:
        out: list[tuple[str, nn.Module]] = []
        for name, sub in module._modules.items():  # named_children() hides repeated modules
            if sub is None:
                return None
            inner = layer_sequence(sub, f"{prefix}{name}.")
            if inner is None:
                return None
            out.extend(inner)
        return out
    describe = getattr(module, DESCRIBE, None)
    if callable(describe):
        out = []
        for rel, sub in describe():
            inner = layer_sequence(sub, f"{prefix}{rel}")
            if inner is None:
                return None
            out.extend(inner)
        return out
    return [(prefix, module)]
