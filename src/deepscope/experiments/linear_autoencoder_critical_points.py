"""linear-autoencoder-critical-points: the linear autoencoder has no spurious minima.

Question: for the n-p-n linear network trained on E(A, B) = sum_t ||y_t - A B x_t||^2 with
y = x (an autoencoder), are the critical points exactly the projections onto sets of p
eigenvectors, is the one onto the top p the only minimum, and does gradient descent find it?

Claim: Baldi and Hornik 1989, Sec. 2, Facts 1-4 and Eq. 11. With Sigma_XX invertible and
Sigma = Sigma_YX Sigma_XX^-1 Sigma_XY of full rank with distinct eigenvalues l_1 > ... > l_n
(eigenvectors U), every full-rank critical point has A = U_I C, B = C^-1 U_I' Sigma_YX Sigma_XX^-1
for a set I of p indices and an invertible p x p matrix C, so W = A B = P_{U_I} Sigma_YX
Sigma_XX^-1, and E = tr Sigma_YY - sum_{i in I} l_i (Eq. 11). I = {1..p} is the unique local
(hence global) minimum; the other C(n, p) - 1 sets are saddle points. For the autoencoder all
Sigma's equal Sigma_XX, so W = P_{U_I}. The Sigma's are sums over samples, as in the paper.

What is measured (float64 throughout): n = 6, p = 2; T Gaussian samples whose population
covariance has eigenvalues 6, 5, 4, 3, 2, 1 in a random basis; Sigma and its eigenpairs are those
of the sample (Sigma = X'X). (a) For each of the 15 sets I, the critical point A = U_I C,
B = C^-1 U_I' with a fresh random C (singular values uniform in [c_min, c_max], random
rotations) as a real ``torch.nn.Sequential`` of two bias-free linear layers: E on the data, the
autograd gradient, and the dense Hessian (``deepscope.curvature.HessianOperator(...).to_dense()``,
24 x 24) with its eigenvalues. (b) A Levenberg-Marquardt search for zeros of grad E from random
points (it finds critical points of any index, not only minima); every converged full-rank point
is compared with the 15 projectors P_{U_I}. (c) Gradient descent from random initialisations,
recording the loss until the last step; a run succeeds when it ends within a relative
``success_rtol`` of E* = tr Sigma - l_1 - l_2.

The index prediction: expanding E to second order at A = U_I, B = U_I' (our calculation), each
pair (i in I, l not in I) couples A_{l,i} and B_{i,l} through the 2 x 2 form
[[l_i, -l_l], [-l_l, l_l]], which has one negative eigenvalue iff l_l > l_i; the block inside
I is positive semi-definite with p^2 zero directions (the C-gauge). So the Hessian index is the
number of such inverted pairs (0 only for I = {1..p}; 8 for I = {5, 6}) and the nullity is p^2.
A change of C is a linear change of parameters, so by Sylvester's law of inertia the counts do
not depend on C.

Figures: the loss of each critical point against its Hessian index (Eq. 11 values marked, the
search's critical points overlaid); the gradient-descent loss curves converging to E*.

Tolerances. Exact checks use a float64 rounding budget rho = 10 (T + n^2) eps (1 + kappa(C))^2:
sums of T terms have relative forward error <= T eps (Higham, gamma_T), n x n products n eps
each, and W = (U_I C)(C^-1 U_I') amplifies relative errors by kappa(C) (squared in E and its
curvature); 10 is a safety factor. rho bounds |E - Eq. 11| / tr Sigma and ||grad E|| / s_g with
s_g = 2 tr Sigma (||A|| + ||B||)(1 + ||A|| ||B||) (the size of the terms that cancel in the
gradient). An eigenvalue counts as zero when |mu| <= rho ||H||_2 and as negative below
-rho ||H||_2; a sanity check requires the non-gauge eigenvalues to stay 100x above that band.
The search accepts a point when ||grad f|| <= ``search_gtol`` (f = E / tr Sigma) and calls it a
projector when min_I ||W - P_{U_I}||_F <= ``projector_tol`` (1e-6): by first-order perturbation a
critical point within ||grad f|| / gap of a projector differs from it by far less, while any
other critical point would differ by O(1). ``success_rtol`` (1e-6) is far below the relative gap
(l_2 - l_3) / E* (about 0.1) to the next critical value, and above the float64 floor, so it
separates the minimum from every saddle. The success fraction is judged with an equivalence
margin ``success_margin`` (0.05: a spurious minimum attracting 5% of initialisations would be
detected) and the Agresti-Coull (Wilson-type) binomial standard error, which stays positive at
a fraction of 1. The step budget (``gd_steps``, ``gd_lr``) was set on seeds 101-103 (full
preset), where every run was within 2e-10 relative of E* by half the budget (1,500 steps) and
within 1e-15 at the end; seed 0 was not used. The quick preset keeps the data size and the step
budget and only runs fewer initialisations and search starts.

Refuted by: a constructed point P_{U_I} whose gradient does not vanish (the characterisation is
wrong), an E at a critical point that differs from Eq. 11, a non-top set I whose Hessian has no
negative eigenvalue (a spurious local minimum) or a negative eigenvalue at I = {1, 2}, a Hessian
index that differs from the inverted-pair count, a full-rank critical point found by the search
that is not a projector P_{U_I}, or gradient-descent runs that stall above E* in more than 5%
of initialisations. Evidence checks: ``eq11_max_rel_error``, ``max_rel_gradient``,
``saddles_with_negative_curvature``, ``min_eig_at_global_min``, ``index_matches_pair_count``,
``search_points_are_projectors``, ``gd_success_fraction``. The gradient check is evidence: the
points are built from the paper's formula, not as zeros of the gradient, so a wrong
characterisation would leave a gradient of order one (it also catches a broken construction).
Eq. 11 is evidence for the paper's closed form: at a projector E reduces to tr((I - P) Sigma), so
a wrong formula for the critical values (not our construction) would fail it.
Sanity checks: ``gauge_nullity`` (p^2 zero eigenvalues from the C-gauge, a symmetry of our
parametrisation, which also shows the zero band is well separated) and ``sample_covariance``
(the data's Sigma is invertible with distinct eigenvalues, the theorem's hypotheses for our own
data).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement, proportion_stderr
from ._threads import one_torch_thread

EPS = float(np.finfo(np.float64).eps)


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    n: int = 6
    p: int = 2
    eigenvalues: tuple[float, ...] = (6.0, 5.0, 4.0, 3.0, 2.0, 1.0)
    n_samples: int = 2000
    c_singular_range: tuple[float, float] = (0.5, 2.0)
    gd_runs: int = 100
    gd_steps: int = 3000
    gd_lr: float = 0.1
    init_scale: float = 1.0
    record_every: int = 10
    success_rtol: float = 1e-6
    success_margin: float = 0.05
    search_starts: int = 300
    search_iters: int = 100
    search_gtol: float = 1e-11
    projector_tol: float = 1e-6

    QUICK = {"gd_runs": 60, "search_starts": 40}

    def validate(self) -> None:
        from ..errors import UserInputError

        if not 1 <= self.p < self.n:
            raise UserInputError("need 1 <= p < n")
        if len(self.eigenvalues) != self.n:
            raise UserInputError(f"eigenvalues must list n = {self.n} values")
        ev = np.asarray(self.eigenvalues, dtype=float)
        if np.any(ev <= 0) or len(set(self.eigenvalues)) != self.n:
            raise UserInputError("eigenvalues must be positive and distinct")
        if self.n_samples < 2 * self.n:
            raise UserInputError("n_samples must be >= 2 n")
        lo, hi = self.c_singular_range
        if not 0 < lo <= hi:
            raise UserInputError("c_singular_range must satisfy 0 < low <= high")
        if self.gd_runs < 1 or self.gd_steps < 1 or self.record_every < 1:
            raise UserInputError("gd_runs, gd_steps and record_every must be >= 1")
        if not 0 < self.gd_lr < 0.5:
            raise UserInputError("gd_lr must be in (0, 0.5) (step gd_lr / l_1)")
        if self.search_starts < 1 or self.search_iters < 1:
            raise UserInputError("search_starts and search_iters must be >= 1")
        if not (0 < self.success_rtol < 1 and 0 < self.success_margin < 1):
            raise UserInputError("success_rtol and success_margin must be in (0, 1)")


def make_data(config: Config, rng: np.random.Generator) -> np.ndarray:
    """T x n Gaussian samples with population covariance eigenvalues ``config.eigenvalues``."""
    q, r = np.linalg.qr(rng.standard_normal((config.n, config.n)))
    q = q * np.sign(np.diag(r))
    z = rng.standard_normal((config.n_samples, config.n))
    return (z * np.sqrt(np.asarray(config.eigenvalues))) @ q.T


def random_gauge(rng: np.random.Generator, p: int, lo: float, hi: float) -> np.ndarray:
    """A random invertible p x p matrix: rotations times singular values uniform in [lo, hi]."""
    q1 = np.linalg.qr(rng.standard_normal((p, p)))[0]
    q2 = np.linalg.qr(rng.standard_normal((p, p)))[0]
    return q1 @ np.diag(rng.uniform(lo, hi, size=p)) @ q2


def inverted_pairs(index_set: tuple[int, ...], n: int) -> int:
    """Predicted Hessian index: pairs (i in I, l not in I) with l_l > l_i (l sorted down)."""
    outside = [j for j in range(n) if j not in index_set]
    return sum(1 for i in index_set for j in outside if j < i)


def autoencoder(torch, A: np.ndarray, B: np.ndarray):
    """The n-p-n bias-free linear network x -> A B x (parameters: B, then A)."""
    n, p = A.shape
    model = torch.nn.Sequential(torch.nn.Linear(n, p, bias=False),
                                torch.nn.Linear(p, n, bias=False)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(B))
        model[1].weight.copy_(torch.from_numpy(A))
    return model


def critical_point_report(torch, X: np.ndarray, A: np.ndarray, B: np.ndarray) -> dict:
    """E (sum of squares), its autograd gradient norm and the dense Hessian's eigenvalues."""
    from ..curvature import HessianOperator

    model = autoencoder(torch, A, B)
    Xt = torch.from_numpy(X)
    loss_fn = torch.nn.MSELoss(reduction="sum")
    loss = loss_fn(model(Xt), Xt)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    gnorm = float(torch.sqrt(sum((g**2).sum() for g in grads)))
    H = HessianOperator(model, loss_fn, (Xt, Xt), mode="reverse-over-reverse").to_dense()
    H = 0.5 * (H + H.T)
    return {"E": float(loss.detach()), "grad_norm": gnorm, "hessian": H.numpy(),
            "eig": np.linalg.eigvalsh(H.numpy())}


def _loss_sigma(torch, A, B, S):
    """E(A, B) = tr((I - AB) S (I - AB)') for batched A (R, n, p), B (R, p, n)."""
    R = torch.eye(S.shape[0], dtype=S.dtype) - A @ B
    return torch.einsum("rij,jk,rik->r", R, S, R)


def gradient_descent(torch, S: np.ndarray, config: Config, rng: np.random.Generator):
    """Batched full-batch GD on E from ``gd_runs`` Gaussian initialisations; E every few steps."""
    n, p, runs, St = config.n, config.p, config.gd_runs, torch.from_numpy(S)
    step = config.gd_lr / float(np.linalg.eigvalsh(S)[-1])
    scale = config.init_scale / math.sqrt(n)
    A = torch.from_numpy(rng.standard_normal((runs, n, p)) * scale).requires_grad_(True)
    B = torch.from_numpy(rng.standard_normal((runs, p, n)) * scale).requires_grad_(True)
    curve = []
    for t in range(config.gd_steps + 1):
        E = _loss_sigma(torch, A, B, St)
        if t % config.record_every == 0 or t == config.gd_steps:
            curve.append(E.detach().numpy().copy())
        if t == config.gd_steps:
            break
        gA, gB = torch.autograd.grad(E.sum(), (A, B))
        with torch.no_grad():
            A -= step * gA
            B -= step * gB
    steps = np.minimum(np.arange(len(curve)) * config.record_every, config.gd_steps)
    return steps, np.stack(curve, axis=1)


def critical_point_search(torch, S: np.ndarray, config: Config, rng: np.random.Generator):
    """Levenberg-Marquardt on grad f = 0 (f = E / tr S) from random points, batched.

    Returns the final parameters (R, 2np), gradient norms (R,) and Hessian eigenvalues (R, 2np)
    of f. It converges to critical points of any index (or stalls at a local minimum of
    ||grad f||, which the caller rejects by its gradient norm).
    """
    n, p, R = config.n, config.p, config.search_starts
    St = torch.from_numpy(S / np.trace(S))
    k = n * p

    def f(theta):
        A, B = theta[:k].reshape(n, p), theta[k:].reshape(p, n)
        return _loss_sigma(torch, A[None], B[None], St)[0]

    grad = torch.func.vmap(torch.func.grad(f))
    hess = torch.func.vmap(torch.func.hessian(f))
    theta = torch.from_numpy(rng.standard_normal((R, 2 * k)))
    mu = torch.full((R,), 1e-2, dtype=torch.float64)
    eye = torch.eye(2 * k, dtype=torch.float64)
    g = grad(theta)
    for _ in range(config.search_iters):
        H = hess(theta)
        M = H @ H + mu[:, None, None] * eye
        delta = -torch.linalg.solve(M, (H @ g[..., None]))[..., 0]
        trial = theta + delta
        g_trial = grad(trial)
        better = g_trial.norm(dim=1) < g.norm(dim=1)
        theta = torch.where(better[:, None], trial, theta)
        g = torch.where(better[:, None], g_trial, g)
        mu = torch.where(better, torch.clamp(mu / 3, min=1e-12), mu * 4)
    eig = torch.linalg.eigvalsh(hess(theta))
    return theta.numpy(), g.norm(dim=1).numpy(), eig.numpy()


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    import torch

    config.validate()
    with one_torch_thread():
        return _run(torch, config, rng)


def _run(torch, config: Config, rng: np.random.Generator) -> ExperimentResult:
    n, p, T = config.n, config.p, config.n_samples
    X = make_data(config, rng)
    S = X.T @ X  # Sigma_XX = Sigma_YX = Sigma (sums over samples, as in the paper)
    lam, U = np.linalg.eigh(S)
    lam, U = lam[::-1].copy(), U[:, ::-1].copy()
    tr = float(np.trace(S))
    sets = list(itertools.combinations(range(n), p))
    top = tuple(range(p))

    # (a) the C(n, p) critical points of the theorem, each with a fresh gauge C
    rows = []
    for index_set in sets:
        C = random_gauge(rng, p, *config.c_singular_range)
        UI = U[:, list(index_set)]
        A, B = UI @ C, np.linalg.solve(C, UI.T)
        rep = critical_point_report(torch, X, A, B)
        kappa = float(np.linalg.cond(C))
        rho = 10 * (T + n * n) * EPS * (1 + kappa) ** 2
        nA, nB = np.linalg.norm(A, 2), np.linalg.norm(B, 2)
        s_grad = 2 * tr * (nA + nB) * (1 + nA * nB)
        eig = rep["eig"]
        band = rho * float(np.max(np.abs(eig)))
        rows.append({
            "set": index_set, "E": rep["E"], "eq11": tr - float(lam[list(index_set)].sum()),
            "rel_grad": rep["grad_norm"] / s_grad, "rho": rho, "kappa": kappa, "eig": eig,
            "band": band, "n_neg": int(np.sum(eig < -band)),
            "n_zero": int(np.sum(np.abs(eig) <= band)),
            "separation": float(np.min(np.abs(eig[np.abs(eig) > band]), initial=np.inf) / band),
            "predicted": inverted_pairs(index_set, n),
        })
    eq11_dev = [abs(r["E"] - r["eq11"]) / tr / r["rho"] for r in rows]  # in units of rho
    grad_dev = [r["rel_grad"] / r["rho"] for r in rows]
    saddles = [r for r in rows if r["set"] != top]
    minimum = next(r for r in rows if r["set"] == top)
    n_saddle_neg = sum(r["n_neg"] >= 1 for r in saddles)
    min_eig_rel = float(minimum["eig"][0] / minimum["band"])  # >= -1: nothing below the band
    index_ok = sum(r["n_neg"] == r["predicted"] for r in rows)
    nullity_ok = sum(r["n_zero"] == p * p and r["separation"] > 100 for r in rows)
    min_separation = min(r["separation"] for r in rows)
    eigen_gap = float(min(np.min(-np.diff(lam)), lam[-1]) / lam[0])

    # (b) critical points of any index found by Levenberg-Marquardt on grad f = 0
    theta, gnorm, search_eig = critical_point_search(torch, S, config, rng)
    converged = gnorm <= config.search_gtol
    found = []
    for i in np.flatnonzero(converged):
        W = theta[i, : n * p].reshape(n, p) @ theta[i, n * p:].reshape(p, n)
        rank = int(np.sum(np.linalg.svd(W, compute_uv=False) > 0.5))
        dist, match = min((float(np.linalg.norm(W - U[:, list(J)] @ U[:, list(J)].T)), J)
                          for J in itertools.combinations(range(n), rank))
        e_val = tr * float(np.trace((np.eye(n) - W) @ (S / tr) @ (np.eye(n) - W).T))
        band = 1e3 * EPS * float(np.max(np.abs(search_eig[i])))
        found.append((rank, match, dist, e_val, int(np.sum(search_eig[i] < -band))))
    full_rank = [f for f in found if f[0] == p]
    projector_frac = (float(np.mean([f[2] <= config.projector_tol for f in full_rank]))
                      if full_rank else float("nan"))
    sets_found = sorted({f[1] for f in full_rank})

    # (c) gradient descent from random initialisations
    steps, curves = gradient_descent(torch, S, config, rng)
    e_star = tr - float(lam[:p].sum())
    final_gap = (curves[:, -1] - e_star) / e_star
    successes = int(np.sum(final_gap <= config.success_rtol))
    frac = successes / config.gd_runs
    frac_se = proportion_stderr(successes, config.gd_runs)

    n_sets = len(sets)
    checks = [
        Check("eq11_max_rel_error", "max over the C(n,p) constructed critical points of "
              "|E - (tr Sigma - sum_I l_i)| / tr Sigma, in units of the rounding budget rho "
              "(Baldi-Hornik Eq. 11)", max(eq11_dev), 0.0, 1.0),
        Check("max_rel_gradient", "max ||grad E|| / s_g at the points A = U_I C, "
              "B = C^-1 U_I' (autograd), in units of rho: they are critical (Facts 3-4)",
              max(grad_dev), 0.0, 1.0),
        Check("saddles_with_negative_curvature", f"sets I != {{1..{p}}} whose dense Hessian "
              "has an eigenvalue below -rho ||H|| (every one is a saddle)",
              n_saddle_neg, n_sets - 1, 0),
        Check("min_eig_at_global_min", "smallest Hessian eigenvalue at I = {1..p} divided by "
              "the round-off band rho ||H||: no negative curvature at the minimum",
              min_eig_rel, -1.0, 0.0, kind="directional", comparison="at_least"),
        Check("index_matches_pair_count", "critical points whose Hessian index equals the "
              "number of pairs (i in I, l not in I) with l_l > l_i (our second-order expansion)",
              index_ok, n_sets, 0),
        Check("search_points_are_projectors", "fraction of converged full-rank critical points "
              f"of the Levenberg-Marquardt search with min_I ||W - P_U_I||_F <= "
              f"{config.projector_tol:g} (every full-rank critical point has this form)",
              projector_frac, 1.0, 0.0),
        Check("gd_success_fraction", f"fraction of {config.gd_runs} gradient-descent runs ending "
              f"within {config.success_rtol:g} relative of E* (Agresti-Coull stderr)",
              frac, 1.0, config.success_margin, kind="statistical", stderr=frac_se),
        Check("gauge_nullity", "critical points with exactly p^2 Hessian eigenvalues inside the "
              "round-off band (C-gauge; band separated from the rest by > 100x)",
              nullity_ok, n_sets, 0, role="sanity"),
        Check("sample_covariance", "min(eigen-gaps, l_n) / l_1 of Sigma above 100 n eps: "
              "invertible with distinct eigenvalues (the theorem's hypotheses)", eigen_gap,
              100 * n * EPS, 0.0, kind="directional", comparison="at_least", role="sanity"),
    ]
    order = np.argsort([r["E"] for r in rows])
    measurements = {
        "sample_eigenvalues_per_sample": Measurement(
            lam / T, description="eigenvalues of Sigma / T (population: "
            + ", ".join(f"{v:g}" for v in config.eigenvalues) + ")"),
        "E_star_per_sample": Measurement(e_star / T, description="tr Sigma - l_1 - l_2, over T"),
        "hessian_index": Measurement([rows[i]["n_neg"] for i in order],
                                     description="index per set I, sorted by E"),
        "critical_sets": Measurement([[j + 1 for j in rows[i]["set"]] for i in order],
                                     description="sets I (1-based), sorted by E"),
        "min_hessian_eig": Measurement([float(rows[i]["eig"][0]) for i in order],
                                       description="smallest Hessian eigenvalue, sorted by E"),
        "gd_success_fraction": Measurement(frac, frac_se, description="Agresti-Coull stderr"),
        "gd_max_final_rel_gap": Measurement(float(np.max(final_gap))),
        "search_converged": Measurement(int(converged.sum()), description=(
            f"of {config.search_starts} starts; full rank: {len(full_rank)}; distinct sets: "
            + ", ".join("{" + ",".join(str(j + 1) for j in J) + "}" for J in sets_found))),
        "search_rank_deficient": Measurement(len(found) - len(full_rank)),
    }
    arrays = {
        "eigenvalues": lam, "sets": np.array([r["set"] for r in rows]),
        "E": np.array([r["E"] for r in rows]), "eq11": np.array([r["eq11"] for r in rows]),
        "hessian_eigs": np.stack([r["eig"] for r in rows]),
        "n_negative": np.array([r["n_neg"] for r in rows]),
        "gd_steps": steps, "gd_loss": curves, "search_grad_norm": gnorm,
    }
    figures = {"critical_points": _figure(rows, found, steps, curves, e_star, tr, config)}
    notes = [
        f"rho (rounding budget) from {min(r['rho'] for r in rows):.2g} to "
        f"{max(r['rho'] for r in rows):.2g}; gauge kappa(C) up to "
        f"{max(r['kappa'] for r in rows):.2f}; zero band separated by {min_separation:.3g}x.",
        f"GD step {config.gd_lr:g} / l_1, init N(0, {config.init_scale:g}^2 / n).",
    ]
    return ExperimentResult(checks, measurements, arrays, figures, notes,
                            headline="saddles_with_negative_curvature",
                            deviations=_deviations(config))


def _deviations(config: Config) -> list[str]:
    full = Config()
    return [
        "Baldi and Hornik prove the result analytically with no numerical example; the sizes "
        f"n = {config.n}, p = {config.p} and the covariance eigenvalues "
        + ", ".join(f"{v:g}" for v in config.eigenvalues) + " are our choice",
        f"{config.n_samples:,} Gaussian samples (full preset: {full.n_samples:,}); Sigma is the "
        "sample matrix, so its eigenvalues differ from the population ones",
        "autoencoder case y = x only; the general heteroassociative case, Facts 1-2 (convexity "
        "in A or B alone) and the saddle property of rank-deficient critical points are not "
        "checked (the search only counts rank-deficient points)",
        f"{config.gd_runs} gradient-descent runs of {config.gd_steps:,} steps (full preset: "
        f"{full.gd_runs}) and {config.search_starts} search starts (full preset: "
        f"{full.search_starts}); critical points reached from random starts, not all of them",
    ]


def _figure(rows, found, steps, curves, e_star, tr, config):
    fig, (ax, bx) = new_figure(2, width=5.4)
    for r in rows:
        ax.plot(r["n_neg"], r["E"] / tr, "o", color="C0" if r["n_neg"] else "C3", ms=7)
        ax.annotate("{" + ",".join(str(j + 1) for j in r["set"]) + "}",
                    (r["n_neg"], r["E"] / tr), textcoords="offset points", xytext=(6, -3),
                    fontsize=7)
        ax.plot(r["predicted"], r["eq11"] / tr, "k_", ms=14)
    full = [f for f in found if f[0] == config.p]
    if full:
        ax.plot([f[4] for f in full], [f[3] / tr for f in full], "x", color="C2", ms=5,
                label=f"search ({len(full)} full-rank points)")
    ax.plot([], [], "k_", label="Eq. 11 at the inverted-pair index")
    ax.set(xlabel="Hessian index (negative eigenvalues)", ylabel="E / tr Σ",
           title=f"All {len(rows)} critical points (n={config.n}, p={config.p})")
    ax.legend(fontsize=7, loc="lower right")
    gap = np.maximum((curves - e_star) / e_star, 1e-16)  # float64 floor
    for run_gap in gap:
        bx.semilogy(steps, run_gap, color="C0", alpha=0.25, lw=0.8)
    bx.axhline(config.success_rtol, color="k", ls=":", label=f"success: {config.success_rtol:g}")
    bx.set(xlabel="gradient-descent step", ylabel="(E − E*) / E*",
           title=f"{curves.shape[0]} random initialisations")
    bx.legend(fontsize=7)
    return fig


SPEC = ExperimentSpec(
    id="linear-autoencoder-critical-points",
    title="Linear autoencoder: every critical point but PCA is a saddle",
    claim="The critical points of the n-p-n linear autoencoder are the projections onto p "
          "eigenvectors; only the top p is a minimum, the other C(n,p) - 1 are saddles.",
    source="Baldi & Hornik 1989, Neural Networks 2:53, Sec. 2, Facts 1-4, Eq. 11",
    config_cls=Config,
    run=run,
    citations=("baldi1989",),
    statement=(
        "For E(A, B) = sum_t ||y_t - A B x_t||^2 with Sigma_XX invertible and Sigma = Sigma_YX "
        "Sigma_XX^-1 Sigma_XY of full rank with distinct eigenvalues, every full-rank critical "
        "point is W = P_{U_I} Sigma_YX Sigma_XX^-1 with A = U_I C for a set I of p eigenvectors "
        "and an invertible C. Its loss is tr Sigma_YY - sum_{i in I} l_i; I = {1..p} (PCA) is "
        "the unique local and global minimum, every other I is a saddle point."
    ),
    formula=(
        "A = U_I C,  B = C^-1 U_I'  (autoencoder: Sigma_XX = Sigma_YX = Sigma)\n"
        "E(I) = tr Sigma - sum_{i in I} l_i   (Eq. 11)\n"
        "index(I) = #{(i in I, l not in I): l_l > l_i}  (our second-order expansion)"
    ),
)
