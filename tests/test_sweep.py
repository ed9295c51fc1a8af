"""Sweeps: a grid of configurations times seeds, each point equal to a run made on its own.

The experiment is ``markov-hierarchy-information`` (quick preset, a fraction of a second per run):
its headline is a sampling estimate, so it changes with the seed, and ``flip_probability`` changes
the channel being estimated.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from deepscope.cli import main
from deepscope.registry import get
from deepscope.runner import sweep

ID = "markov-hierarchy-information"
KEY = "flip_probability"
VALUES = (0.05, 0.1)
SEEDS = (0, 1)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "grid"
    rc = main(["run", ID, "--quick", "--sweep", f"{KEY}={','.join(map(str, VALUES))}",
               "--seeds", str(len(SEEDS)), "--out", str(out)])
    assert rc == 0
    return out


def _direct(value: float, seed: int):
    spec = get(ID)
    config = dataclasses.replace(spec.config_cls.quick(), **{KEY: value})
    return spec.run(config, np.random.default_rng(seed))


def test_rows_equal_runs_made_on_their_own(swept):
    rows = _read_csv(swept / "sweep.csv")
    assert [(float(r[KEY]), int(r["seed"])) for r in rows] == [
        (v, s) for v in VALUES for s in SEEDS]
    headlines = {}
    for row in rows:
        value, seed = float(row[KEY]), int(row["seed"])
        result = _direct(value, seed)
        assert row["verdict"] == result.verdict
        head = next(c for c in result.checks if c.name == result.headline)
        assert row["headline"] == head.name
        assert float(row["headline_measured"]) == head.measured  # bit for bit
        assert float(row["headline_stderr"]) == head.stderr
        evidence = [c for c in result.checks if c.role == "evidence"]
        assert evidence
        for check in evidence:
            assert float(row[f"{check.name}.measured"]) == check.measured
            assert row[f"{check.name}.outcome"] == check.outcome
        assert float(row["elapsed_s"]) >= 0.0
        stored = json.loads((swept / row["run_dir"] / "config.json").read_text())
        assert stored["config"][KEY] == value and stored["seed"] == seed
        headlines[value, seed] = head.measured
    # the swept field and the seed both change the measurement
    assert headlines[VALUES[0], 0] != headlines[VALUES[1], 0]
    assert headlines[VALUES[0], 0] != headlines[VALUES[0], 1]
    assert (swept / "sweep.png").stat().st_size > 0 and (swept / "sweep.svg").is_file()


def test_summary_is_mean_and_standard_error_over_seeds(swept):
    rows = _read_csv(swept / "sweep.csv")
    summary = _read_csv(swept / "summary.csv")
    assert [float(r[KEY]) for r in summary] == list(VALUES)
    for point in summary:
        members = [r for r in rows if r[KEY] == point[KEY]]
        assert int(point["n_seeds"]) == len(members) == len(SEEDS)
        assert int(point["reproduced"]) == sum(r["verdict"] == "reproduced" for r in members)
        values = np.array([float(r["headline_measured"]) for r in members])
        assert float(point["headline_mean"]) == np.mean(values)
        assert float(point["headline_stderr"]) == np.std(values, ddof=1) / math.sqrt(len(values))
        # every scalar measurement of the stored results, averaged the same way
        stored = [json.loads((swept / r["run_dir"] / "result.json").read_text())["measurements"]
                  for r in members]
        scalars = [n for n, m in stored[0].items()
                   if isinstance(m["value"], (int, float)) and not isinstance(m["value"], bool)]
        assert scalars
        for name in scalars:
            series = np.array([float(m[name]["value"]) for m in stored])
            assert float(point[f"{name}_mean"]) == np.mean(series)
            assert float(point[f"{name}_stderr"]) == (np.std(series, ddof=1)
                                                      / math.sqrt(series.size))


def test_resume_redoes_only_the_missing_run(swept, tmp_path, capsys):
    out = tmp_path / "grid"
    shutil.copytree(swept, out)
    victim = out / f"{KEY}={VALUES[1]}" / "seed-0"
    original = (victim / "result.json").read_bytes()
    shutil.rmtree(victim)
    leftover = out / f"{KEY}={VALUES[0]}" / ".seed-1.partial-x"
    leftover.mkdir()
    kept = {p: p.read_bytes() for p in out.glob("*/seed-*/env.json")}
    assert len(kept) == 3
    capsys.readouterr()
    assert main(["run", ID, "--quick", "--sweep", f"{KEY}={VALUES[0]},{VALUES[1]}",
                 "--seeds", "2", "--out", str(out), "--resume"]) == 0
    log = capsys.readouterr().err
    assert log.count(": kept (") == 3
    assert f"{KEY}={VALUES[1]} seed 0: " in log
    assert f"{KEY}={VALUES[1]} seed 0: kept" not in log
    assert not leftover.exists()
    assert all(p.read_bytes() == data for p, data in kept.items())  # untouched
    assert (victim / "result.json").read_bytes() == original  # redone, bit for bit
    before, after = _read_csv(swept / "sweep.csv"), _read_csv(out / "sweep.csv")
    for row in (*before, *after):
        row.pop("elapsed_s")
    assert after == before


@pytest.mark.parametrize("args, message", [
    (["--sweep", "no_such_key=1,2"], "unknown config key 'no_such_key'"),
    (["--sweep", f"{KEY}=0.1,abc"], "expects a number"),
    (["--sweep", f"{KEY}=0.1,0.7"], f"sweep point {KEY}=0.7"),
    (["--sweep", f"{KEY}=0.1,0.1"], "repeats a value"),
    (["--sweep", f"{KEY}=0.1", "--sweep", f"{KEY}=0.2"], "twice"),
    (["--sweep", f"{KEY}=0.1", "--seeds", "0"], "--seeds must be"),
    (["--seeds", "2"], "need --sweep"),
    (["--sweep", f"{KEY}=0.1", "--set", f"{KEY}=0.2"], "both set and swept"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["run", ID, "--quick", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_resume_with_another_grid_or_seeds_is_refused(swept, tmp_path, capsys):
    out = tmp_path / "grid"
    shutil.copytree(swept, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for args in (["--sweep", f"{KEY}={VALUES[0]}", "--seeds", "2"],
                 ["--sweep", f"{KEY}={VALUES[0]},{VALUES[1]}", "--seeds", "1"]):
        capsys.readouterr()
        assert main(["run", ID, "--quick", *args, "--out", str(out), "--resume"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "another experiment, preset, grid or seeds" in err[0]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_existing_out_without_resume_is_refused(swept, capsys):
    before = sorted(p.relative_to(swept) for p in swept.rglob("*"))
    assert main(["run", ID, "--sweep", f"{KEY}=0.05", "--out", str(swept)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0]
    assert sorted(p.relative_to(swept) for p in swept.rglob("*")) == before


def test_ray_backend_equals_local(swept, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'deepscope[dist]')")
    from deepscope import scaleout

    out = tmp_path / "ray"
    with scaleout.session(workers=2):  # one local instance on 127.0.0.1 for this module
        rows = sweep(ID, {KEY: list(VALUES)}, seeds=len(SEEDS), preset="quick", out=out,
                     backend="ray")
    assert len(rows) == len(VALUES) * len(SEEDS)
    for row in rows:
        a, b = out / row["run_dir"], swept / row["run_dir"]
        assert (a / "result.json").read_bytes() == (b / "result.json").read_bytes()
        assert (a / "config.json").read_bytes() == (b / "config.json").read_bytes()
    local, remote = _read_csv(swept / "sweep.csv"), _read_csv(out / "sweep.csv")
    for row in (*local, *remote):
        row.pop("elapsed_s")
    assert remote == local
