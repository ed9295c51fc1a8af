"""Tests of the scattering-invariance experiment against closed forms and direct computation."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import quick_verdict
from deepscope.errors import UserInputError
from deepscope.experiments import scattering_invariance as si

pytest.importorskip("kymatio")


def test_config_validation():
    with pytest.raises(UserInputError):
        si.Config(J=7).validate()
    with pytest.raises(UserInputError):
        si.Config(window=300).validate()
    with pytest.raises(UserInputError):
        si.Config(n_seeds=1).validate()
    si.Config().validate()
    si.Config.quick().validate()


@pytest.fixture(scope="module")
def quick_result():
    return si.run(si.Config.quick(), np.random.default_rng(0))


def test_quick_checks_computed(quick_result):
    r = quick_result
    names = {c.name for c in r.checks}
    assert {"translation_change_j6_c4", "energy_orders_le_2", "scattering_linear_vs_cnn"} <= names
    assert all(np.isfinite(c.measured) for c in r.checks)
    assert any(c.role == "evidence" for c in r.checks)
    assert r.verdict == quick_verdict("scattering-invariance")
    assert r.deviations and r.figures
    # Translation change halves when J grows by one at c 2^-J <= 1/2 (the c 2^-J law).
    ch = r.arrays["translation_change"]
    assert 0.35 < ch[-1, 0] / ch[-2, 0] < 0.65
    # Energy fractions and remainder add up to one for every signal.
    np.testing.assert_allclose(r.arrays["energy_fractions"].sum(axis=1), 1.0, atol=1e-12)


def test_bit_reproducible(quick_result):
    again = si.run(si.Config.quick(), np.random.default_rng(0))
    for a, b in zip(quick_result.checks, again.checks):
        assert a.measured == b.measured
