"""linear-interpolation: the straight line from initialisation to the SGD solution has no barrier.

Question: along theta(alpha) = (1 - alpha) theta_init + alpha theta_final, from a network's
initialisation to the solution that SGD found from it, does the training loss fall monotonically,
with no bump to climb, as Goodfellow, Vinyals & Saxe report for the networks they studied?

Claim: Goodfellow et al. 2015 (the linear path experiment; Figs. 1-2 for MNIST networks): for
feed-forward networks on MNIST (maxout MLPs, convolutional networks) the objective J(theta(alpha))
decreases monotonically from alpha = 0 to alpha = 1 ("a variety of state of the art neural
networks never encounter any significant obstacles", their abstract); qualitatively, the
optimisation problem is simple. The landscape is not convex for all that: the straight line
between two solutions found from different initialisations crosses a region of high loss
(Garipov et al. 2018, Sec. 1 and Fig. 1).

What is measured: on scikit-learn's digits (training split, the same split for both models), a
ReLU MLP 64-100-100-10 (zoo ``MLP``) and the zoo ``SmallCNN`` (3x3 convolutions with 8 and 16
channels, a linear head) on the 8x8 images, each built from a seed drawn from ``rng``, are trained
by SGD with momentum on the cross-entropy (``epochs`` passes over shuffled mini-batches), in
float32 (float64 convolutions are about 5 times slower on a CPU, and
nothing here is claimed beyond float32 round-off). For each of the 2 ``n_pairs`` networks per
architecture, deepscope.landscape.interpolate scores the training
and test cross-entropy and accuracy at ``n_points`` evenly spaced alpha in [-0.5, 1.5] (plus 0
and 1 exactly). The barrier of a line is its rise above the running minimum,
B = max_{alpha in [0, 1]} [J(alpha) - min_{alpha' <= alpha} J(alpha')] (0 for a monotone decrease),
relative to J(0). Negative control: the networks are trained in independent pairs, and the same B
is measured on the line from one solution of a pair to the other (``pair_points`` alpha in [0, 1]),
relative to the first network's J(0).

Figures: the paper's Figs. 1-2 for each model: training and test loss, and accuracy, against
alpha in [-0.5, 1.5], one curve per network; and the lines between two solutions beside the lines
from initialisation to solution on [0, 1].

Tolerances. The barrier threshold B / J(0) <= 0.01 is a proposal calibrated on seeds 101-103
(never seed 0): there, with both presets, every one of the 84 init-to-solution lines (MLP and
CNN) decreased strictly, B = 0, while the lines between two solutions had B / J(0) between 0.03
and 0.28 (means per run and architecture 0.07-0.27); the threshold sits 3 times below the smallest
single barrier the control showed, 7 times below the smallest mean, and far above round-off rises
(float32: a few 1e-7 of J). It is compared with the mean over networks plus Z
standard errors of the mean (statistical, expected 0). The same threshold is the bar the control
must clear from above, so a check that passes cannot be blind to barriers of the size that
separate solutions. The endpoint identity is exact: interpolate scores alpha = 0 and 1 as
1 * theta_a + 0 * theta_b, which equals theta_a bit for bit, so J(0) and J(1) differ from the
models' own loss only through the order of the sum over the N training samples; for non-negative
terms that changes the mean by at most (N - 1) u relative (Higham 2002, Sec. 4.2; u the unit
round-off of float32), and the tolerance is N u.

Refuted by: an init-to-solution line on which the training loss rises by more than 1% of J(0)
before falling again, often enough that the mean barrier over networks exceeds that bar, for the MLP
(``mlp_no_barrier``) or the CNN (``cnn_no_barrier``), or no barrier between two independent
solutions (``mlp_pair_barrier_visible``, ``cnn_pair_barrier_visible``: mean B / J(0) at least the
threshold; the claim's contrast, and the control that the measurement can see a barrier). These
four are the evidence checks. Sanity checks (our construction): the path's endpoints reproduce the
losses of the initial and trained models (``endpoints_match_models``) and SGD reached a solution
(``solutions_reached``: every network above 95% training accuracy).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement
from ._threads import one_torch_thread

MODELS = ("mlp", "cnn")
SPAN = (-0.5, 1.5)
MIN_TRAIN_ACCURACY = 0.95


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    n_pairs: int = 5
    mlp_hidden: tuple[int, ...] = (100, 100)
    cnn_channels: tuple[int, ...] = (8, 16)
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 0.05
    momentum: float = 0.9
    n_points: int = 201
    pair_points: int = 51
    barrier_tolerance: float = 0.01

    QUICK = {"n_pairs": 2, "epochs": 20, "n_points": 41, "pair_points": 21}

    def validate(self) -> None:
        from ..errors import UserInputError

        if self.n_pairs < 1 or self.epochs < 1 or self.batch_size < 1:
            raise UserInputError("n_pairs, epochs and batch_size must be >= 1")
        if not self.mlp_hidden or any(w < 1 for w in self.mlp_hidden):
            raise UserInputError("mlp_hidden must be one or more positive widths")
        if len(self.cnn_channels) != 2 or any(c < 1 for c in self.cnn_channels):
            raise UserInputError("cnn_channels must be two positive channel counts")
        if not self.learning_rate > 0 or not 0 <= self.momentum < 1:
            raise UserInputError("need learning_rate > 0 and 0 <= momentum < 1")
        if self.n_points < 5 or self.pair_points < 3:
            raise UserInputError("need n_points >= 5 and pair_points >= 3")
        if not 0 < self.barrier_tolerance < 1:
            raise UserInputError("barrier_tolerance must be in (0, 1) (a fraction of J(0))")


def train_sgd(model, X, y, *, epochs: int, batch_size: int, learning_rate: float,
              momentum: float, rng: np.random.Generator):
    """A trained copy of ``model`` (the argument is not modified): SGD with momentum on the mean
    cross-entropy, ``epochs`` passes over mini-batches of a fresh permutation from ``rng`` (the
    last incomplete batch of each pass is dropped)."""
    import copy

    import torch

    net = copy.deepcopy(model)
    opt = torch.optim.SGD(net.parameters(), lr=learning_rate, momentum=momentum)
    n = len(X)
    size = min(batch_size, n)
    for _ in range(epochs):
        perm = torch.from_numpy(rng.permutation(n))
        for start in range(0, n - size + 1, size):
            idx = perm[start:start + size]
            loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


def direct_loss_accuracy(model, X, y) -> tuple[float, float]:
    """The mean cross-entropy and the accuracy of ``model`` on (X, y), by a plain forward pass."""
    import torch

    with torch.no_grad():
        out = model(X)
        return (float(torch.nn.functional.cross_entropy(out, y)),
                float((out.argmax(1) == y).double().mean()))


def mean_se(x) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    x = np.asarray(x, dtype=np.float64)
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0
    return float(x.mean()), se


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    config.validate()
    with one_torch_thread():
        return _run(config, rng)


def _measure_model(kind: str, config: Config, split_seed: int, rng: np.random.Generator) -> dict:
    import torch

    from ..data import digits
    from ..landscape import interpolate
    from ..models import build

    data = digits(seed=split_seed, image=kind == "cnn")
    X, y = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)
    Xt, yt = torch.from_numpy(data.X_test), torch.from_numpy(data.y_test)
    if kind == "mlp":
        spec = "mlp:hidden=" + "-".join(str(w) for w in config.mlp_hidden)
    else:
        spec = "cnn:channels=" + "-".join(str(c) for c in config.cnn_channels)
    out: dict = {"train": [], "test": [], "barrier": [], "chord": [], "j0": [], "j1": [],
                 "acc1": [], "test_acc1": [], "end_dev": 0.0, "distance": []}
    finals = []
    for _ in range(2 * config.n_pairs):
        init = build(spec, input_shape=data.input_shape, n_classes=10,
                     seed=int(rng.integers(2**31 - 1)))
        sgd_rng = np.random.default_rng(int(rng.integers(2**63 - 1)))
        final = train_sgd(init, X, y, epochs=config.epochs, batch_size=config.batch_size,
                          learning_rate=config.learning_rate, momentum=config.momentum,
                          rng=sgd_rng)
        line = interpolate(init, final, "ce", (X, y), n_points=config.n_points, span=SPAN)
        test = interpolate(init, final, "ce", (Xt, yt), n_points=config.n_points, span=SPAN)
        t = line.t
        i0, i1 = int(np.flatnonzero(t == 0.0)[0]), int(np.flatnonzero(t == 1.0)[0])
        l_init, _ = direct_loss_accuracy(init, X, y)
        l_final, a_final = direct_loss_accuracy(final, X, y)
        out["end_dev"] = max(out["end_dev"], abs(line.loss[i0] - l_init) / l_init,
                             abs(line.loss[i1] - l_final) / l_final)
        out["train"].append(np.stack([line.loss, line.values["accuracy"]]))
        out["test"].append(np.stack([test.loss, test.values["accuracy"]]))
        out["barrier"].append(line.monotone_barrier / line.loss[i0])
        out["chord"].append(line.barrier / line.loss[i0])
        out["j0"].append(float(line.loss[i0]))
        out["j1"].append(float(line.loss[i1]))
        out["acc1"].append(a_final)
        out["test_acc1"].append(float(test.values["accuracy"][i1]))
        out["distance"].append(line.distance)
        finals.append(final)
        out["t"] = t
    out["pair"], out["pair_barrier"], out["pair_nats"] = [], [], []
    for j in range(config.n_pairs):
        line = interpolate(finals[2 * j], finals[2 * j + 1], "ce", (X, y),
                           n_points=config.pair_points, span=(0.0, 1.0))
        out["pair"].append(line.loss)
        out["pair_barrier"].append(line.monotone_barrier / out["j0"][2 * j])
        out["pair_nats"].append(line.monotone_barrier)
        out["pair_t"] = line.t
    out["n_train"] = int(len(X))
    return out


def _run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    split_seed = int(rng.integers(2**31 - 1))
    res = {kind: _measure_model(kind, config, split_seed, rng) for kind in MODELS}
    tol = config.barrier_tolerance
    n_net = 2 * config.n_pairs
    u32 = float(np.finfo(np.float32).eps) / 2
    n_train = res["mlp"]["n_train"]
    end_tol = n_train * u32
    labels = {"mlp": "MLP 64-" + "-".join(str(w) for w in config.mlp_hidden) + "-10",
              "cnn": "CNN (conv " + "-".join(str(c) for c in config.cnn_channels) + ")"}
    checks = []
    for kind in MODELS:
        m, se = mean_se(res[kind]["barrier"])
        checks.append(Check(
            f"{kind}_no_barrier", f"{labels[kind]}: mean over {n_net} networks of the barrier "
            "max_{alpha in [0,1]} [J(alpha) - min_{alpha' <= alpha} J(alpha')] / J(0) on the line "
            "from initialisation to the SGD solution (Goodfellow et al. 2015: no significant "
            f"barrier, so 0; threshold {tol:g} calibrated on seeds 101-103)", m, 0.0, tol,
            kind="statistical", stderr=se))
    checks.append(Check(
        "endpoints_match_models", "max over lines and both ends of |J_path - J_model| / J_model, "
        "J_model the mean cross-entropy of the initial or trained network by its own forward "
        f"pass (theta(0), theta(1) exact; summation order only: tolerance N u, N = {n_train})",
        max(res[k]["end_dev"] for k in MODELS), 0.0, end_tol, role="sanity"))
    checks.append(Check(
        "solutions_reached", f"min over all {2 * n_net} networks of the training accuracy after "
        f"SGD (the line ends at a solution: at least {MIN_TRAIN_ACCURACY:g})",
        min(min(res[k]["acc1"]) for k in MODELS), MIN_TRAIN_ACCURACY, 0.0, kind="directional",
        comparison="at_least", role="sanity"))
    for kind in MODELS:
        m, se = mean_se(res[kind]["pair_barrier"])
        checks.append(Check(
            f"{kind}_pair_barrier_visible", f"{labels[kind]}: mean over {config.n_pairs} pairs of "
            "independently trained solutions of the same barrier B / J(0) on the line between "
            "them (negative control, Garipov et al. 2018: a barrier; it must clear the "
            f"threshold {tol:g})", m, tol, 0.0, kind="directional", comparison="at_least",
            stderr=se))

    measurements = {}
    for kind in MODELS:
        r = res[kind]
        measurements[f"{kind}_barrier_relative"] = Measurement(
            *mean_se(r["barrier"]), description="init-to-solution B / J(0), mean over networks")
        measurements[f"{kind}_barrier_relative_max"] = Measurement(
            float(np.max(r["barrier"])), description="largest B / J(0) over networks")
        measurements[f"{kind}_pair_barrier_relative"] = Measurement(
            *mean_se(r["pair_barrier"]), description="solution-to-solution B / J(0), mean "
            "over pairs")
        measurements[f"{kind}_pair_barrier"] = Measurement(
            *mean_se(r["pair_nats"]), unit="nats", description="solution-to-solution B")
        measurements[f"{kind}_chord_excess_relative"] = Measurement(
            *mean_se(r["chord"]), description="max over [0,1] of J(alpha) minus the chord "
            "(1 - alpha) J(0) + alpha J(1), / J(0), init-to-solution (> 0: not convex)")
        measurements[f"{kind}_initial_loss"] = Measurement(*mean_se(r["j0"]), unit="nats")
        measurements[f"{kind}_final_loss"] = Measurement(*mean_se(r["j1"]), unit="nats")
        measurements[f"{kind}_train_accuracy"] = Measurement(*mean_se(r["acc1"]))
        measurements[f"{kind}_test_accuracy"] = Measurement(*mean_se(r["test_acc1"]))
        measurements[f"{kind}_distance"] = Measurement(
            *mean_se(r["distance"]), description="||theta_final - theta_init||")
    arrays = {"alpha": res["mlp"]["t"], "pair_alpha": res["mlp"]["pair_t"]}
    for kind in MODELS:
        r = res[kind]
        arrays[f"{kind}_train_loss"] = np.stack([a[0] for a in r["train"]])
        arrays[f"{kind}_train_accuracy"] = np.stack([a[1] for a in r["train"]])
        arrays[f"{kind}_test_loss"] = np.stack([a[0] for a in r["test"]])
        arrays[f"{kind}_test_accuracy"] = np.stack([a[1] for a in r["test"]])
        arrays[f"{kind}_barrier_relative"] = np.asarray(r["barrier"])
        arrays[f"{kind}_pair_loss"] = np.stack(r["pair"])
        arrays[f"{kind}_pair_barrier_relative"] = np.asarray(r["pair_barrier"])
    figures = {f"interpolation_{kind}": _line_figure(arrays, kind, labels[kind])
               for kind in MODELS}
    figures["solution_pairs"] = _pair_figure(arrays, labels)
    return ExperimentResult(
        checks=checks, measurements=measurements, arrays=arrays, figures=figures,
        notes=[
            f"{n_net} networks per architecture, trained in {config.n_pairs} independent pairs "
            f"by SGD (lr {config.learning_rate:g}, momentum {config.momentum:g}, batch "
            f"{config.batch_size}, {config.epochs} epochs), float32.",
            f"Barrier threshold {tol:g} J(0): calibrated on seeds 101-103 (B = 0 on every "
            "init-to-solution line there; solution pairs 0.03-0.28 J(0)).",
            f"Endpoint tolerance N u = {end_tol:.2g} (float32 summation of N = {n_train} "
            "per-sample losses in another order).",
        ],
        headline="mlp_no_barrier",
        deviations=_deviations(config, n_train),
    )


def _deviations(config: Config, n_train: int) -> list[str]:
    full = Config()
    step = (SPAN[1] - SPAN[0]) / (config.n_points - 1)
    out = [
        f"scikit-learn digits (8x8, {n_train} training images) instead of MNIST; a ReLU MLP "
        f"64-{'-'.join(str(w) for w in config.mlp_hidden)}-10 and a two-convolution CNN instead "
        "of the paper's maxout and convolutional networks (no dropout)",
        f"SGD with momentum {config.momentum:g}, lr {config.learning_rate:g}, batch "
        f"{config.batch_size}, {config.epochs} epochs, no schedule; float32",
        f"{2 * config.n_pairs} networks per architecture; alpha step {step:.3g} on [-0.5, 1.5], so "
        "a bump narrower than that can be missed",
        "only the monotone decrease on [0, 1] is tested; the paper's 'approximately convex' shape "
        "is reported (chord excess), not checked; LSTMs, MP-DBMs and the paper's other analyses "
        "are not reproduced",
        "negative control only between two final solutions (independent pairs); the line between "
        "them is straight, not an optimised mode-connecting curve",
    ]
    if (config.n_pairs, config.epochs, config.n_points) != (full.n_pairs, full.epochs,
                                                             full.n_points):
        out.append(f"{config.n_pairs} pairs, {config.epochs} epochs and {config.n_points} points "
                   f"per line (full preset: {full.n_pairs}, {full.epochs} and {full.n_points})")
    return out


def _line_figure(arrays, kind, label):
    fig, (ax1, ax2) = new_figure(2, width=5.0)
    a = arrays["alpha"]
    for i, (tr, te) in enumerate(zip(arrays[f"{kind}_train_loss"], arrays[f"{kind}_test_loss"])):
        ax1.plot(a, tr, color=f"C{i % 10}", lw=1.2, label="train" if i == 0 else None)
        ax1.plot(a, te, color=f"C{i % 10}", lw=1, ls="--", label="test" if i == 0 else None)
    for i, (tr, te) in enumerate(zip(arrays[f"{kind}_train_accuracy"],
                                     arrays[f"{kind}_test_accuracy"])):
        ax2.plot(a, tr, color=f"C{i % 10}", lw=1.2, label="train" if i == 0 else None)
        ax2.plot(a, te, color=f"C{i % 10}", lw=1, ls="--", label="test" if i == 0 else None)
    j0 = float(np.max(arrays[f"{kind}_train_loss"][:, np.flatnonzero(a == 0.0)[0]]))
    ax1.set_ylim(0, 2.0 * j0)
    for ax in (ax1, ax2):
        for x in (0.0, 1.0):
            ax.axvline(x, color="gray", lw=0.8, ls=":")
        ax.legend(fontsize=7)
    ax1.set(xlabel="α  (0: initialisation, 1: SGD solution)", ylabel="cross-entropy J(θ(α))",
            title=f"{label}: loss along the line")
    ax2.set(xlabel="α", ylabel="accuracy", title=f"{label}: accuracy along the line")
    return fig


def _pair_figure(arrays, labels):
    fig, axes = new_figure(2, width=5.0)
    a, inside = arrays["alpha"], (arrays["alpha"] >= 0) & (arrays["alpha"] <= 1)
    for ax, kind in zip(axes, MODELS):
        for i, line in enumerate(arrays[f"{kind}_train_loss"]):
            ax.plot(a[inside], line[inside], color="C0", lw=1, alpha=0.7,
                    label="initialisation → solution" if i == 0 else None)
        for i, line in enumerate(arrays[f"{kind}_pair_loss"]):
            ax.plot(arrays["pair_alpha"], line, color="C3", lw=1.5,
                    label="solution → solution (other seed)" if i == 0 else None)
        ax.set_yscale("log")
        ax.set(xlabel="α", ylabel="training cross-entropy", title=f"{labels[kind]}")
        ax.legend(fontsize=7)
    return fig


SPEC = ExperimentSpec(
    id="linear-interpolation",
    title="No barrier on the line from initialisation to solution",
    claim="The training loss along (1 − α)θ_init + αθ_final falls monotonically from the "
          "initialisation to the SGD solution (no barrier), for an MLP and a CNN, while the line "
          "between two solutions crosses one.",
    source="Goodfellow, Vinyals & Saxe 2015 (linear path experiment, Figs. 1-2); Garipov et al. "
           "2018 Sec. 1, Fig. 1 (barrier between solutions)",
    config_cls=Config,
    run=run,
    citations=("goodfellow2015", "garipov2018"),
    statement=(
        "Neural network training is non-convex, yet on the straight line from the initial "
        "parameters to the solution SGD finds, typical networks meet no obstacle: the training "
        "loss decreases monotonically from α = 0 to α = 1. The same line between two "
        "independently trained solutions does cross a barrier, so the simplicity is a property "
        "of the path SGD takes, not of the landscape as a whole."
    ),
    formula=(
        "θ(α) = (1 − α) θ_init + α θ_final\n"
        "B = max_{α∈[0,1]} [J(θ(α)) − min_{α′≤α} J(θ(α′))]\n"
        "init → solution: B / J(0) ≈ 0;  solution → solution: B / J(0) > 0"
    ),
)
