"""The spherical p-spin glass: energy, Riemannian gradient and Hessian, descent to local minima.

The model (Auffinger, Ben Arous & Cerny 2013; Choromanska et al. 2015, Sec. 3) is

    H(w) = n^{-(p-1)/2} sum_{i_1..i_p} J_{i_1..i_p} w_{i_1} ... w_{i_p},   ||w||^2 = n,

with J i.i.d. standard normal, so that Var H(w) = n and the energy per site H / n is of order
one. Only the symmetric part S of J enters H; with c = n^{-(p-1)/2} the Euclidean derivatives are
g = p c S(., w, ..., w) and D^2 H = p (p-1) c S(., ., w, ..., w), and since H is homogeneous of
degree p, <w, g> = p H. On the sphere of radius sqrt(n) the Riemannian gradient is P g and the
Riemannian Hessian on the tangent space is P (D^2 H - (<w, g> / n) I) P, with P = I - w w^T / n.

At a critical point of energy per site u the tangent Hessian is, in law, a GOE matrix of size
n - 1 with semicircle radius 2 sqrt(p (p-1)) shifted by -p u (Auffinger et al., Sec. 3), so
local minima are typical only below -E_inf = -2 sqrt((p-1)/p); the ground state -E_0 is the zero
of their complexity Theta_p of critical values, computed by :func:`ground_state_energy`.

Pure measurement code (float64 torch, randomness only from the caller's generator, no file I/O).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = ["complexity", "couplings", "energy", "euclidean_gradient", "ground_state_energy",
           "local_terms", "riemannian_descent", "riemannian_gradient", "tangent_basis",
           "tangent_hessian",
           "threshold_energy"]


def threshold_energy(p: int) -> float:
    """E_inf = 2 sqrt((p - 1) / p): minima are typical at energies per site below -E_inf."""
    return 2.0 * math.sqrt((p - 1) / p)


def complexity(u: float, p: int) -> float:
    """Theta_p(u) for u <= -E_inf: the complexity of critical values (Auffinger, Ben Arous &
    Cerny 2013).

    (1/n) log E[number of critical points with H / n <= u] tends to Theta_p(u) =
    1/2 log(p - 1) - (p - 2) / (4 (p - 1)) u^2 - I_1(u), with
    I_1(u) = -u / E_inf^2 sqrt(u^2 - E_inf^2) - log(-u + sqrt(u^2 - E_inf^2)) + log E_inf.
    """
    e_inf = threshold_energy(p)
    if u > -e_inf:
        raise ValueError(f"complexity formula holds for u <= -E_inf = {-e_inf:.6f}, got {u}")
    s = math.sqrt(max(u * u - e_inf * e_inf, 0.0))
    i1 = -u / e_inf**2 * s - math.log(-u + s) + math.log(e_inf)
    return 0.5 * math.log(p - 1) - (p - 2) / (4 * (p - 1)) * u * u - i1


def ground_state_energy(p: int) -> float:
    """E_0: -E_0 is the zero of Theta_p below -E_inf (bisection to float64 resolution), p >= 3."""
    if p < 3:
        raise ValueError("E_0 from the complexity needs p >= 3 (for p = 2, E_0 = E_inf)")
    lo, hi = -10.0, -threshold_energy(p)  # Theta_p(lo) < 0 < Theta_p(hi)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if complexity(mid, p) < 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 4 * np.finfo(float).eps * abs(mid):
            break
    return -0.5 * (lo + hi)


def couplings(n: int, p: int, rng: np.random.Generator):
    """The symmetric part S of an i.i.d. N(0, 1) tensor J of order p and side n (torch float64).

    H depends on J only through S = (1 / p!) sum over index permutations of J.
    """
    import torch

    j = torch.from_numpy(rng.standard_normal((n,) * p))
    perms = list(itertools.permutations(range(p)))
    s = sum(j.permute(*perm) for perm in perms) / len(perms)
    return s.contiguous()


def _contract(s, w, times: int):
    """S(., ..., ., w, ..., w) with the last ``times`` indices contracted with w (batched).

    ``s`` has order p and side n; ``w`` is (batch, n). Returns (batch, n, ..., n) of order
    p - times (a scalar per row when times = p).
    """
    n, p, b = s.shape[0], s.dim(), w.shape[0]
    # First contraction as one matrix product over the batch: (n^(p-1), n) @ (n, batch).
    out = (s.reshape(-1, n) @ w.T).T.reshape(b, *(n,) * (p - 1))
    for _ in range(times - 1):
        out = (out * w.reshape(b, *(1,) * (out.dim() - 2), n)).sum(dim=-1)
    return out


def energy(s, w):
    """H(w) for each row of w (batch, n); the energy per site is H / n."""
    n, p = s.shape[0], s.dim()
    return _contract(s, w, p) * n ** (-(p - 1) / 2)


def euclidean_gradient(s, w):
    """The Euclidean gradient g = p n^{-(p-1)/2} S(., w, ..., w), shape (batch, n)."""
    n, p = s.shape[0], s.dim()
    return p * n ** (-(p - 1) / 2) * _contract(s, w, p - 1)


def riemannian_gradient(s, w):
    """The gradient projected on the tangent space of the sphere ||w||^2 = n: (I - w w^T / n) g."""
    n = s.shape[0]
    g = euclidean_gradient(s, w)
    return g - w * ((g * w).sum(dim=1, keepdim=True) / n)


def tangent_basis(w):
    """Orthonormal bases of the tangent spaces at the rows of w: (batch, n, n - 1), the last
    n - 1 columns of a complete QR factorisation of each row (a single vector)."""
    import torch

    q, _ = torch.linalg.qr(w.unsqueeze(-1), mode="complete")
    return q[..., 1:]


def local_terms(s, w):
    """Energy, Riemannian gradient, tangent Hessian and tangent basis at the rows of w.

    One contraction M = S(., ., w, ..., w) per row gives all of them: S(., w, ..., w) = M w,
    H = c <w, M w>, g = p c M w, D^2 H = p (p - 1) c M, and the tangent Hessian in the basis Q of
    :func:`tangent_basis` is Q^T (D^2 H - (<w, g> / n) I) Q. Returns (H (batch,), grad_R
    (batch, n), hess_T (batch, n - 1, n - 1), Q (batch, n, n - 1)).
    """
    import torch

    n, p = s.shape[0], s.dim()
    c = n ** (-(p - 1) / 2)
    m = _contract(s, w, p - 2) if p > 2 else s.expand(w.shape[0], n, n)
    mw = (m @ w.unsqueeze(-1)).squeeze(-1)
    h = c * (w * mw).sum(dim=1)
    g = p * c * mw
    radial = p * h / n  # <w, g> / n by homogeneity
    grad = g - w * radial.unsqueeze(-1)
    q = tangent_basis(w)
    hess = q.transpose(-1, -2) @ (p * (p - 1) * c * m) @ q
    hess = 0.5 * (hess + hess.transpose(-1, -2))
    hess = hess - radial[:, None, None] * torch.eye(n - 1, dtype=w.dtype)
    return h, grad, hess, q


def tangent_hessian(s, w):
    """The Riemannian Hessian at a single point w (n,), (n - 1) x (n - 1) in the basis
    :func:`tangent_basis`: Q^T (D^2 H - (<w, g> / n) I) Q."""
    return local_terms(s, w.reshape(1, -1))[2][0]


def _retract(w, n):
    return w * (math.sqrt(n) / w.norm(dim=1, keepdim=True))


def riemannian_descent(s, w0, step: float, max_steps: int, grad_tol: float,
                       switch_tol: float, momentum: float = 0.0, newton_steps: int = 30,
                       fast_dtype=None):
    """Projected (heavy-ball) gradient descent on the sphere, finished by Riemannian Newton steps.

    Gradient steps v <- momentum P v - step grad_R, w <- sqrt(n) (w + v) / ||w + v|| (P the
    tangent projector at w), batched over the rows of ``w0`` (batch, n), until a row's
    ||grad_R|| <= ``switch_tol`` or ``max_steps`` steps are spent. Each row then takes Newton
    steps in the tangent space (retracted to the sphere, halved until H does not increase) while
    its tangent Hessian is positive definite and ||grad_R|| > ``grad_tol``; a row whose Hessian
    is not positive definite returns to gradient steps with a ten times smaller ``switch_tol``.
    With ``fast_dtype`` (e.g. torch.float32) the gradient steps run on a copy of S in that type
    (they only need to bring each row near a minimum); Newton steps, and so the end points, are
    computed in the type of ``s``.
    Returns (w, gradient steps per row); the caller checks gradient and Hessian at the end.
    """
    import torch

    n = s.shape[0]
    s_fast = s if fast_dtype is None else s.to(fast_dtype)
    w = _retract(w0.clone().to(s.dtype), n)
    steps = np.zeros(w.shape[0], dtype=int)
    coarse = np.full(w.shape[0], float(switch_tol))
    active = np.ones(w.shape[0], dtype=bool)
    vel = torch.zeros_like(w, dtype=s_fast.dtype)
    while active.any():
        live = np.flatnonzero(active)
        wf = w.to(s_fast.dtype)
        while live.size:  # gradient steps on the rows still above their switch threshold
            g = riemannian_gradient(s_fast, wf[torch.from_numpy(live)])
            go = (g.norm(dim=1).numpy() > coarse[live]) & (steps[live] < max_steps)
            live, g = live[go], g[torch.from_numpy(go)]
            if live.size:
                idx = torch.from_numpy(live)
                wl, vl = wf[idx], vel[idx]
                vl = momentum * (vl - wl * ((vl * wl).sum(dim=1, keepdim=True) / n)) - step * g
                wf[idx], vel[idx] = _retract(wl + vl, n), vl
                steps[live] += 1
        moved = torch.from_numpy(np.flatnonzero(active))
        w[moved] = _retract(wf[moved].to(s.dtype), n)
        rows = np.flatnonzero(active & (steps < max_steps))
        active[:] = False
        for _ in range(newton_steps):
            if not rows.size:
                break
            idx = torch.from_numpy(rows)
            h, g, hess, q = local_terms(s, w[idx])
            evals, evecs = torch.linalg.eigh(hess)
            done = g.norm(dim=1).numpy() <= grad_tol
            saddle = ~done & (evals[:, 0].numpy() <= 0)
            active[rows[saddle]] = True  # not in a minimum's basin yet: more gradient steps
            coarse[rows[saddle]] *= 0.1
            vel[torch.from_numpy(rows[saddle])] = 0.0
            keep = ~done & ~saddle
            rows, h, g, q = rows[keep], h[keep], g[keep], q[keep]
            evals, evecs = evals[keep], evecs[keep]
            if not rows.size:
                break
            coef = (evecs.transpose(-1, -2) @ (q.transpose(-1, -2) @ g.unsqueeze(-1)))
            delta = (q @ (evecs @ (coef / evals.unsqueeze(-1)))).squeeze(-1)
            scale = torch.ones(rows.size, 1, dtype=w.dtype)
            todo = np.ones(rows.size, dtype=bool)
            for _ in range(30):  # backtracking: halve the step until H does not increase
                t_idx = torch.from_numpy(np.flatnonzero(todo))
                trial = _retract(w[torch.from_numpy(rows[todo])] - scale[t_idx] * delta[t_idx], n)
                ok = (energy(s, trial) <= h[t_idx] + 1e-12 * h[t_idx].abs()).numpy()
                w[torch.from_numpy(rows[todo][ok])] = trial[torch.from_numpy(ok)]
                todo[np.flatnonzero(todo)[ok]] = False
                if not todo.any():
                    break
                scale[torch.from_numpy(todo)] *= 0.5
    return w, steps
