"""Training trajectories: a recorder callback and the plane of their principal components.

Li et al. (2018) draw optimisation paths on the plane spanned by the top principal components of
the checkpoints ``theta_i``. :func:`pca_directions` centres the checkpoints on their mean for the
PCA (so the explained variance is that of the trajectory), places the plane's origin at the last
checkpoint, and reports each checkpoint's coordinates and its distance to the plane.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserInputError
from ._directions import Directions, flat_parameters, trainable_names


class TrajectoryRecorder:
    """Records a model's trainable parameters during training (a callback).

    Call it as ``recorder(model, step)`` from a training loop; it keeps every ``every``-th step
    (float64 copies on the CPU).

    Example:
        >>> net = torch.nn.Linear(2, 1)
        >>> rec = TrajectoryRecorder(every=2)
        >>> for step in range(5):
        ...     rec(net, step)
        >>> rec.checkpoints.shape, rec.steps
        ((3, 3), [0, 2, 4])
    """

    def __init__(self, every: int = 1):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise UserInputError(f"every must be a positive integer, got {every!r}")
        self.every = every
        self.names: list[str] | None = None
        self.shapes: list[tuple[int, ...]] | None = None
        self.steps: list[int] = []
        self._rows: list[np.ndarray] = []

    def __call__(self, model: nn.Module, step: int | None = None) -> None:
        step = len(self.steps) * self.every if step is None else int(step)
        if step % self.every == 0:
            self.record(model, step)

    def record(self, model: nn.Module, step: int | None = None) -> None:
        names = trainable_names(model)
        if self.names is None:
            named = dict(model.named_parameters())
            self.names = names
            self.shapes = [tuple(named[n].shape) for n in names]
        elif names != self.names:
            raise UserInputError("the recorded model changed its parameters")
        self._rows.append(flat_parameters(model, names).double().cpu().numpy())
        self.steps.append(len(self.steps) if step is None else int(step))

    @property
    def checkpoints(self) -> np.ndarray:
        """(T, P) float64 array of the recorded flat parameters."""
        if not self._rows:
            raise UserInputError("the trajectory recorder holds no checkpoint")
        return np.stack(self._rows)


def pca_directions(trajectory: Any, model: nn.Module, n_components: int = 2,
                   origin: str = "last") -> Directions:
    """The top principal components of a trajectory as directions.

    Args:
        trajectory: a :class:`TrajectoryRecorder` or a (T, P) array of flat checkpoints.
        model: a model of the same architecture (for the layout and dtype).
        n_components: number of components (< T).
        origin: ``"last"`` (the final checkpoint, Li et al.) or ``"mean"``.

    Returns:
        Directions with unit orthonormal vectors, ``origin`` set, and in ``info``:
        ``explained_variance_ratio``, ``checkpoint_coords`` (T, k) and ``distance_to_plane`` (T,).
    """
    X = trajectory.checkpoints if isinstance(trajectory, TrajectoryRecorder) else np.asarray(
        trajectory, dtype=np.float64)
    names = trainable_names(model)
    named = dict(model.named_parameters())
    shapes = [tuple(named[n].shape) for n in names]
    if X.ndim != 2 or X.shape[1] != sum(int(np.prod(s)) for s in shapes):
        raise UserInputError(f"trajectory must be (T, {sum(int(np.prod(s)) for s in shapes)}) "
                             f"for this model, got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise UserInputError("the trajectory contains NaN or inf")
    T = X.shape[0]
    if isinstance(n_components, bool) or not isinstance(n_components, int) or not (
            1 <= n_components < T):
        raise UserInputError(f"n_components must be in [1, {T - 1}] for {T} checkpoints")
    if origin not in ("last", "mean"):
        raise UserInputError(f"origin must be 'last' or 'mean', got {origin!r}")
    mean = X.mean(axis=0)
    _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
    var = s ** 2
    if var[n_components - 1] <= 1e-24 * max(var[0], 1e-300):
        raise UserInputError("the trajectory spans fewer dimensions than n_components")
    V = vt[:n_components]
    centre = X[-1] if origin == "last" else mean
    coords = (X - centre) @ V.T
    residual = (X - centre) - coords @ V
    dtype = named[names[0]].dtype
    return Directions(torch.as_tensor(V).to(dtype), names, shapes,
                      torch.as_tensor(centre).to(dtype),
                      {"kind": "pca", "n_components": n_components, "origin": origin,
                       "n_checkpoints": T},
                      info={"explained_variance_ratio": (var / var.sum())[:n_components]
                            .tolist(),
                            "checkpoint_coords": coords.tolist(),
                            "distance_to_plane": np.linalg.norm(residual, axis=1).tolist()})
