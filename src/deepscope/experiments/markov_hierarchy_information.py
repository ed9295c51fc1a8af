"""markov-hierarchy-information: information only decreases down a Markov hierarchy.

Question: along a generative chain y_0 -> y_1 -> ... -> y_k, is I(y_0; y_k) non-increasing (data
processing), and does a sufficient statistic keep all the information about the top variable
while a non-sufficient one loses some?

Claim: LTR Sec. III, Thm 2 and Cor. 2: minimal sufficient statistics compose,
T_i = f_i o T_{i+1}, and P(y_0 | x) = (f_0 o ... o f_n)(x); I(y; T(x)) = I(y; x) iff T is
sufficient.

What is measured: (a) a chain of binary symmetric channels with flip probability p: plug-in
estimates of I(y_0; y_k) from exactly sampled chains for k = 0..k_max, against the closed form
1 - H_2((1 - (1 - 2p)^k) / 2) bits. (b) theta in {0.3, 0.6} (equal prior) and n i.i.d.
Bernoulli(theta) bits, by enumerating all 2^n patterns: I(theta; x), I(theta; sum x) (sufficient)
and I(theta; sum of the first half) (not sufficient); and the composition sum x = f(sums of the
two halves), with I(theta; (half sums)) = I(theta; x) as well.

Refuted by: an estimated information that rises along the sampled chain beyond its sampling
error (``estimate_monotone``) or that departs from the closed form (``chain_estimate``); a
sufficient statistic or a composition of them that loses information (``sum_sufficient``,
``composition_sufficient``, by enumeration); a non-sufficient statistic that keeps it
(``half_sum_loses``). These five are the evidence checks. Sanity check: ``exact_monotone`` (the
closed form is non-increasing by algebra, since (1 - 2p)^k decreases).

Figure: I(y_0; y_k) against k, exact and estimated; the three informations of (b).

Tolerances: estimates within 0.01 bit for k <= 10 (the plug-in bias is about 1/(2 N ln 2) =
7e-6 bit and the delta-method standard error below 3e-3 bit at N = 1e5); monotone: the largest
step up of the estimates must stay below 0 by two delta-method standard errors of the difference
(the exact steps are strictly negative, the last ones about -0.005 bit); sufficiency to 1e-12
(float64 sums over 4096 patterns); the half sum must lose > 0.01 bit, a threshold not fitted to
data (any loss above float64 rounding refutes "keeps the information").
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    flip_probability: float = 0.1
    k_max: int = 10
    n_samples: int = 100_000
    thetas: tuple[float, ...] = (0.3, 0.6)
    n_bits: int = 12
    estimate_tolerance: float = 0.01
    sufficiency_tolerance: float = 1e-12
    min_information_loss: float = 0.01

    QUICK = {"k_max": 8}

    def validate(self) -> None:
        from ..errors import UserInputError

        if not 0.0 < self.flip_probability < 0.5 or self.k_max < 1 or self.n_samples < 100:
            raise UserInputError("need 0 < flip_probability < 0.5, k_max >= 1, n_samples >= 100")
        if not 2 <= self.n_bits <= 16 or self.n_bits % 2 or len(set(self.thetas)) < 2:
            raise UserInputError("n_bits must be even in [2, 16]; thetas need two values")


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    from ..expressivity import (
        bsc_chain_information,
        plugin_mutual_information,
        sample_bsc_chain,
        statistic_information,
    )

    ks = np.arange(config.k_max + 1)
    exact = bsc_chain_information(config.flip_probability, ks)
    chain = sample_bsc_chain(config.flip_probability, config.k_max, config.n_samples, rng)
    est = np.array([plugin_mutual_information(chain[:, 0], chain[:, k]) for k in ks])
    # Delta-method standard error of the plug-in estimate: Var(pointwise MI) / N.
    agree = (1.0 + (1.0 - 2.0 * config.flip_probability) ** ks) / 2.0
    with np.errstate(divide="ignore"):
        spread = np.log2(2 * agree) - np.log2(np.maximum(2 * (1 - agree), 1e-300))
    est_se = np.sqrt(agree * (1 - agree) * spread**2 / config.n_samples)
    worst_k = int(np.argmax(np.abs(est - exact)))
    step_k = int(np.argmax(np.diff(est)))
    step_se = float(np.hypot(est_se[step_k], est_se[step_k + 1]))
    half = config.n_bits // 2
    prior = np.full(len(config.thetas), 1.0 / len(config.thetas))
    info = {
        "x": statistic_information(config.thetas, prior, config.n_bits),
        "sum": statistic_information(config.thetas, prior, config.n_bits,
                                     lambda x: x.sum(axis=1)),
        "half_sums": statistic_information(
            config.thetas, prior, config.n_bits,
            lambda x: x[:, :half].sum(axis=1) * (half + 1) + x[:, half:].sum(axis=1)),
        "first_half_sum": statistic_information(config.thetas, prior, config.n_bits,
                                                lambda x: x[:, :half].sum(axis=1)),
    }
    checks = [
        Check("chain_estimate", f"max |plug-in - exact| I(y_0; y_k) in bits, k <= {config.k_max}",
              float(np.max(np.abs(est - exact))), 0.0, config.estimate_tolerance,
              kind="statistical", stderr=float(est_se[worst_k])),
        Check("exact_monotone", "max increase of the exact I(y_0; y_k) from k to k + 1 (bits)",
              float(np.max(np.diff(exact))), 0.0, 0.0, kind="directional",
              comparison="at_most", role="sanity"),
        Check("estimate_monotone", "max increase of the estimated I(y_0; y_k) from k to k + 1 "
              "(bits)", float(np.max(np.diff(est))), 0.0, 0.0, kind="directional",
              comparison="at_most", stderr=step_se),
        Check("sum_sufficient", "|I(theta; sum x) - I(theta; x)| (bits)",
              abs(info["sum"] - info["x"]), 0.0, config.sufficiency_tolerance),
        Check("composition_sufficient", "|I(theta; (half sums)) - I(theta; x)| (bits): "
              "sum x = f(half sums)", abs(info["half_sums"] - info["x"]), 0.0,
              config.sufficiency_tolerance),
        Check("half_sum_loses", "I(theta; x) - I(theta; first-half sum) (bits)",
              info["x"] - info["first_half_sum"], config.min_information_loss, 0.0,
              kind="directional", comparison="at_least"),
    ]
    measurements = {
        "exact_information": Measurement(exact, description="I(y_0; y_k) bits, k = 0..k_max"),
        "estimated_information": Measurement(est, est_se, description="plug-in estimates "
                                             "(bits), delta-method standard errors"),
        **{f"information_{k}": Measurement(v, description=f"I(theta; {k}) bits")
           for k, v in info.items()},
    }
    notes = [
        f"Binary symmetric channel chain, p = {config.flip_probability}, {config.n_samples} "
        "exactly sampled chains; plug-in estimates from 2 x 2 count tables.",
        f"theta in {list(config.thetas)} with equal prior, {config.n_bits} i.i.d. bits, all "
        f"{2**config.n_bits} patterns enumerated.",
        "Caveat: the theorem holds for any chain; it shows neither that each f_i is "
        "cheap to compute nor that flattening the composition is costly.",
    ]
    deviations = [
        "LTR prove the theorem without an experiment; our test cases: a binary symmetric channel "
        f"chain (p = {config.flip_probability}, k <= {config.k_max}, {config.n_samples} sampled "
        f"chains) and {config.n_bits} Bernoulli bits with theta in {list(config.thetas)}",
        "sufficiency is tested on one exponential-family example, not on a deep generative "
        "hierarchy; the cost of computing each f_i is not measured",
    ]
    return ExperimentResult(checks=checks, measurements=measurements,
                            arrays={"k": ks, "exact": exact, "estimate": est},
                            figures={"information": _figure(ks, exact, est, info)},
                            notes=notes, headline="chain_estimate", deviations=deviations)


def _figure(ks, exact, est, info):
    fig, (ax, ax2) = new_figure(2, width=5.0)
    ax.plot(ks, exact, "k-", label="exact 1 − H₂((1 − (1−2p)ᵏ)/2)")
    ax.plot(ks, est, "o", label="plug-in estimate")
    ax.set(xlabel="k", ylabel="I(y₀; y_k) [bits]", title="Data processing down a Markov chain")
    ax.legend(fontsize=8)
    names = list(info)
    ax2.bar(range(len(names)), [info[n] for n in names], color=["C0", "C2", "C2", "C3"])
    ax2.set_xticks(range(len(names)), ["x", "Σx", "half sums", "first-half Σ"], fontsize=8)
    ax2.set(ylabel="I(θ; T(x)) [bits]", title="Sufficient statistics keep the information")
    return fig


SPEC = ExperimentSpec(
    id="markov-hierarchy-information",
    title="Markov hierarchy: information decreases, sufficient statistics compose",
    claim="I(y₀; y_k) is non-increasing along a Markov chain; a sufficient statistic (and a "
          "composition of them) keeps I(θ; x), a non-sufficient one loses information.",
    source="LTR 2017 Sec. III, Thm 2, Cor. 2",
    config_cls=Config,
    run=run,
    citations=("lin2017",),
    statement=(
        "For a generative hierarchy y₀ → y₁ → … → x, the minimal sufficient statistics compose, "
        "and by data processing no stage can add information about y₀. For a chain of binary "
        "symmetric channels the information is known in closed form; for Bernoulli bits the sum "
        "is sufficient and is itself a function of the half sums."
    ),
    formula=(
        "I(y₀; y_k) = 1 − H₂((1 − (1 − 2p)ᵏ)/2)  bits (non-increasing in k)\n"
        "I(θ; Σx) = I(θ; x),  Σx = f(Σ first half, Σ second half)"
    ),
)
