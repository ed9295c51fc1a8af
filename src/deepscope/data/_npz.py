"""User data from an ``.npz`` file with arrays ``X`` and ``y`` (and optionally a test split)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from deepscope.errors import UserInputError

from ._dataset import Dataset, check_seed, check_test_fraction, rngs, split_indices

#: the class label that marks padding (``torch.nn.CrossEntropyLoss``'s default ``ignore_index``)
IGNORE_INDEX = -100


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise UserInputError(f"data file not found: {path}")
    if not path.is_file():
        raise UserInputError(f"data path is not a file: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UserInputError(f"{path} is not a valid .npz file ({exc})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise UserInputError(f"{path} is a single .npy array, not an .npz archive with X and y")
    arrays: dict[str, np.ndarray] = {}
    with loaded:
        for name in loaded.files:
            try:
                arrays[name] = np.asarray(loaded[name])
            except ValueError as exc:  # object arrays need pickle, which is refused
                raise UserInputError(
                    f"array {name!r} in {path} cannot be read without pickle "
                    f"(store plain numeric arrays): {exc}"
                ) from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise UserInputError(f"{path} is not a valid .npz file ({exc})") from None
    return arrays


def _check_pair(path: Path, X: np.ndarray, y: np.ndarray, xname: str, yname: str) -> None:
    if X.ndim == 0 or y.ndim == 0:
        raise UserInputError(f"{xname} and {yname} in {path} must be arrays with a sample axis")
    if len(X) == 0:
        raise UserInputError(f"{xname} in {path} is empty")
    if len(X) != len(y):
        raise UserInputError(f"{xname} has {len(X)} samples but {yname} has {len(y)} in {path}")
    for name, arr in ((xname, X), (yname, y)):
        if arr.dtype.kind not in "biuf":
            raise UserInputError(f"{name} in {path} must be numeric, got dtype {arr.dtype}")
    if not np.all(np.isfinite(X)):
        raise UserInputError(f"{xname} in {path} contains NaN or infinite values")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise UserInputError(f"{yname} in {path} contains NaN or infinite values")


def from_npz(path: str | os.PathLike[str], seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """Load user data from an ``.npz`` archive (read with ``allow_pickle=False``).

    The archive must hold ``X`` (samples along the first axis) and ``y``. If it also holds
    ``X_test`` and ``y_test`` these form the test split; otherwise the samples are split at
    random from `seed`. Integer (or boolean) ``y`` means classification with
    ``n_classes = max(y) + 1``, one class index per sample or, for any further axes, per
    position (e.g. next-token targets of shape ``(n, T)``), where ``-100`` (the default
    ``ignore_index`` of ``torch.nn.CrossEntropyLoss``) marks padding; floating ``y`` means
    regression. Integer ``X`` (e.g. token ids) stays integer (int64); other inputs become
    float32. A 1-D ``X`` is read as one feature per sample.

    Args:
        path: Path to the ``.npz`` file.
        seed: Fixes the random split (unused when the file provides a test split).
        test_fraction: Fraction of samples held out when the file has no test split.

    Returns:
        A `Dataset` with int64 inputs (integer ``X``) or float32 inputs.

    Raises:
        UserInputError: The file is missing or not an ``.npz``, lacks ``X`` or ``y``, the
            lengths differ, an array is empty, non-numeric or needs pickle, ``X`` holds
            NaN/inf, or class labels are negative (other than the padding ``-100``).
    """
    seed = check_seed(seed)
    test_fraction = check_test_fraction(test_fraction)
    path = Path(path).expanduser()
    arrays = _read_npz(path)
    for name in ("X", "y"):
        if name not in arrays:
            found = ", ".join(sorted(arrays)) or "nothing"
            raise UserInputError(f"{path} has no array {name!r} (found: {found})")
    has_test = [name in arrays for name in ("X_test", "y_test")]
    if any(has_test) and not all(has_test):
        raise UserInputError(f"{path} must hold both X_test and y_test, or neither")
    X, y = arrays["X"], arrays["y"]
    _check_pair(path, X, y, "X", "y")
    if X.ndim == 1:
        X = X[:, None]
    sample_shape = tuple(int(s) for s in X.shape[1:])
    meta: dict[str, object] = {"path": str(path), "seed": seed}
    if all(has_test):
        X_test, y_test = arrays["X_test"], arrays["y_test"]
        _check_pair(path, X_test, y_test, "X_test", "y_test")
        if X_test.ndim == 1:
            X_test = X_test[:, None]
        if X_test.shape[1:] != sample_shape:
            raise UserInputError(
                f"X_test samples have shape {X_test.shape[1:]} but X samples have "
                f"shape {sample_shape} in {path}"
            )
        if (X_test.dtype.kind in "iu") != (X.dtype.kind in "iu"):
            raise UserInputError(f"X and X_test in {path} must both be integer or both not")
        if (y_test.dtype.kind in "biu") != (y.dtype.kind in "biu"):
            raise UserInputError(f"y and y_test in {path} must both be integer or both float")
        if y_test.shape[1:] != y.shape[1:]:
            raise UserInputError(f"y_test and y have different sample shapes in {path}")
        X_train, y_train = X, y
        meta["split"] = "file"
    else:
        if len(X) < 2:
            raise UserInputError(f"{path} needs at least 2 samples to make a train/test split")
        (split_rng,) = rngs(seed, 1)
        train_idx, test_idx = split_indices(len(X), test_fraction, split_rng)
        X_train, y_train, X_test, y_test = X[train_idx], y[train_idx], X[test_idx], y[test_idx]
        meta.update(
            split="random",
            test_fraction=test_fraction,
            train_indices=train_idx,
            test_indices=test_idx,
        )
    if y.dtype.kind in "biu":
        labels = np.concatenate([y_train.ravel(), y_test.ravel()]).astype(np.int64)
        if y.dtype.kind == "u" and labels.size and labels.min() < 0:
            raise UserInputError(f"class labels in {path} do not fit in int64")
        real = labels[labels != IGNORE_INDEX]
        if real.size == 0:
            raise UserInputError(f"every class label in {path} is the padding value "
                                 f"{IGNORE_INDEX}")
        if real.min() < 0:
            raise UserInputError(f"class labels in {path} must be >= 0 (or {IGNORE_INDEX} for "
                                 f"padding), found {real.min()}")
        task, n_classes = "classification", int(real.max()) + 1
        y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    else:
        task, n_classes = "regression", None
        y_train, y_test = y_train.astype(np.float32), y_test.astype(np.float32)
    x_dtype = np.int64 if X.dtype.kind in "iu" else np.float32
    if x_dtype is np.int64 and X.dtype.kind == "u":
        for arr in (X_train, X_test):
            if arr.size and arr.max() > np.iinfo(np.int64).max:
                raise UserInputError(f"integer inputs in {path} do not fit in int64")
    return Dataset(
        name=path.stem,
        X_train=np.ascontiguousarray(X_train, dtype=x_dtype),
        y_train=np.ascontiguousarray(y_train),
        X_test=np.ascontiguousarray(X_test, dtype=x_dtype),
        y_test=np.ascontiguousarray(y_test),
        task=task,
        n_classes=n_classes,
        input_shape=sample_shape,
        meta=meta,
    )
