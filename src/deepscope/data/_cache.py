"""A small on-disk cache of generated arrays, stored as ``.npz`` (never pickle)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

CACHE_ENV = "DEEPSCOPE_CACHE"


def cache_dir() -> Path:
    """Return the cache directory: ``$DEEPSCOPE_CACHE`` if set, else ``~/.cache/deepscope``.

    The directory is not created here; writers create it on demand.
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "deepscope"


def cache_key(params: dict[str, Any]) -> str:
    """Return a short stable hash of JSON-serialisable generation parameters."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def cache_path(prefix: str, params: dict[str, Any]) -> Path:
    """Return the cache file path for a data set generated with `params`."""
    return cache_dir() / f"{prefix}-{cache_key(params)}.npz"


def read_arrays(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Read the arrays `names` from a cached ``.npz``; ``None`` if absent, unreadable or partial."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not all(name in archive.files for name in names):
                return None
            return {name: np.array(archive[name]) for name in names}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Write `arrays` to `path` atomically (temp file + ``os.replace``).

    Returns:
        ``True`` if the file was written, ``False`` if the cache could not be written
        (read-only or missing permissions): caching is best effort.
    """
    tmp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp_name, path)
        tmp_name = None
        return True
    except OSError:
        return False
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
