"""Frozen BatchNorm folded into the layer before it, as inference engines do.

In evaluation mode a BatchNorm layer is the per-channel affine map
``y = (x - mean) * gamma / sqrt(var + eps) + beta`` with fixed running statistics, so when ``x`` is
the output of a convolution ``x = W * u + b`` used by nothing else, the pair is one
layer with ``W' = W * s`` and ``b' = (b - mean) * s + beta``, ``s = gamma / sqrt(var + eps)``
(Jacob et al. 2018, section 3.2). The folded network does one pass over the activations less per
BatchNorm layer and gives the same outputs up to rounding.

:func:`find_pairs` reads the pairs from the module's own graph: ``torch.fx`` traces the module,
or, where its forward cannot be traced (shape tests on the input, say), each child in turn; a
pair is a BatchNorm call whose only input is a convolution call with no other user (a
linear layer is not folded: a BatchNorm after it normalises its axis 1, which is its output axis
only for 2-D inputs).
:func:`fold` computes the folded weights of many points at once from each point's parameters.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import fx, nn

from ..errors import UserInputError

_BN = nn.modules.batchnorm._BatchNorm
_FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class NotFoldable(UserInputError):
    """The module has a BatchNorm layer that cannot be folded (the reason is the message)."""


@dataclass(frozen=True)
class Pair:
    """A layer (``layer``: qualified name) whose only user is the BatchNorm ``norm``."""

    layer: str
    norm: str


def _calls(module: nn.Module, prefix: str, out: list, seen: set) -> None:
    """The module calls of ``module``'s forward graph: (qualified name, node) per call, tracing
    each child whose parent cannot be traced."""
    try:
        graph = fx.symbolic_trace(module).graph
    except Exception:  # noqa: BLE001 - any tracing failure: look inside the children
        for name, child in module.named_children():
            _calls(child, f"{prefix}{name}.", out, seen)
        return
    for node in graph.nodes:
        if node.op == "call_module":
            out.append((prefix + str(node.target), node, prefix))
    seen.add(prefix)


def _traced_calls(module: nn.Module) -> list:
    calls: list = []
    _calls(module, "", calls, set())
    return calls


_FRESH_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, _BN)
_FRESH_OPS = {operator.add, operator.sub, operator.mul, torch.add, torch.sub, torch.mul}
_FRESH_METHODS = {"add", "sub", "mul"}


def _fresh(node: fx.Node, named: dict, prefix: str) -> bool:
    """Whether the node's output is a new tensor (a layer with weights or an arithmetic
    operator), never a view of another tensor (of the data, say)."""
    if node.op == "call_module":
        return isinstance(named.get(prefix + str(node.target)), _FRESH_MODULES)
    if node.op == "call_function":
        return node.target in _FRESH_OPS
    return node.op == "call_method" and node.target in _FRESH_METHODS


def inplace_activations(module: nn.Module) -> list[str]:
    """ReLU modules of ``module`` that may run in place: at every call, their input is a new
    tensor (made by a layer with weights or an arithmetic operator inside a traced graph, not a
    view) used by nothing else."""
    named = dict(module.named_modules())
    safe: dict[str, bool] = {}
    for name, node, prefix in _traced_calls(module):
        if not isinstance(named.get(name), nn.ReLU):
            continue
        src = node.args[0] if len(node.args) == 1 and not node.kwargs else None
        ok = isinstance(src, fx.Node) and len(src.users) == 1 and _fresh(src, named, prefix)
        safe[name] = safe.get(name, True) and ok
    relus = {n for n, m in named.items() if isinstance(m, nn.ReLU)}
    return sorted(n for n, ok in safe.items() if ok and n in relus)


def find_pairs(module: nn.Module) -> list[Pair]:
    """The (layer, BatchNorm) pairs of ``module`` that fold; :class:`NotFoldable` when a
    BatchNorm layer is not one of them (its input is not a convolution used by nothing else, it
    is called twice, it has no running statistics)."""
    norms = {n: m for n, m in module.named_modules() if isinstance(m, _BN)}
    if not norms:
        return []
    for name, m in norms.items():
        if m.running_mean is None or m.running_var is None:
            raise NotFoldable(f"BatchNorm {name!r} has no running statistics (it normalises "
                              "with the batch's own statistics)")
    calls = _traced_calls(module)
    counts: dict[str, int] = {}
    for name, _, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    named = dict(module.named_modules())
    pairs = []
    for name, node, prefix in calls:
        if name not in norms:
            continue
        if counts[name] != 1:
            raise NotFoldable(f"BatchNorm {name!r} is called {counts[name]} times")
        src = node.args[0] if node.args else None
        if not (isinstance(src, fx.Node) and src.op == "call_module"):
            raise NotFoldable(f"BatchNorm {name!r} does not follow a convolution")
        layer = prefix + str(src.target)
        if not isinstance(named.get(layer), _FOLDABLE):
            raise NotFoldable(f"BatchNorm {name!r} follows {type(named.get(layer)).__name__}, "
                              "not a convolution")
        if len(src.users) != 1 or counts.get(layer, 0) != 1:
            raise NotFoldable(f"the output of {layer!r} is used by more than BatchNorm {name!r}")
        if len(node.args) != 1 or node.kwargs:
            raise NotFoldable(f"BatchNorm {name!r} is called with extra arguments")
        pairs.append(Pair(layer, name))
    missing = sorted(set(norms) - {p.norm for p in pairs})
    if missing:
        raise NotFoldable(f"BatchNorm {missing[0]!r} is not called as a module of a traceable "
                          "forward")
    return pairs


def _bcast(s: torch.Tensor, ndim: int) -> torch.Tensor:
    """(n, C) per-channel factors shaped to multiply (n, C, ...) weights of ``ndim`` dims."""
    return s.reshape(*s.shape, *([1] * (ndim - s.ndim)))


def fold(pair: Pair, layer: nn.Module, norm: nn.Module, params: dict[str, torch.Tensor],
         n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Folded weight (n, *weight shape) and bias (n, out) of ``n`` points.

    ``params``: name -> (n, *shape) for the parameters that vary; the others come from the
    modules. ``s = gamma / sqrt(var + eps)``, ``W' = W s``, ``b' = (b - mean) s + beta``.
    """
    def get(mod: nn.Module, owner: str, attr: str) -> torch.Tensor | None:
        key = f"{owner}.{attr}"
        if key in params:
            return params[key]
        value = getattr(mod, attr)
        return None if value is None else value.detach().unsqueeze(0).expand(n, *value.shape)

    weight = get(layer, pair.layer, "weight")
    bias = get(layer, pair.layer, "bias")
    mean = norm.running_mean.to(weight.dtype)
    inv = torch.rsqrt(norm.running_var.to(weight.dtype) + norm.eps)
    gamma = get(norm, pair.norm, "weight") if norm.affine else None
    beta = get(norm, pair.norm, "bias") if norm.affine else None
    s = inv.expand(n, -1) if gamma is None else gamma * inv
    folded_w = weight * _bcast(s, weight.ndim)
    shifted = -mean if bias is None else bias - mean
    folded_b = shifted * s
    if beta is not None:
        folded_b = folded_b + beta
    return folded_w, folded_b
