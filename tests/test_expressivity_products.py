"""Tests of the product networks, the no-flattening rank test, information tools and trainers.

Truths used: the closed-form next-order errors, exact enumeration (Walsh-Hadamard matrices,
binomial sums, Bernoulli patterns), scipy's binomial law and brute-force Bayes rules.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from deepscope.errors import UserInputError
from deepscope.expressivity import (
    DenseNet,
    TreeNet,
    binary_tree_function,
    bsc_chain_information,
    fit_regression,
    ising_bayes_accuracy,
    ising_energies,
    minimum_shallow_width,
    plugin_mutual_information,
    rg_counterexample,
    sample_bsc_chain,
    shallow_product_network,
    shallow_product_next_order,
    softmax_posterior,
    split_width,
    statistic_information,
    subset_matrix,
    subset_matrix_rank,
    torch_generator,
    tree_width_for_budget,
)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize("name", ["exp", "softplus+1", "sigmoid+0.5"])
def test_shallow_product_count_and_next_order(n, name):
    lam = 0.02
    net = shallow_product_network(n, name, lam)
    assert net.n_hidden == 2**n and net.n_inputs == n
    pts = np.random.default_rng(n).uniform(-1, 1, (2000, n))
    with torch.no_grad():
        err = net(torch.from_numpy(pts)).numpy() - pts.prod(axis=1)
    pred = shallow_product_next_order(name, lam, pts)
    assert np.max(np.abs(err - pred)) <= 0.02 * np.max(np.abs(pred))


def test_shallow_product_matches_reference_values():
    # Values we computed beforehand with a separate script (exp, 5,000 points); maxima over
    # another sample, so a loose band.
    rng = np.random.default_rng(0)
    for n, lam, ref in [(3, 0.1, 4.30e-3), (3, 0.03, 3.86e-4), (4, 0.1, 4.84e-3)]:
        pts = rng.uniform(-1, 1, (5000, n))
        with torch.no_grad():
            out = shallow_product_network(n, "exp", lam)(torch.from_numpy(pts)).numpy()
        assert np.max(np.abs(out - pts.prod(axis=1))) == pytest.approx(ref, rel=0.15)


def test_n2_shallow_product_is_the_multiplication_gate_error():
    pts = np.array([[0.3, 0.7], [-1.0, 1.0]])
    rel = shallow_product_next_order("softplus", 0.1, pts) / pts.prod(axis=1)
    np.testing.assert_allclose(rel, -(0.1**2) * (pts**2).sum(axis=1) / 12, rtol=1e-12)


@pytest.mark.parametrize(("name", "n"), [("softplus", 3), ("softplus", 5), ("tanh", 2),
                                         ("sigmoid", 4), ("relu", 2)])
def test_refuses_activations_with_vanishing_derivative(name, n):
    with pytest.raises(UserInputError) as info:
        shallow_product_network(n, name, 0.1)
    assert "\n" not in str(info.value)


def test_plain_softplus_allowed_where_derivative_is_nonzero():
    assert shallow_product_network(2, "softplus", 0.1).n_hidden == 4
    assert shallow_product_network(4, "softplus", 0.1).n_hidden == 16


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_rank_argument(n):
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=n))).T
    A = subset_matrix(signs)
    np.testing.assert_allclose(A.T @ A, 2**n * np.eye(2**n), atol=1e-12)  # Walsh-Hadamard
    assert subset_matrix_rank(signs) == (2**n, pytest.approx(1.0))
    assert subset_matrix_rank(signs[:, :-1])[0] == 2**n - 1
    assert minimum_shallow_width(n) == 2**n


def test_subset_matrix_rows_by_enumeration():
    a = np.random.default_rng(0).normal(size=(3, 5))
    A = subset_matrix(a)
    for mask in range(8):
        rows = [h for h in range(3) if mask >> h & 1]
        np.testing.assert_allclose(A[mask], np.prod(a[rows], axis=0) if rows else np.ones(5))


# ----------------------------------------------------------------------------- information


def test_softmax_posterior_is_bayes():
    rng = np.random.default_rng(0)
    like = rng.dirichlet(np.ones(10), size=3)
    prior = rng.dirichlet(np.ones(3))
    post = like * prior[:, None]
    post /= post.sum(axis=0)
    np.testing.assert_allclose(softmax_posterior(-np.log(like), -np.log(prior)), post,
                               atol=1e-15)


def test_ising_bayes_accuracy_by_enumeration():
    n, k0, k1 = 8, 0.3, 0.6
    states = np.array(list(itertools.product((-1, 1), repeat=n)))
    walls = (states[:, 1:] != states[:, :-1]).sum(axis=1)
    def probs(K):
        q = 1 / (1 + math.exp(2 * K))
        return 0.5 * q**walls * (1 - q) ** (n - 1 - walls)
    p0, p1 = probs(k0), probs(k1)
    assert p0.sum() == pytest.approx(1.0)
    assert ising_bayes_accuracy(k0, k1, n) == pytest.approx(0.5 * np.maximum(p0, p1).sum(),
                                                            rel=1e-12)


def test_bsc_information_and_plugin_estimate():
    k = np.arange(6)
    exact = bsc_chain_information(0.1, k)
    assert exact[0] == pytest.approx(1.0) and np.all(np.diff(exact) < 0)
    joint = np.array([[0.45, 0.05], [0.05, 0.45]])
    ent = stats.entropy([0.9, 0.1], base=2)
    assert exact[1] == pytest.approx(1 - ent, rel=1e-12)
    chain = sample_bsc_chain(0.1, 5, 200_000, np.random.default_rng(0))
    est = [plugin_mutual_information(chain[:, 0], chain[:, j]) for j in k]
    np.testing.assert_allclose(est, exact, atol=0.01)
    assert joint.sum() == 1.0


def test_sum_is_sufficient_half_sum_is_not():
    th, prior = (0.3, 0.6), np.array([0.5, 0.5])
    full = statistic_information(th, prior, 8)
    assert statistic_information(th, prior, 8, lambda x: x.sum(axis=1)) == pytest.approx(
        full, abs=1e-12)
    assert statistic_information(th, prior, 8, lambda x: x[:, :4].sum(axis=1)) < full - 0.01


def test_rg_counterexample_identities():
    rng = np.random.default_rng(3)
    H = ising_energies(rng.normal(size=(3, 3)), rng.normal(size=3), 3)
    K = rng.normal(size=8)
    res = rg_counterexample(H, H, K)
    assert res["Z_tot"] == pytest.approx(res["Z"], rel=1e-13)
    np.testing.assert_allclose(res["trace"], res["trace_formula"], rtol=1e-13)
    assert res["kl"] > 1e-6
    same = rg_counterexample(H, H, np.full(8, 0.7))  # constant K: trace condition holds
    np.testing.assert_allclose(same["trace"], 1.0, rtol=1e-13)
    assert same["kl"] == pytest.approx(0.0, abs=1e-14)


def test_ising_energies_by_hand():
    J = np.array([[0.0, 1.0], [0.0, 0.0]])
    # state k has s_i = +1 where bit i of k is 0: (+,+), (-,+), (+,-), (-,-)
    np.testing.assert_allclose(ising_energies(J, [0.5, 0.0], 2), [-1.5, 1.5, 0.5, -0.5])


# ----------------------------------------------------------------------------- training


def test_trainers_are_deterministic_and_leave_global_rng():
    state = torch.get_rng_state()
    outs = []
    for _ in range(2):
        rng = np.random.default_rng(5)
        gen = torch_generator(rng)
        x = torch.tensor(rng.uniform(-1, 1, (64, 8)), dtype=torch.float32)
        y = torch.tensor(binary_tree_function(x.numpy().astype(np.float64)), dtype=torch.float32)
        net = TreeNet(8, 4, "relu", gen)
        outs.append(fit_regression(net, x, y, steps=20, lr=1e-2, batch_size=16, gen=gen))
    assert outs[0] == outs[1]
    assert torch.equal(state, torch.get_rng_state())


def test_parameter_budgets():
    gen = torch.Generator().manual_seed(0)
    for budget in (300, 2000, 8000):
        for shared in (False, True):
            k = tree_width_for_budget(8, budget, shared)
            n_params = TreeNet(8, k, "relu", gen, shared=shared).n_params
            assert n_params <= budget and n_params > 0.9 * budget - 30
        assert DenseNet(8, [(budget - 1) // 10], "relu", gen).n_params <= budget
    assert split_width(64, 3) == (22, 21, 21) and sum(split_width(64, 4)) == 64


def test_binary_tree_function_values():
    x = np.zeros((1, 8))
    assert binary_tree_function(x)[0] == pytest.approx(1.1)
    x = np.array([[1, 0, 1, 0, 0, 0, 0, 0]], dtype=float)
    # h11 = 1/20, h12 = 27/2, h21 = (5/20 + 81)^2 / 50, h22 = 0
    h21 = (5 / 20 + 6 * 13.5) ** 2 / 50
    assert binary_tree_function(x)[0] == pytest.approx(1.1 * math.sqrt(h21 + 1))


def test_table_mutual_information_closed_forms():
    from deepscope.expressivity import table_mutual_information

    independent = np.outer([0.3, 0.7], [0.2, 0.5, 0.3])
    assert table_mutual_information(independent) == pytest.approx(0.0, abs=1e-15)
    assert table_mutual_information([[0.5, 0.0], [0.0, 0.5]]) == pytest.approx(1.0, abs=1e-15)
    p = 0.11  # a binary symmetric channel with a uniform input: 1 - H2(p) bits
    h2 = -p * np.log2(p) - (1 - p) * np.log2(1 - p)
    joint = 0.5 * np.array([[1 - p, p], [p, 1 - p]])
    assert table_mutual_information(joint * 7.0) == pytest.approx(1.0 - h2, rel=1e-13)
