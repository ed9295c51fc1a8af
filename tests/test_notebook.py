"""Results render themselves in Jupyter: HTML summaries with their numbers, a figure, escaping."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from deepscope import notebook
from deepscope.curvature import (
    DenseOperator,
    bulk_and_outliers,
    diagonal,
    eigenvalues,
    hessian_index,
    spectral_density,
    trace,
)
from deepscope.landscape import evaluate_grid, interpolate, random_directions
from deepscope.landscape._sharpness import SharpnessResult
from deepscope.results import Check, ExperimentResult

EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SPECTRUM = np.array([9.5, 7.25, -3.5, -1.0, -0.5] + list(np.linspace(0.1, 1.0, 35)))


def _operator(seed: int = 0) -> tuple[DenseOperator, np.ndarray]:
    """A symmetric 40 x 40 matrix with a known spectrum (random rotation, float64)."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(40, 40, generator=g, dtype=torch.float64))
    A = Q @ torch.diag(torch.as_tensor(SPECTRUM)) @ Q.T
    return DenseOperator(0.5 * (A + A.T)), A.numpy()


def _png_ok(html: str) -> bool:
    m = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    return m is not None and base64.b64decode(m.group(1))[:8] == b"\x89PNG\r\n\x1a\n"


def _cell(label: str, value: str) -> str:
    return f">{label}</td><td style=\"{notebook._CELL}\">{value}</td>"


def test_eigenresult_lists_the_known_eigenvalues_and_a_figure():
    op, _ = _operator()
    r = eigenvalues(op, k=2, which="largest", tol=1e-10, seed=0)
    html = r._repr_html_()
    assert ">9.5<" in html and ">7.25<" in html  # the exact top two, 6 significant digits
    assert _cell("converged", "2 of 2") in html
    assert _png_ok(html)
    assert repr(r).startswith("EigenResult(which='largest', values=[9.5, 7.25]")
    assert len(repr(r)) < 200  # no eigenvectors in the repr


def test_trace_estimate_shows_value_stderr_and_interval():
    op, A = _operator()
    t = trace(op, method="hutchinson", max_matvecs=64, rtol=1e-9, seed=0)
    assert abs(t.value - np.trace(A)) < 5 * t.stderr  # a real estimate of the true trace
    html = t._repr_html_()
    assert _cell("trace", f"{t.value:.6g} ± {t.stderr:.2g}") in html
    assert f"[{t.ci[0]:.6g}, {t.ci[1]:.6g}]" in html and "95% interval" in html
    assert _png_ok(html)
    assert "TraceEstimate(value=" in repr(t) and "samples" not in repr(t)


def test_density_shows_range_moments_and_marks_converged_outliers():
    op, A = _operator()
    d = spectral_density(op, n_probes=4, n_steps=30, seed=0)
    html = d._repr_html_()
    lo, hi = d.spectral_range
    assert abs(hi - 9.5) < 1e-8 and abs(lo + 3.5) < 1e-8  # extreme Ritz values converge
    assert f"[{lo:.6g}, {hi:.6g}]" in html
    m1 = np.trace(A) / 40
    assert abs(d.moments_mean[0] - m1) < 5 * d.moments_stderr[0]
    assert f"{d.moments_mean[0]:.6g} ± {d.moments_stderr[0]:.2g}" in html
    marks = notebook.isolated_nodes(d.nodes, d.ritz_residuals, d.weights, d.sigma)
    for outlier in (9.5, 7.25, -3.5):  # isolated eigenvalues are marked, the bulk is not
        assert np.min(np.abs(marks - outlier)) < 1e-8
    assert not np.any((marks > 0.05) & (marks < 1.05))
    labels = notebook.density_figure(d).axes[0].get_legend_handles_labels()[1]
    assert f"{marks.size} outliers (converged, isolated Ritz values)" in labels
    assert _png_ok(html)


def test_bulk_outliers_shows_exact_outliers():
    op, _ = _operator()
    s = bulk_and_outliers(op, k=2, n_probes=4, n_steps=20, seed=0)
    html = s._repr_html_()
    assert _cell("outliers", "9.5, 7.25") in html
    assert _cell("bulk mass", f"{38 / 40:.6g}") in html
    assert _png_ok(html)
    assert "outlier_vectors" not in repr(s)


@pytest.mark.parametrize("method", ["dense", "slq"])
def test_hessian_index_shows_the_index(method):
    op, _ = _operator()
    r = hessian_index(op, method=method, n_probes=8, n_steps=40, seed=0)
    html = r._repr_html_()
    if method == "dense":
        assert r.value == 3 / 40
        assert _cell("index", "0.075") in html and _cell("negative eigenvalues", "3") in html
    else:
        assert abs(r.value - 3 / 40) < 5 * r.stderr + r.bias_bound
        assert _cell("index", f"{r.value:.6g} ± {r.stderr:.2g}") in html
    assert _png_ok(html)


def test_diagonal_shows_size_and_trace_with_error():
    op, A = _operator()
    d = diagonal(op, n_probes=64, seed=0)
    html = d._repr_html_()
    se = float(np.sqrt(np.sum(d.stderr.numpy() ** 2)))
    assert _cell("P", "40") in html
    assert _cell("sum (trace)", f"{float(d.values.sum()):.6g} ± {se:.2g}") in html
    assert abs(float(d.values.sum()) - np.trace(A)) < 6 * se
    assert _png_ok(html)


def _mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return (torch.randn(16, 3, generator=g, dtype=torch.float64),
            torch.randn(16, 1, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("k", [1, 2])
def test_landscape_shows_base_loss_and_a_plot(k):
    model, (X, y) = _mlp(0), _data()
    metrics = {EVIL: lambda out, target: (out - target).abs().mean()}
    res = evaluate_grid(model, "mse", (X, y), random_directions(model, k, seed=0),
                        grid=5 if k == 1 else (5, 4), metrics=metrics)
    with torch.no_grad():  # independent of the grid code
        base = float(torch.nn.functional.mse_loss(model(X), y))
    html = res._repr_html_()
    assert abs(res.base_loss - base) < 1e-12
    assert _cell("base loss", f"{base:.6g}") in html
    assert _cell("grid", "5" if k == 1 else "5 x 4") in html
    assert EVIL not in html and EVIL_ESCAPED in html
    assert _png_ok(html)


def test_interpolation_shows_barrier():
    (X, y) = _data()
    res = interpolate(_mlp(0), _mlp(1), "mse", (X, y), n_points=11)
    html = res._repr_html_()
    assert _cell("barrier", f"{res.barrier:.6g}") in html
    assert _cell("distance", f"{res.distance:.6g}") in html
    assert _png_ok(html)
    assert repr(res).startswith("InterpolationResult(barrier=")


def test_sharpness_escapes_its_strings():
    r = SharpnessResult(EVIL, 0.125, 0.01, 1.5, 1.625, EVIL, {"note": EVIL})
    html = r._repr_html_()
    assert _cell("sharpness", "0.125 ± 0.01") in html
    assert EVIL not in html and html.count(EVIL_ESCAPED) == 3
    assert _png_ok(html)


def _experiment(figure: bool = True, sanity_ok: bool = True) -> ExperimentResult:
    from matplotlib.figure import Figure

    figures = {}
    if figure:
        fig = Figure()
        fig.add_subplot().plot([0, 1, 2], [1, 0, 1])
        figures = {EVIL: fig}
    checks = [
        Check("slope", EVIL, 1.02, 1.0, 0.1, kind="statistical", stderr=0.01),
        Check("order", "loss drops", 0.3, 0.5, 0.0, kind="directional", comparison="at_most"),
        Check("count", "our construction", 4 if sanity_ok else 5, 4, 0.0, role="sanity"),
    ]
    return ExperimentResult(checks, figures=figures, deviations=[f"2,000 samples {EVIL}"])


def test_experiment_table_verdict_deviations_and_figures(monkeypatch):
    res = _experiment()
    html = res._repr_html_()
    assert _cell("verdict", "reproduced") in html
    assert ">1.02 ± 0.01<" in html and ">≈ 1<" in html and ">≤ 0.5<" in html
    assert html.count(">pass<") == 3
    assert "2,000 samples" in html
    assert EVIL not in html and html.count(EVIL_ESCAPED) == 3  # description, deviation, figure
    assert _png_ok(html)
    monkeypatch.setattr(notebook, "FIGURE_FORMAT", "svg")
    assert "<svg" in res._repr_html_()
    assert repr(res).startswith("ExperimentResult(verdict='reproduced', headline='slope'")


def test_broken_run_renders_without_a_verdict():
    res = _experiment(figure=False, sanity_ok=False)
    html = res._repr_html_()
    assert "no verdict (sanity check failed" in html and ">fail<" in html
    assert "sanity check failed" in repr(res)


def test_a_figure_that_cannot_be_drawn_becomes_a_note():
    def broken():
        raise ValueError(EVIL)

    out = notebook.figure_html(broken)
    assert out.startswith("<p><em>(no figure: ValueError") and EVIL_ESCAPED in out


def test_facades_import_no_pyplot_and_rendering_needs_none():
    code = (
        "import sys, deepscope.curvature, deepscope.landscape;"
        "print('matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules);"
        "from deepscope.curvature import DenseOperator, eigenvalues;"
        "import torch; h = eigenvalues(DenseOperator(torch.eye(4)), k=1)._repr_html_();"
        "print('matplotlib.pyplot' in sys.modules, 'base64' in h)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "False", "True"]
