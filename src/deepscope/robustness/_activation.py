"""Activation maximisation: projected ascent on a unit, class models, label purity of directions.

- Erhan et al. 2009 (``erhan2009``, Sec. 3.1) visualise a unit h_ij by x* = argmax h_ij(x) over
  inputs of bounded norm, found by gradient ascent. :func:`unit_ascent` runs the ascent for many
  units of one layer at once from a row-wise start, with a projection supplied as an update rule:
  :func:`ball_update` (projected gradient ascent on ||x|| <= rho, whose maximiser for a linear unit
  w^T x + b is rho w / ||w|| by Cauchy-Schwarz) or :func:`box_sign_update` (projected sign ascent
  in [0, 1]^d, whose maximiser is the sign pattern 1[w_i > 0]).
- Simonyan, Vedaldi & Zisserman 2014 (``simonyan2014``, Sec. 2, Eq. 1): the class model
  argmax_x S_c(x) - lambda ||x||^2 of the unnormalised class score, by gradient ascent from the
  zero image (:func:`class_models`; for a linear score it is w_c / (2 lambda)).
- Szegedy et al. 2014 (``szegedy2014``, Sec. 3) compare the images that maximise a unit e_i with
  those that maximise a random direction v of the same layer; :func:`label_purity` makes their
  visual coherence a number: the share of the most common label among the top-k images.

Models and layers are float64 torch modules; torch is imported inside the functions; no
randomness inside (starts are the caller's); no I/O.
"""

from __future__ import annotations


def unit_ascent(linear, x0, update, steps: int, target, shift=0.0):
    """Ascent of unit j's pre-activation from row j of ``x0`` (units x inputs) with its autograd
    gradient g, x <- update(x, g); the layer sees x - shift. Returns the final points and
    ||x_t - target_j|| per step (steps+1 x units)."""
    import torch

    x, idx = x0.clone(), torch.arange(x0.shape[0])
    dist = [(x - target).norm(dim=1)]
    for _ in range(steps):
        x.requires_grad_(True)
        (g,) = torch.autograd.grad(linear(x - shift)[idx, idx].sum(), x)
        with torch.no_grad():
            x = update(x, g)
        dist.append((x - target).norm(dim=1))
    return x.detach(), torch.stack(dist).detach()


def ball_update(radius: float, step: float):
    """Projected gradient ascent on the ball ||x|| <= radius."""
    import torch

    def update(x, g):
        y = x + step * g
        return y * torch.clamp(radius / y.norm(dim=1, keepdim=True), max=1.0)
    return update


def box_sign_update(step: float):
    """Projected sign ascent (steepest ascent in the max-norm) on the box [0, 1]^d."""
    import torch

    return lambda x, g: torch.clamp(x + step * torch.sign(g), 0.0, 1.0)


def class_models(net, lam: float, step: float, steps: int, *, n_classes: int, n_inputs: int):
    """Simonyan et al.'s class models: ascent on S_c(x) - lam ||x||^2 from x = 0, all
    ``n_classes`` classes at once (``net`` maps (N, n_inputs) to (N, n_classes) scores), step
    eta_t = step / (lam (1 + t / 20))."""
    import torch

    x = torch.zeros(n_classes, n_inputs, dtype=torch.float64)
    idx = torch.arange(n_classes)
    for t in range(steps):
        x.requires_grad_(True)
        obj = net(x)[idx, idx] - lam * (x * x).sum(dim=1)
        (g,) = torch.autograd.grad(obj.sum(), x)
        with torch.no_grad():
            x = x + step / (lam * (1 + t / 20)) * g
    return x.detach()


def label_purity(scores, labels, k: int):
    """Share of the most common label among the top-k rows of each column of ``scores``
    (labels: integers 0..C-1, one per row)."""
    import torch

    top = scores.topk(k, dim=0).indices
    counts = torch.nn.functional.one_hot(labels[top], int(labels.max()) + 1).sum(dim=0)
    return counts.max(dim=1).values.double() / k
