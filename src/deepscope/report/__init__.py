"""The HTML report: one self-contained file built only from stored results.

``write_report(directory)`` reads either a reproduction directory (``results.json`` plus one run
directory per claim) or a single run directory (``result.json``), and writes ``report.html`` next
to them. Figures are embedded as base64 PNG data, so the file needs no network and no other file.
Every string that deepscope did not generate itself (experiment text, configuration values, the
command line, paths) goes through Jinja2's autoescaping. Nothing is recomputed.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
from pathlib import Path
from typing import Any

from .. import __version__, store
from ..citations import reference
from ..errors import UserInputError

REPORT_FILE = "report.html"


def _number(value: Any, digits: int = 4) -> str:
    """Compact text for a stored number (floats in significant digits, lists joined)."""
    if value is None:
        return "n/a"
    if isinstance(value, list):
        return "[" + ", ".join(_number(v, digits) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) < 10**15 else f"{value:.{digits}g}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


def _measured(check: dict[str, Any]) -> str:
    text = _number(check.get("measured"))
    if check.get("stderr") not in (None, 0, 0.0):
        text += f" ± {_number(check['stderr'], 2)}"
    return text


def _expected(check: dict[str, Any]) -> str:
    comparison = check.get("comparison", "close")
    exp = _number(check.get("expected"))
    tol = check.get("tolerance", 0)
    rel = " (relative)" if check.get("relative") else ""
    if comparison == "at_most":
        return f"≤ {exp}" + (f" + {_number(tol, 2)}{rel}" if tol else "")
    if comparison == "at_least":
        return f"≥ {exp}" + (f" − {_number(tol, 2)}{rel}" if tol else "")
    return f"{exp} ± {_number(tol, 2)}{rel}"


def _full_record(row: Any) -> dict[str, Any] | None:
    """The recorded full-preset verdict and headline numbers, as text for the report."""
    if not isinstance(row, dict) or row.get("verdict") is None:
        return None
    head = row.get("headline") if isinstance(row.get("headline"), dict) else None
    return {
        "verdict": str(row["verdict"]),
        "measured_text": _measured(head) if head else "",
        "expected_text": _expected(head) if head else "",
        "elapsed": _number(row.get("elapsed_s"), 3),
        "recorded": row.get("recorded") or "",
    }


def _rule_z(runs: list[dict[str, Any]]) -> str:
    """The Z of the check rule the stored results were judged with (all runs, as text)."""
    values = sorted({_number(run["result"]["rule"]["z"]) for run in runs
                     if isinstance(run["result"].get("rule"), dict)
                     and "z" in run["result"]["rule"]})
    return " or ".join(values) if values else "n/a"


def _png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _load_runs(directory: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(summary or None, runs) for a reproduction directory or a single run directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserInputError(f"report directory {str(directory)!r} does not exist")
    if (directory / store.SUMMARY_FILE).exists():
        summary = store.read_json(directory / store.SUMMARY_FILE, "summary file")
        claims = summary.get("claims") if isinstance(summary, dict) else None
        if not isinstance(claims, list) or not all(
            isinstance(c, dict) and isinstance(c.get("run_dir"), str) for c in claims
        ):
            raise UserInputError(
                f"corrupt summary file {str(directory / store.SUMMARY_FILE)!r}: no claims list"
            )
        runs = []
        for claim in claims:
            run_dir = (directory / claim["run_dir"]).resolve()
            if directory.resolve() not in run_dir.parents:
                raise UserInputError(f"summary file names a run outside {str(directory)!r}")
            runs.append(store.load_run(run_dir))
        return summary, runs
    if (directory / store.RESULT_FILE).exists():
        return None, [store.load_run(directory)]
    raise UserInputError(
        f"{str(directory)!r} holds neither {store.SUMMARY_FILE} nor {store.RESULT_FILE}"
    )


def render_report(directory: Path) -> str:
    """The report's HTML text for a stored reproduction or run (reads files, writes nothing)."""
    import jinja2

    summary, runs = _load_runs(directory)
    sections = []
    for run in runs:
        result, env = run["result"], run["env"]
        sections.append(
            {
                "id": result["id"],
                "title": result.get("title", result["id"]),
                "claim": result.get("claim", ""),
                "source": result.get("source", ""),
                "statement": result.get("statement", ""),
                "formula": result.get("formula", ""),
                "verdict": result["verdict"],
                "checks": [
                    {**c, "measured_text": _measured(c), "expected_text": _expected(c)}
                    for c in result["checks"] if c.get("role", "evidence") == "evidence"
                ],
                "sanity_checks": [
                    {**c, "measured_text": _measured(c), "expected_text": _expected(c)}
                    for c in result["checks"] if c.get("role", "evidence") == "sanity"
                ],
                "deviations": result.get("deviations", []),
                "not_passed": [
                    {"name": c["name"], "outcome": c["outcome"]} for c in result["checks"]
                    if c.get("role", "evidence") == "evidence" and c["outcome"] != "pass"
                ],
                "full_record": _full_record(result.get("full_preset_record")),
                "preset": result.get("preset", run["config"].get("preset")),
                "headline": next(
                    (c for c in result["checks"] if c["name"] == result.get("headline")),
                    next((c for c in result["checks"]
                          if c.get("role", "evidence") == "evidence"), None),
                ),
                "measurements": [
                    {
                        "name": name,
                        "value": _number(m.get("value")),
                        "stderr": None if m.get("stderr") is None else _number(m["stderr"], 2),
                        "unit": m.get("unit", ""),
                        "description": m.get("description", ""),
                    }
                    for name, m in result["measurements"].items()
                ],
                "notes": result.get("notes", []),
                "figures": [
                    {"name": p.stem, "src": _png_data_uri(p)} for p in run["figures"]
                ],
                "config": run["config"],
                "config_text": {k: _number(v) for k, v in run["config"]["config"].items()},
                "env": env,
                "citations": [
                    {"key": key, "text": env.get("citations", {}).get(key) or reference(key)}
                    for key in result.get("citations", [])
                ],
            }
        )
    for section in sections:
        if section["headline"] is not None:
            section["headline"] = {
                **section["headline"],
                "measured_text": _measured(section["headline"]),
                "expected_text": _expected(section["headline"]),
            }
    counts = {v: sum(s["verdict"] == v for s in sections) for v in store_verdicts()}
    reduced = [s for s in sections if s["preset"] != "full"]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("deepscope", "report/templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
    )
    template = env.get_template("report.html")
    return template.render(
        sections=sections,
        summary=summary,
        counts=counts,
        reduced=bool(reduced),
        has_full_record=any(s["full_record"] for s in sections),
        z=_rule_z(runs),
        version=__version__,
        generated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


def store_verdicts() -> tuple[str, ...]:
    from ..results import VERDICTS

    return VERDICTS


def write_report(directory: Path) -> Path:
    """Render and atomically write ``report.html`` in ``directory``; returns its path.

    The old report is replaced only once the new one has rendered, so a corrupt result never
    destroys an earlier report.
    """
    html = render_report(directory)
    path = Path(directory) / REPORT_FILE
    store.atomic_write_text(path, html)
    return path
