"""Loss landscapes: slices, interpolations, mode-connecting curves and sharpness, measured.

Directions (each a :class:`Directions`: ``k`` flat vectors over the trainable parameters, the
cosines between them, and a JSON spec):

- :func:`random_directions`: Gaussian, regenerable from ``(seed, spec)``; ``norm`` is
  ``"filter"``, ``"layer"``, ``"model"``, ``"adaptive"`` or ``"none"``; 1-D parameters
  ``"ignore"``/``"keep"``/``"normalise"``; axes orthogonalised inside each normalisation block
  (``orthogonalise="blockwise"``), so the plane is invariant to every rescaling the
  normalisation absorbs (Dinh et al.'s rescaling of a ReLU pair included).
- :func:`target_direction`, :func:`plane_through`: model to model, the plane of three models.
- :func:`pca_directions` of a :class:`TrajectoryRecorder`; :func:`hessian_directions`.

Evaluation (the user's model is never modified; points are scored by a scorer chosen from the
model's structure, ``"chain"`` for fully connected chains, ``"inference"`` for conv nets, else
``"exact"``: one ``torch.func.functional_call`` per point; one reducer turns outputs into the
loss, accuracy and metrics; every result names its scorer):

- :func:`evaluate_grid`: lines, planes and N-D grids -> :class:`LandscapeResult` (``.loss``,
  ``.coords``, metrics, standard errors under subsampling).
- :func:`interpolate`: the straight line between two models with its barrier heights.
- :func:`fit_curve` / :func:`evaluate_curve`: Bezier and polychain mode-connecting curves.
- :class:`LandscapeEvaluator`: ``evaluate_points(coefficients) -> metrics``, a pure function of a
  chunk of points (to spread a grid over processes).

Sharpness (each says what it is invariant to): :func:`epsilon_sharpness` (Keskar),
:func:`worst_case_sharpness` (SAM-style), :func:`adaptive_sharpness` (worst case, average),
:func:`hessian_sharpness` (top eigenvalue and trace from :mod:`deepscope.curvature`).
Flat-minimum description length (Hochreiter and Schmidhuber): :func:`description_length`,
:func:`box_widths`, and :func:`rescaling_shift` (its exact change under a rescaling).

Spherical p-spin glasses (Choromanska et al.; Auffinger, Ben Arous and Cerny):
``deepscope.landscape.spin_glass`` (energies, Riemannian gradient and Hessian on
the sphere, descent), with :func:`threshold_energy`, :func:`ground_state_energy` and
:func:`complexity` here.

Figures: :func:`plot_line`, :func:`plot_contour`, :func:`plot_heatmap`, :func:`plot_surface`,
:func:`plot_interpolation`, :func:`plotly_html`. Files (resumable grids, ``.npz``/CSV/VTK
export): :mod:`deepscope.landscape_io`.

``loss_fn`` and ``data`` follow the curvature operators: ``loss_fn(output, target)`` returning the
batch mean (or sum), ``"ce"``/``"mse"``, or a closure ``loss_fn(model, batch)``; ``data`` an
``(X, y)`` pair or an iterable of batches, uneven batches weighted by their sample counts.
"""

from __future__ import annotations

from . import _deep_linear as deep_linear
from . import _spin_glass as spin_glass
from ._curves import (
    ConnectivityCurve,
    CurveResult,
    curve_coefficients,
    evaluate_curve,
    fit_curve,
)
from ._directions import (
    Directions,
    check_same_architecture,
    directions_from_spec,
    flat_parameters,
    hessian_directions,
    plane_through,
    random_directions,
    target_direction,
    trainable_names,
)
from ._evaluate import LandscapeEvaluator
from ._flatness import box_widths, description_length, rescaling_shift
from ._grid import (
    InterpolationResult,
    LandscapeResult,
    barrier_heights,
    evaluate_grid,
    grid_points,
    interpolate,
    interpolation_t,
    parse_grid,
    parse_span,
)
from ._plots import (
    plot_contour,
    plot_heatmap,
    plot_interpolation,
    plot_line,
    plot_surface,
    plotly_html,
)
from ._sharpness import (
    SharpnessResult,
    adaptive_sharpness,
    epsilon_sharpness,
    hessian_sharpness,
    worst_case_sharpness,
)
from ._spin_glass import complexity, ground_state_energy, threshold_energy
from ._trajectory import TrajectoryRecorder, pca_directions

__all__ = [
    # namespaces: deep linear networks (Kawaguchi), spherical p-spin glasses
    "deep_linear",
    "spin_glass",
    # directions
    "Directions",
    "random_directions",
    "directions_from_spec",
    "target_direction",
    "trainable_names",
    "plane_through",
    "pca_directions",
    "hessian_directions",
    "TrajectoryRecorder",
    "flat_parameters",
    "check_same_architecture",
    # evaluation
    "LandscapeEvaluator",
    "evaluate_grid",
    "LandscapeResult",
    "grid_points",
    "parse_grid",
    "parse_span",
    "interpolate",
    "interpolation_t",
    "InterpolationResult",
    "barrier_heights",
    "fit_curve",
    "evaluate_curve",
    "curve_coefficients",
    "ConnectivityCurve",
    "CurveResult",
    # sharpness
    "SharpnessResult",
    "epsilon_sharpness",
    "worst_case_sharpness",
    "adaptive_sharpness",
    "hessian_sharpness",
    # flat minima, spin glasses
    "description_length",
    "box_widths",
    "rescaling_shift",
    "threshold_energy",
    "ground_state_energy",
    "complexity",
    # figures
    "plot_line",
    "plot_contour",
    "plot_heatmap",
    "plot_surface",
    "plot_interpolation",
    "plotly_html",
]
