"""multiplication-gate: four neurons multiply two numbers (Lin, Tegmark and Rolnick; CLAIMS.md A1).

Question: can one hidden layer of 4 smooth neurons compute u*v to any accuracy, with an error
that shrinks as lambda^2 when the inputs are scaled by lambda and the output by lambda^-2?

Seed claim: LTR Sec. II C, Eq. 11 and Fig. 2: m(u, v) = [s(l(u+v)) + s(-l(u+v)) - s(l(u-v))
- s(-l(u-v))] / (4 l^2 s''(0)) = uv [1 + O(l^2 (u^2 + v^2))] for any s with s''(0) != 0.

What is measured: the gate is a real ``torch.nn.Module`` with 4 hidden neurons (float64). For
each activation and lambda, the maximum of |m(u, v) - uv| over points uniform on [-1, 1]^2; the
log-log slope of that error against lambda (fitted over lambda <= 0.3) with its standard error;
and the ratio of the measured error to our next-order prediction
uv * (s4 / (6 s2)) lambda^2 (u^2 + v^2) (for softplus: -lambda^2 (u^2 + v^2) / 12) on the same
points.

Figures: the error against lambda with the next-order prediction; the error over the square.

Tolerances (CLAIMS.md A1): slope 2.00 +- 0.05; the measured error within 5% of the next-order
term for lambda <= 0.1. The slope check is exact in kind (the max over fixed points is a
deterministic function of the sample; 10^4 points put the maximum within 1% of the corners).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import ExperimentConfig
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement
from ._plotting import new_figure


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    activations: tuple[str, ...] = ("softplus", "exp", "softplus+1", "tanh+0.5")
    lams: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01)
    n_points: int = 100_000
    slope_fit_max_lam: float = 0.3
    next_order_max_lam: float = 0.1
    slope_tolerance: float = 0.05
    next_order_tolerance: float = 0.05

    QUICK = {"activations": ("softplus", "exp"), "n_points": 10_000}

    def validate(self) -> None:
        from ..errors import UserInputError

        if not self.activations:
            raise UserInputError("activations must name at least one activation")
        if self.n_points < 100:
            raise UserInputError("n_points must be >= 100")
        if any(lam <= 0 for lam in self.lams):
            raise UserInputError("every lambda must be > 0")
        if sum(lam <= self.slope_fit_max_lam for lam in self.lams) < 2:
            raise UserInputError("need at least two lambdas <= slope_fit_max_lam for the slope")


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    import torch

    from ..instruments.expressivity import gates

    points = rng.uniform(-1.0, 1.0, size=(config.n_points, 2))
    x = torch.from_numpy(points)
    u, v = points[:, 0], points[:, 1]
    exact = u * v
    lams = np.asarray(config.lams, dtype=np.float64)
    fit_mask = lams <= config.slope_fit_max_lam
    next_mask = lams <= config.next_order_max_lam

    checks, measurements = [], {}
    arrays: dict[str, np.ndarray] = {"lams": lams, "points": points}
    errors: dict[str, np.ndarray] = {}
    predicted: dict[str, np.ndarray] = {}
    heat = None
    for name in config.activations:
        max_err = np.empty(len(lams))
        max_pred = np.empty(len(lams))
        for i, lam in enumerate(lams):
            gate = gates.multiplication_gate(name, float(lam))
            with torch.no_grad():
                out = gate(x).numpy()
            err = out - exact
            max_err[i] = np.max(np.abs(err))
            rel_next = gates.next_order_relative_error(name, float(lam), u, v)
            max_pred[i] = np.max(np.abs(exact * rel_next))
            if name == config.activations[0] and np.isclose(lam, 0.1):
                heat = err
        slope, _, slope_se = gates.fit_loglog_slope(lams[fit_mask], max_err[fit_mask])
        ratio_dev = np.abs(max_err[next_mask] / max_pred[next_mask] - 1.0)
        errors[name], predicted[name] = max_err, max_pred
        key = name.replace("+", "_plus_").replace(".", "p")
        arrays[f"max_error_{key}"] = max_err
        arrays[f"next_order_{key}"] = max_pred
        checks.append(
            Check(f"slope_{key}", f"{name}: log-log slope of max error vs lambda (lambda <= "
                  f"{config.slope_fit_max_lam})", float(slope), 2.0, config.slope_tolerance,
                  kind="statistical", stderr=float(slope_se))
        )
        checks.append(
            Check(f"next_order_{key}", f"{name}: max |measured/next-order - 1| for lambda <= "
                  f"{config.next_order_max_lam}", float(np.max(ratio_dev)), 0.0,
                  config.next_order_tolerance)
        )
        measurements[f"max_error_{key}"] = Measurement(
            max_err, description=f"{name}: max |m - uv| for lambda = {list(config.lams)}"
        )
        measurements[f"slope_{key}"] = Measurement(float(slope), float(slope_se),
                                                   description=f"{name}: fitted slope")
    n_hidden = gates.multiplication_gate(config.activations[0], 0.1).n_hidden
    checks.append(Check("n_hidden", "hidden neurons in the gate", int(n_hidden), 4, 0))

    figures = {"error_vs_lambda": _error_figure(lams, errors, predicted)}
    if heat is not None:
        figures["error_map"] = _heat_figure(points, heat, config.activations[0])
    return ExperimentResult(
        checks=checks,
        measurements=measurements,
        arrays=arrays,
        figures=figures,
        notes=[
            f"{config.n_points} points uniform on [-1, 1]^2, float64.",
            "The slope's standard error is that of the least-squares fit of log error on log "
            "lambda; with the next-order term dominating it is small.",
            "ReLU is not covered (no second derivative); tanh and sigmoid need a bias shift "
            "because their second derivative vanishes at 0.",
        ],
        headline=checks[0].name,
    )


def _error_figure(lams, errors, predicted):
    fig, (ax,) = new_figure(1, width=6.0)
    for name, err in errors.items():
        (line,) = ax.loglog(lams, err, "o-", label=f"{name}: measured")
        ax.loglog(lams, predicted[name], "--", color=line.get_color(), alpha=0.7,
                  label=f"{name}: next-order term")
    ref = lams**2 * errors[next(iter(errors))][0] / lams[0] ** 2
    ax.loglog(lams, ref, "k:", lw=1, label="slope 2")
    ax.set(xlabel="λ", ylabel="max |m(u,v) − uv| on [−1,1]²",
           title="Four-neuron multiplication gate")
    ax.legend(fontsize=7)
    return fig


def _heat_figure(points, err, name):
    fig, (ax,) = new_figure(1, width=5.0, height=4.2)
    sc = ax.scatter(points[:, 0], points[:, 1], c=err, s=3, cmap="coolwarm")
    fig.colorbar(sc, ax=ax, label="m(u,v) − uv")
    ax.set(xlabel="u", ylabel="v", title=f"{name} gate error at λ = 0.1")
    ax.set_aspect("equal")
    return fig


SPEC = ExperimentSpec(
    id="multiplication-gate",
    title="Four-neuron multiplication gate",
    claim="4 neurons compute u·v with error O(λ²) for any smooth σ with σ''(0) ≠ 0.",
    source="LTR 2017 Sec. II C, Eq. 11, Fig. 2; CLAIMS.md A1",
    config_cls=Config,
    run=run,
    citations=("lin2017", "rolnick2018"),
    statement=(
        "One hidden layer of four neurons approximates multiplication: inputs scaled by λ, "
        "outputs by 1/(4λ²σ''(0)). Odd Taylor terms cancel within each pair of neurons, the "
        "quadratic term leaves exactly uv, and the first correction is of order λ²(u² + v²)."
    ),
    formula=(
        "m(u,v) = [σ(λ(u+v)) + σ(−λ(u+v)) − σ(λ(u−v)) − σ(−λ(u−v))] / (4 λ² σ''(0))\n"
        "       = uv [1 + (σ⁗(0) / (6 σ''(0))) λ² (u² + v²) + O(λ⁴)]\n"
        "softplus: σ''(0) = 1/4, σ⁗(0) = −1/8  ⇒  relative error −λ²(u² + v²)/12"
    ),
)
