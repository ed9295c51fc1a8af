"""Check outcomes and verdicts are computed from the numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepscope.results import Check, ExperimentResult, Measurement, compute_verdict


def test_exact_check():
    assert Check("a", "", 1.0 + 1e-13, 1.0, 1e-12).outcome == "pass"
    assert Check("a", "", 1.0 + 1e-9, 1.0, 1e-12).outcome == "fail"
    assert Check("a", "", math.nan, 1.0, 1.0).outcome == "fail"


def test_relative_check():
    assert Check("a", "", 101.0, 100.0, 0.02, relative=True).outcome == "pass"
    assert Check("a", "", 103.0, 100.0, 0.02, relative=True).outcome == "fail"


def test_statistical_check_inconclusive_band():
    # misses the tolerance by 0.01 but the error bar (3 x 0.005) covers it
    assert Check("s", "", 1.03, 1.0, 0.02, kind="statistical", stderr=0.005).outcome == (
        "inconclusive"
    )
    assert Check("s", "", 1.10, 1.0, 0.02, kind="statistical", stderr=0.005).outcome == "fail"
    assert Check("s", "", 1.01, 1.0, 0.02, kind="statistical", stderr=0.005).outcome == "pass"


def test_directional_checks():
    assert Check("d", "", 0.5, 0.67, 0, kind="directional", comparison="at_most").outcome == "pass"
    assert Check("d", "", 0.8, 0.67, 0, kind="directional", comparison="at_most").outcome == "fail"
    assert Check("d", "", 0.7, 0.67, 0, kind="directional", comparison="at_least").outcome == (
        "pass"
    )
    assert Check("d", "", 0.68, 0.67, 0, kind="directional", comparison="at_most",
                 stderr=0.01).outcome == "inconclusive"


def test_verdicts():
    ok = Check("a", "", 0.0, 0.0, 0.0)
    bad = Check("b", "", 1.0, 0.0, 0.0)
    maybe = Check("c", "", 1.03, 1.0, 0.02, kind="statistical", stderr=0.005)
    assert compute_verdict([ok]) == "reproduced"
    assert compute_verdict([ok, bad, maybe]) == "not_reproduced"
    assert compute_verdict([ok, maybe]) == "inconclusive"
    assert compute_verdict([]) == "inconclusive"


def test_invalid_check_arguments():
    with pytest.raises(ValueError):
        Check("a", "", 0, 0, -1)
    with pytest.raises(ValueError):
        Check("a", "", 0, 0, 0, kind="vibes")


def test_result_json_types():
    result = ExperimentResult(
        checks=[Check("a", "", np.float64(1.0), 1, 0.5)],
        measurements={"m": Measurement(np.array([1.0, np.inf]), np.float32(0.5))},
    )
    data = result.to_json()
    assert data["verdict"] == "reproduced"
    assert data["measurements"]["m"]["value"] == [1.0, "inf"]
    assert isinstance(data["checks"][0]["measured"], float)
