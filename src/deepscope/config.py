"""Experiment configurations: frozen dataclasses with quick and full presets.

Every experiment's configuration is a frozen dataclass that subclasses :class:`ExperimentConfig`.
Fields hold only JSON-friendly values (``int``, ``float``, ``bool``, ``str`` and tuples of them),
so a configuration survives a JSON round trip exactly. Two presets are part of each experiment:
``Config.quick()`` (seconds to a minute on 2 cores, run in CI) and ``Config.full()`` (closer to the
paper).

Overrides from the command line (``--set key=value``) are parsed here, checked against the field
types, and rejected with a one-line :class:`~deepscope.errors.UserInputError` when the key is
unknown or the value has the wrong type.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

from .errors import UserInputError

C = TypeVar("C", bound="ExperimentConfig")

PRESETS = ("quick", "full")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Base class of experiment configurations.

    Subclasses are frozen dataclasses whose defaults form the *full* preset; ``QUICK`` holds the
    fields that the quick preset changes.
    """

    QUICK: ClassVar[dict[str, Any]] = {}

    @classmethod
    def full(cls: type[C]) -> C:
        """The preset closest to the paper's setting."""
        return cls()

    @classmethod
    def quick(cls: type[C]) -> C:
        """A preset that runs in seconds to a minute on 2 cores (used in CI)."""
        return dataclasses.replace(cls(), **cls.QUICK)

    @classmethod
    def preset(cls: type[C], name: str) -> C:
        if name not in PRESETS:
            raise UserInputError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
        return cls.quick() if name == "quick" else cls.full()


def config_to_dict(config: ExperimentConfig) -> dict[str, Any]:
    """Plain JSON-ready mapping of a configuration (tuples become lists)."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


def config_digest(config: ExperimentConfig) -> str:
    """A short SHA-256 digest of a configuration's canonical JSON (tells configurations apart)."""
    import hashlib
    import json

    text = json.dumps(config_to_dict(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def config_from_dict(cls: type[C], values: dict[str, Any], *, base: C | None = None) -> C:
    """Build a configuration from a mapping, checking keys and types.

    Args:
        cls: the configuration class.
        values: field name to value (JSON types; strings are accepted for numbers when they parse).
        base: configuration whose values fill the fields not in ``values`` (default: full preset).

    Raises:
        UserInputError: an unknown key or a value of the wrong type.
    """
    base = cls.full() if base is None else base
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    changes: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in names:
            raise UserInputError(
                f"unknown config key {key!r} for {cls.__name__}; valid keys: {', '.join(names)}"
            )
        changes[key] = coerce(raw, hints[key], key)
    config = dataclasses.replace(base, **changes)
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def parse_set_options(items: typing.Iterable[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings from ``--set``; a value is JSON if it parses, else a string."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "a").isalnum():
            raise UserInputError(f"malformed --set {item!r}: expected key=value")
        try:
            parsed[key] = json.loads(text)
        except json.JSONDecodeError:
            parsed[key] = text
    return parsed


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert ``value`` to the annotated field type or raise a one-line error."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, key)
            except UserInputError as exc:
                errors.append(str(exc))
        raise UserInputError(errors[0] if errors else f"bad value for {key!r}")
    if origin is tuple:
        args = get_args(annotation)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise UserInputError(f"config key {key!r} expects a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], key) for v in value)
        if len(args) != len(value):
            raise UserInputError(f"config key {key!r} expects {len(args)} values, got {len(value)}")
        return tuple(coerce(v, a, key) for v, a in zip(value, args))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise UserInputError(f"config key {key!r} expects true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise UserInputError(f"config key {key!r} expects an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise UserInputError(f"config key {key!r} expects an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise UserInputError(f"config key {key!r} expects a number, got {value!r}")
        if isinstance(value, (int, float)):
            out = float(value)
        elif isinstance(value, str):
            try:
                out = float(value.strip())
            except ValueError:
                raise UserInputError(
                    f"config key {key!r} expects a number, got {value!r}"
                ) from None
        else:
            raise UserInputError(f"config key {key!r} expects a number, got {value!r}")
        if not math.isfinite(out):
            raise UserInputError(f"config key {key!r} must be finite, got {value!r}")
        return out
    if annotation is str:
        if isinstance(value, str):
            return value
        raise UserInputError(f"config key {key!r} expects a string, got {value!r}")
    raise TypeError(f"unsupported config field type {annotation!r} for {key!r}")
