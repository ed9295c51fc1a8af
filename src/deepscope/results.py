"""What an experiment returns: measurements, checks against theory, and a computed verdict.

A :class:`Check` compares one measured number (with its standard error when it is stochastic) to
the value that theory or the paper gives, under a stated tolerance. Its outcome is computed, never
written in:

- ``kind="exact"``: an identity; passes when ``|measured - expected| <= tolerance``.
- ``kind="statistical"``: passes when ``|measured - expected| <= tolerance``; when it misses but
  ``|measured - expected| <= tolerance + 3 * stderr`` the error bar is too wide to decide and the
  outcome is ``inconclusive``; otherwise it fails.
- ``kind="directional"``: an ordering. ``comparison="at_most"`` passes when
  ``measured <= expected`` (``"at_least"``: ``measured >= expected``); with a standard error, a
  miss within 3 standard errors is ``inconclusive``.

The verdict of a result is ``reproduced`` when every check passes, ``not_reproduced`` when any
check fails, and ``inconclusive`` otherwise (or when there is no check).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

VERDICTS = ("reproduced", "not_reproduced", "inconclusive")
KINDS = ("exact", "statistical", "directional")
COMPARISONS = ("close", "at_most", "at_least")
N_SIGMA = 3.0


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
    """A measured number against its theoretical or published value."""

    name: str
    description: str
    measured: float
    expected: float
    tolerance: float
    kind: str = "exact"
    comparison: str = "close"
    stderr: float | None = None
    relative: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"check kind must be one of {KINDS}, got {self.kind!r}")
        if self.comparison not in COMPARISONS:
            raise ValueError(f"comparison must be one of {COMPARISONS}, got {self.comparison!r}")
        if self.tolerance < 0:
            raise ValueError("tolerance must be >= 0")

    @property
    def deviation(self) -> float:
        """|measured - expected|, relative to |expected| when ``relative`` is set."""
        diff = abs(float(self.measured) - float(self.expected))
        if self.relative:
            return diff / abs(float(self.expected)) if self.expected != 0 else math.inf
        return diff

    @property
    def outcome(self) -> str:
        """``pass``, ``fail`` or ``inconclusive``, computed from the numbers."""
        measured, expected = float(self.measured), float(self.expected)
        if not (math.isfinite(measured) and math.isfinite(expected)):
            return "fail"
        se = 0.0 if self.stderr is None or not math.isfinite(self.stderr) else float(self.stderr)
        scale = abs(expected) if self.relative and expected != 0 else 1.0
        if self.comparison == "close":
            if self.deviation <= self.tolerance:
                return "pass"
            margin = self.tolerance + N_SIGMA * se / scale
            if self.kind != "exact" and se > 0 and self.deviation <= margin:
                return "inconclusive"
            return "fail"
        sign = 1.0 if self.comparison == "at_most" else -1.0
        excess = sign * (measured - expected)  # > 0 means the ordering is violated
        if excess <= self.tolerance * scale:
            return "pass"
        if se > 0 and excess <= self.tolerance * scale + N_SIGMA * se:
            return "inconclusive"
        return "fail"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["measured"] = _plain(self.measured)
        data["expected"] = _plain(self.expected)
        data["outcome"] = self.outcome
        return data


def compute_verdict(checks: list[Check]) -> str:
    """``reproduced`` if all checks pass, ``not_reproduced`` if any fails, else ``inconclusive``."""
    outcomes = [c.outcome for c in checks]
    if not outcomes:
        return "inconclusive"
    if "fail" in outcomes:
        return "not_reproduced"
    if all(o == "pass" for o in outcomes):
        return "reproduced"
    return "inconclusive"


@dataclasses.dataclass
class ExperimentResult:
    """The outcome of ``run(config, rng)``.

    Attributes:
        checks: measured-versus-expected comparisons; the verdict is computed from them.
        measurements: named measured quantities (with standard errors where stochastic).
        arrays: named numpy arrays, stored as ``arrays.npz`` (no pickle).
        figures: named matplotlib figures, stored as PNG and SVG and embedded in the report.
        notes: short remarks for the report (how a tolerance was set, caveats).
        headline: the name of the check shown in the summary table (default: the first).
    """

    checks: list[Check]
    measurements: dict[str, Measurement] = dataclasses.field(default_factory=dict)
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    headline: str | None = None

    @property
    def verdict(self) -> str:
        return compute_verdict(self.checks)

    def headline_check(self) -> Check | None:
        for check in self.checks:
            if check.name == self.headline:
                return check
        return self.checks[0] if self.checks else None

    def to_json(self) -> dict[str, Any]:
        """Everything but arrays and figures, as JSON types."""
        head = self.headline_check()
        return {
            "verdict": self.verdict,
            "headline": head.name if head else None,
            "checks": [c.to_json() for c in self.checks],
            "measurements": {k: m.to_json() for k, m in self.measurements.items()},
            "notes": list(self.notes),
            "arrays": sorted(self.arrays),
            "figures": sorted(self.figures),
        }


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
