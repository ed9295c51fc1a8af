"""edge-of-stability: full-batch gradient descent drives the sharpness to 2/eta and stays there.

Question: when a network is trained by full-batch gradient descent with step size eta, does the
sharpness S = lambda_max(Hessian of the training loss) rise during training (progressive
sharpening) until it reaches the classical stability limit 2/eta, and then hover at or just above
2/eta while the loss still falls over long spans, though not monotonically?

Claim: Cohen, Kaur, Li, Kolter & Talwalkar 2021 (abstract, Sec. 3, Fig. 1): under full-batch GD
the sharpness first rises (progressive sharpening) until it reaches 2/eta and then "hovers just
above the numerical value 2/(step size)" (the edge of stability), where GD on the local quadratic
model would diverge (x <- (1 - eta S) x grows iff eta S > 2); the train loss behaves
non-monotonically over short time scales yet decreases over long ones.

What is measured (float64 throughout): per seed, ``n_samples`` digits drawn from the scikit-learn
digits training split (pixels in [0, 1], centred over the subset), one-hot targets, a tanh MLP
64-w-w-10 with PyTorch's default uniform(+-1/sqrt(fan_in)) initialisation drawn from ``rng`` and
the loss L = (1/2N) sum_i |f(x_i) - y_i|^2 (Cohen et al.'s squared loss). From the same
initialisation, full-batch GD with every eta in ``step_sizes`` for ``time_budget / eta`` steps (the
same gradient-flow time eta t for every run), plus a control run with eta_c = 0.4 min(step_sizes).
The loss is recorded at every step; S at ``sharpness_points + 1`` evenly spaced steps (0 and the
last included) with deepscope.curvature: an exact Hessian-vector-product operator
(``HessianOperator``, Pearlmutter R-operator, on torch's mean MSE; S = (C/2) lambda_max of that,
C = 10 outputs) and Krylov-Schur Lanczos (``eigenvalues``, k = 1, true residual <= ``lanczos_tol``
lambda), warm-started from the previous top eigenvector. The number of Hessian-vector products is
reported. The late window is the second half of each run (t >= steps/2); the step sizes and
``time_budget`` were set on calibration seeds (never seed 0) so that every run reached 2/eta in or
near the start of its late window: the latest first crossing of 2/eta was at eta t = 280 of 800
(full preset, seeds 101-102, eta = 0.3) and 250 of 500 (quick, seeds 101-103, eta = 0.3). A first
full-preset draft with eta = 0.2 at the same budget failed on seed 101: S reached 2/eta only
after eta t = 500-720, or never, close to where the control's S levels off (about 10 = 2/0.2), so
eta = 0.2 needs a longer budget than the full preset affords. Float64 is affordable here (about
1 ms per step and 2-4 ms per Hessian-vector product at N = 500 on one core).

Figure (Cohen et al. Fig. 1 style, first seed): the train loss and the sharpness against the step
for every eta, with the lines 2/eta in the same colours and the control dashed; and the per-seed
late-window median of S eta / 2 for every eta.

Tolerances. Edge band: the mean over seeds of the late-window median of S eta / 2 must lie within
``band`` = 0.1 of 1 (two-sided rule with its standard error over seeds). The band is a proposal
checked on the calibration seeds, where the per-seed medians lay in [1.004, 1.039] (full preset,
seeds 101-102) and [1.006, 1.037] (quick, seeds 101-103), so 0.1 leaves a margin of about 2.5;
it separates the claim from its two alternatives, a sharpness that does not reach 2/eta (the
control's S eta_c / 2 stayed below 0.72 there) and one unaffected by eta (the control's S
overtook 2/eta_min by a factor 1.5-1.6 there).
Progressive sharpening: the rise (median late S - S_0) eta / 2 must exceed the same ``band`` (a
rise the band cannot resolve from "S_0 was already at 2/eta"; no sharpening gives 0). The
control, with a step 0.4 times the smallest, must (i) keep S below its own 2/eta_c (threshold 0, so
the effect is not an artefact of the measurement or of the step size entering it), (ii) never
increase the loss (descent lemma: below 2/eta GD on a locally quadratic loss descends; this shows
the increases in the main runs are not rounding noise; strict comparison, threshold 0), and
(iii) carry S above (1 + band) 2/eta_min on average over seeds, so that the plateau at 2/eta_min is
caused by the step size, not by a sharpness the landscape would reach anyway. Loss: every seed
and eta has at least one loss increase in the late window (the claim's wording), and every mean
loss over the last tenth of the late window is below that over its first tenth. Sanity: every
Lanczos pair converged with its true residual, and S agrees with v^T H v / v^T v computed by an
independent double-backward Hessian-vector product of the 1/2-sum loss at the end of every run of
the first seed, within N (d_in + 2 w + C) u (the standard summation bound for the dot products of
length <= d_in + 2 w + C summed over N samples, Higham 2002 Sec. 3.1; u the unit round-off).

Refuted by: a late-window median S eta / 2 outside [0.9, 1.1] for some eta (a sharpness that stays
below 2/eta, or that crosses it and keeps growing while GD still converges), no rise of S from
its initial value, a loss that never rises at the edge or does not fall over the late window, or a
control that crosses its own 2/eta_c, increases its loss, or fails to overtake 2/eta_min (then the
plateau is a property of the landscape, not of the step size). Evidence checks:
``edge_ratio_eta_*`` (statistical), ``sharpening_eta_*``, ``loss_nonmonotone``, ``loss_falls``,
``control_below_own_edge``, ``control_loss_monotone``, ``control_exceeds_edge`` (directional).
Sanity checks: ``lanczos_converged``, ``sharpness_independent_hvp`` (exact).
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement
from ._digits import N_CLASSES, digits_subset
from ._threads import one_torch_thread

N_INPUTS = 64
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2
CONTROL_FACTOR = 0.4
"""The control step is this fraction of the smallest step size."""


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    n_samples: int = 500
    width: int = 32
    step_sizes: tuple[float, ...] = (0.5, 0.4, 0.3)
    time_budget: float = 800.0
    n_seeds: int = 4
    sharpness_points: int = 40
    band: float = 0.1
    lanczos_tol: float = 1e-4

    QUICK = {"step_sizes": (0.4, 0.3), "time_budget": 500.0, "n_seeds": 3,
             "sharpness_points": 20, "n_samples": 200}

    def validate(self) -> None:
        from ..errors import UserInputError

        if not 20 <= self.n_samples <= 1437:
            raise UserInputError("n_samples must be in [20, 1437] (the digits training split)")
        if not 1 <= self.width <= 256:
            raise UserInputError("width must be in [1, 256]")
        etas = self.step_sizes
        if len(etas) < 2 or len(set(etas)) != len(etas) or not all(0 < e <= 10 for e in etas):
            raise UserInputError("step_sizes: at least two distinct values in (0, 10]")
        if not self.time_budget > 0 or self.time_budget / (CONTROL_FACTOR * min(etas)) > 200_000:
            raise UserInputError("time_budget must be > 0 with at most 200,000 control steps")
        if self.n_seeds < 2 or self.sharpness_points < 4:
            raise UserInputError("n_seeds must be >= 2 and sharpness_points >= 4")
        if not 0 < self.band < 0.5 or not 0 < self.lanczos_tol < 1e-2:
            raise UserInputError("band must be in (0, 0.5) and lanczos_tol in (0, 1e-2)")


def half_squared_error(output, target):
    """L = (1/2N) sum_i |f(x_i) - y_i|^2 (Cohen et al.'s squared loss)."""
    return 0.5 * ((output - target) ** 2).sum(dim=-1).mean()


def mlp(width: int, rng: np.random.Generator):
    """64-w-w-10 tanh MLP in float64, PyTorch's default uniform init drawn from ``rng``."""
    import torch

    model = torch.nn.Sequential(
        torch.nn.Linear(N_INPUTS, width), torch.nn.Tanh(), torch.nn.Linear(width, width),
        torch.nn.Tanh(), torch.nn.Linear(width, N_CLASSES)).to(torch.float64)
    with torch.no_grad():
        for layer in model[::2]:
            bound = 1.0 / math.sqrt(layer.in_features)
            for p in (layer.weight, layer.bias):
                p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape))))
    return model


def sharpness(model, X, Y, tol: float, v0=None, seed: int = 0):
    """S = lambda_max of the Hessian of ``half_squared_error`` by Lanczos on exact products.

    torch's mean MSE averages over N C entries, so the Hessian of L is C/2 times its Hessian.
    Returns (S, unit eigenvector, converged, true residual relative to lambda, products used).
    """
    import torch

    from ..curvature import HessianOperator, eigenvalues

    op = HessianOperator(model, torch.nn.MSELoss(), (X, Y), mode="pearlmutter",
                         check_determinism=False)
    res = eigenvalues(op, k=1, which="largest", tol=tol, seed=seed, v0=v0, block_size=1)
    lam = float(res.values[0])
    return (0.5 * N_CLASSES * lam, res.vectors[:, 0].clone(), bool(res.converged[0]),
            float(res.residuals[0]) / abs(lam), int(res.n_matvecs))


def rayleigh_double_backward(model, X, Y, v):
    """v^T H v / v^T v for L = half_squared_error, by double backward (independent of the R-op)."""
    import torch

    params = [p.detach().clone().requires_grad_() for p in model.parameters()]
    names = [n for n, _ in model.named_parameters()]
    out = torch.func.functional_call(model, dict(zip(names, params)), (X,))
    grads = torch.autograd.grad(half_squared_error(out, Y), params, create_graph=True)
    vs = torch.split(v, [p.numel() for p in params])
    dot = sum((g * u.reshape(g.shape)).sum() for g, u in zip(grads, vs))
    hv = torch.cat([h.reshape(-1) for h in torch.autograd.grad(dot, params)])
    return float(v @ hv / (v @ v))


def gd_step(weights, X, Y, eta: float) -> float:
    """One full-batch GD step in place on [W1, b1, W2, b2, W3, b3]; returns L before the step.

    Forward and backward of the 64-w-w-10 tanh MLP written out (about a third faster than
    autograd at these sizes; the tests compare it with autograd).
    """
    import torch

    W1, b1, W2, b2, W3, b3 = weights
    n = X.shape[0]
    with torch.no_grad():
        a1 = torch.tanh(torch.addmm(b1, X, W1.T))
        a2 = torch.tanh(torch.addmm(b2, a1, W2.T))
        r = torch.addmm(b3, a2, W3.T).sub_(Y)
        loss = 0.5 * float((r * r).sum()) / n
        r.div_(n)
        d2 = (r @ W3).mul_(1 - a2 * a2)
        d1 = (d2 @ W2).mul_(1 - a1 * a1)
        grads = (d1.T @ X, d1.sum(0), d2.T @ a1, d2.sum(0), r.T @ a2, r.sum(0))
        for p, g in zip(weights, grads):
            p.sub_(g, alpha=eta)
    return loss


def gradient_descent(model, X, Y, eta: float, steps: int, points: int, tol: float, seed: int):
    """Full-batch GD; the loss at every step and S at ``points + 1`` evenly spaced steps."""
    import torch

    at = np.unique(np.round(np.linspace(0, steps, points + 1)).astype(int))
    weights = [p.data for p in model.parameters()]
    loss = np.empty(steps + 1)
    S, conv, resid = np.empty(len(at)), np.empty(len(at), dtype=bool), np.empty(len(at))
    v, n_hvp, j = None, 0, 0
    for t in range(steps + 1):
        if t == at[j]:
            S[j], v, conv[j], resid[j], n = sharpness(model, X, Y, tol, v0=v, seed=seed)
            n_hvp += n
            j += 1
        if t == steps:
            with torch.no_grad():
                loss[t] = float(half_squared_error(model(X), Y))
            break
        loss[t] = gd_step(weights, X, Y, eta)
    return {"loss": loss, "steps": at, "S": S, "converged": conv, "residual": resid,
            "n_hvp": n_hvp, "v": v, "eta": eta}


def summarise(run: dict) -> dict:
    """Late-window statistics of one GD run (the window is the second half, t >= steps / 2)."""
    eta, S, loss = run["eta"], run["S"], run["loss"]
    steps = len(loss) - 1
    late = run["steps"] >= steps / 2
    window = loss[steps // 2:]
    tenth = max(1, len(window) // 10)
    median = float(np.median(S[late]))
    diffs = np.diff(window)
    return {
        "ratio": median * eta / 2, "rise": (median - S[0]) * eta / 2, "s0": float(S[0]),
        "max_ratio": float(S.max()) * eta / 2, "ups": int(np.sum(diffs > 0)),
        "frac_up": float(np.mean(diffs > 0)), "ups_all": int(np.sum(np.diff(loss) > 0)),
        "fall": float(np.log(window[-tenth:].mean() / window[:tenth].mean())),
        "s_max": float(S.max()),
        "crossing": float(eta * run["steps"][np.argmax(S * eta / 2 >= 1)])
        if np.any(S * eta / 2 >= 1) else float("nan"),
    }


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    config.validate()
    with one_torch_thread():
        seeds = [_run_seed(config, np.random.default_rng(rng.integers(2**63)), first=s == 0)
                 for s in range(config.n_seeds)]
    return _result(config, seeds)


def _run_seed(config: Config, rng: np.random.Generator, first: bool) -> dict:

    X, _, Y = digits_subset(config.n_samples, rng)
    base = mlp(config.width, rng)
    lanczos_seed = int(rng.integers(2**31))
    etas = list(config.step_sizes) + [CONTROL_FACTOR * min(config.step_sizes)]
    runs, rayleigh = [], []
    for eta in etas:
        model = copy.deepcopy(base)
        steps = int(round(config.time_budget / eta))
        r = gradient_descent(model, X, Y, eta, steps, config.sharpness_points,
                             config.lanczos_tol, lanczos_seed)
        if first:
            q = rayleigh_double_backward(model, X, Y, r["v"])
            rayleigh.append(abs(q - r["S"][-1]) / abs(q))
        r["summary"] = summarise(r)
        runs.append(r)
    return {"runs": runs[:-1], "control": runs[-1], "rayleigh": rayleigh,
            "P": sum(p.numel() for p in base.parameters())}


def _mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, dtype=float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def _result(config: Config, seeds: list[dict]) -> ExperimentResult:
    etas, band = list(config.step_sizes), config.band
    eta_c, eta_min = CONTROL_FACTOR * min(etas), min(etas)
    summ = [[s["runs"][i]["summary"] for s in seeds] for i in range(len(etas))]
    ctrl = [s["control"]["summary"] for s in seeds]
    every = [r for s in seeds for r in s["runs"] + [s["control"]]]
    checks, measurements = [], {}
    for eta, rows in zip(etas, summ):
        m, se = _mean_se([r["ratio"] for r in rows])
        checks.append(Check(
            f"edge_ratio_eta_{eta:g}", f"eta = {eta:g}: late-window (t >= steps/2) median of "
            f"S eta / 2, mean over {len(rows)} seeds (edge of stability: 1, band +-{band:g})",
            m, 1.0, band, kind="statistical", stderr=se))
        measurements[f"edge_ratio_eta_{eta:g}"] = Measurement(m, se, description="late median "
                                                              "S / (2/eta), mean over seeds")
        rise, rise_se = _mean_se([r["rise"] for r in rows])
        checks.append(Check(
            f"sharpening_eta_{eta:g}", f"eta = {eta:g}: rise (late median S - S_0) eta / 2, "
            f"mean over seeds (progressive sharpening: more than the band {band:g})",
            rise, band, 0.0, kind="directional", comparison="at_least", stderr=rise_se))
        measurements[f"initial_sharpness_eta_{eta:g}"] = Measurement(
            *_mean_se([r["s0"] for r in rows]), description=f"S_0 (2/eta = {2 / eta:g})")
        measurements[f"late_sharpness_eta_{eta:g}"] = Measurement(
            *_mean_se([r["ratio"] * 2 / eta for r in rows]), description="late median S")
        measurements[f"loss_up_fraction_eta_{eta:g}"] = Measurement(
            *_mean_se([r["frac_up"] for r in rows]), description="fraction of late-window "
            "steps that increase the loss")
    main = [r for rows in summ for r in rows]
    ctrl_up, ctrl_up_se = _mean_se([r["s_max"] * eta_min / 2 for r in ctrl])
    checks += [
        Check("loss_nonmonotone", "min over step sizes and seeds of the number of late-window "
              "steps with L_{t+1} > L_t (the loss rises at least once)",
              min(r["ups"] for r in main), 1, 0, kind="directional", comparison="at_least"),
        Check("loss_falls", "max over step sizes and seeds of ln(mean L over the last tenth / "
              "mean L over the first tenth of the late window) (falls over the long span)",
              max(r["fall"] for r in main), 0.0, 0.0, kind="directional", comparison="at_most"),
        Check("control_below_own_edge", f"control eta_c = {eta_c:g}: max over seeds and steps of "
              "S eta_c / 2 (stays below 2/eta_c)", max(r["max_ratio"] for r in ctrl), 1.0, 0.0,
              kind="directional", comparison="at_most"),
        Check("control_loss_monotone", "control: max over seeds of the number of steps with "
              "L_{t+1} > L_t over the whole run (stable GD descends)",
              max(r["ups_all"] for r in ctrl), 0, 0, kind="directional", comparison="at_most"),
        Check("control_exceeds_edge", f"control: max_t S / (2/eta_min), eta_min = {eta_min:g}, "
              f"mean over seeds (>= 1 + band: the plateau is set by eta, not the landscape)",
              ctrl_up, 1.0 + band, 0.0, kind="directional", comparison="at_least",
              stderr=ctrl_up_se),
    ]
    n_bad = sum(int(np.sum(~r["converged"])) for r in every)
    worst = max(float(r["residual"].max()) for r in every)
    tol_hvp = config.n_samples * (N_INPUTS + 2 * config.width + N_CLASSES) * UNIT_ROUNDOFF
    checks += [
        Check("lanczos_converged", "Lanczos computations of S not converged (true residual "
              f"<= {config.lanczos_tol:g} lambda)", n_bad, 0, 0, role="sanity"),
        Check("sharpness_independent_hvp", "max relative difference between S and v^T H v / "
              "v^T v by double backward of the 1/2-sum loss at the end of each run, first seed "
              "(tolerance N (d_in + 2w + C) u)", max(seeds[0]["rayleigh"]), 0.0, tol_hvp,
              role="sanity"),
    ]
    n_hvp = sum(r["n_hvp"] for r in every)
    measurements.update({
        "control_max_sharpness": Measurement(*_mean_se([r["s_max"] for r in ctrl]),
                                             description=f"control (eta = {eta_c:g}) max S"),
        "control_exceeds_edge": Measurement(ctrl_up, ctrl_up_se, description="control max S / "
                                            f"(2/{eta_min:g})"),
        "hessian_vector_products": Measurement(n_hvp, description="total, all runs"),
        "hvp_per_sharpness": Measurement(n_hvp / sum(len(r["S"]) for r in every),
                                         description="mean per Lanczos call (warm started)"),
    })
    arrays = {}
    first = seeds[0]
    for r in first["runs"] + [first["control"]]:
        arrays[f"loss_eta_{r['eta']:g}"] = r["loss"]
        arrays[f"sharpness_eta_{r['eta']:g}"] = np.stack([r["steps"], r["S"]])
    arrays["edge_ratio"] = np.array([[r["ratio"] for r in rows] for rows in summ])
    arrays["initial_sharpness"] = np.array([[r["s0"] for r in rows] for rows in summ])
    arrays["crossing_time"] = np.array([[r["crossing"] for r in rows] for rows in summ])
    arrays["control_max_sharpness"] = np.array([r["s_max"] for r in ctrl])
    crossing = np.max(arrays["crossing_time"])  # nan if some run never reached 2/eta
    return ExperimentResult(
        checks=checks, measurements=measurements, arrays=arrays,
        figures={"sharpness_and_loss": _figure(first, etas, summ)},
        notes=[
            f"P = {first['P']} parameters, N = {config.n_samples}, float64, one thread; "
            f"{n_hvp} Hessian-vector products in all.",
            f"Latest first crossing of 2/eta: eta t = {crossing:.0f} (late window from "
            f"{config.time_budget / 2:g}).",
            f"Independent-HVP tolerance {tol_hvp:.2g}; worst Lanczos residual {worst:.2g}.",
        ],
        headline=f"edge_ratio_eta_{eta_min:g}",
        deviations=_deviations(config, first["P"]),
    )


def _deviations(config: Config, P: int) -> list[str]:
    w, full = config.width, Config()
    out = [
        f"tanh MLP {N_INPUTS}-{w}-{w}-{N_CLASSES} ({P} parameters) on {config.n_samples} "
        "scikit-learn digits with the squared loss (Cohen et al.: a 5k CIFAR-10 subset, "
        "fully-connected tanh/ReLU networks of width 200, CNNs and VGG, MSE and cross-entropy)",
        "step sizes " + ", ".join(f"{e:g}" for e in config.step_sizes) + f" and a control at "
        f"{CONTROL_FACTOR * min(config.step_sizes):g}, each for gradient-flow time eta t = "
        f"{config.time_budget:g} (Cohen et al. train until the loss reaches a threshold)",
        f"{config.n_seeds} seeds (data subset and initialisation); S measured at "
        f"{config.sharpness_points + 1} points per run, not at every step",
        "not measured: cross-entropy (where S later falls), SGD, the catapult dynamics and the "
        "self-stabilisation mechanism",
    ]
    if (config.n_samples, config.n_seeds, config.time_budget) != (
            full.n_samples, full.n_seeds, full.time_budget) or config.step_sizes != full.step_sizes:
        out.append(f"N = {config.n_samples}, {config.n_seeds} seeds, eta t = "
                   f"{config.time_budget:g}, {len(config.step_sizes)} step sizes (full preset: "
                   f"{full.n_samples}, {full.n_seeds}, {full.time_budget:g}, "
                   f"{len(full.step_sizes)})")
    return out


def _figure(first: dict, etas: list, summ: list):
    fig, (ax1, ax2, ax3) = new_figure(3, width=4.6)
    runs = first["runs"] + [first["control"]]
    for i, r in enumerate(runs):
        ctrl = i == len(runs) - 1
        color, ls = f"C{i}", "--" if ctrl else "-"
        label = f"η = {r['eta']:g}" + (" (control)" if ctrl else "")
        ax1.semilogy(np.arange(len(r["loss"])), r["loss"], color=color, ls=ls, lw=1,
                     label=label)
        ax2.plot(r["steps"], r["S"], color=color, ls=ls, marker="o", ms=2, lw=1, label=label)
        ax2.axhline(2 / r["eta"], color=color, ls=":", lw=1)
    ax1.set(xlabel="step", ylabel="train loss", title="Train loss (full-batch GD)")
    ax1.legend(fontsize=7)
    ax2.set_ylim(0, 1.08 * max(max(2 / r["eta"], r["S"].max()) for r in runs))
    ax2.set(xlabel="step", ylabel="sharpness λ_max(∇²L)", title="Sharpness; dotted: 2/η")
    ax2.legend(fontsize=7)
    for i, (eta, rows) in enumerate(zip(etas, summ)):
        ratios = [r["ratio"] for r in rows]
        ax3.plot(np.full(len(ratios), eta), ratios, "o", color=f"C{i}", ms=5)
    ax3.axhline(1.0, color="k", lw=1)
    ax3.set(xlabel="step size η", ylabel="late median S / (2/η)",
            title="Edge of stability, per seed")
    return fig


SPEC = ExperimentSpec(
    id="edge-of-stability",
    title="Edge of stability under full-batch gradient descent",
    claim="Under full-batch GD the sharpness rises to 2/η and hovers at or just above it, while "
          "the loss falls non-monotonically.",
    source="Cohen, Kaur, Li, Kolter & Talwalkar 2021 (ICLR), Secs. 3.1-3.2, Fig. 1",
    config_cls=Config,
    run=run,
    citations=("cohen2021",),
    statement=(
        "Gradient descent on a quadratic with curvature S diverges when the step size exceeds "
        "2/S. Trained by full-batch GD, neural networks nevertheless do not stay in the region "
        "where the sharpness S = λ_max(∇²L) is below 2/η: S rises during training (progressive "
        "sharpening) until it reaches 2/η, then hovers at or just above it (the edge of "
        "stability), while the train loss keeps falling over long spans but rises over short "
        "ones. With a smaller step, S keeps rising past the larger step's 2/η."
    ),
    formula=(
        "S(θ) = λ_max(∇²L(θ)),  L = (1/2N) Σ_i |f(x_i; θ) − y_i|²,  θ ← θ − η ∇L(θ)\n"
        "quadratic model: x ← (1 − ηS) x is stable iff S < 2/η\n"
        "claim: S_t ↑ until S_t ≈ 2/η, then median S over late t ≈ 2/η; L_t ↓ on average, "
        "L_{t+1} > L_t for some late t"
    ),
)
