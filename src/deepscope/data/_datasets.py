"""Embedded data sets: scikit-learn digits, MNIST-1D, teacher-student regression, Gaussian mixture.

Every loader takes an explicit seed and draws only from local ``numpy.random.Generator``
objects; numpy's, Python's and torch's global random states are never changed.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from deepscope.errors import UserInputError

from . import _cache
from ._dataset import (
    Dataset,
    check_bool,
    check_float,
    check_int,
    check_seed,
    check_test_fraction,
    rngs,
    split_indices,
)

#: Version of the cached MNIST-1D array layout; bump it to invalidate old cache files.
_MNIST1D_CACHE_FORMAT = 1


def digits(seed: int = 0, test_fraction: float = 0.2, image: bool = False) -> Dataset:
    """The 8x8 handwritten digits bundled with scikit-learn (1797 samples, 10 classes).

    Pixel values are scaled from 0..16 to [0, 1]. Nothing is downloaded.

    Args:
        seed: Fixes the random train/test split.
        test_fraction: Fraction of the samples held out for testing.
        image: If true, samples have shape ``(1, 8, 8)``; otherwise flat ``(64,)``.

    Returns:
        A classification `Dataset`; ``meta`` holds the split's row indices into
        ``sklearn.datasets.load_digits()``.
    """
    seed = check_seed(seed)
    test_fraction = check_test_fraction(test_fraction)
    image = check_bool("image", image)
    from sklearn.datasets import load_digits

    data, target = load_digits(return_X_y=True)
    X = (np.asarray(data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(target, dtype=np.int64)
    shape: tuple[int, ...] = (64,)
    if image:
        shape = (1, 8, 8)
        X = X.reshape(len(X), *shape)
    (split_rng,) = rngs(seed, 1)
    train_idx, test_idx = split_indices(len(X), test_fraction, split_rng)
    meta = {
        "seed": seed,
        "test_fraction": test_fraction,
        "image": image,
        "source": "sklearn.datasets.load_digits",
        "train_indices": train_idx,
        "test_indices": test_idx,
    }
    return Dataset(
        name="digits-image" if image else "digits",
        X_train=X[train_idx],
        y_train=y[train_idx],
        X_test=X[test_idx],
        y_test=y[test_idx],
        task="classification",
        n_classes=10,
        input_shape=shape,
        meta=meta,
    )


def _mnist1d_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mnist1d")
    except PackageNotFoundError:  # pragma: no cover - the package is a dependency
        return "unknown"


def _generate_mnist1d(params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Run ``mnist1d.data.make_dataset`` with the global RNGs saved and restored around it."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    for key, value in params.items():
        setattr(args, key, value)
    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "x": np.asarray(raw["x"], dtype=np.float32),
        "y": np.asarray(raw["y"], dtype=np.int64),
        "x_test": np.asarray(raw["x_test"], dtype=np.float32),
        "y_test": np.asarray(raw["y_test"], dtype=np.int64),
    }


def mnist1d(
    seed: int = 0,
    n_samples: int = 4000,
    test_fraction: float = 0.2,
    channel: bool = False,
    shuffle_seq: bool = False,
    cache: bool = True,
) -> Dataset:
    """MNIST-1D: 10 classes of length-40 one-dimensional signals, generated locally.

    The signals come from ``mnist1d.data.make_dataset`` (never the download path). That
    function reseeds numpy's and Python's global RNGs, so both states are saved and
    restored around the call. Generated arrays are cached as ``.npz`` under `cache_dir`,
    keyed by a hash of the generation parameters. Default generation takes about a second.

    Args:
        seed: Seed of the generator (MNIST-1D's ``args.seed``); it also fixes the split.
        n_samples: Total number of samples (rounded down to a multiple of 10).
        test_fraction: Fraction of samples in the test split (MNIST-1D's own split).
        channel: If true, samples have shape ``(1, 40)`` (for 1D convolutions), else ``(40,)``.
        shuffle_seq: Apply one fixed random permutation to the 40 positions.
        cache: Read and write the on-disk cache (best effort: unwritable means no cache).

    Returns:
        A classification `Dataset` with 10 classes.
    """
    seed = check_seed(seed)
    n_samples = check_int("n_samples", n_samples, minimum=20)
    test_fraction = check_test_fraction(test_fraction)
    channel = check_bool("channel", channel)
    shuffle_seq = check_bool("shuffle_seq", shuffle_seq)
    cache = check_bool("cache", cache)
    params: dict[str, Any] = {
        "num_samples": n_samples,
        "train_split": 1.0 - test_fraction,
        "shuffle_seq": shuffle_seq,
        "seed": seed,
    }
    key_params = {**params, "mnist1d": _mnist1d_version(), "format": _MNIST1D_CACHE_FORMAT}
    names = ("x", "y", "x_test", "y_test")
    path = _cache.cache_path("mnist1d", key_params)
    arrays = _cache.read_arrays(path, names) if cache else None
    if arrays is None:
        arrays = _generate_mnist1d(params)
        if cache:
            _cache.write_arrays(path, arrays)
    if len(arrays["x"]) == 0 or len(arrays["x_test"]) == 0:
        raise UserInputError(
            f"mnist1d with n_samples={n_samples} and test_fraction={test_fraction} "
            "leaves an empty train or test split"
        )
    length = int(arrays["x"].shape[1])
    shape: tuple[int, ...] = (1, length) if channel else (length,)
    meta = {
        "seed": seed,
        "n_samples": n_samples,
        "test_fraction": test_fraction,
        "channel": channel,
        "shuffle_seq": shuffle_seq,
        "source": "mnist1d.data.make_dataset",
        "mnist1d_version": key_params["mnist1d"],
    }
    return Dataset(
        name="mnist1d",
        X_train=arrays["x"].reshape(-1, *shape),
        y_train=arrays["y"],
        X_test=arrays["x_test"].reshape(-1, *shape),
        y_test=arrays["y_test"],
        task="classification",
        n_classes=10,
        input_shape=shape,
        meta=meta,
    )


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


#: Teacher activations, applied elementwise in float64.
TEACHER_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "linear": lambda z: z,
    "sin": np.sin,
}


def teacher_forward(X: np.ndarray, teacher: dict[str, np.ndarray], activation: str) -> np.ndarray:
    """Apply a one-hidden-layer teacher network ``act(X W1^T + b1) W2^T + b2`` in float64."""
    act = TEACHER_ACTIVATIONS[activation]
    X64 = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    hidden = act(X64 @ teacher["W1"].T + teacher["b1"])
    return hidden @ teacher["W2"].T + teacher["b2"]


def teacher_student(
    n_samples: int = 2000,
    d_in: int = 10,
    d_hidden: int = 16,
    d_out: int = 1,
    activation: str = "tanh",
    noise: float = 0.0,
    seed: int = 0,
    test_fraction: float = 0.2,
    teacher_seed: int | None = None,
) -> Dataset:
    """Regression on the outputs of a random one-hidden-layer teacher network.

    Inputs are standard Gaussian, ``X ~ N(0, I)``. The teacher has weights
    ``W1 ~ N(0, 1/d_in)``, ``b1 ~ N(0, 0.25)``, ``W2 ~ N(0, 1/d_hidden)``, ``b2 = 0``, and
    targets are ``y = act(X W1^T + b1) W2^T + b2 + noise * N(0, I)``, computed in float64 from
    the float32 inputs and stored as float32 with shape ``(n, d_out)``.

    Args:
        n_samples: Total number of samples before the split.
        d_in: Input dimension.
        d_hidden: Width of the teacher's hidden layer.
        d_out: Output dimension.
        activation: One of ``tanh``, ``relu``, ``sigmoid``, ``softplus``, ``linear``, ``sin``.
        noise: Standard deviation of the Gaussian label noise.
        seed: Fixes the inputs, the noise and the split (and the teacher, by default).
        test_fraction: Fraction of samples held out for testing.
        teacher_seed: Separate seed for the teacher weights; defaults to `seed`.

    Returns:
        A regression `Dataset`; ``meta["teacher"]`` holds ``W1, b1, W2, b2`` (float64).
    """
    seed = check_seed(seed)
    teacher_seed = seed if teacher_seed is None else check_seed(teacher_seed)
    n_samples = check_int("n_samples", n_samples, minimum=2)
    d_in = check_int("d_in", d_in)
    d_hidden = check_int("d_hidden", d_hidden)
    d_out = check_int("d_out", d_out)
    noise = check_float("noise", noise, minimum=0.0)
    test_fraction = check_test_fraction(test_fraction)
    if activation not in TEACHER_ACTIVATIONS:
        raise UserInputError(
            f"unknown teacher activation {activation!r}; choose one of: "
            + ", ".join(TEACHER_ACTIVATIONS)
        )
    (teacher_rng,) = rngs(teacher_seed, 1)
    data_rng, noise_rng, split_rng = rngs(seed, 3)
    teacher = {
        "W1": teacher_rng.normal(0.0, 1.0 / np.sqrt(d_in), size=(d_hidden, d_in)),
        "b1": teacher_rng.normal(0.0, 0.5, size=d_hidden),
        "W2": teacher_rng.normal(0.0, 1.0 / np.sqrt(d_hidden), size=(d_out, d_hidden)),
        "b2": np.zeros(d_out),
    }
    X = data_rng.standard_normal((n_samples, d_in)).astype(np.float32)
    y64 = teacher_forward(X, teacher, activation)
    if noise > 0:
        y64 = y64 + noise * noise_rng.standard_normal(y64.shape)
    y = y64.astype(np.float32)
    train_idx, test_idx = split_indices(n_samples, test_fraction, split_rng)
    meta = {
        "seed": seed,
        "teacher_seed": teacher_seed,
        "n_samples": n_samples,
        "d_in": d_in,
        "d_hidden": d_hidden,
        "d_out": d_out,
        "activation": activation,
        "noise": noise,
        "test_fraction": test_fraction,
        "teacher": teacher,
    }
    return Dataset(
        name="teacher-student",
        X_train=X[train_idx],
        y_train=y[train_idx],
        X_test=X[test_idx],
        y_test=y[test_idx],
        task="regression",
        n_classes=None,
        input_shape=(d_in,),
        meta=meta,
    )


def _place_means(
    n_classes: int, dim: int, separation: float, rng: np.random.Generator
) -> np.ndarray:
    """Draw `n_classes` random means in R^dim, every pair at least `separation` apart."""
    radius = separation * max(1.0, n_classes ** (1.0 / dim))
    means = np.empty((0, dim))
    while len(means) < n_classes:
        for _ in range(200):
            candidate = rng.normal(0.0, radius / np.sqrt(dim), size=dim)
            if len(means) == 0 or np.min(np.linalg.norm(means - candidate, axis=1)) >= separation:
                means = np.vstack([means, candidate])
                break
        else:
            radius *= 1.25  # too crowded: widen the sampling region and keep going
    return means


def gaussian_mixture(
    n_samples: int = 2000,
    n_classes: int = 4,
    dim: int = 2,
    separation: float = 3.0,
    std: float = 1.0,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> Dataset:
    """Classification of isotropic Gaussian clusters, one per class.

    Class means are random, drawn one after another so that every pair of means is at
    least `separation` apart; samples are ``mean[y] + std * N(0, I)`` with balanced labels.

    Args:
        n_samples: Total number of samples before the split.
        n_classes: Number of clusters (classes), at least 2.
        dim: Input dimension.
        separation: Minimum distance between any two class means.
        std: Standard deviation of each cluster along every axis.
        seed: Fixes the means, the samples and the split.
        test_fraction: Fraction of samples held out for testing.

    Returns:
        A classification `Dataset`; ``meta["means"]`` holds the class means.
    """
    seed = check_seed(seed)
    n_samples = check_int("n_samples", n_samples, minimum=2)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    dim = check_int("dim", dim)
    separation = check_float("separation", separation, positive=True)
    std = check_float("std", std, positive=True)
    test_fraction = check_test_fraction(test_fraction)
    mean_rng, data_rng, split_rng = rngs(seed, 3)
    means = _place_means(n_classes, dim, separation, mean_rng)
    y = data_rng.permutation(np.arange(n_samples, dtype=np.int64) % n_classes)
    X = (means[y] + std * data_rng.standard_normal((n_samples, dim))).astype(np.float32)
    train_idx, test_idx = split_indices(n_samples, test_fraction, split_rng)
    meta = {
        "seed": seed,
        "n_samples": n_samples,
        "n_classes": n_classes,
        "dim": dim,
        "separation": separation,
        "std": std,
        "test_fraction": test_fraction,
        "means": means,
    }
    return Dataset(
        name="gaussian-mixture",
        X_train=X[train_idx],
        y_train=y[train_idx],
        X_test=X[test_idx],
        y_test=y[test_idx],
        task="classification",
        n_classes=n_classes,
        input_shape=(dim,),
        meta=meta,
    )
