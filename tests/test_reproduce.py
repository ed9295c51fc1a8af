"""reproduce: network-free, resumable after SIGKILL, never overwriting earlier results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deepscope import store
from deepscope.cli import main
from deepscope.registry import experiments


def test_quick_reproduction_offline_with_recorded_verdicts(quick_reproduction):
    assert quick_reproduction["status"] == 0
    assert quick_reproduction["network_attempts"] == []
    out = quick_reproduction["out"]
    summary = json.loads((out / "results.json").read_text())
    assert [row["id"] for row in summary["claims"]] == list(experiments())
    recorded = json.loads((Path(__file__).parent / "fixtures" / "quick_verdicts.json").read_text())
    for row in summary["claims"]:
        assert row["verdict"] == recorded[row["id"]], row
        assert row["elapsed_s"] > 0 and row["deviations"]
        assert {"measured", "expected", "tolerance"} <= set(row["headline"])
        assert row["source"] and row["title"]
    assert (out / "report.html").stat().st_size > 10_000


def _claims(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["claims"]


def _rows(out: Path) -> list[dict]:
    """Summary rows without their run times (which differ between runs)."""
    return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in _claims(out)]


def _numbers(out: Path, experiment_id: str) -> dict:
    result = store.load_run(out / experiment_id)["result"]
    return {"checks": result["checks"], "measurements": result["measurements"],
            "verdict": result["verdict"]}


# Three fast experiments keep this test short; the mechanism is the same for any subset.
KILL_SUBSET = ["ising1d-decimation", "multiplication-gate", "parameter-counting"]


def test_sigkill_then_resume_matches_uninterrupted(quick_reproduction, tmp_path):
    reference = quick_reproduction["out"]
    out = tmp_path / "killed"
    ids = [i for i in experiments() if i in KILL_SUBSET]
    only = ",".join(ids)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepscope", "reproduce", "--quick", "--only", only, "--out",
         str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    # Kill as soon as the second experiment has started: the first is done, the second is not.
    deadline = time.monotonic() + 300
    killed_mid_run = False
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / ids[0]).is_dir() and list(out.glob(".*.partial-*")):
            os.kill(proc.pid, signal.SIGKILL)
            killed_mid_run = True
            break
        time.sleep(0.005)
    proc.wait(timeout=60)
    assert killed_mid_run, "the run finished before it could be killed"
    assert not (out / "results.json").exists()
    assert list(out.glob(".*.partial-*")), "an unfinished run directory was left behind"
    first_before = (out / ids[0] / "result.json").read_bytes()

    status = main(["reproduce", "--quick", "--only", only, "--out", str(out), "--resume"])
    assert status == 0
    assert not list(out.glob(".*.partial-*"))
    assert (out / ids[0] / "result.json").read_bytes() == first_before  # kept, not redone
    assert _rows(out) == [c for c in _rows(reference) if c["id"] in ids]
    for experiment_id in ids:
        assert _numbers(out, experiment_id) == _numbers(reference, experiment_id)


def test_resume_refuses_a_different_configuration(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["reproduce", "--quick", "--only", "parameter-counting", "--out", str(out)]) == 0
    before = (out / "parameter-counting" / "result.json").read_bytes()
    capsys.readouterr()
    status = main(["reproduce", "--full", "--only", "parameter-counting", "--out", str(out),
                   "--resume"])
    assert status == 2
    assert "another configuration" in capsys.readouterr().err
    assert (out / "parameter-counting" / "result.json").read_bytes() == before
