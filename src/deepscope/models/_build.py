"""Model SPEC strings for the zoo, and deterministic (seeded) construction.

Grammar::

    spec    := name [":" items]
    name    := mlp | linear | cnn | cnn1d | resnet | resnet1d   (case-insensitive)
    items   := item ("," item)*
    item    := key "=" value | widths          (bare widths: mlp and linear only)
    widths  := int ("-" int)+                  e.g. 64-32-10
    value   := int | int-int-... (a list) | true/false | word

Examples: ``mlp:64-32-10``, ``mlp:64-32-10,act=tanh,bias=false``, ``mlp:hidden=128-128``
(input and output widths from the data), ``linear:10-10-10``, ``cnn``,
``cnn1d:channels=16-32``, ``resnet:width=8,n_blocks=1``, ``resnet1d:norm=none``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from deepscope.errors import UserInputError

from ._zoo import MLP, DeepLinear, SmallCNN, SmallResNet

_INT_LIST_RE = re.compile(r"\d+(-\d+)*")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Zoo name -> options it accepts (after alias resolution).
_OPTIONS: dict[str, tuple[str, ...]] = {
    "mlp": ("widths", "hidden", "act", "bias"),
    "linear": ("widths", "hidden", "bias"),
    "cnn": ("channels", "in_channels", "n_classes", "image_size"),
    "cnn1d": ("channels", "in_channels", "n_classes", "image_size"),
    "resnet": ("width", "n_blocks", "norm", "in_channels", "n_classes"),
    "resnet1d": ("width", "n_blocks", "norm", "in_channels", "n_classes"),
}
_NAME_ALIASES = {
    "deep-linear": "linear",
    "deeplinear": "linear",
    "cnn2d": "cnn",
    "resnet2d": "resnet",
}
_KEY_ALIASES = {
    "activation": "act",
    "blocks": "n_blocks",
    "classes": "n_classes",
    "length": "image_size",
}


def zoo_names() -> list[str]:
    """Return the names of the zoo models accepted by `build`."""
    return list(_OPTIONS)


def normalize_name(name: str) -> str | None:
    """Return the canonical zoo name for `name`, or ``None`` if it is not a zoo model."""
    key = name.strip().lower().replace("_", "-")
    key = _NAME_ALIASES.get(key, key)
    return key if key in _OPTIONS else None


def _parse_value(text: str, item: str, spec: str) -> Any:
    text = text.strip()
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if _INT_LIST_RE.fullmatch(text):
        parts = tuple(int(p) for p in text.split("-"))
        return parts[0] if len(parts) == 1 else parts
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", text):
        return low
    raise UserInputError(f"malformed value in {item!r} of model spec {spec!r}")


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split a zoo SPEC into its canonical name and a dict of options.

    Raises:
        UserInputError: Unknown name, malformed item, unknown or repeated option.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise UserInputError(f"model spec must be a non-empty string, got {spec!r}")
    head, sep, rest = spec.strip().partition(":")
    name = normalize_name(head)
    if name is None:
        raise UserInputError(
            f"unknown model {head.strip()!r}; choose one of: {', '.join(zoo_names())}, "
            "or 'package.module:factory' / 'path/to/file.py:factory'"
        )
    options: dict[str, Any] = {}
    if not sep:
        return name, options
    valid = _OPTIONS[name]
    for item in rest.split(","):
        item = item.strip()
        if not item:
            raise UserInputError(f"empty item in model spec {spec!r}")
        key, eq, value = item.partition("=")
        if not eq:
            if "widths" in valid and "widths" not in options and _INT_LIST_RE.fullmatch(item):
                options["widths"] = tuple(int(p) for p in item.split("-"))
                continue
            hint = " (widths look like 64-32-10)" if "widths" in valid else ""
            raise UserInputError(f"malformed item {item!r} in model spec {spec!r}{hint}")
        key = key.strip().lower().replace("-", "_")
        key = _KEY_ALIASES.get(key, key)
        if not _KEY_RE.fullmatch(key) or key not in valid:
            raise UserInputError(
                f"unknown option {key!r} for model {name!r}; valid options: {', '.join(valid)}"
            )
        if key in options:
            raise UserInputError(f"option {key!r} given twice in model spec {spec!r}")
        options[key] = _parse_value(value, item, spec)
    return name, options


def _int_tuple(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return value
    raise UserInputError(f"{name} must be integers joined by '-', got {value!r}")


def _pick(name: str, option: Any, context: Any, default: Any, source: str) -> Any:
    """Choose between a spec option and a value implied by the data; they must agree."""
    if option is not None and context is not None and option != context:
        raise UserInputError(
            f"model option {name}={option} contradicts the data ({source} gives {context})"
        )
    if option is not None:
        return option
    return default if context is None else context


def _input_geometry(
    input_shape: Sequence[int] | None, dim: int
) -> tuple[int | None, tuple[int, ...] | None]:
    """Return ``(in_channels, spatial size)`` implied by a sample shape, for conv models."""
    if input_shape is None:
        return None, None
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == dim + 1:
        return shape[0], shape[1:]
    if len(shape) == dim:
        return 1, shape
    if len(shape) == 1 and dim == 2:
        side = math.isqrt(shape[0])
        if side * side == shape[0]:
            return 1, (side, side)
    want = "(C, H, W) or (H, W)" if dim == 2 else "(C, L) or (L,)"
    raise UserInputError(f"a {dim}D conv model needs inputs shaped {want}, got {shape}")


def _make(name: str, opts: dict[str, Any], input_shape: Any, n_classes: int | None) -> nn.Module:
    if name in ("mlp", "linear"):
        n_in = None if input_shape is None else int(math.prod(input_shape))
        if "widths" in opts:
            if "hidden" in opts:
                raise UserInputError(f"give either widths or hidden for {name}, not both")
            widths = _int_tuple("widths", opts["widths"])
            _pick("input width", widths[0], n_in, None, "input_shape")
            _pick("output width", widths[-1], n_classes, None, "n_classes")
        else:
            if n_in is None or n_classes is None:
                raise UserInputError(
                    f"{name} needs widths (e.g. {name}:64-32-10) or an input_shape and n_classes"
                )
            hidden = _int_tuple("hidden", opts.get("hidden", (128,)))
            widths = (n_in, *hidden, int(n_classes))
        bias = opts.get("bias", name == "mlp")
        if not isinstance(bias, bool):
            raise UserInputError(f"bias must be true or false, got {bias!r}")
        if name == "linear":
            return DeepLinear(widths, bias=bias)
        return MLP(widths, activation=str(opts.get("act", "relu")), bias=bias)
    dim = 1 if name.endswith("1d") else 2
    channels_ctx, spatial_ctx = _input_geometry(input_shape, dim)
    in_channels = _pick("in_channels", opts.get("in_channels"), channels_ctx, 1, "input_shape")
    classes = _pick("n_classes", opts.get("n_classes"), n_classes, 10, "n_classes")
    if name.startswith("cnn"):
        size_opt = opts.get("image_size")
        if size_opt is not None:
            size_opt = _int_tuple("image_size", size_opt)
            size_opt = size_opt * dim if len(size_opt) == 1 else size_opt
        spatial = _pick(
            "image_size", size_opt, spatial_ctx, (8,) * dim if dim == 2 else (40,), "input_shape"
        )
        channels = _int_tuple("channels", opts.get("channels", (8, 16)))
        return SmallCNN(in_channels, classes, image_size=spatial, channels=channels, dim=dim)
    return SmallResNet(
        in_channels,
        classes,
        width=opts.get("width", 16),
        n_blocks=opts.get("n_blocks", 2),
        dim=dim,
        norm=opts.get("norm", "batch"),
        image_size=spatial_ctx,
    )


def check_seed(seed: Any) -> int:
    """Return `seed` as an int, or raise UserInputError unless it is a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserInputError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def init_parameters(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialise every linear and conv layer from a local ``torch.Generator``.

    Weights and biases are drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, the
    distribution of PyTorch's default initialisation; normalisation layers are reset to
    weight 1 and bias 0. The global RNG is neither read nor changed.

    Args:
        model: The module to initialise in place.
        seed: Seed of the local generator.

    Returns:
        `model`, for chaining.
    """
    generator = torch.Generator().manual_seed(check_seed(seed))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                bound = 1.0 / math.sqrt(module.weight[0].numel())
                module.weight.uniform_(-bound, bound, generator=generator)
                if module.bias is not None:
                    module.bias.uniform_(-bound, bound, generator=generator)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()
    return model


def build(
    spec: str,
    *,
    input_shape: Sequence[int] | None = None,
    n_classes: int | None = None,
    seed: int = 0,
) -> nn.Module:
    """Build a zoo model from a SPEC string, with parameters fixed by `seed`.

    Args:
        spec: Zoo spec, e.g. ``"mlp:64-32-10,act=tanh"`` or ``"resnet:width=8,n_blocks=1"``.
        input_shape: Shape of one input sample (e.g. ``Dataset.input_shape``); supplies the
            input width of ``mlp``/``linear`` and the channels/size of conv models.
        n_classes: Output width (classes, or regression targets).
        seed: Seed of the parameter initialisation. Torch's global RNG is left unchanged.

    Returns:
        The model, in training mode, on the CPU.

    Raises:
        UserInputError: Unknown model, malformed spec, or options that contradict the data.
    """
    seed = check_seed(seed)
    if n_classes is not None and (
        isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1
    ):
        raise UserInputError(f"n_classes must be a positive integer, got {n_classes!r}")
    name, opts = parse_spec(spec)
    with torch.random.fork_rng(devices=[]):  # construction draws from the global RNG
        model = _make(name, opts, input_shape, n_classes)
    return init_parameters(model, seed)
