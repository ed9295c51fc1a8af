"""gauss-newton-decomposition: H = G + R, and R vanishes at interpolation (Sagun et al. 2017).

Question: is the Hessian of a network's loss the sum of a positive semi-definite Gauss-Newton
term G and a residual term R that is linear in the loss derivatives, so that R (and with it all
negative curvature) fades as a network trained with the squared loss approaches interpolation?

Claim: Sagun et al. 2017, Eq. 4 (Schraudolph 2002; Pennington & Bahri 2017, Eqs. 3-4):
for the loss L = (1/N) sum_i l(f(x_i), y_i), the Hessian is H = G + R with
G = (1/N) sum_i J_i^T H_l,i J_i (J_i = df(x_i)/dtheta, H_l = d^2 l / df^2; H_l = I for
l = |f - y|^2 / 2, H_l = diag(p) - p p^T for softmax cross-entropy) and
R = (1/N) sum_i sum_k (dl/df_k) d^2 f_k(x_i)/dtheta^2. G is PSD with rank <= N C (N (C - 1) for
cross-entropy); R is linear in the residuals f - y under the squared loss, so ||R|| / ||H|| -> 0
as the residuals go to 0 (Pennington & Bahri: H_1 -> 0 as the loss -> 0). Since G is PSD, Weyl's
inequality gives lambda_min(H) >= -||R||_2.

What is measured: a tanh MLP 64-w-10 (float64) on N digits with one-hot targets, trained by
full-batch Adam on l = |f - y|^2 / 2 from an initialisation drawn from ``rng``; checkpoints at the
first step the loss falls below each fraction in ``loss_levels`` of its initial value. At each
checkpoint, three dense matrices from three separate autograd computations: H = torch.func.hessian
of the loss; G = (1/N) sum_i J_i^T H_l J_i from per-sample Jacobians (torch.func.jacrev) with H_l
written out by hand; R = torch.func.hessian of theta -> (1/N) sum_ik c_ik f_ik(theta) with the loss
derivatives c = f - y held fixed (linearity of the second derivative). From them: the identity
error, ||R||_2 / ||H||_2, lambda_min(H) against -||R||_2, lambda_min(G) and rank(G). At the first
and last checkpoints the same is done for softmax cross-entropy (at the same parameters, labels as
classes) and deepscope.curvature's H, G, R (gauss_newton_decomposition, GGNOperator) are compared
with the matrices above. Over seeds: the exponent e = ln(rho_last / rho_first) / ln sqrt(L_last /
L_first) of rho = ||R||_2 / ||H||_2 against the residual norm.

Figure: the sorted spectra of H, G and R at initialisation and near interpolation (symlog, one
seed: G's at most N C non-zero eigenvalues, R's two-signed spectrum shrinking), and
||R||_2 / ||H||_2 against the loss for every seed with the slope 1/2 that R ~ |f - y| predicts.

Tolerances. Identity (exact, float64): each entry of H, G and R is a sum over N samples of products
accumulated through dot products of length at most d_in + w + C, so by the standard summation bound
(Higham 2002, Accuracy and Stability of Numerical Algorithms, Sec. 3.1) its rounding error is below
N (d_in + w + C) u times the sum of the absolute terms; the relative Frobenius tolerance is tol_id =
N (d_in + w + C) u kappa, with u the unit round-off and kappa = (||G||_F + ||R||_F) / ||H||_F
(cancellation between the parts, measured). The instrument comparisons use the same tol_id. Weyl's
bound: lambda_min(H) + ||R||_2 >= -(tol_id sqrt(P) + 4 P u) ||H||_2 (rounding of H, bounded through
||.||_2 <= ||.||_F <= sqrt(P) ||.||_2, plus the backward error of the symmetric eigensolver). PSD of
G: lambda_min(G) >= -4 P u lambda_max(G) (eigensolver backward error). Ranks count eigenvalues above
P eps lambda_max(G), eps = 2 u (numpy's matrix_rank rule). Shrinkage: R is linear in c = f - y, so
||R||_2 <= |c| (1/N) (sum_ik ||d^2 f_ik||_2^2)^(1/2) = O(L^(1/2)) while ||H|| -> ||G|| > 0: the
claim predicts e ~ 1 (as does Pennington & Bahri's model of R as a Wigner matrix whose variance is
proportional to the loss), a residual term that does not vanish e ~ 0. The threshold is the midpoint
e >= 1/2 (derived, not fitted; on seeds 101-103, never 0, the per-seed e lay between 1.2 and 1.4 in
both presets, for orientation only), with the standard error of the mean over seeds as its sampling
error.

Refuted by: an autograd Hessian that differs from the independently built G + R by more than
round-off (a wrong Gauss-Newton term, e.g. a missing softmax covariance, or a residual term that
is not linear in dl/df), a negative eigenvalue of H below -||R||_2, or a ratio ||R|| / ||H|| that
does not fall with the loss (mean exponent e below 1/2). Evidence checks: residual_vanishes (the
exponent e over seeds, directional with its standard error over seeds); identity_mse and
identity_ce (exact): H from autograd on the loss against G assembled from Jacobians and the
paper's H_l plus R from the output Hessians weighted by dl/df - three separate computations,
none of which presupposes the formula, so a wrong formula (a missing term, a wrong H_l or 1/N) would
fail; weyl_bound (directional, no stderr): lambda_min of that autograd H against ||R||_2 of the
separately built R - a consequence of the identity and of G's PSD, but measured on the true
Hessian, so negative curvature not carried by R would fail it. Sanity checks (true by our own
construction, a failure means the run is broken): ggn_psd (G = J^T H_l J with H_l PSD),
rank_mse and rank_ce (rank <= N C, N (C - 1) by the shapes of J and H_l), and instruments_h,
instruments_g, instruments_r (deepscope.curvature's gauss_newton_decomposition operators against
the dense matrices: they test our instruments, not the claim).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement
from ._digits import N_CLASSES, digits_subset
from ._threads import one_torch_thread

N_INPUTS = 64
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2
EXPONENT_THRESHOLD = 0.5
"""Midpoint between e = 1 (R linear in the residuals, the claim) and e = 0 (R does not shrink)."""


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    n_samples: int = 40
    width: int = 16
    n_seeds: int = 8
    loss_levels: tuple[float, ...] = (1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
    learning_rate: float = 1e-2
    max_steps: int = 20_000

    QUICK = {"n_samples": 16, "width": 8, "n_seeds": 3,
             "loss_levels": (1.0, 1e-1, 1e-2, 1e-3, 1e-4)}

    def validate(self) -> None:
        from ..errors import UserInputError

        if not 2 <= self.n_samples <= 1000:
            raise UserInputError("n_samples must be in [2, 1000]")
        if self.width < 1 or self.n_seeds < 2 or self.max_steps < 1:
            raise UserInputError("width, max_steps must be >= 1 and n_seeds >= 2")
        levels = self.loss_levels
        if len(levels) < 2 or levels[0] != 1.0 or any(b >= a for a, b in zip(levels, levels[1:])):
            raise UserInputError("loss_levels must start at 1.0 and decrease (at least two)")
        if levels[-1] <= 0 or self.learning_rate <= 0:
            raise UserInputError("loss_levels and learning_rate must be > 0")
        if self.width * (N_INPUTS + 1) + N_CLASSES * (self.width + 1) > 3000:
            raise UserInputError("width too large for dense Hessians (at most 3,000 parameters)")


def half_squared_error(output, target):
    """l = |f - y|^2 / 2 per sample, averaged over samples (so H_l = I, the paper's form)."""
    return 0.5 * ((output - target) ** 2).sum(dim=-1).mean()


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    config.validate()
    with one_torch_thread():
        seeds = [_run_seed(config, np.random.default_rng(rng.integers(2**63)), first=s == 0)
                 for s in range(config.n_seeds)]
    return _result(config, seeds)


# ----------------------------------------------------------------------------- one seed


def _run_seed(config: Config, rng: np.random.Generator, first: bool) -> dict:
    import torch

    X, labels, Y = digits_subset(config.n_samples, rng)
    model = _mlp(config.width, rng)
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    levels = list(config.loss_levels)
    out: dict = {"steps": [], "loss": [], "rows": [], "spectra": {}, "inst": [], "ce": []}
    loss0, step = None, 0
    while True:
        opt.zero_grad()
        loss = half_squared_error(model(X), Y)
        value = float(loss.detach())
        loss0 = value if loss0 is None else loss0
        last = step == config.max_steps
        if levels and (value <= levels[0] * loss0 or last):
            while levels and value <= levels[0] * loss0:
                levels.pop(0)
            ends = last or not levels
            rec = _checkpoint(model, X, Y, labels, extra=not out["rows"] or ends)
            out["steps"].append(step)
            out["loss"].append(value)
            out["rows"].append(rec["row"])
            if "inst" in rec:
                out["inst"].append(rec["inst"])
                out["ce"].append(rec["ce"])
            if first and (len(out["rows"]) == 1 or ends):
                out["spectra"]["start" if len(out["rows"]) == 1 else "end"] = rec["spectra"]
            if ends:
                break
        loss.backward()
        opt.step()
        step += 1
    out["P"] = sum(p.numel() for p in model.parameters())
    out["reached"] = not levels
    return out


def _mlp(width: int, rng: np.random.Generator):
    """64-w-10 tanh MLP, PyTorch's default uniform(+-1/sqrt(fan_in)) init drawn from ``rng``."""
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(N_INPUTS, width), torch.nn.Tanh(),
                                torch.nn.Linear(width, N_CLASSES)).to(torch.float64)
    with torch.no_grad():
        for layer in (model[0], model[2]):
            bound = 1.0 / np.sqrt(layer.in_features)
            for p in (layer.weight, layer.bias):
                p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape))))
    return model


def _decomposition(model, X, target, loss: str) -> dict:
    """Dense H (autograd), G (Jacobians, H_l by hand) and R (output-Hessian surrogate)."""
    import torch
    from torch.func import functional_call, hessian, jacrev

    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def f(t):
        parts = dict(zip(names, (c.reshape(s) for c, s in zip(torch.split(t, sizes), shapes))))
        return functional_call(model, parts, (X,))

    n = X.shape[0]
    if loss == "mse":
        def loss_of(t):
            return half_squared_error(f(t), target)
    else:
        def loss_of(t):
            return torch.nn.functional.cross_entropy(f(t), target)
    with torch.no_grad():
        z = f(theta)
    J = jacrev(f)(theta)  # (N, C, P)
    if loss == "mse":
        c = z - target
        G = torch.einsum("ikp,ikq->pq", J, J) / n
    else:
        p = torch.softmax(z, dim=-1)
        c = p - torch.nn.functional.one_hot(target, N_CLASSES).to(p.dtype)
        Hl = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        G = torch.einsum("ikp,ikl,ilq->pq", J, Hl, J) / n
    H = hessian(loss_of)(theta)
    R = hessian(lambda t: (c * f(t)).sum() / n)(theta)
    return {"H": H, "G": G, "R": R}


def _summary(mats: dict, n_out: int) -> dict:
    import torch

    H, G, R = mats["H"], mats["G"], mats["R"]
    fro = [float(torch.linalg.norm(M)) for M in (H, G, R)]
    eig = {k: torch.linalg.eigvalsh((M + M.T) / 2).numpy() for k, M in mats.items()}
    P = H.shape[0]
    g_max = float(eig["G"][-1])
    return {
        "identity": float(torch.linalg.norm(H - G - R)) / fro[0],
        "kappa": (fro[1] + fro[2]) / fro[0],
        "h_norm": float(np.max(np.abs(eig["H"]))),
        "r_norm": float(np.max(np.abs(eig["R"]))),
        "h_min": float(eig["H"][0]),
        "g_min_rel": float(eig["G"][0]) / g_max,
        "g_rank": int(np.sum(eig["G"] > P * UNIT_ROUNDOFF * 2 * g_max)),
        "rank_bound": n_out,
        "eig": eig,
    }


def _checkpoint(model, X, Y, labels, extra: bool) -> dict:
    n = X.shape[0]
    mats = _decomposition(model, X, Y, "mse")
    s = _summary(mats, n * N_CLASSES)
    rec = {"row": {k: v for k, v in s.items() if k != "eig"}, "spectra": s["eig"]}
    if extra:
        ce = _summary(_decomposition(model, X, labels, "ce"), n * (N_CLASSES - 1))
        rec["ce"] = {k: v for k, v in ce.items() if k != "eig"}
        rec["inst"] = _instrument_errors(model, X, Y, mats)
    return rec


def _instrument_errors(model, X, Y, mats: dict) -> dict:
    """deepscope.curvature's dense H, G, R against the independent matrices (relative Frob.)."""
    import torch

    from ..curvature import gauss_newton_decomposition

    ops = gauss_newton_decomposition(model, half_squared_error, (X, Y),
                                     mode="forward-over-reverse", dtype=torch.float64)
    out = {}
    for key, op in zip("HGR", ops):
        ref = mats[key]
        out[key] = float(torch.linalg.norm(op.to_dense() - ref) / torch.linalg.norm(ref))
    return out


# ----------------------------------------------------------------------------- verdict


def _result(config: Config, seeds: list[dict]) -> ExperimentResult:
    u, n, w, C = UNIT_ROUNDOFF, config.n_samples, config.width, N_CLASSES
    P = seeds[0]["P"]
    rows = [r for s in seeds for r in s["rows"]]
    ce_rows = [r for s in seeds for r in s["ce"]]
    inst = [r for s in seeds for r in s["inst"]]
    kappa = max(r["kappa"] for r in rows + ce_rows)
    tol_id = n * (N_INPUTS + w + C) * u * kappa
    tol_weyl = tol_id * np.sqrt(P) + 4 * P * u
    weyl = max((-r["h_min"] - r["r_norm"]) / r["h_norm"] for r in rows + ce_rows)
    ratio = [np.array([r["r_norm"] / r["h_norm"] for r in s["rows"]]) for s in seeds]
    loss = [np.asarray(s["loss"]) for s in seeds]
    expo = np.array([np.log(q[-1] / q[0]) / np.log(np.sqrt(ell[-1] / ell[0]))
                     for q, ell in zip(ratio, loss)])
    e_mean, e_se = float(expo.mean()), float(expo.std(ddof=1) / np.sqrt(len(expo)))
    shrink = np.log10([q[-1] / q[0] for q in ratio])
    tight = np.array([-r["h_min"] / r["r_norm"] for r in rows])
    checks = [
        Check("residual_vanishes", "exponent e of ||R||_2/||H||_2 against the residual norm "
              "sqrt(L) between the first and last checkpoints, mean over seeds; R linear in "
              "f - y predicts e ~ 1, a non-vanishing R e ~ 0 (threshold: the midpoint 1/2)",
              e_mean, EXPONENT_THRESHOLD, 0.0, kind="directional", comparison="at_least",
              stderr=e_se),
        Check("identity_mse", "max over checkpoints of ||H - (G + R)||_F / ||H||_F, squared "
              "loss: H by autograd, G from Jacobians with H_l = I, R from output Hessians "
              f"(tolerance N (d_in + w + C) u kappa, kappa = {kappa:.3g})",
              max(r["identity"] for r in rows), 0.0, tol_id),
        Check("identity_ce", "the same for softmax cross-entropy with H_l = diag(p) - p p^T, at "
              "the first and last checkpoints", max(r["identity"] for r in ce_rows), 0.0, tol_id),
        Check("weyl_bound", "max over checkpoints of (-lambda_min(H) - ||R||_2) / ||H||_2 "
              "(Weyl with G PSD: <= 0 up to rounding of H and the eigensolver)",
              weyl, 0.0, tol_weyl, kind="directional", comparison="at_most"),
        Check("ggn_psd", "min over checkpoints of lambda_min(G) / lambda_max(G) (PSD by "
              "construction, J^T H_l J)", min(r["g_min_rel"] for r in rows + ce_rows), 0.0,
              4 * P * u, kind="directional", comparison="at_least", role="sanity"),
        Check("rank_mse", "max over checkpoints of rank(G) - N C (<= 0 by the shape of J)",
              max(r["g_rank"] - r["rank_bound"] for r in rows), 0, 0, kind="directional",
              comparison="at_most", role="sanity"),
        Check("rank_ce", "max over checkpoints of rank(G) - N (C - 1), cross-entropy (<= 0: "
              "diag(p) - p p^T annihilates the all-ones vector)",
              max(r["g_rank"] - r["rank_bound"] for r in ce_rows), 0, 0, kind="directional",
              comparison="at_most", role="sanity"),
    ]
    for key in "HGR":
        checks.append(Check(f"instruments_{key.lower()}", f"deepscope.curvature's dense {key} "
                            "(gauss_newton_decomposition) against the independent matrix, "
                            "relative Frobenius error", max(r[key] for r in inst), 0.0, tol_id,
                            role="sanity"))
    first = seeds[0]
    measurements = {
        "residual_exponent": Measurement(e_mean, e_se, description="exponent of ||R||/||H|| "
                                         "against sqrt(loss), mean over seeds"),
        "log10_ratio_shrink": Measurement(float(shrink.mean()), float(
            shrink.std(ddof=1) / np.sqrt(len(shrink))), description="log10 of ||R||/||H|| at "
            "the last over the first checkpoint, mean over seeds"),
        "ratio_first": Measurement(float(np.mean([q[0] for q in ratio])), float(
            np.std([q[0] for q in ratio], ddof=1) / np.sqrt(len(ratio))),
            description="||R||_2/||H||_2 at initialisation, mean over seeds"),
        "ratio_last": Measurement(float(np.mean([q[-1] for q in ratio])), float(
            np.std([q[-1] for q in ratio], ddof=1) / np.sqrt(len(ratio))),
            description="||R||_2/||H||_2 at the last checkpoint, mean over seeds"),
        "weyl_tightness": Measurement(float(np.max(tight)), description="max over checkpoints "
                                      "of -lambda_min(H) / ||R||_2 (<= 1 by Weyl)"),
        "identity_error": Measurement(max(r["identity"] for r in rows + ce_rows),
                                      description="max relative Frobenius error of H = G + R"),
        "rank_ggn": Measurement(int(first["rows"][0]["g_rank"]), description="rank of G at "
                                f"initialisation, first seed (N C = {n * C}, P = {P})"),
    }
    arrays = {f"{k}_seed{i}": v for i, s in enumerate(seeds) for k, v in
              (("ratio", ratio[i]), ("loss", loss[i]), ("steps", np.asarray(s["steps"])))}
    arrays.update({f"eig_{k}_{when}": v for when, sp in first["spectra"].items()
                   for k, v in sp.items()})
    arrays["exponent"] = expo
    reached = sum(s["reached"] for s in seeds)
    return ExperimentResult(
        checks=checks,
        measurements=measurements,
        arrays=arrays,
        figures={"spectra_and_ratio": _figure(first["spectra"], ratio, loss)},
        notes=[
            f"P = {P} parameters, N = {n} samples, N C = {n * C}; float64, one thread.",
            f"{reached}/{len(seeds)} seeds reached loss <= {config.loss_levels[-1]:g} of the "
            f"initial loss within {config.max_steps} Adam steps.",
            f"Tolerances: identity {tol_id:.3g}, Weyl {tol_weyl:.3g}, PSD {4 * P * u:.3g}.",
            f"Per-seed exponents e: {', '.join(f'{x:.3f}' for x in expo)}.",
        ],
        headline="residual_vanishes",
        deviations=_deviations(config, P, reached),
    )


def _deviations(config: Config, P: int, reached: int) -> list[str]:
    out = [
        f"tanh MLP {N_INPUTS}-{config.width}-{N_CLASSES} ({P} parameters) on {config.n_samples} "
        "digits, full-batch Adam (Sagun et al. 2017: ReLU 100-30-30-k, 4-5.5k parameters, "
        "Gaussian clusters and an MNIST subset, SGD)",
        f"{config.n_seeds} seeds; checkpoints at loss fractions "
        + ", ".join(f"{x:g}" for x in config.loss_levels),
        "cross-entropy decomposition checked at the parameters of the squared-loss run (first "
        "and last checkpoints), not along a cross-entropy training run",
        "not measured: Pennington & Bahri's random-matrix laws for G (Wishart) and R (Wigner) "
        "and the index of critical points",
    ]
    if reached < config.n_seeds:
        out.append(f"{config.n_seeds - reached} seeds stopped at max_steps = {config.max_steps} "
                   "before the last loss level")
    full = Config()
    if (config.n_samples, config.width, config.n_seeds) != (full.n_samples, full.width,
                                                             full.n_seeds):
        out.append(f"N = {config.n_samples}, width {config.width}, {config.n_seeds} seeds (full "
                   f"preset: {full.n_samples}, {full.width}, {full.n_seeds})")
    return out


def _figure(spectra: dict, ratio: list, loss: list):
    fig, axes = new_figure(3, width=4.4)
    for ax, when, title in zip(axes, ("start", "end"), ("at initialisation", "near interpolation")):
        for key, style in (("H", "k-"), ("G", "C0--"), ("R", "C3:")):
            ev = np.sort(spectra[when][key])[::-1]
            ax.plot(np.arange(1, len(ev) + 1), ev, style, lw=1.2, label=key)
        ax.set_yscale("symlog", linthresh=1e-6)
        ax.set(xlabel="eigenvalue index (descending)", ylabel="eigenvalue",
               title=f"Spectra {title}")
        ax.legend(fontsize=8)
    ax = axes[2]
    for i, (q, ell) in enumerate(zip(ratio, loss)):
        ax.loglog(ell, q, "o-", ms=3, lw=1, color="C0", alpha=0.6,
                  label="seeds" if i == 0 else None)
    ell = np.concatenate(loss)
    ref = np.array([ell.max(), ell.min()])
    ax.loglog(ref, ratio[0][0] * np.sqrt(ref / ref[0]), "k--", lw=1, label="∝ loss^(1/2)")
    ax.invert_xaxis()
    ax.set(xlabel="training loss", ylabel="||R||₂ / ||H||₂", title="Residual term along training")
    ax.legend(fontsize=8)
    return fig


SPEC = ExperimentSpec(
    id="gauss-newton-decomposition",
    title="Gauss-Newton decomposition of the Hessian",
    claim="H = G + R with G PSD of rank <= N C; under MSE ||R||/||H|| -> 0 at interpolation and "
          "lambda_min(H) >= -||R||_2.",
    source="Sagun et al. 2017 Eq. 4; Pennington & Bahri 2017 Eqs. 3-4; Schraudolph 2002",
    config_cls=Config,
    run=run,
    citations=("sagun2017", "pennington2017", "schraudolph2002"),
    statement=(
        "The Hessian of a loss averaged over samples splits exactly into a Gauss-Newton term, "
        "the average of J^T H_l J (positive semi-definite, rank at most N times the number of "
        "outputs, N (C - 1) for softmax cross-entropy), and a residual term weighted by the "
        "loss derivatives dl/df. Under the squared loss the residual term is linear in f - y and "
        "vanishes as training reaches interpolation, and by Weyl's inequality every negative "
        "eigenvalue of H is at least -||R||_2."
    ),
    formula=(
        "H = (1/N) Σ_i J_iᵀ H_l,i J_i + (1/N) Σ_i Σ_k (∂l/∂f_k) ∇²f_k(x_i) = G + R\n"
        "H_l = I (l = |f - y|²/2),  H_l = diag(p) − p pᵀ (softmax cross-entropy)\n"
        "G ⪰ 0 ⇒ λ_min(H) ≥ −||R||₂;  MSE: ||R||₂ = O(|f − y|) → 0 at interpolation"
    ),
)
