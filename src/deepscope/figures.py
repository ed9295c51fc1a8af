"""Figure helpers shared by experiments and commands: matplotlib's object API, no pyplot state."""

from __future__ import annotations

from typing import Any


def new_figure(n_axes: int = 1, width: float = 5.2, height: float = 3.8) -> tuple[Any, list[Any]]:
    """A figure with ``n_axes`` side-by-side axes (Agg canvas, no pyplot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_axes, height), layout="constrained")
    axes = fig.subplots(1, n_axes, squeeze=False)[0]
    return fig, list(axes)
