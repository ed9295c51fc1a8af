"""Minimal adversarial distortions by box-constrained L-BFGS.

Szegedy et al. 2014 (``szegedy2014``, Sec. 4.1) define the minimal distortion of an input x
towards a target label l as the solution of min ||r|| subject to f(x + r) = l and
x + r in [0, 1]^n, approximated by box-constrained L-BFGS on c |r| + loss_f(x + r, l) with a line
search for the c that reaches the target. :func:`lbfgs_minimal_distortion` uses the smooth
penalty c ||r||^2 with cross-entropy, solves all points as one separable problem with scipy's
L-BFGS-B (box bounds exact) and bisects log c per point.

torch and scipy are imported inside the function; deterministic; no I/O.
"""

from __future__ import annotations

import math

import numpy as np


def lbfgs_minimal_distortion(model, x, target, c_range, n_bisect):
    """Szegedy et al.'s box-constrained L-BFGS: minimise c ||r||^2 + CE(model(x + r), target)
    subject to 0 <= x + r <= 1 (scipy's L-BFGS-B, all points in one separable problem), with a
    bisection on log c per point for the largest c (smallest r) whose minimiser is classified as
    ``target``. Returns r (NaN rows where even the smallest c failed) and the success mask."""
    import torch
    from scipy.optimize import minimize

    b, n = x.shape
    xn = x.numpy()
    bounds = list(zip((-xn).ravel(), (1.0 - xn).ravel()))

    def solve(c):
        ct = torch.from_numpy(c)

        def fun(z):
            r = torch.from_numpy(z.reshape(b, n)).requires_grad_(True)
            loss = ((ct * (r**2).sum(dim=1)).sum()
                    + torch.nn.functional.cross_entropy(model(x + r), target, reduction="sum"))
            (g,) = torch.autograd.grad(loss, r)
            return float(loss.detach()), g.numpy().ravel()

        res = minimize(fun, np.zeros(b * n), jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 300, "ftol": 1e-10, "gtol": 1e-6})
        r = res.x.reshape(b, n)
        with torch.no_grad():
            hit = (model(x + torch.from_numpy(r)).argmax(dim=1) == target).numpy()
        return r, hit

    lo = np.full(b, math.log(c_range[0]))
    hi = np.full(b, math.log(c_range[1]))
    best = np.full((b, n), np.nan)
    best_norm = np.full(b, np.inf)
    for it in range(n_bisect + 1):
        logc = lo if it == 0 else 0.5 * (lo + hi)
        r, hit = solve(np.exp(logc))
        norm = np.linalg.norm(r, axis=1)
        better = hit & (norm < best_norm)
        best[better], best_norm[better] = r[better], norm[better]
        if it > 0:
            lo, hi = np.where(hit, logc, lo), np.where(hit, hi, logc)
    return best, np.isfinite(best_norm)
