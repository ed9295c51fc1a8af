"""Public robustness API: adversarial perturbations and activation maximisation.

Re-exports :mod:`deepscope.robustness` (pure measurement code; torch and scipy are
imported when a function runs). Models are torch modules mapping float64 inputs (N, n) to logits.

- Adversarial perturbations (Goodfellow, Shlens & Szegedy 2015; Szegedy et al. 2014):
  :func:`fgsm_direction` (sign of the input gradient of the cross-entropy), :func:`error_rate`,
  :func:`perturbation_errors` (models x directions x eps, clipped to the pixel box),
  :func:`lbfgs_minimal_distortion` (box-constrained L-BFGS with a bisection on the penalty), and
  the linear explanation: :func:`margin_weights`, :func:`sign_perturbation_stats`
  (||w||_1 / ||w||_2 and the random-sign second moment), :func:`resample` (image size).
- Activation maximisation (Erhan et al. 2009; Simonyan et al. 2014): :func:`unit_ascent` with
  :func:`ball_update` or :func:`box_sign_update`, :func:`class_models`, and
  :func:`label_purity` of the top-k inputs of units or random directions (Szegedy et al. 2014).

Example:
    >>> import torch
    >>> from deepscope.robustness import label_purity
    >>> scores = torch.tensor([[3.0], [2.0], [1.0]], dtype=torch.float64)
    >>> label_purity(scores, torch.tensor([1, 1, 0]), 2).tolist()
    [1.0]
"""

from __future__ import annotations

from ._activation import ball_update, box_sign_update, class_models, label_purity, unit_ascent
from ._minimal_distortion import lbfgs_minimal_distortion
from ._perturbations import (
    error_rate,
    fgsm_direction,
    margin_weights,
    perturbation_errors,
    resample,
    sign_perturbation_stats,
)

__all__ = [
    # adversarial perturbations
    "error_rate", "fgsm_direction", "lbfgs_minimal_distortion", "margin_weights",
    "perturbation_errors", "resample", "sign_perturbation_stats",
    # activation maximisation
    "ball_update", "box_sign_update", "class_models", "label_purity", "unit_ascent",
]
