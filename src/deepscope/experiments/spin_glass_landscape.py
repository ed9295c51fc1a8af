"""spin-glass-landscape: minima of the spherical 3-spin glass and losses of one-hidden-layer nets.

Question: do gradient-descent minima of the spherical 3-spin glass, the model Choromanska et al.
map a deep ReLU network's loss onto, concentrate in energy as the dimension Lambda grows, move
toward the band between the ground state -E_0 and the threshold -E_inf, and never fall below the
ground state? And do the test losses of small networks trained from many random starts concentrate
as the hidden layer widens, with train and test losses decorrelating?

Claim: Choromanska et al. 2015 (Sec. 3, the band of low-index critical values; Sec. 5, Figs.
3-4, Table 1), built on Auffinger, Ben Arous & Cerny 2013 (the complexity Theta_p of critical
values and the law of the Hessian at a critical point): for
H(w) = Lambda^{-1} sum_{ijk} J_ijk w_i w_j w_k, J_ijk i.i.d. N(0, 1), ||w||^2 = Lambda (so
Var H(w) = Lambda, the normalisation of both papers for p = 3), the critical values of low index
concentrate in the band (-Lambda E_0, -Lambda E_inf) with E_inf = 2 sqrt((p-1)/p) = 1.63299 and
E_0 = 1.65700 (the zero of the complexity Theta_3; we compute it from Auffinger et al.'s formula,
the papers quote 1.657); minima far below -Lambda E_0 are exponentially rare, and descent from
random starts ends at minima whose energies concentrate as Lambda grows (paper: Lambda = 25..500,
1,000 runs each). For networks (Sec. 5): the scaled test losses of 1,000 one-hidden-layer nets on
MNIST 10x10 concentrate as the width n1 grows (Fig. 3), and the Pearson correlation between train
and test loss falls with n1 (Table 1: 0.7616, 0.6861, 0.5983, 0.5302, 0.4081 for
n1 = 25, 50, 100, 250, 500).

What is measured. (a) For each Lambda in ``sizes``, ``n_disorder`` coupling draws and
``n_starts`` uniform random starts on the sphere each: heavy-ball projected gradient descent on the
sphere (float32 steps until ||grad_R|| <= 1e-2 sqrt(Lambda)) finished by Riemannian Newton steps in
float64 (only while the exact tangent Hessian is positive definite; else back to gradient steps)
to ||grad_R|| <= ``grad_tol`` sqrt(Lambda); at every end point, in float64: the energy per site
H / Lambda, the Riemannian gradient, and the full spectrum of the exact tangent Hessian
Q^T (D^2 H - 3 (H / Lambda) I) Q (Lambda - 1 eigenvalues; deepscope.landscape.
spin_glass). (b) On scikit-learn's digits, ``n_seeds`` ReLU nets 64-n1-10 per width n1, trained
side by side by minibatch SGD on cross-entropy; final train and test losses.

Figures: histograms of the minima's energies per site for each Lambda with -E_inf and -E_0
marked (in the manner of Choromanska et al.'s energy histograms), with lambda_min of the tangent
Hessian against the energy; the distribution of final test losses per width and train against
test loss (their Fig. 3 and Table 1).

Tolerances and error bars. Every spread, mean and correlation carries a bootstrap standard error
(``n_boot`` resamples): over disorder draws (whole draws resampled, since the starts of one draw
share its minima) for (a), over seeds for (b). ``energy_spread_shrinks`` (s.d. ratio largest /
smallest Lambda), ``mean_energy_moves_down``, ``test_loss_spread_shrinks`` (s.d. ratio widest /
narrowest) and ``train_test_correlation_falls`` are orderings with tolerance 0: the claim's
direction, nothing fitted. ``none_below_ground_state``: the margin x(Lambda) below -E_0 is
derived from Auffinger et al.'s complexity by a first-moment bound, Lambda Theta_3(-E_0 - x) =
-``log_count`` = -3 (at exponential order, e^-3 = 5% expected critical points below
-E_0 - x; sub-exponential prefactors ignored): x = 0.142, 0.079, 0.042, 0.029 for Lambda = 25,
50, 100, 150. The fraction of minima below it is statistical (standard error: the larger of a
bootstrap over whole disorder draws, since starts of one draw share minima, and the Agresti-Coull
error of independent runs, a floor when no run falls below) with
tolerance 0.05, a proposal (a finite-size tail that caught 5% of runs would contradict
"exponentially rare"; fewer is below what a few hundred runs resolve): on seeds 101-103 (quick)
0, 0 and 2/72 runs (one deep minimum of one Lambda = 100 draw, found twice) fell below.
``hessian_semicircle_radius``: twice the s.d. of the tangent-Hessian spectrum at the minima of
the largest Lambda against 2 sqrt(p(p-1)) = 4.899 (Auffinger et al.: at a critical
point of energy per site u the Hessian is a GOE of this radius shifted by -p u, which is where
E_inf = radius / p comes from); the finite-size deficit shrinks with Lambda and was 0.8-1.4% at
Lambda = 100 (quick, seeds 101-103) and 0.8% at Lambda = 150 (full, seed 101), so the relative
tolerance 0.02 is calibrated on seeds 101-103, never on seed 0. Sanity tolerances: the Newton
polish stops at ||grad_R|| / sqrt(Lambda) <= ``grad_tol`` = 1e-10, far above the float64 rounding
floor of the gradient (about 64 Lambda eps |g| ~ 1e-11); lambda_min / ||Hess||_2 >= -64 Lambda
eps (a backward-stable symmetric eigensolver is accurate to c n eps ||H||_2).

Refuted by: a s.d. of the minima's energies at the largest Lambda not below that at the smallest
(``energy_spread_shrinks``), a mean energy that does not move down toward the band
(``mean_energy_moves_down``), more than 5% of minima below -E_0 - x(Lambda)
(``none_below_ground_state``), a test-loss s.d. that does not shrink from the narrowest to the
widest net (``test_loss_spread_shrinks``), or a train-test correlation that does not fall with width
(``train_test_correlation_falls``): these five are evidence. Sanity (validity of the run, not of the
claim): every end point is a critical point (``end_points_critical``) and a local minimum, its exact
tangent Hessian positive semi-definite (``end_points_are_minima``), and the width of that spectrum
matches the semicircle radius of our normalisation of the field (``hessian_semicircle_radius``: the
covariance of the Gaussian field we built fixes it at every point, so it checks the construction and
the finite-size regime, not the band). The distance of the mean energy to -E_inf, the fraction below
-E_0 without margin, the Hessian radius per Lambda and the per-width s.d.s and correlations are
reported as measurements.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement, proportion_stderr
from ._threads import one_torch_thread

EPS = float(np.finfo(np.float64).eps)
P_SPIN = 3


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    sizes: tuple[int, ...] = (25, 50, 100, 150)
    n_disorder: int = 6
    n_starts: int = 16
    step: float = 0.1
    momentum: float = 0.8
    max_steps: int = 5000
    grad_tol: float = 1e-10
    below_tolerance: float = 0.05
    log_count: float = 3.0
    widths: tuple[int, ...] = (8, 16, 32, 64, 128)
    n_seeds: int = 50
    epochs: int = 60
    batch_size: int = 32
    lr: float = 0.1
    n_boot: int = 1000

    QUICK = {"sizes": (25, 50, 100), "n_disorder": 3, "n_starts": 8, "widths": (8, 32, 128),
             "n_seeds": 16, "epochs": 15}

    def validate(self) -> None:
        from ..errors import UserInputError

        if len(self.sizes) < 2 or min(self.sizes) < 4 or list(self.sizes) != sorted(self.sizes):
            raise UserInputError("sizes: at least two increasing system sizes >= 4")
        if len(self.widths) < 2 or min(self.widths) < 1 or list(self.widths) != sorted(self.widths):
            raise UserInputError("widths: at least two increasing hidden widths >= 1")
        if self.n_disorder < 2 or self.n_starts < 1 or self.n_seeds < 3:
            raise UserInputError("need n_disorder >= 2, n_starts >= 1 and n_seeds >= 3")
        if self.max_steps < 1 or self.epochs < 1 or self.batch_size < 1 or self.n_boot < 10:
            raise UserInputError("max_steps, epochs, batch_size >= 1 and n_boot >= 10")
        for name in ("step", "grad_tol", "below_tolerance", "lr", "log_count"):
            if not getattr(self, name) > 0:
                raise UserInputError(f"{name} must be > 0")
        if not 0 <= self.momentum < 1:
            raise UserInputError("momentum must be in [0, 1)")


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    config.validate()
    with one_torch_thread():
        return _run(config, rng)


def _spin_glass(config: Config, rng: np.random.Generator) -> dict:
    """Minima of H for each size: energies per site, gradient norms, Hessian spectra summaries."""
    import torch

    from ..landscape import spin_glass as sg

    out = {}
    for n in config.sizes:
        energies, grads, lmins, radii, steps = [], [], [], [], []
        for _ in range(config.n_disorder):
            s = sg.couplings(n, P_SPIN, rng)
            w0 = torch.from_numpy(rng.standard_normal((config.n_starts, n)))
            w, used = sg.riemannian_descent(
                s, w0, config.step, config.max_steps, config.grad_tol * math.sqrt(n),
                1e-2 * math.sqrt(n), momentum=config.momentum, fast_dtype=torch.float32)
            h, g, hess, _ = sg.local_terms(s, w)
            ev = torch.linalg.eigvalsh(hess).numpy()
            energies.append(h.numpy() / n)
            grads.append(g.norm(dim=1).numpy() / math.sqrt(n))
            lmins.append(ev[:, 0] / np.abs(ev).max(axis=1))
            radii.append(2.0 * ev.std(axis=1))
            steps.append(used)
        out[n] = {k: np.stack(v) for k, v in (("energy", energies), ("grad", grads),
                                               ("lmin_rel", lmins), ("radius", radii),
                                               ("steps", steps))}
    return out


def _train_nets(width, config, data, rng):
    """One-hidden-layer ReLU nets (one per seed, trained side by side) by minibatch SGD on
    cross-entropy with a geometric learning-rate decay to lr / 10; final train and test loss."""
    import torch

    xtr, ytr, xte, yte = data
    k, d, c = config.n_seeds, xtr.shape[1], 10
    b1, b2 = 1 / math.sqrt(d), 1 / math.sqrt(width)

    def uniform(shape, bound):
        return torch.from_numpy(rng.uniform(-bound, bound, shape).astype(np.float32))

    params = [uniform((k, d, width), b1), uniform((k, 1, width), b1),
              uniform((k, width, c), b2), uniform((k, 1, c), b2)]
    for p in params:
        p.requires_grad_(True)

    def losses(x, y):
        logits = torch.relu(x @ params[0] + params[1]) @ params[2] + params[3]
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, c), y.reshape(-1), reduction="none").reshape(k, -1).mean(dim=1)

    n_train = xtr.shape[0]
    per_epoch = n_train // config.batch_size
    for epoch in range(config.epochs):
        lr = config.lr * 0.1 ** (epoch / config.epochs)
        order = torch.from_numpy(np.argsort(rng.random((k, n_train)), axis=1))
        for i in range(per_epoch):
            idx = order[:, i * config.batch_size:(i + 1) * config.batch_size]
            loss = losses(xtr[idx], ytr[idx]).sum()
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= lr * g
    with torch.no_grad():
        full_tr = losses(xtr.expand(k, -1, -1), ytr.expand(k, -1)).numpy()
        full_te = losses(xte.expand(k, -1, -1), yte.expand(k, -1)).numpy()
    return full_tr.astype(float), full_te.astype(float)


def _networks(config: Config, rng: np.random.Generator) -> dict:
    import torch

    from ..data import digits

    ds = digits(seed=0)
    data = (torch.from_numpy(ds.X_train), torch.from_numpy(ds.y_train),
            torch.from_numpy(ds.X_test), torch.from_numpy(ds.y_test))
    return {w: _train_nets(w, config, data, rng) for w in config.widths}


def _boot_se(stat, groups, n_boot, rng):
    """Bootstrap standard error of stat(*resampled) resampling each array's rows."""
    vals = []
    for _ in range(n_boot):
        picks = [g[rng.integers(0, len(g), len(g))] for g in groups]
        vals.append(stat(*picks))
    vals = np.asarray(vals)
    vals = vals[np.isfinite(vals)]
    return float(vals.std(ddof=1))


def _pearson(a, b):
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def _run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    from ..landscape import ground_state_energy, threshold_energy

    e_inf, e_0 = threshold_energy(P_SPIN), ground_state_energy(P_SPIN)
    sg = _spin_glass(config, rng)
    nets = _networks(config, rng)
    boot = np.random.default_rng(rng.integers(2**63))
    sizes, widths = config.sizes, config.widths
    lo, hi = sizes[0], sizes[-1]

    # Spin glass: per size, mean and s.d. of the energy per site; cluster bootstrap over disorder.
    def sd(e):
        return float(e.reshape(-1).std(ddof=1))

    def mean(e):
        return float(e.mean())

    stats = {n: (mean(sg[n]["energy"]), sd(sg[n]["energy"])) for n in sizes}
    se_mean = {n: _boot_se(mean, [sg[n]["energy"]], config.n_boot, boot) for n in sizes}
    se_sd = {n: _boot_se(sd, [sg[n]["energy"]], config.n_boot, boot) for n in sizes}
    ratio_sd = stats[hi][1] / stats[lo][1]
    se_ratio_sd = _boot_se(lambda a, b: sd(b) / sd(a),
                           [sg[lo]["energy"], sg[hi]["energy"]], config.n_boot, boot)
    shift = stats[hi][0] - stats[lo][0]
    se_shift = math.sqrt(se_mean[lo] ** 2 + se_mean[hi] ** 2)
    margins = {n: _margin(n, config.log_count) for n in sizes}
    n_runs = sum(sg[n]["energy"].size for n in sizes)
    n_below = sum(int((sg[n]["energy"] < -e_0 - margins[n]).sum()) for n in sizes)
    n_below_raw = sum(int((sg[n]["energy"] < -e_0).sum()) for n in sizes)
    max_grad = max(float(sg[n]["grad"].max()) for n in sizes)
    min_lmin = min(float(sg[n]["lmin_rel"].min()) for n in sizes)
    radius = mean(sg[hi]["radius"])
    se_radius = _boot_se(mean, [sg[hi]["radius"]], config.n_boot, boot)
    eig_tol = 64 * hi * EPS

    # Networks: s.d. of test losses and Pearson(train, test) per width, bootstrap over seeds.
    sd_test = {w: float(nets[w][1].std(ddof=1)) for w in widths}
    rho = {w: _pearson(*nets[w]) for w in widths}
    pair = {w: np.stack(nets[w], axis=1) for w in widths}
    se_sd_test = {w: _boot_se(lambda x: float(x[:, 1].std(ddof=1)), [pair[w]], config.n_boot,
                              boot) for w in widths}
    se_rho = {w: _boot_se(lambda x: _pearson(x[:, 0], x[:, 1]), [pair[w]], config.n_boot, boot)
              for w in widths}
    w_lo, w_hi = widths[0], widths[-1]
    ratio_test = sd_test[w_hi] / sd_test[w_lo]
    se_ratio_test = _boot_se(lambda a, b: float(b[:, 1].std(ddof=1) / a[:, 1].std(ddof=1)),
                             [pair[w_lo], pair[w_hi]], config.n_boot, boot)
    drho = rho[w_lo] - rho[w_hi]
    se_drho = math.sqrt(se_rho[w_lo] ** 2 + se_rho[w_hi] ** 2)
    # Starts of one disorder draw share minima: resample whole draws (rows) for the fraction
    # below the margin, with the Agresti-Coull error of independent runs as a floor.
    below = [(sg[n]["energy"] < -e_0 - margins[n]).astype(float) for n in sizes]
    se_below = max(_boot_se(lambda *g: float(sum(x.sum() for x in g) / n_runs), below,
                            config.n_boot, boot), proportion_stderr(n_below, n_runs))

    checks = [
        Check("energy_spread_shrinks", f"s.d. of the minima's energy per site at Lambda = {hi} "
              f"over that at Lambda = {lo} (bootstrap over disorder draws); concentration needs "
              "< 1", ratio_sd, 1.0, 0.0, kind="directional", comparison="at_most",
              stderr=se_ratio_sd),
        Check("mean_energy_moves_down", f"mean energy per site of the minima at Lambda = {hi} "
              f"minus that at Lambda = {lo} (bootstrap); moving toward the band from above "
              "needs < 0", shift, 0.0, 0.0, kind="directional", comparison="at_most",
              stderr=se_shift),
        Check("none_below_ground_state", f"fraction of {n_runs} minima with E/Lambda < -E_0 - "
              f"x(Lambda), Lambda Theta_3(-E_0 - x) = -{config.log_count:g} (margin "
              f"{margins[lo]:.3f} at Lambda = {lo}, {margins[hi]:.3f} at {hi}; Auffinger et "
              "al.'s complexity; Agresti-Coull stderr)",
              n_below / n_runs, 0.0, config.below_tolerance, kind="statistical",
              stderr=se_below),
        Check("hessian_semicircle_radius", f"mean over minima at Lambda = {hi} of 2 x the s.d. "
              "of the tangent-Hessian spectrum, against the semicircle radius 2 sqrt(p(p-1)) = "
              "3 E_inf of Auffinger et al. (bootstrap over disorder)", radius,
              2 * math.sqrt(P_SPIN * (P_SPIN - 1)), RADIUS_TOL, kind="statistical",
              stderr=se_radius, relative=True, role="sanity"),
        Check("test_loss_spread_shrinks", f"s.d. over {config.n_seeds} seeds of the final test "
              f"loss at n1 = {w_hi} over that at n1 = {w_lo} (bootstrap over seeds); "
              "concentration needs < 1", ratio_test, 1.0, 0.0, kind="directional",
              comparison="at_most", stderr=se_ratio_test),
        Check("train_test_correlation_falls", f"Pearson rho(train, test loss) over seeds at n1 = "
              f"{w_lo} minus that at n1 = {w_hi} (bootstrap); Choromanska et al.'s Table 1 "
              "falls with n1, so > 0", drho, 0.0, 0.0, kind="directional",
              comparison="at_least", stderr=se_drho),
        Check("end_points_critical", "max over all end points of ||grad_R H|| / sqrt(Lambda) "
              f"(Newton polish stops at {config.grad_tol:g})", max_grad, 0.0, config.grad_tol,
              role="sanity"),
        Check("end_points_are_minima", "min over all end points of lambda_min / ||.||_2 of the "
              f"exact tangent Hessian (>= 0 up to 64 Lambda eps = {eig_tol:.1e})", min_lmin,
              0.0, eig_tol, kind="directional", comparison="at_least", role="sanity"),
    ]
    measurements = {
        "E_inf": Measurement(e_inf, description="2 sqrt((p-1)/p), p = 3"),
        "E_0": Measurement(e_0, description="zero of Auffinger et al.'s complexity Theta_3"),
        "fraction_below_minus_E0_no_margin": Measurement(
            n_below_raw / n_runs, proportion_stderr(n_below_raw, n_runs)),
        "lowest_energy_per_site": Measurement(min(float(sg[n]["energy"].min()) for n in sizes)),
        "hessian_radius_at_largest_size": Measurement(radius, se_radius),
    }
    for n in sizes:
        measurements[f"energy_mean_L{n}"] = Measurement(stats[n][0], se_mean[n])
        measurements[f"energy_sd_L{n}"] = Measurement(stats[n][1], se_sd[n])
        measurements[f"gd_steps_L{n}"] = Measurement(float(sg[n]["steps"].mean()))
        measurements[f"hessian_radius_L{n}"] = Measurement(
            mean(sg[n]["radius"]), _boot_se(mean, [sg[n]["radius"]], config.n_boot, boot))
    for w in widths:
        measurements[f"test_loss_sd_n{w}"] = Measurement(sd_test[w], se_sd_test[w])
        measurements[f"pearson_train_test_n{w}"] = Measurement(rho[w], se_rho[w])
        measurements[f"test_loss_mean_n{w}"] = Measurement(
            float(nets[w][1].mean()), float(nets[w][1].std(ddof=1) / math.sqrt(config.n_seeds)))
    arrays = {f"energy_L{n}": sg[n]["energy"] for n in sizes}
    arrays.update({f"lmin_rel_L{n}": sg[n]["lmin_rel"] for n in sizes})
    arrays.update({f"losses_n{w}": pair[w] for w in widths})
    figures = {"energy_histograms": _energy_figure(sg, sizes, e_inf, e_0),
               "test_loss_distributions": _loss_figure(nets, widths, rho)}
    return ExperimentResult(
        checks=checks, measurements=measurements, arrays=arrays, figures=figures,
        notes=[f"E_inf = {e_inf:.4f}, E_0 = {e_0:.4f} (computed from Auffinger et al.'s "
               "complexity); energies are H / Lambda.",
               f"{n_below_raw} of {n_runs} minima lie below -E_0 without margin."],
        headline="energy_spread_shrinks", deviations=_deviations(config))


RADIUS_TOL = 0.02


def _margin(n: int, log_count: float) -> float:
    """x > 0 with n Theta_3(-E_0 - x) = -log_count: below -E_0 - x the expected number of
    critical points is exp(-log_count) at exponential order (first-moment bound)."""
    from ..landscape import complexity, ground_state_energy

    e0, lo, hi = ground_state_energy(P_SPIN), 0.0, 10.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if n * complexity(-e0 - mid, P_SPIN) > -log_count else (lo, mid)
    return 0.5 * (lo + hi)


def _deviations(config: Config) -> list[str]:
    full = Config()
    runs = config.n_disorder * config.n_starts
    out = [
        f"Lambda in {list(config.sizes)} with {runs} runs each ({config.n_disorder} disorder "
        f"draws x {config.n_starts} starts; paper: Lambda = 25..500, 1,000 runs each)",
        f"heavy-ball projected gradient descent (step {config.step:g}, momentum "
        f"{config.momentum:g}) finished by Riemannian Newton steps, not SGD",
        f"networks: scikit-learn digits 8x8 (1,437 train / 360 test) instead of MNIST 10x10; "
        f"widths {list(config.widths)} (paper: 25..500); {config.n_seeds} seeds per width "
        "(paper: 1,000)",
        f"SGD for {config.epochs} epochs, batch {config.batch_size}, lr {config.lr:g} decayed "
        "geometrically to a tenth (paper: 200 epochs), PyTorch-style uniform init (paper: "
        "uniform in the unit cube), cross-entropy; losses are not rescaled by a fitted "
        "E[L] as in the paper's Fig. 3",
        "the index of saddles and the band for higher-index critical points are not measured",
    ]
    if config.sizes != full.sizes or runs != full.n_disorder * full.n_starts:
        out.append(f"quick scale (full preset: Lambda {list(full.sizes)}, "
                   f"{full.n_disorder * full.n_starts} runs, {full.n_seeds} seeds, "
                   f"{full.epochs} epochs)")
    return out


def _energy_figure(sg, sizes, e_inf, e_0):
    fig, (ax1, ax2) = new_figure(2, width=5.0)
    lo = min(float(sg[n]["energy"].min()) for n in sizes)
    hi = max(float(sg[n]["energy"].max()) for n in sizes)
    bins = np.linspace(min(lo, -e_0) - 0.02, hi + 0.02, 40)
    for n in sizes:
        ax1.hist(sg[n]["energy"].reshape(-1), bins=bins, histtype="step", density=True,
                 lw=1.5, label=f"Λ = {n}")
    ax1.axvline(-e_inf, color="k", ls="--", lw=1, label="−E∞")
    ax1.axvline(-e_0, color="C3", ls=":", lw=1.2, label="−E₀")
    ax1.set(xlabel="energy per site H/Λ of the minima", ylabel="density",
            title="Minima of the spherical 3-spin glass")
    ax1.legend(fontsize=7)
    for n in sizes:
        ax2.plot(sg[n]["energy"].reshape(-1), sg[n]["lmin_rel"].reshape(-1), ".", ms=3,
                 label=f"Λ = {n}")
    ax2.axvline(-e_inf, color="k", ls="--", lw=1)
    ax2.set(xlabel="H/Λ", ylabel="λ_min / ‖Hess‖ (tangent Hessian)",
            title="Every end point is a minimum")
    ax2.legend(fontsize=7)
    return fig


def _loss_figure(nets, widths, rho):
    fig, (ax1, ax2) = new_figure(2, width=5.0)
    allte = np.concatenate([nets[w][1] for w in widths])
    bins = np.linspace(allte.min(), allte.max(), 40)
    for w in widths:
        ax1.hist(nets[w][1], bins=bins, histtype="step", density=True, lw=1.5,
                 label=f"n₁ = {w}")
    ax1.set(xlabel="final test loss (cross-entropy)", ylabel="density",
            title="Test losses over seeds")
    ax1.legend(fontsize=7)
    for w in widths:
        ax2.plot(nets[w][0], nets[w][1], ".", ms=3, label=f"n₁ = {w}, ρ = {rho[w]:.2f}")
    ax2.set(xlabel="train loss", ylabel="test loss", xscale="log", yscale="log",
            title="Train against test loss")
    ax2.legend(fontsize=7)
    return fig


SPEC = ExperimentSpec(
    id="spin-glass-landscape",
    title="Spin-glass model of the loss surface",
    claim="Minima of the spherical 3-spin glass concentrate as Λ grows, move toward the band "
          "(−E₀, −E∞) = (−1.657, −1.633) and none lies below −E₀; test losses of one-hidden-layer "
          "nets concentrate with width and decorrelate from train losses.",
    source="Choromanska et al. 2015, Secs. 3 and 5, Figs. 3-4, Table 1; Auffinger, Ben Arous "
           "& Cerny 2013 (complexity of spherical spin glasses)",
    config_cls=Config,
    run=run,
    citations=("choromanska2015", "auffinger2013"),
    statement=(
        "Under simplifying assumptions the loss of a deep ReLU network is a spherical spin glass. "
        "For this model the critical values of low index concentrate in a band just above the "
        "ground state: local minima lie between −ΛE₀ and −ΛE∞, and minima far below are "
        "exponentially rare. Descent from random points therefore ends at minima of almost the "
        "same energy when Λ is large, and in networks the spread of test losses over seeds "
        "shrinks with width."
    ),
    formula=(
        "H(w) = Λ⁻¹ Σ J_ijk w_i w_j w_k,  ‖w‖² = Λ,  J_ijk ~ N(0,1)\n"
        "E∞ = 2√((p−1)/p) = 1.633 (p = 3),  −E₀: zero of Θ_p(u)\n"
        "Hess_R(w) at a critical point ~ GOE(radius 2√(p(p−1))) − p (H/Λ) I"
    ),
)
