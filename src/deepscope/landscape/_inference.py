"""Convolutional networks at many parameter points, run as an inference engine runs them.

A point's parameters are ``theta_p = sum_j C[p, j] B_j`` (``basis``: name -> (K, *shape), in
the evaluator's convention: row 0 the centre model for a grid, ``C = [1, a, b]``). The plan runs
the module's own forward once per point through ``torch.func.functional_call`` on a private,
rewritten copy of the module, so any architecture that the per-point loop runs keeps working:

- frozen BatchNorm folded into the convolution before it, per point, from that point's
  parameters (:mod:`._folding`): one pass over the activations less per BatchNorm layer;
- convolutions in channels-last memory format (float32 on the CPU: oneDNN's direct kernels
  with the channels innermost; 1-D ones run as 2-D of height 1), unless the model flattens its
  feature maps, whose copy back costs more than the layout saves; the folded weights are laid
  out once per point, the data once per batch;
- ReLU layers in place where their input has no other user (read from the traced graph);
- all points of a call mixed by one matrix product ``C B`` into a flat buffer whose views are the
  parameters handed to ``functional_call`` (no state-dict copies), under
  ``torch.inference_mode``;
- the points spread over single-threaded workers, one per torch thread, each with its own copy
  of the rewritten module (``functional_call`` swaps tensors into the module it runs), rather
  than every operator forking and joining its threads on activations of a few megabytes.

Measured on the 2-core CPU of benchmarks/README.md; what did not pay there is not used: oneDNN's
fused convolution-ReLU operators, grouped convolutions over points, the first convolution mixed
from cached basis products (for one input channel the K products are larger than the input the
convolution reads: 3.2-3.4 ms against 3.6-4.7 ms per point for the 3x3 stem, slower than the
2.5 ms 1-D first convolution).
"""

from __future__ import annotations

import copy
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import nn

from ._folding import NotFoldable, Pair, find_pairs, fold, inplace_activations
from ._scorer import Footprint

BN_POLICIES = ("frozen", "recompute")
#: points per pass come in multiples of this (and at least this many): up to this many workers
#: each get points in every pass, on any number of threads
PASS_QUANTUM = 16


class _ChannelsLastConv(nn.Module):
    """A Conv1d or Conv2d (zero padding) run in channels-last format; its ``weight`` is handed in
    already laid out as 4-D channels-last (``(out, in, 1, k)`` for 1-D), its ``bias`` as is."""

    def __init__(self, conv: nn.Conv1d | nn.Conv2d):
        super().__init__()
        self.one_d = isinstance(conv, nn.Conv1d)
        self.weight = conv.weight
        self.bias = conv.bias
        pad = conv.padding
        if self.one_d:  # height 1: stride and dilation 1, no padding along it
            self.padding = pad if isinstance(pad, str) else (0, *pad)
            self.stride, self.dilation = (1, *conv.stride), (1, *conv.dilation)
        else:
            self.padding, self.stride, self.dilation = pad, conv.stride, conv.dilation
        self.groups = conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.one_d:
            x = x.unsqueeze(-2)
        out = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                       self.groups)
        return out.squeeze(-2) if self.one_d else out


def _set(root: nn.Module, name: str, value: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, value)


class InferencePlan:
    """Outputs of a module at many points (see the module docstring); built by
    :func:`build_inference_plan`."""

    name = "inference"

    def __init__(self, module: nn.Module, basis: dict[str, torch.Tensor], pairs: list[Pair],
                 channels_last: tuple[type, ...], sample_block: int | None = 512,
                 layout_from_data: bool = False):
        #: samples per forward pass (None: whole batches)
        self.sample_block = sample_block
        self.pairs = pairs
        #: the convolution types run in channels-last format
        self.channels_last = tuple(channels_last)
        self.names = list(basis)
        self.shapes = [tuple(basis[n].shape[1:]) for n in self.names]
        self.K = int(next(iter(basis.values())).shape[0])
        # (K, P): the basis as one matrix, mixed by one product per call
        self.flat = torch.cat([basis[n].reshape(self.K, -1) for n in self.names], dim=1)
        self.sizes = [int(basis[n][0].numel()) for n in self.names]
        net = copy.deepcopy(module).eval()
        #: the copy's layers before rewriting: fixed weights and running statistics
        self.orig = dict(copy.deepcopy(net).named_modules())
        for p in net.parameters():
            p.requires_grad_(False)
        self.folded_names = set()
        for pair in pairs:
            conv = net.get_submodule(pair.layer)
            if conv.bias is None:
                conv.bias = nn.Parameter(torch.zeros(conv.out_channels, dtype=conv.weight.dtype,
                                                     device=conv.weight.device),
                                         requires_grad=False)
            _set(net, pair.norm, nn.Identity())
            self.folded_names.update({f"{pair.layer}.weight", f"{pair.layer}.bias"})
        #: convolutions run in channels-last format: qualified name -> 1-D?
        self.cl_convs: dict[str, bool] = {}
        self._lay_out(net, self.channels_last)
        #: whether the first batch decides the convolutions' layout
        self.layout_pending = layout_from_data
        #: ReLU layers run in place (their input has no other user): no fresh activations
        self.inplace = inplace_activations(module)
        for name in self.inplace:
            net.get_submodule(name).inplace = True
        self.net = net
        own = dict(net.named_parameters())
        self.passed = [n for n in self.names if n in own and n not in self.folded_names]
        self._data: dict[tuple, tuple] = {}
        self._pool: tuple[int, ThreadPoolExecutor] | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        #: the module and layout before a channels-last decision, until a pass succeeds in it
        self._plain: tuple | None = None

    def _lay_out(self, net: nn.Module, kinds: tuple[type, ...]) -> None:
        """Run the convolutions of ``kinds`` (zero padding) in ``net`` in channels-last format."""
        for name, mod in list(net.named_modules()):
            if kinds and type(mod) in kinds and mod.padding_mode == "zeros":
                _set(net, name, _ChannelsLastConv(mod))
                self.cl_convs[name] = isinstance(mod, nn.Conv1d)

    def __getstate__(self) -> dict:
        # a plan travels (e.g. to Ray workers) without its threads: they start anew there
        state = dict(self.__dict__)
        for name in ("_pool", "_local", "_lock"):
            state.pop(name, None)
        state["_data"] = {}  # keyed by addresses of this process's tensors
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._pool = None
        self._local = threading.local()
        self._lock = threading.Lock()

    def _decide_layout(self, X: torch.Tensor) -> None:
        """The convolutions run channels-last unless the forward pass flattens a feature map's
        channels with its positions (:func:`flattens_feature_maps`): such a flatten copies a
        channels-last map back, which costs more than the layout saves (measured on two
        workers: a 1-D residual net with global pooling 16-17 against 20-21.5 ms per point, the
        1-D net whose head flattens its 64-long signals 36 against 28 ms; the 2-D net of two
        convolutions and a head on the flattened maps 7.7-7.8 against 7.1-7.2 ms, 44 against
        40-41 ms with 32-64 channels). Decided once, from the shapes of the first batch's first
        samples (a copy), before any worker copies the module. Should the first pass in that
        layout fail (a flatten the check did not see), the convolutions keep their own layout
        (:meth:`_keep_layout`)."""
        with self._lock:
            if not self.layout_pending:
                return
            if not flattens_feature_maps(self.orig[""], X[:2].clone()):
                self._plain = (self.net, self.channels_last)
                self.net = copy.deepcopy(self.net)
                self._lay_out(self.net, (nn.Conv1d, nn.Conv2d))
                self.channels_last = (nn.Conv1d, nn.Conv2d)
            self.layout_pending = False

    def _keep_layout(self) -> None:
        """Back to the convolutions' own layout (the module as it was before the decision); each
        worker copies that module on its next point (:meth:`_run` checks which module its copy
        is of, so a copy still being made by a worker of the failed pass is not kept)."""
        with self._lock:
            if self._plain is None:  # another thread went back already
                return
            self.net, self.channels_last = self._plain
            self._plain = None
            self.cl_convs = {}
            self._data.clear()

    # ------------------------------------------------------------------ per call
    def _point_params(self, C: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Each point's parameters for ``functional_call`` of the rewritten copy: the varied
        ones as views of one mixed buffer, folded convolutions, channels-last weights."""
        n = int(C.shape[0])
        # sum_j C[p, j] B_j term by term (elementwise, in a fixed order): a matrix product's
        # kernel, and with it the last bits of every entry, would change with the number of
        # points, and the points of a grid are cut into passes by memory
        Cd = C.to(self.flat.dtype)
        mixed = Cd[:, :1] * self.flat[0]
        for j in range(1, Cd.shape[1]):
            mixed = mixed + Cd[:, j:j + 1] * self.flat[j]
        views = {name: t.view(n, *shape) for name, t, shape in
                 zip(self.names, torch.split(mixed, self.sizes, dim=1), self.shapes)}
        per = {name: views[name] for name in self.passed}
        for pair in self.pairs:
            w, b = fold(pair, self.orig[pair.layer], self.orig[pair.norm], views, n)
            per[f"{pair.layer}.weight"], per[f"{pair.layer}.bias"] = w, b
        for name, one_d in self.cl_convs.items():
            key = f"{name}.weight"
            w = per.get(key)
            if w is None:  # not varied and not folded: the module's own weight
                w = self.orig[name].weight.detach().unsqueeze(0).expand(n, *self.orig[
                    name].weight.shape)
            if one_d:
                w = w.unsqueeze(-2)
            per[key] = [w[p].contiguous(memory_format=torch.channels_last) for p in range(n)]
        return [{k: v[p] for k, v in per.items()}
                for p in range(n)]

    def _input(self, X: torch.Tensor, first: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        """The data laid out for the first layer (converted once per batch tensor) and the
        samples per block its forward passes take: ``sample_block`` once the outputs of the
        first point in blocks were found equal to those of the whole batch (a model that mixes
        samples, e.g. normalising over the batch, keeps whole batches)."""
        key = (X.data_ptr(), tuple(X.shape), X.stride(), X.dtype, X._version)
        hit = self._data.get(key)
        if hit is not None:
            return hit[0], hit[1]
        fmt = torch.channels_last if nn.Conv2d in self.channels_last and X.ndim == 4 else \
            torch.contiguous_format
        Xc = X.detach().contiguous(memory_format=fmt)
        block = int(X.shape[0])
        if self.sample_block and block > self.sample_block:
            whole = self._run(first, Xc, block)
            parts = self._run(first, Xc, self.sample_block)
            tol = 1e-12 if whole.dtype == torch.float64 else 1e-5
            scale = float(whole.abs().max()) if whole.numel() else 0.0
            if whole.shape == parts.shape and float((whole - parts).abs().max()) <= tol * (
                    1.0 + scale):
                block = self.sample_block
        if len(self._data) >= 64:
            self._data.clear()
        self._data[key] = (Xc, block, X)  # X kept alive: its address stays its own
        return Xc, block

    def _run(self, params: dict[str, torch.Tensor], Xc: torch.Tensor,
             block: int) -> torch.Tensor:
        # functional_call swaps the tensors into the module it runs: one copy per thread, of
        # the module the plan runs now (a copy of a module it gave up is made anew)
        src = self.net
        net = getattr(self._local, "net", None)
        if net is None or getattr(self._local, "src", None) is not src:
            net = copy.deepcopy(src)
            self._local.net, self._local.src = net, src
        with torch.inference_mode():
            n = int(Xc.shape[0])
            if block >= n:
                return torch.func.functional_call(net, params, (Xc,))
            return torch.cat([torch.func.functional_call(net, params, (Xc[s:s + block],))
                              for s in range(0, n, block)])

    def _workers(self, n: int) -> ThreadPoolExecutor | None:
        """A pool of single-threaded workers, one per thread torch may use here (None: torch
        runs on one thread, so this one serves). Every point runs on one thread however many
        points a pass holds, so its bits do not depend on how a grid is cut into passes."""
        threads = torch.get_num_threads()
        if threads <= 1:
            return None
        if self._pool is None or self._pool[0] != threads:
            if self._pool is not None:
                self._pool[1].shutdown(wait=False)
            self._pool = (threads, ThreadPoolExecutor(threads, initializer=_single_threaded,
                                                      thread_name_prefix="deepscope-plan"))
        return self._pool[1]

    def points_per_pass(self, budget: int, samples: int, footprint: Footprint,
                        itemsize: int) -> int:
        """Points per call of :meth:`outputs` within ``budget`` bytes: each point keeps its
        outputs (and the reducer's two temporaries of their size) and its parameters (mixed,
        folded and laid out: three copies) for the call, while a worker's forward pass holds
        activations only while it runs (counted twice, for a whole batch: a model that mixes
        samples runs whole batches; with T workers T such passes run at once). Up to 4096
        points, a multiple of ``PASS_QUANTUM`` so that up to that many workers each get points,
        and at least ``PASS_QUANTUM`` unless the points' own outputs and parameters do not fit
        that many in the budget; independent of the number of threads, so that the passes, and
        with them the bits, are the same on any number of workers. (A pass sized by every
        point's activations held one point of a wide residual CNN, which left one of two
        workers idle.)"""
        live = 2 * footprint.layers * samples * itemsize
        per_point = max(3 * (footprint.outputs * samples + self.flat.shape[1]) * itemsize, 1)
        points = int(max(budget - live, 0) // per_point)
        floor = max(min(PASS_QUANTUM, int(budget // per_point)), 1)
        points = min(max(points, floor), 4096)
        return points - points % PASS_QUANTUM if points >= PASS_QUANTUM else points

    def outputs(self, C: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        """Outputs (n, b, *out) of the n points ``C @ basis`` (C: (n, K)) on the batch X.

        With T > 1 torch threads, the points are spread over T single-threaded workers (one
        forward per point each) instead of running every operator on T threads: on the small
        activations of these models an operator's fork and join cost as much as its work, and
        far more when another process holds one of the cores (measured in
        benchmarks/README.md). Each point's outputs do not depend on the worker.
        """
        if self.layout_pending:
            self._decide_layout(X)
            if self._plain is not None:
                try:
                    out = self._outputs(C, X)
                except Exception:  # noqa: BLE001 - the layout does not suit this model
                    self._keep_layout()
                else:
                    self._plain = None
                    return out
        return self._outputs(C, X)

    def _outputs(self, C: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        n = int(C.shape[0])
        with torch.inference_mode():
            params = self._point_params(C)
        if not params:
            return torch.empty((0, int(X.shape[0])), dtype=self.flat.dtype)
        Xc, block = self._input(X, params[0])
        pool = self._workers(n)
        if pool is None:
            rows = [self._run(p, Xc, block) for p in params]
        else:
            rows = list(pool.map(self._run, params, [Xc] * n, [block] * n))
        return torch.stack(rows)

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool[1].shutdown(wait=False)


_RESHAPES = ("flatten", "reshape", "view", "view_as", "reshape_as", "ravel")


def flattens_feature_maps(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``module(x)`` flattens, views or reshapes a feature map ``(N, C, *positions)``
    with ``C`` above 1 and more than one position into fewer dimensions whose dimension 1 is
    no longer the channels (``flatten(2)``, a view of channels-last memory, does not count;
    read from the calls of one forward pass under a ``TorchFunctionMode``: shapes only, no
    timing). A forward pass that
    fails counts as flattening (the convolutions then keep their layout)."""
    from torch.overrides import TorchFunctionMode

    merged: list[str] = []

    class _Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = getattr(func, "__name__", "")
            if name in _RESHAPES and args and isinstance(args[0], torch.Tensor) \
                    and isinstance(out, torch.Tensor):
                t = args[0]
                # the channels (dim 1) merged with positions: out has fewer dimensions and
                # its dim 1 is no longer the channels (flatten(2) keeps them: not counted)
                if t.ndim >= 3 and t.shape[1] > 1 and math.prod(t.shape[2:]) > 1 \
                        and out.ndim < t.ndim and (out.ndim < 2 or out.shape[1] != t.shape[1]):
                    merged.append(name)
            return out

    try:
        with torch.inference_mode(), _Watch():
            module(x)
    except Exception:  # noqa: BLE001 - any failure: keep the layout that needs no decision
        return True
    return bool(merged)


def _single_threaded() -> None:
    torch.set_num_threads(1)  # this worker thread only


def build_inference_plan(module: nn.Module, basis: dict[str, torch.Tensor], *, bn: str,
                         channels_last: bool | None = None, sample_block: int | None = 512,
                         reasons: list[str] | None = None) -> InferencePlan | None:
    """The inference plan of ``module`` at points of ``basis`` (name -> (K, *shape)), or None
    when it does not apply (the reason is appended to ``reasons`` when given): BatchNorm
    statistics recomputed per point (``bn="recompute"``), a BatchNorm layer that does not fold,
    or no convolution to speed up.

    ``channels_last``: run the convolutions in channels-last format, 1-D ones as 2-D of height
    1 (True), none (False), or (None, the default) in float32 on the CPU unless the forward
    pass flattens a feature map's channels with its positions, as a head on the flattened maps
    does (read from the first batch: :func:`flattens_feature_maps`; that flatten copies a
    channels-last tensor back). Measured single-threaded: the residual CNN of width 8, 21-22
    against 23-24 ms per point channels-last; the 1-D net with a flattening head 14-15 against
    9-15 ms, i.e. slower.

    ``sample_block``: samples per forward pass (None: whole batches), where the first point's
    outputs in blocks equal those of the whole batch: the activations of a block stay in cache
    while two workers run (measured with two workers on digits: 8.8 against 11.4 ms per point
    for the residual CNN, 5.1-5.3 against 6.1-9.2 ms for the 1-D net; 256 and 128 slower).
    """
    def refuse(why: str) -> None:
        if reasons is not None:
            reasons.append(why)

    if bn not in BN_POLICIES:
        raise ValueError(f"bn must be one of {', '.join(BN_POLICIES)}, got {bn!r}")
    if not basis:
        refuse("no parameters vary")
        return None
    modules = list(module.modules())
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in modules)
    if bn == "recompute" and has_bn:
        refuse("BatchNorm statistics are recomputed at every point")
        return None
    if not any(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) for m in modules):
        refuse("no convolution")
        return None
    try:
        pairs = find_pairs(module) if has_bn else []
    except NotFoldable as exc:
        refuse(str(exc))
        return None
    own = dict(module.named_parameters())
    for name, t in basis.items():
        if name not in own or tuple(t.shape[1:]) != tuple(own[name].shape):
            refuse(f"basis entry {name!r} is not a parameter of the module's shape")
            return None
    first = next(iter(basis.values()))
    pending = False
    if channels_last is None:
        kinds: tuple[type, ...] = ()
        pending = first.device.type == "cpu" and first.dtype == torch.float32
    else:
        kinds = (nn.Conv1d, nn.Conv2d) if channels_last else ()
    return InferencePlan(module, basis, pairs, kinds, sample_block, layout_from_data=pending)
