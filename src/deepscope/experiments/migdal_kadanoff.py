"""migdal-kadanoff: the Migdal-Kadanoff RG of the 2D Ising model (Migdal 1976; Kadanoff 1976).

Question: bond moving plus decimation (b = 2, d = 2) gives the one-parameter recursion
K' = (1/2) ln cosh 4K. Where is its non-trivial fixed point, what exponent nu does it predict,
and how far is that from Onsager's exact K_c = 0.4407, nu = 1?

Claim: real-space RG as the physics behind deep networks (Lin, Tegmark & Rolnick 2017,
Sec. IV; Mehta & Schwab 2014); the Migdal-Kadanoff scheme is the simplest 2D real-space RG. The
published b = 2 values are K* = 0.30469 and nu = 1.338 (Migdal 1976; Kadanoff 1976).

What is measured: K* by brentq (xtol 1e-14) against the closed form K* = (1/2) ln x, x the real
root of x^3 - x^2 - x - 1 = 0 (Cardano); lambda_T = dK'/dK at K* (analytic, and by central
differences); nu = ln 2 / ln lambda_T; the flows from either side of K*; and the distance from
the exact values (T* is 31% off, nu 34%).

Figure: the recursion with the cobweb flows on both sides of K*, marking K* and the exact K_c.

Refuted by: a computed K* or nu that disagrees with the published Migdal-Kadanoff values to
their printed digits, a K* that is not below Onsager's K_c or a nu that is not above 1 (the
approximation would then not differ from the exact solution as stated), or a fixed point that
does not repel the flow on both sides. Evidence checks: K_star_literature, nu_literature,
K_star_below_onsager, nu_above_onsager, unstable_below, unstable_above. Sanity checks (the
recursion is deterministic; these test our root finding and derivative, not the claim):
fixed_point_closed_form (brentq vs Cardano), fixed_point_residual (the root's residual),
lambda_closed_form (the analytic derivative recomputed from its own formula) and
lambda_finite_difference (central difference vs analytic derivative of our code).

Tolerances: the published numbers are checked to half a unit of their last printed digit
(K* 5e-6, nu 5e-4). The fixed point and its closed form agree to 1e-8 (brentq xtol is 1e-14;
the measured difference is ~1e-16). The central-difference derivative (h = 1e-6) agrees to 1e-7
(truncation ~h^2 = 1e-12 times the third derivative, round-off ~eps/h ~ 1e-10). The Onsager
comparisons and the flows are orderings without tolerance; "K -> inf" is read as K > 10 and
"K -> 0" as K < 1e-3 after the configured number of steps.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement

# Published Migdal-Kadanoff b = 2 values (Migdal 1976; Kadanoff 1976) and their last digits.
PUBLISHED_K_STAR, PUBLISHED_NU = 0.30469, 1.338
K_STAR_DIGIT, NU_DIGIT = 1e-5, 1e-3


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    b: int = 2
    flow_steps: int = 12
    flow_offset: float = 0.05
    fixed_point_tolerance: float = 1e-8

    QUICK = {"flow_steps": 10}

    def validate(self) -> None:
        from ..errors import UserInputError

        if self.b != 2:
            raise UserInputError("the checked closed form and published values are for b = 2")
        if not 0 < self.flow_offset < 0.2 or self.flow_steps < 4:
            raise UserInputError("flow_offset must be in (0, 0.2) and flow_steps >= 4")


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    from .. import physics as rg2d
    from ..physics import critical_coupling

    mk = rg2d.migdal_kadanoff(config.b, 2)
    h = 1e-6
    fd = (rg2d.migdal_kadanoff_map(mk.K_star + h) - rg2d.migdal_kadanoff_map(mk.K_star - h)) / (
        2 * h)
    below = rg2d.migdal_kadanoff_flow(mk.K_star - config.flow_offset, config.flow_steps)
    above = rg2d.migdal_kadanoff_flow(mk.K_star + config.flow_offset, config.flow_steps)
    kc = critical_coupling()
    t_err = (1 / mk.K_star - 1 / kc) / (1 / kc)
    checks = [
        Check("K_star_literature",
              "K* against Migdal 1976 / Kadanoff 1976 (0.30469, to half its last digit)",
              mk.K_star, PUBLISHED_K_STAR, K_STAR_DIGIT / 2),
        Check("nu_literature",
              "nu = ln 2 / ln(dK'/dK at K*) against Migdal 1976 / Kadanoff 1976 (1.338, to half "
              "its last digit)", mk.nu, PUBLISHED_NU, NU_DIGIT / 2),
        Check("K_star_below_onsager", "K* below Onsager's exact K_c = 0.4407 (T* above T_c)",
              mk.K_star, kc, 0.0, kind="directional", comparison="at_most"),
        Check("nu_above_onsager", "nu above the exact 2D Ising value nu = 1 (Onsager 1944)",
              mk.nu, 1.0, 0.0, kind="directional", comparison="at_least"),
        Check("unstable_below", f"K after {config.flow_steps} steps from K* - offset (-> 0)",
              float(below[-1]), 1e-3, 0.0, kind="directional", comparison="at_most"),
        Check("unstable_above", f"K after {config.flow_steps} steps from K* + offset (-> inf)",
              float(above[-1]), 10.0, 0.0, kind="directional", comparison="at_least"),
        Check("fixed_point_closed_form", "|K* (brentq) - K* (Cardano root of x^3-x^2-x-1)|",
              abs(mk.K_star - mk.K_star_closed_form), 0.0, config.fixed_point_tolerance,
              role="sanity"),
        Check("fixed_point_residual", "|K'(K*) - K*|", mk.residual, 0.0,
              config.fixed_point_tolerance, role="sanity"),
        Check("lambda_closed_form", "|dK'/dK - 2 tanh 4K*| at K*",
              abs(mk.lambda_T - 2 * math.tanh(4 * mk.K_star)), 0.0, 1e-12, role="sanity"),
        Check("lambda_finite_difference", "|analytic - central-difference dK'/dK| at K*",
              abs(mk.lambda_T - fd), 0.0, 1e-7, role="sanity"),
    ]
    measurements = {
        "K_star": Measurement(mk.K_star, description="Migdal-Kadanoff fixed point"),
        "T_star": Measurement(mk.T_star, description="1/K*"),
        "nu": Measurement(mk.nu, description="ln 2 / ln lambda_T"),
        "lambda_T": Measurement(mk.lambda_T, description="dK'/dK at K*"),
        "K_c_exact": Measurement(kc, description="Onsager, (1/2) ln(1 + sqrt 2)"),
        "T_star_relative_error": Measurement(t_err, description="(T* - T_c) / T_c"),
        "K_star_relative_error": Measurement((mk.K_star - kc) / kc,
                                             description="(K* - K_c) / K_c"),
        "nu_relative_error": Measurement(mk.nu - 1.0, description="(nu_MK - 1) / 1"),
    }
    return ExperimentResult(
        checks=checks, measurements=measurements,
        arrays={"flow_below": below, "flow_above": above},
        figures={"recursion": _figure(rg2d, mk, below, above, kc)},
        notes=[f"The approximation is off: K* = {mk.K_star:.5f} vs K_c = {kc:.5f} "
               f"({100 * (mk.K_star - kc) / kc:+.1f}%), T* = {mk.T_star:.4f} vs T_c = "
               f"{1 / kc:.4f} ({100 * t_err:+.1f}%), nu = {mk.nu:.4f} vs 1 "
               f"({100 * (mk.nu - 1):+.1f}%)."],
        headline="K_star_literature",
        deviations=[
            "Deterministic recursion: no sampling; quick and full differ only in flow length "
            f"({config.flow_steps} steps from K* +- {config.flow_offset}).",
            f"b = {config.b} in d = 2 only; the magnetic eigenvalue and the free energy of the "
            "recursion (also given by Kadanoff 1976) are not computed.",
        ],
    )


def _figure(rg2d, mk, below, above, kc):
    fig, (ax_map, ax_flow) = new_figure(2)
    grid = np.linspace(0.0, 0.6, 300)
    ax_map.plot(grid, rg2d.migdal_kadanoff_map(grid), label="K' = ½ ln cosh 4K")
    ax_map.plot(grid, grid, "k:", lw=1, label="K' = K")
    ax_map.axvline(mk.K_star, color="tab:red", lw=1, label=f"K* = {mk.K_star:.5f}")
    ax_map.axvline(kc, color="tab:green", lw=1, ls="--", label=f"exact K_c = {kc:.4f}")
    ax_map.set(xlabel="K", ylabel="K'", ylim=(0, 0.8), title="Migdal-Kadanoff recursion, b = 2")
    ax_map.legend(fontsize=8)
    steps = np.arange(len(below))
    ax_flow.semilogy(steps, np.maximum(below, 1e-300), "o-", label="from K* − δ")
    ax_flow.semilogy(steps, above, "s-", label="from K* + δ")
    ax_flow.axhline(mk.K_star, color="tab:red", lw=1)
    ax_flow.set(xlabel="RG step", ylabel="K_n", title="Flows away from the unstable K*")
    ax_flow.legend(fontsize=8)
    return fig


SPEC = ExperimentSpec(
    id="migdal-kadanoff",
    title="Migdal-Kadanoff RG of the 2D Ising model",
    claim="Bond moving + decimation (b = 2) gives K* = 0.30469 and nu = 1.338 (exact: 0.4407, 1).",
    source="Migdal 1976; Kadanoff 1976; Onsager 1944",
    config_cls=Config,
    run=run,
    citations=("migdal1976", "kadanoff1976", "onsager1944"),
    statement=(
        "Moving every other row of bonds onto its neighbour doubles the coupling; decimating the "
        "middle spin of each doubled pair then gives K' = ½ ln cosh 4K. The recursion has an "
        "unstable fixed point K* = ½ ln(1.839286...), the tribonacci constant, and predicts "
        "nu = ln 2 / ln(2 tanh 4K*) = 1.338; the exact 2D values are K_c = 0.4407 and nu = 1."
    ),
    formula=(
        "K' = ½ ln cosh 4K  ⇔  tanh K' = tanh²(2K)\n"
        "K* : cosh 4K* = e^{2K*}  ⇔  x³ − x² − x − 1 = 0, x = e^{2K*}\n"
        "λ_T = dK'/dK|_{K*} = 2 tanh 4K*,   ν = ln 2 / ln λ_T"
    ),
)
