"""Tests of deepscope.expressivity: LTR gates and exact parameter counting.

Truths used: torch autograd derivatives (independent of the closed-form table), reference
multiplication-gate errors that we computed beforehand with a separate script, the closed-form
bit-gate error, scikit-learn's PolynomialFeatures and brute-force enumeration of local spin
couplings.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.preprocessing import PolynomialFeatures
from torch import nn

from deepscope import expressivity as ex
from deepscope.errors import UserInputError

LAMS = np.array([1.0, 0.3, 0.1, 0.03, 0.01])
REFERENCE_MAX_ERRORS = np.array([0.130, 1.43e-2, 1.63e-3, 1.47e-4, 1.63e-5])  # computed by us


@pytest.fixture(scope="module")
def softplus_scan():
    return ex.gate_error_scan("softplus", LAMS, 10_000, np.random.default_rng(0))


def _autograd_derivatives(fn, order: int) -> list[float]:
    z = torch.zeros((), dtype=torch.float64, requires_grad=True)
    y = fn(z)
    out = [y.item()]
    for _ in range(order):
        (y,) = torch.autograd.grad(y, z, create_graph=True)
        out.append(y.item())
    return out


# ----------------------------------------------------------------------------- activations


def test_softplus_derivatives_are_exact():
    fn, ders = ex.ACTIVATION_TABLE["softplus"]
    assert ders == (math.log(2), 0.5, 0.25, 0.0, -0.125, 0.0, 0.25)
    assert ex.ACTIVATION_TABLE["exp"][1] == (1.0,) * 7
    assert ex.ACTIVATION_TABLE["relu"][1] is None
    assert ex.ACTIVATION_TABLE["tanh"][1][:6] == (0.0, 1.0, 0.0, -2.0, 0.0, 16.0)


@pytest.mark.parametrize(
    "name",
    ["softplus", "exp", "sigmoid", "tanh", "softplus+1", "tanh+0.5", "sigmoid-0.3", "exp+0.2"],
)
def test_derivative_table_matches_autograd(name):
    act = ex.get_activation(name)
    got = _autograd_derivatives(act, 6)
    for k in range(7):
        assert act.derivatives[k] == pytest.approx(got[k], rel=1e-12, abs=1e-13), (name, k)


def test_shifted_name_and_user_callable():
    act = ex.get_activation("softplus+1")
    assert act.shift == 1.0 and act.derivatives[2] == pytest.approx(
        math.exp(-1) / (1 + math.exp(-1)) ** 2, rel=1e-14
    )
    user = ex.get_activation(torch.exp, derivatives={2: 1.0, 4: 1.0})
    gate = ex.multiplication_gate(user, lam=0.01)
    x = torch.tensor([[0.5, -0.4]], dtype=torch.float64)
    assert gate(x).item() == pytest.approx(-0.2, rel=1e-4)
    with pytest.raises(UserInputError, match="unknown"):
        ex.multiplication_gate(torch.exp)
    with pytest.raises(UserInputError, match="unknown activation"):
        ex.get_activation("swish")


# ----------------------------------------------------------------------------- multiplication


def test_gate_structure():
    lam = 0.1
    gate = ex.multiplication_gate("softplus", lam=lam)
    assert isinstance(gate, nn.Module) and gate.n_hidden == 4
    assert isinstance(gate.hidden, nn.Linear) and isinstance(gate.output, nn.Linear)
    assert gate.hidden.bias is None and gate.output.bias is None
    pattern = torch.tensor(
        [[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64
    )
    assert torch.equal(gate.hidden.weight, lam * pattern)
    expected_out = torch.tensor([[1.0, 1.0, -1.0, -1.0]], dtype=torch.float64) / (4 * lam**2 * 0.25)
    torch.testing.assert_close(gate.output.weight, expected_out, rtol=1e-15, atol=0)
    assert gate.hidden.weight.dtype == torch.float64
    out = gate(torch.zeros(7, 2, dtype=torch.float64))
    assert out.shape == (7,)
    with pytest.raises(UserInputError, match=r"\(N, 2\)"):
        gate(torch.zeros(3, 3, dtype=torch.float64))
    assert ex.multiplication_gate(lam=0.1, dtype=torch.float32).hidden.weight.dtype == torch.float32


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu"])
def test_refuses_activations_without_second_derivative(name):
    with pytest.raises(UserInputError) as info:
        ex.multiplication_gate(name)
    msg = str(info.value)
    assert "\n" not in msg and ("sigma''(0) = 0" in msg or "sigma^(2)(0) is unknown" in msg)
    with pytest.raises(UserInputError):
        ex.square_gate(name)


def test_softplus_error_table_slope_and_next_order(softplus_scan):
    scan = softplus_scan
    np.testing.assert_allclose(scan.max_error, REFERENCE_MAX_ERRORS, rtol=0.03)
    slope, _, se = ex.fit_loglog_slope(scan.lams[1:], scan.max_error[1:])
    assert abs(slope - 2.0) < 0.05 and se < 0.02
    small = scan.lams <= 0.1
    assert np.all(np.abs(scan.relative_agreement[small]) < 0.05)
    assert scan.n_points == 10_000 and scan.activation == "softplus"


def test_scan_is_reproducible_and_stable_across_seeds(softplus_scan):
    again = ex.gate_error_scan("softplus", LAMS, 10_000, np.random.default_rng(0))
    np.testing.assert_array_equal(again.max_error, softplus_scan.max_error)
    for seed in (1, 2):
        other = ex.gate_error_scan("softplus", LAMS, 10_000, np.random.default_rng(seed))
        np.testing.assert_allclose(other.max_error, REFERENCE_MAX_ERRORS, rtol=0.03)


def test_next_order_formula_pointwise():
    u = np.array([0.3, -0.9, 1.0])
    v = np.array([0.7, 0.5, -1.0])
    lam = 0.01
    assert ex.next_order_relative_error("softplus", lam, u, v) == pytest.approx(
        -(lam**2) * (u**2 + v**2) / 12, rel=1e-14
    )
    gate = ex.multiplication_gate("softplus", lam=lam)
    with torch.no_grad():
        m = gate(torch.tensor(np.stack([u, v], 1))).numpy()
    rel = m / (u * v) - 1
    np.testing.assert_allclose(rel, ex.next_order_relative_error("softplus", lam, u, v), rtol=1e-3)
    assert ex.next_order_relative_error("exp", 0.1, 1.0, 1.0) == pytest.approx(0.01 * 2 / 6)


@pytest.mark.parametrize("name", ["tanh+0.5", "exp", "softplus+1"])
def test_other_smooth_activations_give_order_lam_squared(name):
    scan = ex.gate_error_scan(name, [0.1, 0.01], 2_000, np.random.default_rng(3))
    ratio = scan.max_error[0] / scan.max_error[1]
    assert 90 < ratio < 110  # O(lam^2)
    assert abs(scan.relative_agreement[1]) < 0.05
    if name == "tanh+0.5":
        gate = ex.multiplication_gate(name, lam=0.1)
        assert gate.hidden.bias is not None and torch.all(gate.hidden.bias == 0.5)


# ----------------------------------------------------------------------------- square and bits


def test_square_gate_structure_and_error():
    gate = ex.square_gate("softplus", lam=0.1)
    assert gate.n_hidden == 3 and gate.hidden.bias is None
    assert gate.hidden.weight[2, 0].item() == 0.0
    x = np.linspace(-1, 1, 201)
    errs = []
    for lam in (0.1, 0.01):
        with torch.no_grad():
            q = ex.square_gate("softplus", lam=lam)(torch.tensor(x[:, None])).numpy()
        errs.append(np.max(np.abs(q - x**2)))
        pred = np.max(np.abs(x**2 * ex.square_next_order_relative_error("softplus", lam, x)))
        assert errs[-1] == pytest.approx(pred, rel=0.05)
    assert errs[0] / errs[1] == pytest.approx(100, rel=0.05)
    with pytest.raises(UserInputError):
        gate(torch.zeros(4, 2, dtype=torch.float64))


@pytest.mark.parametrize("D", [10, 12, 20])
def test_bit_product_gate_error_is_exp_minus_beta_over_two(D):
    beta = D * math.log(10)
    exact = 1 / (1 + math.exp(beta / 2))  # the worst pattern sits at +-beta/2
    approx = math.exp(-beta / 2)  # = exact up to relative e^{-beta/2}
    for k in range(1, 11):
        x = torch.tensor(list(itertools.product([0.0, 1.0], repeat=k)), dtype=torch.float64)
        gate = ex.bit_product_gate(k, beta)
        assert gate.n_hidden == 1
        with torch.no_grad():
            out = gate(x)
        assert out.shape == (2**k,)
        err = (out - x.prod(dim=1)).abs().max().item()
        assert err == pytest.approx(exact, rel=1e-6)
        assert err == pytest.approx(approx, rel=1e-6 + approx)
    # beta = D ln 10 gives only D/2 correct decimals
    assert -math.log10(exact) == pytest.approx(D / 2, abs=1e-4)


def test_fit_loglog_slope():
    x = np.array([0.3, 0.1, 0.03, 0.01])
    slope, intercept, se = ex.fit_loglog_slope(x, 5.0 * x**2)
    assert slope == pytest.approx(2.0, abs=1e-12) and intercept == pytest.approx(math.log(5.0))
    assert se < 1e-12
    y = 5.0 * x**2 * np.array([1.1, 0.9, 1.05, 0.97])
    slope, _, se = ex.fit_loglog_slope(x, y)
    assert 0 < se < 0.1 and abs(slope - 2) < 3 * se + 0.05
    assert math.isnan(ex.fit_loglog_slope([1, 2], [1, 4])[2])
    with pytest.raises(UserInputError):
        ex.fit_loglog_slope([1, -2, 3], [1, 2, 3])


def test_gate_argument_errors():
    with pytest.raises(UserInputError):
        ex.multiplication_gate("softplus", lam=0)
    with pytest.raises(UserInputError):
        ex.bit_product_gate(0, 10.0)
    with pytest.raises(UserInputError):
        ex.gate_error_scan("softplus", [0.1], 10, rng=1)


# ----------------------------------------------------------------------------- counting


def test_monomial_counts_formula_enumeration_sklearn():
    for n in range(1, 13):
        for d in range(0, 6):
            formula = ex.n_monomials(n, d)
            assert formula == ex.count_monomials_by_enumeration(n, d)
            sk = PolynomialFeatures(degree=d).fit(np.zeros((1, n))).n_output_features_
            assert formula == sk, (n, d)
    assert isinstance(ex.n_monomials(10**6, 4), int)


def test_megapixel_numbers():
    exact = ex.n_monomials(10**6, 4)
    assert exact == math.comb(10**6 + 4, 4)
    assert ex.log10_binomial(10**6, 4) == pytest.approx(math.log10(exact), abs=1e-9)
    assert ex.log10_binomial(10**6, 4) == pytest.approx(math.log10(4.2e22), abs=0.01)
    assert ex.log10_generic(10**6, 256) == pytest.approx(10**6 * 8 * math.log10(2), rel=1e-14)
    assert ex.generic_function_parameters(3, 256) == 256**3 == 2**24
    assert ex.log10_generic(20, 7) == pytest.approx(
        math.log10(ex.generic_function_parameters(20, 7))
    )


def _brute_local(n: int, d: int, r: int, ti: bool) -> int:
    terms = set()
    for size in range(0, d + 1):
        for sub in itertools.combinations(range(n), size):
            if size and sub[-1] - sub[0] > r:
                continue
            terms.add(tuple(i - sub[0] for i in sub) if ti and size else sub)
    return len(terms)


def test_local_hamiltonian_counts_against_enumeration_and_linearity():
    assert ex.local_hamiltonian_parameters(100, 2, 1, translation_invariant=True) == 3
    assert ex.local_hamiltonian_parameters(100, 2, 1) == 200  # 1 + n fields + (n-1) couplings
    for r in range(0, 4):
        for d in range(0, 5):
            for n in range(1, 11):
                for ti in (False, True):
                    got = ex.local_hamiltonian_parameters(n, d, range_=r, translation_invariant=ti)
                    assert got == _brute_local(n, d, r, ti), (n, d, r, ti)
            counts = np.array([ex.local_hamiltonian_parameters(n, d, r) for n in range(1, 60)])
            assert np.all(np.diff(counts[r:], 2) == 0)  # linear in n once n > range_
    with pytest.raises(UserInputError):
        ex.local_hamiltonian_parameters(0, 2)
    with pytest.raises(UserInputError):
        ex.n_monomials(-1, 2)
    with pytest.raises(UserInputError):
        ex.n_monomials(2.5, 2)
