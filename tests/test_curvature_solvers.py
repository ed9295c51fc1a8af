"""Curvature solvers (Lanczos eigenpairs, trace, SLQ density, index) against dense ground truth.

Every operator here is a ``DenseOperator`` around a float64 matrix with a known spectrum
``Q diag(evals) Q^T``; the truth is the spectrum itself (or numpy/torch eigh of the matrix).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import sym
from deepscope.curvature._base import CurvatureLinearOperator, DenseOperator
from deepscope.curvature._density import spectral_density
from deepscope.curvature._index import hessian_index
from deepscope.curvature._lanczos import eigenvalues
from deepscope.curvature._trace import trace
from deepscope.errors import UserInputError

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small dense products are faster (and timings steadier) on one BLAS thread."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def hessian_like(P: int, seed: int) -> np.ndarray:
    """Indefinite bulk plus a few large outliers (like a trained network's Hessian)."""
    rng = np.random.default_rng(seed)
    bulk = rng.normal(0.0, 0.3, P - 5) + 0.05
    return np.concatenate([bulk, [60.0, 25.0, 12.0, 6.0, 3.0], ]) if P > 5 else bulk


def clustered(P: int, seed: int) -> np.ndarray:
    """Eigenvalues 10, 10 - 1e-6, ..., 10 - 7e-6 plus an indefinite bulk in [-2, 1]."""
    rng = np.random.default_rng(seed)
    return np.concatenate([10.0 - 1e-6 * np.arange(8), rng.uniform(-2.0, 1.0, P - 8)])


class CallCounter(DenseOperator):
    """DenseOperator that records the shapes of the batched products it receives."""

    def __init__(self, matrix):
        super().__init__(matrix)
        self.calls: list[tuple[int, ...]] = []

    def _matmat(self, V):
        self.calls.append(tuple(V.shape))
        return super()._matmat(V)


class NaNAfter(CurvatureLinearOperator):
    """Returns NaN from the n-th batched product on."""

    def __init__(self, matrix, after: int):
        super().__init__(matrix.shape[0], matrix.dtype)
        self.matrix, self.after, self.seen = matrix, after, 0

    def _matmat(self, V):
        self.seen += 1
        out = self.matrix @ V
        return out * math.nan if self.seen > self.after else out


def truth_parts(evals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    s = np.sort(evals)
    return s[::-1][:k], s[:k]


def check_pairs(M: torch.Tensor, res, tol: float) -> None:
    X, lam = res.vectors, res.values
    k = X.shape[1]
    assert torch.allclose(X.T @ X, torch.eye(k, dtype=F64), atol=1e-10)
    true_res = (M @ X - X * lam).norm(dim=0)
    assert torch.allclose(true_res, res.residuals, rtol=1e-6, atol=1e-12)
    assert bool((res.relative_residuals <= tol).all())
    assert res.all_converged


# ----------------------------------------------------------------------------- eigenvalues


@pytest.mark.parametrize(
    "P, kind, seed", [(200, "hessian", 0), (500, "hessian", 1), (300, "clustered", 2)]
)
def test_top_and_bottom_five_match_dense(P, kind, seed):
    evals = hessian_like(P, seed) if kind == "hessian" else clustered(P, seed)
    M = sym(evals, seed)
    top, bottom = truth_parts(torch.linalg.eigvalsh(M).numpy(), 5)
    op = DenseOperator(M)
    for which, ref in (("largest", top), ("smallest", bottom)):
        res = eigenvalues(op, k=5, which=which, tol=1e-8, seed=seed)
        assert res.method == "krylov-schur"
        np.testing.assert_allclose(res.values.numpy(), ref, rtol=1e-10, atol=0)
        check_pairs(M, res, 1e-8)
        assert res.n_matvecs > 0 and res.wall_time > 0 and res.n_iter > 0


def test_both_ends_in_one_call():
    evals = hessian_like(300, 3)
    M = sym(evals, 3)
    top, bottom = truth_parts(evals, 4)
    res = eigenvalues(M, k=4, which="both", seed=1)
    assert res.values.shape == (8,) and res.vectors.shape == (300, 8)
    np.testing.assert_allclose(res.largest.values.numpy(), top, rtol=1e-10)
    np.testing.assert_allclose(res.smallest.values.numpy(), bottom, rtol=1e-10)
    check_pairs(M, res, 1e-8)


def test_clustered_spectrum_200_steps_reports_only_true_eigenvalues():
    evals = clustered(500, 7)
    M = sym(evals, 7)
    scale = float(np.abs(evals).max())
    for tol in (1e-10, 1e-13):
        res = eigenvalues(
            DenseOperator(M), k=20, block_size=1, ncv=200, max_iter=200, tol=tol, seed=3
        )
        assert res.n_iter <= 200
        conv = res.converged.numpy()
        assert conv[:8].all(), "the eight cluster eigenvalues converge in 200 steps"
        vals = res.values.numpy()[conv]
        resid = res.residuals.numpy()[conv]
        nearest = np.abs(vals[:, None] - evals[None, :])
        # Each converged value is within its residual of a true eigenvalue (Weyl) ...
        assert (nearest.min(axis=1) <= resid + 1e-12 * scale).all()
        assert (nearest.min(axis=1) <= tol * scale).all()
        # ... and no two converged values claim the same (simple) eigenvalue: no ghosts.
        idx = nearest.argmin(axis=1)
        assert len(set(idx.tolist())) == len(idx)
        np.testing.assert_allclose(res.values.numpy()[:8], evals[:8], rtol=1e-12, atol=0)


def test_repeated_eigenvalue_multiplicity_three():
    rng = np.random.default_rng(5)
    evals = np.concatenate([[7.0, 7.0, 7.0, 5.0], rng.uniform(-1, 1, 296)])
    M = sym(evals, 5)
    r3 = eigenvalues(M, k=3, seed=0)
    np.testing.assert_allclose(r3.values.numpy(), [7.0, 7.0, 7.0], rtol=1e-12)
    check_pairs(M, r3, 1e-8)
    r4 = eigenvalues(M, k=4, seed=0)
    np.testing.assert_allclose(r4.values.numpy(), [7.0, 7.0, 7.0, 5.0], rtol=1e-12)
    check_pairs(M, r4, 1e-8)
    assert int((np.abs(r4.values.numpy() - 7.0) < 1e-6).sum()) == 3


def test_small_and_degenerate_operators():
    # k >= P: dense fallback, all P pairs, sorted.
    evals = np.array([3.0, -1.0, 0.5, 2.0, -4.0])
    r = eigenvalues(sym(evals), k=9, which="smallest")
    assert r.method == "dense" and r.n_matvecs == 5 + 5
    np.testing.assert_allclose(r.values.numpy(), np.sort(evals), atol=1e-13)
    assert r.all_converged
    # P = 1.
    r = eigenvalues(torch.tensor([[2.5]], dtype=F64), k=1, which="both")
    assert r.values.tolist() == [2.5, 2.5] and r.all_converged
    # Exactly zero operator, through the Krylov path (beta = 0 at every step).
    r = eigenvalues(torch.zeros(300, 300, dtype=F64), k=3, which="both")
    assert r.method == "krylov-schur"
    assert r.values.abs().max() == 0 and r.all_converged
    assert torch.allclose(r.vectors[:, :3].T @ r.vectors[:, :3], torch.eye(3, dtype=F64))
    # Rank 3 (invariant Krylov subspace after 3 steps): zeros are found after the 3 nonzero.
    U = torch.tensor(np.random.default_rng(0).standard_normal((300, 3)))
    M = U @ U.T
    r = eigenvalues(M, k=5, block_size=1)
    np.testing.assert_allclose(
        r.values.numpy(), np.sort(torch.linalg.eigvalsh(M).numpy())[::-1][:5], atol=1e-9
    )
    check_pairs(M, r, 1e-8)


def test_float32_operator_recurrence_in_float64():
    evals = hessian_like(300, 4)
    M = sym(evals, 4)
    r = eigenvalues(DenseOperator(M.float()), k=3, tol=1e-5)
    assert r.values.dtype == F64 and r.vectors.dtype == F64 and r.all_converged
    np.testing.assert_allclose(r.values.numpy(), np.sort(evals)[::-1][:3], rtol=1e-5)


def test_seed_and_generator_reproducible():
    M = sym(hessian_like(200, 6), 6)
    a = eigenvalues(M, k=2, seed=11)
    b = eigenvalues(M, k=2, seed=11)
    c = eigenvalues(M, k=2, seed=torch.Generator().manual_seed(11))
    assert torch.equal(a.values, b.values) and torch.equal(a.values, c.values)


# ----------------------------------------------------------------------------- trace


def test_trace_error_bars_cover_truth_over_100_seeds():
    evals = np.concatenate([np.random.default_rng(8).normal(0.3, 1.0, 195), [30, 20, 10, 5, 2]])
    M = DenseOperator(sym(evals, 8))
    truth = evals.sum()
    for method in ("hutchinson", "hutch++"):
        within3, in_ci = [], []
        for s in range(100):
            est = trace(M, method, rtol=0.05, seed=s, max_matvecs=5000)
            assert est.converged and est.stderr > 0
            within3.append(abs(est.value - truth) <= 3 * est.stderr)
            in_ci.append(est.ci[0] <= truth <= est.ci[1])
        assert np.mean(within3) >= 0.95, (method, np.mean(within3))
        assert np.mean(in_ci) >= 0.88, (method, np.mean(in_ci))


def test_hutchinson_stderr_shrinks_as_one_over_sqrt_m():
    evals = np.random.default_rng(9).normal(1.0, 1.0, 200)
    M = sym(evals, 9)
    var = 2 * (float((M**2).sum()) - float((torch.diagonal(M) ** 2).sum()))  # Var z^T A z
    scaled = []
    for m in (64, 256, 1024):
        est = trace(M, "hutchinson", rtol=0, max_matvecs=m, seed=1)
        assert est.n_matvecs == m and est.n_probes == m and not est.converged
        scaled.append(est.stderr * math.sqrt(m))
    np.testing.assert_allclose(scaled, math.sqrt(var), rtol=0.25)


def test_hutchpp_needs_far_fewer_products_than_hutchinson():
    evals = 1.0 / np.arange(1, 301) ** 2  # top eigenvalues dominate the trace
    M = DenseOperator(sym(evals, 10))
    truth = evals.sum()
    hpp = trace(M, "hutch++", rtol=0.02, seed=0, max_matvecs=20000)
    hut = trace(M, "hutchinson", rtol=0.02, seed=0, max_matvecs=20000)
    assert hpp.converged and hut.converged
    assert hut.n_matvecs >= 3 * hpp.n_matvecs
    for est in (hpp, hut):
        assert abs(est.value - truth) <= 4 * est.stderr
    # At equal products Hutch++'s error bar is far smaller.
    a = trace(M, "hutch++", rtol=0, max_matvecs=96, seed=2)
    b = trace(M, "hutchinson", rtol=0, max_matvecs=96, seed=2)
    assert a.n_matvecs == b.n_matvecs == 96
    assert a.stderr * 3 <= b.stderr


def test_trace_exact_cases():
    # Tiny operator: exact from unit vectors.
    est = trace(sym(np.array([1.0, 2.0, -0.5])), seed=0)
    assert est.method == "exact" and est.stderr == 0 and abs(est.value - 2.5) < 1e-12
    # Low rank: the Hutch++ sketch captures everything; the residual part is ~0.
    U = torch.tensor(np.random.default_rng(1).standard_normal((200, 4)))
    est = trace(U @ U.T, "hutch++", seed=0)
    assert est.converged and abs(est.value - float((U**2).sum())) < 1e-9 * est.value


# ----------------------------------------------------------------------------- density


def test_spectral_density_moments_and_normalisation():
    evals = hessian_like(400, 11)
    M = sym(evals, 11)
    op = CallCounter(M)
    d = spectral_density(op, n_probes=24, n_steps=40, seed=0, return_probes=True)
    # One batched product per Lanczos step, all probes at once.
    assert op.calls == [(400, 24)] * 40 and d.n_calls == 40 and d.n_matvecs == 24 * 40
    assert d.nodes.shape == d.weights.shape == (24, 40)
    np.testing.assert_allclose(d.weights.sum(axis=1), 1.0, atol=1e-12)
    assert abs(np.trapezoid(d.density, d.grid) - 1.0) < 1e-12
    assert abs(d.normalization - 1.0) < 1e-6
    truth = np.array([np.mean(evals**j) for j in range(1, 5)])
    assert (np.abs(d.moments_mean - truth) <= 4 * d.moments_stderr).all()
    # Gauss quadrature: per-probe moments equal v^T A^j v exactly (2 * 40 - 1 >= 4).
    V = d.probes
    for j in range(1, 5):
        exact = (V * (torch.linalg.matrix_power(M, j) @ V)).sum(0).numpy()
        np.testing.assert_allclose(d.moments[:, j - 1], exact, rtol=1e-10)
    # Extreme nodes sit at the outliers / bulk edge; the log view keeps the outliers visible.
    assert abs(d.spectral_range[1] - 60.0) < 1e-8
    logd = d.log_density(floor=1e-12)
    assert np.isfinite(logd).all() and logd.min() >= -12
    assert d.evaluate(np.array([60.0]))[0] > 0


def test_slq_exact_when_steps_reach_P():
    evals = np.concatenate([np.linspace(-3, 4, 59), [20.0]])
    M = sym(evals, 12)
    d = spectral_density(M, n_probes=3, n_steps=200, seed=1, return_probes=True, probe="gaussian")
    assert d.n_steps == 60
    for p in range(3):
        live = d.weights[p] > 1e-13
        np.testing.assert_allclose(np.sort(d.nodes[p][live]), np.sort(evals), atol=1e-10)
    V = d.probes
    for j in (5, 9, 15):  # any degree: the quadrature IS the spectral measure of each probe
        exact = (V * (torch.linalg.matrix_power(M / 20, j) @ V)).sum(0).numpy()
        np.testing.assert_allclose(d.moment(j) / 20**j, exact, rtol=1e-9, atol=1e-14)


def test_density_of_multiple_of_identity():
    d = spectral_density(2.0 * torch.eye(50, dtype=F64), n_probes=3, n_steps=10)
    np.testing.assert_allclose(d.moments_mean, [2, 4, 8, 16], rtol=1e-12)
    assert abs(np.trapezoid(d.density, d.grid) - 1) < 1e-12


# ----------------------------------------------------------------------------- index


def test_hessian_index_dense_exact():
    evals = hessian_like(300, 13)
    r = hessian_index(sym(evals, 13))
    assert r.method == "dense" and r.stderr == 0
    assert r.n_negative == int((evals < 0).sum()) and r.value == r.n_negative / 300
    # PSD: no negative eigenvalues even with rounding-level ones.
    U = torch.tensor(np.random.default_rng(0).standard_normal((100, 10)))
    assert hessian_index(U @ U.T).n_negative == 0


def test_hessian_index_slq_within_error_of_truth():
    P = 2000
    g = torch.Generator().manual_seed(0)
    G = torch.randn(P, P, generator=g, dtype=F64)
    M = (G + G.T) / math.sqrt(2 * P) + 0.8 * torch.eye(P, dtype=F64)  # shifted semicircle
    truth = float((torch.linalg.eigvalsh(M) < 0).double().mean())
    r = hessian_index(M, method="auto", dense_limit=1000, n_probes=12, seed=0)
    assert r.method == "slq" and r.n_negative is None and r.stderr > 0
    assert abs(r.value - truth) <= 3 * r.stderr, (r.value, truth, r.stderr)
    assert r.bias_bound < 0.05 and r.n_matvecs == 12 * 100
    # Positive semidefinite with a large null space (a GGN-like spike at 0): index 0.
    U = torch.tensor(np.random.default_rng(2).standard_normal((600, 150)))
    r = hessian_index(U @ U.T, method="slq", n_probes=8, n_steps=40)
    assert r.value == 0.0 and r.stderr == 0.0


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call",
    [
        lambda M: eigenvalues(M, k=0),
        lambda M: eigenvalues(M, k=-2),
        lambda M: eigenvalues(M, k=1.5),
        lambda M: eigenvalues(M, which="top"),
        lambda M: eigenvalues(M, tol=-1.0),
        lambda M: eigenvalues(M[:, :10]),
        lambda M: trace(M, method="girard"),
        lambda M: trace(M, rtol=math.nan),
        lambda M: trace(M, max_matvecs=0),
        lambda M: spectral_density(M, n_probes=0),
        lambda M: spectral_density(M, probe="uniform"),
        lambda M: hessian_index(M, method="exact"),
        lambda M: eigenvalues(object()),
    ],
)
def test_bad_input_raises_one_line(call):
    M = sym(np.linspace(-1, 1, 40))
    with pytest.raises(UserInputError) as exc:
        call(M)
    assert "\n" not in str(exc.value)


class _NonSquare:
    shape = (5, 4)
    dtype = F64
    device = torch.device("cpu")

    def __matmul__(self, other):  # pragma: no cover - never reached
        raise AssertionError


@pytest.mark.parametrize("solver", [eigenvalues, trace, spectral_density, hessian_index])
def test_non_square_and_nan_products_raise(solver):
    with pytest.raises(UserInputError, match="square"):
        solver(_NonSquare())
    M = sym(hessian_like(300, 14), 14)
    with pytest.raises(UserInputError, match="not finite") as exc:
        solver(NaNAfter(M, after=2)) if solver is not hessian_index else solver(
            NaNAfter(M, after=2), method="slq"
        )
    assert "\n" not in str(exc.value)
