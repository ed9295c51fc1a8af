"""Resumable grid store, exports (npz, CSV, VTK), figures and the plotly page."""

from __future__ import annotations

import importlib.util
import io
import re
import sys

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.errors import UserInputError
from deepscope.landscape import (
    LandscapeEvaluator,
    evaluate_grid,
    flat_parameters,
    interpolate,
    plot_contour,
    plot_heatmap,
    plot_interpolation,
    plot_line,
    plot_surface,
    plotly_html,
    random_directions,
)
from deepscope.landscape_io import (
    GridStore,
    export_csv,
    export_npz,
    export_vtk,
    model_hash,
    read_vtk_scalars,
)


class Interrupt(Exception):
    pass


def problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(40, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=gen)
    return model, (X, y), random_directions(model, 2, seed=0)


def evaluator(model, data, dirs):
    basis = torch.cat([flat_parameters(model)[None], dirs.vectors])
    return LandscapeEvaluator(model, "ce", data, basis, points_per_pass=6)


def test_resumed_grid_equals_uninterrupted(tmp_path):
    model, data, dirs = problem()
    key = {"model_hash": model_hash(model), "directions": dirs.spec, "grid": [7, 5]}
    full = evaluate_grid(model, "ce", data, dirs, grid=(7, 5), points_per_pass=6)

    store = GridStore.create(tmp_path / "g", key, (7, 5), ["loss", "accuracy"])
    calls = []

    def interrupted(idx, chunk):
        store.update(idx, chunk)
        calls.append(len(idx))
        if len(calls) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        evaluate_grid(model, "ce", data, dirs, grid=(7, 5), on_chunk=interrupted,
                      evaluator=evaluator(model, data, dirs))
    reopened = GridStore.open(tmp_path / "g", key)
    assert reopened.done.sum() == 12 and not reopened.complete
    seen = []
    res = evaluate_grid(model, "ce", data, dirs, grid=(7, 5), done=reopened.done,
                        values=reopened.values,
                        on_chunk=lambda i, c: (seen.append(len(i)), reopened.update(i, c)),
                        evaluator=evaluator(model, data, dirs))
    assert sum(seen) == 35 - 12 and reopened.complete
    assert np.array_equal(res.loss, full.loss)
    assert np.array_equal(GridStore.open(tmp_path / "g", key).grid_values()["loss"], full.loss)


def test_store_refuses_damage_and_mismatch(tmp_path):
    model, data, dirs = problem()
    key = {"model_hash": model_hash(model), "grid": [3, 3]}
    store = GridStore.create(tmp_path / "g", key, (3, 3), ["loss"])
    store.update(np.array([0, 1]), {"loss": np.array([1.0, 2.0])})
    with pytest.raises(UserInputError, match="other settings"):
        GridStore.open(tmp_path / "g", {**key, "grid": [4, 4]})
    with pytest.raises(UserInputError, match="already holds"):
        GridStore.create(tmp_path / "g", key, (3, 3), ["loss"])
    grid = tmp_path / "g" / "grid.npz"
    good = grid.read_bytes()
    grid.write_bytes(good[: len(good) // 2])
    with pytest.raises(UserInputError, match="corrupt grid file") as info:
        GridStore.open(tmp_path / "g", key)
    assert "\n" not in str(info.value)
    assert grid.exists() and (tmp_path / "g" / "landscape.json").exists()  # nothing deleted
    np.savez(grid, loss=np.zeros(9), done=np.ones(4, dtype=bool))
    with pytest.raises(UserInputError, match="done mask"):
        GridStore.open(tmp_path / "g", key)
    np.savez(grid, loss=np.full(9, np.nan), done=np.ones(9, dtype=bool))
    with pytest.raises(UserInputError, match="NaN"):
        GridStore.open(tmp_path / "g", key)
    (tmp_path / "g" / "landscape.json").write_text("{not json")
    with pytest.raises(UserInputError, match="corrupt"):
        GridStore.open(tmp_path / "g", key)


def test_model_hash_sensitive():
    model, _, _ = problem()
    h = model_hash(model)
    with torch.no_grad():
        model[0].weight[0, 0] += 1e-12
    assert model_hash(model) != h


def test_exports_round_trip(tmp_path):
    model, data, dirs = problem()
    res = evaluate_grid(model, "ce", data, dirs, grid=(5, 4), span=[(-1, 1), (0, 2)])
    export_npz(tmp_path / "l.npz", res, {"note": "x"})
    with np.load(tmp_path / "l.npz", allow_pickle=False) as z:
        assert np.array_equal(z["loss"], res.loss) and np.array_equal(z["axis1"], res.coords[1])
        assert '"random"' in str(z["meta_json"])
    export_csv(tmp_path / "l.csv", res)
    table = np.genfromtxt(tmp_path / "l.csv", delimiter=",", names=True)
    assert table.shape == (20,)
    np.testing.assert_array_equal(table["loss"], res.loss.reshape(-1))
    np.testing.assert_array_equal(table["a1"][:4], res.coords[1])
    export_vtk(tmp_path / "l.vtk", res)
    vtk = read_vtk_scalars(tmp_path / "l.vtk")
    assert vtk["dimensions"] == [5, 4, 1] and vtk["origin"][:2] == [-1.0, 0.0]
    np.testing.assert_allclose(vtk["spacing"][:2], [0.5, 2 / 3], rtol=1e-15)
    np.testing.assert_array_equal(vtk["fields"]["loss"].reshape(4, 5).T, res.loss)
    text = (tmp_path / "l.vtk").read_text()
    assert text.startswith("# vtk DataFile Version 3.0\n") and "STRUCTURED_POINTS" in text
    export_vtk(tmp_path / "s.vtk", res, surface="loss")
    surf = (tmp_path / "s.vtk").read_text().splitlines()
    assert "DATASET STRUCTURED_GRID" in surf and "POINTS 20 double" in surf
    first = [float(v) for v in surf[surf.index("POINTS 20 double") + 1].split()]
    assert first == [-1.0, 0.0, float(res.loss[0, 0])]


def test_figures_object_api():
    import inspect

    model, data, dirs = problem()
    plane = evaluate_grid(model, "ce", data, dirs, grid=(5, 5))
    line = evaluate_grid(model, "ce", data, random_directions(model, 1, seed=2), grid=7,
                         n_samples=20)
    path = interpolate(model, model, "ce", data, n_points=5)
    figs = [plot_line(line), plot_contour(plane, trajectory=np.array([[0.5, 0.5], [0, 0]])),
            plot_contour(plane, filled=True), plot_heatmap(plane), plot_surface(plane),
            plot_interpolation(path)]
    for fig in figs:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        assert buffer.getvalue()[:4] == b"\x89PNG"
    # no pyplot global state: the plotting module never imports it (another package imported
    # in the same test session may, so sys.modules is not the place to look)
    from deepscope.landscape import _plots as plots

    source = inspect.getsource(plots)
    assert "import matplotlib.pyplot" not in source
    assert "from matplotlib import pyplot" not in source
    with pytest.raises(UserInputError, match="2-D"):
        plot_heatmap(line)


def test_plotly_missing_is_a_clear_error(monkeypatch):
    for name in ("plotly", "plotly.graph_objects"):
        monkeypatch.setitem(sys.modules, name, None)  # as if the extra were not installed
    model, data, dirs = problem()
    res = evaluate_grid(model, "ce", data, dirs, grid=(3, 3))
    with pytest.raises(UserInputError, match="plotly"):
        plotly_html(res)


@pytest.mark.skipif(importlib.util.find_spec("plotly") is None, reason="plotly not installed")
def test_plotly_page_is_self_contained():
    model, data, dirs = problem()
    html = plotly_html(evaluate_grid(model, "ce", data, dirs, grid=(3, 3)))
    assert "<html" in html and "Plotly.newPlot" in html
    # offline: plotly.js is embedded (megabytes), no script or stylesheet is fetched
    assert len(html) > 1_000_000
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert not re.search(r"<link[^>]*\bhref=[\"']?https?:", html)
    line = plotly_html(evaluate_grid(model, "ce", data, dirs.vectors[:1], grid=5))
    assert "scatter" in line
