"""The run store: one directory per experiment run, written atomically.

Layout of a run directory::

    config.json   the experiment id, preset and configuration
    env.json      deepscope/Python/torch/numpy versions, git commit and dirty flag, device,
                  thread count, seed, command line, citation keys, start and end times
    result.json   measurements, checks, verdict (format_version inside)
    arrays.npz    named arrays (numpy format, loaded with allow_pickle=False)
    figures/      NAME.png and NAME.svg for every figure

Every file is written to a temporary name and renamed into place, so a reader sees a whole file
or none. A whole run directory is first built under a hidden ``.NAME.partial-*`` sibling and
renamed to ``NAME`` once complete, so an interrupted run never leaves a directory that looks done.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import UserInputError

FORMAT_VERSION = 1
RESULT_FILE = "result.json"
SUMMARY_FILE = "results.json"


# ----------------------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buffer.getvalue())


def save_figure(fig: Any, directory: Path, name: str) -> None:
    """Store a matplotlib figure as PNG and SVG (no timestamps), atomically, then release it."""
    for fmt in ("png", "svg"):
        buffer = io.BytesIO()
        metadata = {"Software": None} if fmt == "png" else {"Date": None}
        fig.savefig(buffer, format=fmt, dpi=110, bbox_inches="tight", metadata=metadata)
        atomic_write_bytes(Path(directory) / f"{name}.{fmt}", buffer.getvalue())
    fig.clear()


# ----------------------------------------------------------------------------- provenance
def git_info() -> dict[str, Any]:
    """Commit and dirty flag of the deepscope source tree, when it is a git checkout."""
    root = Path(__file__).resolve().parents[2]
    info: dict[str, Any] = {"commit": None, "dirty": None}
    if not (root / ".git").exists():
        return info
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )
        if commit.returncode == 0:
            info["commit"] = commit.stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=False,
        )
        if status.returncode == 0:
            info["dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def cpu_model() -> str:
    """The processor's model name and widest vector extension (``AMD EPYC, AVX2``).

    Read from ``/proc/cpuinfo`` on Linux, else ``platform.processor()``.
    """
    name, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key == "model name" and not name:
                    name = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = set(value.split())
                if name and flags:
                    break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown"
    for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("asimd", "NEON")):
        if flag in flags:
            return f"{name}, {label}"
    return name


def environment(seed: int, citations: tuple[str, ...] = (), argv: list[str] | None = None) -> dict:
    """The env.json record: versions, commit, device, threads, seed, command line, citations."""
    import scipy
    import torch

    from .citations import reference

    return {
        "format_version": FORMAT_VERSION,
        "deepscope_version": __version__,
        "git": git_info(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "device": "cpu",
        "cpu": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "seed": seed,
        "command_line": list(sys.argv if argv is None else argv),
        "citations": {key: reference(key) for key in citations},
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# ----------------------------------------------------------------------------- directories
def ensure_new_directory(path: Path) -> Path:
    """Check that ``path`` can be created as a new run directory; never reuse an existing one."""
    path = Path(path)
    if path.exists():
        raise UserInputError(
            f"output directory {str(path)!r} already exists; choose another --out"
            " (or --resume for reproduce)"
        )
    parent = path.parent if str(path.parent) else Path(".")
    check_writable(parent)
    return path


def check_writable(directory: Path) -> None:
    """Create ``directory`` if needed and check that files can be written in it."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(
            f"cannot create directory {str(directory)!r}: {exc.strerror}"
        ) from None
    if not directory.is_dir():
        raise UserInputError(f"{str(directory)!r} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".deepscope-write-check.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserInputError(f"cannot write in {str(directory)!r}: {exc.strerror}") from None


def partial_directory(final: Path) -> Path:
    """A fresh hidden sibling of ``final`` to build a run in before renaming it into place."""
    final = Path(final)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))


def commit_directory(partial: Path, final: Path) -> None:
    """Rename a completed partial run directory to its final name (atomic on one filesystem)."""
    if Path(final).exists():
        raise UserInputError(f"refusing to overwrite existing run directory {str(final)!r}")
    os.replace(partial, final)


def remove_partials(directory: Path) -> list[str]:
    """Delete leftovers of interrupted runs (``.NAME.partial-*``) inside ``directory``."""
    removed = []
    for entry in Path(directory).glob(".*.partial-*"):
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def write_run(
    out: Path,
    config_record: dict[str, Any],
    env: dict[str, Any],
    produce: Callable[[], tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]],
) -> dict[str, Any]:
    """Build a run directory at the new path ``out``, atomically.

    Writes ``config.json`` and ``env.json`` first, then calls ``produce()`` for
    ``(record, arrays, figures)``, stores figures (PNG and SVG), ``arrays.npz`` and
    ``result.json`` (the record with its figure and array names), adds the finish time and run
    time to ``env.json``, and renames the hidden partial directory to ``out``. On any failure or
    interruption the partial directory is removed (or, after a kill, left hidden for ``--resume``
    to clean) and nothing at ``out`` is touched.
    """
    out = ensure_new_directory(Path(out))
    partial = partial_directory(out)
    try:
        atomic_write_json(partial / "config.json", config_record)
        atomic_write_json(partial / "env.json", env)
        start = time.perf_counter()
        record, arrays, figures = produce()
        elapsed = time.perf_counter() - start
        if figures:
            (partial / "figures").mkdir()
            for name, fig in figures.items():
                save_figure(fig, partial / "figures", name)
        if arrays:
            atomic_save_npz(partial / "arrays.npz", arrays)
        record = {**record, "figures": sorted(figures), "arrays": sorted(arrays)}
        atomic_write_json(partial / RESULT_FILE, record)
        env = {**env, "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "elapsed_s": round(elapsed, 3)}
        atomic_write_json(partial / "env.json", env)
        commit_directory(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return record


# ----------------------------------------------------------------------------- reading back
def read_json(path: Path, what: str) -> Any:
    """Load a JSON file, turning every kind of damage into a one-line UserInputError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"missing {what}: {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"cannot read {what} {str(path)!r}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(
            f"corrupt {what} {str(path)!r}: {exc.msg} at line {exc.lineno}"
        ) from None


def load_run(directory: Path) -> dict[str, Any]:
    """Read a stored run (config, env, result, figure paths) and validate its structure."""
    directory = Path(directory)
    result = read_json(directory / RESULT_FILE, "result file")
    config = read_json(directory / "config.json", "config file")
    env = read_json(directory / "env.json", "environment file")
    where = str(directory / RESULT_FILE)
    if not isinstance(result, dict):
        raise UserInputError(f"corrupt result file {where!r}: not a JSON object")
    version = result.get("format_version")
    if version != FORMAT_VERSION:
        raise UserInputError(
            f"result file {where!r} has format_version {version!r}; this deepscope reads "
            f"{FORMAT_VERSION}"
        )
    for key, kind in (("id", str), ("verdict", str), ("checks", list), ("measurements", dict)):
        if not isinstance(result.get(key), kind):
            raise UserInputError(f"corrupt result file {where!r}: field {key!r} missing or invalid")
    for check in result["checks"]:
        if not isinstance(check, dict) or not {"name", "measured", "expected", "outcome"} <= set(
            check
        ):
            raise UserInputError(f"corrupt result file {where!r}: a check is malformed")
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise UserInputError(f"corrupt config file {str(directory / 'config.json')!r}")
    if not isinstance(env, dict):
        raise UserInputError(f"corrupt environment file {str(directory / 'env.json')!r}")
    figures = []
    for name in result.get("figures", []):
        png = directory / "figures" / f"{name}.png"
        if not png.is_file():
            raise UserInputError(
                f"run {str(directory)!r} lists figure {name!r} but {png} is missing"
            )
        figures.append(png)
    return {"dir": directory, "result": result, "config": config, "env": env, "figures": figures}


def load_arrays(directory: Path) -> dict[str, np.ndarray]:
    path = Path(directory) / "arrays.npz"
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
