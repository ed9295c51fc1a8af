"""rg-trace-condition: the RG trace condition implies ΔF = 0, not conversely (CLAIMS.md A9).

Question: in the variational RG language of Mehta & Schwab, e^{-H_RG(h)} = Tr_v e^{T(v,h) - H(v)},
does the free energy stay unchanged (Z_tot = Z) exactly when the trace condition Tr_h e^{T} = 1
holds, as LTR v1's Eq. 8 "<=>" says, or only in one direction?

Seed claim: LTR v1's counterexample H(y, y') = H(y) + H(y') + K(y) + ln Z~ with
Z~ = sum_y e^{-H(y) - K(y)}: Z_tot = Z, yet the y-marginal is e^{-H-K}/Z~ != p(y). Schwab and Mehta
(arXiv:1609.03541) reply that the "<=>" is a typo: the trace condition implies ΔF = 0 and the
counterexample violates it, Tr_{y'} e^T = Z e^{-K(y)} / Z~, so their Eq. 22 stands.

What is measured, by exact enumeration of n_visible visible and n_coarse coarse Ising spins with
random couplings and fields (and a random K(v)), over several random draws: |Z_tot / Z - 1|;
KL(marginal || p) > 0; max |Tr_h e^T - Z e^{-K}/Z~| (the trace formula, elementwise); the spread
of the trace (not constant, so the condition fails); and, for random kernels normalised to
satisfy the trace condition (T = ln softmax_h of random numbers), |Z_tot / Z - 1| (the valid
direction, trace condition => ΔF = 0).

Figure: the trace Tr_h e^T per visible state against the formula, for one draw.

Tolerances (CLAIMS A9): identities to 1e-12 (relative; sums of 256 positive terms in float64
round at ~1e-15); KL > 1e-6 nats and a trace spread (max/min - 1) > 1e-3 (first run: KL ~ 0.1,
spread of several hundred percent with unit-variance K).
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

    n_spins: int = 4
    n_draws: int = 20
    coupling_scale: float = 0.5
    k_scale: float = 1.0
    identity_tolerance: float = 1e-12
    min_kl: float = 1e-6
    min_trace_spread: float = 1e-3

    QUICK = {"n_draws": 5}

    def validate(self) -> None:
        from ..errors import UserInputError

        if not 1 <= self.n_spins <= 10 or self.n_draws < 1:
            raise UserInputError("need 1 <= n_spins <= 10 and n_draws >= 1")
        if self.k_scale <= 0:
            raise UserInputError("k_scale must be > 0 (K = 0 satisfies the trace condition)")


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    from scipy.special import log_softmax

    from ..expressivity import ising_energies, rg_counterexample

    n = config.n_spins
    z_dev, kl, trace_dev, spread, valid_dev = [], [], [], [], []
    first = None
    for _ in range(config.n_draws):
        J = rng.normal(0.0, config.coupling_scale, size=(n, n))
        h = rng.normal(0.0, config.coupling_scale, size=n)
        H = ising_energies(J, h, n)  # the same Hamiltonian on visible and coarse spins
        K = rng.normal(0.0, config.k_scale, size=2**n)
        res = rg_counterexample(H, H, K)
        z_dev.append(abs(res["Z_tot"] / res["Z"] - 1.0))
        kl.append(res["kl"])
        trace_dev.append(float(np.max(np.abs(res["trace"] / res["trace_formula"] - 1.0))))
        spread.append(float(res["trace"].max() / res["trace"].min() - 1.0))
        # The valid direction: any kernel with Tr_h e^T = 1 leaves Z unchanged.
        T = log_softmax(rng.normal(0.0, 1.0, size=(2**n, 2**n)), axis=1)
        z_tot = np.exp(T - H[:, None]).sum()
        valid_dev.append(abs(z_tot / np.exp(-H).sum() - 1.0))
        if first is None:
            first = res
    checks = [
        Check("counterexample_keeps_Z", "max |Z_tot / Z - 1| of the counterexample",
              max(z_dev), 0.0, config.identity_tolerance),
        Check("marginal_differs", "min KL(visible marginal || p) over draws (nats)", min(kl),
              config.min_kl, 0.0, kind="directional", comparison="at_least"),
        Check("trace_formula", "max |Tr_h e^T / (Z e^{-K} / Z~) - 1| over states and draws",
              max(trace_dev), 0.0, config.identity_tolerance),
        Check("trace_condition_fails", "min over draws of max/min - 1 of Tr_h e^T",
              min(spread), config.min_trace_spread, 0.0, kind="directional",
              comparison="at_least"),
        Check("trace_implies_dF0", "max |Z_tot / Z - 1| for kernels with Tr_h e^T = 1",
              max(valid_dev), 0.0, config.identity_tolerance),
    ]
    measurements = {
        "kl": Measurement(np.asarray(kl), description="KL(marginal || p) per draw (nats)"),
        "trace_spread": Measurement(np.asarray(spread), description="max/min - 1 of the trace"),
    }
    notes = [
        f"{config.n_draws} draws of {n} visible and {n} coarse spins ({2**n} states each), "
        f"couplings and fields N(0, {config.coupling_scale}^2), K(v) ~ N(0, {config.k_scale}^2).",
        "Reading: ΔF = 0 does not imply the trace condition (the counterexample), but the trace "
        "condition implies ΔF = 0; Eq. 8's '<=>' is one-way, as Schwab and Mehta say. LTR v2's "
        "further point (the trace condition does not select a coarse-graining) is not measured.",
    ]
    return ExperimentResult(checks=checks, measurements=measurements,
                            arrays={k: first[k] for k in ("trace", "trace_formula", "marginal",
                                                          "p")},
                            figures={"trace": _figure(first)}, notes=notes,
                            headline="trace_condition_fails")


def _figure(res):
    fig, (ax, ax2) = new_figure(2, width=5.0)
    states = np.arange(len(res["trace"]))
    ax.bar(states, res["trace"], color="C0", label="Tr_h e^T (enumerated)")
    ax.plot(states, res["trace_formula"], "k_", ms=12, label="Z e^(−K) / Z̃")
    ax.axhline(1.0, color="r", ls="--", lw=1, label="trace condition = 1")
    ax.set(xlabel="visible state v", ylabel="Tr_h e^{T(v,h)}", title="Trace condition violated")
    ax.legend(fontsize=7)
    ax2.plot(states, res["p"], "o-", label="p(v) = e^(−H)/Z")
    ax2.plot(states, res["marginal"], "s--", label="marginal e^(−H−K)/Z̃")
    ax2.set(xlabel="visible state v", ylabel="probability",
            title=f"Z_tot = Z, yet KL = {res['kl']:.3f} nats")
    ax2.legend(fontsize=7)
    return fig


SPEC = ExperimentSpec(
    id="rg-trace-condition",
    title="RG trace condition: one-way implication",
    claim="LTR v1's counterexample keeps Z_tot = Z while violating the trace condition "
          "Tr_h e^T = 1 (Tr = Z e^{−K}/Z̃); the trace condition implies ΔF = 0, not conversely.",
    source="LTR v1 App. B; Schwab & Mehta 2016 (arXiv:1609.03541); CLAIMS.md A9",
    config_cls=Config,
    run=run,
    citations=("lin2017", "schwab2016", "mehta2014"),
    statement=(
        "With H(y, y') = H(y) + H(y') + K(y) + ln Z̃ the total partition function equals Z, but the "
        "y-marginal is e^{−H−K}/Z̃ ≠ p(y). The kernel e^{T} = e^{−H(y') − K(y)}/Z̃ has trace "
        "Z e^{−K(y)}/Z̃ ≠ 1, so it is not a counterexample to 'trace condition ⇒ ΔF = 0'."
    ),
    formula=(
        "Z_tot = Σ_{v,h} e^{T(v,h) − H(v)};  Tr_h e^T = 1 ∀v ⇒ Z_tot = Z\n"
        "counterexample: Tr_h e^T = Z e^{−K(v)} / Z̃,  Z̃ = Σ_v e^{−H(v) − K(v)}"
    ),
)
