"""HTML summaries of results for Jupyter (the ``_repr_html_`` of result classes).

Every value that enters the HTML goes through :func:`html.escape` (metric names, check
descriptions, notes and settings can come from the user), so the only markup is our own. Figures
are made when a summary is rendered, never at import: matplotlib is imported inside
:func:`figure_html` and the figures use its object API (no pyplot), written as a base64 PNG by
the Agg renderer (``FIGURE_FORMAT = "png"``) or as inline SVG (``"svg"``). A figure that cannot
be drawn (matplotlib missing, a degenerate result) becomes a one-line note; a summary never
raises.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

FIGURE_FORMAT = "png"
"""``"png"`` (base64 data URI, Agg) or ``"svg"`` (inline markup)."""

_MAX_POINTS = 2000
_STYLE = "font-family:sans-serif;font-size:12px;border-collapse:collapse;margin:4px 0"
_CELL = "border:1px solid #ccc;padding:2px 6px;text-align:left"


# ----------------------------------------------------------------------------- text
def esc(value: Any) -> str:
    """``str(value)`` with ``& < > " '`` escaped."""
    return html.escape(str(value), quote=True)


def num(x: Any, digits: int = 6) -> str:
    """A number with ``digits`` significant digits (``-`` for None, ints in full)."""
    if x is None:
        return "-"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    return f"{x:.{digits}g}" if math.isfinite(x) else str(x)


def pm(value: Any, stderr: Any, digits: int = 6) -> str:
    """``value ± stderr`` (the standard error to 2 significant digits; the value alone if None)."""
    if stderr is None:
        return num(value, digits)
    return f"{num(value, digits)} ± {num(stderr, 2)}"


def seconds(t: float) -> str:
    return f"{t:.3g} s"


def brief(name: str, **fields: Any) -> str:
    """A one-line ``repr``: ``Name(a=1, b=2.5)``, floats to 6 significant digits, arrays cut."""
    return f"{name}({', '.join(f'{k}={_short(v)}' for k, v in fields.items())})"


def _short(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return num(v)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (list, tuple, np.ndarray)) or hasattr(v, "detach"):
        try:
            a = _np(v).reshape(-1)
        except (TypeError, ValueError):
            items = list(v)
            return repr(items[:4])[:-1] + (", ...]" if len(items) > 4 else "]")
        head = ", ".join(num(x) for x in a[:4])
        return f"[{head}{', ...' if a.size > 4 else ''}]"
    return repr(v)


def table(rows: Iterable[Sequence[Any]], header: Sequence[Any] | None = None) -> str:
    """An HTML table; every cell is escaped."""
    out = [f'<table style="{_STYLE}">']
    if header is not None:
        out.append("<tr>" + "".join(f'<th style="{_CELL}">{esc(h)}</th>' for h in header)
                   + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f'<td style="{_CELL}">{esc(c)}</td>' for c in row)
                   + "</tr>")
    out.append("</table>")
    return "".join(out)


def bullets(items: Iterable[Any]) -> str:
    items = list(items)
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>" if items else ""


def card(title: str, rows: Iterable[Sequence[Any]], *figures: str, extra: str = "") -> str:
    """A titled block: a two-column table of settings and numbers, then ``extra`` and figures."""
    return ('<div class="deepscope-result">'
            f"<strong>{esc(title)}</strong>{table(rows)}{extra}{''.join(figures)}</div>")


# ----------------------------------------------------------------------------- figures
def _new_figure(n_axes: int = 1, width: float = 4.6, height: float = 3.2) -> tuple[Any, list]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_axes, height), layout="constrained")
    return fig, list(fig.subplots(1, n_axes, squeeze=False)[0])


def figure_html(make: Any, fmt: str | None = None) -> str:
    """A figure as HTML: ``make`` is a matplotlib figure or a function returning one."""
    fmt = fmt or FIGURE_FORMAT
    try:
        fig = make() if callable(make) else make
        buf = io.BytesIO()
        if fmt == "svg":
            fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
            svg = buf.getvalue().decode("utf-8")
            return f"<div>{svg[svg.index('<svg'):]}</div>"
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight",
                    metadata={"Software": None})
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        return f'<div><img src="data:image/png;base64,{data}"/></div>'
    except Exception as exc:  # a summary must render even when its figure cannot
        return f"<p><em>(no figure: {esc(type(exc).__name__)}: {esc(exc)})</em></p>"


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


def _stride(n: int) -> int:
    return max(1, -(-n // _MAX_POINTS))


def _log_density(ax: Any, x: np.ndarray, y: np.ndarray, label: str) -> None:
    floor = max(float(np.max(y)) * 1e-8, 1e-300) if y.size else 1e-300
    ax.semilogy(x, np.maximum(y, floor), lw=1.2, label=label)
    ax.set(xlabel="eigenvalue", ylabel="density (log scale)")


def _mark(ax: Any, xs: Iterable[float], label: str, color: str = "tab:red") -> None:
    for i, x in enumerate(xs):
        ax.axvline(float(x), color=color, ls="--", lw=0.8, label=label if i == 0 else None)


def isolated_nodes(nodes: np.ndarray, residuals: np.ndarray, weights: np.ndarray,
                   sigma: float) -> np.ndarray:
    """The outliers an SLQ run resolved: distinct Ritz values (over probes) that are converged
    (residual bound below 1e-6 of the spectral width, so an eigenvalue lies that close) and
    more than 3 sigma from the other nodes of their probe (apart from the bulk)."""
    width = max(float(np.ptp(nodes)) if nodes.size else 0.0, 1e-300)
    found = []
    for th, r, w in zip(np.atleast_2d(nodes), np.atleast_2d(residuals), np.atleast_2d(weights)):
        live = w > 0
        th, r = th[live], r[live]
        for i in range(th.size):
            gap = np.min(np.abs(np.delete(th, i) - th[i])) if th.size > 1 else np.inf
            if r[i] <= 1e-6 * width and gap > 3 * sigma:
                found.append(th[i])
    vals = np.sort(np.asarray(found, dtype=np.float64))
    if vals.size == 0:
        return vals
    return vals[np.concatenate([[True], np.diff(vals) > 1e-6 * width])]


def density_figure(d: Any) -> Any:
    fig, (ax,) = _new_figure()
    _log_density(ax, np.asarray(d.grid), np.asarray(d.density), f"SLQ (sigma {d.sigma:.3g})")
    marks = isolated_nodes(np.asarray(d.nodes), np.asarray(d.ritz_residuals),
                           np.asarray(d.weights), d.sigma)
    _mark(ax, marks[:40], f"{marks.size} outliers (converged, isolated Ritz values)")
    ax.set_title(f"spectral density ({d.n_probes} probes x {d.n_steps} steps)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def outlier_figure(s: Any) -> Any:
    fig, (ax,) = _new_figure()
    pts = np.concatenate([np.asarray(s.outliers), np.asarray(s.bulk_nodes).reshape(-1)])
    lo, hi = float(pts.min()) - 4 * s.sigma, float(pts.max()) + 4 * s.sigma
    x = np.linspace(lo, hi, 600)
    _log_density(ax, x, np.asarray(s.evaluate(x)), f"bulk + outliers (sigma {s.sigma:.3g})")
    _mark(ax, s.outliers, f"{s.n_outliers} outliers (Lanczos)")
    ax.set_title(f"spectrum: {s.n_outliers} outliers, bulk mass {s.bulk_mass:.4g}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def eigen_figure(r: Any) -> Any:
    fig, (ax, bx) = _new_figure(2, width=3.4)
    vals, rel, conv = _np(r.values), _np(r.relative_residuals), np.asarray(r.converged, bool)
    idx = np.arange(vals.size)
    for mask, style, lab in ((conv, "o", "converged"), (~conv, "x", "not converged")):
        if mask.any():
            ax.plot(idx[mask], vals[mask], style, label=lab)
            bx.semilogy(idx[mask], np.maximum(rel[mask], 1e-300), style)
    bx.axhline(r.tol, color="0.5", ls="--", lw=0.8, label=f"tol {r.tol:.2g}")
    ax.set(xlabel="pair", ylabel="eigenvalue", title=f"{r.which} eigenvalues")
    bx.set(xlabel="pair", ylabel="relative residual", title="true residuals")
    ax.legend(fontsize=7)
    bx.legend(fontsize=7)
    return fig


def trace_figure(t: Any) -> Any:
    fig, (ax,) = _new_figure()
    s = np.asarray(t.samples, dtype=np.float64)
    n = np.arange(1, s.size + 1)
    run = t.sketch_trace + np.cumsum(s) / n
    if s.size > 1:
        var = (np.cumsum(s**2) - n * (run - t.sketch_trace) ** 2) / np.maximum(n - 1, 1)
        se = np.sqrt(np.maximum(var, 0.0) / n)
        se[0] = np.nan
        ax.fill_between(n, run - 2 * se, run + 2 * se, alpha=0.3, label="±2 s.e.")
    ax.plot(n, run, lw=1.2, label="running estimate")
    ax.axhline(t.value, color="k", lw=0.8, label=f"estimate {t.value:.6g}")
    ax.set(xlabel="probes", ylabel="trace", title=f"{t.method} trace estimate")
    ax.legend(fontsize=7)
    return fig


def diagonal_figure(d: Any) -> Any:
    fig, (ax,) = _new_figure()
    v, se = _np(d.values), _np(d.stderr)
    k = _stride(v.size)
    i = np.arange(v.size)[::k]
    ax.fill_between(i, v[::k] - 2 * se[::k], v[::k] + 2 * se[::k], alpha=0.3, label="±2 s.e.")
    ax.plot(i, v[::k], lw=0.8, label="estimate")
    note = f" (every {k}th entry)" if k > 1 else ""
    ax.set(xlabel="parameter", ylabel="diagonal entry", title=f"{d.method} diagonal{note}")
    ax.legend(fontsize=7)
    return fig


def index_figure(r: Any) -> Any:
    if r.density is None:
        fig, (ax,) = _new_figure(height=1.6)
        neg = r.n_negative or 0
        ax.barh([0], [neg], color="tab:red", label=f"below -{r.threshold:.2g}: {neg}")
        ax.barh([0], [r.size - neg], left=[neg], color="tab:blue", label="the rest")
        ax.set(yticks=[], xlabel="eigenvalues", title=f"index {r.value:.6g} (exact count)")
        ax.legend(fontsize=7)
        return fig
    fig = density_figure(r.density)
    ax = fig.axes[0]
    ax.axvspan(float(np.min(r.density.grid)), -r.threshold, color="tab:red", alpha=0.15,
               label=f"< -{r.threshold:.2g}")
    ax.set_title(f"index {r.value:.4g} ± {r.stderr:.2g} (SLQ)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def sharpness_figure(r: Any) -> Any:
    fig, (ax,) = _new_figure(height=2.6)
    if math.isfinite(r.perturbed_loss):
        ax.bar(["L(theta)", "perturbed"], [r.base_loss, r.perturbed_loss],
               color=["tab:blue", "tab:orange"])
        ax.set(ylabel="loss")
    else:
        ax.bar([r.measure], [r.value], yerr=[2 * r.stderr], capsize=4)
        ax.set(ylabel="sharpness")
    ax.set_title(f"{r.measure} sharpness {r.value:.4g}", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- summaries
def _info_rows(info: dict[str, Any], limit: int = 8) -> list[tuple[str, str]]:
    rows = []
    for k, v in list(info.items())[:limit]:
        rows.append((str(k), num(v) if isinstance(v, (int, float, np.number)) else str(v)))
    return rows


def eigen_html(r: Any) -> str:
    vals, res = _np(r.values), _np(r.residuals)
    conv = np.asarray(r.converged, bool)
    pairs = table(((i, num(v), num(e, 3), "yes" if c else "no")
                   for i, (v, e, c) in enumerate(zip(vals, res, conv))),
                  header=("pair", "eigenvalue", "residual", "converged"))
    rows = [("which", r.which), ("method", r.method),
            ("converged", f"{int(conv.sum())} of {conv.size}"),
            ("products", num(r.n_matvecs)), ("wall time", seconds(r.wall_time))]
    return card("EigenResult", rows, figure_html(lambda: eigen_figure(r)), extra=pairs)


def trace_html(t: Any) -> str:
    lo, hi = t.ci
    rows = [("trace", pm(t.value, t.stderr)),
            (f"{100 * t.confidence:g}% interval", f"[{num(lo)}, {num(hi)}]"),
            ("method", t.method), ("converged", "yes" if t.converged else "no"),
            ("probes", num(t.n_probes)), ("sketch size", num(t.sketch_size)),
            ("products", num(t.n_matvecs)), ("wall time", seconds(t.wall_time))]
    return card("TraceEstimate", rows, figure_html(lambda: trace_figure(t)))


def _moment_rows(mean: Any, se: Any) -> list[tuple[str, str]]:
    return [(f"tr(A^{j + 1})/P", pm(m, s)) for j, (m, s) in enumerate(zip(mean, se))]


def density_html(d: Any) -> str:
    lo, hi = d.spectral_range
    rows = [("spectral range", f"[{num(lo)}, {num(hi)}]"), *_moment_rows(d.moments_mean,
                                                                         d.moments_stderr),
            ("probes x steps", f"{d.n_probes} x {d.n_steps} ({d.probe})"),
            ("sigma", num(d.sigma)), ("products", num(d.n_matvecs)),
            ("wall time", seconds(d.wall_time))]
    return card("SpectralDensity", rows, figure_html(lambda: density_figure(d)))


def outliers_html(s: Any) -> str:
    out = np.asarray(s.outliers)
    shown = ", ".join(num(x) for x in out[:12]) + (", ..." if out.size > 12 else "")
    lo, hi = s.bulk_range
    rows = [("outliers", shown),
            ("converged", f"{int(np.sum(s.outlier_converged))} of {s.n_outliers}"),
            ("bulk range", f"[{num(lo)}, {num(hi)}]"), ("bulk mass", num(s.bulk_mass)),
            *_moment_rows(s.moments_mean, s.moments_stderr),
            ("P", num(s.size)), ("probes x steps", f"{s.n_probes} x {s.n_steps}"),
            ("products", num(s.n_matvecs)), ("wall time", seconds(s.wall_time))]
    return card("BulkOutlierSpectrum", rows, figure_html(lambda: outlier_figure(s)))


def index_html(r: Any) -> str:
    rows = [("index", pm(r.value, r.stderr if r.method == "slq" else None)),
            ("method", r.method), ("threshold", num(r.threshold)), ("P", num(r.size))]
    if r.n_negative is not None:
        rows.append(("negative eigenvalues", num(r.n_negative)))
    if r.method == "slq":
        rows.append(("quadrature bias bound", num(r.bias_bound, 3)))
    rows += [("products", num(r.n_matvecs)), ("wall time", seconds(r.wall_time))]
    return card("HessianIndex", rows, figure_html(lambda: index_figure(r)))


def diagonal_html(d: Any) -> str:
    v, se = _np(d.values), _np(d.stderr)
    rows = [("P", num(v.size)), ("sum (trace)", pm(v.sum(), math.sqrt(float(np.sum(se**2))))),
            ("range", f"[{num(v.min())}, {num(v.max())}]"),
            ("median stderr", num(float(np.median(se)), 3)), ("method", d.method),
            ("rank", num(d.rank)), ("probes", num(d.n_probes)),
            ("products", num(d.n_matvecs)), ("wall time", seconds(d.wall_time))]
    return card("DiagonalEstimate", rows, figure_html(lambda: diagonal_figure(d)),
                extra="<p><small>sum ± s.e. assumes independent entries.</small></p>")


def landscape_html(r: Any) -> str:
    from .landscape import plot_contour, plot_line

    loss = np.asarray(r.loss, dtype=np.float64)
    i = np.unravel_index(int(np.nanargmin(loss)), loss.shape) if loss.size else ()
    at = ", ".join(num(c[j]) for c, j in zip(r.coords, i))
    rows = [("grid", " x ".join(str(n) for n in r.shape)), ("base loss", num(r.base_loss)),
            ("min loss", f"{num(np.nanmin(loss))} at ({at})" if loss.size else "-"),
            ("max loss", num(np.nanmax(loss)) if loss.size else "-"),
            ("metrics", ", ".join(map(str, r.values))), ("method", r.method),
            *_info_rows(r.info)]
    if len(r.coords) == 1:
        fig = figure_html(lambda: plot_line(r))
    elif len(r.coords) == 2:
        fig = figure_html(lambda: plot_contour(r))
    else:
        fig = "<p><em>(no figure for a grid of more than 2 axes)</em></p>"
    return card("LandscapeResult", rows, fig)


def interpolation_html(r: Any) -> str:
    from .landscape import plot_interpolation

    rows = [("barrier", num(r.barrier)), ("monotone barrier", num(r.monotone_barrier)),
            ("distance", num(r.distance)), ("points", num(len(r.t))), ("method", r.method)]
    return card("InterpolationResult", rows, figure_html(lambda: plot_interpolation(r)))


def sharpness_html(r: Any) -> str:
    rows = [("measure", r.measure), ("sharpness", pm(r.value, r.stderr)),
            ("base loss", num(r.base_loss)), ("perturbed loss", num(r.perturbed_loss)),
            ("invariant to", r.invariant_to), *_info_rows(r.info)]
    return card("SharpnessResult", rows, figure_html(lambda: sharpness_figure(r)))


_SIGN = {"close": "≈", "at_most": "≤", "at_least": "≥"}


def check_row(c: Any) -> tuple[str, ...]:
    tol = num(c.tolerance, 3) + (" (relative)" if c.relative else "")
    return (c.name, c.role, c.kind, c.description, pm(c.measured, c.stderr),
            f"{_SIGN.get(c.comparison, c.comparison)} {num(c.expected)}", tol, c.outcome)


def experiment_html(result: Any) -> str:
    from .errors import SanityCheckError

    try:
        verdict = result.verdict
    except SanityCheckError as exc:
        verdict = f"no verdict ({exc})"
    head = result.headline_check()
    ordered = ([c for c in result.checks if c.role == "evidence"]
               + [c for c in result.checks if c.role == "sanity"])
    checks = table((check_row(c) for c in ordered),
                   header=("check", "role", "kind", "description", "measured ± s.e.",
                           "expected", "tolerance", "outcome"))
    figures = "".join(f"<p><em>{esc(name)}</em></p>{figure_html(fig)}"
                      for name, fig in result.figures.items())
    parts = [checks]
    if result.deviations:
        parts.append(f"<p>Departures from the paper's setup:</p>{bullets(result.deviations)}")
    rows = [("verdict", verdict), ("headline", head.name if head else "-")]
    return card("ExperimentResult", rows, figures, extra="".join(parts))


def experiment_repr(result: Any) -> str:
    from .errors import SanityCheckError

    try:
        verdict = result.verdict
    except SanityCheckError:
        verdict = "sanity check failed"
    head = result.headline_check()
    shown = pm(head.measured, head.stderr) if head else None
    return brief("ExperimentResult", verdict=verdict, headline=head.name if head else None,
                 measured=shown, checks=len(result.checks), figures=sorted(result.figures))
