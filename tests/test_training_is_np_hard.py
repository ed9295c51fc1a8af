"""Blum-Rivest reduction from set splitting, tested against brute force and known counts."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from deepscope.errors import UserInputError
from deepscope.experiments import training_is_np_hard as tnh

FANO = [(0, 1, 2), (0, 3, 4), (0, 5, 6), (1, 3, 5), (1, 4, 6), (2, 3, 6), (2, 4, 5)]


def _cube(n):
    return np.array(list(itertools.product((0.0, 1.0), repeat=n)))


def _splittable_by_loops(n, subsets):
    """Independent truth: try every partition with explicit Python sets."""
    for bits in itertools.product((0, 1), repeat=n):
        s1 = {i for i in range(n) if bits[i]}
        if all(not set(c) <= s1 and not set(c) <= set(range(n)) - s1 for c in subsets):
            return True
    return False


def _fits_by_integer_weights(x, y, wmax):
    """Independent truth without LPs: hidden units with integer weights in [-wmax, wmax] and
    half-integer thresholds (every threshold function of n <= 4 inputs has such weights)."""
    n = x.shape[1]
    w = np.array(list(itertools.product(range(-wmax, wmax + 1), repeat=n)), dtype=float)
    thresholds = np.arange(-n * wmax - 0.5, n * wmax + 1.0, 1.0)
    act = x @ w.T  # points x weight vectors
    place = 2 ** np.arange(int((~y).sum()))
    masks = set()
    for t in thresholds:
        accept = act > t
        ok = accept[y].all(axis=0)  # a hidden unit of an AND network accepts every positive
        rejected = ~accept[~y][:, ok]  # the negatives each such unit rejects, as bit masks
        masks.update(int(v) for v in np.unique(place @ rejected))
    full = int(place.sum())
    return any((a | b) == full for a in masks for b in masks)


def test_reduction_points():
    x, y = tnh.reduction_points(4, [(0, 1), (1, 2, 3)])
    assert x.shape == (1 + 4 + 2, 4)
    assert np.all(x[0] == 0) and y[0]
    assert np.array_equal(x[1:5], np.eye(4)) and not y[1:5].any()
    assert np.array_equal(x[5], [1, 1, 0, 0]) and np.array_equal(x[6], [0, 1, 1, 1])
    assert y[5:].all()


def test_valid_colourings_match_loops():
    rng = np.random.default_rng(11)
    for _ in range(60):
        n = int(rng.integers(2, 7))
        subsets = tnh.random_instance(rng, n, (2, 3), 1.0, 2.0)
        ok = tnh.valid_colourings(n, subsets)
        assert bool(ok.any()) == _splittable_by_loops(n, subsets)
        for c in range(2**n):
            s1 = {i for i in range(n) if (c >> i) & 1}
            expect = all(0 < len(set(s) & s1) < len(s) for s in subsets)
            assert ok[c] == expect


@pytest.mark.parametrize(("n", "count"), [(1, 4), (2, 14), (3, 104)])
def test_lp_counts_the_threshold_functions(n, count):
    """Known counts of linearly separable Boolean functions of n inputs: 4, 14, 104."""
    cube = _cube(n)
    separable = 0
    for labels in itertools.product((False, True), repeat=len(cube)):
        lab = np.array(labels)
        plane = tnh.separating_hyperplane(cube[lab], cube[~lab])
        meets = tnh.hulls_intersect(cube[lab], cube[~lab])
        assert (plane is not None) != meets  # theorem of the alternative
        if plane is not None:
            w, b = plane
            assert np.all(cube[lab] @ w - b >= 1 - 1e-6)
            assert np.all(cube[~lab] @ w - b <= -1 + 1e-6)
            separable += 1
    assert separable == count


def test_xor_fits_and_three_parity_does_not():
    sq = _cube(2)
    y = sq.sum(axis=1) == 1
    sep, fits, witness, n_lp = tnh.three_node_search(sq, y)
    assert fits.any() and n_lp == 4
    assert np.array_equal(tnh.network_output(sq, *witness), y)
    cube = _cube(3)
    y3 = cube.sum(axis=1) % 2 == 1
    sep, fits, witness, _ = tnh.three_node_search(cube, y3)
    # every pair of even points shares its midpoint with a pair of odd points
    assert not fits.any() and witness is None
    assert sep.sum() == 1 + 4  # only the empty set and single negatives are separable


def test_fano_plane_is_neither_splittable_nor_fitted():
    x, y = tnh.reduction_points(7, FANO)
    assert not tnh.valid_colourings(7, FANO).any()
    _, fits, witness, n_lp = tnh.three_node_search(x, y)
    assert not fits.any() and witness is None and n_lp == 128


def test_paper_weights_fit_every_splitting():
    n, subsets = 5, [(0, 1), (1, 2, 3), (3, 4), (0, 2, 4)]
    x, y = tnh.reduction_points(n, subsets)
    ok = tnh.valid_colourings(n, subsets)
    assert ok.any()
    for c in np.flatnonzero(ok):
        w1, b1, w2, b2 = tnh.paper_network(n, c)
        assert np.array_equal(tnh.network_output(x, w1, b1, w2, b2), y)
        rejected = np.flatnonzero(np.eye(n) @ w1 - b1 <= 0)
        assert {int(i) for i in rejected} == {i for i in range(n) if (c >> i) & 1}


def test_all_instances_on_three_elements_against_integer_weights():
    pool = [s for k in (2, 3) for s in itertools.combinations(range(3), k)]
    for r in range(1, len(pool) + 1):
        for family in itertools.combinations(pool, r):
            x, y = tnh.reduction_points(3, list(family))
            split = bool(tnh.valid_colourings(3, list(family)).any())
            fits = bool(tnh.three_node_search(x, y)[1].any())
            assert split == fits == _fits_by_integer_weights(x, y, 3), family
    # the triangle is the only unsplittable family of pairs
    assert not tnh.valid_colourings(3, pool[:3]).any()


def test_random_four_element_instances_against_integer_weights():
    rng = np.random.default_rng(12)
    seen = set()
    for _ in range(25):
        subsets = tnh.random_instance(rng, 4, (2, 3), 1.0, 2.0)
        x, y = tnh.reduction_points(4, subsets)
        sep, fits, _, _ = tnh.three_node_search(x, y)
        split = tnh.valid_colourings(4, subsets)
        assert np.array_equal(split, fits)
        assert bool(split.any()) == _fits_by_integer_weights(x, y, 4)
        assert tnh.alternative_clashes(x, y, sep) == 0
        seen.add(bool(split.any()))
    assert seen == {True, False}


def test_random_instance_shape():
    rng = np.random.default_rng(13)
    for n in (2, 3, 6):
        for _ in range(20):
            subsets = tnh.random_instance(rng, n, (2, 3), 1.0, 2.0)
            assert n <= len(subsets) <= 2 * n
            for s in subsets:
                assert len(s) == len(set(s)) and len(s) in (2, 3) and len(s) <= n
                assert all(0 <= i < n for i in s)


@pytest.fixture(scope="module")
def quick_result():
    return tnh.run(tnh.Config.quick(), np.random.default_rng(0))


def test_quick_preset_checks(quick_result):
    res = quick_result
    by_name = {c.name: c for c in res.checks}
    evidence = {"splittable_iff_consistent", "splits_equal_consistent_assignments",
                "paper_network_classifies"}
    assert {n for n, c in by_name.items() if c.role == "evidence"} == evidence
    assert res.headline_check().name == "splittable_iff_consistent"
    assert all(c.stderr is None for c in res.checks)
    cfg = tnh.Config.quick()
    counts = res.arrays["counts_per_n"]
    assert counts.shape == (len(cfg.n_values), 3)
    assert counts[:, :2].sum() + counts[:, 2].sum() == len(cfg.n_values) * cfg.instances_per_n
    m = res.measurements
    assert m["splittable"].value + m["unsplittable"].value == m["instances"].value
    assert m["splittable"].value == int(res.arrays["instance_splittable"].sum())
    assert m["lp_solves_per_instance"].value == [2.0**n for n in cfg.n_values]
    assert np.all((res.arrays["instance_valid_colourings"] > 0)
                  == res.arrays["instance_splittable"])
    assert res.deviations and any("10 instances per n" in s for s in res.deviations)
    assert set(res.figures) == {"reduction_and_search_time"}
    res.to_json()


def test_bit_reproducible_small_config():
    cfg = dataclasses.replace(tnh.Config.quick(), n_values=(3, 4), instances_per_n=4)
    a = tnh.run(cfg, np.random.default_rng(0))
    b = tnh.run(cfg, np.random.default_rng(0))
    assert [(c.name, c.measured) for c in a.checks] == [(c.name, c.measured) for c in b.checks]
    assert ({k: v.to_json() for k, v in a.measurements.items()}
            == {k: v.to_json() for k, v in b.measurements.items()})
    assert a.notes == b.notes and a.deviations == b.deviations
    assert a.arrays.keys() == b.arrays.keys()
    for key in a.arrays:
        assert np.array_equal(a.arrays[key], b.arrays[key]), key


@pytest.mark.parametrize("change", [{"n_values": (4,)}, {"n_values": (4, 3)}, {"n_values": (1, 2)},
                                    {"n_values": (3, 11)}, {"instances_per_n": 0},
                                    {"subset_sizes": ()}, {"subset_sizes": (1, 2)},
                                    {"min_subsets_factor": 0.0},
                                    {"min_subsets_factor": 3.0, "max_subsets_factor": 2.0}])
def test_config_validation(change):
    cfg = dataclasses.replace(tnh.Config(), **change)
    with pytest.raises(UserInputError):
        cfg.validate()
    with pytest.raises(UserInputError):
        tnh.run(cfg, np.random.default_rng(0))


def test_presets_share_the_protocol():
    full, quick = tnh.Config.full(), tnh.Config.quick()
    assert set(tnh.Config.QUICK) == {"n_values", "instances_per_n"}
    assert quick.subset_sizes == full.subset_sizes
    assert (quick.min_subsets_factor, quick.max_subsets_factor) == (1.0, 2.0)
    assert tnh.SPEC.id == "training-is-np-hard" and tnh.SPEC.citations == ("blum1992",)
