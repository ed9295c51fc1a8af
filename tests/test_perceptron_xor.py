"""The perceptron on XOR and parity, Novikoff's bound, backpropagation and parity width, tested
against independent truths: linear programs, brute force, torch autograd and closed forms."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from conftest import quick_verdict
from deepscope.errors import UserInputError
from deepscope.experiments import perceptron_xor as px
from deepscope.expressivity import _threshold as th


def _separable(x, y):
    """Independent truth: is there (w, b) with y_i (<w, x_i> + b) >= 1 for all i? (an LP)."""
    a = -(y[:, None] * np.concatenate([x, np.ones((len(x), 1))], axis=1))
    res = linprog(np.zeros(a.shape[1]), A_ub=a, b_ub=-np.ones(len(x)),
                  bounds=[(None, None)] * a.shape[1], method="highs")
    return res.status == 0


def _augmented(n):
    return np.concatenate([th.cube(n), np.ones((2**n, 1), dtype=np.int64)], axis=1)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_parity_not_separable_and_gordan_sum_vanishes(n):
    x, y = th.cube(n), th.parity_labels(n)
    assert not _separable(x.astype(float), y.astype(float))
    assert np.all((y[:, None] * _augmented(n)).sum(axis=0) == 0)
    assert _separable(th.cube(2).astype(float), np.array([-1.0, -1.0, -1.0, 1.0]))  # AND


def _reference_perceptron_epoch(w, x, y, order):
    w = np.array(w, dtype=np.int64)
    m = 0
    for i in order:
        if y[i] * int(w @ x[i]) <= 0:
            w = w + y[i] * x[i]
            m += 1
    return w, m


def test_perceptron_cycle_on_xor_repeats_exactly():
    x, y = _augmented(2), th.parity_labels(2)
    rng = np.random.default_rng(7)
    for _ in range(20):
        w0, order = rng.integers(-5, 6, 3), rng.permutation(4)
        out = th.perceptron_integer(x, y, w0, order, 1000)
        assert not out["converged"] and out["period"] >= 1
        # Re-simulate the cycle with an independent numpy loop: it returns to its start.
        w = np.array(out["states"][out["cycle_start"]])
        start = w.copy()
        for _ in range(out["period"]):
            w, m = _reference_perceptron_epoch(w, x, y, order)
            assert m > 0
        assert np.array_equal(w, start)


def test_perceptron_converges_on_and_to_a_separator():
    x, y = _augmented(2), np.array([-1, -1, -1, 1])
    out = th.perceptron_integer(x, y, [3, -4, 2], [2, 0, 3, 1], 1000)
    assert out["converged"] and out["mistakes"][-1] == 0
    assert np.all(y * (x @ np.array(out["w"])) > 0)


def test_novikoff_sets_have_unit_radius_and_planted_margin():
    x, y, u = th.separable_sets(np.random.default_rng(3), 5, 30, 7)
    assert np.allclose(np.linalg.norm(x, axis=2), 1.0, atol=1e-14)
    margins = y * np.einsum("snd,sd->sn", x, u)
    assert np.all(margins > 0)
    assert np.allclose(margins[:, 0], margins.min(axis=1), atol=1e-14)


def test_batched_perceptron_matches_loop_and_bound():
    x, y, u = th.separable_sets(np.random.default_rng(4), 6, 40, 5)
    k, done, w = th.perceptron_batch(x, y, 10_000)
    assert done.all()
    for s in range(len(k)):
        ws, mistakes = np.zeros(5), 0
        for _ in range(10_000):
            before = mistakes
            for i in range(40):
                if y[s, i] * (ws @ x[s, i]) <= 0:
                    ws += y[s, i] * x[s, i]
                    mistakes += 1
            if mistakes == before:
                break
        assert mistakes == k[s]
        np.testing.assert_allclose(w[s], ws, atol=1e-12)
        gamma = (y[s] * (x[s] @ u[s])).min()
        assert k[s] <= (1.0 / gamma) ** 2


@pytest.mark.parametrize("n,count", [(1, 4), (2, 14), (3, 104), (4, 1882)])
def test_threshold_function_counts(n, count):
    tables = th.threshold_tables(n)
    assert len(tables) == count == th.THRESHOLD_FUNCTION_COUNTS[n]
    if n == 2:
        parity = th.parity_labels(2) > 0
        assert not np.any(np.all(tables == parity, axis=1))
        assert not np.any(np.all(tables == ~parity, axis=1))


def test_threshold_tables_are_separable():
    tables = th.threshold_tables(3)
    x = th.cube(3).astype(float)
    for row in tables[np.random.default_rng(0).choice(len(tables), 15, replace=False)]:
        if row.all() or not row.any():
            continue
        assert _separable(x, np.where(row, 1.0, -1.0))


def _brute_force_networks(n, k):
    """Every k-set of non-constant hidden threshold functions and every output threshold
    function of k inputs, without pruning."""
    tables = [t for t in th.threshold_tables(n) if t.any() and not t.all()]
    out_tables = th.threshold_tables(k)
    parity = th.parity_labels(n) > 0
    found = 0
    for combo in itertools.combinations(range(len(tables)), k):
        code = sum(tables[j].astype(int) << m for m, j in enumerate(combo))
        if np.any(np.all(out_tables[:, code] == parity, axis=1)):
            found += 1
    return found


def test_exhaustive_search_agrees_with_brute_force():
    assert _brute_force_networks(2, 1) == 0 == th.parity_networks(2, 1)["solutions"]
    assert _brute_force_networks(3, 2) == 0 == th.parity_networks(3, 2)["solutions"]
    assert _brute_force_networks(2, 2) > 0 and th.parity_networks(2, 2)["solutions"] > 0
    assert th.parity_networks(3, 3)["solutions"] > 0


def test_four_bit_parity_needs_four_units():
    assert all(th.parity_networks(4, k)["solutions"] == 0 for k in (1, 2, 3))


@pytest.mark.parametrize("n", range(2, 9))
def test_staircase_network_computes_parity(n):
    assert np.array_equal(th.staircase_parity(n), th.cube(n).sum(axis=1) % 2)


def test_xor_backprop_gradients_match_autograd():
    rng = np.random.default_rng(2)
    f64 = torch.float64
    xa = torch.tensor([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=f64).T
    t = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=f64)
    w = torch.from_numpy(rng.uniform(-2, 2, (3, 2, 3))).requires_grad_()
    v = torch.from_numpy(rng.uniform(-2, 2, (3, 1, 3))).requires_grad_()
    err, g_w, g_v, _ = px.xor_backprop(w.detach(), v.detach(), xa, t,
                                       torch.ones(3, 1, 4, dtype=f64))
    ha = torch.cat([torch.sigmoid(w @ xa), torch.ones(3, 1, 4, dtype=f64)], dim=1)
    e = 0.5 * ((torch.sigmoid(v @ ha) - t) ** 2).sum()
    e.backward()
    np.testing.assert_allclose(err.sum().item(), e.item(), rtol=1e-14)
    np.testing.assert_allclose(g_w.numpy(), w.grad.numpy(), atol=1e-14)
    np.testing.assert_allclose(g_v.numpy(), v.grad.numpy(), atol=1e-14)


def test_parity_surrogate_gradients_match_autograd():
    rng = np.random.default_rng(3)
    n, k, b, beta = 3, 4, 5, 2.5
    x = 2.0 * th.cube(n) - 1.0
    xa = torch.from_numpy(np.concatenate([x, np.ones((2**n, 1))], axis=1).T.copy())
    y = torch.from_numpy(th.parity_labels(n).astype(float))
    mask = torch.from_numpy((np.arange(k)[None, :, None] < np.array([1, 2, 3, 4, 4])[:, None,
                                                                                      None]) * 1.0)
    w = torch.from_numpy(rng.standard_normal((b, k, n + 1))).requires_grad_()
    v = torch.from_numpy(rng.standard_normal((b, 1, k))).requires_grad_()
    c = torch.from_numpy(rng.standard_normal((b, 1, 1))).requires_grad_()
    grads = th.parity_surrogate_grads(w.detach(), v.detach(), c.detach(), xa,
                                      xa.T.contiguous(), y, mask, beta)
    out = v @ (torch.tanh(beta * (w @ xa)) * mask) + c
    (0.5 * ((out - y) ** 2).sum() / 2**n).backward()
    for g, p in zip(grads, (w, v, c)):
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), atol=1e-13)


def test_config_validation():
    with pytest.raises(UserInputError):
        dataclasses.replace(px.Config.quick(), exhaustive_max_bits=5).validate()
    with pytest.raises(UserInputError):
        dataclasses.replace(px.Config.quick(), bp_momentum=1.0).validate()
    with pytest.raises(UserInputError):
        dataclasses.replace(px.Config.quick(), novikoff_dims=()).validate()
    px.Config.quick().validate()
    px.Config.full().validate()


def _tiny():
    return dataclasses.replace(px.Config.quick(), cycle_max_bits=3, cycle_runs=5,
                               novikoff_sets=5, bp_runs=20, bp_epochs=300,
                               exhaustive_max_bits=2, train_max_bits=2, train_restarts=5,
                               train_steps=300)


def test_run_is_reproducible():
    a = px.run(_tiny(), np.random.default_rng(11))
    b = px.run(_tiny(), np.random.default_rng(11))
    assert [c.measured for c in a.checks] == [c.measured for c in b.checks]
    np.testing.assert_array_equal(a.arrays["novikoff_mistakes"], b.arrays["novikoff_mistakes"])


def test_quick_preset_checks():
    result = px.run(px.Config.quick(), np.random.default_rng(0))
    names = {c.name: c for c in result.checks}
    evidence = {c.name for c in result.checks if c.role == "evidence"}
    assert {"perceptron_never_separates", "perceptron_cycles", "novikoff_bound",
            "backprop_solves_xor", "parity_no_smaller_network"} <= evidence
    assert names["perceptron_never_separates"].measured == 0
    assert names["gordan_certificate"].measured == 0
    assert names["novikoff_bound"].measured <= 1.0
    assert result.verdict == quick_verdict("perceptron-xor")
    assert result.deviations and result.figures
    assert result.to_json()["headline"] == "perceptron_never_separates"
