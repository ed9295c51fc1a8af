"""Many parameter points of a fully connected chain in one pass per data block.

For a model that is a chain of ``Linear`` layers and elementwise activations (an
``nn.Sequential``, nested ones included, or a model that describes its forward as a sequence,
:mod:`deepscope.layers`, as the zoo's ``MLP``/``DeepLinear`` do), P points are
scored together. What makes this fast on a CPU, where folding the points into the batch
dimension (``(P * n, features)``) is memory-bound:

- The first varied ``Linear`` sees the input shared by all points and is linear in its weight
  and bias: it is mixed from cached basis products, a grid row at a time (:mod:`._first_layer`).
- Deeper layers are one matrix product per point with the samples as the long dimension. Hidden
  activations at least ``rm_min_width`` wide are row-major ``(P, n, features)`` (the faster
  orientation for square and wide products on this CPU), narrower ones feature-major
  ``(P, features, n)``. Chains with a layer of ``loop_min_size`` weights or more run point by
  point (:meth:`ChainPlan._outputs_loop`): the products dominate and one point's activations
  stay in cache from layer to layer.
- The last layer writes feature-major logits ``(P, classes, n)``: log-softmax and the masked
  maximum that gives accuracy reduce over a short, strided axis with long contiguous rows,
  several times faster than the row-major ``(P * n, classes)`` reduction.
- Passes write into reused buffers (:mod:`._workspace`, recycled across evaluators), and a bias
  followed by ReLU is one fused pass.

Chunks of points and blocks of samples are sized so that the working set of a pass stays within a
cache-sized budget (see :func:`chain_layout`). Nothing here copies or changes the model: layers
are read, never called with substituted parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import layer_sequence
from ._first_layer import FirstLayerMix, add_relu_, combine
from ._scorer import Unsupported

#: Modules applied elementwise: valid on any layout of the activations.
ELEMENTWISE: tuple[type, ...] = (
    nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.ELU, nn.CELU, nn.SELU,
    nn.Softplus, nn.Identity, nn.Hardtanh, nn.ReLU6, nn.Mish, nn.Softsign, nn.Tanhshrink,
    nn.Hardswish, nn.Hardsigmoid,
)


@dataclass
class _Step:
    kind: str                       # "linear" | "act" | "flatten"
    module: nn.Module | None = None
    weight: str | None = None       # the parameter's name when it varies with the point
    bias: str | None = None


def _leaves(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    seq = layer_sequence(module, prefix)
    if seq is None:
        raise Unsupported("an nn.Sequential holds None")
    return seq


class ChainPlan(FirstLayerMix):
    """The feature-major evaluation of a supported chain (build with :meth:`build`)."""

    #: a varied Linear layer with at least this many weights makes the chain run point by
    #: point (:meth:`_outputs_loop`); in passes of points, such layers run one product per point
    loop_min_size = 16384

    def __init__(self, steps: list[_Step], basis: dict[str, torch.Tensor], widths: list[int],
                 first: int = 0):
        self._init_mix(basis)
        self.steps = steps
        self.first_width = first
        self.widths = widths
        self.K = int(next(iter(basis.values())).shape[0]) if basis else 1
        self._deep_basis: torch.Tensor | None = None
        #: hidden layers at least this wide write row-major activations (see :meth:`outputs`)
        self.rm_min_width = 64
        #: the whole chain runs one point at a time (see :meth:`_outputs_loop`)
        self.per_point = self._wants_loop()

    @classmethod
    def build(cls, module: nn.Module, basis: dict[str, torch.Tensor]) -> ChainPlan:
        """Raises :class:`Unsupported` for anything but a chain of the supported layers."""
        names = {id(p): n for n, p in module.named_parameters()}
        steps: list[_Step] = []
        widths: list[int] = []
        for sub in module.modules():
            if sub._forward_pre_hooks or sub._forward_hooks or \
                    getattr(sub, "parametrizations", None):
                raise Unsupported(f"{type(sub).__name__} has forward hooks or "
                                  "parametrizations (e.g. spectral_norm)")
        for _prefix, sub in _leaves(module, ""):
            if type(sub) is nn.Linear:
                w = names.get(id(sub.weight))
                b = names.get(id(sub.bias)) if sub.bias is not None else None
                if w is None or (sub.bias is not None and b is None):
                    raise Unsupported("a Linear weight or bias is not a registered parameter")
                steps.append(_Step("linear", sub, w if w in basis else None,
                                   b if b is not None and b in basis else None))
                widths.append(sub.out_features)
            elif type(sub) in ELEMENTWISE:
                steps.append(_Step("act", sub))
            elif isinstance(sub, nn.modules.dropout._DropoutNd) and (not sub.training
                                                                      or sub.p == 0):
                continue  # the identity in evaluation mode
            elif type(sub) is nn.Flatten and sub.start_dim == 1 and sub.end_dim == -1:
                steps.append(_Step("flatten"))
            else:
                raise Unsupported(f"{type(sub).__name__} is not a layer of a fully connected "
                                  "chain")
        if not any(s.kind == "linear" for s in steps):
            raise Unsupported("no Linear layer")
        first = next((s.module.out_features for s in steps
                      if s.kind == "linear" and s.weight is not None), 0)
        covered = {s.weight for s in steps} | {s.bias for s in steps}
        missing = [n for n in basis if n not in covered]
        if missing:
            raise Unsupported(f"parameter {missing[0]} is not a Linear weight or bias")
        return cls(steps, basis, widths, first)

    def _first_varied(self) -> int | None:
        return next((i for i, s in enumerate(self.steps) if s.kind == "linear"
                     and (s.weight is not None or s.bias is not None)), None)

    def _wants_loop(self) -> bool:
        """Whether a varied Linear past the first one is large enough (``loop_min_size``
        weights) that the chain runs point by point: then the products dominate, and one point's
        activations stay in cache between them (measured on the 2-core CPU, MLP 64-256-256-10
        on digits: 1.7-2.2 s per 31 x 31 plane against 2.2-2.9 s for passes of 3 points)."""
        fv = self._first_varied()
        if fv is None or self.steps[fv].weight is None \
                or self.K > self.steps[fv].module.in_features:
            return False
        return any(s.kind == "linear" and s.weight is not None
                   and in_out(s.module) >= self.loop_min_size for s in self.steps[fv + 1:])

    # ------------------------------------------------------------------ per-point tensors
    def point_weights(self, C: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every varied parameter at the points C: ``{name: (P, *shape)}``, from the stacked
        basis of the layers past the first varied one."""
        names = self._deep_names()
        if not names:
            return {}
        if self._deep_basis is None:
            self._deep_basis = torch.cat([self.basis[n].reshape(self.K, -1) for n in names], 1)
        # products and sums, each rounded once, never a matrix product: a point's weights
        # then have the same bits whatever else is in the pass
        B = self._deep_basis
        flat = C[:, :1] * B[0]
        for j in range(1, self.K):
            flat.add_(C[:, j:j + 1] * B[j])
        out, start = {}, 0
        for n in names:
            shape = self.basis[n].shape[1:]
            size = math.prod(shape)
            out[n] = flat[:, start:start + size].reshape(-1, *shape)
            start += size
        return out

    def _mix(self, C: torch.Tensor, name: str) -> torch.Tensor:
        B = self.basis[name]
        return (C @ B.reshape(B.shape[0], -1)).reshape(C.shape[0], *B.shape[1:])

    def _deep_names(self) -> list[str]:
        names, first = [], True
        for step in self.steps:
            if step.kind != "linear":
                continue
            varied = [n for n in (step.weight, step.bias) if n is not None]
            if first and step.weight is not None:
                first = False
                continue  # the first varied weight is mixed from the cached products
            first = first and not varied
            names.extend(varied)
        return names

    def _get(self, weights: dict[str, torch.Tensor], C: torch.Tensor,
             name: str) -> torch.Tensor:
        hit = weights.get(name)
        return hit if hit is not None else self._mix(C, name)

    def _linear(self, step: _Step, h: torch.Tensor, layout: str, fm: bool, C: torch.Tensor,
                key: object, weights: dict[str, torch.Tensor], buf: str | None,
                relu_next: bool = False):
        """One Linear layer. ``layout`` of the input: ``"shared"`` (n, in), ``"rm"`` (P, n, in)
        or ``"fm"`` (P, in, n); output feature-major (P, out, n) when ``fm``, else row-major
        (P, n, out). Returns the output without its bias, and the bias still to add (shaped to
        broadcast) or None: the caller fuses it with the activation; and whether the ReLU
        that follows (``relu_next``) was applied with the mixing. ``buf``: the workspace
        buffer to write into, or None for a fresh tensor."""
        lin = step.module
        P, K = C.shape
        if step.bias is not None:
            b = self._get(weights, C, step.bias)
            bias = b.unsqueeze(-1) if fm else b.unsqueeze(1)
        elif lin.bias is not None:
            bias = lin.bias.unsqueeze(-1) if fm else lin.bias
        else:
            bias = None
        if layout == "shared":
            x = h
            if step.weight is not None and K <= x.shape[1]:
                # linear in (weight, bias): mix the cached basis products, bias included
                A = self._first_layer(step, x, key, fm)
                shape = (P, *A.shape[1:])
                out = (torch.empty(shape, dtype=A.dtype, device=A.device) if buf is None
                       else self.workspace.get(buf, shape, A))
                flat = A.reshape(K, -1)
                if step.bias is not None:
                    bias = None
                fuse = relu_next and bias is None
                runs = self._runs(C) if key is not None and K >= 2 else None
                if runs is not None and self.runs_min * len(runs) <= P:
                    self._mix_runs(flat, runs, (key, fm), out.view(P, -1), fuse)
                else:
                    self._mix_rows(flat, C, out.view(P, -1), fuse)
                return out, bias, fuse
            if step.weight is not None:
                W = self._get(weights, C, step.weight)
                out = torch.matmul(W, x.T) if fm else torch.matmul(x, W.transpose(1, 2))
            else:
                out = (torch.mm(lin.weight, x.T) if fm else torch.mm(x, lin.weight.T))
                out = out.unsqueeze(0).expand(P, -1, -1).contiguous()
            return out, bias, False
        src = h if layout == ("fm" if fm else "rm") else h.transpose(1, 2)
        if step.weight is not None:
            W = self._get(weights, C, step.weight)
            a, b = (W, src) if fm else (src, W.transpose(1, 2))
            shape = (P, a.shape[1], b.shape[2])
            dest = None if buf is None else self.workspace.get(buf, shape, a)
            if dest is None:
                dest = torch.empty(shape, dtype=a.dtype, device=a.device)
            if self.loop_min_size and in_out(lin) >= self.loop_min_size:
                # one product per point: on this CPU a loop of large products ran faster
                # than the batched product (measured 161 vs 126 GFLOP/s at 256 x 256, P = 2)
                for p in range(P):
                    torch.mm(a[p], b[p], out=dest[p])
                out = dest
            else:
                out = torch.bmm(a, b, out=dest)
        else:
            out = torch.matmul(lin.weight, src) if fm else torch.matmul(src, lin.weight.T)
        return out, bias, False

    # ------------------------------------------------------------------ fused head
    def fused_head(self) -> tuple[_Step, _Step] | None:
        """``(first, last)`` Linear steps when the chain is ``Linear -> ReLU -> Linear`` (a
        leading Flatten allowed) with the first layer's weight varied and mixed from its cached
        products: the shape :mod:`._fused` scores in one compiled pass. Else None."""
        steps = self.steps[1:] if self.steps and self.steps[0].kind == "flatten" else self.steps
        if len(steps) != 3 or any(s.kind == "flatten" for s in steps):
            return None
        first, act, last = steps
        if first.kind != "linear" or last.kind != "linear" or act.kind != "act" \
                or type(act.module) is not nn.ReLU or first.weight is None \
                or self.K > first.module.in_features:
            return None
        return first, last

    # ------------------------------------------------------------------ forward
    def outputs(self, C: torch.Tensor, X: torch.Tensor, key: object = None,
                weights: dict[str, torch.Tensor] | None = None,
                reuse: bool = False) -> torch.Tensor:
        """The outputs ``(P, out, n)`` (feature-major) of the points ``C`` (P, K) on ``X``.

        Hidden activations are row-major (P, n, features): a product ``(n x in) @ (in x out)``
        runs faster than its transpose on this CPU for square and wide layers (measured:
        153 vs 142 GFLOP/s at 256 x 256, 191 vs 159 at 512 x 512); the last Linear layer
        writes feature-major output for the loss. ``key`` names the block of samples (the
        first layer's products are reused across chunks of points under it); ``weights``:
        :meth:`point_weights` of C, when the caller runs several blocks through the same points.
        ``reuse``: the output may live in a workspace buffer that the next call overwrites.
        """
        if self.per_point:
            return self._outputs_loop(C, X, key, reuse)
        if weights is None:
            weights = self.point_weights(C)
        P = int(C.shape[0])
        n = int(X.shape[0])
        last = max(i for i, s in enumerate(self.steps) if s.kind == "linear")
        h = X
        layout = "shared"
        fresh = False     # h was made here (safe to overwrite)
        bias = None       # a bias still to add to h (fused with a following ReLU)
        skip = -1         # a ReLU already applied (fused with the mixing)
        for i, step in enumerate(self.steps):
            if i == skip:
                continue
            if step.kind != "act" and bias is not None:
                h, bias = h.add_(bias), None
            if step.kind == "flatten":
                if layout == "shared":
                    h = h.reshape(n, -1)
            elif step.kind == "linear":
                if layout == "shared" and h.ndim != 2:
                    raise Unsupported(f"a Linear layer meets a {h.ndim}-D input")
                varies = step.weight is not None or step.bias is not None
                if layout == "shared" and not varies:
                    h = F.linear(h, step.module.weight, step.module.bias)
                    fresh = True
                    continue
                fm = i == last or step.module.out_features < self.rm_min_width
                buf = f"layer{i}" if (reuse or i != last) else None
                relu_next = i + 1 < len(self.steps) and self.steps[i + 1].kind == "act" \
                    and type(self.steps[i + 1].module) is nn.ReLU
                h, bias, relu_done = self._linear(step, h, layout, fm, C, key, weights, buf,
                                                  relu_next)
                layout, fresh = ("fm" if fm else "rm"), True
                skip = i + 1 if relu_done else -1
            else:
                mod = step.module
                if type(mod) is nn.ReLU and fresh and layout != "shared":
                    h = add_relu_(h, bias) if bias is not None else torch.relu_(h)
                    bias = None
                    continue
                if bias is not None:
                    h, bias = h.add_(bias), None
                if getattr(mod, "inplace", False) and not fresh:
                    h, fresh = h.clone(), True  # never write into the caller's data
                new = mod(h)
                fresh = fresh or new is not h  # Identity hands back its input
                h = new
        if bias is not None:
            h = h.add_(bias)
        if layout == "shared":
            if h.ndim != 2:
                raise Unsupported("the chain's output is not (n, features)")
            return h.T.unsqueeze(0).expand(P, -1, -1)
        return h if layout == "fm" else h.transpose(1, 2)

    def _outputs_loop(self, C: torch.Tensor, X: torch.Tensor, key: object,
                      reuse: bool) -> torch.Tensor:
        """:meth:`outputs`, one point at a time (for chains with large layers).

        The layers before the first varied one run once; the first varied layer mixes its
        cached basis products (:meth:`_first_layer`), keeping the part that does not depend on
        the last coefficient (``A_0 + sum_{j<K-1} c_j A_j``) from point to point, so that along
        a grid row (the last coordinate varies fastest) each point costs one ``add`` over the
        layer's output; then one matrix product per layer, row-major, the last one writing
        feature-major logits. Each point's numbers are computed the same way whatever the chunk,
        so grids do not depend on how points are split into passes.
        """
        P, K = int(C.shape[0]), self.K
        n = int(X.shape[0])
        fv = self._first_varied()
        last = max(i for i, s in enumerate(self.steps) if s.kind == "linear")
        x = X
        for step in self.steps[:fv]:          # the shared prefix
            if step.kind == "flatten":
                x = x.reshape(n, -1)
            elif step.kind == "linear":
                x = F.linear(x, step.module.weight, step.module.bias)
            else:
                if getattr(step.module, "inplace", False) and x is X:
                    x = x.clone()
                x = step.module(x)
        if x.ndim != 2:
            raise Unsupported(f"a Linear layer meets a {x.ndim}-D input")
        fm_first = fv == last
        A = self._first_layer(self.steps[fv], x, key, fm_first)
        flatA = A.reshape(K, -1)
        out_dim = self.steps[last].module.out_features
        shape = (P, out_dim, n)
        out = (self.workspace.get("loop_out", shape, A) if reuse
               else torch.empty(shape, dtype=A.dtype, device=A.device))
        names = self._deep_names()
        wflat = None
        if names:
            if self._deep_basis is None:
                self._deep_basis = torch.cat([self.basis[m].reshape(K, -1) for m in names], 1)
            wflat = self.workspace.get("loop_weights", (1, self._deep_basis.shape[1]), A)
            views, start = {}, 0
            for m in names:
                size = math.prod(self.basis[m].shape[1:])
                views[m] = wflat[0, start:start + size].view(self.basis[m].shape[1:])
                start += size
        lin0 = self.steps[fv].module
        fixed_bias = None       # a first-layer bias that does not vary is not in A
        if self.steps[fv].bias is None and lin0.bias is not None:
            fixed_bias = lin0.bias.unsqueeze(-1) if fm_first else lin0.bias
        relu_first = fixed_bias is None and fv + 1 < len(self.steps) \
            and self.steps[fv + 1].kind == "act" and type(self.steps[fv + 1].module) is nn.ReLU
        coeffs = C.tolist()
        for p in range(P):
            c = coeffs[p]
            if wflat is not None:
                combine(self._deep_basis, c, wflat[0])
            first = out[p] if fm_first else self.workspace.get(
                f"loop{fv}", tuple(A.shape[1:]), A)
            self._mix_one(flatA, c, (key, fm_first), first.view(-1), relu_first)
            h, bias = first, fixed_bias
            for i in range(fv + 1, len(self.steps)):
                step = self.steps[i]
                if i == fv + 1 and relu_first:
                    continue  # applied with the mixing
                if step.kind == "linear":
                    if bias is not None:
                        h, bias = h.add_(bias), None
                    lin = step.module
                    W = views[step.weight] if step.weight is not None else lin.weight
                    b = views[step.bias] if step.bias is not None else lin.bias
                    if i == last:
                        torch.mm(W, h.T, out=out[p])
                        h = out[p]
                        if b is not None:
                            h.add_(b.unsqueeze(-1))
                    else:
                        dest = self.workspace.get(f"loop{i}", (n, lin.out_features), A)
                        h, bias = torch.mm(h, W.T, out=dest), b
                elif step.kind == "act":
                    mod = step.module
                    if type(mod) is nn.ReLU:
                        h = add_relu_(h, bias) if bias is not None else torch.relu_(h)
                        bias = None
                        continue
                    if bias is not None:
                        h, bias = h.add_(bias), None
                    new = mod(h)
                    if new is not h:
                        h.copy_(new)  # keep h in its buffer (out[p] past the last layer)
                # a Flatten past the first varied layer meets (n, features): the identity
            if bias is not None:
                h.add_(bias)
        return out


def in_out(lin: nn.Linear) -> int:
    return lin.in_features * lin.out_features


def chain_layout(widths: list[int], first: int, K: int, n_max: int, itemsize: int, budget: int,
                 points: int | None = None, per_point: bool = False) -> tuple[int, int]:
    """(points per pass, samples per block) whose working set stays within ``budget`` bytes.

    The working set of a pass over b samples and P points is the first layer's K basis
    products (``K * first`` numbers per sample) and two of the widest activations
    (``2 * P * max(widths)``). Measured on the 2-core CPU (benchmarks/README.md): passes that
    stay in the last-level cache run several times faster than larger ones, whose elementwise
    work (mixing, activation, log-softmax) is memory-bound. Points per pass come first (fewer,
    larger passes), then the samples are split into blocks when one point does not fit.
    ``per_point`` (:meth:`ChainPlan._outputs_loop`): the working set is one point's, and the
    points per pass only size the buffer of outputs.
    """
    wide = max(widths)
    if per_point:
        # one point's activations at a time; the pass keeps P points' outputs (and their
        # log-softmax) of widths[-1] numbers per sample
        one = (K * first + 2 * wide) * itemsize
        block = n_max if one * n_max <= budget else max(budget // one, 256)
        if points is None:
            points = int(max(1, min(64, budget // max(2 * widths[-1] * itemsize * n_max, 1))))
        return int(points), int(min(block, n_max))
    per_sample = lambda p: (K * first + 2 * p * wide) * itemsize  # noqa: E731
    if points is None:
        points = 1
        while points < 512 and per_sample(points + 1) * n_max <= budget:
            points += 1
    block = n_max
    if per_sample(points) * n_max > budget:
        block = max(budget // per_sample(points), 256)
    return int(points), int(min(block, n_max))
