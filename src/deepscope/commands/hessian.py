"""``deepscope hessian``: the curvature of a model's loss on a data set, in one command.

``analyse_hessian`` is pure measurement (builds the operator, runs the solvers, returns a JSON-ready
record and figures); ``write_hessian_run`` stores them in a new run directory (``config.json``,
``env.json``, ``result.json``, ``arrays.npz``, ``figures/``) through the run store, atomically.

Under ``torchrun --nproc-per-node=K`` (detected from RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR
and MASTER_PORT; K > 1) the command runs data-parallel: every process joins a gloo group (the
command computes on CPU), loads the same data, cuts it into the same batches and keeps batch i
when ``i % K`` is its rank (round-robin, so an uneven last batch does not unbalance the shards);
the operator sums its products over the processes (``distributed=True``). Rank 0 alone writes the
run directory and prints; the other ranks exit with status 0 and print nothing. A failure on any
rank reaches every rank: rank 0 prints one line and exits with 2 for bad input (1 otherwise), the
others exit with the same status silently, and no run directory is left behind.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import store
from ..errors import UserInputError

DTYPES = ("float32", "float64")


@dataclasses.dataclass(frozen=True)
class HessianRequest:
    """What to measure (the CLI's options)."""

    model: str
    data: str
    loss: str = "ce"
    params: tuple[str, ...] = ()
    top_k: int = 5
    bottom_k: int = 0
    trace: bool = False
    density: bool = False
    ggn: bool = False
    dtype: str = "float64"
    batch_size: int = 512
    max_samples: int = 0
    tol: float = 1e-6
    trace_rtol: float = 1e-2
    n_probes: int = 8
    n_steps: int = 64
    seed: int = 0

    def validate(self) -> None:
        if self.loss not in ("ce", "mse"):
            raise UserInputError(f"--loss must be 'ce' or 'mse', got {self.loss!r}")
        if self.dtype not in DTYPES:
            raise UserInputError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.top_k < 0 or self.bottom_k < 0:
            raise UserInputError("--top-k and --bottom-k must be >= 0")
        if self.batch_size < 1 or self.max_samples < 0:
            raise UserInputError("--batch-size must be >= 1 and --max-samples >= 0")
        if not (self.top_k or self.bottom_k or self.trace or self.density):
            raise UserInputError("nothing to compute: ask for --top-k, --bottom-k, --trace or"
                                 " --density")


def load_inputs(request: HessianRequest):
    """The model, its batches, the data set and the dtype a request names."""
    import torch

    from ..data import load
    from ..models import normalize_name, resolve_model

    dataset = load(request.data, seed=request.seed)
    head = request.model.partition("@")[0].partition(":")[0]
    kwargs: dict[str, Any] = {}
    if normalize_name(head) is not None:
        n_out = dataset.n_classes if dataset.task == "classification" else dataset.n_outputs
        kwargs = {"input_shape": dataset.input_shape, "n_classes": n_out, "seed": request.seed}
    model = resolve_model(request.model, **kwargs)
    X, y = dataset.X_train, dataset.y_train
    if request.max_samples:
        X, y = X[: request.max_samples], y[: request.max_samples]
    dtype = torch.float64 if request.dtype == "float64" else torch.float32
    X_t = torch.as_tensor(X)  # integer ids (for nn.Embedding) stay int64, the rest ``dtype``
    if X_t.is_floating_point():
        X_t = X_t.to(dtype)
    if request.loss == "ce":
        if dataset.task != "classification":
            raise UserInputError(f"--loss ce needs a classification data set; {request.data!r}"
                                 " is regression")
        y_t = torch.as_tensor(y).long()
    else:
        y_np = np.asarray(y)
        if dataset.task == "classification":  # one-hot targets for MSE on class labels
            if (y_np < 0).any():
                raise UserInputError(f"--loss mse cannot one-hot the padding labels (-100) of "
                                     f"{request.data!r}; use --loss ce")
            y_np = np.eye(dataset.n_classes)[y_np]
        y_t = torch.as_tensor(y_np).to(dtype)
        if y_t.ndim == 1:
            y_t = y_t[:, None]
    batches = [(X_t[i:i + request.batch_size], y_t[i:i + request.batch_size])
               for i in range(0, len(X_t), request.batch_size)]
    return model, batches, dataset, dtype


def analyse_hessian(request: HessianRequest, data_parallel: Any = None
                    ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
    """Measure the requested curvature quantities: (record, arrays, figures).

    ``data_parallel`` (a :class:`~deepscope.curvature._distributed.DataParallel`):
    run as one process of its group, on the batches ``i % K == rank``.
    """
    from ..curvature import (
        GGNOperator,
        HessianOperator,
        eigenvalues,
        shard_batches,
        spectral_density,
        trace,
    )
    from ..progress import track

    request.validate()
    if data_parallel is None:
        model, batches, dataset, dtype = load_inputs(request)
        mine = batches
    else:  # the first collective step: every rank loads, a failure anywhere stops all
        dp = data_parallel

        def load_shard():
            model, batches, dataset, dtype = load_inputs(request)
            return model, batches, shard_batches(batches, dp.rank, dp.world_size), dtype

        model, batches, mine, dtype = dp.run(load_shard)
    cls = GGNOperator if request.ggn else HessianOperator
    start = time.perf_counter()
    op = cls(model, request.loss, mine, params=list(request.params) or None, dtype=dtype,
             distributed=data_parallel if data_parallel is not None else False)
    record: dict[str, Any] = {
        "operator": cls.__name__,
        "model": request.model,
        "data": request.data,
        "n_samples": sum(len(b[0]) for b in batches),
        "n_batches": len(batches),
        "n_params": op.shape[0],
        "param_names": op.param_names,
        "loss": op.loss_value,
        "dtype": request.dtype,
    }
    if data_parallel is not None:
        record["world_size"] = data_parallel.world_size
        record["sharding"] = "batch i on rank i % world_size"
    record["path"] = op.path  # the operator and its product mode, e.g. HessianOperator:pearlmutter
    if isinstance(op, HessianOperator):
        record["hvp_mode"] = op.mode
    arrays: dict[str, np.ndarray] = {}
    figures: dict[str, Any] = {}
    steps = [name for name, wanted in (("top", request.top_k), ("bottom", request.bottom_k),
                                       ("trace", request.trace), ("density", request.density))
             if wanted]
    for step in track(steps, "curvature"):
        if step in ("top", "bottom"):
            k = request.top_k if step == "top" else request.bottom_k
            which = "largest" if step == "top" else "smallest"
            res = eigenvalues(op, k=k, which=which, tol=request.tol, seed=request.seed)
            record[f"{step}_eigenvalues"] = {
                "values": res.values.tolist(),
                "residuals": res.residuals.tolist(),
                "converged": [bool(c) for c in res.converged],
                "n_matvecs": res.n_matvecs,
                "wall_time_s": res.wall_time,
            }
            arrays[f"{step}_eigenvalues"] = res.values.numpy()
            arrays[f"{step}_residuals"] = res.residuals.numpy()
        elif step == "trace":
            est = trace(op, method="hutch++", rtol=request.trace_rtol, seed=request.seed)
            record["trace"] = {"value": est.value, "stderr": est.stderr, "ci": list(est.ci),
                               "confidence": est.confidence, "converged": est.converged,
                               "n_matvecs": est.n_matvecs, "method": est.method,
                               "wall_time_s": est.wall_time}
        else:
            sd = spectral_density(op, n_probes=request.n_probes, n_steps=request.n_steps,
                                  seed=request.seed)
            record["density"] = {
                "n_probes": sd.n_probes, "n_steps": sd.n_steps, "sigma": sd.sigma,
                "moments": sd.moments_mean.tolist(), "moments_stderr": sd.moments_stderr.tolist(),
                "spectral_range": list(sd.spectral_range), "n_matvecs": sd.n_matvecs,
                "wall_time_s": sd.wall_time,
            }
            arrays.update(density_grid=sd.grid, density=sd.density, slq_nodes=sd.nodes,
                          slq_weights=sd.weights)
            figures["spectral_density"] = _density_figure(sd)
    if "top_eigenvalues" in record or "bottom_eigenvalues" in record:
        figures["eigenvalues"] = _eigen_figure(record)
    record["n_matvecs"] = op.n_matvecs
    record["wall_time_s"] = time.perf_counter() - start
    return record, arrays, figures


def _density_figure(sd):
    from ..figures import new_figure

    fig, (ax_lin, ax_log) = new_figure(2)
    ax_lin.plot(sd.grid, sd.density)
    ax_lin.set(xlabel="eigenvalue", ylabel="density",
               title=f"SLQ density ({sd.n_probes} probes x {sd.n_steps} steps)")
    ax_log.plot(sd.grid, sd.log_density())
    ax_log.set(xlabel="eigenvalue", ylabel="log10 density", title="log scale: bulk and outliers")
    return fig


def _eigen_figure(record):
    from ..figures import new_figure

    fig, (ax_val, ax_res) = new_figure(2)
    for key, marker in (("top_eigenvalues", "o"), ("bottom_eigenvalues", "s")):
        if key in record:
            vals = record[key]["values"]
            ax_val.plot(range(1, len(vals) + 1), vals, marker, label=key.replace("_", " "))
            ax_res.semilogy(range(1, len(vals) + 1), np.maximum(record[key]["residuals"], 1e-300),
                            marker, label=key.replace("_", " "))
    ax_val.set(xlabel="index", ylabel="eigenvalue", title="Extreme eigenvalues")
    ax_res.set(xlabel="index", ylabel="||Hv - λv||", title="True residuals")
    ax_val.legend(fontsize=8)
    ax_res.legend(fontsize=8)
    return fig


def write_hessian_run(request: HessianRequest, out: Path, argv: list[str] | None = None) -> dict:
    """Run :func:`analyse_hessian` and store it in the new directory ``out``."""
    request.validate()
    config_record = {"format_version": store.FORMAT_VERSION, "command": "hessian",
                     "seed": request.seed, "config": dataclasses.asdict(request)}
    env = store.environment(request.seed, ("pearlmutter1994", "meyer2021", "ubaru2017"), argv)

    if torchrun_world_size() > 1:
        return _write_data_parallel(request, Path(out), config_record, env)

    def produce():
        record, arrays, figures = analyse_hessian(request)
        header = {"format_version": store.FORMAT_VERSION, "kind": "hessian"}
        return {**header, **record}, arrays, figures

    return store.write_run(Path(out), config_record, env, produce)


def torchrun_world_size() -> int:
    """The number of processes torchrun started (1 outside torchrun)."""
    from ..curvature import torchrun_environment

    found = torchrun_environment()
    if found is None:
        return 1
    try:
        return int(found["WORLD_SIZE"])
    except ValueError:
        raise UserInputError(f"WORLD_SIZE={found['WORLD_SIZE']!r} is not an integer") from None


def _write_data_parallel(request: HessianRequest, out: Path, config_record: dict,
                         env: dict) -> dict:
    """One process of a torchrun group: rank 0 writes and returns the record, the others exit.

    The first collective is the loading step of :func:`analyse_hessian`; if rank 0 fails before
    it (the output directory exists, ...), it joins that step with its failure, so the others
    stop too instead of waiting.
    """
    import torch.distributed as dist

    from ..curvature import DataParallel
    from ..progress import use_reporter

    dist.init_process_group("gloo")
    try:
        dp = DataParallel()
        env = {**env, "world_size": dp.world_size, "backend": dp.backend}
        if dp.rank != 0:
            with use_reporter(None):
                try:
                    analyse_hessian(request, dp)
                except UserInputError:
                    raise SystemExit(2) from None
                except Exception:
                    raise SystemExit(1) from None
            raise SystemExit(0)  # rank 0 reports
        started = []

        def produce():
            started.append(True)
            record, arrays, figures = analyse_hessian(request, dp)
            header = {"format_version": store.FORMAT_VERSION, "kind": "hessian"}
            return {**header, **record}, arrays, figures

        try:
            return store.write_run(out, config_record, env, produce)
        except Exception as exc:
            if not started:  # release the other ranks, waiting in the loading step
                _share_failure(dp, exc)
            raise
    finally:
        dist.destroy_process_group()


def _share_failure(dp: Any, error: Exception) -> None:
    """Join a collective step with ``error`` so that the other ranks raise too."""

    def fail():
        raise error

    try:
        dp.run(fail)
    except Exception:
        pass  # the caller re-raises the original
