"""parameter-counting: the "cheap learning" swindle of Lin, Tegmark and Rolnick (2017).

Question: how many parameters does a function of n inputs need? A generic function of n inputs
taking v values each is a table of v^n numbers; a Hamiltonian (log-probability) that is a
polynomial of degree at most d needs only the C(n+d, d) monomial coefficients, and locality makes
the count linear in n.

Claim: LTR Sec. II D: physics-like functions are cheap to describe, so networks that
approximate them are cheap; for a megapixel 8-bit image, 256^(10^6) against C(10^6 + 4, 4).

What is measured: C(n+d, d) against two independent counts for every n <= n_max, d <= d_max (our
enumeration of monomials, and scikit-learn's PolynomialFeatures); log10 of the megapixel counts;
the number of couplings of local 1D spin Hamiltonians, enumerated term by term (every subset of
at most d spins within distance local_range), and its growth with n; the number of coupling
types of the translation-invariant quadratic nearest-neighbour chain, enumerated as distinct
shapes of those subsets.

Figure: log10 of the parameter count against n for the three descriptions.

All quantities are exact integers or closed forms, so every check is exact with tolerance 0 (or
float64 rounding for the logarithms).

Refuted by: a monomial count that differs from C(n+d, d) in an enumeration or in scikit-learn's
independent implementation; enumerated local coupling counts that are not linear in n; a
translation-invariant quadratic chain with other than 3 coupling types. Evidence checks:
formula_vs_enumeration, formula_vs_sklearn (headline), locality_linear (on the enumerated counts),
translation_invariant_quadratic (enumerated). Sanity checks: the megapixel logarithms (the same
numbers computed two ways: lgamma against the exact integer, n log10 v against the bit length)
and our closed-form local count against the enumeration (an identity of our counting code).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement


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

    from .. import expressivity as counting

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
    enumerated_local = np.array([
        _enumerate_local_terms(int(n), config.local_degree, config.local_range)[0]
        for n in local_ns
    ])
    second_diff = np.diff(enumerated_local, 2)
    ti = _enumerate_local_terms(int(local_ns[-1]), 2, 1)[1]

    checks = [
        Check("formula_vs_enumeration", "cells where C(n+d,d) differs from enumerated monomials",
              int(np.count_nonzero(formula != enumerated)), 0, 0),
        Check("formula_vs_sklearn", "cells where C(n+d,d) differs from PolynomialFeatures",
              int(np.count_nonzero(formula != sklearn_count)), 0, 0),
        Check("megapixel_degree4", f"log10 C({big_n}+{big_d}, {big_d}) by lgamma against the "
              "exact integer (LTR: about 4.2e22)", log10_hamiltonian,
              math.log10(exact_hamiltonian), 1e-9, role="sanity"),
        Check("megapixel_generic", f"log10 of {config.levels}^{big_n} (generic image function)"
              ", against the bit length of the exact integer", log10_generic,
              (generic_bits - 0.5) * math.log10(2), 0.5 * math.log10(2) + 1e-6, role="sanity"),
        Check("locality_linear", "max |second difference| in n of the enumerated local coupling "
              f"counts (degree <= {config.local_degree}, range {config.local_range})",
              int(np.max(np.abs(second_diff))), 0, 0),
        Check("translation_invariant_quadratic", "enumerated coupling types of a quadratic, "
              "nearest-neighbour, translation-invariant 1D spin Hamiltonian", int(ti), 3, 0),
        Check("local_formula_vs_enumeration", "chain lengths where our closed-form local count "
              "differs from the enumeration", int(np.count_nonzero(local != enumerated_local)),
              0, 0, role="sanity"),
    ]
    checks.sort(key=lambda c: c.role == "sanity")  # evidence first (stable)
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
        deviations=_deviations(config),
    )


def _enumerate_local_terms(n: int, d: int, range_: int) -> tuple[int, int]:
    """Count local terms of an n-spin open chain by listing them, and their distinct shapes.

    A term is a subset of at most ``d`` sites (spins are +-1, so s^2 = 1) whose sites lie within
    ``range_`` of each other; the empty set is the constant. A shape is a subset translated to
    start at site 0. Independent of :func:`counting.local_hamiltonian_parameters`.
    """
    terms = [()]
    for size in range(1, d + 1):
        terms += [c for c in itertools.combinations(range(n), size) if c[-1] - c[0] <= range_]
    shapes = {tuple(i - c[0] for i in c) if c else () for c in terms}
    return len(terms), len(shapes)


def _deviations(config: Config) -> list[str]:
    full = Config()
    out = [
        "LTR state the counts; here C(n+d, d) is enumerated for n <= "
        f"{config.n_max}, d <= {config.d_max} only, and the megapixel counts "
        f"(n = {config.megapixel_n:,}) come from the formula, not an enumeration",
        f"local chains enumerated for n = 4..{config.local_n_max}, degree <= "
        f"{config.local_degree}, range {config.local_range} (LTR argue for any local "
        "Hamiltonian)",
    ]
    if (config.n_max, config.d_max, config.local_n_max) != (full.n_max, full.d_max,
                                                            full.local_n_max):
        out.append(f"n_max = {config.n_max}, d_max = {config.d_max}, local_n_max = "
                   f"{config.local_n_max} (full preset: {full.n_max}, {full.d_max}, "
                   f"{full.local_n_max})")
    return out


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
    source="LTR 2017 Sec. II D",
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
