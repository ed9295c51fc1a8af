"""Tests of deepscope.data: embedded data sets, the .npz loader, specs and the cache."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deepscope.data as data
from deepscope.data import _datasets
from deepscope.errors import UserInputError

SMALL_MNIST1D = 200


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache directory."""
    monkeypatch.setenv("DEEPSCOPE_CACHE", str(tmp_path / "cache"))


def _np_state_equal(a, b) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


def _arrays(ds):
    return (ds.X_train, ds.y_train, ds.X_test, ds.y_test)


def _assert_same(a, b):
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


# ----------------------------------------------------------------------------- import


def test_import_is_light():
    code = (
        "import sys, deepscope.data; "
        "heavy = ('torch', 'sklearn', 'mnist1d', 'matplotlib'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_available_names():
    assert data.available() == [
        "digits",
        "digits-image",
        "mnist1d",
        "teacher-student",
        "gaussian-mixture",
    ]


# ----------------------------------------------------------------------------- digits


def test_digits_values_match_sklearn():
    from sklearn.datasets import load_digits

    ref = load_digits()
    ds = data.digits(seed=3)
    assert ds.task == "classification" and ds.n_classes == 10
    assert ds.input_shape == (64,) and ds.n_features == 64
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    train, test = ds.meta["train_indices"], ds.meta["test_indices"]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(ref.data)))
    assert len(test) == round(0.2 * len(ref.data))
    np.testing.assert_array_equal(ds.X_train, ref.data[train] / 16.0)
    np.testing.assert_array_equal(ds.X_test, ref.data[test] / 16.0)
    np.testing.assert_array_equal(ds.y_train, ref.target[train])
    np.testing.assert_array_equal(ds.y_test, ref.target[test])
    assert ds.X_train.min() >= 0.0 and ds.X_train.max() <= 1.0


def test_digits_image_form():
    flat, img = data.digits(seed=1), data.digits(seed=1, image=True)
    assert img.input_shape == (1, 8, 8) and img.X_train.shape[1:] == (1, 8, 8)
    assert img.n_features == 64
    np.testing.assert_array_equal(img.X_train.reshape(len(img.X_train), 64), flat.X_train)
    np.testing.assert_array_equal(img.y_test, flat.y_test)


def test_digits_test_fraction():
    ds = data.digits(test_fraction=0.5)
    assert abs(ds.n_test - ds.n_train) <= 1


# ----------------------------------------------------------------------------- determinism

GENERATORS = {
    "digits": lambda seed: data.digits(seed=seed),
    "mnist1d": lambda seed: data.mnist1d(seed=seed, n_samples=SMALL_MNIST1D),
    "teacher-student": lambda seed: data.teacher_student(n_samples=300, seed=seed),
    "gaussian-mixture": lambda seed: data.gaussian_mixture(n_samples=300, seed=seed),
}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_seed_identical_different_seed_differs(name):
    make = GENERATORS[name]
    a, b, c = make(5), make(5), make(6)
    _assert_same(a, b)
    assert not np.array_equal(a.X_train, c.X_train)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_global_random_states_untouched(name):
    np_before, py_before = np.random.get_state(), random.getstate()
    GENERATORS[name](11)
    assert _np_state_equal(np_before, np.random.get_state())
    assert py_before == random.getstate()


# ----------------------------------------------------------------------------- mnist1d


def test_mnist1d_shapes_and_global_state():
    np.random.seed(1234)
    before = np.random.get_state()
    py_before = random.getstate()
    ds = data.mnist1d(seed=0, n_samples=SMALL_MNIST1D)
    assert _np_state_equal(before, np.random.get_state())
    assert py_before == random.getstate()
    assert ds.input_shape == (40,)
    assert ds.X_train.shape == (160, 40) and ds.X_test.shape == (40, 40)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.n_classes == 10 and set(np.unique(ds.y_train)) <= set(range(10))
    ch = data.mnist1d(seed=0, n_samples=SMALL_MNIST1D, channel=True)
    assert ch.input_shape == (1, 40) and ch.X_train.shape == (160, 1, 40)
    np.testing.assert_array_equal(ch.X_train[:, 0], ds.X_train)


def test_mnist1d_matches_reference_generator():
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = SMALL_MNIST1D, 7
    state = np.random.get_state()
    try:
        ref = make_dataset(args)
    finally:
        np.random.set_state(state)
    ds = data.mnist1d(seed=7, n_samples=SMALL_MNIST1D)
    np.testing.assert_array_equal(ds.X_train, ref["x"].astype(np.float32))
    np.testing.assert_array_equal(ds.y_test, ref["y_test"])


def test_mnist1d_cache_written_and_used(tmp_path, monkeypatch):
    first = data.mnist1d(seed=2, n_samples=SMALL_MNIST1D)
    files = list((tmp_path / "cache").glob("mnist1d-*.npz"))
    assert len(files) == 1
    assert not [p for p in (tmp_path / "cache").iterdir() if p.suffix == ".tmp"]
    with np.load(files[0], allow_pickle=False) as archive:
        assert set(archive.files) == {"x", "y", "x_test", "y_test"}

    def boom(params):
        raise AssertionError("cache not used")

    monkeypatch.setattr(_datasets, "_generate_mnist1d", boom)
    _assert_same(first, data.mnist1d(seed=2, n_samples=SMALL_MNIST1D))
    with pytest.raises(AssertionError):  # different args: different key, must generate
        data.mnist1d(seed=3, n_samples=SMALL_MNIST1D)


def test_mnist1d_cache_disabled_and_corrupt(tmp_path):
    data.mnist1d(seed=1, n_samples=SMALL_MNIST1D, cache=False)
    assert not (tmp_path / "cache").exists()
    good = data.mnist1d(seed=1, n_samples=SMALL_MNIST1D)
    (path,) = (tmp_path / "cache").glob("mnist1d-*.npz")
    path.write_bytes(b"not a zip file")
    _assert_same(good, data.mnist1d(seed=1, n_samples=SMALL_MNIST1D))
    with np.load(path, allow_pickle=False) as archive:  # rewritten
        assert "x" in archive.files


def test_mnist1d_unwritable_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setenv("DEEPSCOPE_CACHE", str(blocker / "sub"))
    ds = data.mnist1d(seed=0, n_samples=SMALL_MNIST1D)
    assert ds.n_train == 160


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPSCOPE_CACHE", str(tmp_path))
    assert data.cache_dir() == tmp_path
    monkeypatch.delenv("DEEPSCOPE_CACHE")
    assert data.cache_dir() == Path.home() / ".cache" / "deepscope"


# ----------------------------------------------------------------------------- teacher-student


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_teacher_student_targets_equal_teacher(activation):
    ds = data.teacher_student(
        n_samples=500, d_in=6, d_hidden=9, d_out=2, activation=activation, seed=4
    )
    assert ds.task == "regression" and ds.n_classes is None
    assert ds.X_train.shape == (400, 6) and ds.y_train.shape == (400, 2)
    assert ds.y_train.dtype == np.float32 and ds.n_outputs == 2
    t = ds.meta["teacher"]
    assert t["W1"].shape == (9, 6) and t["W2"].shape == (2, 9)
    act = np.tanh if activation == "tanh" else (lambda z: np.where(z > 0, z, 0.0))
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        X64 = X.astype(np.float64)
        expected = act(X64 @ t["W1"].T + t["b1"]) @ t["W2"].T + t["b2"]
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert np.std(ds.y_train) > 0.05  # not a degenerate teacher


def test_teacher_student_noise_and_teacher_seed():
    clean = data.teacher_student(n_samples=4000, noise=0.0, seed=1)
    noisy = data.teacher_student(n_samples=4000, noise=0.3, seed=1)
    np.testing.assert_array_equal(clean.X_train, noisy.X_train)
    resid = noisy.y_train - clean.y_train
    assert 0.27 < resid.std() < 0.33
    a = data.teacher_student(seed=1, teacher_seed=9)
    b = data.teacher_student(seed=2, teacher_seed=9)
    np.testing.assert_array_equal(a.meta["teacher"]["W1"], b.meta["teacher"]["W1"])
    assert not np.array_equal(a.X_train, b.X_train)


# ----------------------------------------------------------------------------- gaussian mixture


def test_gaussian_mixture_nearest_mean_accuracy():
    ds = data.gaussian_mixture(n_samples=2000, n_classes=5, dim=3, separation=5.0, seed=0)
    assert ds.X_train.shape == (1600, 3) and ds.n_classes == 5
    assert ds.y_train.dtype == np.int64 and set(np.unique(ds.y_train)) == set(range(5))
    means = np.stack([ds.X_train[ds.y_train == k].mean(0) for k in range(5)])
    dists = ((ds.X_test[:, None, :] - means[None]) ** 2).sum(-1)
    accuracy = (dists.argmin(1) == ds.y_test).mean()
    assert accuracy > 0.9
    true_means = ds.meta["means"]
    pair = np.linalg.norm(true_means[:, None] - true_means[None], axis=-1)
    assert pair[~np.eye(5, dtype=bool)].min() >= 5.0


def test_gaussian_mixture_cluster_std():
    ds = data.gaussian_mixture(n_samples=4000, n_classes=2, dim=2, std=0.5, seed=3)
    resid = ds.X_train - ds.meta["means"][ds.y_train]
    assert 0.45 < resid.std() < 0.55


# ----------------------------------------------------------------------------- Dataset


def test_to_torch_and_summary():
    import torch

    ds = data.gaussian_mixture(n_samples=100, seed=0)
    X, y, Xt, yt = ds.to_torch()
    assert X.dtype == torch.float32 and y.dtype == torch.int64
    assert X.shape == (80, 2) and Xt.shape == (20, 2) and yt.shape == (20,)
    np.testing.assert_array_equal(X.numpy(), ds.X_train)
    X64 = ds.to_torch(torch.float64)[0]
    assert X64.dtype == torch.float64
    reg = data.teacher_student(n_samples=50).to_torch()
    assert reg[1].dtype == torch.float32
    summary = ds.summary()
    json.dumps(summary)
    assert summary["n_train"] == 80 and summary["seed"] == 0


# ----------------------------------------------------------------------------- npz


def test_npz_round_trip_random_split(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3, 4))
    y = rng.integers(0, 3, size=50)
    path = tmp_path / "mine.npz"
    np.savez(path, X=X, y=y)
    ds = data.from_npz(path, seed=1)
    assert ds.name == "mine" and ds.task == "classification" and ds.n_classes == 3
    assert ds.input_shape == (3, 4) and ds.n_train == 40 and ds.n_test == 10
    np.testing.assert_array_equal(ds.X_train, X[ds.meta["train_indices"]].astype(np.float32))
    np.testing.assert_array_equal(ds.y_test, y[ds.meta["test_indices"]])
    _assert_same(ds, data.from_npz(path, seed=1))
    assert not np.array_equal(ds.y_train, data.from_npz(path, seed=2).y_train)


def test_npz_explicit_test_split_and_regression(tmp_path):
    X, y = np.arange(10.0), np.linspace(0, 1, 10)
    path = tmp_path / "reg.npz"
    np.savez(path, X=X, y=y, X_test=np.arange(3.0), y_test=np.ones(3))
    ds = data.from_npz(path)
    assert ds.task == "regression" and ds.n_classes is None and ds.input_shape == (1,)
    np.testing.assert_array_equal(ds.X_train[:, 0], X)
    np.testing.assert_array_equal(ds.y_test, np.ones(3, dtype=np.float32))
    assert ds.meta["split"] == "file"


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


NPZ_ERRORS = {
    "missing X": ({"y": np.zeros(3, dtype=int)}, "no array 'X'"),
    "missing y": ({"X": np.zeros((3, 2))}, "no array 'y'"),
    "length": ({"X": np.zeros((3, 2)), "y": np.zeros(4, dtype=int)}, "3 samples"),
    "non-numeric": ({"X": np.array(["a", "b"]), "y": np.zeros(2, dtype=int)}, "numeric"),
    "nan": ({"X": np.array([[np.nan], [1.0]]), "y": np.zeros(2, dtype=int)}, "NaN"),
    "inf": ({"X": np.array([[np.inf], [1.0]]), "y": np.zeros(2, dtype=int)}, "infinite"),
    "empty": ({"X": np.zeros((0, 2)), "y": np.zeros(0, dtype=int)}, "empty"),
    "half test": (
        {"X": np.zeros((4, 2)), "y": np.zeros(4, dtype=int), "X_test": np.zeros((2, 2))},
        "X_test and y_test",
    ),
    "negative": ({"X": np.zeros((4, 2)), "y": np.array([0, 1, -1, 2])}, ">= 0"),
    "test shape": (
        {
            "X": np.zeros((4, 2)),
            "y": np.zeros(4, dtype=int),
            "X_test": np.zeros((2, 3)),
            "y_test": np.zeros(2, dtype=int),
        },
        "shape",
    ),
}


@pytest.mark.parametrize("case", list(NPZ_ERRORS))
def test_npz_errors(tmp_path, case):
    arrays, fragment = NPZ_ERRORS[case]
    path = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserInputError, match=fragment) as info:
        data.from_npz(path)
    assert "\n" not in str(info.value)


def test_npz_file_errors(tmp_path):
    with pytest.raises(UserInputError, match="not found"):
        data.from_npz(tmp_path / "nope.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00\x01 definitely not numpy")
    with pytest.raises(UserInputError, match="not a valid .npz"):
        data.from_npz(garbage)
    single = tmp_path / "single.npz"
    with open(single, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(UserInputError, match="single .npy"):
        data.from_npz(single)
    obj = _write(
        tmp_path / "obj.npz", X=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2, dtype=int)
    )
    with pytest.raises(UserInputError, match="pickle"):
        data.from_npz(obj)


# ----------------------------------------------------------------------------- specs


def test_load_specs(tmp_path):
    _assert_same(data.load("digits", seed=2), data.digits(seed=2))
    assert data.load("digits_image").input_shape == (1, 8, 8)
    assert data.load("DIGITS:image=true").input_shape == (1, 8, 8)
    gm = data.load("gaussian-mixture:n_classes=3,dim=5,separation=4.5", seed=1)
    assert gm.n_classes == 3 and gm.input_shape == (5,) and gm.meta["separation"] == 4.5
    ts = data.load("teacher_student:d_in=4,noise=0.1,activation=relu,n_samples=100")
    assert ts.input_shape == (4,) and ts.meta["activation"] == "relu" and ts.n_train == 80
    m1 = data.load(f"mnist1d:n_samples={SMALL_MNIST1D},channel=yes", seed=3)
    assert m1.input_shape == (1, 40) and m1.meta["seed"] == 3
    path = _write(tmp_path / "u.npz", X=np.ones((20, 2)), y=np.arange(20) % 2)
    assert data.load(str(path)).n_test == 4
    assert data.load(f"{path}:test_fraction=0.5").n_test == 10


def test_parse_value():
    assert data.parse_value("3") == 3 and isinstance(data.parse_value("3"), int)
    assert data.parse_value("-2.5") == -2.5
    assert data.parse_value("1e-3") == 0.001
    assert data.parse_value("True") is True and data.parse_value("off") is False
    assert data.parse_value("none") is None
    assert data.parse_value("tanh") == "tanh"


BAD_SPECS = {
    "": "non-empty",
    "foo": "unknown data set 'foo'; choose one of: digits",
    "digits:bogus=1": "unknown option 'bogus'.*valid options: test_fraction, image",
    "digits-image:image=false": "unknown option 'image'",
    "digits:test_fraction": "malformed option",
    "digits:": "empty option",
    "digits:seed=3": "seed argument",
    "digits:test_fraction=1.5": "between 0 and 1",
    "gaussian-mixture:n_classes=1": "n_classes must be an integer >= 2",
    "gaussian-mixture:n_classes=2,n_classes=3": "given twice",
    "gaussian-mixture:std=-1": "std must be > 0",
    "gaussian-mixture:dim=2.5": "dim must be an integer",
    "teacher-student:activation=swish": "unknown teacher activation",
    "teacher-student:noise=abc": "noise must be a number",
    "mnist1d:n_samples=5": "n_samples must be an integer >= 20",
    "mnist1d:channel=maybe": "channel must be true or false",
    "missing.npz": "data file not found",
    "data.csv": "unknown data set",
}


@pytest.mark.parametrize("spec", list(BAD_SPECS))
def test_bad_specs(spec):
    with pytest.raises(UserInputError, match=BAD_SPECS[spec]) as info:
        data.load(spec)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed(seed):
    with pytest.raises(UserInputError, match="seed"):
        data.digits(seed=seed)
