"""The Hessian of a model's loss as a matrix-free operator, and the Gauss-Newton residual.

``HessianOperator(model, loss_fn, data) @ v`` is the exact Hessian-vector product of the loss over
all samples (batches weighted by their numbers of loss terms), computed by automatic
differentiation: forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``, many vectors at
once with ``vmap``) or reverse-over-reverse (double backward, the graph built once per batch and
reused for every vector). ``mode="auto"`` times both on the first batch and keeps the faster.

On models with attention layers a third mode is offered, ``"retained-graph"``: double backward
whose first-order graph (the forward pass and the gradient with ``create_graph=True``) is built
once per batch and KEPT across products, since the parameters and the data of an operator never
change. A product is then only the second backward, the same operations as in
``"reverse-over-reverse"`` (the same numbers, bit for bit), without the forward pass and the
gradient it repeats: on a 2-layer GPT-2 and a 2-layer ``nn.MultiheadAttention`` classifier
(float32, CPU) 1.8-2.1 gradient times instead of 2.8-3.2 (see
``benchmarks/bench_transformer_hvp.py``). The kept graphs hold every batch's activations and
first-order intermediates: ``auto`` offers the mode only when the model has an attention module
and the graphs of all batches, extrapolated from the first one, fit in
:data:`RETAINED_GRAPH_BYTES`; ``self.retained_graph_bytes`` records the estimate. Models without
attention (MLPs, CNNs) never see this mode unless it is asked for by name.

Every product runs with the math backend of ``scaled_dot_product_attention`` selected and the
fused fast path of ``nn.MultiheadAttention`` off (:func:`differentiable_attention`): the fused
kernels have neither forward-mode AD nor a double backward, so attention layers
(``nn.MultiheadAttention``, Hugging Face models) work in every mode. Models without attention are
unaffected.

References:
    Pearlmutter, 'Fast exact multiplication by the Hessian', Neural Comput. 6:147 (1994).
    Schraudolph, 'Fast curvature matrix-vector products for second-order gradient descent',
    Neural Comput. 14:1723 (2002) (the Gauss-Newton decomposition H = G + R).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_flatten, tree_unflatten

from ..errors import UserInputError
from ..problem import Problem
from ._base import CurvatureLinearOperator
from ._distributed import DataParallel
from ._rop import SequentialROperator

MODES = ("auto", "forward-over-reverse", "reverse-over-reverse", "pearlmutter", "retained-graph")
#: the most bytes the kept first-order graphs of all batches may hold for ``auto`` to offer the
#: ``"retained-graph"`` mode (an estimate from the tensors the first batch's graph saves)
RETAINED_GRAPH_BYTES = 1 << 30
#: vectors per R-operator pass; larger blocks are split (see HessianOperator._product_with)
ROP_BLOCK = 4
_MODE_ALIASES = {"fwd": "forward-over-reverse", "rev": "reverse-over-reverse",
                 "forward": "forward-over-reverse", "reverse": "reverse-over-reverse",
                 "rop": "pearlmutter", "retained": "retained-graph"}

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


_HVP = {"forward-over-reverse": hvp_forward_over_reverse,
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


class ModelCurvatureOperator(CurvatureLinearOperator):
    """Shared construction of operators on (model, loss, data): see :class:`Problem`."""

    needs_output_loss = False
    allow_rop = True

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Any,
        data: Any,
        params: str | Sequence[str] | None = None,
        bn: str = "eval",
        *,
        dtype: torch.dtype | None = None,
        loss_form: str = "auto",
        reduction: str | None = None,
        batch_weights: Any = None,
        check_determinism: bool = True,
        distributed: Any = False,
    ):
        def make_problem() -> Problem:
            problem = Problem(model, loss_fn, data, params=params, bn=bn, dtype=dtype,
                                loss_form=loss_form, reduction=reduction,
                                batch_weights=batch_weights)
            if self.needs_output_loss and problem.closure:
                raise UserInputError(
                    f"{type(self).__name__} needs loss_fn(output, target), not a closure loss"
                )
            return problem

        #: the collectives of a data-parallel operator (see ``distributed.py``), or None
        self.data_parallel = DataParallel.resolve(distributed, model)
        if self.data_parallel is None:
            self.problem = make_problem()
            self.loss_value = (self.problem.check() if check_determinism
                               else float(self.problem.loss()))
        else:  # this process's shard of the batches, weighted over the global term count
            self.problem, self.loss_value = self.data_parallel.setup(make_problem,
                                                                     check_determinism)
        super().__init__(self.problem.size, self.problem.dtype, self.problem.device)

    @property
    def param_names(self) -> list[str]:
        """Selected parameter names: the order of blocks in a flat vector."""
        return list(self.problem.names)

    @property
    def param_shapes(self) -> list[tuple[int, ...]]:
        return list(self.problem.shapes)

    def param_vector(self) -> torch.Tensor:
        """The selected parameters as one flat vector."""
        return self.problem.join(self.problem.params)

    def _batch_product(self, batch: Any, V: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError  # pragma: no cover

    def _batch_weight(self, count: int, weight: float) -> float:
        """The weight of a batch of ``count`` samples whose loss weighs ``weight``."""
        return weight

    def local_product(self, M: torch.Tensor) -> torch.Tensor:
        """``sum_b w_b A_b M`` over this process's batches, as a (k, P) tensor.

        This is the one place data is touched. To split the data over processes, give each its
        shard of batches (with ``problem.weights`` set to ``t_b / T`` over the global term count)
        and all-reduce this (k, P) result: one reduction of P numbers per product.
        """
        V = self.problem.split(M.T.contiguous())  # (k, *shape) per parameter
        total = None
        pr = self.problem
        with differentiable_attention():
            for index, (batch, count, weight) in enumerate(zip(pr.batches, pr.counts,
                                                               pr.weights)):
                self._batch_index = index
                part = self._batch_product(pr.cast_batch(batch), V)
                flat = pr.join(part, lead=1) * self._batch_weight(count, weight)
                total = flat if total is None else total + flat
        return total

    def _matmat(self, M: torch.Tensor) -> torch.Tensor:
        if self.data_parallel is None:
            total = self.local_product(M)
        else:  # one all-reduce of the (k, P) block over the processes
            total = self.data_parallel.sum_product(self.local_product, M)
        if not torch.isfinite(total).all():
            raise UserInputError(f"{type(self).__name__} product is not finite (NaN or inf)")
        return total.T


class HessianOperator(ModelCurvatureOperator):
    """Exact Hessian of the loss over all samples, as a matrix-free operator.

    ``H = sum_b w_b d^2 L_b / d theta^2`` with ``w_b = t_b / T`` for mean-reduced losses (1 for
    sums), ``t_b`` the number of loss terms of batch b (samples; tokens not equal to
    ``ignore_index`` for cross-entropy; elements for element-wise losses): ``H`` is the Hessian
    of the loss of all the data as one batch, however it is cut into uneven or padded batches.

    Args:
        model: a ``torch.nn.Module`` (never modified: a private copy is used).
        loss_fn: ``loss_fn(output, target)`` returning the batch mean (or sum), ``"ce"``, ``"mse"``,
            or a closure ``loss_fn(model, batch)`` returning the batch mean.
        data: an ``(X, y)`` pair of tensors or an iterable of batches (uneven sizes allowed).
        params: parameter names or globs to differentiate (default: every trainable parameter).
        bn: ``"eval"`` (BatchNorm uses running statistics) or ``"batch"`` (batch statistics).
        mode: ``"auto"``, ``"forward-over-reverse"``, ``"reverse-over-reverse"``,
            ``"pearlmutter"`` (sequential networks) or ``"retained-graph"`` (double backward on a
            first-order graph kept per batch; see the module docstring).
        dtype: compute in this dtype (e.g. ``torch.float64``) instead of the model's.
        loss_form: ``"auto"`` (read from the signature of ``loss_fn``), ``"output"`` or
            ``"closure"``.
        batch_weights: the loss terms of each batch for mean reductions: ``None`` (read from
            the loss), ``"samples"``, one number per batch, or a callable ``batch -> number`` (a
            closure whose loss is a mean over tokens needs this).
        check_determinism: evaluate the loss twice and refuse a model whose loss differs.
        distributed: ``False``; ``True`` (the default process group) or a
            ``torch.distributed.ProcessGroup``: ``data`` is this process's shard and products
            are summed over the group by one all-reduce each (see
            :mod:`~deepscope.curvature._distributed`).

    Raises:
        UserInputError: dropout active in train mode, a non-deterministic model, a NaN loss, empty
            data, a glob matching no parameter.

    Example:
        Least squares, loss = mean (X w - y)^2, has Hessian 2 X^T X / N:

        >>> import torch
        >>> X, y = torch.randn(20, 3, dtype=torch.float64), torch.randn(20, 1, dtype=torch.float64)
        >>> model = torch.nn.Linear(3, 1, bias=False).double()
        >>> H = HessianOperator(model, torch.nn.MSELoss(), (X, y))
        >>> bool(torch.allclose(H.to_dense(), 2 * X.T @ X / 20))
        True

    References:
        Pearlmutter 1994 (exact Hessian-vector products).
    """

    def __init__(self, model: nn.Module, loss_fn: Any, data: Any,
                 params: str | Sequence[str] | None = None, bn: str = "eval",
                 mode: str = "auto", **kwargs: Any):
        super().__init__(model, loss_fn, data, params=params, bn=bn, **kwargs)
        mode = _MODE_ALIASES.get(mode, mode)
        if mode not in MODES:
            raise UserInputError(f"mode must be one of {MODES}, got {mode!r}")
        self._rop = SequentialROperator.build(self.problem) if self.allow_rop else None
        #: kept first-order graphs of the "retained-graph" mode, by batch index
        self._graphs: dict[int, RetainedGraph] = {}
        self._batch_index = 0
        #: estimated bytes of all batches' kept graphs (set when ``auto`` considered the mode)
        self.retained_graph_bytes: int | None = None
        if mode == "pearlmutter" and self._rop is None:
            raise UserInputError(
                "mode 'pearlmutter' needs an nn.Sequential (or zoo MLP/SmallCNN) of Linear, "
                "Conv1d/Conv2d, ReLU/Tanh/Sigmoid/Identity, MaxPool and Flatten layers with 'ce' "
                "or 'mse' over all its parameters"
            )
        if mode == "auto" and self.data_parallel is not None:  # every rank uses rank 0's pick
            self.mode, self.batched_mode = self.data_parallel.agree_on(self._pick_modes, MODES)
        elif mode == "auto":
            self.mode, self.batched_mode = self._pick_modes()
        else:
            self.mode = self.batched_mode = mode
        if "retained-graph" not in (self.mode, self.batched_mode):
            self._graphs.clear()  # built while timing: not used, not kept

    def _scalar_fn(self, batch: Any) -> tuple[ScalarFn, tuple[torch.Tensor, ...]]:
        """The batch loss as ``fn(params, floats)``, with the batch's floating tensors."""
        leaves, spec = tree_flatten(batch)
        # Targets and other floating tensors get zero tangents (see hvp_forward_over_reverse);
        # the input of an (X, y, ...) batch does not need one, and a tangent on it would make
        # forward mode compute a wasted first-layer product.
        skip = 0 if isinstance(batch, (tuple, list)) and len(batch) > 1 else -1
        where = [i for i, t in enumerate(leaves)
                 if i != skip and isinstance(t, torch.Tensor) and t.is_floating_point()]

        def fn(p: dict[str, torch.Tensor], floats: tuple[torch.Tensor, ...]) -> torch.Tensor:
            items = list(leaves)
            for i, t in zip(where, floats):
                items[i] = t
            return self.problem.batch_loss(p, tree_unflatten(items, spec))

        return fn, tuple(leaves[i] for i in where)

    def _batch_product(self, batch: Any, V: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        k = next(iter(V.values())).shape[0]
        return self._product_with(self.mode if k == 1 else self.batched_mode, batch, V)

    def _product_with(self, mode: str, batch: Any,
                      V: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if mode == "pearlmutter":
            k = next(iter(V.values())).shape[0]
            if k <= ROP_BLOCK:
                return self._rop.hvp(self.problem.params, batch, V)
            # the R-operator's activations grow with k: beyond a few vectors they leave the
            # cache (measured on a digits CNN: 22 ms per vector at k = 4, 72 ms at k = 16)
            parts = [self._rop.hvp(self.problem.params, batch,
                                   {n: t[i:i + ROP_BLOCK] for n, t in V.items()})
                     for i in range(0, k, ROP_BLOCK)]
            return {n: torch.cat([part[n] for part in parts]) for n in parts[0]}
        if mode == "retained-graph":
            graph = self._graphs.get(self._batch_index)
            if graph is None:
                graph = self._graphs[self._batch_index] = RetainedGraph(
                    *self._retained_inputs(batch))
            return graph.hvp(V)
        fn, aux = self._scalar_fn(batch)
        return _HVP[mode](fn, self.problem.params, V, aux)

    def _retained_inputs(self, batch: Any) -> tuple[ScalarFn, dict[str, torch.Tensor],
                                                    tuple[torch.Tensor, ...]]:
        fn, aux = self._scalar_fn(batch)
        return fn, self.problem.params, aux

    def _offer_retained_graph(self, batch: Any) -> bool:
        """Attention in the model, and every batch's kept graph within the memory budget."""
        if not has_attention(self.problem.module):
            return False
        try:
            with differentiable_attention():
                graph, size = saved_bytes(lambda: RetainedGraph(*self._retained_inputs(batch)))
        except (RuntimeError, NotImplementedError):
            return False
        counts = self.problem.counts
        self.retained_graph_bytes = int(size * sum(counts) / max(counts[0], 1))
        if self.retained_graph_bytes > RETAINED_GRAPH_BYTES:
            return False
        self._graphs[0] = graph
        return True

    def _pick_modes(self, block: int = 4) -> tuple[str, str]:
        """Time each mode on the first batch for one vector and for a block; keep the faster.

        Neither mode wins everywhere: double backward shares one graph across vectors but runs
        them one after another, forward-over-reverse pushes a whole block through ``vmap``. The
        choice is made separately for single products and for blocks (``block`` columns); it
        costs ``2 * (3 + block)`` single-vector products at construction.
        """
        batch = self.problem.cast_batch(self.problem.batches[0])
        gen = torch.Generator(device="cpu").manual_seed(0)
        v = torch.randn(block, self.shape[0], generator=gen, dtype=torch.float64).to(
            device=self.device, dtype=self.dtype)
        single, multi = self.problem.split(v[:1]), self.problem.split(v)
        modes = list(_HVP) + (["pearlmutter"] if self._rop is not None else [])
        if self._offer_retained_graph(batch):
            modes.append("retained-graph")
        with differentiable_attention():
            timings = self._time_modes(modes, batch, single, multi, block)
        if not timings:
            raise UserInputError("neither forward-over-reverse nor double backward works here")
        self.mode_timings = timings
        return (min(timings, key=lambda m: timings[m][1]),
                min(timings, key=lambda m: timings[m][block]))

    def _time_modes(self, modes: list[str], batch: Any, single: dict[str, torch.Tensor],
                    multi: dict[str, torch.Tensor], block: int) -> dict[str, dict[int, float]]:
        timings: dict[str, dict[int, float]] = {}
        for mode in modes:
            try:
                self._product_with(mode, batch, single)  # warm-up
                one = []
                for _ in range(2):  # best of two: one timing is at the mercy of the scheduler
                    start = time.perf_counter()
                    self._product_with(mode, batch, single)
                    one.append(time.perf_counter() - start)
                start = time.perf_counter()
                self._product_with(mode, batch, multi)
                timings[mode] = {1: min(one), block: time.perf_counter() - start}
            except (RuntimeError, NotImplementedError):
                continue
        return timings


class GaussNewtonResidualOperator(HessianOperator):
    """The residual ``R = H - G`` of the Gauss-Newton decomposition, exactly.

    ``R = sum_i sum_c (dL/dz_ic) d^2 z_ic / d theta^2``: the Hessian of the surrogate
    ``theta -> <stop_grad(dL/dz), f(theta)>``, so ``R v`` is one Hessian-vector product. It needs
    ``loss_fn(output, target)``.

    References:
        Schraudolph 2002; Sagun et al. 2017 (arXiv:1706.04454).
    """

    needs_output_loss = True
    allow_rop = False  # R is not the Hessian of the loss: no R-operator shortcut

    def _scalar_fn(self, batch: Any) -> tuple[ScalarFn, tuple[torch.Tensor, ...]]:
        problem = self.problem
        with torch.no_grad():
            out = problem.output(problem.params, batch)
        z = out.detach().requires_grad_(True)
        with torch.enable_grad():
            gz = torch.autograd.grad(problem.loss_fn(z, problem.target(batch)), z)[0]
        X = batch[0]
        if X.is_floating_point():
            def fn(p: dict[str, torch.Tensor], aux: tuple[torch.Tensor, ...]) -> torch.Tensor:
                x, g = aux
                return (g * problem.output(p, (x,))).sum()

            return fn, (X, gz)

        def fn_int(p: dict[str, torch.Tensor], aux: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return (aux[0] * problem.output(p, (X,))).sum()

        return fn_int, (gz,)
