"""parameter-counting: the "cheap learning" swindle of Lin, Tegmark and Rolnick (CLAIMS.md A6).

Question: how many parameters does a function of n inputs need? A generic function of n inputs
taking v values each is a table of v^n numbers; a Hamiltonian (log-probability) that is a
polynomial of degree at most d needs only the C(n+d, d) monomial coefficients, and locality makes
the count linear in n.

Seed claim: LTR Sec. II D: physics-like functions are cheap to describe, so networks that
approximate them are cheap; for a megapixel 8-bit image, 256^(10^6) against C(10^6 + 4, 4).

What is measured: C(n+d, d) against two independent counts for every n <= n_max, d <= d_max (our
enumeration of monomials, and scikit-learn's PolynomialFeatures); log10 of the megapixel counts;
the number of couplings of local 1D spin Hamiltonians, and its growth with n.

Figure: log10 of the parameter count against n for the three descriptions.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..config import ExperimentConfig
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement
from ._plotting import new_figure


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    n_max: int = 12
    d_max: int = 5
    megapixel_n: int = 10**6
    megapixel_degree: int = 4
    levels: int = 256
    local_degree: int = 2
    local_range: int = 1
    local_n_max: int = 64

    QUICK = {"n_max": 10, "d_max": 4, "local_n_max": 32}

    def validate(self) -> None:
        from ..errors import UserInputError

        if not (1 <= self.n_max <= 20 and 0 <= self.d_max <= 8):
            raise UserInputError("n_max must be in [1, 20] and d_max in [0, 8]")
        if self.local_n_max < 4 or self.megapixel_n < 1 or self.levels < 2:
            raise UserInputError("local_n_max must be >= 4, megapixel_n >= 1, levels >= 2")


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    """Counts are exact; ``rng`` is unused (the experiment is deterministic)."""
    from sklearn.preprocessing import PolynomialFeatures

    from ..instruments.expressivity import counting

    ns = np.arange(1, config.n_max + 1)
    ds = np.arange(0, config.d_max + 1)
    formula = np.zeros((len(ns), len(ds)), dtype=np.int64)
    enumerated = np.zeros_like(formula)
    sklearn_count = np.zeros_like(formula)
    for i, n in enumerate(ns):
        for j, d in enumerate(ds):
            formula[i, j] = counting.n_monomials(int(n), int(d))
            enumerated[i, j] = counting.count_monomials_by_enumeration(int(n), int(d))
            poly = PolynomialFeatures(degree=int(d)).fit(np.zeros((1, int(n))))
            sklearn_count[i, j] = poly.n_output_features_

    big_n, big_d = config.megapixel_n, config.megapixel_degree
    log10_hamiltonian = counting.log10_binomial(big_n, big_d)
    exact_hamiltonian = math.comb(big_n + big_d, big_d)
    log10_generic = counting.log10_generic(big_n, config.levels)
    # Independent bracket: 2^(b-1) <= v^n < 2^b with b the bit length of the exact integer.
    generic_bits = counting.generic_function_parameters(big_n, config.levels).bit_length()

    local_ns = np.arange(4, config.local_n_max + 1)
    local = np.array([
        counting.local_hamiltonian_parameters(int(n), config.local_degree, config.local_range)
        for n in local_ns
    ])
    second_diff = np.diff(local, 2)
    ti = counting.local_hamiltonian_parameters(
        int(local_ns[-1]), 2, 1, translation_invariant=True
    )

    checks = [
        Check("formula_vs_enumeration", "cells where C(n+d,d) differs from enumerated monomials",
              int(np.count_nonzero(formula != enumerated)), 0, 0),
        Check("formula_vs_sklearn", "cells where C(n+d,d) differs from PolynomialFeatures",
              int(np.count_nonzero(formula != sklearn_count)), 0, 0),
        Check("megapixel_degree4", f"log10 C({big_n}+{big_d}, {big_d}) (LTR: about 4.2e22)",
              log10_hamiltonian, math.log10(exact_hamiltonian), 1e-9),
        Check("megapixel_generic", f"log10 of {config.levels}^{big_n} (generic image function)"
              ", against the bit length of the exact integer", log10_generic,
              (generic_bits - 0.5) * math.log10(2), 0.5 * math.log10(2) + 1e-6),
        Check("locality_linear", "max |second difference| of local coupling counts in n",
              int(np.max(np.abs(second_diff))), 0, 0),
        Check("translation_invariant_quadratic", "parameters of a quadratic, nearest-neighbour,"
              " translation-invariant 1D spin Hamiltonian", int(ti), 3, 0),
    ]
    measurements = {
        "megapixel_hamiltonian_count": Measurement(float(exact_hamiltonian),
                                                   description="C(10^6+4, 4)"),
        "megapixel_log10_generic": Measurement(log10_generic,
                                               description="log10 256^(10^6)"),
        "local_count_slope": Measurement(int(local[-1] - local[-2]),
                                         description="couplings added per extra spin"),
    }
    arrays = {"n": ns, "d": ds, "formula": formula, "enumerated": enumerated,
              "sklearn": sklearn_count, "local_n": local_ns, "local_count": local}
    return ExperimentResult(
        checks=checks,
        measurements=measurements,
        arrays=arrays,
        figures={"parameter_counts": _figure(config, counting)},
        notes=[
            "C(10^6+4, 4) = " + f"{exact_hamiltonian:.3e}" + " against 256^(10^6) = 10^"
            + f"{log10_generic:,.0f}" + " for a megapixel 8-bit image.",
            "For ±1 spins s^2 = 1, so local Hamiltonians have multilinear terms only.",
        ],
        headline="formula_vs_sklearn",
    )


def _figure(config: Config, counting):
    fig, (ax,) = new_figure(1, width=6.0)
    ns = np.arange(1, 41)
    ax.plot(ns, [counting.log10_generic(int(n), 2) for n in ns], label="generic: 2^n")
    ax.plot(ns, [counting.log10_generic(int(n), config.levels) for n in ns],
            label=f"generic: {config.levels}^n")
    for d in (2, 4):
        ax.plot(ns, [counting.log10_binomial(int(n), d) for n in ns],
                label=f"degree ≤ {d}: C(n+{d}, {d})")
    local = [counting.local_hamiltonian_parameters(int(n), 2, 1) for n in ns[ns >= 4]]
    ax.plot(ns[ns >= 4], np.log10(local), "--", label="local, degree 2")
    ax.set(xlabel="number of inputs n", ylabel="log10(parameters)",
           title="Cheap learning: parameters to describe a function")
    ax.legend(fontsize=8)
    return fig


SPEC = ExperimentSpec(
    id="parameter-counting",
    title="Parameter counting: the cheap-learning swindle",
    claim="A degree-d Hamiltonian of n inputs needs C(n+d, d) parameters, not v^n.",
    source="LTR 2017 Sec. II D; CLAIMS.md A6",
    config_cls=Config,
    run=run,
    citations=("lin2017", "pedregosa2011"),
    statement=(
        "A generic function of n inputs with v values each is a table of v^n numbers. If the "
        "log-probability is a polynomial of degree at most d, only C(n+d, d) coefficients are "
        "needed; locality reduces that to a count linear in n, and translation invariance to a "
        "constant (3 for a quadratic nearest-neighbour chain)."
    ),
    formula="#monomials(n, d) = C(n+d, d) = (n+d)! / (n! d!)   versus   v^n",
)
