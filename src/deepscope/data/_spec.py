"""Data SPEC strings: ``NAME[:key=value,...]`` for embedded data sets, or ``PATH.npz``.

Grammar::

    spec    := name [":" options] | path ".npz" [":" options]
    name    := digits | digits-image | mnist1d | teacher-student | gaussian-mixture
               (case-insensitive; "_" may replace "-")
    options := key "=" value ("," key "=" value)*
    value   := true|false|yes|no|on|off -> bool, none -> None, integer -> int,
               number -> float, anything else -> str
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from deepscope.errors import UserInputError

from . import _datasets, _npz
from ._dataset import Dataset

#: Embedded data sets: spec name -> (loader, keyword arguments fixed by the name).
_EMBEDDED: dict[str, tuple[Callable[..., Dataset], dict[str, Any]]] = {
    "digits": (_datasets.digits, {}),
    "digits-image": (_datasets.digits, {"image": True}),
    "mnist1d": (_datasets.mnist1d, {}),
    "teacher-student": (_datasets.teacher_student, {}),
    "gaussian-mixture": (_datasets.gaussian_mixture, {}),
}

_INT_RE = re.compile(r"[+-]?\d+")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def available() -> list[str]:
    """Return the names of the embedded data sets, in a stable order."""
    return list(_EMBEDDED)


def parse_value(text: str) -> Any:
    """Parse one option value: bool, None, int, float, else the stripped string."""
    text = text.strip()
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    if _INT_RE.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def parse_options(text: str, context: str) -> dict[str, Any]:
    """Parse ``key=value,key=value`` into a dict; keys may use ``-`` for ``_``.

    Args:
        text: The option list (the part of a spec after the first ``:``).
        context: What the options belong to, for error messages (e.g. ``"data set 'digits'"``).

    Returns:
        The options, keys normalised to snake_case, values parsed with `parse_value`.
    """
    options: dict[str, Any] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise UserInputError(f"empty option in {context}: expected key=value,key=value")
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.fullmatch(key):
            raise UserInputError(f"malformed option {item!r} for {context}: expected key=value")
        key = key.replace("-", "_")
        if key in options:
            raise UserInputError(f"option {key!r} given twice for {context}")
        options[key] = parse_value(value)
    return options


def _valid_options(loader: Callable[..., Dataset], fixed: dict[str, Any]) -> list[str]:
    params = inspect.signature(loader).parameters
    return [name for name in params if name != "seed" and name not in fixed]


def _unknown_name_message(name: str) -> str:
    return (
        f"unknown data set {name!r}; choose one of: {', '.join(available())} "
        "or a path to an .npz file"
    )


def _call(
    loader: Callable[..., Dataset],
    fixed: dict[str, Any],
    options: dict[str, Any],
    seed: int,
    context: str,
) -> Dataset:
    valid = _valid_options(loader, fixed)
    if "seed" in options:
        raise UserInputError(
            f"do not put seed in the spec of {context}; it comes from the seed argument"
        )
    for key in options:
        if key not in valid:
            raise UserInputError(
                f"unknown option {key!r} for {context}; valid options: {', '.join(valid)}"
            )
    return loader(**fixed, **options, seed=seed)


def load(spec: str, seed: int = 0) -> Dataset:
    """Load a data set from a SPEC string.

    Examples: ``"digits"``, ``"digits-image"``, ``"mnist1d:n_samples=2000"``,
    ``"gaussian-mixture:n_classes=3,dim=5"``, ``"teacher_student:noise=0.1"``,
    ``"path/to/data.npz"``, ``"path/to/data.npz:test_fraction=0.3"``.

    Args:
        spec: ``NAME[:key=value,...]`` naming an embedded data set (see `available`), or a
            path ending in ``.npz`` (optionally followed by ``:test_fraction=...``).
        seed: Seed of the generation and of the train/test split.

    Returns:
        The `Dataset`.

    Raises:
        UserInputError: Unknown name, malformed or unknown option, or a bad option value.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise UserInputError(f"data spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if spec.lower().endswith(".npz"):
        return _npz.from_npz(spec, seed=seed)
    head, sep, tail = spec.rpartition(":")
    if sep and head.lower().endswith(".npz"):
        options = parse_options(tail, f"data file {head!r}")
        return _call(_npz.from_npz, {"path": head}, options, seed, f"data file {head!r}")
    name, sep, rest = spec.partition(":")
    key = name.strip().lower().replace("_", "-")
    if key not in _EMBEDDED:
        raise UserInputError(_unknown_name_message(name.strip()))
    loader, fixed = _EMBEDDED[key]
    context = f"data set {key!r}"
    options = parse_options(rest, context) if sep else {}
    return _call(loader, fixed, options, seed, context)
