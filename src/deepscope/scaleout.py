"""Scale-out on Ray: chunks of a landscape grid and whole experiment runs as Ray tasks.

Ray (the ``dist`` extra, ``ray==2.60.0``) is the engine; this module only maps deepscope's
independent pieces of work onto it:

- a grid: the same chunks of points as a local run that records its grid chunk by chunk
  (:func:`deepscope.landscape._grid.chunk_plan`), each scored by
  :meth:`LandscapeEvaluator.evaluate_points` in a task. The evaluator is put in Ray's object
  store once and unpickled once per worker process. Results come back in completion order
  (``ray.wait``) and go to the same ``on_chunk`` callback (the grid store's done-mask) as a
  local run, so an interrupted Ray grid resumes locally and vice versa.
- a reproduction: one task per experiment. The worker runs it into a temporary directory and
  returns the files; the driver writes them into ``OUT/<id>/`` through a hidden partial
  directory and a rename, as a local run does, so the workers need no shared filesystem.

Load balancing is dynamic: at most ``2 * workers`` tasks are in flight and a new one is
submitted whenever one finishes. A task whose worker process dies (killed, out of memory) is
run again by Ray (``max_retries``); an exception raised by the code itself is not retried and
stops the run with that exception. Every task runs with one torch thread (``threads``), so that
``workers`` tasks share ``workers`` cores without oversubscription; chunk boundaries and dtypes
are those of the local run, so a grid scored by Ray equals the local one bit for bit (tested on
the chain, fused and per-point paths, which give the same bits at one or two threads).

Without an ``address`` a private local Ray instance starts on 127.0.0.1 (``workers`` CPUs, a
small object store, no dashboard, no usage statistics or auth token, its own temporary
directory) and is shut down and removed afterwards. With ``address="auto"`` or
``"HOST:PORT"`` the driver joins a running cluster (whose nodes must have deepscope installed)
and only disconnects at the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import store
from .errors import UserInputError

BACKENDS = ("local", "ray")
#: object store of a local instance (bytes): chunks of coefficients, one evaluator, run files
OBJECT_STORE_BYTES = 100 << 20
#: reruns of a task whose worker died
MAX_RETRIES = 3
_LOCAL_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
              # a single-node instance: advertise the loopback address, not the host's
              "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
_MISSING = ("--backend ray needs Ray 2.60, the 'dist' extra: pip install 'deepscope[dist]' "
            "(or pip install 'ray==2.60.0')")

#: the concurrency of the session opened by :func:`session` (None outside one)
_session_workers: int | None = None


def require_ray() -> Any:
    """The ``ray`` module, or a UserInputError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise UserInputError(_MISSING) from None
    return ray


def check_backend(backend: str, address: str | None = None, workers: int | None = None) -> None:
    """Validate backend options (and that Ray is importable for ``"ray"``)."""
    if backend not in BACKENDS:
        raise UserInputError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "local":
        if address is not None or workers is not None:
            raise UserInputError("--address and --workers need --backend ray")
        return
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise UserInputError(f"--workers must be an integer >= 1, got {workers!r}")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise UserInputError("--address must be 'auto' or HOST:PORT")
    require_ray()


# ----------------------------------------------------------------------------- the session
@contextlib.contextmanager
def session(address: str | None = None, workers: int | None = None,
            object_store_bytes: int = OBJECT_STORE_BYTES) -> Iterator[int]:
    """Connect to Ray for the block; yields the number of tasks to run at once.

    Inside an open session (or when the caller has already called ``ray.init``) the connection
    is reused and left open. Otherwise a local instance is started (``address`` None) or a
    cluster joined, and shut down or left at the end.
    """
    global _session_workers
    ray = require_ray()
    if ray.is_initialized():
        n = workers or _session_workers or _cluster_cpus(ray)
        yield n
        return
    saved = {k: os.environ.get(k) for k in _LOCAL_ENV}
    temp_dir = loopback = None
    try:
        if address is None:
            os.environ.update(_LOCAL_ENV)  # read by the processes the instance starts
            constants = ray._private.ray_constants  # and, for this driver, read at import:
            loopback = getattr(constants, "ENABLE_RAY_CLUSTER", None)  # (pinned ray 2.60)
            constants.ENABLE_RAY_CLUSTER = False
            temp_dir = tempfile.mkdtemp(prefix="dsray-", dir="/tmp" if os.path.isdir("/tmp")
                                        else None)  # short: Ray's socket paths are limited
            n = int(workers or os.cpu_count() or 1)
            ray.init(address="local", num_cpus=n, object_store_memory=int(object_store_bytes),
                     include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=temp_dir,
                     log_to_driver=False, logging_level=logging.WARNING,
                     configure_logging=False)
        else:
            try:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                         configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserInputError(f"cannot join the Ray cluster at {address!r}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else exc}") from None
            n = int(workers or _cluster_cpus(ray))
        _session_workers = n
        yield n
    finally:
        _session_workers = None
        if ray.is_initialized():
            ray.shutdown()
        if loopback is not None:
            ray._private.ray_constants.ENABLE_RAY_CLUSTER = loopback
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


@contextlib.contextmanager
def maybe_session(backend: str, address: str | None = None,
                  workers: int | None = None) -> Iterator[None]:
    """:func:`session` for ``backend="ray"``, nothing for ``"local"``."""
    check_backend(backend, address, workers)
    if backend == "local":
        yield
        return
    with session(address, workers):
        yield


def _cluster_cpus(ray: Any) -> int:
    return max(int(ray.cluster_resources().get("CPU", 1)), 1)


# ----------------------------------------------------------------------------- streaming
def _stream(submit: Sequence[Callable[[], Any]], limit: int,
            handle: Callable[[int, Any], None]) -> None:
    """Submit tasks (``submit[i]()`` returns an ObjectRef) with at most ``limit`` in flight and
    pass each result to ``handle(i, value)`` as it finishes. The first failure cancels the
    tasks not finished and is raised (a task's own exception unwrapped)."""
    ray = require_ray()
    pending: dict[Any, int] = {}
    queue = list(range(len(submit)))[::-1]
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                i = queue.pop()
                pending[submit[i]()] = i
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready[0])
            try:
                value = ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, BaseException):
                    raise cause from None
                raise
            handle(i, value)
    finally:
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref)


# ----------------------------------------------------------------------------- grids
_evaluators: dict[str, Any] = {}


def _score_chunk(holder: list, coeffs: np.ndarray, threads: int) -> dict[str, np.ndarray]:
    """Task body: the evaluator in ``holder[0]`` (cached per worker) at ``coeffs``."""
    import ray
    import torch

    torch.set_num_threads(threads)
    ref = holder[0]
    key = ref.hex()
    evaluator = _evaluators.get(key)
    if evaluator is None:
        evaluator = ray.get(ref)
        _evaluators.clear()  # one grid at a time per worker: keep only the latest evaluator
        _evaluators[key] = evaluator
    return evaluator.evaluate_points(coeffs)


def score_chunks(evaluator: Any, coeffs: np.ndarray, chunks: Sequence[np.ndarray],
                 record: Callable[[np.ndarray, dict[str, np.ndarray]], None], *,
                 address: str | None = None, workers: int | None = None, threads: int = 1,
                 max_retries: int = MAX_RETRIES) -> None:
    """Score ``coeffs[idx]`` for every ``idx`` in ``chunks`` as Ray tasks and call
    ``record(idx, values)`` in the driver as each finishes (in completion order)."""
    if not chunks:
        return
    with session(address, workers) as n:
        ray = require_ray()
        task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(
            _score_chunk)
        holder = [ray.put(evaluator)]
        parts = [np.ascontiguousarray(coeffs[idx]) for idx in chunks]

        def submitter(i: int) -> Callable[[], Any]:
            return lambda: task.remote(holder, parts[i], threads)

        _stream([submitter(i) for i in range(len(chunks))], 2 * n,
                lambda i, values: record(chunks[i], values))


# ----------------------------------------------------------------------------- reproduce
def _run_experiment_task(spec_id: str, config: Any, seed: int, preset: str,
                         argv: list[str] | None, threads: int) -> dict[str, bytes]:
    """Task body: run one experiment into a temporary directory and return its files."""
    import torch

    from .registry import get
    from .runner import run_experiment

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="deepscope-run-") as tmp:
        run_dir = Path(tmp) / spec_id
        run_experiment(get(spec_id), config, seed=seed, out=run_dir, preset=preset, argv=argv)
        return {p.relative_to(run_dir).as_posix(): p.read_bytes()
                for p in sorted(run_dir.rglob("*")) if p.is_file()}


def write_run_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """Write a run's files into the new directory ``run_dir`` (hidden partial, then rename)."""
    run_dir = store.ensure_new_directory(Path(run_dir))
    partial = store.partial_directory(run_dir)
    try:
        for name, data in files.items():
            path = partial / name
            if ".." in Path(name).parts or Path(name).is_absolute():
                raise ValueError(f"unexpected file name {name!r} in a run")
            path.parent.mkdir(parents=True, exist_ok=True)
            store.atomic_write_bytes(path, data)
        store.commit_directory(partial, run_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def run_experiments(jobs: Sequence[tuple[str, Any, Path]], *, seed: int | Sequence[int],
                    preset: str,
                    argv: list[str] | None, done: Callable[[int], None],
                    address: str | None = None, workers: int | None = None, threads: int = 1,
                    max_retries: int = MAX_RETRIES) -> None:
    """Run ``(experiment id, config, run directory)`` jobs as Ray tasks; each finished run is
    written to its directory and ``done(job index)`` called. ``seed``: one seed for every job, or
    one per job (a sweep over seeds submits all its runs at once)."""
    if not jobs:
        return
    seeds = [seed] * len(jobs) if isinstance(seed, int) else [int(s) for s in seed]
    if len(seeds) != len(jobs):
        raise ValueError(f"{len(seeds)} seeds for {len(jobs)} jobs")
    with session(address, workers) as n:
        ray = require_ray()
        task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(
            _run_experiment_task)

        def submitter(i: int) -> Callable[[], Any]:
            spec_id, config, _ = jobs[i]
            return lambda: task.remote(spec_id, config, seeds[i], preset, argv, threads)

        def handle(i: int, files: dict[str, bytes]) -> None:
            write_run_files(jobs[i][2], files)
            done(i)

        _stream([submitter(i) for i in range(len(jobs))], 2 * n, handle)
