"""A functional view of (model, loss, data) that curvature operators build on.

The user's model is never touched: operators work on a private deep copy whose mode is set once
(BatchNorm in evaluation or batch-statistics mode, see ``bn``), and every evaluation goes through
``torch.func.functional_call`` with the selected parameters passed in explicitly.

Loss conventions:

- ``loss_fn(output, target)`` returns the batch mean (as ``torch.nn.CrossEntropyLoss()`` does) or
  the batch sum (``reduction="sum"``). The total loss over all batches is the mean over all
  samples, ``L = sum_b (n_b / N) L_b`` (or the plain sum ``sum_b L_b`` for sum reductions), so
  uneven batches are weighted by their sample counts.
- ``loss_fn(model, batch)`` (closure form, for custom losses and dict batches) returns the batch
  mean; the model it receives evaluates with the operator's parameters.
"""

from __future__ import annotations

import copy
import fnmatch
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from ...errors import UserInputError

BN_MODES = ("eval", "batch")
REDUCTIONS = ("mean", "sum")
_LOSS_NAMES = {"ce": "ce", "cross_entropy": "ce", "crossentropy": "ce", "mse": "mse"}


def resolve_loss(loss_fn: Any) -> tuple[Callable, str | None]:
    """Turn ``"ce"``/``"mse"`` into loss modules; report the analytic kind when known."""
    if isinstance(loss_fn, str):
        key = _LOSS_NAMES.get(loss_fn.lower().replace("-", "_"))
        if key is None:
            raise UserInputError(f"unknown loss {loss_fn!r}; use 'ce', 'mse' or a callable")
        loss_fn = nn.CrossEntropyLoss() if key == "ce" else nn.MSELoss()
    if not callable(loss_fn):
        raise UserInputError(
            f"loss_fn must be callable or 'ce'/'mse', got {type(loss_fn).__name__}"
        )
    kind = None
    if type(loss_fn) is nn.CrossEntropyLoss:
        plain = (
            loss_fn.weight is None and loss_fn.label_smoothing == 0.0
            and loss_fn.reduction in REDUCTIONS
        )
        kind = "ce" if plain else None
    elif type(loss_fn) is nn.MSELoss and loss_fn.reduction in REDUCTIONS:
        kind = "mse"
    return loss_fn, kind


def is_closure(loss_fn: Callable, form: str) -> bool:
    """Whether ``loss_fn`` takes ``(model, batch)`` rather than ``(output, target)``."""
    if form not in ("auto", "output", "closure"):
        raise UserInputError(f"loss_form must be 'auto', 'output' or 'closure', got {form!r}")
    if form != "auto":
        return form == "closure"
    if isinstance(loss_fn, nn.Module):
        return False
    try:
        first = next(iter(inspect.signature(loss_fn).parameters), "")
    except (TypeError, ValueError):
        return False
    return first in ("model", "module", "net", "network")


def batch_size(batch: Any) -> int:
    """Number of samples in a batch: the leading dimension of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, dict):
        values = list(batch.values())
    elif isinstance(batch, (tuple, list)):
        values = list(batch)
    else:
        raise UserInputError(f"cannot read a batch of type {type(batch).__name__}")
    for value in values:
        if isinstance(value, torch.Tensor) and value.ndim:
            return int(value.shape[0])
    raise UserInputError("a batch holds no tensor with a batch dimension")


def normalise_data(data: Any) -> list[Any] | Iterable[Any]:
    """A re-iterable collection of batches; an ``(X, y)`` pair of tensors is one batch."""
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        return [tuple(data)]
    if isinstance(data, torch.Tensor):
        raise UserInputError("data must be an (X, y) pair or an iterable of batches, not a tensor")
    try:
        iterator = iter(data)
    except TypeError:
        raise UserInputError(f"data of type {type(data).__name__} is not iterable") from None
    if iterator is data:  # a one-shot iterator or generator: keep its batches
        data = list(iterator)
    return data


def select_parameters(model: nn.Module, params: Any) -> list[str]:
    """Names of the selected parameters, in ``named_parameters()`` order.

    ``params`` is ``None`` (every trainable parameter), a name or glob, or a list of them.
    """
    named = list(model.named_parameters())
    if params is None:
        names = [n for n, p in named if p.requires_grad]
        if not names:
            raise UserInputError("the model has no trainable parameter")
        return names
    patterns = [params] if isinstance(params, str) else list(params)
    chosen = []
    for pattern in patterns:
        hits = [n for n, _ in named if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            available = ", ".join(n for n, _ in named[:8]) + (", ..." if len(named) > 8 else "")
            raise UserInputError(f"parameter glob {pattern!r} matches no parameter ({available})")
        chosen.extend(hits)
    return [n for n, _ in named if n in set(chosen)]


def _refuse_dropout(model: nn.Module) -> None:
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.training and module.p > 0:
            raise UserInputError(
                f"dropout module {name or type(module).__name__!r} is active in train mode, so the "
                "loss is random; call model.eval() or set p=0"
            )


class FunctionalModel:
    """A model that evaluates with given parameters: handed to closure losses."""

    def __init__(self, module: nn.Module, params: dict[str, torch.Tensor]):
        self.module = module
        self.params = params

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return torch.func.functional_call(self.module, self.params, args, kwargs)


class ModelLoss:
    """The loss over all data as a function of the selected parameters.

    Args:
        model: the user's model (copied, never modified).
        loss_fn: ``loss_fn(output, target)``, ``"ce"``/``"mse"``, or a closure
            ``loss_fn(model, batch)``.
        data: an ``(X, y)`` pair of tensors or an iterable of batches.
        params: parameter names or globs (default: all trainable parameters).
        bn: ``"eval"`` (running statistics) or ``"batch"`` (batch statistics, no buffer update).
        dtype: evaluate in this dtype (default: the parameters' dtype), e.g. ``torch.float64``.
        loss_form: ``"auto"``, ``"output"`` or ``"closure"``.
        reduction: ``"mean"`` or ``"sum"`` when it cannot be read from ``loss_fn.reduction``.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Any,
        data: Any,
        params: str | Sequence[str] | None = None,
        bn: str = "eval",
        dtype: torch.dtype | None = None,
        loss_form: str = "auto",
        reduction: str | None = None,
    ):
        if not isinstance(model, nn.Module):
            raise UserInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if bn not in BN_MODES:
            raise UserInputError(f"bn must be one of {BN_MODES}, got {bn!r}")
        _refuse_dropout(model)
        self.loss_fn, self.loss_kind = resolve_loss(loss_fn)
        self.closure = is_closure(self.loss_fn, loss_form)
        if self.closure:
            self.loss_kind = None
        reduction = reduction or getattr(self.loss_fn, "reduction", None) or "mean"
        if reduction not in REDUCTIONS:
            raise UserInputError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.names = select_parameters(model, params)

        module = copy.deepcopy(model)
        if dtype is not None:
            module = module.to(dtype)
        for sub in module.modules():
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                if bn == "eval":
                    sub.eval()
                else:  # batch statistics, without touching running buffers
                    sub.train()
                    sub.track_running_stats = False
                    sub.running_mean = None
                    sub.running_var = None
                    sub.num_batches_tracked = None
        for p in module.parameters():
            p.requires_grad_(False)
        self.module = module
        named = dict(module.named_parameters())
        self.params = {n: named[n].detach() for n in self.names}
        self.shapes = [tuple(self.params[n].shape) for n in self.names]
        self.numels = [self.params[n].numel() for n in self.names]
        self.dtype = next(iter(self.params.values())).dtype
        self.device = next(iter(self.params.values())).device
        self.size = sum(self.numels)

        batches = normalise_data(data)
        counts = [batch_size(b) for b in batches]
        # an empty batch adds nothing (and its mean loss would be NaN)
        self.batches = [b for b, c in zip(batches, counts) if c > 0]
        self.counts = [c for c in counts if c > 0]
        self.n_samples = sum(self.counts)
        if not self.counts or self.n_samples == 0:
            raise UserInputError("data is empty: no batch with samples")
        # a module that overwrites its input (inplace=True) must never see the caller's data
        self.copy_inputs = any(getattr(m, "inplace", False) for m in module.modules())
        if self.loss_kind == "ce" and not self.closure and self._ignores_labels():
            self.loss_kind = None  # ignored samples: not a plain mean over samples

    def _ignores_labels(self) -> bool:
        """Whether some class label equals the cross-entropy's ``ignore_index``: the loss is
        then a mean over the other samples only, and the analytic shortcuts do not apply."""
        ignore = getattr(self.loss_fn, "ignore_index", -100)
        for batch in self.batches:
            y = batch[1] if isinstance(batch, (tuple, list)) and len(batch) > 1 else None
            if isinstance(y, torch.Tensor) and not y.is_floating_point() \
                    and bool((y == ignore).any()):
                return True
        return False

    # ------------------------------------------------------------------ flat <-> dict
    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """A flat (P,) or (k, P) tensor as a dict of parameter-shaped tensors."""
        lead = flat.shape[:-1]
        pieces = torch.split(flat, self.numels, dim=-1)
        return {n: t.reshape(*lead, *s) for n, t, s in zip(self.names, pieces, self.shapes)}

    def join(self, tensors: dict[str, torch.Tensor] | Sequence[torch.Tensor], lead: int = 0):
        """Concatenate parameter-shaped tensors (with ``lead`` leading dims) to flat."""
        items = [tensors[n] for n in self.names] if isinstance(tensors, dict) else list(tensors)
        return torch.cat([t.reshape(*t.shape[:lead], -1) for t in items], dim=-1)

    # ------------------------------------------------------------------ evaluation
    def cast_batch(self, batch: Any) -> Any:
        """Move tensors to the device; floating inputs to the operator's dtype."""

        def cast(t: Any) -> Any:
            if isinstance(t, torch.Tensor):
                src = t
                t = t.to(self.device)
                t = t.to(self.dtype) if t.is_floating_point() else t
                return t.clone() if self.copy_inputs and t is src else t
            return t

        if isinstance(batch, dict):
            return {k: cast(v) for k, v in batch.items()}
        if isinstance(batch, (tuple, list)):
            return type(batch)(cast(v) for v in batch)
        return cast(batch)

    def weight(self, count: int) -> float:
        return count / self.n_samples if self.reduction == "mean" else 1.0

    def output(self, params: dict[str, torch.Tensor], batch: Any) -> torch.Tensor:
        X = batch[0] if isinstance(batch, (tuple, list)) else batch
        return torch.func.functional_call(self.module, params, (X,))

    def target(self, batch: Any) -> Any:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise UserInputError("batches must be (X, y) pairs for loss_fn(output, target)")
        return batch[1]

    def batch_loss(self, params: dict[str, torch.Tensor], batch: Any) -> torch.Tensor:
        """The loss of one batch (its mean or sum, as ``loss_fn`` reduces)."""
        if self.closure:
            return self.loss_fn(FunctionalModel(self.module, params), batch)
        return self.loss_fn(self.output(params, batch), self.target(batch))

    def iter_batches(self):
        for batch, count in zip(self.batches, self.counts):
            yield self.cast_batch(batch), self.weight(count)

    def loss(self) -> torch.Tensor:
        """The total loss at the current parameters."""
        total = torch.zeros((), dtype=self.dtype, device=self.device)
        with torch.no_grad():
            for batch, w in self.iter_batches():
                value = self.batch_loss(self.params, batch)
                if value.ndim != 0:
                    raise UserInputError(
                        f"loss_fn must return a scalar, got shape {tuple(value.shape)}"
                    )
                total = total + w * value.to(self.dtype)
        return total

    def check(self) -> float:
        """Evaluate the loss twice: refuse NaN/inf and non-deterministic models."""
        first = self.loss()
        value = float(first)
        if value != value or value in (float("inf"), float("-inf")):
            raise UserInputError(f"the loss is not finite ({value}) at the given parameters")
        second = self.loss()
        if not torch.equal(first, second):
            raise UserInputError(
                "the model is not deterministic: two evaluations of the loss differ by "
                f"{abs(float(first - second)):.3g} (random layers or data augmentation?)"
            )
        return value
