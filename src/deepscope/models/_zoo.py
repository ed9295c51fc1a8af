"""The model zoo: small networks that the theory experiments study.

- `MLP`: fully connected network with a choice of activation.
- `DeepLinear`: a product of linear maps (deep linear network).
- `SmallCNN`: two convolutions and a linear head, for 8x8 images or 1D signals.
- `SmallResNet`: a stem, residual basic blocks, global average pooling, a linear head.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from deepscope.errors import UserInputError
from deepscope.layers import InputTransform

#: Activation name -> module factory. ``linear`` is an alias of ``identity``.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "identity": nn.Identity,
    "linear": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module for `name` (see `ACTIVATIONS`)."""
    key = str(name).strip().lower()
    if key not in ACTIVATIONS:
        raise UserInputError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[key]()


def _check_widths(widths: Sequence[int], what: str) -> tuple[int, ...]:
    try:
        out = tuple(widths)
    except TypeError:
        raise UserInputError(
            f"{what} widths must be a sequence of integers, got {widths!r}"
        ) from None
    if len(out) < 2:
        raise UserInputError(f"{what} needs at least 2 widths (input and output), got {list(out)}")
    for w in out:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise UserInputError(f"{what} widths must be positive integers, got {list(out)}")
    return out


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserInputError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_dim(dim: object) -> int:
    if dim not in (1, 2) or isinstance(dim, bool):
        raise UserInputError(f"dim must be 1 (signals) or 2 (images), got {dim!r}")
    return int(dim)  # type: ignore[call-overload]


class MLP(nn.Module):
    """Fully connected network ``Linear -> act -> ... -> Linear`` (no activation at the end).

    Args:
        widths: Layer widths ``(input, hidden..., output)``, e.g. ``(64, 32, 10)``.
        activation: One of ``relu``, ``tanh``, ``sigmoid``, ``softplus``, ``gelu``,
            ``silu``, ``identity`` (alias ``linear``).
        bias: Whether the linear layers have biases.

    Inputs of shape ``(N, ...)`` are flattened to ``(N, widths[0])``.
    """

    def __init__(self, widths: Sequence[int], activation: str = "relu", bias: bool = True):
        super().__init__()
        self.widths = _check_widths(widths, "MLP")
        make_activation(activation)  # validate before building
        self.activation = str(activation).strip().lower()
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in pairwise(self.widths))
        self.act = make_activation(self.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x

    def sequential_layers(self) -> list[tuple[str, nn.Module]]:
        """The forward as a sequence of layers (see :mod:`deepscope.layers`)."""
        out: list[tuple[str, nn.Module]] = [("", nn.Flatten())]
        for i, layer in enumerate(self.layers):
            out.append((f"layers.{i}.", layer))
            if i < len(self.layers) - 1:
                out.append(("", self.act))
        return out


class DeepLinear(nn.Module):
    """Deep linear network: the composition ``W_L ... W_2 W_1 x`` of linear maps.

    Args:
        widths: Layer widths ``(input, hidden..., output)``.
        bias: Whether each linear map has a bias (off by default, as in the theory).
    """

    def __init__(self, widths: Sequence[int], bias: bool = False):
        super().__init__()
        self.widths = _check_widths(widths, "DeepLinear")
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in pairwise(self.widths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        for layer in self.layers:
            x = layer(x)
        return x

    def sequential_layers(self) -> list[tuple[str, nn.Module]]:
        """The forward as a sequence of layers (see :mod:`deepscope.layers`)."""
        return [("", nn.Flatten())] + [(f"layers.{i}.", layer)
                                      for i, layer in enumerate(self.layers)]

    def end_to_end(self) -> torch.Tensor:
        """Return the end-to-end matrix ``W_L ... W_1`` (shape ``(output, input)``)."""
        product = self.layers[0].weight
        for layer in self.layers[1:]:
            product = layer.weight @ product
        return product


def _spatial(image_size: int | Sequence[int], dim: int) -> tuple[int, ...]:
    """Return the spatial size as a tuple of `dim` positive ints."""
    if isinstance(image_size, int):
        sizes: tuple = (image_size,) * dim
    else:
        try:
            sizes = tuple(image_size)
        except TypeError:
            raise UserInputError(f"image_size must be an integer, got {image_size!r}") from None
    if len(sizes) != dim:
        raise UserInputError(f"image_size needs {dim} entries for dim={dim}, got {list(sizes)}")
    return tuple(_check_positive("image_size", s) for s in sizes)


def _conv(dim: int) -> type[nn.Module]:
    return nn.Conv1d if dim == 1 else nn.Conv2d


def _as_input(x: torch.Tensor, in_channels: int, spatial: tuple[int, ...] | None, dim: int):
    """Reshape flat ``(N, C*prod(spatial))`` or channel-less ``(N, *spatial)`` input."""
    if x.dim() == dim + 2:
        return x
    if x.dim() == dim + 1 and in_channels == 1:
        return x.unsqueeze(1)
    if x.dim() == 2 and spatial is not None and x.shape[1] == in_channels * math.prod(spatial):
        return x.reshape(x.shape[0], in_channels, *spatial)
    return x


class SmallCNN(nn.Module):
    """Two convolutions (``same`` padding) with ReLU, then a linear head.

    For ``dim=2`` the kernels are 3x3 on ``(N, C, H, W)`` images; for ``dim=1`` they have
    length 5 on ``(N, C, L)`` signals. Flat ``(N, C*H*W)`` input, or input without the
    channel axis when ``in_channels == 1``, is reshaped automatically.

    Args:
        in_channels: Input channels.
        n_classes: Output width.
        image_size: Side of the (square) image, or the signal length for ``dim=1``; a tuple
            gives non-square images.
        channels: Output channels of the two convolutions.
        dim: 2 for images, 1 for signals.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        image_size: int | Sequence[int] = 8,
        channels: Sequence[int] = (8, 16),
        dim: int = 2,
    ):
        super().__init__()
        self.dim = _check_dim(dim)
        self.in_channels = _check_positive("in_channels", in_channels)
        self.n_classes = _check_positive("n_classes", n_classes)
        self.spatial = _spatial(image_size, self.dim)
        chans = tuple(channels)
        if len(chans) != 2:
            raise UserInputError(f"SmallCNN needs exactly 2 conv channel counts, got {list(chans)}")
        c1, c2 = (_check_positive("channels", c) for c in chans)
        kernel = 3 if self.dim == 2 else 5
        conv = _conv(self.dim)
        self.features = nn.Sequential(
            conv(self.in_channels, c1, kernel, padding=kernel // 2),
            nn.ReLU(),
            conv(c1, c2, kernel, padding=kernel // 2),
            nn.ReLU(),
        )
        self.head = nn.Linear(c2 * math.prod(self.spatial), self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _as_input(x, self.in_channels, self.spatial, self.dim)
        return self.head(self.features(x).flatten(1))

    def sequential_layers(self) -> list[tuple[str, nn.Module]]:
        """The forward as a sequence of layers (see :mod:`deepscope.layers`)."""
        shaper = InputTransform(functools.partial(
            _as_input, in_channels=self.in_channels, spatial=self.spatial, dim=self.dim),
            name=f"as_input(in_channels={self.in_channels}, spatial={self.spatial})")
        return [("", shaper), ("features.", self.features), ("", nn.Flatten()),
                ("head.", self.head)]


class BasicBlock(nn.Module):
    """Residual block ``relu(x + norm(conv(relu(norm(conv(x))))))`` with an identity skip."""

    def __init__(self, width: int, dim: int, norm: str):
        super().__init__()
        conv = _conv(dim)
        kernel = 3 if dim == 2 else 5
        use_bias = norm == "none"
        self.conv1 = conv(width, width, kernel, padding=kernel // 2, bias=use_bias)
        self.norm1 = _make_norm(norm, width, dim)
        self.conv2 = conv(width, width, kernel, padding=kernel // 2, bias=use_bias)
        self.norm2 = _make_norm(norm, width, dim)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.relu(out + x)


NORMS = ("batch", "none")


def _make_norm(norm: str, width: int, dim: int) -> nn.Module:
    if norm == "none":
        return nn.Identity()
    return nn.BatchNorm1d(width) if dim == 1 else nn.BatchNorm2d(width)


class SmallResNet(nn.Module):
    """Small residual network: stem conv, `n_blocks` basic blocks, global average pooling, head.

    Works on images of any size (``dim=2``, 3x3 kernels) and on 1D signals (``dim=1``,
    kernels of length 5). Input without the channel axis is accepted when ``in_channels == 1``.

    Args:
        in_channels: Input channels.
        n_classes: Output width.
        width: Channels of the stem and of every block.
        n_blocks: Number of residual blocks (0 allowed: stem and head only).
        dim: 2 for images, 1 for signals.
        norm: ``"batch"`` for batch normalisation after each conv, ``"none"`` for none.
        image_size: Optional spatial size (int or tuple); only used to reshape flat
            ``(N, C*H*W)`` input.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        width: int = 16,
        n_blocks: int = 2,
        dim: int = 2,
        norm: str = "batch",
        image_size: int | Sequence[int] | None = None,
    ):
        super().__init__()
        self.dim = _check_dim(dim)
        self.in_channels = _check_positive("in_channels", in_channels)
        self.n_classes = _check_positive("n_classes", n_classes)
        width = _check_positive("width", width)
        if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 0:
            raise UserInputError(f"n_blocks must be a non-negative integer, got {n_blocks!r}")
        norm = str(norm).strip().lower()
        if norm not in NORMS:
            raise UserInputError(f"unknown norm {norm!r}; choose one of: {', '.join(NORMS)}")
        self.norm = norm
        self.spatial = None if image_size is None else _spatial(image_size, self.dim)
        kernel = 3 if self.dim == 2 else 5
        conv = _conv(self.dim)
        self.stem = nn.Sequential(
            conv(self.in_channels, width, kernel, padding=kernel // 2, bias=norm == "none"),
            _make_norm(norm, width, self.dim),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(*(BasicBlock(width, self.dim, norm) for _ in range(n_blocks)))
        self.head = nn.Linear(width, self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _as_input(x, self.in_channels, self.spatial, self.dim)
        x = self.blocks(self.stem(x))
        return self.head(x.mean(dim=tuple(range(2, x.dim()))))
