"""activation-maximization: what the input that maximises a unit or a class score shows.

Question: does gradient ascent on the input recover the closed-form maximiser of a first-layer
unit, do Simonyan's class models outscore every real digit and look like their class, and are
single hidden units more "semantic" than random directions in the same layer?

Claim: Erhan et al. 2009 (Sec. 3.1: x* = argmax_{||x|| = rho} h_ij(x) by gradient ascent; for a
first-layer unit h = w^T x + b the maximiser under a norm bound is rho w / ||w||, by
Cauchy-Schwarz, and in a box the sign pattern x_i* = 1[w_i > 0]). Simonyan et al. 2014 (Sec. 2,
Eq. 1: the class model argmax_I S_c(I) - lambda ||I||^2 of the unnormalised score, by
back-propagation from the zero image, the training mean added back for display; Sec. 3: the
saliency map |dS_c/dI|). Szegedy et al. 2014 (Sec. 3): the top images of a random direction v in
a high layer are as semantically coherent as those of a unit e_i, so "it is the space, rather than
the individual units, that contains the semantic information in the high layers".

What is measured (float64): ``n_models`` ReLU MLPs 64-w-w-10 trained by minibatch Adam on the
digits' train split (deepscope.data.digits(seed=0), inputs centred by the training mean). (a) For
every first-layer unit: projected gradient ascent of its pre-activation (autograd gradient) on the
ball ||x|| <= rho around the mean image, from a random point of the ball, against rho w / ||w||;
projected sign ascent in the pixel box [0, 1]^64 against the sign pattern. (b) Class models by
ascent on S_c(x) - lambda ||x||^2 from x = 0 with steps eta_0 / (lambda (1 + t / 20)): scores
against the largest S_c over the training digits; Pearson correlation with the ten centred class
means; the same for the untrained networks (the null: chance, 1/10). (c) On the 360 held-out
digits: label purity (share of the most common label) of the top-k images of every live unit (at
least k positive activations), of ``n_directions`` Gaussian random directions in the same layer,
and of random k-sets (chance); mean per network, error bars over networks.

Figures (in the manner of the papers'): class models with the class means and saliency maps of
one held-out digit per class; the ascent error per step and first-layer maximisers as 8x8 images;
purities per layer with the top-k digits of last-layer units and of random directions.

Tolerances. (a) is exact. Near rho w/||w|| the ascent's error shrinks by about rho / (rho + eta
||w||) per step: with eta = 1, rho = 2 and the smallest ||w|| of 1.01-1.10 on seeds 101-103, at
most 0.67 per step, under 1e-16 after about 95 of the 300 steps (``min_first_layer_weight_norm``
reports it); x_T = rho y / ||y|| then carries rounding of order d eps (a norm of d = 64 terms), so
the tolerance on ||x_T - x*|| / rho and on the activation gap relative to rho ||w|| + |b| is
8 d eps = 1.1e-13. Sign ascent with step 1/20 puts every pixel exactly on its bound after 20 steps
(clipping is exact): tolerance 0 on the pixels off the sign pattern. (b) The score comparison is a
fraction over (network, class) pairs, expected 1 with tolerance 0.1 (Agresti-Coull stderr); the
own-class match must reach 0.8 (8 of 10 classes, a proposal, not fitted) and beat the untrained
null by more than its error bar. lambda = 3 (pixels in [0, 1], centred) was set on seeds 101-103
so that class models have about a digit's norm (2.53-2.58 there, digits 2.16; at lambda = 0.01 it
is about 1,000 and every score comparison is vacuous); a larger penalty makes the comparison
harder, not easier. (c) |purity(units) - purity(random directions)| in the last hidden layer,
expected 0 with tolerance 0.1, under one image of the top k = 8 (a proposal, not fitted). On seeds
101-103 (quick) it was -0.049 +- 0.016, -0.043 +- 0.010 and -0.064 +- 0.025 (random directions
purer), and +0.063, +0.077, +0.070 in the first layer (units purer); Szegedy et al.'s claim is
about high layers, so the first layer is reported, not checked. Chance purity is about 0.30.

Refuted by: class models scoring below the best training digit (``class_models_exceed_data``),
resembling another class's mean in more than 2 of 10 classes (``class_models_match_own_mean``) or no
better than the untrained null (``class_models_beat_untrained_null``); last-layer units purer or
less pure than random directions by more than 0.1 (``random_directions_as_semantic``), or random
directions no purer than random k-sets (``random_directions_semantic``). These are evidence. Sanity
(validity of the run and of our optimiser): projected ascent reaches the closed-form maximiser rho
w/||w|| and the sign pattern of a first-layer unit (``unit_ball_maximiser``,
``unit_ball_activation``, ``unit_box_maximiser``: Cauchy-Schwarz fixes the answer, so these test the
ascent, not the claim), the networks learned (``networks_trained``, held-out accuracy >= 0.9), no
held-out digit rescaled into the ball beats the closed-form maximum (Cauchy-Schwarz,
``closed_form_bounds_data``), and every class model beats every training digit on the objective it
maximises (``class_model_ascent_worked``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..config import ExperimentConfig
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement, proportion_stderr
from ..robustness import ball_update, box_sign_update, class_models, label_purity, unit_ascent
from ._threads import one_torch_thread

EPS = float(np.finfo(np.float64).eps)
N_CLASSES = 10
DIM = 64


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    n_models: int = 20
    width: int = 100
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 1e-2
    ball_radius: float = 2.0
    ascent_step: float = 1.0
    ascent_steps: int = 300
    sign_step: float = 0.05
    class_lambda: float = 3.0
    class_step: float = 0.25
    class_steps: int = 300
    top_k: int = 8
    n_directions: int = 400
    purity_tolerance: float = 0.1
    match_threshold: float = 0.8

    QUICK = {"n_models": 3, "n_directions": 100}

    def validate(self) -> None:
        from ..errors import UserInputError

        ints = ("width", "epochs", "batch_size", "ascent_steps", "class_steps", "top_k",
                "n_directions")
        if min(getattr(self, name) for name in ints) < 1 or self.n_models < 2:
            raise UserInputError(f"{', '.join(ints)} must be >= 1 and n_models >= 2 (error bars "
                                 "are taken over networks)")
        for name in ("learning_rate", "ball_radius", "ascent_step", "class_lambda", "class_step",
                     "purity_tolerance"):
            if not getattr(self, name) > 0:
                raise UserInputError(f"{name} must be > 0")
        if not 0 < self.sign_step <= 1:
            raise UserInputError("sign_step must be in (0, 1]")
        if not 0 < self.match_threshold <= 1:
            raise UserInputError("match_threshold must be in (0, 1]")
        if self.top_k > 30:
            raise UserInputError("top_k must be <= 30 (about the held-out images per class)")


def make_mlp(width: int, generator):
    """A float64 ReLU MLP 64-width-width-10 with uniform (PyTorch-default-scale) weights."""
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(DIM, width), torch.nn.ReLU(),
                              torch.nn.Linear(width, width), torch.nn.ReLU(),
                              torch.nn.Linear(width, N_CLASSES)).double()
    with torch.no_grad():
        for layer in (net[0], net[2], net[4]):
            bound = 1.0 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    return net


def _train(net, X, y, config, rng):
    """Minibatch Adam (Kingma & Ba's defaults beta = (0.9, 0.999), eps = 1e-8) on cross-entropy,
    written out to keep torch.optim's compiler imports out of the run."""
    import torch

    params = list(net.parameters())
    m1 = [torch.zeros_like(p) for p in params]
    m2 = [torch.zeros_like(p) for p in params]
    n, t = len(X), 0
    for _ in range(config.epochs):
        order = torch.from_numpy(rng.permutation(n))
        for start in range(0, n, config.batch_size):
            b = order[start:start + config.batch_size]
            grads = torch.autograd.grad(
                torch.nn.functional.cross_entropy(net(X[b]), y[b]), params)
            t += 1
            c1, c2 = 1 - 0.9**t, 1 - 0.999**t
            with torch.no_grad():
                for p, g, a, v in zip(params, grads, m1, m2):
                    a.mul_(0.9).add_(g, alpha=0.1)
                    v.mul_(0.999).addcmul_(g, g, value=0.001)
                    p.sub_(config.learning_rate * (a / c1) / ((v / c2).sqrt() + 1e-8))


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    config.validate()
    with one_torch_thread():
        return _run(config, rng)


def _first_layer(lin, mean, Xt, config, rng):
    """Ascent on every first-layer unit (ball and box) against the closed forms."""
    import torch

    w, rho = lin.out_features, config.ball_radius
    iw = torch.arange(w)
    wt, b = lin.weight.detach(), lin.bias.detach()
    wn = wt.norm(dim=1)
    z = torch.from_numpy(rng.standard_normal((w, DIM)))
    r0 = torch.from_numpy(rng.uniform(size=(w, 1)) ** (1 / DIM))
    x_ball, err = unit_ascent(lin, rho * r0 * z / z.norm(dim=1, keepdim=True),
                              ball_update(rho, config.ascent_step), config.ascent_steps,
                              rho * wt / wn[:, None])
    pattern = (wt > 0).double()
    p_box, _ = unit_ascent(lin, torch.from_numpy(rng.uniform(size=(w, DIM))),
                           box_sign_update(config.sign_step),
                           2 * math.ceil(1 / config.sign_step), pattern, shift=mean)
    with torch.no_grad():
        h_ball = lin(x_ball)[iw, iw]
        h_box, h_star = lin(p_box - mean)[iw, iw], lin(pattern - mean)[iw, iw]
        scaled = rho * Xt / Xt.norm(dim=1, keepdim=True)
        return {
            "ball_err": float(err[-1].max()) / rho,
            "ball_gap": float(((h_ball - rho * wn - b).abs() / (rho * wn + b.abs())).max()),
            "box_off": int((p_box != pattern).sum()),
            "box_gap": float(((h_box - h_star).abs() / (wt.abs().sum(dim=1) + b.abs())).max()),
            "data_ratio": float(((lin(scaled) - b) / (rho * wn)).max()),
            "w_min": float(wn.min()),
        }, (err.numpy() / rho, wt.numpy(), x_ball.numpy(), p_box.numpy())


def _class_stats(net, X, class_means, config):
    """Class models' scores against the data, and their correlation with the class means."""
    import torch

    idx, lam = torch.arange(N_CLASSES), config.class_lambda
    xc = class_models(net, lam, config.class_step, config.class_steps, n_classes=N_CLASSES,
                      n_inputs=DIM)
    corr = torch.corrcoef(torch.cat([xc, class_means]))[:N_CLASSES, N_CLASSES:]
    with torch.no_grad():
        s_model, s_data = net(xc)[idx, idx], net(X)
        obj_data = (s_data - lam * (X * X).sum(dim=1, keepdim=True)).max(dim=0).values
        s_data = s_data.max(dim=0).values
    off = (corr.sum() - corr.diag().sum()) / (N_CLASSES * (N_CLASSES - 1))
    return xc, {
        "exceed": (s_model > s_data).numpy(), "score_ratio": (s_model / s_data).numpy(),
        "match": (corr.argmax(dim=1) == idx).numpy(), "norm": xc.norm(dim=1).numpy(),
        "obj_margin": float((s_model - lam * (xc * xc).sum(dim=1) - obj_data).min()),
        "own_corr": float(corr.diag().mean()), "other_corr": float(off),
    }


def _run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    import collections

    import torch

    from ..data import digits

    data = digits(seed=0)
    p_train = torch.tensor(data.X_train, dtype=torch.float64)
    mean = p_train.mean(dim=0)
    X, y = p_train - mean, torch.tensor(data.y_train)
    p_test = torch.tensor(data.X_test, dtype=torch.float64)
    Xt, yt = p_test - mean, torch.tensor(data.y_test)
    class_means = torch.stack([X[y == c].mean(dim=0) for c in range(N_CLASSES)])
    rho, k, lam, w, n = (config.ball_radius, config.top_k, config.class_lambda, config.width,
                         config.n_models)
    rec, fig_data = collections.defaultdict(list), {}
    for m in range(n):
        net = make_mlp(w, torch.Generator().manual_seed(int(rng.integers(2**62))))
        x0 = class_models(net, lam, config.class_step, config.class_steps,
                          n_classes=N_CLASSES, n_inputs=DIM)
        corr0 = torch.corrcoef(torch.cat([x0, class_means]))[:N_CLASSES, N_CLASSES:]
        rec["match0"].append((corr0.argmax(dim=1) == torch.arange(N_CLASSES)).numpy())
        _train(net, X, y, config, rng)
        with torch.no_grad():
            rec["acc"].append(float((net(Xt).argmax(dim=1) == yt).double().mean()))
        # (a) first-layer units; (b) class models.
        unit, unit_fig = _first_layer(net[0], mean, Xt, config, rng)
        xc, cls = _class_stats(net, X, class_means, config)
        for key, value in (*unit.items(), *cls.items()):
            rec[key].append(value)
        # (c) label purity of the top-k held-out images: units, random directions, random sets.
        with torch.no_grad():
            h1 = torch.relu(net[0](Xt))
            feats = {1: h1, 2: torch.relu(net[2](h1))}
        chance = np.mean([np.bincount(yt.numpy()[rng.choice(len(yt), k, replace=False)],
                                      minlength=N_CLASSES).max() / k
                          for _ in range(config.n_directions)])
        for layer, h in feats.items():
            alive = (h > 0).sum(dim=0) >= k
            v = torch.from_numpy(rng.standard_normal((w, config.n_directions)))
            rec[f"purity{layer}"].append((float(label_purity(h[:, alive], yt, k).mean()),
                                          float(label_purity(h @ v, yt, k).mean()), chance))
            rec[f"live{layer}"].append(int(alive.sum()))
        if m == 0:
            x_sal = torch.stack([Xt[yt == c][0] for c in range(N_CLASSES)]).requires_grad_(True)
            (sal,) = torch.autograd.grad(net(x_sal).diagonal().sum(), x_sal)
            fig_data = dict(zip(("err_curve", "w", "ball", "box"), unit_fig))
            fig_data.update(class_models=(xc + mean).numpy(), saliency=sal.abs().numpy(),
                            images=p_test.numpy(),
                            top_units=h[:, alive].topk(k, dim=0).indices[:, :2].T.numpy(),
                            top_rand=(h @ v).topk(k, dim=0).indices[:, :2].T.numpy())

    exceed, match, match0 = (np.concatenate(rec[key]) for key in ("exceed", "match", "match0"))
    n_pairs = len(exceed)
    k_exc, k_match, k_null = int(exceed.sum()), int(match.sum()), int(match0.sum())
    se_match, se_null = proportion_stderr(k_match, n_pairs), proportion_stderr(k_null, n_pairs)
    pur1, pur2 = np.array(rec["purity1"]), np.array(rec["purity2"])
    ratio, norm_all = np.concatenate(rec["score_ratio"]), np.concatenate(rec["norm"])

    def mean_se(x):
        x = np.asarray(x, dtype=float)
        return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))

    d2, s2 = mean_se(pur2[:, 0] - pur2[:, 1])
    rc2, src2 = mean_se(pur2[:, 1] - pur2[:, 2])
    tol_a = 8 * DIM * EPS
    checks = [
        Check("unit_ball_maximiser", f"max over {n * w} first-layer units of ||x_T - rho w/||w|| "
              f"|| / rho after {config.ascent_steps} projected-gradient-ascent steps (autograd), "
              "closed form by Cauchy-Schwarz; tolerance 8 d eps", max(rec["ball_err"]), 0.0,
              tol_a, role="sanity"),
        Check("unit_ball_activation", "max relative gap |h(x_T) - (rho ||w|| + b)| / (rho ||w|| "
              "+ |b|) over units", max(rec["ball_gap"]), 0.0, tol_a, role="sanity"),
        Check("unit_box_maximiser", f"pixels (of {n * w * DIM}) where projected sign ascent in "
              "[0, 1]^64 differs from the sign pattern 1[w_i > 0]", float(sum(rec["box_off"])),
              0.0, 0.0, role="sanity"),
        Check("class_models_exceed_data", f"fraction of {n_pairs} (model, class) pairs with "
              "S_c(class model) > max S_c over the training digits (Agresti-Coull stderr)",
              k_exc / n_pairs, 1.0, 0.1, kind="statistical",
              stderr=proportion_stderr(k_exc, n_pairs)),
        Check("class_models_match_own_mean", f"fraction of {n_pairs} (model, class) pairs whose "
              "class model correlates best with its own centred class mean (at least 8/10)",
              k_match / n_pairs, config.match_threshold, 0.0, kind="directional",
              comparison="at_least", stderr=se_match),
        Check("class_models_beat_untrained_null", "own-class match fraction of trained minus "
              "untrained networks (null: chance, 0.1)", (k_match - k_null) / n_pairs, 0.0, 0.0,
              kind="directional", comparison="at_least", stderr=math.hypot(se_match, se_null)),
        Check("random_directions_as_semantic", f"mean top-{k} label purity of last-hidden-layer "
              "units minus that of random directions (mean over models, stderr over models)",
              d2, 0.0, config.purity_tolerance, kind="statistical", stderr=s2),
        Check("random_directions_semantic", f"top-{k} purity of random directions in the last "
              f"hidden layer minus that of random sets of {k} held-out images", rc2, 0.0, 0.0,
              kind="directional", comparison="at_least", stderr=src2),
        Check("networks_trained", f"lowest held-out accuracy of the {n} networks",
              min(rec["acc"]), 0.9, 0.0, kind="directional", comparison="at_least",
              role="sanity"),
        Check("closed_form_bounds_data", "max over units and held-out digits rescaled to norm "
              "rho of (h - b) / (rho ||w||) (<= 1 by Cauchy-Schwarz)", max(rec["data_ratio"]),
              1.0, tol_a, kind="directional", comparison="at_most", role="sanity"),
        Check("class_model_ascent_worked", "min over (model, class) of the objective S_c - lambda"
              " ||x||^2 at the class model minus its maximum over the training digits",
              min(rec["obj_margin"]), 0.0, 0.0, kind="directional", comparison="at_least",
              role="sanity"),
    ]
    described = {
        "test_accuracy": (rec["acc"], "held-out accuracy"),
        "best_digit_fraction_of_unit_max": (rec["data_ratio"], "per network, max over units "
                                            "and rescaled held-out digits of (h - b)/(rho ||w||)"),
        "class_score_over_data_max": (ratio, "S_c(class model) / max S_c over training digits"),
        "class_model_norm": (norm_all, f"digits: {float(X.norm(dim=1).mean()):.3f} (centred)"),
        "own_class_correlation": (rec["own_corr"], "class model vs its own class mean"),
        "other_class_correlation": (rec["other_corr"], "class model vs other class means"),
        "purity_units_layer1": (pur1[:, 0], ""), "purity_random_layer1": (pur1[:, 1], ""),
        "purity_difference_layer1": (pur1[:, 0] - pur1[:, 1], "units minus random directions"),
        "purity_units_layer2": (pur2[:, 0], ""), "purity_random_layer2": (pur2[:, 1], ""),
        "purity_chance": (pur2[:, 2], f"random sets of {k} held-out digits"),
    }
    measurements = {key: Measurement(*mean_se(v), description=text)
                    for key, (v, text) in described.items()}
    measurements.update(
        unit_ball_error=Measurement(max(rec["ball_err"]), description="max ||x_T - x*|| / rho"),
        unit_box_activation_gap=Measurement(max(rec["box_gap"]), description="relative to "
                                            "||w||_1 + |b|"),
        min_first_layer_weight_norm=Measurement(min(rec["w_min"]), description="sets the "
                                                "ascent's contraction rho/(rho + eta ||w||)"),
        own_mean_match=Measurement(k_match / n_pairs, se_match),
        untrained_own_mean_match=Measurement(k_null / n_pairs, se_null))
    arrays = {"purity_layer1": pur1, "purity_layer2": pur2, "class_score_ratio": ratio,
              "class_model_norms": norm_all, "test_accuracy": np.array(rec["acc"]),
              "class_models_first_model": fig_data["class_models"],
              "live_units": np.array([rec["live1"], rec["live2"]])}
    figures = {
        "class_models": _class_figure(fig_data, class_means + mean),
        "first_layer_units": _unit_figure(fig_data, rho),
        "feature_purity": _purity_figure({1: pur1, 2: pur2}, fig_data, k),
    }
    p1, p2 = pur1.mean(axis=0), pur2.mean(axis=0)
    return ExperimentResult(
        checks=checks, measurements=measurements, arrays=arrays, figures=figures,
        notes=[
            f"{n} MLPs 64-{w}-{w}-10, {config.epochs} epochs of Adam (lr {config.learning_rate:g}"
            f", batch {config.batch_size}); held-out accuracy {np.mean(rec['acc']):.3f}.",
            f"Purity (units / random directions / chance): layer 1 {p1[0]:.3f} / {p1[1]:.3f} / "
            f"{p1[2]:.3f}; layer 2 {p2[0]:.3f} / {p2[1]:.3f} / {p2[2]:.3f}.",
            f"Class models: lambda = {lam:g}, norm {norm_all.mean():.2f} (digits "
            f"{float(X.norm(dim=1).mean()):.2f}); S_c(x*) / max data S_c = {ratio.mean():.2f}.",
        ],
        headline="class_models_match_own_mean",
        deviations=_deviations(config),
    )


def _deviations(config: Config) -> list[str]:
    full = Config()
    w = config.width
    out = [
        f"ReLU MLPs 64-{w}-{w}-10 on 8x8 digits (1,437 training images); Erhan et al. used deep "
        "belief nets and stacked denoising auto-encoders on MNIST, Simonyan et al. an ImageNet "
        "ConvNet, Szegedy et al. MNIST and ImageNet networks",
        f"{config.n_models} networks of {config.epochs} epochs each; error bars over networks",
        f"class models with lambda = {config.class_lambda:g} in centred [0, 1] pixel units, set "
        f"by the digits' norm; {config.class_steps} ascent steps with diminishing step size",
        f"semantics measured as the top-{config.top_k} label purity on the 360 held-out digits "
        f"against {config.n_directions} random directions per layer (Szegedy et al.: visual "
        "inspection of the top images)",
        "saliency maps shown, not checked; first-layer units maximised before the ReLU (the same "
        "maximiser wherever the maximum is positive); no deeper unit has a closed form to check",
    ]
    if config.n_models != full.n_models or config.n_directions != full.n_directions:
        out.append(f"{config.n_models} networks and {config.n_directions} random directions "
                   f"(full preset: {full.n_models} and {full.n_directions})")
    return out


def _digit_row(axes, images, cmap="gray", titles=None):
    for i, ax in enumerate(axes):
        ax.imshow(images[i].reshape(8, 8), cmap=cmap, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)


def _class_figure(fig_data, means):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 3.4), layout="constrained")
    axes = fig.subplots(3, N_CLASSES)
    _digit_row(axes[0], fig_data["class_models"], titles=[str(c) for c in range(N_CLASSES)])
    _digit_row(axes[1], means.numpy())
    _digit_row(axes[2], fig_data["saliency"], cmap="hot")
    for ax, label in zip(axes[:, 0], ("class model", "class mean", "saliency")):
        ax.set_ylabel(label, fontsize=8)
    fig.suptitle("Class models argmax S_c(x) − λ‖x‖² (Simonyan et al.), first network")
    return fig


def _unit_figure(fig_data, rho):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.6, 3.8), layout="constrained")
    left, right = fig.subfigures(1, 2)
    (ax,) = left.subplots(1, 1, squeeze=False)[0]
    err = np.maximum(fig_data["err_curve"], 1e-18)
    ax.semilogy(err, color="C0", alpha=0.3, lw=0.8)
    ax.axhline(8 * DIM * EPS, color="C3", ls="--", label="tolerance 8 d ε")
    ax.set(xlabel="ascent step", ylabel="‖x_t − ρw/‖w‖‖ / ρ",
           title=f"Projected ascent, ‖x‖ ≤ {rho:g}, all units")
    ax.legend(fontsize=7)
    w = fig_data["w"]
    axes = right.subplots(3, 6)
    _digit_row(axes[0], w[:6] / np.linalg.norm(w[:6], axis=1, keepdims=True), cmap="RdBu_r")
    _digit_row(axes[1], fig_data["ball"][:6], cmap="RdBu_r")
    _digit_row(axes[2], fig_data["box"][:6])
    for a, label in zip(axes[:, 0], ("w/‖w‖", "ascent (ball)", "ascent (box)")):
        a.set_ylabel(label, fontsize=8)
    right.suptitle("First-layer maximisers", fontsize=10)
    return fig


def _purity_figure(purity, fig_data, k):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.4, 3.8), layout="constrained")
    left, right = fig.subfigures(1, 2)
    (ax,) = left.subplots(1, 1, squeeze=False)[0]
    labels = ("units", "random directions", f"random {k}-sets")
    for j, label in enumerate(labels):
        vals = [purity[layer][:, j] for layer in (1, 2)]
        mean = [v.mean() for v in vals]
        se = [v.std(ddof=1) / math.sqrt(len(v)) for v in vals]
        ax.bar(np.arange(2) + 0.27 * (j - 1), mean, 0.27, yerr=[2 * s for s in se], capsize=3,
               label=label)
    ax.set_xticks([0, 1], ["hidden layer 1", "hidden layer 2"])
    ax.set(ylabel=f"top-{k} label purity (±2 s.e.)", ylim=(0, 1.05),
           title="Units vs random directions")
    ax.legend(fontsize=7, loc="lower right")
    rows = np.concatenate([fig_data["top_units"], fig_data["top_rand"]])
    axes = right.subplots(len(rows), k)
    for r, row in enumerate(rows):
        _digit_row(axes[r], fig_data["images"][row])
        axes[r, 0].set_ylabel("unit" if r < 2 else "random v", fontsize=8)
    right.suptitle(f"Top-{k} held-out digits, hidden layer 2, first network", fontsize=10)
    return fig


SPEC = ExperimentSpec(
    id="activation-maximization",
    title="Activation maximisation, class models and random directions",
    claim="Gradient ascent recovers a first-layer unit's maximiser ρw/‖w‖; class models "
          "argmax S_c − λ‖x‖² outscore every real digit and resemble their class mean; random "
          "directions of a high layer are as semantic as its units.",
    source="Erhan et al. 2009 Sec. 3.1; Simonyan et al. 2014 Sec. 2-3, Eqs. 1-3; Szegedy et al. "
           "2014 Sec. 3",
    config_cls=Config,
    run=run,
    citations=("erhan2009", "simonyan2014", "szegedy2014"),
    statement=(
        "Maximising a unit's activation over inputs of bounded norm shows what the unit responds "
        "to; for a first-layer unit the maximiser is the normalised weight vector (the sign "
        "pattern in a box). Maximising a class score with an L2 penalty gives a class model that "
        "the network rates above every real image and that looks like the class. Szegedy et al. "
        "found that random directions in a high layer select images as coherent as single units, "
        "so the semantics live in the space, not in the units."
    ),
    formula=(
        "x* = argmax_{‖x‖≤ρ} (wᵀx + b) = ρ w/‖w‖;  box [0,1]^d: x*_i = 1[w_i > 0]\n"
        "class model: argmax_x S_c(x) − λ‖x‖²;  saliency |∂S_c/∂x|\n"
        "x'_v = top-k argmax_{x ∈ held-out} ⟨φ(x), v⟩,  v = e_i (unit) or v ~ N(0, I)"
    ),
)
