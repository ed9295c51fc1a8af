"""scattering-invariance: translation invariance, dilation stability and energy of scattering.

Question: does the wavelet scattering transform S_J x = (x * phi_J, |x * psi_l1| * phi_J,
||x * psi_l1| * psi_l2| * phi_J, ...) become translation invariant as the averaging scale 2^J
grows, stay stable to small dilations where the Fourier modulus is not, keep most of its energy in
the first orders, and give features on which a linear classifier competes with a small CNN?

Claim: Mallat 2012 (Theorem 2.10 with the translation bound of Sec. 2.4): for C^2 deformations
L_tau x(t) = x(t - tau(t)),
||S_J L_tau x - S_J x|| <= C m ||x|| (2^-J |tau|_inf + ||grad tau||_inf + ||H tau||_inf),
so a translation by c changes S_J by O(c 2^-J) and a dilation tau(t) = -s t by O(s),
whereas the Fourier modulus of a signal at frequency xi changes by O(s xi |support|) and is unstable
at high frequency (Mallat 2012 Sec. 1; Bruna & Mallat 2013 Sec. II). S_J is non-expansive for
Littlewood-Paley (tight-frame) wavelets (Mallat 2012 Prop. 2.5) and its energy decays with the
path length m; Bruna & Mallat 2013 (Sec. III, Table 1) find almost all energy on paths of length
m <= 2 and reach 0.43% error on MNIST with scattering + SVM, on par with the convolutional networks
of the time. Anden & Mallat 2014 (Sec. III) use Q = 8 wavelets per octave at the first order and
note that the warping stability then degrades in proportion to Q.

What is measured (kymatio 0.3.0 Scattering1D, numpy backend, Morlet wavelets):
(i) MNIST-1D signals (generated locally, 40 samples) placed in an N = 512 zero window, shifted by
c in {1, 2, 4, 8} samples; relative change ||S_J x_c - S_J x|| / ||S_J x|| for J = 2..6, Q = 8,
against ||x_c - x|| / ||x|| for the raw signal. Per signal, a least-squares fit
log2 r = a + alpha log2 c + beta J over the pairs with c 2^-J <= 1/2 (the first-order regime of the
bound) gives the exponents; theory: alpha = 1, beta = -1.
(ii) Gabor atoms exp(-t^2 / 2 sigma^2) cos(2 pi xi t) (sigma = 40 samples) at frequencies 0.05..0.8
of Nyquist, dilated exactly, t -> (1 + s) t; Lipschitz constants C = relative change / s of the
Fourier modulus |FFT x| and of S_J (J = 6) for Q = 1, 2, 4, 8.
(iii) Energy per order of a full-resolution scattering (all paths, orders 0..3) built from
kymatio's filters renormalised pointwise in frequency so that the Littlewood-Paley sum
|phi(w)|^2 + 1/2 sum_l (|psi_l(w)|^2 + |psi_l(-w)|^2) equals 1 (an exact tight frame): Q = 8 at the
first layer, Q = 1 after it, J = 6, on MNIST-1D signals; the remainder ||U_4 x||^2 closes the sum.
(iv) MNIST-1D classification over ``n_seeds`` data sets (4,000 signals, 20% test): logistic
regression on log-scattering features (J = 3, Q = 8: 1.2k weights; J was chosen among 2..4 with
Q in 4, 8 on seed 101, never seed 0) against the CNN of the MNIST-1D benchmark (three 25-channel
convolutions, 5.2k weights, Adam, fewer steps than the benchmark's 6,000 to fit the time budget)
and logistic regression on the raw signals; error bars are standard errors over seeds.

Figures: relative change against c 2^-J (log-log; raw signal dashed) and the dilation constant
against frequency (|FFT| linear in xi, scattering flat, growing with Q); energy per order and test
error of the three classifiers.

Tolerances: the translation thresholds (<= 0.05 at J = 6, c = 4; >= 0.5 for the raw signal) and
the dilation threshold C <= 5 (change <= 5 s) for Q = 1 are proposals taken before any run, not
fitted; the exponent tolerance 0.2 allows the next-order term of the bound (c 2^-J <= 1/2 admits a
quadratic correction of relative size up to about 1/4); the frequency-growth threshold sqrt(8) is
the geometric mean between a bounded constant (ratio 1) and a constant linear in xi (ratio 8
between 0.8 and 0.1 of Nyquist); energy of orders <= 2 >= 0.95 is Bruna & Mallat's "most energy"
made a number (proposal); the classification margin (scattering error within 5 points of the CNN's)
is a proposal for "comparable". Seed 101 (quick preset) was run to check the measurement and to
choose the classifier's J; no threshold was moved after it, and none was set on seed 0.
Exact sanity checks use 1e3 N eps (FFT round-off grows like log N eps per
coefficient; N = 512 samples bounds the sum).

Refuted by: a scattering change at J = 6, c = 4 above 0.05 or an exponent beta far from -1 (no
invariance growing with 2^J), a raw-signal change below 0.5 (no contrast), a scattering dilation
constant above 5 at Q = 1 or one that grows with frequency like the Fourier modulus's, a Fourier
modulus that is stable at 0.3 of Nyquist (change < 0.3 at s = 0.02), energy of orders <= 2 below
95% or not decreasing with the order, or a scattering classifier more than 5 points worse than the
CNN. Evidence checks: ``translation_change_j6_c4``, ``raw_translation_change_c4``,
``translation_exponent_j``, ``translation_exponent_c``, ``dilation_constant_q1``,
``dilation_constant_flat_in_frequency``, ``fourier_modulus_unstable``, ``energy_orders_le_2``,
``energy_decreasing_with_order``, ``scattering_linear_vs_cnn``, ``scattering_beats_raw_linear``.
Sanity checks (identities of our construction): the renormalised filters satisfy the
Littlewood-Paley identity, the energies plus remainder add up to ||x||^2, and the renormalised
transform is non-expansive (Mallat's proof applies verbatim to a tight frame).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from ..config import ExperimentConfig
from ..figures import new_figure
from ..harmonic import cascade, embed, gabor, relative_change, scattering_banks
from ..registry import ExperimentSpec
from ..results import Check, ExperimentResult, Measurement
from ._threads import one_torch_thread

EPS = float(np.finfo(np.float64).eps)
SHIFTS = (1, 2, 4, 8)
J_VALUES = (2, 3, 4, 5, 6)
Q_VALUES = (1, 2, 4, 8)
FREQUENCIES = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # fractions of Nyquist


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Configuration (defaults: full preset)."""

    n_signals: int = 64
    n_energy_signals: int = 32
    window: int = 512
    J: int = 6
    dilation: float = 0.02
    gabor_sigma: float = 40.0
    n_seeds: int = 3
    n_samples: int = 4000
    classifier_J: int = 3
    cnn_steps: int = 1500
    cnn_batch: int = 100
    cnn_lr: float = 1e-2

    QUICK = {"n_signals": 12, "n_energy_signals": 6, "n_seeds": 2, "n_samples": 1000,
             "cnn_steps": 300}

    def validate(self) -> None:
        from ..errors import UserInputError

        if self.n_signals < 2 or self.n_energy_signals < 2 or self.n_seeds < 2:
            raise UserInputError("n_signals, n_energy_signals and n_seeds must be >= 2")
        if self.window < 256 or self.window & (self.window - 1):
            raise UserInputError("window must be a power of two >= 256")
        if not 3 <= self.J <= 6 or 2**self.J * 8 > self.window:
            raise UserInputError("J must be in 3..6 with 8 * 2^J <= window")
        if not 0 < self.dilation <= 0.1 or self.gabor_sigma <= 0:
            raise UserInputError("dilation must be in (0, 0.1] and gabor_sigma > 0")
        if not 1 <= self.classifier_J <= 5 or self.n_samples < 200:
            raise UserInputError("classifier_J must be in 1..5 (2^J <= 40) and n_samples >= 200")
        if self.cnn_steps < 1 or self.cnn_batch < 1 or self.cnn_lr <= 0:
            raise UserInputError("cnn_steps, cnn_batch and cnn_lr must be positive")


def _scattering(J, n, Q):
    """kymatio's numpy Scattering1D (the torch entry point needs an older scipy)."""
    from kymatio.scattering1d.frontend.numpy_frontend import ScatteringNumPy1D

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ScatteringNumPy1D(J=J, shape=(n,), Q=Q)


def _apply(scat, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scat(np.ascontiguousarray(x)).reshape(len(x), -1)


def _mean_se(v):
    v = np.asarray(v, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def _cnn_error(data, steps, batch, lr, seed):
    """Test error of the MNIST-1D benchmark CNN (3 conv layers of 25 channels, ReLU, linear)."""
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(
            nn.Conv1d(1, 25, 5, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(25, 25, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(25, 25, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(125, 10))
    gen = torch.Generator().manual_seed(seed)
    xtr = torch.tensor(data.X_train, dtype=torch.float32)[:, None, :]
    ytr = torch.tensor(data.y_train)
    xte = torch.tensor(data.X_test, dtype=torch.float32)[:, None, :]
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=0.0)
    for _ in range(steps):
        idx = torch.randint(len(xtr), (batch,), generator=gen)
        loss = nn.functional.cross_entropy(net(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = net(xte).argmax(dim=1).numpy()
    n_params = sum(p.numel() for p in net.parameters())
    return float(np.mean(pred != data.y_test)), n_params


def _log_features(scat, x):
    """Order-0 coefficients as they are, log(1e-6 + S) for orders >= 1, flattened."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = scat(np.ascontiguousarray(x, dtype=np.float64))
        order = np.asarray(scat.meta()["order"])
    return np.concatenate([out[:, order == 0].reshape(len(x), -1),
                           np.log(1e-6 + out[:, order > 0]).reshape(len(x), -1)], axis=1)


def _linear_error(ftr, ytr, fte, yte):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(ftr)
    clf = LogisticRegression(max_iter=2000).fit(sc.transform(ftr), ytr)
    return float(np.mean(clf.predict(sc.transform(fte)) != yte)), clf.coef_.size


def run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    config.validate()
    with one_torch_thread():
        return _run(config, rng)


def _run(config: Config, rng: np.random.Generator) -> ExperimentResult:
    from ..data import mnist1d

    n, J = config.window, config.J
    seeds = [int(s) for s in rng.integers(0, 2**31, size=config.n_seeds)]
    datasets = [mnist1d(seed=s, n_samples=config.n_samples) for s in seeds]
    pool = datasets[0].X_train.astype(np.float64)
    pick = rng.choice(len(pool), size=config.n_signals + config.n_energy_signals, replace=False)
    sig, esig = pool[pick[:config.n_signals]], pool[pick[config.n_signals:]]

    # (i) translations.
    x0 = embed(sig, n)
    shifted = {c: embed(sig, n, c) for c in SHIFTS}
    raw = {c: relative_change(x0, shifted[c]) for c in SHIFTS}
    change = np.empty((len(J_VALUES), len(SHIFTS), len(sig)))
    for i, j in enumerate(J_VALUES):
        scat = _scattering(j, n, 8)
        s0 = _apply(scat, x0)
        for k, c in enumerate(SHIFTS):
            change[i, k] = relative_change(s0, _apply(scat, shifted[c]))
    rows = [(i, k) for i in range(len(J_VALUES)) for k in range(len(SHIFTS))
            if SHIFTS[k] * 2.0**-J_VALUES[i] <= 0.5]
    design = np.array([[1.0, math.log2(SHIFTS[k]), J_VALUES[i]] for i, k in rows])
    target = np.log2(np.stack([change[i, k] for i, k in rows]))
    coef = np.linalg.lstsq(design, target, rcond=None)[0]
    alpha, beta = _mean_se(coef[1]), _mean_se(coef[2])
    iJ, i4 = J_VALUES.index(J), SHIFTS.index(4)

    # (ii) dilations of Gabor atoms.
    s = config.dilation
    xi = 0.5 * np.array(FREQUENCIES)
    g0 = np.stack([gabor(n, f, config.gabor_sigma) for f in xi])
    gs = np.stack([gabor(n, f, config.gabor_sigma, s) for f in xi])
    fft_change = relative_change(np.abs(np.fft.fft(g0)), np.abs(np.fft.fft(gs)))
    scat_const = np.empty((len(Q_VALUES), len(xi)))
    for q_i, q in enumerate(Q_VALUES):
        scat = _scattering(J, n, q)
        scat_const[q_i] = relative_change(_apply(scat, g0), _apply(scat, gs)) / s
    fft_const = fft_change / s
    lo, hi = FREQUENCIES.index(0.1), FREQUENCIES.index(0.8)
    growth_fft = fft_const[hi] / fft_const[lo]
    growth_scat = float(np.max(scat_const[:, lo:] / scat_const[:, lo:lo + 1]))
    i03 = FREQUENCIES.index(0.3)

    # (iii) energy per order with Littlewood-Paley-normalised filters.
    banks, lp_dev = scattering_banks(n, J)
    xe = embed(esig, n)
    energy = np.empty((len(xe), 5))
    closure = 0.0
    for r, x in enumerate(xe):
        e, rem, _ = cascade(x, banks, 3)
        norm2 = float(x @ x)
        energy[r] = np.append(e, rem) / norm2
        closure = max(closure, abs(e.sum() + rem - norm2) / norm2)
    ratio = np.maximum(energy[:, 2] / energy[:, 1], energy[:, 3] / energy[:, 2])
    expansion = 0.0
    for a, b in zip(xe[0::2][:4], xe[1::2][:4]):
        sa, sb = cascade(a, banks, 3, True)[2], cascade(b, banks, 3, True)[2]
        expansion = max(expansion, float(np.sum((sa - sb)**2) / np.sum((a - b)**2)))

    # (iv) classification on MNIST-1D.
    err = {"scattering": [], "cnn": [], "raw": []}
    n_params = {}
    for seed, data in zip(seeds, datasets):
        scat = _scattering(config.classifier_J, data.X_train.shape[1], 8)
        ftr, fte = (_log_features(scat, x) for x in (data.X_train, data.X_test))
        e, n_params["scattering_linear"] = _linear_error(ftr, data.y_train, fte, data.y_test)
        err["scattering"].append(e)
        e, n_params["raw_linear"] = _linear_error(data.X_train, data.y_train, data.X_test,
                                                  data.y_test)
        err["raw"].append(e)
        e, n_params["cnn"] = _cnn_error(data, config.cnn_steps, config.cnn_batch, config.cnn_lr,
                                        seed)
        err["cnn"].append(e)
    err = {k: np.array(v) for k, v in err.items()}
    gap = _mean_se(err["scattering"] - err["cnn"])
    gain = _mean_se(err["raw"] - err["scattering"])

    t4 = _mean_se(change[iJ, i4])
    r4 = _mean_se(raw[4])
    e012 = _mean_se(energy[:, :3].sum(axis=1))
    dec = _mean_se(ratio)
    exact_tol = 1e3 * n * EPS
    checks = [
        Check("translation_change_j6_c4", f"mean ||S_J x_c - S_J x|| / ||S_J x|| at J = {J}, "
              f"c = 4 over {len(sig)} MNIST-1D signals (proposal: <= 0.05)", t4[0], 0.05, 0.0,
              kind="directional", comparison="at_most", stderr=t4[1]),
        Check("raw_translation_change_c4", "mean ||x_c - x|| / ||x|| at c = 4 for the raw "
              "signals (proposal: >= 0.5)", r4[0], 0.5, 0.0, kind="directional",
              comparison="at_least", stderr=r4[1]),
        Check("translation_exponent_j", "beta in log2 change = a + alpha log2 c + beta J over "
              "c 2^-J <= 1/2, one fit per signal (bound: change ~ c 2^-J, beta = -1)", beta[0],
              -1.0, 0.2, kind="statistical", stderr=beta[1]),
        Check("translation_exponent_c", "alpha in the same fits (bound: alpha = 1)", alpha[0],
              1.0, 0.2, kind="statistical", stderr=alpha[1]),
        Check("dilation_constant_q1", f"max over frequencies of ||S L_tau x - S x|| / "
              f"(s ||S x||) for Gabor atoms, s = {s:g}, Q = 1 (proposal: <= 5)",
              float(scat_const[0].max()), 5.0, 0.0, kind="directional", comparison="at_most"),
        Check("dilation_constant_flat_in_frequency", "max over Q of max_xi C_S(xi) / C_S(0.1 "
              "Nyquist), xi >= 0.1 Nyquist; bounded: 1, linear in xi: 8; at most sqrt(8)",
              growth_scat, math.sqrt(8.0), 0.0, kind="directional", comparison="at_most"),
        Check("fourier_modulus_unstable", f"|| |FFT L_tau x| - |FFT x| || / || |FFT x| || at "
              f"0.3 Nyquist, s = {s:g} (proposal: >= 0.3)", float(fft_change[i03]), 0.3, 0.0,
              kind="directional", comparison="at_least"),
        Check("energy_orders_le_2", "mean (E_0 + E_1 + E_2) / ||x||^2, Littlewood-Paley "
              "normalised filters, all paths (proposal: >= 0.95)", e012[0], 0.95, 0.0,
              kind="directional", comparison="at_least", stderr=e012[1]),
        Check("energy_decreasing_with_order", "mean over signals of max(E_2/E_1, E_3/E_2) "
              "(E_1 > E_2 > E_3: < 1)", dec[0], 1.0, 0.0, kind="directional",
              comparison="at_most", stderr=dec[1]),
        Check("scattering_linear_vs_cnn", f"test error (logistic regression on scattering) - "
              f"test error (CNN), MNIST-1D, mean over {config.n_seeds} seeds (proposal: <= "
              "0.05)", gap[0], 0.05, 0.0, kind="directional", comparison="at_most",
              stderr=gap[1]),
        Check("scattering_beats_raw_linear", "test error (raw linear) - test error (scattering "
              "linear), mean over seeds (> 0)", gain[0], 0.0, 0.0, kind="directional",
              comparison="at_least", stderr=gain[1]),
        Check("littlewood_paley_identity", "max_w |A(w) - 1| of the renormalised banks",
              lp_dev, 0.0, exact_tol, role="sanity"),
        Check("energy_closure", "max |sum_m E_m + ||U_4 x||^2 - ||x||^2| / ||x||^2", closure,
              0.0, exact_tol, role="sanity"),
        Check("non_expansive", "max ||S x - S y||^2 / ||x - y||^2 (orders 0..3, all paths)",
              expansion, 1.0, exact_tol, kind="directional", comparison="at_most",
              role="sanity"),
    ]
    measurements = {
        "translation_change_j6_c4": Measurement(*t4),
        "raw_translation_change_c4": Measurement(*r4),
        "translation_exponent_j": Measurement(*beta),
        "translation_exponent_c": Measurement(*alpha),
        "dilation_constant_scattering_q1": Measurement(float(scat_const[0].max())),
        "dilation_constant_scattering_q8": Measurement(float(scat_const[-1].max())),
        "fourier_change_0.3_nyquist": Measurement(float(fft_change[i03])),
        "scattering_change_0.3_nyquist_q8": Measurement(float(scat_const[-1, i03] * s)),
        "energy_orders_le_2": Measurement(*e012),
        **{f"energy_order_{m}": Measurement(*_mean_se(energy[:, m])) for m in range(4)},
        "energy_remainder": Measurement(*_mean_se(energy[:, 4])),
        **{f"error_{k}": Measurement(*_mean_se(v)) for k, v in err.items()},
        "error_gap_scattering_minus_cnn": Measurement(*gap),
        **{f"params_{k}": Measurement(float(v)) for k, v in n_params.items()},
    }
    arrays = {
        "translation_change": change.mean(axis=2), "raw_change": np.array([raw[c].mean()
                                                                          for c in SHIFTS]),
        "fourier_constant": fft_const, "scattering_constant": scat_const,
        "energy_fractions": energy, "errors_scattering": err["scattering"],
        "errors_cnn": err["cnn"], "errors_raw": err["raw"],
    }
    figures = {
        "invariance_and_stability": _stability_figure(change.mean(axis=2), arrays["raw_change"],
                                                      fft_const, scat_const),
        "energy_and_classification": _energy_figure(energy, err),
    }
    return ExperimentResult(
        checks=checks, measurements=measurements, arrays=arrays, figures=figures,
        notes=[f"Window N = {n}; Gabor sigma = {config.gabor_sigma:g} samples; dilation "
               f"s = {s:g}; scattering J = {J} (2^J = {2**J}) for (i)-(iii).",
               f"Fourier growth ratio C(0.8)/C(0.1 Nyquist) = {growth_fft:.2f}.",
               f"Parameters: scattering linear {n_params['scattering_linear']}, CNN "
               f"{n_params['cnn']}, raw linear {n_params['raw_linear']}."],
        headline="translation_change_j6_c4",
        deviations=_deviations(config),
    )


def _deviations(config: Config) -> list[str]:
    full = Config()
    out = [
        "1-D signals only (MNIST-1D and Gabor atoms); Bruna & Mallat's MNIST images and the "
        "2-D transform are not used",
        f"translation on {config.n_signals} and energy on {config.n_energy_signals} MNIST-1D "
        f"signals in a {config.window}-sample zero window",
        "energy counts all paths (not only frequency-decreasing ones) of a tight frame obtained "
        "by renormalising kymatio's Morlet filters; orders above 3 are one remainder",
        f"classification: {config.n_seeds} MNIST-1D data sets of {config.n_samples:,} signals, "
        "logistic regression instead of Bruna & Mallat's Gaussian SVM / affine PCA; CNN trained "
        f"{config.cnn_steps:,} Adam steps",
        "deformations: translations and uniform dilations only, no general C^2 warps",
    ]
    if config != full:
        out.append(f"reduced preset: {config.n_seeds} seeds, {config.n_samples:,} signals, "
                   f"{config.cnn_steps:,} CNN steps (full preset: {full.n_seeds}, "
                   f"{full.n_samples:,}, {full.cnn_steps:,})")
    return out


def _stability_figure(change, raw, fft_const, scat_const):
    fig, (ax1, ax2) = new_figure(2, width=5.0)
    for i, j in enumerate(J_VALUES):
        ax1.loglog([c * 2.0**-j for c in SHIFTS], change[i], "o-", ms=4, label=f"S_J, J = {j}")
    grid = np.array([2.0**-6, 4.0])
    ax1.loglog(grid, 0.1 * grid, "k:", lw=1, label="∝ c 2^-J")
    ax1.loglog([c * 2.0**-6 for c in SHIFTS], raw, "s--", color="gray", label="raw x (at J = 6)")
    ax1.set(xlabel="shift × 2^-J", ylabel="relative change", title="Translation invariance")
    ax1.legend(fontsize=7)
    f = np.array(FREQUENCIES)
    ax2.loglog(f, fft_const, "k--", marker="s", label="|FFT x|")
    for q_i, q in enumerate(Q_VALUES):
        ax2.loglog(f, scat_const[q_i], "o-", ms=4, label=f"S_J, Q = {q}")
    ax2.set(xlabel="frequency / Nyquist", ylabel="relative change / s",
            title="Stability to dilation x((1+s)t)")
    ax2.legend(fontsize=7)
    return fig


def _energy_figure(energy, err):
    fig, (ax1, ax2) = new_figure(2, width=4.6)
    m = energy.mean(axis=0)
    se = energy.std(axis=0, ddof=1) / math.sqrt(len(energy))
    ax1.bar(range(5), m, yerr=2 * se, color="C0")
    ax1.set_xticks(range(5), ["0", "1", "2", "3", "≥4"])
    ax1.set_yscale("log")
    ax1.set(xlabel="scattering order m", ylabel="energy / ‖x‖²", title="Energy per order")
    names = [("raw", "linear, raw"), ("scattering", "linear, scattering"), ("cnn", "CNN")]
    for k, (key, _) in enumerate(names):
        v = err[key]
        ax2.bar(k, v.mean(), yerr=2 * v.std(ddof=1) / math.sqrt(len(v)), color=f"C{k}")
        ax2.plot(np.full(len(v), k), v, "k.", ms=4)
    ax2.set_xticks(range(3), [label for _, label in names])
    ax2.set(ylabel="test error", title="MNIST-1D classification")
    return fig


SPEC = ExperimentSpec(
    id="scattering-invariance",
    title="Scattering: translation invariance, dilation stability, energy decay",
    claim="The scattering transform becomes translation invariant as 2^J grows (change ~ c 2^-J), "
          "is Lipschitz to dilations where the Fourier modulus is not, keeps most energy in "
          "orders <= 2, and feeds a linear classifier that competes with a CNN.",
    source="Mallat 2012 Thm. 2.10, Prop. 2.5; Bruna & Mallat 2013 Sec. III; Anden & Mallat "
           "2014 Sec. III",
    config_cls=Config,
    run=run,
    citations=("mallat2012", "bruna2013", "anden2014", "andreux2020", "pedregosa2011"),
    statement=(
        "A cascade of wavelet transforms and complex moduli, averaged by a low-pass filter of "
        "width 2^J, is invariant to translations up to c 2^-J and stable to small deformations: "
        "frequency shifts move energy only between neighbouring wavelets, whose bandwidth grows "
        "with frequency, whereas the Fourier modulus of a high-frequency component moves by more "
        "than its width. The energy of the cascade decays quickly with its depth."
    ),
    formula=(
        "S_J x = (x⋆φ_J, |x⋆ψ_λ₁|⋆φ_J, ||x⋆ψ_λ₁|⋆ψ_λ₂|⋆φ_J, …)\n"
        "‖S_J L_τ x − S_J x‖ ≤ C m ‖x‖ (2^-J |τ|_∞ + ‖∇τ‖_∞ + ‖Hτ‖_∞)\n"
        "translation: ‖S_J x_c − S_J x‖ ∝ c 2^-J;  dilation: ∝ s (scattering), ∝ s ξ (|FFT|)"
    ),
)
