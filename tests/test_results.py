"""Check outcomes and verdicts are computed from the numbers by the two-sided rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepscope.results import (
    Check,
    ExperimentResult,
    Measurement,
    SanityCheckError,
    Z,
    compute_verdict,
    proportion_stderr,
)


def test_z_is_two():
    assert Z == 2.0


def test_exact_check():
    assert Check("a", "", 1.0 + 1e-13, 1.0, 1e-12).outcome == "pass"
    assert Check("a", "", 1.0 + 1e-9, 1.0, 1e-12).outcome == "fail"
    assert Check("a", "", math.nan, 1.0, 1.0).outcome == "fail"
    assert Check("a", "", 1.0, math.inf, 1.0).outcome == "fail"


def test_relative_check():
    assert Check("a", "", 101.0, 100.0, 0.02, relative=True).outcome == "pass"
    assert Check("a", "", 103.0, 100.0, 0.02, relative=True).outcome == "fail"
    # the standard error is relative too: |d| = 0.01, 2 s / 100 = 0.02 -> 0.03 > 0.02
    c = Check("a", "", 101.0, 100.0, 0.02, kind="statistical", stderr=1.0, relative=True)
    assert c.deviation == pytest.approx(0.01) and c.error_bar == pytest.approx(0.02)
    assert c.outcome == "inconclusive"


@pytest.mark.parametrize(
    ("measured", "stderr", "outcome"),
    [
        (1.01, 0.004, "pass"),           # 0.01 + 0.008 <= 0.02
        (1.01, 0.01, "inconclusive"),    # inside the tolerance, wide error bar
        (1.03, 0.001, "fail"),           # outside with a narrow error bar: 0.03 - 0.002 > 0.02
        (1.03, 0.01, "inconclusive"),    # outside, but the error bar reaches inside
        (0.97, 0.001, "fail"),           # two-sided: below as well as above
        (1.015, 0.0, "pass"),            # no spread: the point estimate decides
        (1.01, math.nan, "inconclusive"),
        (1.01, math.inf, "inconclusive"),
    ],
)
def test_statistical_branches(measured, stderr, outcome):
    check = Check("s", "", measured, 1.0, 0.02, kind="statistical", stderr=stderr)
    assert check.outcome == outcome


def test_boundaries_of_the_rule():
    # pass exactly at |d| + Z s = tol; fail just beyond |d| - Z s = tol
    assert Check("s", "", 1.5, 1.0, 1.0, kind="statistical", stderr=0.25).outcome == "pass"
    assert Check("s", "", 1.5, 1.0, 1.0, kind="statistical", stderr=0.2500001).outcome == (
        "inconclusive"
    )
    assert Check("s", "", 2.5, 1.0, 1.0, kind="statistical", stderr=0.25).outcome == (
        "inconclusive"
    )
    assert Check("s", "", 2.5, 1.0, 1.0, kind="statistical", stderr=0.2499).outcome == "fail"


@pytest.mark.parametrize(
    ("comparison", "measured", "stderr", "outcome"),
    [
        ("at_most", 0.5, None, "pass"),
        ("at_most", 0.67, None, "pass"),
        ("at_most", 0.8, None, "fail"),
        ("at_most", 0.60, 0.01, "pass"),          # 0.60 + 0.02 <= 0.67
        ("at_most", 0.66, 0.01, "inconclusive"),  # on the right side, error bar crosses
        ("at_most", 0.68, 0.01, "inconclusive"),  # on the wrong side, error bar crosses
        ("at_most", 0.70, 0.01, "fail"),          # 0.70 - 0.02 > 0.67
        ("at_least", 0.7, None, "pass"),
        ("at_least", 0.6, None, "fail"),
        ("at_least", 0.70, 0.01, "pass"),
        ("at_least", 0.68, 0.01, "inconclusive"),
        ("at_least", 0.64, 0.01, "fail"),
    ],
)
def test_directional_branches(comparison, measured, stderr, outcome):
    check = Check("d", "", measured, 0.67, 0.0, kind="directional", comparison=comparison,
                  stderr=stderr)
    assert check.outcome == outcome


def test_directional_tolerance_and_relative():
    assert Check("d", "", 1.05, 1.0, 0.1, kind="directional", comparison="at_most").outcome == (
        "pass"
    )
    assert Check("d", "", 120.0, 100.0, 0.1, kind="directional", comparison="at_most",
                 relative=True).outcome == "fail"
    assert Check("d", "", 105.0, 100.0, 0.1, kind="directional", comparison="at_most",
                 relative=True).outcome == "pass"


def test_a_smaller_budget_cannot_turn_a_fail_into_a_pass():
    # the same deviation with a wider error bar is never better than pass -> inconclusive
    outcomes = [Check("s", "", 1.015, 1.0, 0.02, kind="statistical", stderr=s).outcome
                for s in (0.0, 0.002, 0.01, 0.1)]
    assert outcomes == ["pass", "pass", "inconclusive", "inconclusive"]
    outcomes = [Check("s", "", 1.05, 1.0, 0.02, kind="statistical", stderr=s).outcome
                for s in (0.0, 0.01, 0.02, 0.1)]
    assert outcomes == ["fail", "fail", "inconclusive", "inconclusive"]


def test_verdicts_from_evidence_only():
    ok = Check("a", "", 0.0, 0.0, 0.0)
    bad = Check("b", "", 1.0, 0.0, 0.0)
    maybe = Check("c", "", 1.03, 1.0, 0.02, kind="statistical", stderr=0.01)
    sane = Check("s", "", 0.0, 0.0, 0.0, role="sanity")
    assert compute_verdict([ok]) == "reproduced"
    assert compute_verdict([ok, bad, maybe]) == "not_reproduced"
    assert compute_verdict([ok, maybe]) == "inconclusive"
    assert compute_verdict([]) == "inconclusive"
    assert compute_verdict([sane]) == "inconclusive"  # sanity checks do not vote
    assert compute_verdict([ok, sane]) == "reproduced"
    # a validity gate that cannot decide leaves the verdict open, whatever the evidence says
    loose = Check("t", "", 1.03, 1.0, 0.02, kind="statistical", stderr=0.01, role="sanity")
    assert ExperimentResult(checks=[ok, loose]).verdict == "inconclusive"
    assert compute_verdict([bad, loose]) == "inconclusive"


def test_failed_sanity_check_is_an_error_not_a_verdict():
    ok = Check("a", "", 0.0, 0.0, 0.0)
    broken = Check("n_hidden", "neurons", 5, 4, 0, role="sanity")
    result = ExperimentResult(checks=[ok, broken])
    with pytest.raises(SanityCheckError, match="n_hidden"):
        _ = result.verdict
    with pytest.raises(SanityCheckError):
        result.to_json()


def test_invalid_check_arguments():
    with pytest.raises(ValueError):
        Check("a", "", 0, 0, -1)
    with pytest.raises(ValueError):
        Check("a", "", 0, 0, math.nan)
    with pytest.raises(ValueError):
        Check("a", "", 0, 0, math.inf)
    with pytest.raises(ValueError):
        Check("a", "", 0, 0, 0.1, kind="statistical", stderr=-0.1)
    with pytest.raises(ValueError, match="relative"):
        Check("a", "", 1.0, 0.0, 0.5, relative=True)
    with pytest.raises(ValueError):
        Check("a", "", 0, 0, 0, kind="vibes")
    with pytest.raises(ValueError):
        Check("a", "", 0, 0, 0, role="vibes")
    with pytest.raises(ValueError, match="exact"):
        Check("a", "", 0, 0, 0, stderr=0.1)  # a deterministic value has no error bar
    with pytest.raises(ValueError, match="standard error"):
        Check("a", "", 0, 0, 0, kind="statistical")
    with pytest.raises(ValueError):
        Check("a", "", 0, 0, 0, comparison="at_most")  # orderings are directional
    with pytest.raises(ValueError):
        Check("a", "", 0, 0, 0, kind="directional")


def test_result_invariants():
    ok = Check("a", "", 0.0, 0.0, 0.0)
    sane = Check("s", "", 0.0, 0.0, 0.0, role="sanity")
    with pytest.raises(ValueError, match="unique"):
        ExperimentResult(checks=[ok, ok])
    with pytest.raises(ValueError, match="sanity"):
        ExperimentResult(checks=[ok, sane], headline="s")
    with pytest.raises(ValueError, match="names no check"):
        ExperimentResult(checks=[ok], headline="zz")
    assert ExperimentResult(checks=[sane, ok]).headline_check() is ok


def test_result_json_types():
    result = ExperimentResult(
        checks=[Check("s", "", 1, 1, 0, role="sanity"),
                Check("a", "", np.float64(1.0), 1, 0.5, kind="statistical",
                      stderr=np.float32(0.1))],
        measurements={"m": Measurement(np.array([1.0, np.inf]), np.float32(0.5))},
        deviations=["100 samples (paper: 10,000)"],
    )
    data = result.to_json()
    assert data["verdict"] == "reproduced"
    assert data["rule"] == {"z": 2.0}
    assert [c["name"] for c in data["checks"]] == ["a", "s"]  # evidence first
    assert data["checks"][0]["role"] == "evidence" and data["checks"][1]["role"] == "sanity"
    assert data["headline"] == "a"
    assert data["deviations"] == ["100 samples (paper: 10,000)"]
    assert data["measurements"]["m"]["value"] == [1.0, "inf"]
    assert isinstance(data["checks"][0]["measured"], float)
    assert isinstance(data["checks"][0]["stderr"], float)


def test_proportion_stderr():
    # Agresti-Coull with Z = 2: two pseudo-successes and two pseudo-failures
    assert proportion_stderr(100, 100) == pytest.approx(math.sqrt((102 / 104) * (2 / 104) / 104))
    assert proportion_stderr(50, 100) == pytest.approx(math.sqrt(0.5 * 0.5 / 104))
    assert proportion_stderr(0, 10) == pytest.approx(proportion_stderr(10, 10))
    assert proportion_stderr(10, 10) > 0
    # a fraction of 1 from 20 runs cannot pass a 0.05 tolerance; from 200 runs it can
    assert Check("f", "", 1.0, 1.0, 0.05, kind="statistical",
                 stderr=proportion_stderr(20, 20)).outcome == "inconclusive"
    assert Check("f", "", 1.0, 1.0, 0.05, kind="statistical",
                 stderr=proportion_stderr(200, 200)).outcome == "pass"
    with pytest.raises(ValueError):
        proportion_stderr(3, 2)
