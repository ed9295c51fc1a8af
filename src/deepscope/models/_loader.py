"""User models (``package.module:factory``, ``path/to/file.py:factory``) and checkpoints.

Spec forms accepted by `resolve_model`:

- ``ZOO_SPEC`` (e.g. ``mlp:64-32-10``): built by `build`.
- ``package.module:factory`` or ``path/to/file.py:factory``: ``factory(**kwargs)`` must
  return a ``torch.nn.Module``. `factory` may be a dotted attribute path.
- ``MODEL_SPEC@path/to/weights.pt``: the model above, with a state dict loaded from the
  checkpoint using ``torch.load(..., map_location="cpu", weights_only=True)`` (strict).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import itertools
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from deepscope.errors import UserInputError

from ._build import build, check_seed, normalize_name

#: Keyword arguments that callers pass generically; a factory that does not accept one of
#: these simply does not receive it.
CONTEXT_KWARGS = ("input_shape", "n_classes", "seed")

_MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_counter = itertools.count()


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """Return ``"Type: message"`` on one line, without ANSI codes, cut to `limit` chars."""
    text = " ".join(_ANSI_RE.sub("", str(exc)).split())
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _split_target(spec: str) -> tuple[str, str]:
    target, sep, attr = spec.strip().rpartition(":")
    target, attr = target.strip(), attr.strip()
    if not sep or not target or not attr:
        raise UserInputError(
            f"malformed model spec {spec!r}: expected 'package.module:factory' or "
            "'path/to/file.py:factory'"
        )
    if not _MODULE_RE.fullmatch(attr):
        raise UserInputError(f"malformed factory name {attr!r} in model spec {spec!r}")
    return target, attr


def _import_file(path_text: str) -> ModuleType:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise UserInputError(f"model file not found: {path}")
    digest = hashlib.sha1(str(path.resolve()).encode("utf-8")).hexdigest()[:12]
    name = f"deepscope_user_model_{digest}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - .py files always load
        raise UserInputError(f"cannot import model file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise UserInputError(f"importing model file {path} failed: {_one_line(exc)}") from None
    return module


def _import_module(name: str) -> ModuleType:
    if not _MODULE_RE.fullmatch(name):
        raise UserInputError(f"malformed module name {name!r} in model spec")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise UserInputError(f"model module not found: {name!r}") from None
        raise UserInputError(f"importing model module {name!r} failed: {_one_line(exc)}") from None
    except Exception as exc:
        raise UserInputError(f"importing model module {name!r} failed: {_one_line(exc)}") from None


def _accepted_kwargs(factory: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Drop the generic context kwargs that `factory` does not accept."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params or k not in CONTEXT_KWARGS}


def load_model(spec: str, **kwargs: Any) -> nn.Module:
    """Load a user model from ``package.module:factory`` or ``path/to/file.py:factory``.

    The factory is called as ``factory(**kwargs)``. The generic keyword arguments
    ``input_shape``, ``n_classes`` and ``seed`` are passed only if the factory accepts them;
    any other keyword must be accepted. The import and the factory run under
    ``torch.random.fork_rng`` (the factory seeded with ``seed`` when given), so the
    initialisation is deterministic and torch's global RNG is unchanged afterwards. If the
    attribute is already an ``nn.Module`` instance (and no kwargs are given beyond the
    generic ones) it is returned as is.

    Args:
        spec: ``TARGET:FACTORY`` where TARGET is a dotted module or a ``.py`` file path.
        **kwargs: Keyword arguments for the factory.

    Returns:
        The module returned by the factory.

    Raises:
        UserInputError: Module or file not found, import failed, no such attribute, the
            factory raised, or its result is not an ``nn.Module``.
    """
    target, attr = _split_target(spec)
    with torch.random.fork_rng(devices=[]):  # import-time code may draw random numbers
        if target.endswith(".py") or "/" in target or "\\" in target:
            module = _import_file(target)
        else:
            module = _import_module(target)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserInputError(f"{target!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    seed = kwargs.get("seed")
    if seed is not None:
        check_seed(seed)
    if isinstance(obj, nn.Module):
        extra = [k for k in kwargs if k not in CONTEXT_KWARGS]
        if extra:
            raise UserInputError(
                f"{target}:{attr} is a module instance and takes no arguments (got {extra})"
            )
        return obj
    if not callable(obj):
        raise UserInputError(f"{target}:{attr} is not callable (it is a {type(obj).__name__})")
    call_kwargs = _accepted_kwargs(obj, kwargs)
    try:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)  # only inside the fork: restored on exit
            result = obj(**call_kwargs)
    except Exception as exc:
        raise UserInputError(f"model factory {target}:{attr} raised {_one_line(exc)}") from None
    if not isinstance(result, nn.Module):
        raise UserInputError(
            f"model factory {target}:{attr} returned {type(result).__name__}, not a torch.nn.Module"
        )
    return result


def _state_dict_from(obj: Any, path: Path) -> Mapping[str, torch.Tensor]:
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise UserInputError(f"checkpoint {path} does not hold a state dict of tensors")
    return obj


def load_checkpoint(model: nn.Module, path: str | Path, context: str = "model") -> nn.Module:
    """Load a state dict from `path` into `model` (strict; ``weights_only=True``).

    The checkpoint may be a state dict or a dict with a ``"state_dict"`` entry.

    Raises:
        UserInputError: File missing or unreadable, not a state dict, or keys/shapes that do
            not match the model.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserInputError(f"checkpoint file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # junk files fail in many ways (UnpicklingError, KeyError, ...)
        raise UserInputError(
            f"cannot read checkpoint {path} with weights_only=True "
            f"(expected a state dict saved by torch.save): {_one_line(exc)}"
        ) from None
    state = _state_dict_from(obj, path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append(
            "unexpected " + ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else "")
        )
    if shapes:
        problems.append("shape mismatch " + "; ".join(shapes[:3]))
    if problems:
        raise UserInputError(f"checkpoint {path} does not match {context}: " + "; ".join(problems))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # pragma: no cover - caught by the checks above
        raise UserInputError(
            f"checkpoint {path} does not match {context}: {_one_line(exc)}"
        ) from None
    return model


def resolve_model(spec: str, **kwargs: Any) -> nn.Module:
    """Turn any model SPEC into a module.

    Dispatch: a spec with ``@`` is ``MODEL_SPEC@checkpoint``; a known zoo name (before the
    first ``:``) goes to `build` (which takes ``input_shape``, ``n_classes``, ``seed``);
    anything else of the form ``TARGET:FACTORY`` goes to `load_model`.

    Args:
        spec: The model spec.
        **kwargs: ``input_shape``, ``n_classes``, ``seed`` for zoo models; factory keyword
            arguments for user models.

    Returns:
        The model.

    Raises:
        UserInputError: If the spec is malformed or cannot be resolved.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise UserInputError(f"model spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if "@" in spec:
        model_spec, _, path = spec.partition("@")
        if not model_spec.strip() or not path.strip():
            raise UserInputError(f"malformed model spec {spec!r}: expected MODEL_SPEC@weights.pt")
        model = resolve_model(model_spec, **kwargs)
        return load_checkpoint(model, path.strip(), context=f"model {model_spec.strip()!r}")
    head = spec.partition(":")[0]
    if normalize_name(head) is not None:
        unknown = [k for k in kwargs if k not in CONTEXT_KWARGS]
        if unknown:
            raise UserInputError(
                f"zoo model {head!r} takes only input_shape, n_classes, seed (got {unknown})"
            )
        return build(spec, **kwargs)
    if ":" in spec:
        return load_model(spec, **kwargs)
    return build(spec)  # raises the "unknown model" error that lists the zoo
