"""mutual-information-rg: the block spin maximises I(H : E) (RSMI, Koch-Janusz & Ringel 2018).

Question: among coarse-graining filters of a 2 x 2 block V, h = sign(w . v), which keeps the most
information about the environment E (spins beyond a buffer)? Koch-Janusz & Ringel (2018) say the
maximiser of I(h : E) is the relevant degree of freedom, and that for 2D Ising it is Kadanoff's
block spin (uniform w).

Claim: machine-learned RG (Koch-Janusz & Ringel 2018, Nature Physics 14:578), contrasting
with RBM-style coarse-graining (Mehta & Schwab 2014).

What is measured: Wolff samples at T_c on the periodic 64 x 64 lattice; every 2 x 2 block on a
stride-2 tiling is a sample of (V, E), with E the four spins at distance 3 (buffer 2) in a
pinwheel around the block. I(h : E) is the Miller-Madow corrected plug-in estimate in bits, its
error a jackknife over groups of configurations; ties w . v = 0 are broken by one coin per block,
shared by all filters. Candidates: uniform (1,1,1,1), single spin (1,0,0,0), staggered
(+,-,-,+); then all 624 filters w in {+-1, +-1/2, 0}^4.

Result worth knowing: the grid maximiser is not exactly (1,1,1,1) but a filter that equals the
majority block spin on every untied block and breaks ties deterministically (e.g. (1,1,1,1/2)):
a coin carries no information, a spin does. So the argmax check asks that the best filter that
equals the block spin on every untied block state (up to a global sign) beats the best filter
that does not, with a paired jackknife error; and the uniform filter must be near the maximum.

Figure: I(h : E) of the three candidates, and of all grid filters sorted, uniform marked.

Refuted by: a single spin or the staggered combination keeping as much information as the
block spin, or a grid filter that is not the block spin (on untied blocks) keeping more
information than every block-spin filter, or the uniform filter falling well short of the
maximum. Evidence checks: uniform_beats_single, single_beats_staggered, staggered_small,
block_spin_class_wins (directional, paired jackknife errors) and uniform_near_max
(statistical). There is no sanity check.

Tolerances: the orderings are directional with two-standard-error bands. "Almost nothing" for
the staggered filter is read as I(staggered) < 0.1 I(uniform) (our choice; measured ~1e-4).
The gap of the uniform filter to the grid maximum must be <= 2%: a value first chosen after a
seed-0 run (gap 0.5-0.7%), then confirmed on seeds 101, 102, 103 (full preset, disjoint from
seed 0), where the gaps were 0.38%, 0.44%, 0.16% (paired s.e.
0.17-0.25%, so upper two-s.e. bounds <= 0.94%); 2% is about twice that bound, leaving room for
the quick preset's ~0.3% standard error.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement

CANDIDATES = {"uniform": (1.0, 1.0, 1.0, 1.0), "single": (1.0, 0.0, 0.0, 0.0),
              "staggered": (1.0, -1.0, -1.0, 1.0)}


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    L: int = 64
    n_configs: int = 400
    sweeps_between: int = 2
    burn_in: int = 300
    n_groups: int = 20
    max_gap: float = 0.02

    QUICK = {"n_configs": 100, "burn_in": 200}

    def validate(self) -> None:
        from ..errors import UserInputError

        if self.L % 2 or self.L < 16 or self.n_configs < self.n_groups or self.n_groups < 2:
            raise UserInputError("L must be even and >= 16, n_configs >= n_groups >= 2")


def _paired_se(reps, a, b):
    d = reps[a] - reps[b]
    g = len(d)
    return float(np.sqrt((g - 1) / g * ((d - d.mean()) ** 2).sum()))


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    from .. import physics as ph

    tc = ph.critical_temperature()
    samples = ph.sample_ising2d(config.L, tc, config.n_configs, "wolff", int(rng.integers(2**63)),
                                config.sweeps_between, config.burn_in)
    block, env, group = ph.block_environment_codes(samples)
    grid = ph.filter_grid()
    cand = np.array(list(CANDIDATES.values()))
    filters = np.concatenate([cand, grid])
    mi, se, reps = ph.mutual_information_filters(block, env, group, filters, rng,
                                                 config.n_groups)
    iu, isg, ist = 0, 1, 2
    best = 3 + int(np.argmax(mi[3:]))
    w_best = filters[best]
    # agreement of the argmax with the block spin on untied block states
    states = np.array([[(k >> i & 1) * 2 - 1 for i in range(4)] for k in range(16)])
    maj = np.sign(states.sum(axis=1))
    untied = maj != 0
    agree = float(abs(np.mean(np.sign(states[untied] @ w_best) * maj[untied])))
    # filters equal to the block spin (up to a global sign) on every untied block state
    signs = np.sign(states[untied] @ filters[3:].T) * maj[untied, None]
    in_class = np.all(signs == 1, axis=0) | np.all(signs == -1, axis=0)
    best_in = 3 + int(np.flatnonzero(in_class)[np.argmax(mi[3:][in_class])])
    best_out = 3 + int(np.flatnonzero(~in_class)[np.argmax(mi[3:][~in_class])])
    gap = (mi[best] - mi[iu]) / mi[iu]
    gap_se = _paired_se(reps, best, iu) / mi[iu]
    ratio = mi[ist] / mi[iu]
    checks = [
        Check("uniform_beats_single", "I(uniform) - I(single spin), bits", float(mi[iu] - mi[isg]),
              0.0, 0.0, kind="directional", comparison="at_least",
              stderr=_paired_se(reps, iu, isg)),
        Check("single_beats_staggered", "I(single spin) - I(staggered), bits",
              float(mi[isg] - mi[ist]), 0.0, 0.0, kind="directional", comparison="at_least",
              stderr=_paired_se(reps, isg, ist)),
        Check("staggered_small", "I(staggered) / I(uniform) (< 0.1: almost nothing)", float(ratio),
              0.1, 0.0, kind="directional", comparison="at_most",
              stderr=float(abs(ratio) * np.hypot(se[ist] / max(abs(mi[ist]), 1e-12),
                                                 se[iu] / mi[iu]))),
        Check("block_spin_class_wins",
              "max I over grid filters equal to the block spin on untied blocks - max I over "
              "the other grid filters, bits", float(mi[best_in] - mi[best_out]), 0.0, 0.0,
              kind="directional", comparison="at_least",
              stderr=_paired_se(reps, best_in, best_out)),
        Check("uniform_near_max", "(max_grid I - I(uniform)) / I(uniform)", float(gap), 0.0,
              config.max_gap, kind="statistical", stderr=gap_se),
    ]
    order = np.argsort(-mi[3:])
    return ExperimentResult(
        checks=checks,
        measurements={
            **{f"I_{name}": Measurement(float(mi[k]), float(se[k]), unit="bits")
               for k, name in enumerate(CANDIDATES)},
            "I_max_grid": Measurement(float(mi[best]), float(se[best]), unit="bits",
                                      description=f"argmax w = {w_best.tolist()}"),
            "top_filters": Measurement(grid[order[:5]].tolist(),
                                       description="the five best grid filters"),
            "argmax_agreement": Measurement(
                agree, description="fraction of untied block states where the grid argmax "
                "equals the block spin (up to a global sign)"),
            "best_other_filter": Measurement(
                filters[best_out].tolist(), description="best grid filter that is not the "
                f"block spin on untied blocks, I = {mi[best_out]:.4f} bits"),
            "n_blocks": Measurement(len(block), description=f"{config.n_configs} configurations"),
        },
        arrays={"filters": filters, "mi": mi, "mi_se": se},
        figures={"mutual_information": _figure(mi, se, config)},
        notes=[f"argmax over the grid: w = {w_best.tolist()}, I = {mi[best]:.4f} bits; "
               f"uniform with coin tie-breaks: {mi[iu]:.4f} bits."],
        headline="block_spin_class_wins",
        deviations=[
            f"One lattice L = {config.L} at T_c, {config.n_configs} Wolff configurations "
            f"({config.sweeps_between} sweeps apart, {config.burn_in} burn-in sweeps); "
            "I(h : E) is a Miller-Madow plug-in count, not the RBM-based estimate of "
            "Koch-Janusz & Ringel.",
            "The filter is searched over a fixed grid {+-1, +-1/2, 0}^4 of linear sign filters "
            "with a 4-spin environment, not learned by a network; only 2 x 2 blocks.",
        ],
    )


def _figure(mi, se, config):
    fig, (ax_c, ax_g) = new_figure(2)
    names = list(CANDIDATES)
    ax_c.bar(names, mi[:3], yerr=3 * se[:3], capsize=4, color=["tab:blue", "tab:orange",
                                                                "tab:gray"])
    ax_c.set(ylabel="I(h : E) [bits]", title=f"Candidate filters at T_c, L = {config.L}")
    srt = np.sort(mi[3:])[::-1]
    ax_g.plot(np.arange(len(srt)), srt, ".", ms=3, label="grid {±1, ±½, 0}⁴")
    ax_g.axhline(mi[0], color="tab:blue", lw=1, label="uniform (coin ties)")
    ax_g.set(xlabel="filter rank", ylabel="I(h : E) [bits]", title="All grid filters")
    ax_g.legend(fontsize=8)
    return fig


SPEC = ExperimentSpec(
    id="mutual-information-rg",
    title="Mutual-information coarse-graining (RSMI)",
    claim="The 2x2 block spin maximises I(h : E) with the environment: I(uniform) > I(single) > "
          "I(staggered), and the grid argmax is the block spin on untied blocks.",
    source="Koch-Janusz & Ringel 2018, Nature Physics 14:578",
    config_cls=Config,
    run=run,
    citations=("kochjanusz2018", "miller1955", "wolff1989"),
    statement=(
        "Real-space mutual information (RSMI) chooses the coarse variable h of a block V that "
        "keeps the most information about the distant environment E. For the 2D Ising model "
        "at T_c the best single binary variable of a 2 x 2 block is Kadanoff's majority block "
        "spin; a single spin keeps less, and the staggered combination almost nothing."
    ),
    formula=(
        "h = sign(w·v) (coin on ties),  I(h:E) = H(h) + H(E) − H(h,E)\n"
        "H_MM = H_plug-in + (m − 1)/2N,   w* = argmax_w I(h:E)"
    ),
)
