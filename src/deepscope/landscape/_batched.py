"""Many parameter points through one forward pass: batched counterparts of parameterised layers.

Each point's parameters are a linear combination ``theta_p = sum_j C[p, j] B_j`` of K basis
vectors (``[theta_0, d_1, ..., d_k]`` with ``C = [1, a]`` for a grid; the two models with
``C = [1 - t, t]`` for an interpolation). Activations of P points on n samples are folded into
one leading dimension of size ``P * n`` (point-major), so parameter-free layers (activations,
reshapes that keep the leading dimension, pooling, residual sums) run unchanged on all points at
once. Only the layers holding parameters are swapped, through an explicit table:

- ``Linear``: the model input is shared by all points and a linear layer is linear in its
  weights, so the first layer computes ``X B_j^T`` once per basis vector (one matmul of K stacked
  weights) and mixes them with C: ``K (in + P)`` instead of ``P in`` multiply-adds per output.
  Deeper layers run one batched matmul over points (``torch.baddbmm``) with the per-point weights
  formed once per chunk of points.
- ``Conv1d``/``Conv2d``: the same trick on the shared input; deeper layers as one grouped
  convolution with ``groups = P``.
- ``BatchNorm``: frozen running statistics with per-point affine parameters, or statistics
  recomputed per point (collected over all batches, then applied), or batch statistics.
- ``LayerNorm``: per-sample statistics, per-point affine parameters.

A layer that meets an input of an unexpected size raises :class:`Unsupported`; the evaluator then
falls back to the exact per-point path. It also checks the batched outputs against that path.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn


class Unsupported(RuntimeError):
    """The batched path cannot evaluate this model (the evaluator falls back to the loop)."""


class PointState:
    """The coefficients of the current chunk of points and per-point parameter caches."""

    def __init__(self, basis: dict[str, torch.Tensor]):
        self.basis = basis          # full name -> (K, *shape)
        self.coeffs: torch.Tensor | None = None
        self.n = 0                  # samples in the current batch
        self.bn_mode = "frozen"     # "frozen" | "collect" | "apply"
        self.bn_stats: dict[str, list] = {}
        self._cache: dict[str, torch.Tensor] = {}

    def set_points(self, coeffs: torch.Tensor) -> None:
        self.coeffs = coeffs
        self._cache = {}
        self.bn_stats = {}

    @property
    def n_points(self) -> int:
        return int(self.coeffs.shape[0])

    def per_point(self, name: str) -> torch.Tensor:
        """``sum_j C[p, j] B_j`` for parameter ``name``: (P, *shape), cached per chunk."""
        hit = self._cache.get(name)
        if hit is None:
            B = self.basis[name]
            hit = (self.coeffs @ B.reshape(B.shape[0], -1)).reshape(-1, *B.shape[1:])
            self._cache[name] = hit
        return hit

    def layout(self, x: torch.Tensor) -> str:
        """``"shared"`` for an input common to all points, ``"points"`` for a folded one."""
        lead = int(x.shape[0]) if x.ndim else -1
        if lead == self.n:
            return "shared"
        if lead == self.n_points * self.n:
            return "points"
        raise Unsupported(f"leading dimension {lead} is neither n={self.n} nor P*n")


class _Batched(nn.Module):
    def __init__(self, source: nn.Module, prefix: str, state: PointState):
        super().__init__()
        self.source = source
        self.prefix = prefix
        self.state = state

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "source":
                raise
            return getattr(self.source, name)  # weight, in_features, ...: the unperturbed layer

    def param(self, local: str) -> tuple[torch.Tensor | None, bool]:
        """The per-point tensor (P, *shape) when varied, else the constant tensor."""
        full = f"{self.prefix}{local}"
        if full in self.state.basis:
            return self.state.per_point(full), True
        return getattr(self.source, local), False

    def combine_shared(self, y: torch.Tensor, out_dim: int) -> torch.Tensor:
        """Mix per-basis outputs y (n, K*out, ...) with C into (P*n, out, ...)."""
        C = self.state.coeffs
        K = C.shape[1]
        n = y.shape[0]
        rest = y.shape[2:]
        yk = y.reshape(n, K, out_dim * math.prod(rest)).transpose(0, 1).reshape(K, -1)
        return (C @ yk).reshape(C.shape[0] * n, out_dim, *rest)


class BatchedLinear(_Batched):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        st = self.state
        W, w_varies = self.param("weight")
        b, b_varies = self.param("bias")
        P, K = st.coeffs.shape
        out_dim, in_dim = self.source.out_features, self.source.in_features
        layout = st.layout(x)
        lead = x.shape[1:-1]
        m = math.prod(lead)
        if layout == "shared" and w_varies and (b is None or b_varies) \
                and K * (in_dim + P) <= P * in_dim:
            # linear in (weight, bias): one matmul against the K stacked basis layers, then mix
            xs = x.reshape(st.n * m, in_dim)
            Bw = st.basis[f"{self.prefix}weight"].reshape(K * out_dim, in_dim)
            Bb = None if b is None else st.basis[f"{self.prefix}bias"].reshape(K * out_dim)
            y = self.combine_shared(F.linear(xs, Bw, Bb), out_dim)
            return y.reshape(P * st.n, *lead, out_dim)
        if layout == "shared":
            x3 = x.reshape(1, st.n * m, in_dim).expand(P, -1, -1)
        else:
            x3 = x.reshape(P, st.n * m, in_dim)
        Wp = W.transpose(1, 2) if w_varies else W.T.unsqueeze(0).expand(P, -1, -1)
        if b is None:
            y = torch.bmm(x3, Wp)
        else:
            bias = b.unsqueeze(1) if b_varies else b.reshape(1, 1, out_dim).expand(P, 1, -1)
            y = torch.baddbmm(bias, x3, Wp)
        return y.reshape(P * st.n, *lead, out_dim)


class BatchedConv(_Batched):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        st = self.state
        src = self.source
        if src.groups != 1 or src.padding_mode != "zeros":
            raise Unsupported("grouped or non-zero-padded convolution")
        conv = F.conv1d if isinstance(src, nn.Conv1d) else F.conv2d
        W, w_varies = self.param("weight")
        b, b_varies = self.param("bias")
        P, K = st.coeffs.shape
        out_c = src.out_channels
        opts = {"stride": src.stride, "padding": src.padding, "dilation": src.dilation}
        if st.layout(x) == "shared":
            if w_varies:
                Bw = st.basis[f"{self.prefix}weight"]
                y = conv(x, Bw.reshape(K * out_c, *Bw.shape[2:]), **opts)
                y = self.combine_shared(y, out_c)
            else:
                y = conv(x, W, **opts).repeat(P, *([1] * (x.ndim - 1)))
        else:
            n = st.n
            xs = x.reshape(P, n, *x.shape[1:]).transpose(0, 1).reshape(n, P * x.shape[1],
                                                                        *x.shape[2:])
            Wg = W.reshape(P * out_c, *W.shape[2:]) if w_varies else W.repeat(
                P, *([1] * (W.ndim - 1)))
            y = conv(xs, Wg, groups=P, **opts)
            y = y.reshape(n, P, out_c, *y.shape[2:]).transpose(0, 1).reshape(
                P * n, out_c, *y.shape[2:])
        if b is not None:
            shape = (P, 1, out_c) + (1,) * (y.ndim - 2)
            bb = b.reshape(shape) if b_varies else b.reshape(1, 1, out_c, *shape[3:])
            y = (y.reshape(P, st.n, *y.shape[1:]) + bb).reshape(y.shape)
        return y


def _expand_points(x: torch.Tensor, st: PointState) -> torch.Tensor:
    """(P, n, ...) view of an input in either layout."""
    if st.layout(x) == "shared":
        return x.unsqueeze(0).expand(st.n_points, *x.shape)
    return x.reshape(st.n_points, st.n, *x.shape[1:])


class BatchedBatchNorm(_Batched):
    """Per-point BatchNorm: frozen running statistics, recomputed statistics or batch statistics.

    Recomputed statistics follow the exact per-point procedure: a pass over every batch in
    training mode accumulates the running mean and (unbiased) variance with momentum
    ``b / (n_seen + b)`` (a sample-weighted cumulative average), then the evaluation pass uses
    them.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        st = self.state
        src = self.source
        xp = _expand_points(x, st)                                  # (P, n, C, *sp)
        P, n, C = xp.shape[0], xp.shape[1], xp.shape[2]
        red = (1,) + tuple(range(3, xp.ndim))
        shape = (P, 1, C) + (1,) * (xp.ndim - 3)
        key = self.prefix
        if st.bn_mode == "collect" or src.running_mean is None:
            mean = xp.mean(dim=red)
            var = xp.var(dim=red, unbiased=False)
            if st.bn_mode == "collect":
                count = n * math.prod(xp.shape[3:])
                unbiased = var * (count / max(count - 1, 1))
                seen_mean, seen_var, seen = st.bn_stats.get(key, (0.0, 1.0, 0))
                mom = n / (seen + n)
                st.bn_stats[key] = ((1 - mom) * seen_mean + mom * mean,
                                    (1 - mom) * seen_var + mom * unbiased, seen + n)
        elif st.bn_mode == "apply":
            mean, var = st.bn_stats[key][0], st.bn_stats[key][1]
        else:
            mean = src.running_mean.unsqueeze(0).expand(P, C)
            var = src.running_var.unsqueeze(0).expand(P, C)
        y = (xp - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + src.eps)
        if src.affine:
            w, w_varies = self.param("weight")
            b, b_varies = self.param("bias")
            y = y * (w.reshape(shape) if w_varies else w.reshape(shape[1:]))
            y = y + (b.reshape(shape) if b_varies else b.reshape(shape[1:]))
        return y.reshape(P * n, *xp.shape[2:])


class BatchedLayerNorm(_Batched):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        st = self.state
        src = self.source
        xp = _expand_points(x, st)
        P = xp.shape[0]
        y = F.layer_norm(xp, src.normalized_shape, None, None, src.eps)
        extra = (1,) * (xp.ndim - 1 - len(src.normalized_shape))
        if src.elementwise_affine:
            w, w_varies = self.param("weight")
            y = y * (w.reshape(P, *extra, *w.shape[1:]) if w_varies else w)
            if getattr(src, "bias", None) is not None:
                b, b_varies = self.param("bias")
                y = y + (b.reshape(P, *extra, *b.shape[1:]) if b_varies else b)
        return y.reshape(P * st.n, *xp.shape[2:])


BATCHED_LAYERS: dict[type, type] = {
    nn.Linear: BatchedLinear,
    nn.Conv1d: BatchedConv,
    nn.Conv2d: BatchedConv,
    nn.BatchNorm1d: BatchedBatchNorm,
    nn.BatchNorm2d: BatchedBatchNorm,
    nn.LayerNorm: BatchedLayerNorm,
}


class _Root(nn.Module):
    """A holder, so that even a model that is a single layer can have it swapped."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.m = module

    def forward(self, *args, **kwargs):
        return self.m(*args, **kwargs)


def build_batched(module: nn.Module, basis: dict[str, torch.Tensor]) -> tuple[nn.Module,
                                                                                PointState]:
    """A copy of ``module`` whose parameterised layers evaluate many points at once.

    Raises:
        Unsupported: a varied parameter lives in a layer outside :data:`BATCHED_LAYERS`.
    """
    copy_ = _Root(copy.deepcopy(module))
    basis = {f"m.{name}": tensor for name, tensor in basis.items()}
    state = PointState(basis)
    owners = {}
    for mod_name, mod in copy_.named_modules():
        for local, _ in mod.named_parameters(recurse=False):
            owners[f"{mod_name}.{local}" if mod_name else local] = (mod_name, mod)
    swap = {}
    for name in basis:
        mod_name, mod = owners[name]
        cls = BATCHED_LAYERS.get(type(mod))
        if cls is None:
            raise Unsupported(f"parameter {name} lives in a {type(mod).__name__}")
        swap[mod_name] = cls
    for mod_name, cls in swap.items():
        parent_name, _, child = mod_name.rpartition(".")
        parent = copy_.get_submodule(parent_name) if parent_name else copy_
        source = getattr(parent, child)
        prefix = f"{mod_name}."
        setattr(parent, child, cls(source, prefix, state))
    return copy_, state
