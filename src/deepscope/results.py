"""What an experiment returns: measurements, checks against theory, and a computed verdict.

A :class:`Check` compares one measured number (with its standard error when it is a sampling
estimate) to the value that theory or the paper gives, under a stated tolerance. Its outcome is
computed, never written in, by one two-sided rule (equivalence testing in the manner of Schuirmann's
two one-sided tests, TOST): with deviation ``d`` and standard error ``s``,

- ``pass`` when ``d + Z * s <= tolerance``: the whole error bar lies inside the tolerance;
- ``fail`` when ``d - Z * s > tolerance``: the whole error bar lies outside it;
- ``inconclusive`` otherwise: the error bar straddles the tolerance, so the budget cannot decide.

``Z`` (= 2) is stated here and nowhere else. For ``comparison="close"`` the deviation is
``|measured - expected|`` (divided by ``|expected|`` when ``relative``, and so is ``s``); for an
ordering, ``comparison="at_most"`` uses ``d = measured - expected`` (positive when the ordering is
violated) and ``"at_least"`` uses ``d = expected - measured``.

Kinds say where the error bar comes from:

- ``kind="exact"``: a deterministic quantity (a closed form, an enumeration, a fit of a
  deterministic curve); ``stderr`` must be ``None`` and the tolerance comes from numerical analysis.
- ``kind="statistical"``: a sampling estimate; ``stderr`` is its sampling error (over seeds,
  samples or Monte-Carlo draws) and must be given.
- ``kind="directional"``: an ordering (``at_most``/``at_least``), with or without a sampling error.

A non-finite measured or expected value fails; a non-finite standard error cannot decide
(``inconclusive``).

Roles say what a check is evidence of:

- ``role="evidence"``: the check would fail if the claim were false. Verdicts come from these only.
- ``role="sanity"``: an invariant of our own construction or an identity of the implementation,
  or a condition for the run to be valid (e.g. training reached its target). A failed sanity
  check means the run itself is broken: :attr:`ExperimentResult.verdict` raises
  :class:`SanityCheckError` instead of giving a verdict. A sanity check whose error bar cannot
  decide leaves the run's validity open, so the verdict is then ``inconclusive``.

A comparison of an independently computed number (autograd, enumeration, sampling) with a
prediction of the theory is evidence, whether the prediction is the paper's or derived here from
the paper's model; a sanity check never implies an evidence check's outcome.

The verdict is ``reproduced`` when every evidence check passes (and no sanity check is
inconclusive), ``not_reproduced`` when an evidence check fails (and no sanity check is
inconclusive), and ``inconclusive`` otherwise (or when there is no evidence check).

References:
    Schuirmann 1987, J. Pharmacokinet. Biopharm. 15:657 (two one-sided tests for equivalence).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .errors import SanityCheckError

VERDICTS = ("reproduced", "not_reproduced", "inconclusive")
KINDS = ("exact", "statistical", "directional")
COMPARISONS = ("close", "at_most", "at_least")
ROLES = ("evidence", "sanity")
Z = 2.0
"""Standard errors on each side of an estimate that must clear (or miss) the tolerance."""

__all__ = ["COMPARISONS", "KINDS", "ROLES", "VERDICTS", "Z", "Check", "ExperimentResult",
           "Measurement", "SanityCheckError", "compute_verdict", "failed_sanity_checks",
           "proportion_stderr"]


@dataclasses.dataclass(frozen=True)
class Measurement:
    """A measured quantity: a number (or a short list of numbers) with its standard error."""

    value: Any
    stderr: Any = None
    unit: str = ""
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "value": _plain(self.value),
            "stderr": _plain(self.stderr),
            "unit": self.unit,
            "description": self.description,
        }


@dataclasses.dataclass(frozen=True)
class Check:
    """A measured number against its theoretical or published value.

    Attributes:
        name: short identifier, unique within a result.
        description: what is measured, in words.
        measured: the measured value.
        expected: the theoretical or published value (the bound, for an ordering).
        tolerance: the allowed deviation (relative to ``|expected|`` when ``relative``).
        kind: ``exact``, ``statistical`` or ``directional`` (see the module docstring).
        comparison: ``close``, ``at_most`` or ``at_least``.
        stderr: the sampling standard error of ``measured``; ``None`` for a deterministic value.
        relative: measure the deviation relative to ``|expected|``.
        role: ``evidence`` (tests the claim) or ``sanity`` (tests our construction).
    """

    name: str
    description: str
    measured: float
    expected: float
    tolerance: float
    kind: str = "exact"
    comparison: str = "close"
    stderr: float | None = None
    relative: bool = False
    role: str = "evidence"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"check kind must be one of {KINDS}, got {self.kind!r}")
        if self.comparison not in COMPARISONS:
            raise ValueError(f"comparison must be one of {COMPARISONS}, got {self.comparison!r}")
        if self.role not in ROLES:
            raise ValueError(f"check role must be one of {ROLES}, got {self.role!r}")
        if not (self.tolerance >= 0 and math.isfinite(self.tolerance)):
            raise ValueError(f"check {self.name!r}: tolerance must be finite and >= 0")
        if self.stderr is not None and float(self.stderr) < 0:
            raise ValueError(f"check {self.name!r}: a standard error is >= 0")
        if self.relative and float(self.expected) == 0:
            raise ValueError(f"check {self.name!r}: a relative check needs expected != 0")
        if self.kind == "exact" and self.stderr is not None:
            raise ValueError(f"check {self.name!r}: an exact check has no standard error")
        if self.kind == "statistical" and self.stderr is None:
            raise ValueError(f"check {self.name!r}: a statistical check needs its standard error")
        if self.kind != "directional" and self.comparison != "close":
            raise ValueError(f"check {self.name!r}: an ordering is kind='directional'")
        if self.kind == "directional" and self.comparison == "close":
            raise ValueError(f"check {self.name!r}: a directional check is at_most or at_least")

    def _scale(self) -> float:
        expected = float(self.expected)
        return abs(expected) if self.relative and expected != 0 else 1.0

    @property
    def deviation(self) -> float:
        """The deviation the rule compares with ``tolerance``.

        ``|measured - expected|`` for ``close``; the signed violation of the ordering
        (``measured - expected`` for ``at_most``, ``expected - measured`` for ``at_least``)
        otherwise; divided by ``|expected|`` when ``relative`` is set.
        """
        measured, expected = float(self.measured), float(self.expected)
        if self.relative and expected == 0:
            return math.inf
        if self.comparison == "close":
            diff = abs(measured - expected)
        elif self.comparison == "at_most":
            diff = measured - expected
        else:
            diff = expected - measured
        return diff / self._scale()

    @property
    def error_bar(self) -> float:
        """``Z`` standard errors on the scale of :attr:`deviation` (0 for a deterministic value)."""
        if self.stderr is None:
            return 0.0
        return Z * abs(float(self.stderr)) / self._scale()

    @property
    def outcome(self) -> str:
        """``pass``, ``fail`` or ``inconclusive``, computed from the numbers (two-sided rule)."""
        measured, expected = float(self.measured), float(self.expected)
        if not (math.isfinite(measured) and math.isfinite(expected)):
            return "fail"
        deviation, bar = self.deviation, self.error_bar
        if not math.isfinite(deviation):
            return "fail"
        if not math.isfinite(bar):
            return "inconclusive"
        if deviation + bar <= self.tolerance:
            return "pass"
        if deviation - bar > self.tolerance:
            return "fail"
        return "inconclusive"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["measured"] = _plain(self.measured)
        data["expected"] = _plain(self.expected)
        data["stderr"] = _plain(self.stderr)
        data["outcome"] = self.outcome
        return data


def proportion_stderr(successes: int, trials: int) -> float:
    """Standard error of a success fraction, Agresti-Coull style (positive also at 0 and 1).

    ``sqrt(p~ (1 - p~) / (n + Z^2))`` with ``p~ = (k + Z^2 / 2) / (n + Z^2)``: adding Z^2 / 2
    successes and failures keeps the error bar honest when every run succeeds, so a fraction of
    1 out of few runs cannot pass a tolerance that more runs are needed to resolve.

    References:
        Agresti & Coull 1998, Am. Stat. 52:119 (approximate is better than "exact").
    """
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    n = trials + Z**2
    p = (successes + Z**2 / 2) / n
    return math.sqrt(p * (1 - p) / n)


def compute_verdict(checks: list[Check]) -> str:
    """The verdict from the evidence checks, given that the run is valid.

    ``inconclusive`` when a sanity check is inconclusive (the run's validity is open) or there is
    no evidence check; else ``not_reproduced`` if an evidence check fails, ``reproduced`` if all
    pass, and ``inconclusive`` otherwise. Failed sanity checks are handled by
    :attr:`ExperimentResult.verdict` (an error, not a verdict).
    """
    outcomes = [c.outcome for c in checks if c.role == "evidence"]
    if not outcomes or any(c.outcome == "inconclusive" for c in checks if c.role == "sanity"):
        return "inconclusive"
    if "fail" in outcomes:
        return "not_reproduced"
    if all(o == "pass" for o in outcomes):
        return "reproduced"
    return "inconclusive"


def failed_sanity_checks(checks: list[Check]) -> list[Check]:
    """The sanity checks whose outcome is ``fail``."""
    return [c for c in checks if c.role == "sanity" and c.outcome == "fail"]


@dataclasses.dataclass
class ExperimentResult:
    """The outcome of ``run(config, rng)``.

    Attributes:
        checks: measured-versus-expected comparisons; the verdict is computed from the evidence
            checks among them.
        measurements: named measured quantities (with standard errors where stochastic).
        arrays: named numpy arrays, stored as ``arrays.npz`` (no pickle).
        figures: named matplotlib figures, stored as PNG and SVG and embedded in the report.
        notes: short remarks for the report (how a tolerance was set, caveats).
        headline: the name of the check shown in the summary table (default: the first
            evidence check).
        deviations: how this run departs from the paper's setup (sample sizes, steps,
            architectures, what was not measured), shown next to the verdict.
    """

    checks: list[Check]
    measurements: dict[str, Measurement] = dataclasses.field(default_factory=dict)
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    headline: str | None = None
    deviations: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        names = [c.name for c in self.checks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"check names must be unique, repeated: {duplicates}")
        if self.headline is not None:
            head = next((c for c in self.checks if c.name == self.headline), None)
            if head is None:
                raise ValueError(f"headline {self.headline!r} names no check")
            if head.role != "evidence":
                raise ValueError(f"headline {self.headline!r} is a sanity check")

    @property
    def verdict(self) -> str:
        """The verdict from the evidence checks.

        Raises:
            SanityCheckError: a sanity check failed, so the run has no verdict.
        """
        failed = failed_sanity_checks(self.checks)
        if failed:
            raise SanityCheckError(
                "sanity check failed (the run is broken, not the claim): "
                + "; ".join(f"{c.name}: measured {c.measured!r}, expected {c.expected!r} "
                            f"within {c.tolerance!r}" for c in failed)
            )
        return compute_verdict(self.checks)

    def headline_check(self) -> Check | None:
        evidence = [c for c in self.checks if c.role == "evidence"]
        for check in evidence:
            if check.name == self.headline:
                return check
        return evidence[0] if evidence else None

    def to_json(self) -> dict[str, Any]:
        """Everything but arrays and figures, as JSON types (evidence checks first)."""
        head = self.headline_check()
        ordered = ([c for c in self.checks if c.role == "evidence"]
                   + [c for c in self.checks if c.role == "sanity"])
        return {
            "verdict": self.verdict,
            "rule": {"z": Z},
            "headline": head.name if head else None,
            "checks": [c.to_json() for c in ordered],
            "deviations": list(self.deviations),
            "measurements": {k: m.to_json() for k, m in self.measurements.items()},
            "notes": list(self.notes),
            "arrays": sorted(self.arrays),
            "figures": sorted(self.figures),
        }

    def _repr_html_(self) -> str:
        """The checks, verdict, deviations and figures as HTML (Jupyter)."""
        from .notebook import experiment_html

        return experiment_html(self)

    def __repr__(self) -> str:
        from .notebook import experiment_repr

        return experiment_repr(self)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to JSON types; non-finite floats to strings JSON can hold."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    raise TypeError(f"cannot store value of type {type(value).__name__} in result.json")


def to_float(value: Any) -> float:
    """Inverse of the non-finite encoding used in result.json."""
    if isinstance(value, str):
        return float(value)
    return float(value)
