"""The Ray backend: grids and reproductions as Ray tasks, bit for bit equal to local runs.

One local Ray instance (127.0.0.1, 2 CPUs, 100 MiB object store) serves the whole module; the
last test shuts it down and checks that no process of it is left.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'deepscope[dist]')")

from deepscope import scaleout, store  # noqa: E402
from deepscope.cli import main  # noqa: E402
from deepscope.landscape import (  # noqa: E402
    LandscapeEvaluator,
    evaluate_grid,
    flat_parameters,
    random_directions,
)
from deepscope.runner import reproduce  # noqa: E402

FAST_IDS = ["ising1d-decimation", "parameter-counting"]


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.add(child)
            stack.append(child)
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class _Instance:
    def __init__(self) -> None:
        self._ctx = scaleout.session(workers=2)
        self.workers = self._ctx.__enter__()
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._ctx.__exit__(None, None, None)


@pytest.fixture(scope="module")
def instance():
    inst = _Instance()
    yield inst
    inst.close()


def _problem(hidden=(32, 16)):
    torch.manual_seed(0)
    layers, width = [], 10
    for h in hidden:
        layers += [nn.Linear(width, h), nn.Tanh() if len(layers) == 0 else nn.ReLU()]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 4))
    X = torch.randn(400, 10, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 4, (400,), generator=torch.Generator().manual_seed(2))
    return model, (X, y), random_directions(model, 2, "filter", 0)


def _basis(model, dirs):
    return torch.cat([flat_parameters(model, dirs.names)[None], dirs.vectors])


def test_local_instance_on_loopback(instance):
    assert instance.workers == 2
    assert ray.is_initialized()
    assert ray.cluster_resources()["CPU"] == 2
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")


@pytest.mark.parametrize("hidden,dtype,per_pass", [((32, 16), torch.float32, 11),
                                                    ((32, 16), torch.float64, None),
                                                    ((24,), torch.float32, 11)])
def test_ray_grid_equals_local_bit_for_bit(instance, hidden, dtype, per_pass):
    model, data, dirs = _problem(hidden)
    model = model.to(dtype)
    kw = dict(grid="11x11", dtype=dtype, points_per_pass=per_pass)
    chunks_local, chunks_ray = [], []
    local = evaluate_grid(model, "ce", data, dirs, **kw,
                          on_chunk=lambda idx, v: chunks_local.append(idx.copy()))
    plain = evaluate_grid(model, "ce", data, dirs, **kw)  # one call, nothing recorded
    got = evaluate_grid(model, "ce", data, dirs, **kw, backend="ray",
                        on_chunk=lambda idx, v: chunks_ray.append(idx.copy()))
    assert got.method == local.method == "batched"
    assert set(got.values) == set(local.values) == {"loss", "accuracy"}
    for k in local.values:
        assert local.values[k].dtype == got.values[k].dtype == np.float64
        np.testing.assert_array_equal(got.values[k], local.values[k])
        np.testing.assert_array_equal(plain.values[k], local.values[k])
    assert got.base_loss == local.base_loss
    # the same chunks (in whatever order they finished), each point recorded once
    key = lambda c: int(c[0])  # noqa: E731
    assert [c.tolist() for c in sorted(chunks_ray, key=key)] == \
        [c.tolist() for c in sorted(chunks_local, key=key)]
    if per_pass == 11:
        assert len(chunks_ray) == 11
    # the landscape is not flat: the comparison above compares real numbers
    assert np.ptp(local.loss) > 0.05


def test_killed_worker_loses_and_duplicates_no_point(instance, tmp_path):
    model, data, dirs = _problem()
    marker = str(tmp_path / "crashed-once")
    driver = os.getpid()

    class CrashOnce(LandscapeEvaluator):
        """Kills its worker process on the first chunk scored outside the driver."""

        def evaluate_points(self, coeffs):
            if os.getpid() != driver and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)
            return super().evaluate_points(coeffs)

    ev = CrashOnce(model, "ce", data, _basis(model, dirs), points_per_pass=11)
    seen: list[np.ndarray] = []
    got = evaluate_grid(model, "ce", data, dirs, grid="11x11", evaluator=ev, backend="ray",
                        on_chunk=lambda idx, v: seen.append(idx.copy()))
    assert os.path.exists(marker)  # a worker did die
    flat = np.sort(np.concatenate(seen))
    np.testing.assert_array_equal(flat, np.arange(121))  # every point once, none twice
    local = evaluate_grid(model, "ce", data, dirs, grid="11x11", points_per_pass=11,
                          on_chunk=lambda idx, v: None)
    for k in local.values:
        np.testing.assert_array_equal(got.values[k], local.values[k])


def test_resume_a_local_grid_with_ray(instance):
    model, data, dirs = _problem()
    full = evaluate_grid(model, "ce", data, dirs, grid="11x11", points_per_pass=11,
                         on_chunk=lambda idx, v: None)
    done = np.zeros((11, 11), dtype=bool)
    done[:4] = True
    values = {k: np.where(done, v, np.nan) for k, v in full.values.items()}
    seen: list[np.ndarray] = []
    got = evaluate_grid(model, "ce", data, dirs, grid="11x11", points_per_pass=11,
                        done=done, values=values, backend="ray",
                        on_chunk=lambda idx, v: seen.append(idx))
    assert np.sort(np.concatenate(seen)).tolist() == list(range(44, 121))
    for k in full.values:
        np.testing.assert_array_equal(got.values[k], full.values[k])


def test_reproduce_on_ray_equals_local(instance, tmp_path, capsys):
    local = reproduce(tmp_path / "local", only=FAST_IDS, seed=0)
    status = main(["reproduce", "--quick", "--only", ",".join(FAST_IDS), "--out",
                   str(tmp_path / "ray"), "--backend", "ray"])
    assert status == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert [r["id"] for r in summary["claims"]] == [r["id"] for r in local["claims"]]
    assert summary["host"]["backend"]["name"] == "ray"
    for a, b in zip(local["claims"], summary["claims"]):
        assert a["verdict"] == b["verdict"]
        assert a["headline"] == b["headline"]
        ra = store.load_run(tmp_path / "local" / a["id"])["result"]
        rb = store.load_run(tmp_path / "ray" / b["id"])["result"]
        assert [(c["name"], c["measured"], c["outcome"]) for c in ra["checks"]] == \
            [(c["name"], c["measured"], c["outcome"]) for c in rb["checks"]]
        assert ra["measurements"] == rb["measurements"]
        assert sorted(p.name for p in (tmp_path / "ray" / b["id"]).rglob("*")) == \
            sorted(p.name for p in (tmp_path / "local" / a["id"]).rglob("*"))
    assert (tmp_path / "ray" / "report.html").is_file()
    assert not list((tmp_path / "ray").glob(".*partial*"))
    # resuming on Ray keeps both runs and starts nothing
    assert main(["reproduce", "--quick", "--only", ",".join(FAST_IDS), "--out",
                 str(tmp_path / "ray"), "--backend", "ray", "--resume"]) == 0
    assert "kept" in capsys.readouterr().err


def test_missing_ray_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    status = main(["landscape", "--model", "mlp:64-6-10", "--data", "digits", "--grid", "5x5",
                   "--out", str(tmp_path / "l"), "--backend", "ray"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "deepscope[dist]" in err[0], err
    status = main(["reproduce", "--only", FAST_IDS[0], "--out", str(tmp_path / "r"),
                   "--backend", "ray"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "deepscope[dist]" in err[0], err
    with pytest.raises(Exception, match="deepscope\\[dist\\]"):
        model, data, dirs = _problem()
        evaluate_grid(model, "ce", data, dirs, grid=5, backend="ray")
    assert not (tmp_path / "l").exists() and not (tmp_path / "r").exists()


def test_backend_options_are_checked(capsys, tmp_path):
    status = main(["reproduce", "--only", FAST_IDS[0], "--out", str(tmp_path / "r"),
                   "--workers", "2"])
    assert status == 2 and "--backend ray" in capsys.readouterr().err
    status = main(["reproduce", "--only", FAST_IDS[0], "--out", str(tmp_path / "r"),
                   "--backend", "ray", "--workers", "0"])
    assert status == 2 and "--workers" in capsys.readouterr().err


def test_landscape_cli_on_ray_equals_local(instance, tmp_path):
    args = ["landscape", "--model", "mlp:64-6-10", "--data", "digits", "--max-samples", "300",
            "--grid", "9x9",
            "--dtype", "float64"]
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    assert main([*args, "--out", str(tmp_path / "ray"), "--backend", "ray"]) == 0
    a, b = store.load_arrays(tmp_path / "local"), store.load_arrays(tmp_path / "ray")
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_shutdown_leaves_no_ray_process(instance):
    ours = {pid for pid in _descendants(os.getpid())
            if any(s in _cmdline(pid) for s in ("ray", "gcs_server", "raylet"))}
    assert ours, "the local instance should run as child processes of this one"
    temp = {part for pid in ours for part in _cmdline(pid).split()
            if "dsray-" in part}
    instance.close()
    assert not ray.is_initialized()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alive = {pid for pid in ours if Path(f"/proc/{pid}").exists()
                 and Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"}
        if not alive:
            break
        time.sleep(0.2)
    assert not alive, [_cmdline(p) for p in alive]
    assert not any(Path(p.split("=", 1)[-1]).exists() for p in temp if "/tmp/" in p)


def test_conv_net_grid_on_ray_equals_local(instance):
    """The inference scorer's plan travels to the workers (without its threads) and gives the
    local bits."""
    from deepscope.models import build

    torch.manual_seed(0)
    model = build("resnet:width=4,n_blocks=1", input_shape=(1, 6, 6), n_classes=3).eval()
    X = torch.randn(64, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 3, (64,), generator=torch.Generator().manual_seed(2))
    dirs = random_directions(model, 2, "filter", 0)
    local = evaluate_grid(model, "ce", (X, y), dirs, grid="5x5", on_chunk=lambda i, v: None)
    got = evaluate_grid(model, "ce", (X, y), dirs, grid="5x5", backend="ray")
    assert local.scorer.startswith("inference") and got.scorer == local.scorer
    for k in local.values:
        np.testing.assert_array_equal(got.values[k], local.values[k])
    assert np.ptp(local.loss) > 0.01  # not flat: real numbers compared
