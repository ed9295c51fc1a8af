"""The networks of sharp-vs-flat-minima and the two measurements made on them: ReLU MLPs, their
Adam training and Dinh et al.'s rescaling T_alpha; Part 1 (Keskar et al. 2017, Metric 2.1,
Tables 2-3: small- against large-batch minima, their epsilon-sharpness and Hochreiter &
Schmidhuber's description length B) and Part 2 (Dinh et al. 2017, Sec. 4: Hessian blocks,
epsilon-sharpness, B and Li et al. 2018's filter-normalised slices of one network under
T_alpha). torch and the instruments are imported inside the functions."""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .sharp_vs_flat_minima import Config


def mlp(sizes, seed: int, dtype=None):
    """A ReLU MLP with the given layer sizes, initialised from ``seed``."""
    import torch

    torch.manual_seed(seed)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    return net if dtype is None else net.to(dtype)


def train_adam(model, X, y, *, batch: int, lr: float, target: float, max_epochs: int,
               rng: np.random.Generator, max_steps: int | None = None):
    """A trained copy of ``model``: Adam on the mean cross-entropy over shuffled batches of
    ``batch`` (last incomplete batch dropped) until the full training loss is below ``target``
    at the end of an epoch, or ``max_epochs`` epochs, or ``max_steps`` steps.
    Returns (net, epochs, steps, final loss)."""
    import torch

    net = copy.deepcopy(model)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n, steps, loss, epochs = len(X), 0, math.inf, 0
    size = min(batch, n)
    while epochs < max_epochs:
        epochs += 1
        perm = torch.from_numpy(rng.permutation(n))
        for start in range(0, n - size + 1, size):
            idx = perm[start:start + size]
            batch_loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
            opt.zero_grad()
            batch_loss.backward()
            opt.step()
            steps += 1
        with torch.no_grad():
            loss = float(torch.nn.functional.cross_entropy(net(X), y))
        if loss < target or (max_steps is not None and steps >= max_steps):
            break
    return net, epochs, steps, loss


def rescale(net, alpha: float):
    """Dinh et al.'s T_alpha on a 2-layer ReLU net: layer 1 (weight, bias) times alpha,
    layer-2 weight divided by alpha, output bias unchanged (a copy)."""
    import torch

    out = copy.deepcopy(net)
    with torch.no_grad():
        out[0].weight.mul_(alpha)
        out[0].bias.mul_(alpha)
        out[2].weight.div_(alpha)
    return out


def accuracy(net, X, y) -> float:
    import torch

    with torch.no_grad():
        return float((net(X).argmax(1) == y).double().mean())


def keskar_part(config: Config, rng: np.random.Generator, X, y, Xt, yt) -> dict:
    """Part 1: per seed, one initialisation trained by Adam with the small and the large
    batch; epsilon-sharpness, accuracies, GGN diagonal and B of each network, and the loss
    along the line from the small-batch to the large-batch solution."""
    import torch

    from ..curvature import ggn_diagonal
    from ..landscape import description_length, epsilon_sharpness, interpolate

    sizes = (X.shape[1], *config.hidden, 10)
    out = {k: [] for k in ("phi_sb", "phi_lb", "acc_sb", "acc_lb", "tacc_sb", "tacc_lb",
                           "loss_sb", "loss_lb", "steps_sb", "steps_lb", "line", "B_sb",
                           "B_lb", "floored_sb", "floored_lb", "c_sb", "c_lb", "dB_common")}
    for _ in range(config.n_seeds):
        init = mlp(sizes, int(rng.integers(2**31 - 1)))
        for tag, batch in (("sb", config.small_batch), ("lb", config.large_batch)):
            net, _, steps, loss = train_adam(
                init, X, y, batch=batch, lr=config.learning_rate, target=config.target_loss,
                max_epochs=10**9, max_steps=config.max_steps,
                rng=np.random.default_rng(int(rng.integers(2**63 - 1))))
            sharp = epsilon_sharpness(net, "ce", (X, y), eps=config.eps, seed=0,
                                      max_iter=config.lbfgs_iter, dtype=torch.float64)
            out[f"phi_{tag}"].append(sharp.value)
            out[f"acc_{tag}"].append(accuracy(net, X, y))
            out[f"tacc_{tag}"].append(accuracy(net, Xt, yt))
            out[f"loss_{tag}"].append(loss)
            out[f"steps_{tag}"].append(steps)
            c = ggn_diagonal(net, "ce", (X, y), dtype=torch.float64)
            out[f"B_{tag}"].append(description_length(c, config.hs_delta, radius=config.radius,
                                                      floor=config.hs_floor))
            out[f"floored_{tag}"].append(int((c < config.hs_floor).sum()))
            out[f"c_{tag}"] = c.numpy()
            out[tag] = net
        # B_LB - B_SB over the entries above the floor in both networks: the floor's zero point
        # cancels there (an entry floored in one network only would add 0.5 log2(c / floor)).
        both = (out["c_sb"] >= config.hs_floor) & (out["c_lb"] >= config.hs_floor)
        out["dB_common"].append(float(0.5 * np.log2(out["c_lb"][both] / out["c_sb"][both]).sum()))
        line = interpolate(out["sb"], out["lb"], "ce", (X, y), n_points=config.line_points,
                           span=(-1.0, 2.0))
        test = interpolate(out["sb"], out["lb"], "ce", (Xt, yt), n_points=config.line_points,
                           span=(-1.0, 2.0))
        out["line"].append(np.stack([line.loss, test.loss]))
        out["line_t"] = line.t
    return out


def dinh_part(config: Config, rng: np.random.Generator, X, y) -> dict:
    """Part 2: one float64 network under T_alpha for every alpha: logits, loss, Hessian
    lambda_max (whole, layer-1 and layer-2 blocks), GGN diagonal and B, epsilon-sharpness,
    and the filter-normalised and raw 1D slices."""
    import torch

    from ..curvature import HessianOperator, eigenvalues, ggn_diagonal
    from ..landscape import description_length, epsilon_sharpness, evaluate_grid, random_directions

    X, y = X.double(), y
    init = mlp((X.shape[1], config.dinh_hidden, 10), int(rng.integers(2**31 - 1)),
               dtype=torch.float64)
    net, *_ = train_adam(init, X, y, batch=config.small_batch, lr=config.learning_rate,
                         target=0.0, max_epochs=config.dinh_epochs,
                         rng=np.random.default_rng(int(rng.integers(2**63 - 1))))
    dir_seed = int(rng.integers(2**31 - 1))
    with torch.no_grad():
        logits0 = net(X)
    blocks = {"full": None, "layer1": ["0.weight", "0.bias"], "layer2": ["2.weight"]}
    out = {k: [] for k in ("logit_dev", "loss", "phi", "filter", "raw", "resid", "B", "ggn")}
    out.update({k: [] for k in blocks})
    for a in config.alphas:
        m = rescale(net, a)
        with torch.no_grad():
            logits = m(X)
            out["loss"].append(float(torch.nn.functional.cross_entropy(logits, y)))
        out["logit_dev"].append(float((logits - logits0).abs().max() / logits0.abs().max()))
        for name, params in blocks.items():
            op = HessianOperator(m, "ce", (X, y), params=params)
            eig = eigenvalues(op, k=1, which="largest", tol=1e-10, seed=0)
            out[name].append(float(eig.values[0]))
            out["resid"].append(float(eig.residuals[0] / max(abs(float(eig.values[0])),
                                                             eig.norm_estimate)))
        c = ggn_diagonal(m, "ce", (X, y)).numpy()
        out["ggn"].append(c)
        out["B"].append(description_length(c, config.hs_delta, radius=config.radius,
                                           floor=config.hs_floor))
        out["phi"].append(epsilon_sharpness(m, "ce", (X, y), eps=config.eps, seed=0,
                                            max_iter=config.lbfgs_iter).value)
        for norm in ("filter", "raw"):
            d = random_directions(m, 1, norm="filter" if norm == "filter" else "none",
                                  seed=dir_seed)
            res = evaluate_grid(m, "ce", (X, y), d, grid=config.slice_points, span=(-1.0, 1.0),
                                accuracy=False)
            out[norm].append(np.asarray(res.loss, dtype=np.float64))
        out["t"] = np.asarray(res.coords[0])
    return out
