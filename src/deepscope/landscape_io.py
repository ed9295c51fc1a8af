"""Files for loss landscapes: a resumable grid store, provenance, and exports.

:class:`GridStore` keeps a grid being computed in a directory::

    landscape.json   format version, provenance key (model hash, direction spec, grid, span, data
                     subset, BatchNorm policy, dtype, loss) and versions
    grid.npz         one flat float64 array per metric and the boolean ``done`` mask

``grid.npz`` is rewritten atomically after every chunk, so a kill loses at most one chunk; a
resumed grid scores only the points not done and equals an uninterrupted one. A store whose files
are damaged, or whose provenance key differs from the request, is refused with one line and left
as it is.

Exports: ``.npz`` (coordinates, values, direction spec), CSV (one row per point) and ParaView's
legacy ASCII VTK (``STRUCTURED_POINTS`` with one scalar field per metric, or a
``STRUCTURED_GRID`` surface whose height is the loss), and an offline plotly HTML page.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import store
from .errors import UserInputError

STORE_VERSION = 1
META_FILE = "landscape.json"
GRID_FILE = "grid.npz"


def model_hash(model: Any) -> str:
    """SHA-256 of a model's state: names, shapes, dtypes and bytes of parameters and buffers."""
    import torch

    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def versions() -> dict[str, str]:
    import scipy
    import torch

    from . import __version__

    return {"deepscope": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__}


def _canonical(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, allow_nan=False))


class GridStore:
    """A grid under computation, with an explicit done-mask, written as it goes."""

    def __init__(self, directory: Path, key: dict[str, Any], shape: tuple[int, ...],
                 values: dict[str, np.ndarray], done: np.ndarray):
        self.directory = Path(directory)
        self.key = key
        self.shape = tuple(shape)
        self.values = values
        self.done = done

    @property
    def names(self) -> list[str]:
        return list(self.values)

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    @classmethod
    def create(cls, directory: Path, key: dict[str, Any], shape: tuple[int, ...],
               names: list[str]) -> GridStore:
        """Start a store in ``directory`` (created; must not hold a store already)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / META_FILE).exists():
            raise UserInputError(f"{str(directory)!r} already holds a landscape store")
        n = int(np.prod(shape))
        self = cls(directory, _canonical(key), shape, {k: np.full(n, np.nan) for k in names},
                   np.zeros(n, dtype=bool))
        store.atomic_write_json(directory / META_FILE, {
            "format_version": STORE_VERSION, "key": self.key, "shape": list(shape),
            "metrics": names, "versions": versions()})
        self._write()
        return self

    @classmethod
    def open(cls, directory: Path, key: dict[str, Any] | None = None) -> GridStore:
        """Read a store back; refuse damage or a provenance key other than ``key``."""
        directory = Path(directory)
        meta = store.read_json(directory / META_FILE, "landscape store")
        where = str(directory / META_FILE)
        if not isinstance(meta, dict) or meta.get("format_version") != STORE_VERSION:
            raise UserInputError(f"corrupt or foreign landscape store {where!r}")
        try:
            shape = tuple(int(s) for s in meta["shape"])
            names = [str(m) for m in meta["metrics"]]
            stored_key = meta["key"]
        except (KeyError, TypeError, ValueError):
            raise UserInputError(f"corrupt landscape store {where!r}: fields missing") from None
        if key is not None and _canonical(key) != stored_key:
            diff = sorted(k for k in set(stored_key) | set(_canonical(key))
                          if stored_key.get(k) != _canonical(key).get(k))
            raise UserInputError(f"the stored grid in {str(directory)!r} was made with other "
                                 f"settings ({', '.join(diff)}); cannot resume")
        n = int(np.prod(shape))
        grid_path = directory / GRID_FILE
        try:
            raw = grid_path.read_bytes()
        except FileNotFoundError:
            raise UserInputError(f"missing grid file {str(grid_path)!r}") from None
        except OSError as exc:
            raise UserInputError(f"cannot read grid file {str(grid_path)!r}: {exc}") from None
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as data:
                arrays = {k: np.asarray(data[k]) for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise UserInputError(f"corrupt grid file {str(grid_path)!r}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                 ) from None
        done = arrays.get("done")
        if done is None or done.dtype != bool or done.shape != (n,):
            raise UserInputError(f"corrupt grid file {str(grid_path)!r}: bad done mask")
        values = {}
        for name in names:
            v = arrays.get(name)
            if v is None or v.shape != (n,) or v.dtype != np.float64:
                raise UserInputError(f"corrupt grid file {str(grid_path)!r}: bad {name!r}")
            if np.isnan(v[done]).any() and not name.endswith("_stderr"):
                raise UserInputError(f"corrupt grid file {str(grid_path)!r}: {name!r} is NaN at "
                                     "points marked done")
            values[name] = v.copy()
        return cls(directory, stored_key, shape, values, done.copy())

    def update(self, idx: np.ndarray, chunk: dict[str, np.ndarray]) -> None:
        """Record a finished chunk and rewrite ``grid.npz`` atomically."""
        for name in self.values:
            self.values[name][idx] = chunk[name]
        self.done[idx] = True
        self._write()

    def _write(self) -> None:
        store.atomic_save_npz(self.directory / GRID_FILE, {**self.values, "done": self.done})

    def grid_values(self) -> dict[str, np.ndarray]:
        return {k: v.reshape(self.shape) for k, v in self.values.items()}


# ----------------------------------------------------------------------------- exports
def export_npz(path: Path, result: Any, extra: dict[str, Any] | None = None) -> None:
    """Coordinates (``axis0``, ...), values, and the direction spec and info as JSON text."""
    arrays = {f"axis{i}": np.asarray(c) for i, c in enumerate(result.coords)}
    arrays.update({k: np.asarray(v) for k, v in result.values.items()})
    dirs = getattr(result, "directions", None)
    meta = {"directions": getattr(dirs, "spec", None),
            "cosines": None if dirs is None else np.asarray(dirs.cosines).tolist(),
            "base_loss": result.base_loss, "method": getattr(result, "method", None),
            "scorer": getattr(result, "scorer", None), **(extra or {})}
    arrays["meta_json"] = np.array(json.dumps(meta, default=str))
    store.atomic_save_npz(Path(path), arrays)


def export_csv(path: Path, result: Any) -> None:
    """One row per grid point: the coordinates, then every metric."""
    from .landscape import grid_points

    pts = grid_points(result.coords)
    names = list(result.values)
    cols = [f"a{i}" for i in range(pts.shape[1])] + names
    lines = [",".join(cols)]
    flat = [np.asarray(result.values[k]).reshape(-1) for k in names]
    for i, p in enumerate(pts):
        lines.append(",".join([repr(float(x)) for x in p] + [repr(float(v[i])) for v in flat]))
    store.atomic_write_text(Path(path), "\n".join(lines) + "\n")


def _vtk_number(x: float) -> str:
    return repr(float(x)) if np.isfinite(x) else "nan"


def export_vtk(path: Path, result: Any, surface: str | None = None) -> None:
    """Legacy ASCII VTK for ParaView (grids of 1 to 3 axes).

    ``surface=None``: ``STRUCTURED_POINTS`` with one scalar field per metric. ``surface="loss"``
    (2-D grids): a ``STRUCTURED_GRID`` whose points are ``(a, b, loss)``, to view as a surface.
    """
    coords = [np.asarray(c, dtype=np.float64) for c in result.coords]
    if not 1 <= len(coords) <= 3:
        raise UserInputError(f"VTK export takes grids of 1 to 3 axes, not {len(coords)}")
    dims = [len(c) for c in coords] + [1] * (3 - len(coords))
    n = int(np.prod(dims))
    lines = ["# vtk DataFile Version 3.0", "deepscope loss landscape", "ASCII"]
    if surface is None:
        origin = [c[0] for c in coords] + [0.0] * (3 - len(coords))
        spacing = [(c[-1] - c[0]) / (len(c) - 1) for c in coords] + [1.0] * (3 - len(coords))
        lines += ["DATASET STRUCTURED_POINTS", "DIMENSIONS {} {} {}".format(*dims),
                  "ORIGIN " + " ".join(_vtk_number(o) for o in origin),
                  "SPACING " + " ".join(_vtk_number(s) for s in spacing)]
    else:
        if len(coords) != 2:
            raise UserInputError("a VTK surface needs a 2-D grid")
        z = np.asarray(result.values[surface])
        lines += ["DATASET STRUCTURED_GRID", "DIMENSIONS {} {} {}".format(*dims),
                  f"POINTS {n} double"]
        for j in range(dims[1]):
            for i in range(dims[0]):
                lines.append(f"{_vtk_number(coords[0][i])} {_vtk_number(coords[1][j])} "
                             f"{_vtk_number(z[i, j])}")
    lines.append(f"POINT_DATA {n}")
    for name, v in result.values.items():
        safe = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
        lines += [f"SCALARS {safe} double 1", "LOOKUP_TABLE default"]
        flat = np.asarray(v, dtype=np.float64).reshape(dims[:len(coords)]).ravel(order="F")
        lines += [" ".join(_vtk_number(x) for x in flat[i:i + 8]) for i in range(0, n, 8)]
    store.atomic_write_text(Path(path), "\n".join(lines) + "\n")


def read_vtk_scalars(path: Path) -> dict[str, Any]:
    """Read back what :func:`export_vtk` wrote (dimensions, origin, spacing, scalar fields)."""
    tokens = Path(path).read_text(encoding="ascii").split("\n")
    out: dict[str, Any] = {"fields": {}}
    i = 0
    while i < len(tokens):
        parts = tokens[i].split()
        if parts and parts[0] in ("DIMENSIONS", "ORIGIN", "SPACING"):
            out[parts[0].lower()] = [float(p) for p in parts[1:]]
        elif parts and parts[0] == "SCALARS":
            n = int(np.prod(out["dimensions"]))
            vals: list[float] = []
            i += 2
            while len(vals) < n:
                vals += [float(x) for x in tokens[i].split()]
                i += 1
            out["fields"][parts[1]] = np.asarray(vals)
            continue
        i += 1
    return out


def write_html(path: Path, result: Any, metric: str = "loss", title: str = "loss landscape"
               ) -> None:
    """The offline interactive plotly page (needs the ``plot`` extra)."""
    from .landscape import plotly_html

    store.atomic_write_text(Path(path), plotly_html(result, metric, title))
