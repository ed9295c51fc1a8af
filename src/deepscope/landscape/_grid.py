"""Lines, planes and N-D grids through parameter space; straight-line interpolation.

Every point is ``theta_0 + sum_i a_i d_i`` evaluated through ``torch.func.functional_call`` on a
private copy of the model (see :class:`~._evaluate.LandscapeEvaluator`). Grids are scored in
chunks; ``done``/``values``/``on_chunk`` let a store resume an interrupted grid and record each
chunk as it finishes.

References:
    Goodfellow, Vinyals & Saxe, 'Qualitatively characterizing neural network optimization
    problems', ICLR 2015. Li et al., 'Visualizing the loss landscape of neural nets', NeurIPS 2018.
    Frankle et al., 'Linear mode connectivity and the lottery ticket hypothesis', ICML 2020.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserInputError
from ._directions import Directions, check_same_architecture, flat_parameters, trainable_names
from ._evaluate import LandscapeEvaluator


# ----------------------------------------------------------------------------- grid specs
def parse_grid(grid: Any, k: int) -> tuple[int, ...]:
    """A grid shape with one size (>= 2) per direction: ``31``, ``(31, 31)`` or ``"31x31"``."""
    if grid is None:
        return (31,) * k
    if isinstance(grid, str):
        try:
            grid = tuple(int(p) for p in grid.lower().split("x"))
        except ValueError:
            raise UserInputError(f"bad grid spec {grid!r}; use e.g. '31x31'") from None
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        grid = (int(grid),) * k
    shape = tuple(grid)
    if len(shape) != k:
        raise UserInputError(f"grid {shape} has {len(shape)} axes but there are {k} directions")
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise UserInputError(f"grid sizes must be integers >= 2, got {shape}")
    return tuple(int(n) for n in shape)


def parse_span(span: Any, k: int) -> list[tuple[float, float]]:
    """``(lo, hi)`` for every axis (one pair for all, one pair per axis, or ``"-1:1"``)."""
    if isinstance(span, str):
        try:
            lo, hi = (float(p) for p in span.split(":"))
        except ValueError:
            raise UserInputError(f"bad span {span!r}; use e.g. '-1:1'") from None
        span = (lo, hi)
    try:
        arr = np.asarray(span, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserInputError(f"bad span {span!r}; use (lo, hi)") from None
    if arr.shape == (2,):
        arr = np.tile(arr, (k, 1))
    if arr.shape != (k, 2):
        raise UserInputError(f"span must be (lo, hi) or {k} such pairs, got {span!r}")
    for lo, hi in arr:
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi:
            raise UserInputError(f"span needs finite lo < hi, got ({lo}, {hi})")
    return [(float(lo), float(hi)) for lo, hi in arr]


def axis(n: int, lo: float, hi: float) -> np.ndarray:
    """``n`` evenly spaced values, ``lo + (hi - lo) i / (n - 1)``: the ends are exact, and so is 0
    at the centre of a symmetric span."""
    out = lo + (hi - lo) * (np.arange(n) / (n - 1))
    out[-1] = hi
    return out


# ----------------------------------------------------------------------------- results
@dataclasses.dataclass
class LandscapeResult:
    """Metrics on a grid.

    Attributes:
        coords: one 1-D array of coordinates per direction (a 1-tuple for a line).
        values: ``{name: array of the grid's shape}``: ``loss``, ``accuracy`` (classification),
            user metrics and, with subsampling, ``NAME_stderr``.
        directions: the directions of the grid.
        base_loss: the loss at the origin (all coordinates 0).
        method: ``"batched"`` (a fast scorer) or ``"exact"``.
        info: settings and counts, ``fallback_reason`` (why no fast scorer applies) and
            ``scorer``.
        scorer: the scorers that scored the grid, e.g. ``"chain (unit points: exact)"``: the
            chain scorer, and the exact one for the points that are basis vectors (the centre).
    """

    coords: tuple[np.ndarray, ...]
    values: dict[str, np.ndarray]
    directions: Directions | None
    base_loss: float
    method: str
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    scorer: str = ""

    @property
    def loss(self) -> np.ndarray:
        return self.values["loss"]

    @property
    def stderr(self) -> np.ndarray | None:
        return self.values.get("loss_stderr")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.coords)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def __repr__(self) -> str:
        from ..notebook import brief

        loss = np.asarray(self.values.get("loss", np.zeros(0)))
        return brief("LandscapeResult", shape=self.shape, metrics=list(self.values),
                     base_loss=self.base_loss,
                     min_loss=float(np.nanmin(loss)) if loss.size else None, method=self.method)

    def _repr_html_(self) -> str:
        from ..notebook import landscape_html

        return landscape_html(self)


def grid_points(coords: Sequence[np.ndarray]) -> np.ndarray:
    """All grid points as an (n, k) array in C order (the last axis varies fastest)."""
    return np.array(list(itertools.product(*coords)), dtype=np.float64).reshape(-1, len(coords))


def _as_directions(model: nn.Module, directions: Any) -> Directions:
    names = trainable_names(model)
    if isinstance(directions, Directions):
        if directions.names != names:
            raise UserInputError("the directions were made for another model (parameter names "
                                 "differ)")
        return directions
    if isinstance(directions, torch.Tensor):
        vectors = directions if directions.ndim == 2 else directions.reshape(1, -1)
    else:
        try:
            vectors = torch.stack([torch.as_tensor(d).reshape(-1) for d in directions])
        except (TypeError, RuntimeError):
            raise UserInputError("directions must be a Directions, a (k, P) tensor or a list "
                                 "of flat tensors") from None
    named = dict(model.named_parameters())
    shapes = [tuple(named[n].shape) for n in names]
    if vectors.shape[1] != sum(int(np.prod(s)) for s in shapes):
        raise UserInputError(f"directions have {vectors.shape[1]} entries but the model has "
                             f"{sum(int(np.prod(s)) for s in shapes)} trainable parameters")
    return Directions(vectors.to(named[names[0]].dtype), names, shapes, None,
                      {"kind": "user"})


def make_evaluator(model: nn.Module, loss_fn: Any, data: Any, basis: torch.Tensor,
                   **options: Any) -> LandscapeEvaluator:
    return LandscapeEvaluator(model, loss_fn, data, basis, **options)


def evaluate_grid(model: nn.Module, loss_fn: Any, data: Any, directions: Any,
                  grid: Any = None, span: Any = (-1.0, 1.0), bn: str = "frozen", *,
                  metrics: dict[str, Callable] | None = None, accuracy: bool | None = None,
                  n_samples: int | None = None,
                  seed: int = 0, dtype: torch.dtype | None = None, method: str = "auto",
                  points_per_pass: int | None = None, max_memory: int | None = None,
                  done: np.ndarray | None = None, values: dict[str, np.ndarray] | None = None,
                  on_chunk: Callable[[np.ndarray, dict[str, np.ndarray]], None] | None = None,
                  evaluator: LandscapeEvaluator | None = None,
                  batch_weights: Any = None, backend: str = "local",
                  address: str | None = None, workers: int | None = None) -> LandscapeResult:
    """The loss (and metrics) on a grid ``theta_0 + sum_i a_i d_i``.

    Args:
        model: the model (never modified); ``theta_0`` is its parameters unless the directions
            carry an origin.
        loss_fn, data: as for the curvature operators (``"ce"``, ``"mse"``,
            ``loss_fn(output, target)`` or a closure; an ``(X, y)`` pair or batches).
        directions: :class:`Directions`, a (k, P) tensor or a list of k flat tensors.
        grid: points per axis: an int, a k-tuple or ``"31x31"`` (default 31 per axis).
        span: ``(lo, hi)`` for all axes, or one pair per axis.
        bn: ``"frozen"`` or ``"recompute"``.
        metrics, accuracy, n_samples, seed, dtype, method, points_per_pass, max_memory: see
            :class:`~._evaluate.LandscapeEvaluator` (``accuracy=False`` scores the loss only).
        batch_weights: the number of loss terms of each batch, as for the curvature
            operators (default: read from the loss, e.g. the targets not equal to
            ``ignore_index``), so the loss is that of all the data as one batch.
        done, values: a boolean done-mask (grid-shaped) and the values already computed, to
            resume: only the points not done are scored.
        on_chunk: called after each chunk with the flat indices and their metric values.
        backend: ``"local"`` (this process) or ``"ray"``: the chunks that a local run records
            (:func:`chunk_plan`) become Ray tasks, with the same bits
            (:mod:`deepscope.scaleout`; the ``dist`` extra).
        address, workers: for ``"ray"``: a cluster to join (``"auto"`` or ``"HOST:PORT"``;
            default: a local instance on 127.0.0.1) and the number of single-threaded tasks
            run at once (default: the CPU count).

    Returns:
        LandscapeResult with ``loss`` of shape ``grid`` and ``coords``.

    Example (a quadratic bowl, L = 1/2 sum_i w_i^2 for a model whose output is w):
        >>> class W(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
        ...     def forward(self, x):
        ...         return self.w.expand(x.shape[0], 2)
        >>> half_sq = lambda out, y: 0.5 * (out ** 2).sum(1).mean()
        >>> res = evaluate_grid(W(), half_sq, (torch.zeros(3, 1), torch.zeros(3)),
        ...                     torch.tensor([[1.0, 0.0]], dtype=torch.float64), grid=5)
        >>> [round(float(v), 12) for v in res.loss]   # 1/2 (1 + a)^2 + 2
        [2.0, 2.125, 2.5, 3.125, 4.0]
    """
    if backend != "local" or address is not None or workers is not None:
        from ..scaleout import check_backend

        check_backend(backend, address, workers)
    dirs = _as_directions(model, directions)
    shape = parse_grid(grid, dirs.k)
    spans = parse_span(span, dirs.k)
    coords = tuple(axis(n, lo, hi) for n, (lo, hi) in zip(shape, spans))
    if evaluator is None:
        origin = dirs.origin if dirs.origin is not None else flat_parameters(model, dirs.names)
        basis = torch.cat([origin.to(dirs.vectors.dtype)[None], dirs.vectors])
        evaluator = make_evaluator(model, loss_fn, data, basis, bn=bn, metrics=metrics,
                                   accuracy=accuracy,
                                   n_samples=n_samples, seed=seed, dtype=dtype, method=method,
                                   points_per_pass=points_per_pass, max_memory=max_memory,
                                   batch_weights=batch_weights)
    pts = grid_points(coords)
    coeffs = np.concatenate([np.ones((len(pts), 1)), pts], axis=1)
    flat_values = _run_chunks(evaluator, coeffs, shape, done, values, on_chunk,
                              backend=backend, address=address, workers=workers)
    centre = np.zeros((1, dirs.k + 1))
    centre[0, 0] = 1.0
    base = float(evaluator.evaluate_points(centre)["loss"][0])
    scorer = evaluator.describe(np.concatenate([coeffs, centre]))
    return LandscapeResult(coords, {k: v.reshape(shape) for k, v in flat_values.items()}, dirs,
                           base, evaluator.method_,
                           {"bn": bn, "n_samples": evaluator.problem.n_samples,
                            "n_total": evaluator.n_total, "span": spans, "grid": list(shape),
                            "fallback_reason": evaluator.fallback_reason_,
                            "kernel_reason": evaluator.kernel_reason_, "scorer": scorer},
                           scorer)


def chunk_plan(evaluator: LandscapeEvaluator, todo: np.ndarray, shape: tuple[int, ...],
               recording: bool) -> list[np.ndarray]:
    """The chunks (flat point indices, in order) that one :meth:`evaluate_points` call each
    scores: all of ``todo`` at once when nothing is recorded between chunks; else
    ``points_per_pass`` points, or several passes (about 128 points, whole grid rows where a
    row fits twice in a chunk) so that a store records the grid as it goes. A Ray run uses the
    recording plan, so its chunks, and bits, are those of a local run into a store."""
    if not recording:
        step = max(len(todo), 1)  # nothing to record between chunks: one call
    elif evaluator.points_per_pass is not None:
        step = max(int(evaluator.points_per_pass), 1)
    else:
        # several passes per call, so that a store records the grid every ~128 points
        step = evaluator.chunk_size() if evaluator.method_ == "batched" else 16
        step *= max(1, 128 // step)
        row = shape[-1]
        if len(shape) > 1 and row <= 2 * step:
            step = max(1, round(step / row)) * row   # whole rows per call (the chain path
            #                                          mixes a grid row at once)
    return [todo[start:start + step] for start in range(0, len(todo), step)]


def _run_chunks(evaluator: LandscapeEvaluator, coeffs: np.ndarray, shape: tuple[int, ...],
                done: np.ndarray | None, values: dict[str, np.ndarray] | None,
                on_chunk: Callable | None, *, backend: str = "local",
                address: str | None = None, workers: int | None = None
                ) -> dict[str, np.ndarray]:
    n = len(coeffs)
    names = list(evaluator.metric_names)
    if evaluator.subset is not None:
        names += [f"{k}_stderr" for k in evaluator.metric_names]
    flat_done = np.zeros(n, dtype=bool) if done is None else np.asarray(done, bool).reshape(-1)
    if flat_done.shape != (n,):
        raise UserInputError(f"done mask has {flat_done.size} entries, the grid {n}")
    out = {k: np.full(n, np.nan) for k in names}
    if values is not None:
        for k in names:
            if k not in values:
                raise UserInputError(f"stored values lack metric {k!r}")
            out[k][flat_done] = np.asarray(values[k], dtype=np.float64).reshape(-1)[flat_done]
    todo = np.flatnonzero(~flat_done)

    def record(idx: np.ndarray, res: dict[str, np.ndarray]) -> None:
        for k in names:
            out[k][idx] = res[k]
        if on_chunk is not None:
            on_chunk(idx, {k: res[k] for k in names})

    if backend == "ray":
        from ..scaleout import score_chunks

        score_chunks(evaluator, coeffs, chunk_plan(evaluator, todo, shape, True), record,
                     address=address, workers=workers)
        return out
    for idx in chunk_plan(evaluator, todo, shape, on_chunk is not None):
        record(idx, evaluator.evaluate_points(coeffs[idx]))
    return out


# ----------------------------------------------------------------------------- interpolation
@dataclasses.dataclass
class InterpolationResult:
    """The loss along ``(1 - t) theta_a + t theta_b``.

    Attributes:
        t: the coefficients (0 is model a, 1 is model b, exactly).
        values: ``{name: array}`` along ``t``.
        barrier: ``max_{t in [0,1]} L(t) - ((1 - t) L(0) + t L(1))`` (Frankle et al. 2020).
        monotone_barrier: ``max_t [L(t) - min_{t' <= t} L(t')]`` over ``t`` in [0, 1] (the
            Goodfellow et al. 2015 check: 0 for a monotone decrease).
        distance: ``||theta_b - theta_a||``.
        method: ``"batched"`` (a fast scorer) or ``"exact"``.
        scorer: the scorers that scored the points (the endpoints exactly).
    """

    t: np.ndarray
    values: dict[str, np.ndarray]
    barrier: float
    monotone_barrier: float
    distance: float
    method: str
    scorer: str = ""

    @property
    def loss(self) -> np.ndarray:
        return self.values["loss"]

    def __repr__(self) -> str:
        from ..notebook import brief

        return brief("InterpolationResult", barrier=self.barrier,
                     monotone_barrier=self.monotone_barrier, distance=self.distance,
                     n_points=len(self.t), method=self.method)

    def _repr_html_(self) -> str:
        from ..notebook import interpolation_html

        return interpolation_html(self)


def barrier_heights(t: np.ndarray, loss: np.ndarray) -> tuple[float, float]:
    """(barrier above the chord between the endpoints, rise above the running minimum)."""
    inside = (t >= 0) & (t <= 1)
    i0, i1 = int(np.argmin(np.abs(t))), int(np.argmin(np.abs(t - 1)))
    chord = (1 - t) * loss[i0] + t * loss[i1]
    barrier = float(np.max((loss - chord)[inside]))
    order = np.argsort(t[inside])
    lv = loss[inside][order]
    monotone = float(np.max(lv - np.minimum.accumulate(lv)))
    return barrier, monotone


def interpolation_t(n_points: int = 101, span: Any = (0.0, 1.0)) -> np.ndarray:
    """The coefficients :func:`interpolate` scores: ``n_points`` across ``span``, plus 0 and 1."""
    lo, hi = parse_span(span, 1)[0]
    if lo > 0 or hi < 1:
        raise UserInputError(f"the interpolation span ({lo}, {hi}) must contain [0, 1]")
    n = parse_grid(n_points, 1)[0]
    return np.unique(np.concatenate([axis(n, lo, hi), [0.0, 1.0]]))


def interpolate(model_a: nn.Module, model_b: nn.Module, loss_fn: Any, data: Any,
                n_points: int = 101, span: Any = (0.0, 1.0), bn: str = "frozen", *,
                done: np.ndarray | None = None, values: dict[str, np.ndarray] | None = None,
                on_chunk: Callable[[np.ndarray, dict[str, np.ndarray]], None] | None = None,
                evaluator: LandscapeEvaluator | None = None, backend: str = "local",
                address: str | None = None, workers: int | None = None,
                **options: Any) -> InterpolationResult:
    """Linear interpolation between two models of the same architecture.

    The endpoints are the models' own parameters (coefficients (1, 0) and (0, 1)), scored by the
    exact path, so they equal each model's loss bit for bit. ``span`` may extend beyond [0, 1];
    the barriers only look at [0, 1], which must lie inside the span. ``done``, ``values``,
    ``on_chunk`` and ``evaluator`` resume and record the points as :func:`evaluate_grid` does
    (over :func:`interpolation_t`; the evaluator's basis is ``[theta_a, theta_b]``);
    ``backend``, ``address`` and ``workers`` spread the points over Ray tasks as there.
    """
    if backend != "local" or address is not None or workers is not None:
        from ..scaleout import check_backend

        check_backend(backend, address, workers)
    check_same_architecture(model_a, model_b)
    t = interpolation_t(n_points, span)
    names = trainable_names(model_a)
    a = flat_parameters(model_a, names)
    b = flat_parameters(model_b, names).to(a.dtype)
    ev = evaluator if evaluator is not None else make_evaluator(
        model_a, loss_fn, data, torch.stack([a, b]), bn=bn, **options)
    coeffs = np.stack([1 - t, t], axis=1)
    values = _run_chunks(ev, coeffs, (len(t),), done, values, on_chunk,
                         backend=backend, address=address, workers=workers)
    barrier, monotone = barrier_heights(t, values["loss"])
    return InterpolationResult(t, values, barrier, monotone, float((b - a).double().norm()),
                               ev.method_, ev.describe(coeffs))
