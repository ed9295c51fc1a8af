"""Robustness instruments: adversarial perturbations and activation maximisation.

Facade over :mod:`~deepscope.instruments.robustness.perturbations` (the fast gradient sign method,
error rates, the linear explanation of adversarial examples: Goodfellow, Shlens & Szegedy 2015),
:mod:`.minimal_distortion` (box-constrained L-BFGS minimal distortions: Szegedy et al. 2014) and
:mod:`.activation` (projected ascent on units, class models, label purity of the top images of
units and random directions: Erhan et al. 2009, Simonyan et al. 2014, Szegedy et al. 2014).

Nothing heavy at import: torch and scipy are imported by the functions that need them.

References:
    Szegedy et al. 2014, ICLR, arXiv:1312.6199 (``szegedy2014``); Goodfellow, Shlens & Szegedy
    2015, ICLR, arXiv:1412.6572 (``goodfellow2015adv``); Erhan et al. 2009, Univ. Montreal TR 1341
    (``erhan2009``); Simonyan, Vedaldi & Zisserman 2014, arXiv:1312.6034 (``simonyan2014``).
"""

from __future__ import annotations

from .activation import ball_update, box_sign_update, class_models, label_purity, unit_ascent
from .minimal_distortion import lbfgs_minimal_distortion
from .perturbations import (
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
