"""Sweeps: one experiment over a grid of configuration values, each point run with several seeds.

A sweep runs the Cartesian product of the swept values (in the order given), each point with the
seeds ``seed, seed + 1, ..., seed + N - 1``, and stores every run as a normal run directory::

    OUT/<key=value,...>/seed-<s>/   config.json, env.json, result.json, arrays.npz, figures/
    OUT/sweep.json                  the plan (experiment, preset, overrides, points, seeds); a
                                    resume with another plan is refused
    OUT/sweep.csv                   one row per point and seed: the swept values, seed, verdict,
                                    headline measured value and standard error, every evidence
                                    check's measured value and outcome, run time
    OUT/summary.csv                 one row per point: verdict counts, mean and standard error of
                                    the mean over seeds (sample standard deviation / sqrt(n)) of
                                    the headline and of every scalar numeric measurement
    OUT/sweep.png, OUT/sweep.svg    the headline against the first swept key, error bars over
                                    seeds, one line per value of the other swept keys

Values are parsed as ``--set`` values (JSON when it parses, else a string; lists in brackets,
e.g. ``thetas=[0.3,0.6],[0.2,0.5]``), converted to the field's type, and every point's
configuration passes the experiment's ``validate()`` before anything is written. A sweep resumes
like ``reproduce``: a stored run whose configuration, preset and seed match is kept, leftovers of
interrupted runs are removed, and the rest is run. With ``backend="ray"`` the runs are Ray tasks
(:func:`deepscope.scaleout.run_experiments`, one call per seed inside one Ray session).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, get_type_hints

import numpy as np

from . import store
from .config import ExperimentConfig, coerce, config_from_dict
from .errors import UserInputError
from .registry import ExperimentSpec, get

SWEEP_FILE = "sweep.csv"
PLAN_FILE = "sweep.json"
SUMMARY_FILE = "summary.csv"
FIGURE_NAME = "sweep"
_FIXED_COLUMNS = ("seed", "verdict", "headline", "headline_measured", "headline_stderr",
                  "headline_expected", "elapsed_s", "run_dir", "n_seeds")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+\-=,\[\]()]")
_MAX_LABEL = 200

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One configuration of a sweep: the swept values, its directory name and the config."""

    values: dict[str, Any]
    label: str
    config: ExperimentConfig


# ----------------------------------------------------------------------------- parsing
def split_values(text: str) -> list[str]:
    """Split ``text`` at the commas outside brackets, braces and double quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(text):
        if quoted:
            if char == '"' and text[i - 1] != "\\":
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_sweep_options(items: Iterable[str]) -> dict[str, list[Any]]:
    """Parse ``--sweep key=v1,v2,...`` options into ``{key: [values]}`` (JSON when it parses)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "a").isalnum():
            raise UserInputError(f"malformed --sweep {item!r}: expected key=value1,value2,...")
        if key in grid:
            raise UserInputError(f"--sweep names {key!r} twice")
        values = []
        for piece in split_values(text):
            piece = piece.strip()
            if not piece:
                raise UserInputError(f"malformed --sweep {item!r}: an empty value")
            try:
                values.append(json.loads(piece))
            except json.JSONDecodeError:
                values.append(piece)
        grid[key] = values
    return grid


def format_value(value: Any) -> str:
    """A swept value as text: JSON-like, strings bare, lists in brackets without spaces."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _directory_name(label: str) -> str:
    name = _UNSAFE.sub("_", label)
    if len(name) > _MAX_LABEL:
        digest = hashlib.sha256(label.encode("utf-8")).hexdigest()[:12]
        name = f"{name[:_MAX_LABEL - 13]}-{digest}"
    return name


def plan_grid(spec: ExperimentSpec, grid: Mapping[str, Sequence[Any]],
              base: ExperimentConfig) -> list[SweepPoint]:
    """Every point of ``grid`` (Cartesian product, keys and values in the given order), each
    value converted to its field's type and each configuration validated.

    Raises:
        UserInputError: an unknown key, a bad or repeated value, or a point ``validate()``
            rejects (one line, naming the point).
    """
    if not isinstance(grid, Mapping) or not grid:
        raise UserInputError("a sweep needs at least one key with values")
    cls = spec.config_cls
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    typed: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if key not in names:
            raise UserInputError(
                f"unknown config key {key!r} for {spec.id}; valid keys: {', '.join(names)}")
        if key in _FIXED_COLUMNS:
            raise UserInputError(f"config key {key!r} clashes with a sweep table column")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise UserInputError(f"sweep key {key!r} needs a non-empty list of values")
        converted = [coerce(v, hints[key], key) for v in values]
        texts = [format_value(v) for v in converted]
        if len(set(texts)) != len(texts):
            raise UserInputError(f"sweep key {key!r} repeats a value: {', '.join(texts)}")
        typed[key] = converted
    points, seen = [], {}
    for combo in itertools.product(*typed.values()):
        values = dict(zip(typed, combo))
        label = ",".join(f"{k}={format_value(v)}" for k, v in values.items())
        try:
            config = config_from_dict(cls, values, base=base)
        except UserInputError as exc:
            raise UserInputError(f"sweep point {label}: {exc}") from None
        directory = _directory_name(label)
        if directory in seen:
            raise UserInputError(
                f"sweep points {seen[directory]} and {label} map to one directory {directory!r}")
        seen[directory] = label
        points.append(SweepPoint(values=values, label=directory, config=config))
    return points


def seed_list(seeds: int | Sequence[int], seed: int = 0) -> list[int]:
    """``seed, ..., seed + seeds - 1`` for a count, or the given seeds (distinct, >= 0)."""
    if isinstance(seeds, bool):
        raise UserInputError(f"--seeds must be an integer >= 1, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise UserInputError(f"--seeds must be an integer >= 1, got {seeds}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise UserInputError(f"--seed must be an integer >= 0, got {seed!r}")
        return [seed + i for i in range(seeds)]
    out = list(seeds)
    if not out or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in out):
        raise UserInputError(f"seeds must be integers >= 0, got {out!r}")
    if len(set(out)) != len(out):
        raise UserInputError(f"seeds repeat a value: {out!r}")
    return out


# ----------------------------------------------------------------------------- the sweep
def run_sweep(
    spec_or_id: ExperimentSpec | str,
    grid: Mapping[str, Sequence[Any]],
    *,
    out: Path,
    seeds: int | Sequence[int] = 1,
    seed: int = 0,
    preset: str = "quick",
    overrides: Mapping[str, Any] | None = None,
    resume: bool = False,
    argv: list[str] | None = None,
    log: Log = _quiet,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """Run the sweep into ``out``; write sweep.csv, summary.csv and the figure.

    Every input is checked before anything is written. Returns the rows of sweep.csv (swept
    values and numbers as Python values).
    """
    from .runner import config_matches, run_experiment

    if backend != "local" or address is not None or workers is not None:
        from .scaleout import check_backend

        check_backend(backend, address, workers)
    spec = get(spec_or_id) if isinstance(spec_or_id, str) else spec_or_id
    seed_values = seed_list(seeds, seed)
    base = spec.config_cls.preset(preset)
    overrides = dict(overrides or {})
    clash = sorted(set(overrides) & set(grid)) if isinstance(grid, Mapping) else []
    if clash:
        raise UserInputError(f"{clash[0]!r} is both set and swept")
    if overrides:
        base = config_from_dict(spec.config_cls, overrides, base=base)
    points = plan_grid(spec, grid, base)
    run_preset = f"{preset}+overrides"
    out = Path(out)
    if out.exists() and not resume:
        raise UserInputError(f"output directory {str(out)!r} already exists; choose another --out"
                             " (or --resume)")
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {str(out)!r} exists and is not a directory")
    store.check_writable(out)
    for pattern in (f".{SWEEP_FILE}.*.tmp", f".{SUMMARY_FILE}.*.tmp", f".{FIGURE_NAME}.*.tmp"):
        for leftover in out.glob(pattern):
            leftover.unlink(missing_ok=True)

    plan = {"experiment": spec.id, "preset": run_preset,
            "overrides": {k: repr(v) for k, v in sorted(overrides.items())},
            "points": [point.label for point in points], "seeds": list(seed_values)}
    plan_file = out / PLAN_FILE
    if plan_file.exists():
        if json.loads(plan_file.read_text()) != plan:
            raise UserInputError(f"{str(out)!r} holds a sweep with another experiment, preset, "
                                 "grid or seeds; resume it unchanged or choose another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        store.atomic_write_json(plan_file, plan)

    jobs = [(point, s) for point in points for s in seed_values]
    total = len(jobs)
    pending: list[int] = []
    for index, (point, s) in enumerate(jobs):
        point_dir = out / point.label
        if point_dir.is_dir():
            for name in store.remove_partials(point_dir):
                log(f"removed unfinished run {point.label}/{name}")
        run_dir = point_dir / f"seed-{s}"
        if not run_dir.exists():
            pending.append(index)
            continue
        stored = store.load_run(run_dir)
        if not config_matches(stored["config"], point.config, run_preset, s):
            raise UserInputError(f"{str(run_dir)!r} holds a run with another configuration,"
                                 " preset or seed; use another --out")
        log(f"[{index + 1}/{total}] {point.label} seed {s}: kept ({stored['result']['verdict']})")

    def finished(index: int, where: str) -> None:
        point, s = jobs[index]
        stored = store.load_run(out / point.label / f"seed-{s}")
        log(f"[{index + 1}/{total}] {point.label} seed {s}: {stored['result']['verdict']} "
            f"({stored['env'].get('elapsed_s', 0.0):.1f} s{where})")

    if backend == "ray" and pending:
        from .scaleout import run_experiments, session

        with session(address, workers):
            run_experiments(
                [(spec.id, jobs[i][0].config, out / jobs[i][0].label / f"seed-{jobs[i][1]}")
                 for i in pending],
                seed=[jobs[i][1] for i in pending], preset=run_preset, argv=argv,
                address=address, workers=workers,
                done=lambda j: finished(pending[j], " on a Ray worker"))
    else:
        for index in pending:
            point, s = jobs[index]
            run_experiment(spec, point.config, seed=s, out=out / point.label / f"seed-{s}",
                           preset=run_preset, argv=argv)
            finished(index, "")

    keys = list(points[0].values)
    rows = [_table_row(point, s, store.load_run(out / point.label / f"seed-{s}"))
            for point, s in jobs]
    summary = summarise(rows, keys)
    write_table(out / SWEEP_FILE, rows, keys)
    write_table(out / SUMMARY_FILE, summary, keys)
    store.save_figure(sweep_figure(spec.id, summary, keys, points), out, FIGURE_NAME)
    return rows


# ----------------------------------------------------------------------------- tables
def _number(value: Any) -> float | None:
    """A stored scalar as a float (JSON keeps non-finite values as strings), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value in ("nan", "inf", "-inf"):
        return float(value)
    return None


def _table_row(point: SweepPoint, seed: int, stored: dict[str, Any]) -> dict[str, Any]:
    record, env = stored["result"], stored["env"]
    head = next((c for c in record["checks"] if c["name"] == record.get("headline")), None)
    row: dict[str, Any] = {**point.values, "seed": seed, "verdict": record["verdict"],
                           "headline": record.get("headline")}
    row["headline_measured"] = None if head is None else _number(head.get("measured"))
    row["headline_stderr"] = None if head is None else _number(head.get("stderr"))
    row["headline_expected"] = None if head is None else _number(head.get("expected"))
    for check in record["checks"]:
        if check.get("role", "evidence") == "evidence":
            row[f"{check['name']}.measured"] = _number(check.get("measured"))
            row[f"{check['name']}.outcome"] = check["outcome"]
    row["elapsed_s"] = env.get("elapsed_s")
    row["run_dir"] = f"{point.label}/seed-{seed}"
    row["_measurements"] = {
        name: _number(m.get("value")) for name, m in record["measurements"].items()
        if isinstance(m, dict) and _number(m.get("value")) is not None
    }
    return row


def summarise(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Per point: verdict counts, and the mean and the standard error of the mean over seeds
    (``std(ddof=1) / sqrt(n)``; empty for one seed) of the headline and of every scalar numeric
    measurement."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["run_dir"].rsplit("/", 1)[0], []).append(row)
    out = []
    for members in groups.values():
        first = members[0]
        summary: dict[str, Any] = {key: first[key] for key in keys}
        summary["n_seeds"] = len(members)
        for verdict in ("reproduced", "not_reproduced", "inconclusive"):
            summary[verdict] = sum(r["verdict"] == verdict for r in members)
        summary["headline"] = first["headline"]
        series = {"headline": [r["headline_measured"] for r in members]}
        names = dict.fromkeys(n for r in members for n in r["_measurements"])
        for name in names:
            series[name] = [r["_measurements"].get(name) for r in members]
        for name, values in series.items():
            mean, stderr = _mean_stderr(values)
            summary[f"{name}_mean"] = mean
            summary[f"{name}_stderr"] = stderr
        out.append(summary)
    return out


def _mean_stderr(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    if not values or any(v is None for v in values):
        return None, None
    array = np.asarray(values, dtype=np.float64)
    mean = float(np.mean(array))
    if array.size < 2:
        return mean, None
    return mean, float(np.std(array, ddof=1) / math.sqrt(array.size))


def write_table(path: Path, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """Write ``rows`` as CSV (columns in order of first appearance), atomically."""
    columns = list(dict.fromkeys(c for r in rows for c in r if not c.startswith("_")))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c), c in keys) for c in columns])
    store.atomic_write_text(path, buffer.getvalue())


def _cell(value: Any, swept: bool) -> str:
    if value is None:
        return ""
    if swept or isinstance(value, (bool, list, tuple)):
        return format_value(value)
    return repr(value) if isinstance(value, float) else str(value)


# ----------------------------------------------------------------------------- the figure
def sweep_figure(experiment_id: str, summary: Sequence[dict[str, Any]], keys: Sequence[str],
                 points: Sequence[SweepPoint]) -> Any:
    """The headline mean against the first swept key, error bars over seeds, one line per value
    of the other swept keys."""
    from .figures import new_figure

    fig, (ax,) = new_figure(1, width=6.4, height=4.2)
    first = keys[0]
    xs = list(dict.fromkeys(format_value(p.values[first]) for p in points))
    raw = [next(p.values[first] for p in points if format_value(p.values[first]) == x)
           for x in xs]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
    position = {x: (float(v) if numeric else float(i)) for i, (x, v) in enumerate(zip(xs, raw))}
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in summary:
        name = ", ".join(f"{k}={format_value(row[k])}" for k in keys[1:])
        lines.setdefault(name, []).append(row)
    for name, rows in lines.items():
        x = [position[format_value(r[first])] for r in rows]
        y = [np.nan if r["headline_mean"] is None else r["headline_mean"] for r in rows]
        err = [0.0 if r["headline_stderr"] is None else r["headline_stderr"] for r in rows]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name or None)
    if not numeric:
        ax.set_xticks([position[x] for x in xs], xs)
    elif all(v > 0 for v in raw) and max(raw) >= 100 * min(raw):
        ax.set_xscale("log")
    heads = {r["headline"] for r in summary}
    n_seeds = sorted({r["n_seeds"] for r in summary})
    ax.set_xlabel(first)
    ax.set_ylabel(heads.pop() if len(heads) == 1 else "headline")
    if max(n_seeds) > 1:
        title = f"mean +/- standard error over {'/'.join(map(str, n_seeds))} seeds"
    else:
        title = "one seed per point"
    ax.set_title(f"{experiment_id}: {title}", fontsize=10)
    if len(keys) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
