"""critical-point-index: critical-point index against the loss (Pennington-Bahri; Dauphin et al.).

Question: at a critical point of a network's loss, is the fraction of negative Hessian eigenvalues
(the index alpha) a function of the loss that is zero below a critical loss and grows above it,
and does a saddle-free step escape the saddles that Newton's method is drawn to?

Claims:
(a) Pennington & Bahri 2017, Secs. 3-4: model the Hessian as ``H0 + H1``, ``H0`` Wishart of ratio
phi (Marchenko-Pastur), ``H1`` Wigner of variance ``2 eps``; by free addition (R-transform
``1 / (1 - z phi) + 2 eps z``) the index is 0 for ``eps < eps_c`` with
``eps_c = (1 - 20 phi - 8 phi^2 + (1 + 8 phi)^{3/2}) / 16`` (Eq. 21) and grows as
``alpha ~ alpha0 |(eps - eps_c) / eps_c|^{3/2}`` above (Eq. 20).
(b) Pennington & Bahri Sec. 6 (Fig. 6) and Dauphin et al. 2014 Fig. 1: critical points of a
one-hidden-layer bias-free tanh network trained to memorise Gaussian targets lie on an increasing
curve alpha(eps), with ``eps = L / n`` and an empirical ``eps_c ~ (1 - phi)^2 / 2``,
``phi = 2n / m``.
(c) Dauphin et al. 2014 Sec. 4: Newton's method converges to a saddle; the saddle-free Newton step
``-|H|^{-1} g`` is repelled by it. Toy: ``f = x^2 - y^2 + y^4 / 4`` from ``(1, 1e-3)``.

What is measured: (a) negative-eigenvalue counts of ``X X^T / p + sqrt(2 eps) W`` (``N x N``,
``p = N / phi``, W a GOE of semicircle radius 2) over independent draws at several ``eps / eps_c``,
against the N -> inf index we compute ourselves from the free convolution (roots of the cubic for
the Stieltjes transform, density integrated below 0; module ``free_probability``), and
``eps_c`` found as the eps where the computed left edge of the density reaches 0, against Eq. 21;
the local log-log slope of the computed alpha at ``(eps - eps_c) / eps_c`` in [1e-3, 2e-3].
(b) per run: random init, gradient descent on L stopped after a random number of steps, then
Levenberg-Marquardt on ``grad L`` (``find_critical_point``) to ``||grad L||^2 <= 1e-6`` (the
paper's discard rule); the exact index from the dense Hessian. (c) 2-D iterations in float64.

Figures: alpha(eps) samples with error bars against the free-probability curve, eps_c marked
(P-B Fig. 3 style); index against eps = L / n for the network's critical points (Dauphin Fig. 1,
P-B Fig. 6).

Tolerances. eps_c (edge vs Eq. 21): relative 1e-9; both sides are computed to ~1e-14 (bisection
to 1e-15, the edge from a quartic root polished by Newton), so 1e-9 is rounding with a wide
margin. Exponent: the computed alpha is a deterministic curve whose local slope is
``3/2 + c delta + O(delta^2)``; the tolerance is twice the Richardson estimate of that next term
(slope at 2 delta minus slope at delta) plus 1e-4 for rounding. Sampled alpha vs the N -> inf
alpha: the count of eigenvalues below 0 near a soft edge differs from ``N alpha`` by O(1) at
finite N (edge fluctuations of order N^{-2/3} times a density of order N^{1/3} there); the
tolerance is ``edge_allowance / N`` with ``edge_allowance`` = 2 eigenvalues, calibrated on seeds
101-103: the largest ``|mean count - N alpha|`` over phi in {1/4, 1/2} and eps/eps_c in
{1.1, 1.25, 1.5, 2, 3} was 1.0 at N = 400 (6 draws) and 1.3 at N = 1500 (4 draws), typical
values 0.3-0.5; 2 eigenvalues bounds that bias, and the rule adds 2 stderr on top.
alpha = 0 well below eps_c: tolerance half an eigenvalue per matrix (0.5 / N). Spearman rho of
(eps, alpha) over kept runs: at least 0, with a bootstrap stderr over runs. Fitted eps_c: least
squares of ``alpha^{2/3}`` against eps over kept runs with alpha > 0 (Eq. 20 makes it linear),
bootstrap stderr over runs, within 20% of ``(1 - phi)^2 / 2``: the paper states that law as an
approximate best fit ("~") without an error bar, and 20% is our reading of "approximately",
not a derived number. Toy (c): ``||theta|| < 1e-6`` within 20 Newton steps (Dauphin's claim),
and ``|y| - sqrt 2`` below 1e-10 for saddle-free Newton (quadratic convergence to float64).

Refuted by: (a) sampled indices that stay 0 above eps_c or differ from the free-probability
curve by more than the finite-N allowance, an eps_c from the density edge that differs from
Eq. 21, or a computed exponent that is not 3/2; (b) a negative rank correlation between loss and
index, or a fitted eps_c outside 20% of (1 - phi)^2 / 2. These are evidence checks. Sanity checks:
the toy (c), where Newton reaching the saddle and saddle-free Newton reaching y = sqrt 2 follow
from the algebra of f (a demonstration of Dauphin et al.'s mechanism, not a test of it); the
critical-point search reaches the toy saddle and its index equals the dense eigvalsh count (our
instrument); enough network runs reach the gradient threshold for the fit (a validity condition).
``alpha_zero_below`` takes as its standard error the larger of the spread over matrix draws and
the Agresti-Coull error of the count of negative eigenvalues over all N x draws eigenvalues (so
that a draw-to-draw spread of exactly 0 does not claim certainty).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement, proportion_stderr

PAPER_GRAD_SQ_THRESHOLD = 1e-6
"""Pennington & Bahri Sec. 6: runs with ||grad L||^2 above this are discarded."""


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    phis: tuple[float, ...] = (0.25, 0.5)
    matrix_size: int = 1500
    matrix_draws: int = 8
    eps_ratios: tuple[float, ...] = (0.5, 0.9, 1.1, 1.25, 1.5, 2.0, 3.0)
    checked_ratios: tuple[float, ...] = (1.1, 1.5, 2.0, 3.0)
    edge_allowance: float = 2.0
    net_width: int = 10
    net_runs: int = 30
    gd_lr: float = 0.1
    gd_max_steps: int = 1000
    lm_max_iter: int = 150
    min_kept_runs: int = 5
    n_bootstrap: int = 500

    QUICK = {"matrix_size": 400, "matrix_draws": 6, "net_width": 8, "net_runs": 12,
             "phis": (0.5,)}

    def validate(self) -> None:
        from ..errors import UserInputError

        if not self.phis or any(not 0 < p < 1 for p in self.phis):
            raise UserInputError("phis must be non-empty, each in (0, 1)")
        if self.matrix_size < 50 or self.matrix_draws < 2:
            raise UserInputError("matrix_size must be >= 50 and matrix_draws >= 2")
        if min(self.eps_ratios) >= 1 or any(r not in self.eps_ratios for r in self.checked_ratios):
            raise UserInputError("eps_ratios need a value below 1 and must hold checked_ratios")
        if self.net_width < 2 or self.net_runs < 3 or self.n_bootstrap < 50:
            raise UserInputError("net_width >= 2, net_runs >= 3, n_bootstrap >= 50")


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    from .. import curvature as fp
    from ._threads import one_torch_thread

    config.validate()
    checks: list[Check] = []
    meas: dict[str, Measurement] = {}
    arrays: dict[str, np.ndarray] = {}
    N = config.matrix_size
    ratios = np.asarray(config.eps_ratios)
    rmt = {}
    for phi in config.phis:
        tag = f"phi{phi:g}".replace(".", "p")
        ec21, ec_edge = fp.critical_epsilon_closed_form(phi), fp.critical_epsilon(phi)
        checks.append(Check(
            f"eps_c_edge_vs_eq21_{tag}", f"phi={phi:g}: eps where the computed left edge of the "
            "free-convolution density reaches 0, against P-B Eq. 21", ec_edge, ec21, 1e-9,
            relative=True))
        free = np.array([fp.free_index(r * ec21, phi) for r in ratios])
        counts = np.array([fp.sample_negative_counts(N, phi, ratios * ec21, rng)
                           for _ in range(config.matrix_draws)])
        alpha = counts.mean(0) / N
        se = counts.std(0, ddof=1) / N / math.sqrt(config.matrix_draws)
        rmt[phi] = (ec21, free, alpha, se)
        arrays[f"alpha_sampled_{tag}"], arrays[f"alpha_free_{tag}"] = alpha, free
        below = int(np.argmin(ratios))
        checks.append(Check(
            f"alpha_zero_below_{tag}", f"phi={phi:g}: sampled index at eps = {ratios[below]:g} "
            "eps_c (P-B: 0 below eps_c); tolerance half an eigenvalue", float(alpha[below]), 0.0,
            0.5 / N, kind="statistical", stderr=max(float(se[below]), proportion_stderr(
                int(counts[:, below].sum()), N * config.matrix_draws))))
        for r in config.checked_ratios:
            i = int(np.nonzero(ratios == r)[0][0])
            checks.append(Check(
                f"alpha_vs_free_{tag}_r{r:g}".replace(".", "p"),
                f"phi={phi:g}, eps={r:g} eps_c: sampled index (N={N}, {config.matrix_draws} "
                "draws) against our free-probability N->inf index; tolerance "
                f"{config.edge_allowance:g}/N (finite-N edge, seeds 101-103)",
                float(alpha[i]), float(free[i]), config.edge_allowance / N, kind="statistical",
                stderr=float(se[i])))
        d = np.array([1e-3, 2e-3, 4e-3])
        a = np.array([fp.free_index(ec21 * (1 + x), phi) for x in d])
        s = np.diff(np.log(a)) / np.diff(np.log(d))
        checks.append(Check(
            f"alpha_exponent_{tag}", f"phi={phi:g}: local log-log slope of the free-probability "
            "index against (eps-eps_c)/eps_c in [1e-3, 2e-3] (P-B Eq. 20: 3/2)", float(s[0]),
            1.5, float(2 * abs(s[1] - s[0]) + 1e-4)))
        meas[f"eps_c_{tag}"] = Measurement(ec_edge, description="eps_c from the density edge")
        meas[f"alpha_sampled_{tag}"] = Measurement(
            alpha.tolist(), se.tolist(), description=f"sampled index at eps/eps_c = {list(ratios)}")

    with one_torch_thread():
        net = {phi: _network_runs(config, phi, rng) for phi in config.phis}
        toy = _toy(config)
    for phi, (eps, alpha, kept, n_runs, rho, rho_se, ec_fit, ec_se) in net.items():
        tag = f"phi{phi:g}".replace(".", "p")
        arrays[f"net_eps_{tag}"], arrays[f"net_alpha_{tag}"] = eps, alpha
        checks.append(Check(
            f"kept_runs_{tag}", f"phi={phi:g}: runs reaching ||grad L||^2 <= 1e-6 (of {n_runs})",
            kept, config.min_kept_runs, 0, kind="directional", comparison="at_least",
            role="sanity"))
        checks.append(Check(
            f"index_loss_spearman_{tag}", f"phi={phi:g}: Spearman rho of (loss, index) over kept "
            "critical points, bootstrap stderr (Dauphin Fig. 1: increasing)", rho, 0.0, 0.0,
            kind="directional", comparison="at_least", stderr=rho_se))
        emp = 0.5 * (1 - phi) ** 2
        checks.append(Check(
            f"eps_c_fit_{tag}", f"phi={phi:g}: eps_c fitted to alpha^(2/3) linear in eps, "
            "bootstrap stderr, against P-B's empirical (1-phi)^2/2", ec_fit, emp, 0.2,
            kind="statistical", stderr=ec_se, relative=True))
        meas[f"net_kept_{tag}"] = Measurement(
            [kept, n_runs], description="network runs reaching ||grad L||^2 <= 1e-6, of all runs")
        meas[f"net_spearman_{tag}"] = Measurement(
            rho, rho_se, description="Spearman rho of (loss, index), bootstrap stderr")
        meas[f"net_eps_c_fit_{tag}"] = Measurement(
            ec_fit, ec_se, description="eps_c fitted to the network's critical points")
    checks.extend(toy["checks"])
    for key, value in toy["values"].items():
        meas[f"toy_{key}"] = Measurement(value, description="toy f = x^2 - y^2 + y^4/4")
    figures = {"alpha_vs_eps": _rmt_figure(config, rmt),
               "index_vs_loss": _net_figure(net)}
    return ExperimentResult(
        checks=checks, measurements=meas, arrays=arrays, figures=figures,
        notes=[
            "Critical points by Levenberg-Marquardt on grad L: (H^2 + mu I) d = -H g, dense "
            "eigendecomposition of H each step; converges to critical points of any index.",
            "N -> inf index computed here from the cubic for the Stieltjes transform of the "
            "free sum, not from the paper's closed forms.",
        ],
        headline=f"alpha_vs_free_{_tag(config.phis[0])}_r1p5" if 1.5 in config.checked_ratios
        else checks[0].name,
        deviations=_deviations(config, net),
    )


def _tag(phi: float) -> str:
    return f"phi{phi:g}".replace(".", "p")


def _network_runs(config: Config, phi: float, rng: np.random.Generator):
    import torch
    from torch import nn

    from ..curvature import find_critical_point

    n = config.net_width
    m = max(2, int(round(2 * n / phi)))
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    X = torch.randn(m, n, generator=gen, dtype=torch.float64)
    Y = torch.randn(m, n, generator=gen, dtype=torch.float64)

    def loss(out, y):
        return 0.5 * ((out - y) ** 2).sum(1).mean()

    eps, alpha = [], []
    for _ in range(config.net_runs):
        model = nn.Sequential(nn.Linear(n, n, bias=False), nn.Tanh(),
                              nn.Linear(n, n, bias=False)).double()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / math.sqrt(n))
        steps = int(rng.integers(0, config.gd_max_steps + 1))
        opt = torch.optim.SGD(model.parameters(), lr=config.gd_lr)
        for _ in range(steps):
            opt.zero_grad()
            loss(model(X), Y).backward()
            opt.step()
        cp = find_critical_point(model, loss, (X, Y), max_iter=config.lm_max_iter,
                                 gtol=math.sqrt(PAPER_GRAD_SQ_THRESHOLD))
        if cp.converged:
            eps.append(cp.loss / n)
            alpha.append(cp.index.value)
    eps_a, alpha_a = np.asarray(eps), np.asarray(alpha)
    rho, rho_se, ec, ec_se = _spearman_and_fit(eps_a, alpha_a, config.n_bootstrap, rng)
    return eps_a, alpha_a, len(eps), config.net_runs, rho, rho_se, ec, ec_se


def _fit_eps_c(eps: np.ndarray, alpha: np.ndarray) -> float:
    mask = alpha > 0
    if mask.sum() < 3 or np.ptp(eps[mask]) == 0:
        return math.nan
    slope, intercept = np.polyfit(eps[mask], alpha[mask] ** (2 / 3), 1)
    return float(-intercept / slope) if slope > 0 else math.nan


def _spearman_and_fit(eps, alpha, n_boot, rng):
    from scipy.stats import spearmanr

    if eps.size < 3:
        return math.nan, math.nan, math.nan, math.nan
    rho = float(spearmanr(eps, alpha).statistic)
    ec = _fit_eps_c(eps, alpha)
    rhos, ecs = [], []
    for _ in range(n_boot):
        i = rng.integers(0, eps.size, eps.size)
        if np.ptp(eps[i]) > 0 and np.ptp(alpha[i]) > 0:
            rhos.append(spearmanr(eps[i], alpha[i]).statistic)
        ecs.append(_fit_eps_c(eps[i], alpha[i]))
    ecs_a = np.asarray(ecs)
    ecs_a = ecs_a[np.isfinite(ecs_a)]
    rho_se = float(np.std(rhos, ddof=1)) if len(rhos) > 1 else math.nan
    ec_se = float(np.std(ecs_a, ddof=1)) if ecs_a.size > 1 else math.nan
    return rho, rho_se, ec, ec_se


def _toy(config: Config) -> dict:
    import torch
    from torch import nn

    from ..curvature import find_critical_point

    def f(t):
        return t[0] ** 2 - t[1] ** 2 + t[1] ** 4 / 4

    grad, hess = torch.func.grad(f), torch.func.hessian(f)

    def iterate(saddle_free: bool, steps: int) -> tuple[torch.Tensor, int]:
        t = torch.tensor([1.0, 1e-3], dtype=torch.float64)
        for k in range(steps):
            lam, Q = torch.linalg.eigh(hess(t))
            lam = lam.abs() if saddle_free else lam
            t = t - Q @ ((Q.T @ grad(t)) / lam)
            if not saddle_free and float(t.norm()) < 1e-6:
                return t, k + 1
        return t, steps

    t_newton, k_newton = iterate(False, 20)
    t_sfn, _ = iterate(True, 60)

    class Point(nn.Module):
        def __init__(self):
            super().__init__()
            self.theta = nn.Parameter(torch.tensor([0.3, 0.2], dtype=torch.float64))

        def forward(self, x):
            return self.theta

    def closure(model, batch):
        return f(model(batch[0]))

    z = torch.zeros(1, 1, dtype=torch.float64)
    cp = find_critical_point(Point(), closure, (z, z))
    dense_neg = int((torch.linalg.eigvalsh(hess(cp.point)) < 0).sum())
    checks = [
        Check("newton_reaches_saddle", "toy: ||theta|| after Newton from (1, 1e-3), stopped at "
              "1e-6 or 20 steps (Dauphin Sec. 4: attracted to the saddle)",
              float(t_newton.norm()), 0.0, 1e-6, role="sanity"),
        Check("sfn_escapes_saddle", "toy: |y| - sqrt(2) after 60 saddle-free Newton steps "
              "-|H|^-1 g from (1, 1e-3) (Dauphin Sec. 4: reaches a minimum)",
              abs(float(t_sfn[1])) - math.sqrt(2), 0.0, 1e-10, role="sanity"),
        Check("search_finds_toy_saddle", "toy: ||point|| found by find_critical_point from "
              "(0.3, 0.2) (the saddle is (0, 0))", float(cp.point.norm()), 0.0, 1e-8,
              role="sanity"),
        Check("search_index_vs_eigvalsh", "toy: index from find_critical_point minus the dense "
              "eigvalsh count / 2 at the point found", cp.index.value - dense_neg / 2, 0.0, 0.0,
              role="sanity"),
    ]
    values = {"newton_point": t_newton.tolist(), "newton_steps": k_newton,
              "sfn_point": t_sfn.tolist(), "search_index": cp.index.value}
    return {"checks": checks, "values": values}


def _deviations(config: Config, net) -> list[str]:
    out = [f"random matrices N = {config.matrix_size}, {config.matrix_draws} draws per phi "
           "(P-B compare with the N -> inf theory only)"]
    for phi, (_, _, kept, n_runs, *_rest) in net.items():
        m = max(2, int(round(2 * config.net_width / phi)))
        out.append(f"network phi = {phi:g}: width n = {config.net_width} (paper: 16), m = {m} "
                   f"samples, {n_runs} runs of which {kept} reached ||grad L||^2 <= 1e-6 "
                   "(paper: ~50,000 runs over six phi)")
    out.append("critical points by Levenberg-Marquardt on grad L (paper: gradient descent on "
               "||grad L||^2); Dauphin's MNIST/CIFAR networks, Krylov saddle-free Newton and "
               "saddle-free Newton on the network are not run")
    return out


def _rmt_figure(config, rmt):
    from .. import curvature as fp

    fig, (ax,) = new_figure(1, width=6.0)
    for phi, (ec, _, alpha, se) in rmt.items():
        grid = np.linspace(0.3, max(config.eps_ratios), 120)
        curve = [fp.free_index(r * ec, phi) for r in grid]
        (line,) = ax.plot(grid, curve, "-", label=f"free probability, φ = {phi:g}")
        ax.errorbar(config.eps_ratios, alpha, yerr=2 * se, fmt="o", color=line.get_color(),
                    ms=4, label=f"N = {config.matrix_size} samples, φ = {phi:g}")
    ax.axvline(1.0, color="k", ls=":", lw=1, label="ε_c (Eq. 21)")
    ax.set(xlabel="ε / ε_c", ylabel="index α", title="Index of H0 + H1 (Wishart + Wigner)")
    ax.legend(fontsize=7)
    return fig


def _net_figure(net):
    fig, (ax,) = new_figure(1, width=6.0)
    for phi, (eps, alpha, *_rest) in net.items():
        (pts,) = ax.plot(eps, alpha, "o", ms=4, label=f"critical points, φ = {phi:g}")
        ax.axvline(0.5 * (1 - phi) ** 2, color=pts.get_color(), ls=":", lw=1,
                   label=f"(1−φ)²/2 = {0.5 * (1 - phi) ** 2:.3g}")
    ax.set(xlabel="ε = L / n", ylabel="index α", title="Index against loss (tanh network)")
    ax.legend(fontsize=7)
    return fig


SPEC = ExperimentSpec(
    id="critical-point-index",
    title="Index of critical points against the loss",
    claim="Critical points have index 0 below eps_c (Eq. 21) and ~(eps - eps_c)^{3/2} above; "
          "Newton is drawn to saddles, saddle-free Newton is not.",
    source="Pennington & Bahri 2017 Secs. 3-6, Eqs. 20-21, Fig. 6; Dauphin et al. 2014 Secs. "
           "4-5, Fig. 1",
    config_cls=Config,
    run=run,
    citations=("pennington2017", "dauphin2014", "bray2007"),
    statement=(
        "Modelling the Hessian at a critical point as Wishart plus Wigner, free probability "
        "predicts that the fraction of negative eigenvalues vanishes below a critical loss "
        "eps_c and grows as (eps - eps_c)^{3/2} above it; networks' critical points follow an "
        "increasing index-loss curve, and Newton's method converges to saddles that the "
        "saddle-free step -|H|^-1 g escapes."
    ),
    formula=(
        "R(z) = 1/(1 - φz) + 2εz;  α(ε, φ) ≈ α0 |(ε - ε_c)/ε_c|^{3/2}\n"
        "ε_c = (1 - 20φ - 8φ² + (1 + 8φ)^{3/2}) / 16;  network: ε_c ≈ (1 - φ)²/2\n"
        "SFN: Δθ = -|H|⁻¹ ∇f"
    ),
)
