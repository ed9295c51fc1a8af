"""``deepscope landscape``: files written, resume after an interruption, bad input refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deepscope.cli import main
from deepscope.commands.landscape import LandscapeRequest, work_directory, write_landscape_run

BASE = ["landscape", "--model", "mlp:64-6-10", "--data", "digits", "--max-samples", "120",
        "--batch-size", "50", "--dtype", "float64"]


def test_plane_run_files_and_centre(tmp_path):
    out = tmp_path / "plane"
    assert main(BASE + ["--grid", "5x5", "--out", str(out)]) == 0
    record = json.loads((out / "result.json").read_text())
    for name in ("config.json", "env.json", "arrays.npz", "landscape.npz", "landscape.csv",
                 "landscape.vtk", "landscape.json", "grid.npz", "figures/contour.png",
                 "figures/surface.svg"):
        assert (out / name).exists(), name
    assert record["grid"] == [5, 5] and record["method"] == "batched"  # auto: the chain path
    # the chain scorer with its compiled cross-entropy pass; the centre (a basis vector) exactly
    assert record["scorer"] == "chain + compiled cross-entropy (unit points: exact)"
    assert abs(record["cosines"][0][1]) < 1e-12
    with np.load(out / "arrays.npz", allow_pickle=False) as z:
        assert z["loss"][2, 2] == record["base_loss"]
    assert not work_directory(out).exists()


def test_interpolate_and_curve(tmp_path, capsys):
    from deepscope.data import load
    from deepscope.models import build

    out = tmp_path / "interp"
    args = BASE + ["--kind", "interpolate", "--model-b", "mlp:64-6-10", "--grid", "9",
                   "--out", str(out)]
    assert main(args) == 0
    record = json.loads((out / "result.json").read_text())
    data = load("digits", seed=0)
    X = torch.as_tensor(data.X_train[:120]).double()
    y = torch.as_tensor(data.y_train[:120]).long()
    for key, seed in (("loss_a", 0), ("loss_b", 1)):
        model = build("mlp:64-6-10", input_shape=data.input_shape, n_classes=10,
                      seed=seed).double()
        with torch.no_grad():
            want = sum(len(y[i:i + 50]) / 120 * float(torch.nn.functional.cross_entropy(
                model(X[i:i + 50]), y[i:i + 50])) for i in range(0, 120, 50))
        assert abs(record[key] - want) < 1e-14
    assert record["scorer"].startswith("chain")
    out2 = tmp_path / "curve"
    args = BASE + ["--kind", "curve", "--model-b", "mlp:64-6-10", "--grid", "7",
                   "--curve-steps", "30", "--out", str(out2)]
    assert main(args) == 0
    assert "curve: max loss" in capsys.readouterr().out
    assert json.loads((out2 / "result.json").read_text())["curve_scorer"]


def test_resume_after_interruption(tmp_path, monkeypatch):
    from deepscope import landscape_io

    request = LandscapeRequest(model="mlp:64-6-10", data="digits", max_samples=120,
                               batch_size=50, dtype="float64", grid="6x5", points_per_pass=4)
    reference = write_landscape_run(request, tmp_path / "ref")
    out = tmp_path / "run"
    original = landscape_io.GridStore.update
    count = {"n": 0}

    def update(self, idx, chunk):
        original(self, idx, chunk)
        count["n"] += 1
        if count["n"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(landscape_io.GridStore, "update", update)
    with pytest.raises(KeyboardInterrupt):
        write_landscape_run(request, out)
    monkeypatch.setattr(landscape_io.GridStore, "update", original)
    work = work_directory(out)
    assert work.exists() and not out.exists()
    with pytest.raises(Exception, match="--resume"):
        write_landscape_run(request, out)
    done = landscape_io.GridStore.open(work).done
    assert done.sum() == 12
    write_landscape_run(request, out, resume=True)
    with np.load(out / "arrays.npz") as a, np.load(tmp_path / "ref" / "arrays.npz") as b:
        assert np.array_equal(a["loss"], b["loss"])
    assert reference["base_loss"] == json.loads((out / "result.json").read_text())["base_loss"]


def test_corrupt_store_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    work = work_directory(out)
    work.mkdir()
    (work / "landscape.json").write_text("{broken")
    args = BASE + ["--grid", "3x3", "--resume", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("deepscope: error:") and "corrupt" in err and "\n" not in err
    assert (work / "landscape.json").read_text() == "{broken"  # nothing lost
    # a store made with other settings is refused as well
    assert main(BASE + ["--grid", "3x3", "--out", str(tmp_path / "other")]) == 0


@pytest.mark.parametrize("extra,needle", [
    (["--grid", "0x5"], "grid"),
    (["--grid", "5xq"], "grid"),
    (["--span", "1:-1"], "lo < hi"),
    (["--span", "2:2"], "lo < hi"),
    (["--kind", "interpolate"], "--model-b"),
    (["--kind", "interpolate", "--model-b", "mlp:64-7-10"], "architecture"),
    (["--directions", "pca"], "--trajectory"),
    (["--directions", "pca", "--trajectory", "missing.npz"], "trajectory"),
    (["--kind", "line", "--grid", "5x5"], "axes"),
])
def test_bad_input_exit_2(tmp_path, capsys, extra, needle):
    out = tmp_path / "bad"
    assert main(BASE + extra + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_existing_out_refused(tmp_path, capsys):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert main(BASE + ["--grid", "3x3", "--out", str(out)]) == 2
    assert (out / "keep.txt").read_text() == "x"


def test_pca_trajectory_file(tmp_path):
    from deepscope.data import load
    from deepscope.landscape import TrajectoryRecorder
    from deepscope.models import build

    data = load("digits", seed=0)
    model = build("mlp:64-6-10", input_shape=data.input_shape, n_classes=10, seed=0)
    X = torch.as_tensor(data.X_train[:120])
    y = torch.as_tensor(data.y_train[:120]).long()
    rec = TrajectoryRecorder()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for step in range(8):
        rec(model, step)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    path = tmp_path / "traj.npz"
    np.savez(path, checkpoints=rec.checkpoints)
    out = tmp_path / "pca"
    assert main(BASE + ["--directions", "pca", "--trajectory", str(path), "--grid", "4x4",
                        "--out", str(out)]) == 0
    record = json.loads((out / "result.json").read_text())
    assert len(record["direction_info"]["explained_variance_ratio"]) == 2


def test_interpolate_and_curve_resume_bit_identical(tmp_path, monkeypatch):
    """An interpolation store and the curve training both resume to the uninterrupted result."""
    from deepscope.landscape import _curves as curves

    request = LandscapeRequest(model="mlp:64-6-10", model_b="mlp:64-6-10", data="digits",
                               kind="curve", max_samples=120, batch_size=50, dtype="float64",
                               grid="9", curve_steps=40, points_per_pass=2)
    write_landscape_run(request, tmp_path / "ref")
    out = tmp_path / "run"
    original = curves.fit_curve

    def interrupted(*args, checkpoint=None, **kw):
        calls = {"n": 0}

        def stop_after_two(state):
            checkpoint(state)
            calls["n"] += 1
            if calls["n"] == 2:  # saved after 4 of 40 steps: stop mid-training
                raise KeyboardInterrupt

        return original(*args, checkpoint=stop_after_two, **kw)

    monkeypatch.setattr(curves, "fit_curve", interrupted)
    monkeypatch.setattr("deepscope.landscape.fit_curve", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_landscape_run(request, out)
    monkeypatch.undo()
    work = work_directory(out)
    with np.load(work / "curve_state.npz") as state:
        assert int(state["step"]) == 4
    assert (work / "line" / "grid.npz").exists()   # the straight line was finished and kept
    with pytest.raises(Exception, match="--resume"):
        write_landscape_run(request, out)
    write_landscape_run(request, out, resume=True)
    with np.load(out / "arrays.npz") as a, np.load(tmp_path / "ref" / "arrays.npz") as b:
        for name in ("line_loss", "curve_loss", "curve_history", "curve_control"):
            assert np.array_equal(a[name], b[name]), name


def test_curve_checkpoint_from_other_settings_refused(tmp_path, capsys):
    args = BASE + ["--kind", "curve", "--model-b", "mlp:64-6-10", "--grid", "5",
                   "--curve-steps", "20"]
    out = tmp_path / "run"
    work = work_directory(out)
    work.mkdir()
    np.savez(work / "curve_state.npz", step=np.array(3), key_json=np.array('{"other": 1}'))
    assert main(args + ["--resume", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "other settings" in err and "\n" not in err
    assert (work / "curve_state.npz").exists()      # nothing lost
