"""Figure helpers for experiments (the shared ones live in :mod:`deepscope.figures`)."""

from __future__ import annotations

from ..figures import new_figure

__all__ = ["new_figure"]
