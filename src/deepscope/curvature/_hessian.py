"""The Hessian of a model's loss as a matrix-free operator, and the Gauss-Newton residual.

``HessianOperator(model, loss_fn, data) @ v`` is the exact Hessian-vector product of the loss over
all samples (batches weighted by their numbers of loss terms). Four product modes
(:mod:`._autodiff`, :mod:`._rop`): ``"forward-over-reverse"`` (``torch.func.jvp`` of
``torch.func.grad``, many vectors at once with ``vmap``), ``"reverse-over-reverse"`` (double
backward, the graph built once per batch and reused for every vector), ``"retained-graph"`` (the
same double backward on a first-order graph built once per batch and KEPT across products: the
same numbers bit for bit, without repeating the forward pass and the gradient; it holds every
batch's activations) and ``"pearlmutter"`` (the R-operator of sequential networks).
``mode="auto"`` picks one from the model's structure, never by timing (:mod:`._paths`), so
repeated constructions make the same products to the last bit; ``op.mode`` is the resolved mode
and every solver's result records it (``path``).

Every product runs with the math backend of ``scaled_dot_product_attention`` selected and the
fused fast path of ``nn.MultiheadAttention`` off (:func:`differentiable_attention`): the fused
kernels have neither forward-mode AD nor a double backward, so attention layers
(``nn.MultiheadAttention``, Hugging Face models) work in every mode. Models without attention are
unaffected.

Construction is one pass over the data (the loss value, refused when not finite) plus a few
evaluations on the first samples of the first batch (determinism, the support trials of
``auto``; :mod:`._trial`); the model is copied once per :class:`Problem`, and
:meth:`ModelCurvatureOperator.sharing` builds further operators on the same one.

References:
    Pearlmutter, 'Fast exact multiplication by the Hessian', Neural Comput. 6:147 (1994).
    Schraudolph, 'Fast curvature matrix-vector products for second-order gradient descent',
    Neural Comput. 14:1723 (2002) (the Gauss-Newton decomposition H = G + R).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_flatten, tree_unflatten

from ..errors import UserInputError
from ..problem import Problem
from ._autodiff import (
    HVP,
    RetainedGraph,
    ScalarFn,
    differentiable_attention,
    saved_bytes,
)
from ._base import CurvatureLinearOperator
from ._distributed import DataParallel
from ._paths import RETAINED_GRAPH_BYTES, choose_mode
from ._rop import SequentialROperator
from ._trial import checked_loss

__all__ = ["GaussNewtonResidualOperator", "HessianOperator", "ModelCurvatureOperator",
           "RETAINED_GRAPH_BYTES", "differentiable_attention"]

MODES = ("auto", "forward-over-reverse", "reverse-over-reverse", "pearlmutter", "retained-graph")
#: vectors per R-operator pass; larger blocks are split (see HessianOperator._product_with)
ROP_BLOCK = 4
_MODE_ALIASES = {"fwd": "forward-over-reverse", "rev": "reverse-over-reverse",
                 "forward": "forward-over-reverse", "reverse": "reverse-over-reverse",
                 "rop": "pearlmutter", "retained": "retained-graph"}


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
            self._check_problem(problem)
            return problem

        def evaluate(problem: Problem) -> float:
            return checked_loss(problem) if check_determinism else float(problem.loss())

        data_parallel = DataParallel.resolve(distributed, model)
        if data_parallel is None:
            problem = make_problem()
            loss_value = evaluate(problem)
        else:  # this process's shard of the batches, weighted over the global term count
            problem, loss_value = data_parallel.setup(make_problem, evaluate)
        self._attach(problem, loss_value, data_parallel)

    def _check_problem(self, problem: Problem) -> None:
        if self.needs_output_loss and problem.closure:
            raise UserInputError(
                f"{type(self).__name__} needs loss_fn(output, target), not a closure loss"
            )

    def _attach(self, problem: Problem, loss_value: float,
                data_parallel: DataParallel | None) -> None:
        self.problem = problem
        #: the loss over all the data at the operator's parameters
        self.loss_value = loss_value
        #: the collectives of a data-parallel operator (see ``_distributed.py``), or None
        self.data_parallel = data_parallel
        CurvatureLinearOperator.__init__(self, problem.size, problem.dtype, problem.device)

    def _configure(self) -> None:
        """Set the product path from this class's options (see :meth:`sharing`)."""

    @classmethod
    def sharing(cls, other: ModelCurvatureOperator, **options: Any) -> ModelCurvatureOperator:
        """An operator of this class on the same :class:`Problem` as ``other``.

        The model copy, the data, the parameter selection, the batch weights, the loss value
        and the data-parallel group are ``other``'s: no copy and no pass over the data.
        ``options`` are this class's own (``mode`` for :class:`HessianOperator`).
        """
        op = cls.__new__(cls)
        op._check_problem(other.problem)
        op._attach(other.problem, other.loss_value, other.data_parallel)
        op._configure(**options)
        return op

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
        mode: ``"auto"`` (picked from the model's structure, never by timing: the R-operator
            where it covers the model, the kept graph for attention models within the memory
            bound, else double backward; see :mod:`~deepscope.curvature._paths`),
            ``"forward-over-reverse"``, ``"reverse-over-reverse"``, ``"pearlmutter"``
            (sequential networks) or ``"retained-graph"`` (double backward on a first-order graph
            kept per batch; see the module docstring). ``self.mode`` is the resolved mode.
        dtype: compute in this dtype (e.g. ``torch.float64``) instead of the model's.
        loss_form: ``"auto"`` (read from the signature of ``loss_fn``), ``"output"`` or
            ``"closure"``.
        batch_weights: the loss terms of each batch for mean reductions: ``None`` (read from
            the loss), ``"samples"``, one number per batch, or a callable ``batch -> number`` (a
            closure whose loss is a mean over tokens needs this unless it has a ``terms(batch)``
            method, as :class:`~deepscope.token_loss.TokenCrossEntropy` has).
        check_determinism: refuse a model whose loss differs between two evaluations (of the
            first batch's first samples).
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
        self._configure(mode)

    def _configure(self, mode: str = "auto") -> None:
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
            local: list[str] = []

            def pick() -> tuple[str]:
                local.append(choose_mode(self))
                return (local[0],)

            (mode,) = self.data_parallel.agree_on(pick, MODES)
            # every rank keeps its own shard's graphs: each must fit the bound, not only rank 0
            if mode == "retained-graph" and not self.data_parallel.everywhere(
                    local[0] == "retained-graph"):
                mode = "reverse-over-reverse"
        elif mode == "auto":
            mode = choose_mode(self)
        #: the resolved product mode (``auto`` resolved by :func:`~._paths.choose_mode`)
        self.mode = mode
        #: the mode of products with blocks of vectors: the same as ``mode``
        self.batched_mode = mode
        if mode != "retained-graph":
            self._graphs.clear()  # built for the memory estimate: not used, not kept

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
        return self._product_with(self.mode, batch, V)

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
        return HVP[mode](fn, self.problem.params, V, aux)

    def _retained_inputs(self, batch: Any) -> tuple[ScalarFn, dict[str, torch.Tensor],
                                                    tuple[torch.Tensor, ...]]:
        fn, aux = self._scalar_fn(batch)
        return fn, self.problem.params, aux

    def _keep_first_graph(self, batch: Any, limit: int) -> bool:
        """Build and keep the first batch's first-order graph when the graphs of all batches,
        extrapolated from its saved tensors, fit in ``limit`` bytes."""
        try:
            graph, size = saved_bytes(lambda: RetainedGraph(*self._retained_inputs(batch)))
        except (RuntimeError, NotImplementedError):
            return False
        counts = self.problem.counts
        self.retained_graph_bytes = int(size * sum(counts) / max(counts[0], 1))
        if self.retained_graph_bytes > limit:
            return False
        self._graphs[0] = graph
        return True


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
