"""compositional-deep-vs-shallow: tree nets beat shallow ones on compositional f (CLAIMS C1, C2).

Question: for a function that is a binary tree of bivariate constituents, does a network with the
same tree structure approximate it better than a one-hidden-layer network with the same number of
parameters, as the Mhaskar-Liao-Poggio complexity bounds say?

Seed claims: Mhaskar, Liao & Poggio 2016 Thms 1-2 / Poggio et al. 2017: shallow networks need
N = O(eps^{-n/m}) units for f in W^n_m, binary-tree networks O((n - 1) eps^{-2/m}) for
compositional f (n = 8, eps = 0.1, m = 1: 10^8 against 700); Poggio et al. 2017 Figs. 3-4
(trained shallow vs tree networks at equal parameter counts: the tree wins).

What is measured: (C1) the table of the two bounds for n in {4, 8, 16}, eps in {0.1, 0.01},
m = 1 (arithmetic). (C2) the 8-variable function of CLAIMS C2 (co-author instance), x ~ U[-1, 1]^8,
standardised targets; a one-hidden-layer MLP against binary-tree networks whose nodes are
2 -> k -> 1 MLPs, with unshared and with level-shared weights, each sized to the parameter budget;
Adam; test NMSE = MSE / Var(f) over seeds (median and standard error).

Figure: test NMSE against the parameter budget for the three architectures, with error bars.

Tolerances: C1 exact. C2 (CLAIMS' proposal, directional): the unshared tree's median NMSE below
the shallow one's at every budget, with ratio <= 0.5 at the largest budget; the level-shared tree
also below the shallow net. Calibration (quick preset, seeds 0 and 7): tree / shallow NMSE
ratios 0.08-0.16. The full preset (seed 0) did NOT reproduce the 0.5 ratio: with 20k training
points the shallow net nearly matches the tree (median NMSE 3.4e-4 vs 2.6e-4 at P = 8000, ratio
0.76; 4.0e-4 vs 4.0e-4 at P = 2000), and the level-shared tree failed at P = 500 (NMSE 0.11).
The tree's large advantage in the quick preset (1k points) is one of sample efficiency; the
tolerances were kept at CLAIMS' values and the full preset reports not_reproduced. CLAIMS'
further proposal, shared and unshared trees within 2x, did not hold either way (quick: shared
1.9-3.7x better; full: up to 150x worse), so that factor is a measurement, not a check.
Training is kept small (CPU budget): 20k points and 3k Adam steps of batch 512 in the full
preset instead of the paper's 60k points and hyper-parameter search.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import ExperimentConfig
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement
from ._plotting import new_figure

_ARCHS = ("shallow", "tree", "tree_shared")


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    table_ns: tuple[int, ...] = (4, 8, 16)
    table_eps: tuple[float, ...] = (0.1, 0.01)
    smoothness: int = 1
    budgets: tuple[int, ...] = (500, 2000, 8000)
    n_train: int = 20_000
    n_test: int = 10_000
    steps: int = 3_000
    batch_size: int = 512
    lr: float = 3e-3
    activation: str = "relu"
    seeds: int = 3
    largest_budget_ratio: float = 0.5

    QUICK = {"budgets": (300, 1000), "n_train": 1_000, "n_test": 2_000, "steps": 600,
             "batch_size": 0}

    def validate(self) -> None:
        from ..errors import UserInputError

        if not self.budgets or min(self.budgets) < 50 or self.seeds < 1 or self.steps < 1:
            raise UserInputError("budgets must be >= 50, seeds >= 1 and steps >= 1")
        if self.n_train < 10 or self.n_test < 10 or self.smoothness < 1:
            raise UserInputError("n_train, n_test >= 10 and smoothness >= 1")


def complexity_table(ns, eps, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(shallow, deep)`` units: ``eps^{-n/m}`` and ``(n - 1) eps^{-2/m}`` (rows n, cols eps)."""
    n = np.asarray(ns, dtype=np.float64)[:, None]
    e = np.asarray(eps, dtype=np.float64)[None, :]
    return e ** (-n / m), (n - 1) * e ** (-2.0 / m)


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    shallow, deep = complexity_table(config.table_ns, config.table_eps, config.smoothness)
    checks = []
    if 8 in config.table_ns and 0.1 in config.table_eps and config.smoothness == 1:
        i, j = config.table_ns.index(8), config.table_eps.index(0.1)
        checks += [
            Check("C1_shallow_n8", "shallow units eps^-n at n = 8, eps = 0.1 (paper: 10^8)",
                  float(shallow[i, j]), 1e8, 1e-6, relative=True),
            Check("C1_deep_n8", "tree units (n - 1) eps^-2 at n = 8, eps = 0.1 (paper: 700)",
                  float(deep[i, j]), 700.0, 1e-9, relative=True),
        ]
    nmse = np.empty((config.seeds, len(config.budgets), len(_ARCHS)))
    n_params = np.empty((len(config.budgets), len(_ARCHS)), dtype=np.int64)
    for s in range(config.seeds):
        nmse[s], n_params = _train_seed(config, np.random.default_rng(rng.integers(2**63)))
    med = np.median(nmse, axis=0)
    se = nmse.std(axis=0, ddof=1) / np.sqrt(config.seeds) if config.seeds > 1 else None
    ratio = med[:, 1] / med[:, 0]
    share = np.maximum(med[:, 2], med[:, 1]) / np.minimum(med[:, 2], med[:, 1])
    checks += [
        Check("tree_beats_shallow", "max over budgets of median NMSE(tree) / median "
              "NMSE(shallow)", float(ratio.max()), 1.0, 0.0, kind="directional",
              comparison="at_most"),
        Check("tree_ratio_largest_budget", f"median NMSE(tree) / NMSE(shallow) at P = "
              f"{config.budgets[-1]}", float(ratio[-1]), config.largest_budget_ratio, 0.0,
              kind="directional", comparison="at_most"),
        Check("shared_tree_beats_shallow", "max over budgets of median NMSE(level-shared tree) "
              "/ median NMSE(shallow)", float((med[:, 2] / med[:, 0]).max()), 1.0, 0.0,
              kind="directional", comparison="at_most"),
    ]
    measurements = {
        f"nmse_{arch}": Measurement(nmse[:, :, a].mean(axis=0),
                                    None if se is None else se[:, a],
                                    description=f"{arch}: test NMSE per budget "
                                                f"{list(config.budgets)} (mean over seeds)")
        for a, arch in enumerate(_ARCHS)
    }
    measurements["sharing_factor"] = Measurement(
        share, description="max/min of shared and unshared tree median NMSE per budget "
        "(CLAIMS' proposal: within 2x)")
    measurements["n_params"] = Measurement(n_params, description="parameters per budget "
                                           "(rows) and architecture (shallow, tree, shared)")
    arrays = {"budgets": np.asarray(config.budgets), "nmse": nmse, "n_params": n_params,
              "table_shallow": shallow, "table_deep": deep}
    notes = [
        f"C1 (m = {config.smoothness}): " + "; ".join(
            f"n={n}, eps={e}: {shallow[i, j]:.3g} vs {deep[i, j]:.3g}"
            for i, n in enumerate(config.table_ns) for j, e in enumerate(config.table_eps)),
        f"C2: {config.n_train} train / {config.n_test} test points, {config.steps} Adam steps "
        f"(lr {config.lr}, batch {config.batch_size or 'full'}), {config.activation}, "
        f"{config.seeds} seeds. Median NMSE (shallow / tree / shared tree) per budget: "
        + "; ".join(f"P={b}: " + " / ".join(f"{v:.3g}" for v in med[i])
                    for i, b in enumerate(config.budgets)),
        "Weight sharing: the shared / unshared median NMSE factor per budget is "
        + ", ".join(f"{v:.2f}" for v in share) + " (shared better: "
        + ", ".join(str(bool(v)) for v in med[:, 2] < med[:, 1]) + "). CLAIMS proposes "
        "'within 2x'; on calibration the factor ranged from 2-4x in favour of sharing (quick "
        "preset) to 150x against it (full preset, P = 500), so it is reported, not checked.",
        "CLAIMS C2 uses 60k training points and 200 hyper-parameter searches in the paper; here "
        "one setting is trained per seed, so absolute NMSEs are not the paper's.",
    ]
    return ExperimentResult(checks=checks, measurements=measurements, arrays=arrays,
                            figures={"nmse_vs_budget": _figure(config.budgets, nmse)},
                            notes=notes, headline="tree_beats_shallow")


def _train_seed(config: Config, rng: np.random.Generator):
    import torch

    from ..expressivity import (
        DenseNet,
        TreeNet,
        binary_tree_function,
        fit_regression,
        torch_generator,
        tree_width_for_budget,
    )

    x = rng.uniform(-1.0, 1.0, size=(config.n_train + config.n_test, 8))
    f = binary_tree_function(x)
    mu, sd = f[: config.n_train].mean(), f[: config.n_train].std()
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor((f - mu) / sd, dtype=torch.float32)
    tr, te = slice(0, config.n_train), slice(config.n_train, None)
    var_test = float(yt[te].var(unbiased=False))
    out = np.empty((len(config.budgets), len(_ARCHS)))
    params = np.empty((len(config.budgets), len(_ARCHS)), dtype=np.int64)
    for b, budget in enumerate(config.budgets):
        for a, arch in enumerate(_ARCHS):
            gen = torch_generator(rng)
            if arch == "shallow":
                net = DenseNet(8, [max(1, (budget - 1) // 10)], config.activation, gen)
            else:
                shared = arch == "tree_shared"
                k = tree_width_for_budget(8, budget, shared)
                net = TreeNet(8, k, config.activation, gen, shared=shared)
            fit_regression(net, xt[tr], yt[tr], steps=config.steps, lr=config.lr,
                           batch_size=config.batch_size or None, gen=gen)
            with torch.no_grad():
                out[b, a] = float(((net(xt[te]) - yt[te]) ** 2).mean()) / var_test
            params[b, a] = net.n_params
    return out, params


def _figure(budgets, nmse):
    fig, (ax,) = new_figure(1, width=6.0)
    for a, arch in enumerate(_ARCHS):
        mean = nmse[:, :, a].mean(axis=0)
        err = nmse[:, :, a].std(axis=0, ddof=1) / np.sqrt(len(nmse)) if len(nmse) > 1 else None
        ax.errorbar(budgets, mean, yerr=err, fmt="o-", capsize=4, label=arch.replace("_", " "))
    ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel="test NMSE",
           title="8-variable binary-tree function")
    ax.legend(fontsize=8)
    return fig


SPEC = ExperimentSpec(
    id="compositional-deep-vs-shallow",
    title="Compositional functions: tree networks against shallow ones",
    claim="For a binary-tree compositional function, a network with the same tree beats a "
          "shallow one at equal parameter count (bounds: ε^(−n/m) against (n − 1) ε^(−2/m)).",
    source="Mhaskar, Liao & Poggio 2016 Thms 1-2; Poggio et al. 2017 Secs. 3-4, Figs. 3-4; "
           "CLAIMS.md C1, C2",
    config_cls=Config,
    run=run,
    citations=("mhaskar2016", "poggio2017"),
    statement=(
        "A shallow network needs O(ε^(−n/m)) units for a generic n-variable function of "
        "smoothness m; if the function is a binary tree of bivariate constituents, a network "
        "with the same tree needs only O((n − 1) ε^(−2/m)). Locality of the constituents, not "
        "weight sharing, gives the gain."
    ),
    formula=(
        "f = h₃(h₂₁(h₁₁(x₁,x₂), h₁₂(x₃,x₄)), h₂₂(h₁₃(x₅,x₆), h₁₄(x₇,x₈)))\n"
        "N_shallow = O(ε^(−n/m)),  N_tree = O((n − 1) ε^(−2/m));  n = 8, ε = 0.1, m = 1: 10⁸ vs 700"
    ),
)
