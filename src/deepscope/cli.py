"""The ``deepscope`` command line: a thin layer over the registry, runner and report.

Exit status: 0 on success; 2 on bad input, with one line on stderr naming the problem; 1 on an
internal failure (set ``DEEPSCOPE_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import traceback
from pathlib import Path

import click

from .errors import SanityCheckError, UserInputError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2


def _echo(line: str) -> None:
    click.echo(line, err=True)


def _preset(quick: bool, full: bool) -> str:
    if quick and full:
        raise UserInputError("choose one of --quick and --full, not both")
    return "full" if full else "quick"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deepscope", prog_name="deepscope")
def cli() -> None:
    """deepscope: the theory of deep learning, measured."""


def _backend_options(command):
    """``--backend``, ``--address`` and ``--workers`` (scale-out on Ray, the dist extra)."""
    command = click.option(
        "--workers", type=int, default=None,
        help="Ray: single-threaded tasks at once (CPUs of the local instance; default: the "
             "CPU count).")(command)
    command = click.option(
        "--address", default=None, metavar="auto|HOST:PORT",
        help="Ray: join this cluster (default: start a local instance on 127.0.0.1).")(command)
    return click.option(
        "--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
        help="Run the independent pieces here, or as Ray tasks (pip install "
             "'deepscope[dist]').")(command)


@cli.command("list")
def list_cmd() -> None:
    """List every experiment with its claim and source."""
    from rich.console import Console
    from rich.table import Table

    from .registry import experiments

    table = Table(show_lines=False, box=None, pad_edge=False)
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("claim")
    table.add_column("source")
    for spec in experiments().values():
        table.add_row(spec.id, spec.claim, spec.source)
    Console(width=max(100, Console().width)).print(table)


@cli.command("run")
@click.argument("name")
@click.option("--quick", is_flag=True, help="Quick preset (default): seconds on 2 cores.")
@click.option("--full", is_flag=True, help="Full preset, closer to the paper.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a configuration field (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the run's RNG.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="New run directory (default: runs/NAME-<UTC time>).")
@click.option("--sweep", "sweeps", multiple=True, metavar="KEY=V1,V2,...",
              help="Sweep a configuration field over values (repeatable: the grid is the "
                   "product); writes OUT/<key=value,...>/seed-<s>/, sweep.csv, summary.csv.")
@click.option("--seeds", type=int, default=None,
              help="With --sweep: run every point with seeds SEED..SEED+N-1 (default 1).")
@click.option("--resume", is_flag=True, help="With --sweep: keep finished runs in --out.")
@_backend_options
def run_cmd(name: str, quick: bool, full: bool, overrides: tuple[str, ...], seed: int,
            out: Path | None, sweeps: tuple[str, ...], seeds: int | None, resume: bool,
            backend: str, address: str | None, workers: int | None) -> None:
    """Run one experiment NAME into a new run directory (or a grid of runs with --sweep)."""
    from .config import config_from_dict, parse_set_options
    from .progress import RichReporter, use_reporter
    from .registry import get
    from .report import write_report
    from .runner import run_experiment

    spec = get(name)
    preset = _preset(quick, full)
    base = spec.config_cls.preset(preset)
    values = parse_set_options(overrides)
    if sweeps:
        _sweep(spec.id, preset, values, sweeps, seeds, seed, out, resume, backend, address,
               workers)
        return
    if seeds is not None or resume or backend != "local" or address or workers is not None:
        raise UserInputError("--seeds, --resume, --backend, --address and --workers need --sweep")
    config = config_from_dict(spec.config_cls, values, base=base)
    if values:
        preset = f"{preset}+overrides"
    if out is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = Path("runs") / f"{name}-{stamp}"
    with RichReporter() as reporter, use_reporter(reporter):
        record = run_experiment(spec, config, seed=seed, out=out, preset=preset, argv=sys.argv)
    report = write_report(out)
    click.echo(f"{spec.id}: {record['verdict']}")
    click.echo(f"run directory: {out}")
    click.echo(f"report: {report}")


def _sweep(name: str, preset: str, overrides: dict, sweeps: tuple[str, ...], seeds: int | None,
           seed: int, out: Path | None, resume: bool, backend: str, address: str | None,
           workers: int | None) -> None:
    from .progress import RichReporter, use_reporter
    from .runner import sweep
    from .sweep import SUMMARY_FILE, SWEEP_FILE, parse_sweep_options

    grid = parse_sweep_options(sweeps)
    if out is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = Path("runs") / f"{name}-sweep-{stamp}"
    with RichReporter() as reporter, use_reporter(reporter):
        rows = sweep(name, grid, out=out, seeds=1 if seeds is None else seeds, seed=seed,
                     preset=preset, overrides=overrides, resume=resume, argv=sys.argv,
                     log=_echo, backend=backend, address=address, workers=workers)
    verdicts = [row["verdict"] for row in rows]
    click.echo(f"{name}: {len(rows)} runs, {verdicts.count('reproduced')} reproduced,"
               f" {verdicts.count('not_reproduced')} not reproduced,"
               f" {verdicts.count('inconclusive')} inconclusive")
    click.echo(f"table: {out / SWEEP_FILE}")
    click.echo(f"summary: {out / SUMMARY_FILE}")
    click.echo(f"figure: {out / 'sweep.png'}")


@cli.command("reproduce")
@click.option("--quick", is_flag=True, help="Quick presets (default).")
@click.option("--full", is_flag=True, help="Full presets.")
@click.option("--only", default=None, metavar="NAME,...", help="Comma-separated experiment ids.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/reproduce"),
              show_default=True, help="Output directory (must not exist unless --resume).")
@click.option("--resume", is_flag=True, help="Keep finished experiments in --out, redo the rest.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every experiment.")
@_backend_options
def reproduce_cmd(quick: bool, full: bool, only: str | None, out: Path, resume: bool,
                  seed: int, backend: str, address: str | None, workers: int | None) -> None:
    """Run every experiment (or --only some) and write results.json and report.html."""
    from .progress import RichReporter, use_reporter
    from .runner import reproduce
    from .scaleout import check_backend

    check_backend(backend, address, workers)
    preset = _preset(quick, full)
    names = None
    if only is not None:
        names = [n.strip() for n in only.split(",") if n.strip()]
        if not names:
            raise UserInputError("--only needs at least one experiment id")
    with RichReporter() as reporter, use_reporter(reporter):
        summary = reproduce(out, preset=preset, only=names, resume=resume, seed=seed,
                            argv=sys.argv, log=_echo, backend=backend, address=address,
                            workers=workers)
    verdicts = [row["verdict"] for row in summary["claims"]]
    click.echo(
        f"{verdicts.count('reproduced')}/{len(verdicts)} claims reproduced"
        f" ({verdicts.count('not_reproduced')} not reproduced,"
        f" {verdicts.count('inconclusive')} inconclusive)"
    )
    click.echo(f"results: {out / 'results.json'}")
    click.echo(f"report: {out / 'report.html'}")


@cli.command("report")
@click.argument("directory", type=click.Path(path_type=Path))
def report_cmd(directory: Path) -> None:
    """Rebuild DIRECTORY/report.html from stored results, without recomputing."""
    from .report import write_report

    click.echo(f"report: {write_report(directory)}")


@cli.command("describe")
@click.option("--model", "model_spec", default=None, help="Model SPEC (zoo name, factory, ckpt).")
@click.option("--data", "data_spec", default=None, help="Data SPEC (embedded name or .npz).")
@click.option("--seed", type=int, default=0, show_default=True)
def describe_cmd(model_spec: str | None, data_spec: str | None, seed: int) -> None:
    """Load a model and/or data set from their specs and describe them (a dry run)."""
    if model_spec is None and data_spec is None:
        raise UserInputError("describe needs --model, --data or both")
    from .describe import describe

    for line in describe(model_spec, data_spec, seed=seed):
        click.echo(line)


@cli.command("hessian")
@click.option("--model", "model_spec", required=True,
              help="Model SPEC: zoo name (mlp:64-32-10, cnn, ...), factory, or SPEC@weights.pt.")
@click.option("--data", "data_spec", required=True, help="Data SPEC: embedded name or .npz.")
@click.option("--loss", type=click.Choice(["ce", "mse"]), default="ce", show_default=True)
@click.option("--params", "param_globs", multiple=True, metavar="GLOB",
              help="Parameter names or globs (repeatable; default: all trainable).")
@click.option("--top-k", type=int, default=5, show_default=True)
@click.option("--bottom-k", type=int, default=0, show_default=True)
@click.option("--trace", "want_trace", is_flag=True, help="Hutch++ trace with a 95% interval.")
@click.option("--density", is_flag=True, help="Spectral density by stochastic Lanczos quadrature.")
@click.option("--ggn", is_flag=True, help="Use the generalised Gauss-Newton matrix instead of H.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64",
              show_default=True)
@click.option("--batch-size", type=int, default=512, show_default=True)
@click.option("--max-samples", type=int, default=0, help="Use the first N training samples.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New run directory.")
def hessian_cmd(model_spec: str, data_spec: str, loss: str, param_globs: tuple[str, ...],
                top_k: int, bottom_k: int, want_trace: bool, density: bool, ggn: bool,
                dtype: str, batch_size: int, max_samples: int, seed: int, out: Path) -> None:
    """Eigenvalues, trace and spectral density of the loss Hessian (or GGN) of MODEL on DATA."""
    from .commands.hessian import HessianRequest, write_hessian_run
    from .progress import RichReporter, use_reporter

    request = HessianRequest(model=model_spec, data=data_spec, loss=loss, params=param_globs,
                             top_k=top_k, bottom_k=bottom_k, trace=want_trace, density=density,
                             ggn=ggn, dtype=dtype, batch_size=batch_size,
                             max_samples=max_samples, seed=seed)
    with RichReporter() as reporter, use_reporter(reporter):
        record = write_hessian_run(request, out, argv=sys.argv)
    click.echo(f"{record['operator']} of {record['model']} on {record['data']}: "
               f"{record['n_params']:,} parameters, loss {record['loss']:.6g}")
    for key in ("top_eigenvalues", "bottom_eigenvalues"):
        if key in record:
            values = ", ".join(f"{v:.6g}" for v in record[key]["values"])
            click.echo(f"{key.replace('_', ' ')}: {values}")
    if "trace" in record:
        click.echo(f"trace: {record['trace']['value']:.6g} ± {record['trace']['stderr']:.2g}"
                   f" (s.e., {record['trace']['n_matvecs']} products)")
    click.echo(f"results: {out / 'result.json'}")


@cli.command("landscape")
@click.option("--model", "model_spec", required=True,
              help="Model SPEC: zoo name (mlp:64-32-10, cnn, ...), factory, or SPEC@weights.pt.")
@click.option("--model-b", "model_b", default=None,
              help="Second model (interpolate, curve); a zoo spec without weights uses seed+1.")
@click.option("--data", "data_spec", required=True, help="Data SPEC: embedded name or .npz.")
@click.option("--loss", type=click.Choice(["ce", "mse"]), default="ce", show_default=True)
@click.option("--kind", type=click.Choice(["line", "plane", "interpolate", "curve"]),
              default="plane", show_default=True)
@click.option("--directions", type=click.Choice(["random", "pca", "hessian"]), default="random",
              show_default=True)
@click.option("--norm", type=click.Choice(["filter", "layer", "model", "adaptive", "none"]),
              default="filter", show_default=True)
@click.option("--one-d", type=click.Choice(["ignore", "keep", "normalise"]), default="ignore",
              show_default=True, help="Rule for 1-D parameters (biases, norm weights).")
@click.option("--grid", default=None, help="Points per axis, e.g. 31x31 (line 51, else 101).")
@click.option("--span", default=None, help="lo:hi of every axis (default -1:1; 0:1 for paths).")
@click.option("--bn", type=click.Choice(["frozen", "recompute"]), default="frozen",
              show_default=True)
@click.option("--trajectory", default=None,
              help="For --directions pca: .npz with 'checkpoints' (T, P) flattened parameters.")
@click.option("--curve", type=click.Choice(["bezier", "polychain"]), default="bezier",
              show_default=True)
@click.option("--n-bends", type=int, default=1, show_default=True)
@click.option("--curve-steps", type=int, default=500, show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True)
@click.option("--batch-size", type=int, default=2048, show_default=True)
@click.option("--max-samples", type=int, default=0, help="Use the first N training samples.")
@click.option("--n-samples", type=int, default=0,
              help="Score a fixed random subset of N samples, with standard errors.")
@click.option("--html", is_flag=True, help="Also write an offline plotly page (plot extra).")
@click.option("--resume", is_flag=True, help="Finish an interrupted line/plane grid.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New run directory.")
@_backend_options
def landscape_cmd(model_spec: str, model_b: str | None, data_spec: str, loss: str, kind: str,
                  directions: str, norm: str, one_d: str, grid: str | None, span: str | None,
                  bn: str, trajectory: str | None, curve: str, n_bends: int, curve_steps: int,
                  dtype: str, batch_size: int, max_samples: int, n_samples: int, html: bool,
                  resume: bool, seed: int, out: Path, backend: str, address: str | None,
                  workers: int | None) -> None:
    """Loss-landscape line, plane, interpolation or mode-connecting curve of MODEL on DATA."""
    from .commands.landscape import LandscapeRequest, write_landscape_run
    from .scaleout import check_backend

    check_backend(backend, address, workers)

    request = LandscapeRequest(model=model_spec, model_b=model_b, data=data_spec, loss=loss,
                               kind=kind, directions=directions, norm=norm, one_d=one_d,
                               grid=grid, span=span, bn=bn, trajectory=trajectory, curve=curve,
                               n_bends=n_bends, curve_steps=curve_steps, dtype=dtype,
                               batch_size=batch_size, max_samples=max_samples,
                               n_samples=n_samples, html=html, seed=seed, backend=backend,
                               address=address, workers=workers)
    record = write_landscape_run(request, out, resume=resume, argv=sys.argv)
    if "base_loss" in record:
        click.echo(f"{kind} of {model_spec} on {data_spec}: loss {record['min_loss']:.6g} to "
                   f"{record['max_loss']:.6g} (centre {record['base_loss']:.6g}, "
                   f"{record['method']} evaluation)")
    else:
        click.echo(f"interpolation barrier {record['barrier']:.6g} (monotone "
                   f"{record['monotone_barrier']:.6g})")
        if "curve_max_loss" in record:
            click.echo(f"{curve} curve: max loss {record['curve_max_loss']:.6g} against "
                       f"{record['line_max_loss']:.6g} on the straight line")
    click.echo(f"results: {out / 'result.json'}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="deepscope", standalone_mode=False)
    except UserInputError as exc:
        _echo(f"deepscope: error: {exc}")
        return EXIT_USAGE
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.exceptions.Abort:
        _echo("deepscope: aborted")
        return EXIT_INTERNAL
    except click.UsageError as exc:
        _echo(f"deepscope: error: {exc.format_message()}")
        return EXIT_USAGE
    except click.ClickException as exc:
        _echo(f"deepscope: error: {exc.format_message()}")
        return EXIT_USAGE
    except SanityCheckError as exc:  # the run is broken, not the claim: no verdict, exit 1
        _echo(f"deepscope: error: {exc}")
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        _echo("deepscope: interrupted")
        return 130
    except Exception as exc:  # an internal failure: say what, keep it to one line
        if os.environ.get("DEEPSCOPE_DEBUG"):
            traceback.print_exc()
        _echo(f"deepscope: internal error: {type(exc).__name__}: {exc}"
              " (set DEEPSCOPE_DEBUG=1 for the traceback)")
        return EXIT_INTERNAL
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
