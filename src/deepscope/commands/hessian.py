"""``deepscope hessian``: the curvature of a model's loss on a data set, in one command.

``analyse_hessian`` is pure measurement (builds the operator, runs the solvers, returns a JSON-ready
record and figures); ``write_hessian_run`` stores them in a new run directory (``config.json``,
``env.json``, ``result.json``, ``arrays.npz``, ``figures/``) through the run store, atomically.
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


def _load(request: HessianRequest):
    import torch

    from ..data import load
    from ..models import resolve_model
    from ..models._build import normalize_name

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


def analyse_hessian(request: HessianRequest) -> tuple[dict[str, Any], dict[str, np.ndarray],
                                                      dict[str, Any]]:
    """Measure the requested curvature quantities: (record, arrays, figures)."""
    from ..curvature import GGNOperator, HessianOperator, eigenvalues, spectral_density, trace
    from ..progress import track

    request.validate()
    model, batches, dataset, dtype = _load(request)
    cls = GGNOperator if request.ggn else HessianOperator
    start = time.perf_counter()
    op = cls(model, request.loss, batches, params=list(request.params) or None, dtype=dtype)
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
    if isinstance(op, HessianOperator):
        record["hvp_mode"] = op.mode
        record["hvp_block_mode"] = op.batched_mode
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
    from ..experiments._plotting import new_figure

    fig, (ax_lin, ax_log) = new_figure(2)
    ax_lin.plot(sd.grid, sd.density)
    ax_lin.set(xlabel="eigenvalue", ylabel="density",
               title=f"SLQ density ({sd.n_probes} probes x {sd.n_steps} steps)")
    ax_log.plot(sd.grid, sd.log_density())
    ax_log.set(xlabel="eigenvalue", ylabel="log10 density", title="log scale: bulk and outliers")
    return fig


def _eigen_figure(record):
    from ..experiments._plotting import new_figure

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

    def produce():
        record, arrays, figures = analyse_hessian(request)
        header = {"format_version": store.FORMAT_VERSION, "kind": "hessian"}
        return {**header, **record}, arrays, figures

    return store.write_run(Path(out), config_record, env, produce)
