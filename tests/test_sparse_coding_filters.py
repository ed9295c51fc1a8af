"""Sparse coding of image patches: solver, filter measures and images against closed forms."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deepscope.errors import UserInputError
from deepscope.experiments import sparse_coding_filters as scf


def test_photographs_ship_with_scikit_learn():
    photos = scf.photographs()
    assert len(photos) == 2 and all(p.shape == (427, 640) for p in photos)


def test_config_validation():
    with pytest.raises(UserInputError):
        dataclasses.replace(scf.Config(), patch=4).validate()
    with pytest.raises(UserInputError):
        dataclasses.replace(scf.Config(), alpha=0.0).validate()
    with pytest.raises(UserInputError):
        dataclasses.replace(scf.Config(), n_patches=10).validate()
    scf.Config.quick().validate()


def test_quick_preset_computes_every_check():
    cfg = dataclasses.replace(scf.Config.quick(), photographs=False, n_images=2, steps=20,
                              n_test=200)
    res = scf.run(cfg, np.random.default_rng(0))
    names = {c.name for c in res.checks}
    assert {"atoms_localised", "pca_not_localised", "atoms_oriented", "atoms_band_pass",
            "codes_sparser_than_pca", "gaussian_control_not_localised", "atom_norms",
            "lasso_optimality", "reconstruction_residual"} <= names
    assert res.verdict == "reproduced"  # without the photographs every check passes at seed 0
    assert res.headline == "atoms_localised" and res.deviations
    assert res.measurements["fraction_atoms_localised"].value > \
        res.measurements["fraction_pca_localised"].value
    again = scf.run(cfg, np.random.default_rng(0))
    assert np.array_equal(res.arrays["atoms"], again.arrays["atoms"])
