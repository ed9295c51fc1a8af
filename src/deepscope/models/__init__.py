"""Models for deepscope experiments: a small zoo and a loader for user models.

Zoo classes: `MLP`, `DeepLinear`, `SmallCNN`, `SmallResNet`. `build` turns a zoo SPEC
string (``mlp:64-32-10,act=tanh``, ``linear:10-10-10``, ``cnn``, ``cnn1d``,
``resnet:width=8,n_blocks=1``, ``resnet1d``) into a model whose parameters are fixed by a
seed, without touching torch's global RNG. `load_model` imports a user factory
(``package.module:factory`` or ``path/to/file.py:factory``); `resolve_model` accepts any of
these forms plus ``MODEL_SPEC@weights.pt`` to load a checkpoint.
"""

from __future__ import annotations

from ._build import build, init_parameters, normalize_name, parse_spec, zoo_names
from ._loader import load_checkpoint, load_model, resolve_model
from ._zoo import ACTIVATIONS, MLP, BasicBlock, DeepLinear, SmallCNN, SmallResNet

__all__ = [
    "ACTIVATIONS",
    "BasicBlock",
    "DeepLinear",
    "MLP",
    "SmallCNN",
    "SmallResNet",
    "build",
    "init_parameters",
    "load_checkpoint",
    "load_model",
    "normalize_name",
    "parse_spec",
    "resolve_model",
    "zoo_names",
]
