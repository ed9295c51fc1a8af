"""rbm-as-rg: configuration, deviations and the L1 sweep bookkeeping on a tiny run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deepscope.errors import UserInputError
from deepscope.experiments import rbm_as_rg as exp


def test_presets_share_the_protocol():
    full, quick = exp.Config.full(), exp.Config.quick()
    for name in ("coupling", "n_epochs", "lr", "l1", "l1_sweep", "batch_size", "sweeps_between"):
        assert getattr(quick, name) == getattr(full, name), name
    assert full.l1 == 2e-4 and 0.0 in full.l1_sweep and full.l1 in full.l1_sweep


def test_validate_rejects_a_sweep_without_the_checked_penalty():
    with pytest.raises(UserInputError):
        dataclasses.replace(exp.Config.quick(), l1_sweep=(0.0, 2e-3)).validate()


def test_deviations_state_the_budget():
    text = " ".join(exp.deviations(exp.Config.full()))
    assert "300,000 presentations" in text and "4,000,000" in text and "13x" in text
    assert "L = 16" in " ".join(exp.deviations(exp.Config.quick()))


def test_tiny_run_checks_read_the_sweep_at_the_checked_penalty():
    config = exp.Config(L=8, n_samples=200, layers=(16, 4), n_epochs=2, window=3,
                        l1_sweep=(0.0, 2e-4), sweeps_between=1)
    result = exp.run(config, np.random.default_rng(3))
    checks = {c.name: c for c in result.checks}
    row = config.l1_sweep.index(config.l1)
    ratio = result.measurements["sweep_locality_ratio"].value[row][0]
    assert checks["layer1_local"].measured == pytest.approx(ratio)
    rg = result.measurements["sweep_radius_of_gyration"].value[row]
    assert checks["fields_grow_with_depth"].measured == pytest.approx(rg[1] - rg[0])
    assert [c.role for c in result.checks] == sorted(c.role for c in result.checks)
    assert all(c.outcome == "pass" for c in result.checks if c.role == "sanity")
    assert result.deviations
