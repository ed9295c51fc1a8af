"""block-spin-flow: majority-rule block spins flow to the ordered or disordered sink (Kadanoff).

Question: if 2D Ising configurations are coarse-grained by 3 x 3 majority-rule blocks, does the
nearest-neighbour correlation c flow up (towards the ordered sink) below T_c, down (towards the
disordered sink) above T_c, and stay nearly invariant at T_c, so that the temperature where
c_1 = c_0 locates T_c?

Claim: Kadanoff's block spins (Kadanoff 1966), the picture behind "deep learning as RG"
(Lin, Tegmark & Rolnick 2017 Sec. IV; Mehta & Schwab 2014); measured as in Swendsen's MCRG
(Swendsen 1979).

What is measured: Wolff samples of the periodic L = 54 lattice at five temperatures, blocked
twice (54 -> 18 -> 6); per level the mean nearest-neighbour correlation c_l with an
autocorrelation-corrected error; the sign of c_1 - c_0 at each temperature; the zero crossing T*
of c_1 - c_0 by linear interpolation between the two bracketing temperatures, with a
parametric-bootstrap error. |m| is reported, not checked (it rises under blocking even above
T_c, a finite-size effect of the small blocked lattices).

Figure: c_l against the blocking level for each temperature; c_1 - c_0 against T with T*.

Refuted by: c_1 - c_0 not positive below T_c or not negative above it (beyond its error bar),
a change of c at T_c as large as away from it, or a zero crossing T* far from Onsager's T_c.
Evidence checks: c_rises_T*/c_falls_T* (directional, with sampling errors),
near_invariance_at_tc and t_star (statistical). There is no sanity check.

Tolerances: the directional checks have no tolerance beyond the two-standard-error band. T*
within 3% of T_c: our choice; the grid steps around T_c are 5-6% of T_c, so 3% asks for more
than bracketing, while leaving room for the known bias of matching a single coupling (the
block-spin fixed point has longer-range couplings, so c_1 = c_0 is not exactly at T_c).
Near-invariance: |c_1 - c_0| at T_c <= 0.048, half the smallest off-critical |c_1 - c_0| (0.096,
at T = 2.0) measured at the full preset on seeds 101, 102, 103 (disjoint from seed 0), where
|c_1 - c_0| at T_c was 0.030-0.034.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement

TC = 2.269185314213022


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    L: int = 54
    b: int = 3
    n_steps: int = 2
    temperatures: tuple[float, ...] = (2.0, 2.15, 2.269, 2.4, 2.6)
    n_samples: int = 1000
    sweeps_between: int = 2
    burn_in: int = 500
    tc_tolerance: float = 0.03
    invariance_tolerance: float = 0.048  # calibrated on seeds 101-103 (module docstring)
    n_bootstrap: int = 400

    QUICK = {"n_samples": 300, "burn_in": 200, "n_bootstrap": 200}

    def validate(self) -> None:
        from ..errors import UserInputError

        if self.L % self.b ** self.n_steps:
            raise UserInputError("L must be divisible by b^n_steps")
        ts = self.temperatures
        if list(ts) != sorted(ts) or not ts[0] < TC < ts[-1]:
            raise UserInputError("temperatures must be increasing and bracket T_c")


def _crossing(T, d):
    """Linear interpolation of the first sign change of d(T) from + to - (nan if none)."""
    for i in range(len(T) - 1):
        if d[i] > 0 >= d[i + 1]:
            return T[i] + (T[i + 1] - T[i]) * d[i] / (d[i] - d[i + 1])
    return np.nan


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    from .. import physics as ph

    Ts = np.asarray(config.temperatures)
    c = np.empty((len(Ts), config.n_steps + 1))
    c_se, am = np.empty_like(c), np.empty_like(c)
    d, d_se = np.empty(len(Ts)), np.empty(len(Ts))
    for i, T in enumerate(Ts):
        samples = ph.sample_ising2d(config.L, T, config.n_samples, "wolff",
                                    int(rng.integers(2**63)), config.sweeps_between,
                                    config.burn_in)
        flow = ph.block_flow(samples, config.b, config.n_steps, rng)
        for level in range(config.n_steps + 1):
            st = ph.estimate(flow["nn"][level])
            c[i, level], c_se[i, level] = st.mean, st.stderr
            am[i, level] = flow["abs_m"][level].mean()
        st = ph.estimate(flow["nn"][1] - flow["nn"][0])
        d[i], d_se[i] = st.mean, st.stderr
    t_star = _crossing(Ts, d)
    boot = np.array([_crossing(Ts, d + d_se * rng.normal(size=len(Ts)))
                     for _ in range(config.n_bootstrap)])
    t_star_se = float(np.nanstd(boot, ddof=1))
    i_c = int(np.argmin(np.abs(Ts - TC)))
    checks = []
    for i, T in enumerate(Ts):
        if abs(T - TC) < 0.01:
            continue
        below = T < TC
        checks.append(Check(
            f"c_{'rises' if below else 'falls'}_T{T:g}",
            f"c_1 - c_0 at T = {T:g} ({'> 0: ordered sink' if below else '< 0: disordered'})",
            float(d[i]), 0.0, 0.0, kind="directional",
            comparison="at_least" if below else "at_most", stderr=float(d_se[i])))
    checks += [
        Check("near_invariance_at_tc", f"|c_1 - c_0| at T = {Ts[i_c]:g}", float(abs(d[i_c])),
              0.0, config.invariance_tolerance, kind="statistical", stderr=float(d_se[i_c])),
        Check("t_star", "T* where c_1 = c_0 (interpolated) vs T_c", float(t_star), TC,
              config.tc_tolerance, kind="statistical", stderr=t_star_se, relative=True),
    ]
    return ExperimentResult(
        checks=checks,
        measurements={
            "c": Measurement(c, c_se, description="rows: T; columns: blocking level"),
            "c1_minus_c0": Measurement(d, d_se),
            "abs_m": Measurement(am, description="mean |m| per level (finite-size: not checked)"),
            "T_star": Measurement(float(t_star), t_star_se,
                                  description="interpolated zero of c_1 - c_0"),
        },
        arrays={"temperatures": Ts, "c": c, "c_se": c_se, "abs_m": am, "d": d, "d_se": d_se},
        figures={"flow": _figure(Ts, c, c_se, d, d_se, t_star)},
        notes=[f"Wolff samples, L = {config.L}, {config.n_samples} per T, {config.sweeps_between}"
               f" sweeps apart; {config.b}x{config.b} majority blocks (odd b: no ties)."],
        headline="t_star",
        deviations=[
            f"One lattice size L = {config.L}, {len(Ts)} temperatures, {config.n_samples:,} "
            f"Wolff samples per temperature ({config.burn_in} burn-in sweeps); MCRG (Swendsen "
            "1979) uses larger lattices and many more samples.",
            f"Only the nearest-neighbour correlation is matched across {config.n_steps} "
            f"blocking steps (b = {config.b}); no renormalised couplings or eigenvalues are "
            "computed.",
        ],
    )


def _figure(Ts, c, c_se, d, d_se, t_star):
    fig, (ax_c, ax_d) = new_figure(2)
    levels = np.arange(c.shape[1])
    for i, T in enumerate(Ts):
        ax_c.errorbar(levels, c[i], 3 * c_se[i], fmt="o-", capsize=3, label=f"T = {T:g}")
    ax_c.set(xticks=levels, xlabel="blocking level", ylabel="c = ⟨s_i s_j⟩_nn",
             title="Majority-rule flow of the correlation")
    ax_c.legend(fontsize=8)
    ax_d.errorbar(Ts, d, 3 * d_se, fmt="o-", capsize=3, label="c₁ − c₀ (±3 s.e.)")
    ax_d.axhline(0, color="k", lw=1)
    ax_d.axvline(TC, color="k", ls=":", label=f"T_c = {TC:.4f}")
    ax_d.axvline(t_star, color="tab:red", lw=1, label=f"T* = {t_star:.4f}")
    ax_d.set(xlabel="T", ylabel="c₁ − c₀", title="Near-invariance locates T_c")
    ax_d.legend(fontsize=8)
    return fig


SPEC = ExperimentSpec(
    id="block-spin-flow",
    title="Majority-rule block-spin flow of the 2D Ising model",
    claim="3x3 majority blocks flow to the ordered sink below T_c and the disordered one above; "
          "c_1 = c_0 locates T_c within 3%.",
    source="Kadanoff 1966; Swendsen 1979 (MCRG)",
    config_cls=Config,
    run=run,
    citations=("kadanoff1966", "swendsen1979", "wolff1989", "lin2017"),
    statement=(
        "Replacing each 3 x 3 block by the sign of its sum is a real-space RG step. Away from "
        "T_c the coarse-grained lattice looks further from criticality (more ordered below, "
        "less above), so the nearest-neighbour correlation flows to 1 or 0; at T_c the "
        "configurations are self-similar and the correlation is nearly unchanged."
    ),
    formula=(
        "S_I = sign(Σ_{i∈I} s_i) over 3×3 blocks I,  c_l = ⟨S_I S_J⟩_nn at level l\n"
        "T < T_c: c_1 > c_0;   T > T_c: c_1 < c_0;   c_1(T*) = c_0(T*) ⇒ T* ≈ T_c"
    ),
)
