"""Pearlmutter's R-operator for sequential networks: exact Hessian-vector products without autodiff.

For ``nn.Sequential`` stacks (nested ones included) and models that describe their forward as a
sequence (:mod:`deepscope.layers`; the zoo's ``MLP`` and ``SmallCNN`` do) of
``Linear``, ``Conv1d``/``Conv2d``, elementwise activations (ReLU, Tanh, Sigmoid, Identity),
``MaxPool1d``/``MaxPool2d`` and ``Flatten`` with softmax cross-entropy or MSE, the
Hessian-vector product is computed by one forward pass that carries the directional derivatives
``R{a}`` of every pre-activation, and one backward pass that carries the back-propagated errors
``delta`` and their directional derivatives ``R{delta}``:

    R{a_l} = h_{l-1} * V_l + v_l + R{h_{l-1}} * W_l,      R{h_l} = s'(a_l) R{a_l}
    R{delta_a} = s''(a) R{a} delta_h + s'(a) R{delta_h}
    R{dW_l} = R{delta_l} x h_{l-1} + delta_l x R{h_{l-1}},  R{delta_h} = R{delta_a} W + delta_a V

(``*`` a matrix product or a convolution, ``x`` its weight gradient). Max pooling is linear
given its argmax indices, which are the ones autograd uses. All k vectors of a block go through
each product together. Only what the result needs is computed: the first parameterised layer
has no ``R{h_0}`` term and no input error, and below the lowest layer whose terms need the plain
error ``delta`` (ReLU networks: the second parameterised layer), ``delta`` is not propagated at
all, so a ReLU CNN's product skips the gradient's own first-layer backward.

References:
    Pearlmutter, 'Fast exact multiplication by the Hessian', Neural Comput. 6:147 (1994).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import InputTransform, describes_itself, layer_sequence
from ._output_hessian import loss_scale, softmax_hessian_product

_ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity)
_CONV = (nn.Conv1d, nn.Conv2d)
_POOL = (nn.MaxPool1d, nn.MaxPool2d)


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


def _pair(value: Any, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * dims


@dataclass
class _Step:
    kind: str                      # linear | conv | act | flatten | pool | input
    module: nn.Module | None = None
    weight: str | None = None
    bias: str | None = None
    opts: dict = field(default_factory=dict)


def _conv_opts(conv: nn.Module) -> dict | None:
    """stride/padding/dilation of a plain convolution as integer tuples, or None."""
    dims = 1 if isinstance(conv, nn.Conv1d) else 2
    if conv.groups != 1 or conv.padding_mode != "zeros":
        return None
    padding = conv.padding
    kernel = _pair(conv.kernel_size, dims)
    dilation = _pair(conv.dilation, dims)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * dims
        else:  # "same": symmetric only for odd effective kernels (stride 1)
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            if any(t % 2 for t in total):
                return None
            padding = tuple(t // 2 for t in total)
    return {"dims": dims, "stride": _pair(conv.stride, dims), "padding": _pair(padding, dims),
            "dilation": dilation}


def _leaves(module: nn.Module) -> list[nn.Module] | None:
    """The layers of a model that describes its forward as a sequence, in order, or None."""
    if not describes_itself(module):
        return None
    seq = layer_sequence(module)
    return None if seq is None else [sub for _, sub in seq]


def _fuse_relu_pool(steps: list[_Step]) -> list[_Step]:
    """ReLU next to a max pooling (either order) becomes one step: relu(maxpool(a)).

    The two commute (ReLU is monotone), so the pooling runs on the pre-activation and the ReLU
    mask is taken on the pooled values: the full-size ReLU and its masks in the forward and
    backward passes are replaced by quarter-size ones. Where the pooled maximum is <= 0 the
    derivative is 0 whichever index is kept; elsewhere the kept index is autograd's.
    """
    out: list[_Step] = []
    i = 0
    while i < len(steps):
        st = steps[i]
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        relu_first = st.kind == "act" and type(st.module) is nn.ReLU and nxt is not None \
            and nxt.kind == "pool"
        pool_first = st.kind == "pool" and nxt is not None and nxt.kind == "act" \
            and type(nxt.module) is nn.ReLU
        if relu_first or pool_first:
            pool = nxt if relu_first else st
            out.append(_Step("pool", pool.module, opts={**pool.opts, "relu": True}))
            i += 2
            continue
        out.append(st)
        i += 1
    return out


#: a first convolution with at most this many inputs per output (in_channels * kernel size) runs
#: as one matrix product over the unfolded input, shared by the k tangents and the weight
#: gradient (measured: 22 ms instead of 53 ms per 1 -> 16 channel 3x3 layer at batch 1024).
UNFOLD_MAX = 32


class SequentialROperator:
    """Exact HVPs for a supported sequential network (see the module docstring).

    Use :meth:`build` to get one, or ``None`` when the model, parameter selection or loss is not
    covered (the operator then uses autodiff).
    """

    def __init__(self, steps: list[_Step], kind: str, reduction: str):
        self.steps = steps
        self.kind = kind
        self.reduction = reduction

    @classmethod
    def build(cls, problem: Any) -> SequentialROperator | None:
        module = problem.module
        if problem.closure or problem.loss_kind not in ("ce", "mse"):
            return None
        leaves = _leaves(module)
        if leaves is None:
            return None
        ids = {id(p): n for n, p in module.named_parameters()}
        if list(problem.names) != list(dict(module.named_parameters())):
            return None  # a parameter subset or frozen parameters: use autodiff
        for sub in module.modules():
            if sub._forward_pre_hooks or sub._forward_hooks or \
                    getattr(sub, "parametrizations", None):
                return None
        steps: list[_Step] = []
        seen: set[int] = set()
        for sub in leaves:
            if id(sub) in seen and any(True for _ in sub.parameters(recurse=False)):
                return None  # a module used twice (tied weights)
            seen.add(id(sub))
            if type(sub) is nn.Linear or type(sub) in _CONV:
                w = ids.get(id(sub.weight))
                b = ids.get(id(sub.bias)) if sub.bias is not None else None
                if w is None or (sub.bias is not None and b is None):
                    return None
                if type(sub) is nn.Linear:
                    steps.append(_Step("linear", sub, w, b))
                else:
                    opts = _conv_opts(sub)
                    if opts is None:
                        return None
                    steps.append(_Step("conv", sub, w, b, opts))
            elif type(sub) in _ACTIVATIONS:
                steps.append(_Step("act", sub))
            elif type(sub) is nn.Flatten and sub.start_dim == 1 and sub.end_dim == -1:
                steps.append(_Step("flatten", sub))
            elif type(sub) in _POOL and not sub.return_indices:
                dims = 1 if type(sub) is nn.MaxPool1d else 2
                stride = sub.stride if sub.stride is not None else sub.kernel_size
                steps.append(_Step("pool", sub, opts={
                    "dims": dims, "kernel_size": _pair(sub.kernel_size, dims),
                    "stride": _pair(stride, dims), "padding": _pair(sub.padding, dims),
                    "dilation": _pair(sub.dilation, dims), "ceil_mode": sub.ceil_mode}))
            elif isinstance(sub, InputTransform):
                steps.append(_Step("input", sub))
            elif isinstance(sub, nn.modules.dropout._DropoutNd) and (not sub.training
                                                                      or sub.p == 0):
                continue
            else:
                return None
        if not any(st.kind in ("linear", "conv") for st in steps):
            return None
        used = [n for st in steps for n in (st.weight, st.bias) if n is not None]
        if len(used) != len(set(used)) or set(used) != set(problem.names):
            return None  # a parameter shared by two layers, or one no layer uses
        first_param = min(i for i, st in enumerate(steps) if st.kind in ("linear", "conv"))
        if any(st.kind == "input" for st in steps[first_param:]):
            return None  # the zoo's input reshaping after a parameterised layer
        return cls(_fuse_relu_pool(steps), problem.loss_kind, problem.reduction)

    def _loss_terms(self, z: torch.Tensor, y: torch.Tensor, Rz: torch.Tensor):
        """``dL/dz`` and ``H_L R{z}`` for the batch loss."""
        if self.kind == "ce":
            if z.ndim != 2 or y.ndim != 1 or y.is_floating_point():
                raise NotImplementedError("cross-entropy needs (N, C) outputs and class labels")
            if bool(((y < 0) | (y >= z.shape[1])).any()):
                raise NotImplementedError("labels outside [0, C) (ignored classes)")
            scale = loss_scale("ce", self.reduction, z)
            p = torch.softmax(z, dim=-1)
            g = p.clone()
            g[torch.arange(z.shape[0]), y.long()] -= 1
            return scale * g, scale * softmax_hessian_product(p, Rz)
        if z.shape != y.shape:
            raise NotImplementedError("MSE needs targets of the output's shape")
        scale = loss_scale("mse", self.reduction, z)
        return scale * (z - y), scale * Rz

    # ------------------------------------------------------------------ products
    def hvp(self, params: dict[str, torch.Tensor], batch: Any,
            V: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Products with k vectors (leading dim of every ``V`` entry) for one batch."""
        X, y = batch[0], batch[1]
        k = int(next(iter(V.values())).shape[0])
        h, Rh = X, None  # Rh: (k, N, ...) or None while it is zero
        tape: list[tuple] = []
        for step in self.steps:
            if step.kind == "linear":
                W = params[step.weight]
                if h.ndim != 2:
                    raise NotImplementedError("a Linear layer on a non-flat input")
                a = F.linear(h, W, params[step.bias] if step.bias else None)
                Ra = torch.matmul(h, V[step.weight].transpose(1, 2))  # (k, N, out)
                if step.bias:
                    Ra = Ra + V[step.bias][:, None, :]
                if Rh is not None:
                    Ra = Ra + Rh @ W.T
                tape.append((step, h, Rh))
                h, Rh = a, Ra
            elif step.kind == "conv":
                h, Rh = self._conv_forward(step, params, V, k, h, Rh, tape)
            elif step.kind == "act":
                out = _apply(step.module, h)
                d1, d2 = _derivatives(step.module, h, out)
                tape.append((step, d1, d2, Rh))
                h, Rh = out, (Rh if d1 is None or Rh is None else d1 * Rh)
            elif step.kind == "flatten":
                tape.append((step, tuple(h.shape)))
                h, Rh = h.flatten(1), (None if Rh is None else Rh.flatten(2))
            elif step.kind == "pool":
                o = step.opts
                if h.ndim != o["dims"] + 2:
                    raise NotImplementedError("max pooling of an input without a batch axis")
                pool = F.max_pool1d if o["dims"] == 1 else F.max_pool2d
                p, idx = pool(h, o["kernel_size"], o["stride"], o["padding"], o["dilation"],
                              o["ceil_mode"], return_indices=True)
                if Rh is not None:
                    N, C = h.shape[0], h.shape[1]
                    Rh = Rh.reshape(k, N, C, -1).gather(
                        3, idx.reshape(1, N, C, -1).expand(k, -1, -1, -1)).reshape(k, *p.shape)
                mask = None
                if o.get("relu"):
                    mask = (p > 0).to(p.dtype)
                    p = p * mask
                    Rh = None if Rh is None else Rh * mask
                tape.append((step, idx, tuple(h.shape), mask))
                h = p
            else:  # the zoo's input reshaping: first, before any parameter
                h = step.module(h)
                tape.append((step,))
        delta, Rdelta = self._loss_terms(h, y, Rh)
        return self._backward(tape, params, V, k, delta, Rdelta)

    def _conv_forward(self, step: _Step, params, V, k: int, h: torch.Tensor,
                      Rh: torch.Tensor | None, tape: list) -> tuple[torch.Tensor, torch.Tensor]:
        o = step.opts
        conv = F.conv1d if o["dims"] == 1 else F.conv2d
        W = params[step.weight]
        out_c = W.shape[0]
        args = (o["stride"], o["padding"], o["dilation"])
        ks = tuple(W.shape[2:])
        if Rh is None and o["dims"] == 2 and W.shape[1] * _numel(ks) <= UNFOLD_MAX:
            # the first layer: one unfolded input for the output, the k tangents and R{dW}
            U = F.unfold(h, ks, dilation=o["dilation"], padding=o["padding"], stride=o["stride"])
            sp = tuple((size + 2 * p - d * (kk - 1) - 1) // st + 1 for size, p, d, kk, st in zip(
                h.shape[2:], o["padding"], o["dilation"], ks, o["stride"]))
            N = h.shape[0]
            a = torch.matmul(W.reshape(out_c, -1), U).reshape(N, out_c, *sp)
            if step.bias:
                a = a + params[step.bias].reshape(1, out_c, 1, 1)
            Ra = torch.matmul(V[step.weight].reshape(k * out_c, -1), U)
            Ra = Ra.reshape(N, k, out_c, *sp).transpose(0, 1)
            if step.bias:
                Ra = Ra + V[step.bias].reshape(k, 1, out_c, 1, 1)
            tape.append((step, h, None, U))
            return a, Ra
        a = conv(h, W, params[step.bias] if step.bias else None, *args)
        N, sp = a.shape[0], a.shape[2:]
        # all k tangent weights in one convolution over the shared input
        Ra = conv(h, V[step.weight].reshape(k * out_c, *W.shape[1:]), None, *args)
        Ra = Ra.reshape(N, k, out_c, *sp).transpose(0, 1)
        if step.bias:
            Ra = Ra + V[step.bias].reshape(k, 1, out_c, *(1,) * len(sp))
        if Rh is not None:
            Ra = Ra + conv(Rh.reshape(k * N, *Rh.shape[2:]), W, None, *args).reshape(
                k, N, out_c, *sp)
        tape.append((step, h, Rh))
        return a, Ra

    def _backward(self, tape: list[tuple], params, V, k: int, delta: torch.Tensor,
                  Rdelta: torch.Tensor) -> dict[str, torch.Tensor]:
        # which steps need the plain error delta at their output (see the module docstring)
        n = len(tape)
        params_below = [False] * n
        needs = [False] * n
        seen_param = any_need = False
        for i, entry in enumerate(tape):
            step = entry[0]
            params_below[i] = seen_param
            if step.kind in ("linear", "conv"):
                needs[i] = entry[2] is not None or seen_param
                seen_param = True
            elif step.kind == "act":
                needs[i] = (entry[2] is not None and entry[3] is not None) or any_need
            else:
                needs[i] = any_need
            any_need = any_need or needs[i]
        need_below = [any(needs[:i]) for i in range(n)]
        out: dict[str, torch.Tensor] = {}
        for i in range(n - 1, -1, -1):
            entry = tape[i]
            step = entry[0]
            if step.kind == "linear":
                _, h_in, Rh_in = entry
                W = params[step.weight]
                out[step.weight] = torch.matmul(Rdelta.transpose(1, 2), h_in)  # (k, out, in)
                if Rh_in is not None:
                    out[step.weight] = out[step.weight] + torch.matmul(delta.T, Rh_in)
                if step.bias:
                    out[step.bias] = Rdelta.sum(dim=1)
                if not params_below[i]:
                    break  # no parameters below: the input's errors are not needed
                Rdelta, delta = (Rdelta @ W + torch.matmul(delta, V[step.weight]),
                                 delta @ W if need_below[i] else None)
            elif step.kind == "conv":
                Rdelta, delta = self._conv_backward(entry, params, V, k, delta, Rdelta, out,
                                                    params_below[i], need_below[i])
                if not params_below[i]:
                    break
            elif step.kind == "act":
                _, d1, d2, Ra_in = entry
                if d1 is None:
                    continue
                new_R = d1 * Rdelta
                if d2 is not None and Ra_in is not None:
                    new_R = new_R + d2 * Ra_in * delta
                delta, Rdelta = (None if delta is None else d1 * delta), new_R
            elif step.kind == "flatten":
                shape = entry[1]
                delta = None if delta is None else delta.reshape(shape)
                Rdelta = Rdelta.reshape(k, *shape)
            elif step.kind == "pool":
                _, idx, shape, mask = entry
                if mask is not None:
                    Rdelta = Rdelta * mask
                    delta = None if delta is None else delta * mask
                N, C = shape[0], shape[1]
                flat_idx = idx.reshape(1, N, C, -1)
                R_in = Rdelta.new_zeros(k, N, C, _numel(shape[2:]))
                R_in.scatter_add_(3, flat_idx.expand(k, -1, -1, -1), Rdelta.reshape(k, N, C, -1))
                Rdelta = R_in.reshape(k, *shape)
                if delta is not None:
                    d_in = delta.new_zeros(N, C, _numel(shape[2:]))
                    d_in.scatter_add_(2, flat_idx[0], delta.reshape(N, C, -1))
                    delta = d_in.reshape(shape)
        return out

    def _conv_backward(self, entry: tuple, params, V, k: int, delta, Rdelta, out: dict,
                       params_below: bool, need_below: bool):
        step, h_in, Rh_in = entry[:3]
        o = step.opts
        W = params[step.weight]
        out_c, in_c = W.shape[0], W.shape[1]
        ks = tuple(W.shape[2:])
        N = h_in.shape[0]
        sp = tuple(Rdelta.shape[3:])
        # R{dW} = R{delta} x h_in (k kernels at once: the errors side by side as channels)
        G = Rdelta.transpose(0, 1).reshape(N, k * out_c, *sp)
        if len(entry) > 3:  # the unfolded input of a first layer
            U = entry[3]
            gw = torch.bmm(G.reshape(N, k * out_c, -1), U.transpose(1, 2)).sum(0)
        else:
            gw = _conv_grad(G, h_in, (k * out_c, in_c, *ks), o, weight_grad=True)
        out[step.weight] = gw.reshape(k, out_c, in_c, *ks)
        if Rh_in is not None:  # + delta x R{h_in}
            R_in = Rh_in.transpose(0, 1).reshape(N, k * in_c, *h_in.shape[2:])
            gw = _conv_grad(delta, R_in, (out_c, k * in_c, *ks), o, weight_grad=True)
            out[step.weight] = out[step.weight] + gw.reshape(out_c, k, in_c, *ks).transpose(0, 1)
        if step.bias:
            out[step.bias] = Rdelta.sum(dim=(1, *range(3, Rdelta.ndim)))
        if not params_below:
            return Rdelta, delta
        # R{delta_in} = R{delta} (x) W + delta (x) V (the k tangent kernels side by side)
        R_new = _conv_grad(Rdelta.reshape(k * N, out_c, *sp), W, (k * N, *h_in.shape[1:]), o,
                           weight_grad=False).reshape(k, *h_in.shape)
        Vk = V[step.weight].transpose(0, 1).reshape(out_c, k * in_c, *ks)
        extra = _conv_grad(delta, Vk, (N, k * in_c, *h_in.shape[2:]), o, weight_grad=False)
        R_new = R_new + extra.reshape(N, k, in_c, *h_in.shape[2:]).transpose(0, 1)
        d_new = None
        if need_below:
            d_new = _conv_grad(delta, W, tuple(h_in.shape), o, weight_grad=False)
        return R_new, d_new


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _conv_grad(grad_out: torch.Tensor, other: torch.Tensor, shape: tuple[int, ...], o: dict,
               weight_grad: bool) -> torch.Tensor:
    """The weight gradient (``other`` = the input, ``shape`` = the weight's) or the input
    gradient (``other`` = the weight, ``shape`` = the input's) of a plain convolution."""
    dummy = grad_out.new_empty(1).expand(shape)
    inp, weight = (other, dummy) if weight_grad else (dummy, other)
    mask = (False, True, False) if weight_grad else (True, False, False)
    res = torch.ops.aten.convolution_backward(
        grad_out, inp, weight, None, list(o["stride"]), list(o["padding"]),
        list(o["dilation"]), False, [0] * o["dims"], 1, mask)
    return res[1] if weight_grad else res[0]
