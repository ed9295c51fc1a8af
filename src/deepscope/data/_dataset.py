"""The `Dataset` container and the helpers every loader shares (argument checks, splits)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from deepscope.errors import UserInputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

TASKS = ("classification", "regression")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of one data set, held as numpy arrays.

    Attributes:
        name: Short name of the data set (for example ``"digits"``).
        X_train: Training inputs, shape ``(n_train, *input_shape)``, float32 by default.
        y_train: Training targets: int64 class labels of shape ``(n_train,)`` for
            classification, floats for regression.
        X_test: Test inputs, shape ``(n_test, *input_shape)``.
        y_test: Test targets, like ``y_train``.
        task: ``"classification"`` or ``"regression"``.
        n_classes: Number of classes for classification, ``None`` for regression.
        input_shape: Shape of one sample, e.g. ``(64,)`` or ``(1, 8, 8)``.
        meta: Generation parameters (seed, sizes, ...); may hold numpy arrays such as the
            teacher weights or the split indices.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    n_classes: int | None
    input_shape: tuple[int, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise UserInputError(f"unknown task {self.task!r}; choose one of: {', '.join(TASKS)}")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        splits = ((self.X_train, self.y_train, "train"), (self.X_test, self.y_test, "test"))
        for xs, ys, part in splits:
            if xs.shape[1:] != self.input_shape:
                raise UserInputError(
                    f"{part} inputs have sample shape {xs.shape[1:]}, expected {self.input_shape}"
                )
            if len(xs) != len(ys):
                raise UserInputError(f"{part} split has {len(xs)} inputs but {len(ys)} targets")
        if self.task == "classification" and (self.n_classes is None or self.n_classes < 1):
            raise UserInputError("a classification data set needs n_classes >= 1")

    @property
    def n_features(self) -> int:
        """Number of input features of one sample (the product of `input_shape`)."""
        return int(math.prod(self.input_shape))

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(len(self.X_train))

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(len(self.X_test))

    @property
    def n_outputs(self) -> int:
        """Width of a model's output layer: ``n_classes``, or the regression target width."""
        if self.task == "classification":
            return int(self.n_classes or 0)
        return 1 if self.y_train.ndim == 1 else int(math.prod(self.y_train.shape[1:]))

    def to_torch(self, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, ...]:
        """Return ``(X_train, y_train, X_test, y_test)`` as CPU tensors.

        Args:
            dtype: Floating dtype of the inputs (and of regression targets); defaults to
                ``torch.float32``. Class labels are always ``torch.int64``.

        Returns:
            A tuple of four tensors that do not share memory with the numpy arrays.
        """
        import torch

        dtype = torch.float32 if dtype is None else dtype
        y_dtype = torch.int64 if self.task == "classification" else dtype
        return (
            torch.tensor(self.X_train, dtype=dtype),
            torch.tensor(self.y_train, dtype=y_dtype),
            torch.tensor(self.X_test, dtype=dtype),
            torch.tensor(self.y_test, dtype=y_dtype),
        )

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description: sizes, task, and the scalar entries of `meta`."""
        out: dict[str, Any] = {
            "name": self.name,
            "task": self.task,
            "n_classes": self.n_classes,
            "input_shape": list(self.input_shape),
            "n_train": self.n_train,
            "n_test": self.n_test,
        }
        for key, value in self.meta.items():
            if isinstance(value, (bool, int, float, str)) or value is None:
                out[key] = value
            elif isinstance(value, np.generic):
                out[key] = value.item()
        return out

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, n_classes={self.n_classes}, "
            f"input_shape={self.input_shape}, n_train={self.n_train}, n_test={self.n_test})"
        )


# ----------------------------------------------------------------------------- argument checks


def check_seed(seed: Any) -> int:
    """Return `seed` as an int, or raise UserInputError if it is not a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserInputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return `value` as an int >= `minimum`, or raise UserInputError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UserInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_float(
    name: str, value: Any, *, positive: bool = False, minimum: float | None = None
) -> float:
    """Return `value` as a finite float (optionally > 0 or >= `minimum`), else UserInputError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UserInputError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise UserInputError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise UserInputError(f"{name} must be > 0, got {value!r}")
    if minimum is not None and value < minimum:
        raise UserInputError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return `value` if it is a bool, else raise UserInputError."""
    if not isinstance(value, (bool, np.bool_)):
        raise UserInputError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def check_test_fraction(value: Any) -> float:
    """Return the test fraction as a float strictly between 0 and 1."""
    fraction = check_float("test_fraction", value)
    if not 0.0 < fraction < 1.0:
        raise UserInputError(f"test_fraction must be strictly between 0 and 1, got {value!r}")
    return fraction


# ----------------------------------------------------------------------------- randomness, splits


def rngs(seed: int, n: int) -> list[np.random.Generator]:
    """Return `n` independent local generators derived from `seed` (global RNG untouched)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def split_indices(
    n: int, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Randomly split ``range(n)`` into train and test index arrays (in random order).

    Args:
        n: Number of samples (at least 2).
        test_fraction: Fraction of samples for the test split, in (0, 1).
        rng: Local generator that fixes the permutation.

    Returns:
        ``(train_idx, test_idx)``, both int64 and non-empty.
    """
    if n < 2:
        raise UserInputError(f"need at least 2 samples to make a train/test split, got {n}")
    n_test = min(max(1, int(round(n * test_fraction))), n - 1)
    perm = rng.permutation(n)
    return perm[n_test:].astype(np.int64), perm[:n_test].astype(np.int64)
