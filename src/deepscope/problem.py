"""The problem an instrument measures: model, loss, data, parameters, batch weights, BatchNorm.

:class:`Problem` is the one model-evaluation abstraction behind every model instrument (the
curvature operators and solvers, landscape grids, curves and sharpness): any ``nn.Module``; data
as an ``(X, y)`` pair or an iterable of batches, tensors or dicts of tensors of any dtype (integer
inputs such as token ids stay integer); a loss in output form or closure form; a parameter
selection; batch weights by loss terms; a BatchNorm policy. Instruments that take
``(model, loss_fn, data, ...)`` build one; a researcher can build one to inspect what will be
measured (``problem.loss()``, ``problem.n_terms``, ``problem.weights``, ``problem.names``).

The user's model is never touched: a problem works on a private deep copy whose mode is set once
(BatchNorm in evaluation or batch-statistics mode, see ``bn``), and every evaluation goes through
``torch.func.functional_call`` with the selected parameters passed in explicitly.

Loss conventions:

- ``loss_fn(output, target)`` returns the batch mean (as ``torch.nn.CrossEntropyLoss()`` does) or
  the batch sum (``reduction="sum"``). For sums the total loss is ``sum_b L_b``. For means it is
  the mean over every loss term of the data set, ``L = sum_b (t_b / T) L_b`` with ``t_b`` the
  number of terms batch b averages over and ``T = sum_b t_b``: the loss of all the data as ONE
  batch, however the batches are cut or padded (see :func:`loss_terms`).
- ``loss_fn(model, batch)`` (closure form, for custom losses and dict batches) returns the batch
  mean; the model it receives evaluates with the operator's parameters. Its terms are what its
  ``terms(batch)`` method returns when it has one (:class:`deepscope.token_loss.TokenCrossEntropy`
  does), else the samples, unless ``batch_weights`` says otherwise (another closure returning a
  mean over tokens needs ``batch_weights=lambda batch: number_of_tokens``).

Which form a callable has (``loss_form="auto"``, see :func:`is_closure`): read from its first two
positional parameters. The first decides when it is annotated (``nn.Module``: closure;
``torch.Tensor``: output) or has a known name (``model``, ``module``, ``net``, ``network``, ``m``,
``mdl``, ``mod``: closure; ``output``, ``out``, ``o``, ``logits``, ``input``, ``pred``, ``y_pred``,
``z``, ...: output); otherwise the second does (``batch``, ``data``, ``b``: closure; ``target``,
``y``, ``t``, ``labels``, ...: output). Anything else is refused with one line asking for
``loss_form="closure"`` or ``loss_form="output"``; ``nn.Module`` losses are always output form.
"""

from __future__ import annotations

import copy
import fnmatch
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from .errors import UserInputError

__all__ = [
    "BN_MODES",
    "FunctionalModel",
    "Problem",
    "REDUCTIONS",
    "batch_size",
    "batch_terms",
    "is_closure",
    "loss_terms",
    "normalise_data",
    "resolve_loss",
    "select_parameters",
]

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


_CLOSURE_FIRST = {"model", "module", "net", "network", "m", "mdl", "mod"}
_OUTPUT_FIRST = {"output", "outputs", "out", "o", "logits", "logit", "input", "inputs", "pred",
                 "preds", "prediction", "predictions", "ypred", "yhat", "z", "scores", "score"}
_CLOSURE_SECOND = {"batch", "data", "b", "minibatch", "mb"}
_OUTPUT_SECOND = {"target", "targets", "t", "y", "labels", "label", "ytrue", "truth", "tgt",
                  "yb"}


def _annotation_form(annotation: Any) -> str | None:
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):  # postponed annotations: judge the last dotted name
        name = annotation.rpartition(".")[2].strip("'\" ")
        return {"Module": "closure", "Tensor": "output"}.get(name)
    if isinstance(annotation, type):
        if issubclass(annotation, nn.Module):
            return "closure"
        if issubclass(annotation, torch.Tensor):
            return "output"
    return None


def _name_form(name: str, closure_names: set[str], output_names: set[str]) -> str | None:
    key = name.strip("_").lower().replace("_", "")
    return "closure" if key in closure_names else "output" if key in output_names else None


def is_closure(loss_fn: Callable, form: str) -> bool:
    """Whether ``loss_fn`` takes ``(model, batch)`` rather than ``(output, target)``.

    ``form="auto"`` reads the signature (rule in the module docstring) and raises
    ``UserInputError`` when it cannot tell.
    """
    if form not in ("auto", "output", "closure"):
        raise UserInputError(f"loss_form must be 'auto', 'output' or 'closure', got {form!r}")
    if form != "auto":
        return form == "closure"
    if isinstance(loss_fn, nn.Module):
        return False
    label = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    try:
        params = [p for p in inspect.signature(loss_fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:2]]
    decided = None
    if params:
        decided = _annotation_form(params[0].annotation) or _name_form(
            params[0].name, _CLOSURE_FIRST, _OUTPUT_FIRST)
    if decided is None and len(params) > 1:
        decided = _name_form(params[1].name, _CLOSURE_SECOND, _OUTPUT_SECOND)
    if decided is None:
        shown = f"({', '.join(names)})" if names else "(no readable signature)"
        raise UserInputError(
            f"cannot tell from loss_fn {label}{shown} whether it takes (output, target) or "
            "(model, batch): pass loss_form='output' or loss_form='closure'"
        )
    return decided == "closure"


#: losses whose mean runs over every element of the target (``reduction="mean"``)
_ELEMENTWISE = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss,
                nn.BCEWithLogitsLoss, nn.SoftMarginLoss, nn.PoissonNLLLoss)


def loss_terms(loss_fn: Callable, closure: bool, batch: Any) -> float:
    """The number of terms a mean-reduced batch loss averages over (its weight in the total).

    - ``nn.CrossEntropyLoss`` / ``nn.NLLLoss`` with class-index targets: the targets (over every
      position) not equal to ``ignore_index``; with a class ``weight``, the sum of the weights
      of those targets (what PyTorch divides by). With probability targets: the positions,
      ``target.numel() / target.shape[1]``.
    - element-wise losses (``MSELoss``, ``L1Loss``, ``SmoothL1Loss``, ``HuberLoss``, ``BCELoss``,
      ``BCEWithLogitsLoss``, ``SoftMarginLoss``, ``PoissonNLLLoss``): ``target.numel()``.
    - ``KLDivLoss(reduction="mean")``: ``target.numel()``.
    - a closure with a ``terms(batch)`` method (e.g.
      :class:`deepscope.token_loss.TokenCrossEntropy`): what it returns.
    - any other callable or closure: the samples (the leading dimension); ``batch_weights`` says
      otherwise.
    """
    if closure and callable(getattr(loss_fn, "terms", None)):  # a loss that counts its terms
        return float(loss_fn.terms(batch))
    target = None
    if not closure and isinstance(batch, (tuple, list)) and len(batch) > 1:
        target = batch[1]
    if isinstance(target, torch.Tensor) and getattr(loss_fn, "reduction", None) == "mean":
        if isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
            if target.is_floating_point():
                return float(target.numel() // target.shape[1]) if target.ndim > 1 else 1.0
            keep = target != loss_fn.ignore_index
            if loss_fn.weight is None:
                return float(keep.sum())
            weight = loss_fn.weight.detach().to(device=target.device, dtype=torch.float64)
            return float(weight[target[keep]].sum())
        if isinstance(loss_fn, (*_ELEMENTWISE, nn.KLDivLoss)):
            return float(target.numel())
    return float(batch_size(batch))


def batch_terms(batches: Sequence[Any], counts: Sequence[int], loss_fn: Callable,
                closure: bool, batch_weights: Any) -> list[float]:
    """Terms per batch: automatic (:func:`loss_terms`), ``"samples"``, one number per batch, or
    a callable ``batch -> number``."""
    if batch_weights is None:
        return [loss_terms(loss_fn, closure, b) if c else 0.0 for b, c in zip(batches, counts)]
    if isinstance(batch_weights, str):
        if batch_weights != "samples":
            raise UserInputError(f"batch_weights must be None, 'samples', one number per batch "
                                 f"or a callable, got {batch_weights!r}")
        return [float(c) for c in counts]
    if callable(batch_weights):
        terms = [batch_weights(b) for b in batches]
    else:
        terms = list(batch_weights)
        if len(terms) != len(batches):
            raise UserInputError(f"batch_weights has {len(terms)} entries for {len(batches)} "
                                 "batches")
    out = []
    for t in terms:
        value = float(t.item() if isinstance(t, torch.Tensor) else t)
        if not value >= 0 or value == float("inf"):
            raise UserInputError(f"batch_weights must be finite and >= 0, got {value!r}")
        out.append(value)
    return out


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


class Problem:
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
        batch_weights: the number of loss terms of each batch, for mean reductions: ``None``
            (read from the loss, :func:`loss_terms`), ``"samples"``, one number per batch, or a
            callable ``batch -> number``. Batch b weighs ``t_b / sum t``.
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
        batch_weights: Any = None,
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

        batches = list(normalise_data(data))
        counts = [batch_size(b) for b in batches]
        if batch_weights is not None and reduction == "sum":
            raise UserInputError("batch_weights applies to mean-reduced losses; a sum-reduced "
                                 "loss adds its batches with weight 1")
        terms = batch_terms(batches, counts, self.loss_fn, self.closure, batch_weights)
        # an empty batch, or one without loss terms, adds nothing (its mean loss would be NaN)
        keep = [i for i, (c, t) in enumerate(zip(counts, terms)) if c > 0 and t > 0]
        self.batches = [batches[i] for i in keep]
        self.counts = [counts[i] for i in keep]
        self.terms = [terms[i] for i in keep]
        self.n_samples = sum(self.counts)
        if not self.counts or self.n_samples == 0:
            raise UserInputError("data is empty: no batch with samples (or with loss terms)")
        self.n_terms = sum(self.terms)
        #: the weight of each batch's loss in the total (``t_b / T``; 1 for sum reductions)
        self.weights = [t / self.n_terms if reduction == "mean" else 1.0 for t in self.terms]
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
        for batch, w in zip(self.batches, self.weights):
            yield self.cast_batch(batch), w

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
