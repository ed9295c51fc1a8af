"""Run one experiment into a run directory, or reproduce many into one output directory.

``run_experiment`` builds the run under a hidden partial directory and renames it into place
only when every file is written. ``reproduce`` runs a set of experiments into ``OUT/<id>/``,
writes ``OUT/results.json`` (one row per claim) and ``OUT/report.html``. With ``resume=True`` it
keeps experiments whose stored run is complete and matches the requested configuration, deletes
leftovers of interrupted runs, and redoes the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import store
from .config import ExperimentConfig, config_digest, config_to_dict
from .errors import SanityCheckError, UserInputError
from .registry import ExperimentSpec, experiments, get
from .results import ExperimentResult

Log = Callable[[str], None]
# A link in the package to docs/full-preset-results.json (a wheel holds the file itself).
FULL_RECORD_FILE = "full_preset_results.json"


def _quiet(_: str) -> None:
    return None


def run_experiment(
    spec: ExperimentSpec,
    config: ExperimentConfig,
    *,
    seed: int,
    out: Path,
    preset: str = "custom",
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Run ``spec`` with ``config`` and store everything in the new directory ``out``.

    A run that is not exactly the full preset (quick, or full with overrides) also stores the
    recorded full-preset verdict of the same experiment (``full_preset_record``, made with seed
    0), so that its report can show both.

    Returns:
        The stored ``result.json`` content.

    Raises:
        UserInputError: ``out`` exists or cannot be written.
        SanityCheckError: a sanity check failed; nothing is stored at ``out``.
    """
    config_record = {
        "format_version": store.FORMAT_VERSION,
        "experiment": spec.id,
        "preset": preset,
        "seed": seed,
        "config": config_to_dict(config),
    }

    def produce() -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
        result = spec.run(config, np.random.default_rng(seed))
        if not isinstance(result, ExperimentResult):
            raise TypeError(f"{spec.id}: run() returned {type(result).__name__}")
        try:
            body = result.to_json()
        except SanityCheckError as exc:
            raise SanityCheckError(f"{spec.id}: {exc}") from None
        record = {
            "format_version": store.FORMAT_VERSION,
            "id": spec.id,
            "title": spec.title,
            "claim": spec.claim,
            "source": spec.source,
            "statement": spec.statement,
            "formula": spec.formula,
            "citations": list(spec.citations),
            "preset": preset,
            "seed": seed,
            **body,
        }
        if preset != "full":
            recorded = full_preset_record(spec.id)
            if recorded is not None:
                record["full_preset_record"] = recorded
        return record, result.arrays, result.figures

    env = store.environment(seed, spec.citations, argv)
    return store.write_run(Path(out), config_record, env, produce)


def select(only: Sequence[str] | None) -> list[ExperimentSpec]:
    """The experiments named in ``only`` (all registered ones when empty), in registry order."""
    specs = experiments()
    if not only:
        return list(specs.values())
    chosen = [get(name) for name in only]  # raises on an unknown id
    return [spec for spec in specs.values() if spec in chosen]


def full_preset_record(experiment_id: str) -> dict[str, Any] | None:
    """The recorded full-preset outcome of ``experiment_id`` (``None`` when not recorded).

    The record is ``docs/full-preset-results.json`` of the source tree, shipped with the package:
    ``deepscope reproduce --full`` on a stated machine, with each experiment's verdict, headline
    check and run time.
    """
    record = load_full_preset_record()
    row = next((r for r in record.get("claims", []) if r.get("id") == experiment_id), None)
    if row is None:
        return None
    return {
        "verdict": row.get("verdict"),
        "headline": row.get("headline"),
        "elapsed_s": row.get("elapsed_s"),
        "recorded": record.get("host", {}).get("date"),
        "commit": record.get("host", {}).get("commit"),
    }


def load_full_preset_record() -> dict[str, Any]:
    """The shipped full-preset record (an empty record when the package has none)."""
    import json
    from importlib import resources

    try:
        text = resources.files("deepscope").joinpath(FULL_RECORD_FILE).read_text("utf-8")
    except (FileNotFoundError, OSError):
        return {}
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def _summary_row(spec: ExperimentSpec, record: dict[str, Any], env: dict[str, Any],
                 config: ExperimentConfig) -> dict[str, Any]:
    head = next((c for c in record["checks"] if c["name"] == record.get("headline")), None)
    row: dict[str, Any] = {
        "id": spec.id,
        "title": spec.title,
        "claim": spec.claim,
        "source": spec.source,
        "verdict": record["verdict"],
        "run_dir": spec.id,
        "elapsed_s": env.get("elapsed_s"),
        "config_digest": config_digest(config),
        "deviations": record.get("deviations", []),
    }
    failing = [c["name"] for c in record["checks"]
               if c.get("role") == "evidence" and c["outcome"] != "pass"]
    if failing:
        row["evidence_not_passed"] = failing
    if "full_preset_record" in record:
        row["full_preset_record"] = record["full_preset_record"]
    if head is not None:
        row["headline"] = {
            key: head.get(key)
            for key in ("name", "description", "measured", "stderr", "expected", "tolerance",
                        "comparison", "relative", "outcome")
        }
    return row


def config_matches(stored: dict[str, Any], config: ExperimentConfig, preset: str,
                   seed: int) -> bool:
    """Whether a stored ``config.json`` is the run of ``config`` at ``preset`` and ``seed``."""
    return (
        stored.get("config") == config_to_dict(config)
        and stored.get("seed") == seed
        and stored.get("preset") == preset
    )


def _host(argv: list[str] | None) -> dict[str, Any]:
    """Where and when a reproduction ran: date, CPU, cores, threads, commit, command line."""
    import datetime as _dt
    import os
    import sys

    import torch

    git = store.git_info()
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": store.cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "commit": git.get("commit"),
        "dirty": git.get("dirty"),
        "command_line": list(sys.argv if argv is None else argv),
    }


def reproduce(
    out: Path,
    *,
    preset: str = "quick",
    only: Sequence[str] | None = None,
    resume: bool = False,
    seed: int = 0,
    argv: list[str] | None = None,
    log: Log = _quiet,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Run the selected experiments into ``out`` and write ``results.json`` and ``report.html``.

    Args:
        out: output directory; it must not exist unless ``resume`` is set.
        preset: ``quick`` or ``full``.
        only: experiment ids to run (default: all).
        resume: keep finished experiments in an existing ``out`` and redo unfinished ones.
        seed: the seed each experiment's ``numpy.random.Generator`` is built from.
        argv: the command line recorded in env.json.
        log: receives one line per experiment.
        backend: ``"local"`` (one after another in this process) or ``"ray"``: every
            experiment to run becomes a Ray task with one torch thread (the ``dist`` extra;
            :mod:`deepscope.scaleout`); each finished run is written to ``out`` as it arrives,
            so ``resume`` works the same.
        address, workers: for ``"ray"``: a cluster to join (``"auto"`` or ``"HOST:PORT"``;
            default: a local instance on 127.0.0.1) and the number of runs at once (default:
            the CPU count).

    Returns:
        The content of ``results.json``.
    """
    if backend != "local" or address is not None or workers is not None:
        from .scaleout import check_backend

        check_backend(backend, address, workers)
    specs = select(only)
    configs = {spec.id: spec.config_cls.preset(preset) for spec in specs}
    out = Path(out)
    if out.exists() and not resume:
        store.ensure_new_directory(out)  # raises with the standard message
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {str(out)!r} exists and is not a directory")
    store.check_writable(out)
    for name in store.remove_partials(out):
        log(f"removed unfinished run {name}")

    rows: dict[str, dict[str, Any]] = {}
    remote: list[tuple[int, ExperimentSpec]] = []
    for index, spec in enumerate(specs, start=1):
        run_dir = out / spec.id
        config = configs[spec.id]
        if run_dir.exists():
            stored = store.load_run(run_dir)
            if not config_matches(stored["config"], config, preset, seed):
                raise UserInputError(
                    f"{str(run_dir)!r} holds a run with another configuration, preset or seed;"
                    " use another --out"
                )
            record, env = stored["result"], stored["env"]
            log(f"[{index}/{len(specs)}] {spec.id}: kept ({record['verdict']})")
        elif backend == "ray":
            remote.append((index, spec))
            continue
        else:
            start = time.perf_counter()
            record = run_experiment(
                spec, config, seed=seed, out=run_dir, preset=preset, argv=argv
            )
            env = store.read_json(run_dir / "env.json", "environment file")
            log(
                f"[{index}/{len(specs)}] {spec.id}: {record['verdict']} "
                f"({time.perf_counter() - start:.1f} s)"
            )
        rows[spec.id] = _summary_row(spec, record, env, config)
    if remote:
        from .scaleout import run_experiments

        def finished(job: int) -> None:
            index, spec = remote[job]
            stored = store.load_run(out / spec.id)
            record, env = stored["result"], stored["env"]
            log(f"[{index}/{len(specs)}] {spec.id}: {record['verdict']} "
                f"({env.get('elapsed_s', 0.0):.1f} s on a Ray worker)")
            rows[spec.id] = _summary_row(spec, record, env, configs[spec.id])

        run_experiments([(spec.id, configs[spec.id], out / spec.id) for _, spec in remote],
                        seed=seed, preset=preset, argv=argv, done=finished, address=address,
                        workers=workers)

    summary = {
        "format_version": store.FORMAT_VERSION,
        "preset": preset,
        "seed": seed,
        "host": _host(argv),
        "claims": [rows[spec.id] for spec in specs],
    }
    if backend == "ray":
        summary["host"]["backend"] = {"name": "ray", "address": address, "workers": workers}
    store.atomic_write_json(out / store.SUMMARY_FILE, summary)
    from .report import write_report

    write_report(out)
    return summary


def sweep(
    spec_or_id: ExperimentSpec | str,
    grid: dict[str, Sequence[Any]],
    *,
    out: Path,
    seeds: int | Sequence[int] = 1,
    seed: int = 0,
    preset: str = "quick",
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    argv: list[str] | None = None,
    log: Log = _quiet,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """Run one experiment over the Cartesian product of ``grid`` with several seeds.

    Each run is a normal run directory ``out/<key=value,...>/seed-<s>/``; ``out`` also gets
    ``sweep.csv`` (one row per point and seed), ``summary.csv`` (mean and standard error over
    seeds per point) and ``sweep.png``/``sweep.svg`` (:mod:`deepscope.sweep`).

    Args:
        spec_or_id: the experiment or its id.
        grid: config key to the values it takes (converted and validated as ``--set`` values).
        out: output directory; it must not exist unless ``resume`` is set.
        seeds: the number of seeds (``seed, ..., seed + seeds - 1``) or the seeds themselves.
        seed: the first seed when ``seeds`` is a count.
        preset: ``quick`` or ``full``, the base of every point.
        overrides: further fixed config values (``--set``), not swept.
        resume: keep finished runs whose configuration, preset and seed match; redo the rest.
        argv, log, backend, address, workers: as for :func:`reproduce`.

    Returns:
        The rows of ``sweep.csv``, in grid order then seed order.
    """
    from .sweep import run_sweep

    return run_sweep(spec_or_id, grid, out=out, seeds=seeds, seed=seed, preset=preset,
                     overrides=overrides, resume=resume, argv=argv, log=log, backend=backend,
                     address=address, workers=workers)
