"""Sharpness of a minimum, each measure with the reparametrisations it is invariant to.

Dinh et al. (2017): for a ReLU network, ``T_alpha(theta_1, theta_2) = (alpha theta_1,
theta_2 / alpha)`` leaves the function unchanged, yet moves most flatness measures at will.

=======================  ==========================================================  =========
measure                  definition                                                  invariant
=======================  ==========================================================  =========
epsilon_sharpness        ``100 (max_{y in C_eps} L(x + A y) - L(x)) / (1 + L(x))``,   none
                         ``|y_i| <= eps (|(A^+ x)_i| + 1)`` (Keskar et al. 2017)
worst_case_sharpness     ``max_{||e||_2 <= rho} L(theta + e) - L(theta)`` (SAM)       rotations
adaptive_sharpness       ``max_{||e / |theta| ||_2 <= rho}`` (worst) or ``E_{z ~       elementwise
                         N(0, rho^2)} L(theta + |theta| z)`` (average), minus L        rescaling
hessian_sharpness        ``lambda_max(H)`` and ``tr H``                              none
=======================  ==========================================================  =========

"rotations": orthogonal changes of parameter coordinates. "elementwise rescaling": any
``theta -> s * theta`` with ``s > 0`` per entry that leaves the function unchanged, including the
layer-wise and neuron-wise rescalings of ReLU networks (Kwon et al. 2021; Andriushchenko et al.
2023). The ascent of ``worst_case_sharpness`` and ``adaptive_sharpness`` is projected normalised
gradient ascent (a lower bound on the maximum; the best value seen is kept).

References:
    Keskar et al., 'On large-batch training for deep learning: generalization gap and sharp
    minima', ICLR 2017. Dinh, Pascanu, Bengio & Bengio, 'Sharp minima can generalize for deep
    nets', ICML 2017. Foret et al., 'Sharpness-aware minimization', ICLR 2021. Kwon et al.,
    'ASAM', ICML 2021. Andriushchenko et al., 'A modern look at the relationship between
    sharpness and generalization', ICML 2023.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserInputError
from ..problem import Problem


@dataclasses.dataclass
class SharpnessResult:
    """One sharpness value with what it was computed from.

    Attributes:
        measure: the measure's name.
        value: the sharpness.
        stderr: its standard error (stochastic measures), else 0.
        base_loss: ``L(theta)``.
        perturbed_loss: the maximal (or mean) perturbed loss found.
        invariant_to: the reparametrisations the measure ignores (see the module docstring).
        info: settings and counts.
    """

    measure: str
    value: float
    stderr: float
    base_loss: float
    perturbed_loss: float
    invariant_to: str
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        from ..notebook import brief

        return brief("SharpnessResult", measure=self.measure, value=self.value,
                     stderr=self.stderr, base_loss=self.base_loss,
                     perturbed_loss=self.perturbed_loss, invariant_to=self.invariant_to)

    def _repr_html_(self) -> str:
        from ..notebook import sharpness_html

        return sharpness_html(self)


class _Objective:
    """The loss over all data as a function of the flat parameters, with its gradient."""

    def __init__(self, model: nn.Module, loss_fn: Any, data: Any, dtype: torch.dtype | None,
                 loss_form: str = "auto"):
        self.problem = Problem(model, loss_fn, data, params=None, bn="eval", dtype=dtype,
                                 loss_form=loss_form)
        self.theta = self.problem.join(self.problem.params).clone()
        self.n_evals = 0

    def value(self, flat: torch.Tensor) -> torch.Tensor:
        pr = self.problem
        params = pr.split(flat)
        total = torch.zeros((), dtype=pr.dtype, device=pr.device)
        for batch, w in pr.iter_batches():
            total = total + w * pr.batch_loss(params, batch)
        self.n_evals += 1
        return total

    def value_and_grad(self, flat: torch.Tensor) -> tuple[float, torch.Tensor]:
        leaf = flat.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            value = self.value(leaf)
            (grad,) = torch.autograd.grad(value, leaf)
        return float(value.detach()), grad.detach()


def _check_positive(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise UserInputError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def epsilon_sharpness(model: nn.Module, loss_fn: Any, data: Any, eps: float = 1e-3, *,
                      subspace_dim: int | None = None, seed: int = 0, max_iter: int = 20,
                      dtype: torch.dtype | None = None) -> SharpnessResult:
    """Keskar et al.'s epsilon-sharpness, maximised by L-BFGS-B (scipy) inside the box.

    ``subspace_dim=None`` searches the full space (``A = I``); an integer p searches a random
    p-dimensional subspace (``A`` Gaussian n x p, seeded). Not invariant to reparametrisation:
    the box scales with ``|x_i| + 1``, so T_alpha changes it (Dinh et al. 2017).
    """
    from scipy.optimize import minimize

    eps = _check_positive("eps", eps)
    obj = _Objective(model, loss_fn, data, dtype)
    x = obj.theta
    base = float(obj.value(x))
    n = x.numel()
    if subspace_dim is None:
        A = None
        bound = (eps * (x.abs() + 1)).double().cpu().numpy()
    else:
        if isinstance(subspace_dim, bool) or not isinstance(subspace_dim, int) or not (
                1 <= subspace_dim <= n):
            raise UserInputError(f"subspace_dim must be in [1, {n}], got {subspace_dim!r}")
        gen = torch.Generator().manual_seed(int(seed))
        A = torch.randn(n, subspace_dim, generator=gen, dtype=torch.float64).to(x)
        coef = torch.linalg.pinv(A.double()) @ x.double()
        bound = (eps * (coef.abs() + 1)).cpu().numpy()

    def f(y: np.ndarray) -> tuple[float, np.ndarray]:
        yt = torch.as_tensor(y, dtype=x.dtype, device=x.device)
        step = yt if A is None else A @ yt
        value, grad = obj.value_and_grad(x + step)
        g = grad if A is None else A.T @ grad
        return -value, -g.double().cpu().numpy()

    # start inside the box at a seeded random point: at a minimum the gradient at 0 vanishes
    y0 = np.random.default_rng(seed).uniform(-0.5, 0.5, len(bound)) * bound
    res = minimize(f, y0, jac=True, method="L-BFGS-B",
                   bounds=list(zip(-bound, bound)), options={"maxiter": int(max_iter)})
    worst = max(-float(res.fun), base)
    return SharpnessResult("epsilon", 100.0 * (worst - base) / (1.0 + base), 0.0, base, worst,
                           "none", {"eps": eps, "subspace_dim": subspace_dim,
                                    "n_iter": int(res.nit), "n_evals": obj.n_evals,
                                    "seed": seed})


def _ascent(obj: _Objective, scale: torch.Tensor | None, rho: float, n_steps: int,
            step: float, seed: int) -> tuple[float, float]:
    """Projected normalised gradient ascent on ``L(theta + scale * z)``, ``||z||_2 <= rho``.

    It starts from a seeded random ``z`` of norm ``rho / 10`` (at a minimum the gradient
    vanishes) and keeps the best loss seen.
    """
    theta = obj.theta
    s = torch.ones_like(theta) if scale is None else scale
    base = float(obj.value(theta))
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(theta.shape, generator=gen, dtype=torch.float64).to(theta)
    z = z * (0.1 * rho / z.norm())
    best, grad = obj.value_and_grad(theta + s * z)
    best = max(best, base)
    for _ in range(n_steps):
        g = s * grad
        gn = g.norm()
        if float(gn) == 0:
            break
        z = z + step * rho * g / gn
        zn = z.norm()
        if float(zn) > rho:
            z = z * (rho / zn)
        value, grad = obj.value_and_grad(theta + s * z)
        best = max(best, value)
    return base, best


def worst_case_sharpness(model: nn.Module, loss_fn: Any, data: Any, rho: float = 0.05, *,
                         n_steps: int = 10, step: float = 0.5, seed: int = 0,
                         dtype: torch.dtype | None = None) -> SharpnessResult:
    """``max_{||e||_2 <= rho} L(theta + e) - L(theta)`` by SAM-style ascent (a lower bound).

    Invariant to rotations of
    parameter space, not to rescalings.
    """
    rho = _check_positive("rho", rho)
    obj = _Objective(model, loss_fn, data, dtype)
    base, best = _ascent(obj, None, rho, int(n_steps), _check_positive("step", step), seed)
    return SharpnessResult("worst_case_l2", best - base, 0.0, base, best, "rotations",
                           {"rho": rho, "n_steps": n_steps, "step": step,
                            "n_evals": obj.n_evals})


def adaptive_sharpness(model: nn.Module, loss_fn: Any, data: Any, rho: float = 0.05, *,
                       kind: str = "worst", n_steps: int = 10, step: float = 0.5,
                       n_samples: int = 32, seed: int = 0,
                       dtype: torch.dtype | None = None) -> SharpnessResult:
    """Adaptive sharpness with ``T_theta = |theta|`` (elementwise), worst case or average.

    ``kind="worst"``: ``max_{||z||_2 <= rho} L(theta + |theta| z) - L(theta)`` by projected
    ascent in ``z``. ``kind="average"``: ``E_{z ~ N(0, rho^2 I)} L(theta + |theta| z) - L``
    over ``n_samples`` seeded draws, with its standard error. Invariant to every elementwise
    positive rescaling that leaves the function unchanged (e.g. Dinh et al.'s T_alpha): the
    ascent and the draws are the same in ``z``.
    """
    rho = _check_positive("rho", rho)
    if kind not in ("worst", "average"):
        raise UserInputError(f"kind must be 'worst' or 'average', got {kind!r}")
    obj = _Objective(model, loss_fn, data, dtype)
    scale = obj.theta.abs()
    if kind == "worst":
        base, best = _ascent(obj, scale, rho, int(n_steps), _check_positive("step", step),
                             seed)
        return SharpnessResult("adaptive_worst", best - base, 0.0, base, best,
                               "elementwise rescaling", {"rho": rho, "n_steps": n_steps,
                                                         "step": step, "n_evals": obj.n_evals})
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise UserInputError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        base = float(obj.value(obj.theta))
        vals = []
        for _ in range(n_samples):
            z = torch.randn(obj.theta.shape, generator=gen, dtype=torch.float64).to(obj.theta)
            vals.append(float(obj.value(obj.theta + scale * (rho * z))))
    vals_a = np.asarray(vals)
    mean = float(vals_a.mean())
    return SharpnessResult("adaptive_average", mean - base,
                           float(vals_a.std(ddof=1) / math.sqrt(n_samples)), base, mean,
                           "elementwise rescaling", {"rho": rho, "n_samples": n_samples,
                                                     "seed": seed})


def hessian_sharpness(model: nn.Module, loss_fn: Any, data: Any, *, trace: bool = True,
                      dtype: torch.dtype | None = None, tol: float = 1e-6, trace_rtol: float = 1e-2,
                      seed: int = 0) -> dict[str, SharpnessResult]:
    """``lambda_max(H)`` (Lanczos) and ``tr H`` (Hutch++) from :mod:`deepscope.curvature`.

    Not invariant: under T_alpha, ``H_11 -> H_11 / alpha^2`` and ``H_22 -> alpha^2 H_22``.
    """
    from ..curvature import HessianOperator, eigenvalues
    from ..curvature import trace as trace_estimate

    op = HessianOperator(model, loss_fn, data, params=None, dtype=dtype)
    top = eigenvalues(op, k=1, which="largest", tol=tol, seed=seed)
    out = {"lambda_max": SharpnessResult(
        "lambda_max", float(top.values[0]), 0.0, op.loss_value, float("nan"), "none",
        {"residual": float(top.residuals[0]), "converged": bool(top.converged[0]),
         "n_matvecs": top.n_matvecs})}
    if trace:
        est = trace_estimate(op, rtol=trace_rtol, seed=seed)
        out["trace"] = SharpnessResult("trace", est.value, est.stderr, op.loss_value,
                                       float("nan"), "none",
                                       {"method": est.method, "n_matvecs": est.n_matvecs,
                                        "converged": est.converged})
    return out
