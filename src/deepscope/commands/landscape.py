"""``deepscope landscape``: loss-landscape slices, interpolations and curves, in one command.

Kinds: ``line`` (one direction), ``plane`` (two), ``interpolate`` (straight line from ``--model`` to
``--model-b``, with barrier heights), ``curve`` (a trained Bezier or polychain curve between the
two, against the straight line). Directions for lines and planes: ``random`` (Gaussian,
normalised by ``--norm``), ``hessian`` (top eigenvectors) or ``pca`` (top principal components of
``--trajectory FILE.npz``, an array ``checkpoints`` of shape (T, P): flattened trainable
parameters in ``named_parameters()`` order, one row per checkpoint, e.g. from
``TrajectoryRecorder.checkpoints``).

Every kind is resumable. While a run is computed, it lives in the hidden sibling
``.OUT.landscape-partial``: a grid store (``landscape.json`` + ``grid.npz``, rewritten after each
chunk) for lines and planes; for interpolations and curves, one store per scored line (``line/``,
``curve/``) and the curve's training state (``curve_state.npz``: bends, Adam moments, step, loss
history, saved every twentieth of the steps). When it completes, the outputs are added and the
directory is renamed to ``OUT``. After an interruption, the same command with ``--resume`` scores
only the missing points and continues training from the last checkpoint (bit-identical to an
uninterrupted run); without ``--resume`` the leftover is refused (never deleted).

``--backend ray`` (the ``dist`` extra) scores the chunks of a line, plane or interpolation as
Ray tasks (:mod:`deepscope.scaleout`), into the same store and with the same bits; a curve is
trained and scored in this process. A grid interrupted under one backend resumes under the
other.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import store
from ..errors import UserInputError

KINDS = ("line", "plane", "interpolate", "curve")
DIRECTION_KINDS = ("random", "pca", "hessian")
CITATIONS = ("li2018", "goodfellow2015", "garipov2018")


@dataclasses.dataclass(frozen=True)
class LandscapeRequest:
    """What to measure (the CLI's options)."""

    model: str
    data: str
    model_b: str | None = None
    loss: str = "ce"
    kind: str = "plane"
    directions: str = "random"
    norm: str = "filter"
    one_d: str = "ignore"
    grid: str | None = None
    span: str | None = None
    bn: str = "frozen"
    trajectory: str | None = None
    curve: str = "bezier"
    n_bends: int = 1
    curve_steps: int = 500
    curve_lr: float = 1e-2
    dtype: str = "float32"
    batch_size: int = 2048
    max_samples: int = 0
    n_samples: int = 0
    points_per_pass: int = 0
    html: bool = False
    seed: int = 0
    backend: str = "local"
    address: str | None = None
    workers: int | None = None

    def validate(self) -> None:
        from ..landscape import parse_grid, parse_span

        if self.kind not in KINDS:
            raise UserInputError(f"--kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.directions not in DIRECTION_KINDS:
            raise UserInputError(f"--directions must be one of {', '.join(DIRECTION_KINDS)}")
        if self.loss not in ("ce", "mse"):
            raise UserInputError(f"--loss must be 'ce' or 'mse', got {self.loss!r}")
        if self.dtype not in ("float32", "float64"):
            raise UserInputError("--dtype must be float32 or float64")
        if self.kind in ("interpolate", "curve") and not self.model_b:
            raise UserInputError(f"--kind {self.kind} needs --model-b")
        if self.directions == "pca" and self.kind in ("line", "plane") and not self.trajectory:
            raise UserInputError("--directions pca needs --trajectory FILE.npz (array "
                                 "'checkpoints' of flattened parameters, one row per checkpoint)")
        if self.batch_size < 1 or self.max_samples < 0 or self.n_samples < 0 \
                or self.points_per_pass < 0:
            raise UserInputError("--batch-size must be >= 1; --max-samples, --n-samples and "
                                 "--points-per-pass >= 0")
        from ..scaleout import check_backend

        check_backend(self.backend, self.address, self.workers)
        parse_grid(self.grid_spec, self.n_axes)
        lo, hi = parse_span(self.span_spec, 1)[0]
        if self.kind == "interpolate" and (lo > 0 or hi < 1):
            raise UserInputError("--span of an interpolation must contain 0:1")

    @property
    def n_axes(self) -> int:
        return 2 if self.kind == "plane" else 1

    @property
    def grid_spec(self) -> str:
        if self.grid is not None:
            return self.grid
        return {"line": "51", "plane": "31x31"}.get(self.kind, "101")

    @property
    def span_spec(self) -> str:
        if self.span is not None:
            return self.span
        return "-1:1" if self.kind in ("line", "plane") else "0:1"


def _load_models(request: LandscapeRequest):
    from .hessian import HessianRequest, load_inputs

    def load(spec: str, seed: int):
        return load_inputs(HessianRequest(model=spec, data=request.data, loss=request.loss,
                                    dtype=request.dtype, batch_size=request.batch_size,
                                    max_samples=request.max_samples, seed=seed))

    model, batches, dataset, dtype = load(request.model, request.seed)
    model_b = None
    if request.model_b:  # a zoo spec without weights is built with seed + 1
        model_b = load(request.model_b, request.seed + 1)[0]
    model = model.to(dtype)
    if model_b is not None:
        model_b = model_b.to(dtype)
    return model, model_b, batches, dataset, dtype


def _directions(request: LandscapeRequest, model, batches, dtype):
    from ..landscape import hessian_directions, pca_directions, random_directions

    k = request.n_axes
    if request.directions == "random":
        return random_directions(model, k, request.norm, request.seed, one_d=request.one_d)
    if request.directions == "hessian":
        return hessian_directions(model, request.loss, batches, k=k, dtype=dtype,
                                  seed=request.seed)
    path = Path(request.trajectory)
    try:
        with np.load(path, allow_pickle=False) as data:
            checkpoints = np.asarray(data["checkpoints"], dtype=np.float64)
    except (OSError, KeyError, ValueError) as exc:
        raise UserInputError(f"cannot read trajectory {str(path)!r}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'bad file'}") from None
    return pca_directions(checkpoints, model, n_components=k)


def _key(request: LandscapeRequest, model, dirs, batches) -> dict[str, Any]:
    from ..landscape_io import model_hash

    return {"command": "landscape", "model": request.model, "model_hash": model_hash(model),
            "data": request.data, "n_samples_data": sum(len(b[0]) for b in batches),
            "max_samples": request.max_samples, "n_samples": request.n_samples,
            "batch_size": request.batch_size, "loss": request.loss, "kind": request.kind,
            "directions": dirs.spec, "grid": request.grid_spec, "span": request.span_spec,
            "bn": request.bn, "dtype": request.dtype, "seed": request.seed,
            "points_per_pass": request.points_per_pass}


def _backend(request: LandscapeRequest) -> dict[str, Any]:
    return {"backend": request.backend, "address": request.address, "workers": request.workers}


def _options(request: LandscapeRequest, dtype) -> dict[str, Any]:
    return {"dtype": dtype, "n_samples": request.n_samples or None, "seed": request.seed,
            "points_per_pass": request.points_per_pass or None}


def _grid_run(request: LandscapeRequest, work: Path, resume: bool, model, batches, dtype):
    from ..landscape import LandscapeEvaluator, evaluate_grid, flat_parameters
    from ..landscape_io import GridStore

    dirs = _directions(request, model, batches, dtype)
    key = _key(request, model, dirs, batches)
    origin = dirs.origin if dirs.origin is not None else flat_parameters(model, dirs.names)
    import torch

    basis = torch.cat([origin.to(dirs.vectors.dtype)[None], dirs.vectors])
    ev = LandscapeEvaluator(model, request.loss, batches, basis,
                            bn=request.bn, **_options(request, dtype))
    names = list(ev.metric_names) + ([f"{m}_stderr" for m in ev.metric_names]
                                     if ev.subset is not None else [])
    from ..landscape import parse_grid

    shape = parse_grid(request.grid_spec, dirs.k)
    if resume:
        grid_store = GridStore.open(work, key)
    else:
        grid_store = GridStore.create(work, key, shape, names)
    result = evaluate_grid(model, request.loss, batches, dirs, grid=request.grid_spec,
                           span=request.span_spec, bn=request.bn, evaluator=ev,
                           done=grid_store.done, values=grid_store.values,
                           on_chunk=grid_store.update, **_backend(request))
    return result, dirs, key


CURVE_STATE = "curve_state.npz"


def _pair_key(request: LandscapeRequest, model, model_b, batches) -> dict[str, Any]:
    from ..landscape_io import model_hash

    return {"command": "landscape", "kind": request.kind, "model": request.model,
            "model_b": request.model_b, "model_hash": model_hash(model),
            "model_b_hash": model_hash(model_b), "data": request.data,
            "n_samples_data": sum(len(b[0]) for b in batches),
            "max_samples": request.max_samples, "n_samples": request.n_samples,
            "batch_size": request.batch_size, "loss": request.loss, "grid": request.grid_spec,
            "span": request.span_spec, "bn": request.bn, "dtype": request.dtype,
            "seed": request.seed, "curve": request.curve, "n_bends": request.n_bends,
            "curve_steps": request.curve_steps, "curve_lr": request.curve_lr,
            "points_per_pass": request.points_per_pass}


def _pair_basis(model, model_b):
    import torch

    from ..landscape import flat_parameters, trainable_names

    names = trainable_names(model)
    a = flat_parameters(model, names)
    return torch.stack([a, flat_parameters(model_b, names).to(a.dtype)])


def _pair_store(request: LandscapeRequest, directory: Path, key: dict[str, Any], resume: bool,
                model, batches, basis, n_points: int, opts: dict[str, Any]):
    """An evaluator over ``basis`` and the resumable store of its points in ``directory``."""
    from ..landscape import LandscapeEvaluator
    from ..landscape_io import GridStore

    ev = LandscapeEvaluator(model, request.loss, batches, basis, bn=request.bn, **opts)
    if resume and directory.exists():
        return ev, GridStore.open(directory, key)
    names = list(ev.metric_names) + ([f"{m}_stderr" for m in ev.metric_names]
                                     if ev.subset is not None else [])
    return ev, GridStore.create(directory, key, (n_points,), names)


def _read_curve_state(path: Path, key: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The saved curve training state, or None; refuse damage or other settings."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            state = {k: data[k] for k in data.files}
        stored = json.loads(str(state.pop("key_json")))
    except (OSError, ValueError, KeyError) as exc:
        raise UserInputError(f"corrupt curve checkpoint {str(path)!r}: {exc}") from None
    if stored != json.loads(json.dumps(_jsonable(key), sort_keys=True)):
        raise UserInputError(f"the curve checkpoint {str(path)!r} was made with other settings "
                             "or models; remove it or use another --out")
    return state


def analyse_landscape(request: LandscapeRequest, work: Path, resume: bool = False
                      ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any], Any]:
    """Measure; returns (record, arrays, figures, result) - grid kinds write their store."""
    from ..landscape import (
        evaluate_curve,
        fit_curve,
        interpolate,
        interpolation_t,
        plot_contour,
        plot_heatmap,
        plot_interpolation,
        plot_line,
        plot_surface,
    )

    model, model_b, batches, dataset, dtype = _load_models(request)
    start = time.perf_counter()
    record: dict[str, Any] = {"kind": request.kind, "model": request.model,
                              "model_b": request.model_b, "data": request.data,
                              "n_samples": sum(len(b[0]) for b in batches),
                              "dtype": request.dtype, "bn": request.bn}
    arrays: dict[str, np.ndarray] = {}
    figures: dict[str, Any] = {}
    result = None
    if request.kind in ("line", "plane"):
        result, dirs, key = _grid_run(request, work, resume, model, batches, dtype)
        record.update(provenance=key, base_loss=result.base_loss, method=result.method,
                      scorer=result.scorer,
                      fallback_reason=result.info["fallback_reason"],
                      cosines=np.asarray(dirs.cosines).tolist(),
                      cosines_raw=np.asarray(dirs.cosines_raw).tolist(),
                      direction_info=dirs.info, grid=list(result.shape),
                      min_loss=float(np.nanmin(result.loss)),
                      max_loss=float(np.nanmax(result.loss)))
        arrays.update({f"axis{i}": c for i, c in enumerate(result.coords)})
        arrays.update(result.values)
        if request.kind == "line":
            figures["line"] = plot_line(result)
        else:
            traj = dirs.info.get("checkpoint_coords")
            figures["contour"] = plot_contour(result, trajectory=None if traj is None
                                              else np.asarray(traj))
            figures["contour_filled"] = plot_contour(result, filled=True)
            figures["heatmap"] = plot_heatmap(result)
            figures["surface"] = plot_surface(result)
    else:
        n = int(request.grid_spec.split("x")[0]) if request.grid_spec.split("x")[0].isdigit() \
            else 101
        opts = _options(request, dtype)
        from ..landscape import check_same_architecture

        check_same_architecture(model, model_b)
        key = _pair_key(request, model, model_b, batches)
        ev, line_store = _pair_store(request, work / "line", key, resume, model, batches,
                                     _pair_basis(model, model_b),
                                     len(interpolation_t(n, request.span_spec)), opts)
        line = interpolate(model, model_b, request.loss, batches, n_points=n,
                           span=request.span_spec, bn=request.bn, evaluator=ev,
                           done=line_store.done, values=line_store.values,
                           on_chunk=line_store.update, **_backend(request))
        record.update(barrier=line.barrier, monotone_barrier=line.monotone_barrier,
                      distance=line.distance, loss_a=float(line.loss[np.argmin(np.abs(line.t))]),
                      loss_b=float(line.loss[np.argmin(np.abs(line.t - 1))]),
                      method=line.method, scorer=line.scorer)
        arrays.update({"t": line.t, **{f"line_{k}": v for k, v in line.values.items()}})
        figures["interpolation"] = plot_interpolation(line)
        if request.kind == "curve":
            state_file = work / CURVE_STATE
            state = _read_curve_state(state_file, key) if resume else None

            def checkpoint(arrays: dict[str, np.ndarray]) -> None:
                store.atomic_save_npz(state_file, {
                    **arrays, "key_json": np.array(json.dumps(_jsonable(key), sort_keys=True))})

            curve = fit_curve(model, model_b, request.loss, batches, kind=request.curve,
                              n_bends=request.n_bends, n_steps=request.curve_steps,
                              lr=request.curve_lr, seed=request.seed, dtype=dtype,
                              state=state, checkpoint=checkpoint,
                              checkpoint_every=max(request.curve_steps // 20, 1))
            ev, curve_store = _pair_store(request, work / "curve", key, resume, model, batches,
                                          curve.control, n, opts)
            res = evaluate_curve(curve, model, request.loss, batches, n_points=n,
                                 bn=request.bn, evaluator=ev, done=curve_store.done,
                                 values=curve_store.values, on_chunk=curve_store.update)
            record.update(curve=request.curve, n_bends=request.n_bends,
                          curve_max_loss=res.max_loss, curve_barrier=res.barrier,
                          line_max_loss=float(np.max(line.loss)), curve_scorer=res.scorer)
            arrays.update({"curve_t": res.t, "curve_history": curve.history,
                           "curve_control": curve.control.double().cpu().numpy(),
                           **{f"curve_{k}": v for k, v in res.values.items()}})
            figures["curve"] = plot_interpolation(res)
    record["wall_time_s"] = time.perf_counter() - start
    return record, arrays, figures, result


def work_directory(out: Path) -> Path:
    out = Path(out)
    return out.parent / f".{out.name}.landscape-partial"


def write_landscape_run(request: LandscapeRequest, out: Path, resume: bool = False,
                        argv: list[str] | None = None) -> dict[str, Any]:
    """Run :func:`analyse_landscape` and store it in the new directory ``out``."""
    from ..landscape_io import export_csv, export_npz, export_vtk, write_html

    request.validate()
    out = store.ensure_new_directory(Path(out))
    work = work_directory(out)
    if work.exists() and not resume:
        raise UserInputError(f"an interrupted run is in {str(work)!r}: add --resume to finish "
                             "it, or remove it")
    if resume and not work.exists():
        raise UserInputError(f"nothing to resume: {str(work)!r} does not exist")
    created = not work.exists()
    if created:
        work.mkdir()
    from ..scaleout import maybe_session

    try:
        with maybe_session(request.backend, request.address, request.workers):
            record, arrays, figures, result = analyse_landscape(request, work, resume=resume)
    except BaseException:
        if created and not any(work.iterdir()):  # nothing computed yet: leave no leftover
            work.rmdir()
        raise
    store.atomic_write_json(work / "config.json", {
        "format_version": store.FORMAT_VERSION, "command": "landscape",
        "seed": request.seed, "config": dataclasses.asdict(request)})
    store.atomic_write_json(work / "env.json", store.environment(request.seed, CITATIONS, argv))
    if figures:
        (work / "figures").mkdir(exist_ok=True)
        for name, fig in figures.items():
            store.save_figure(fig, work / "figures", name)
    store.atomic_save_npz(work / "arrays.npz", arrays)
    if result is not None:
        export_npz(work / "landscape.npz", result, {"provenance": record.get("provenance")})
        export_csv(work / "landscape.csv", result)
        if len(result.coords) <= 3:
            export_vtk(work / "landscape.vtk", result)
        if request.html:
            write_html(work / "landscape.html", result)
    record = {"format_version": store.FORMAT_VERSION, "command": "landscape", **record,
              "figures": sorted(figures), "arrays": sorted(arrays)}
    store.atomic_write_json(work / store.RESULT_FILE, _jsonable(record))
    store.commit_directory(work, out)
    return record


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, os.PathLike):
        return str(value)
    return value
