"""Figures of landscape results (matplotlib's object API, no pyplot) and an offline plotly page.

Every function returns a figure (or, for :func:`plotly_html`, an HTML string) and writes nothing;
``deepscope.landscape_io`` stores them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UserInputError


def _figure(width: float = 5.4, height: float = 4.2, projection: str | None = None):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot(projection=projection) if projection else fig.add_subplot()
    return fig, ax


def _grid_2d(result: Any, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if len(result.coords) != 2:
        raise UserInputError(f"this plot needs a 2-D grid, the result has {len(result.coords)} "
                             "axes")
    x, y = result.coords
    return x, y, np.asarray(result.values[metric])


def plot_line(result: Any, metric: str = "loss", z: float = 1.96, label: str | None = None,
              xlabel: str = "a"):
    """A 1-D slice, with a band of ``+-z`` standard errors when the values have them."""
    fig, ax = _figure()
    x = np.asarray(result.coords[0] if hasattr(result, "coords") else result.t)
    v = np.asarray(result.values[metric])
    ax.plot(x, v, marker=".", label=label or metric)
    se = result.values.get(f"{metric}_stderr")
    if se is not None and np.all(np.isfinite(se)):
        ax.fill_between(x, v - z * se, v + z * se, alpha=0.3,
                        label=f"±{z:g} s.e. ({len(x)} points)")
    ax.set(xlabel=xlabel, ylabel=metric, title=f"{metric} along the direction")
    ax.legend(fontsize=8)
    return fig


def plot_contour(result: Any, metric: str = "loss", *, filled: bool = False, levels: int = 30,
                 trajectory: np.ndarray | None = None, log: bool = False):
    """Contour (or filled contour) lines of a 2-D grid; ``trajectory`` (T, 2) is drawn on top."""
    x, y, v = _grid_2d(result, metric)
    v = np.log10(np.maximum(v, 1e-300)) if log else v
    fig, ax = _figure()
    draw = ax.contourf if filled else ax.contour
    cs = draw(x, y, v.T, levels=levels, cmap="viridis")
    if filled:
        fig.colorbar(cs, ax=ax, label=("log10 " if log else "") + metric)
    else:
        ax.clabel(cs, inline=True, fontsize=6, fmt="%.3g")
    if trajectory is not None:
        tr = np.asarray(trajectory)
        ax.plot(tr[:, 0], tr[:, 1], "o-", color="tab:red", markersize=3, lw=1,
                label="trajectory")
        ax.plot(tr[-1, 0], tr[-1, 1], "*", color="tab:red", markersize=10)
        ax.legend(fontsize=8)
    ax.plot([0], [0], "k+", markersize=8)
    ax.set(xlabel="a", ylabel="b", title=f"{metric} ({'filled ' if filled else ''}contours)")
    return fig


def plot_heatmap(result: Any, metric: str = "loss"):
    """A heat map of a 2-D grid (pixel centres at the grid points)."""
    x, y, v = _grid_2d(result, metric)
    fig, ax = _figure()
    dx = (x[-1] - x[0]) / (2 * (len(x) - 1))
    dy = (y[-1] - y[0]) / (2 * (len(y) - 1))
    im = ax.imshow(v.T, origin="lower", aspect="auto", cmap="magma",
                   extent=(x[0] - dx, x[-1] + dx, y[0] - dy, y[-1] + dy))
    fig.colorbar(im, ax=ax, label=metric)
    ax.set(xlabel="a", ylabel="b", title=f"{metric} (heat map)")
    return fig


def plot_surface(result: Any, metric: str = "loss"):
    """A 3-D surface of a 2-D grid."""
    x, y, v = _grid_2d(result, metric)
    fig, ax = _figure(6.0, 4.8, projection="3d")
    XX, YY = np.meshgrid(x, y, indexing="ij")
    ax.plot_surface(XX, YY, v, cmap="viridis", linewidth=0, antialiased=True)
    ax.set(xlabel="a", ylabel="b", zlabel=metric, title=f"{metric} surface")
    return fig


def plot_interpolation(result: Any, metric: str = "loss"):
    """The loss along an interpolation or a curve, with its barrier."""
    fig, ax = _figure()
    ax.plot(result.t, result.values[metric], marker=".")
    ax.axvline(0, color="0.7", lw=0.8)
    ax.axvline(1, color="0.7", lw=0.8)
    ax.set(xlabel="t", ylabel=metric,
           title=f"{metric} along the path (barrier {result.barrier:.4g})")
    return fig


def plotly_html(result: Any, metric: str = "loss", title: str = "loss landscape") -> str:
    """A self-contained interactive HTML page (plotly.js embedded: works offline).

    Raises:
        UserInputError: plotly is not installed (install the ``plot`` extra).
    """
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise UserInputError("the interactive plot needs plotly: pip install 'deepscope[plot]'"
                             " (or pip install plotly)") from None
    v = np.asarray(result.values[metric])
    if len(result.coords) == 1:
        fig = go.Figure(go.Scatter(x=result.coords[0], y=v, mode="lines+markers"))
    elif len(result.coords) == 2:
        x, y = result.coords
        fig = go.Figure(go.Surface(x=x, y=y, z=v.T, colorscale="Viridis"))
    else:
        raise UserInputError("the interactive plot needs a 1-D or 2-D grid")
    fig.update_layout(title=title)
    return fig.to_html(include_plotlyjs=True, full_html=True)
