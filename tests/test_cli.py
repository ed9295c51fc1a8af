"""The command line: exit codes, one-line errors on bad input, no lost results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepscope.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("deepscope: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_list_shows_every_experiment(capsys):
    from deepscope.registry import experiments

    status, out, _ = run_cli(capsys, "list")
    assert status == 0
    for spec in experiments().values():
        assert spec.id in out


def test_run_writes_a_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    status, stdout, _ = run_cli(capsys, "run", "parameter-counting", "--quick", "--out", str(out),
                                "--set", "n_max=6", "--seed", "3")
    assert status == 0
    assert "parameter-counting: reproduced" in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["n_max"] == 6 and config["seed"] == 3
    assert (out / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "no-such-experiment"], ["unknown experiment 'no-such-experiment'"]),
        (["run", "parameter-counting", "--set", "n_max"], ["malformed --set"]),
        (["run", "parameter-counting", "--set", "bogus=1"], ["unknown config key 'bogus'"]),
        (["run", "parameter-counting", "--set", "n_max=many"], ["expects an integer"]),
        (["run", "parameter-counting", "--set", "n_max=500"], ["n_max must be"]),
        (["run", "parameter-counting", "--quick", "--full"], ["--quick", "--full"]),
        (["reproduce", "--only", "nope"], ["unknown experiment 'nope'"]),
        (["reproduce", "--only", ","], ["--only"]),
        (["run", "parameter-counting", "--seed", "x"], ["'x' is not a valid integer"]),
        (["frobnicate"], ["No such command"]),
        (["describe", "--model", "mlp:64-x-10"], []),
        (["describe", "--data", "no-such-data"], ["no-such-data"]),
        (["describe", "--data", "missing.npz"], ["missing.npz"]),
        (["describe", "--model", "nowhere.py:factory"], ["nowhere.py"]),
        (["describe"], ["--model"]),
    ],
)
def test_bad_input_exit_2_one_line(capsys, args, fragments):
    status, _, err = run_cli(capsys, *args)
    assert status == 2
    assert_one_line_error(err, *fragments)


def test_existing_out_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "keep.txt").write_text("earlier result")
    status, _, err = run_cli(capsys, "run", "parameter-counting", "--out", str(out))
    assert status == 2
    assert_one_line_error(err, "already exists")
    status, _, err = run_cli(capsys, "reproduce", "--out", str(out))
    assert status == 2
    assert_one_line_error(err, "already exists")
    assert (out / "keep.txt").read_text() == "earlier result"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    status, _, err = run_cli(capsys, "run", "parameter-counting", "--out", str(locked / "x"))
    assert status == 2
    assert_one_line_error(err, "cannot")


def test_out_under_a_file_cannot_be_written(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status, _, err = run_cli(capsys, "run", "parameter-counting", "--out", str(blocker / "run"))
    assert status == 2
    assert_one_line_error(err, "cannot create directory")
    assert blocker.read_text() == "x"


def test_describe_model_and_data(capsys):
    status, out, _ = run_cli(capsys, "describe", "--model", "mlp:64-16-10", "--data", "digits")
    assert status == 0
    assert "parameters: 1,210" in out  # 64*16 + 16 + 16*10 + 10
    assert "digits" in out


def test_console_script_and_module_entry_points():
    proc = subprocess.run([sys.executable, "-m", "deepscope", "run", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    script = Path(sys.executable).with_name("deepscope")
    if script.exists():
        proc = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and "0.1.0" in proc.stdout


def test_failed_sanity_check_exits_1_and_stores_nothing(tmp_path, capsys, monkeypatch):
    import dataclasses

    from deepscope import registry
    from deepscope.results import Check, ExperimentResult

    def broken_run(config, rng):
        return ExperimentResult(checks=[
            Check("claim", "the claim holds", 1.0, 1.0, 0.1),
            Check("n_hidden", "neurons of our own construction", 5, 4, 0, role="sanity"),
        ])

    spec = dataclasses.replace(registry.get("parameter-counting"), run=broken_run)
    monkeypatch.setattr(registry, "get", lambda name: spec)
    out = tmp_path / "broken"
    status, _, err = run_cli(capsys, "run", "parameter-counting", "--out", str(out))
    assert status == 1
    assert_one_line_error(err, "parameter-counting", "sanity check failed", "n_hidden")
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
