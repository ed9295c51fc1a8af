"""Worst-case and random perturbations: FGSM, error rates, and the linear explanation.

Goodfellow, Shlens & Szegedy 2015 (``goodfellow2015adv``, Secs. 3-4): the fast gradient sign
method perturbs an input by eta = eps sign(grad_x J(theta, x, y)) (:func:`fgsm_direction`; a
max-norm step of size eps). For a linear score w^T x the sign perturbation eps sign(w) moves the
score by eps ||w||_1, of order eps m n, while uniform random signs s move it by
sqrt(E (w^T eps s)^2) = eps ||w||_2, of order eps sqrt(n): :func:`sign_perturbation_stats`
measures both on the margin weights w = W_y - W_j* of a linear classifier
(:func:`margin_weights`), and :func:`resample` changes the input dimension n of images so that the
growth of ||w||_1 / ||w||_2 with n can be measured. :func:`error_rate` is the classification
error of a model on (perturbed) inputs, and :func:`perturbation_errors` the error of several
models on inputs moved along several directions over a grid of eps, clipped to [0, 1] (own-model
FGSM error, transfer between models, uniform random signs of the same size).

Models are torch modules mapping float64 inputs of shape (N, n) to logits (N, classes). torch is
imported inside the functions; randomness only from the caller's ``torch.Generator``; no I/O.
"""

from __future__ import annotations


def fgsm_direction(model, x, y):
    """sign(grad_x CE(model(x), y)) per example (Goodfellow et al.'s eta / eps)."""
    import torch

    x = x.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(x), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g.sign()


def error_rate(model, x, y):
    """Fraction of rows of ``x`` whose arg-max logit differs from the label ``y``."""
    import torch

    with torch.no_grad():
        return float((model(x).argmax(dim=1) != y).double().mean())


def resample(x, side):
    """Images (N, 64) resampled to side x side: area average down, bilinear up."""
    import torch

    img = x.reshape(-1, 1, 8, 8)
    if side == 8:
        return x.clone()
    mode = "area" if side < 8 else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    return torch.nn.functional.interpolate(img, size=(side, side), mode=mode, **kw).reshape(
        len(x), side * side)


def margin_weights(model, x, y):
    """w = W_y - W_j* per example (j*: the highest-scoring other class) of a linear model."""
    import torch

    with torch.no_grad():
        logits = model(x)
        other = logits.clone()
        other[torch.arange(len(y)), y] = -torch.inf
        j = other.argmax(dim=1)
        return model.weight[y] - model.weight[j]


def sign_perturbation_stats(w, eps, n_draws, generator):
    """Goodfellow et al.'s linear explanation for weight vectors ``w`` (rows, one per example).

    Returns ||w||_1 / ||w||_2 per row (the activation change of eps sign(w) over the r.m.s.
    change eps ||w||_2 of random signs), the largest relative deviation of the computed
    w^T (eps sign w) from eps ||w||_1 (a summation-rounding check), and, per draw of ``n_draws``
    uniform random sign vectors s from ``generator``, the mean over rows of
    (w^T eps s)^2 / (eps ||w||_2)^2 (expectation 1)."""
    import torch

    l1, l2 = w.abs().sum(dim=1), w.norm(dim=1)
    identity = float(((eps * w * w.sign()).sum(dim=1) - eps * l1).abs().max()
                     / (eps * l1).min())
    s = torch.randint(0, 2, (n_draws, w.shape[1]), generator=generator) * 2.0 - 1
    act = eps * (w @ s.double().T)                    # (N, draws)
    return l1 / l2, identity, ((act / (eps * l2[:, None]))**2).mean(dim=0).numpy()


def perturbation_errors(models, x, y, directions, eps_grid):
    """Error rate of every model on every perturbed input clip(x + eps d, 0, 1): an array
    [eps, direction, model] (with FGSM directions of the models themselves, the diagonal is the
    own-model error and the rest the transfer matrix), and the largest max-norm excess
    ||x' - x||_inf - eps over the grid (<= 0 up to rounding: clipping to the box never lengthens
    a step of max-norm eps)."""
    import numpy as np

    errors = np.zeros((len(eps_grid), len(directions), len(models)))
    excess = 0.0
    for e, eps in enumerate(eps_grid):
        for s, d in enumerate(directions):
            xa = (x + eps * d).clamp(0.0, 1.0)
            excess = max(excess, float((xa - x).abs().max()) - eps)
            for t, model in enumerate(models):
                errors[e, s, t] = error_rate(model, xa, y)
    return errors, excess
