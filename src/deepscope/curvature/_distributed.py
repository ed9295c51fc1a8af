"""Data-parallel curvature products over ``torch.distributed``.

Every model operator (:class:`~deepscope.curvature._hessian.HessianOperator`,
``GGNOperator``, ``EmpiricalFisherOperator``, ``GaussNewtonResidualOperator``) takes
``distributed=False``. With ``distributed=True`` (the default process group) or
``distributed=group`` (a ``torch.distributed.ProcessGroup``), each process passes ITS shard of
the batches and the operator is the curvature of the loss over the union of the shards:

- at construction the global counts (loss terms ``T``, samples ``N``) are all-reduced once and
  each local batch b weighs ``t_b / T`` (1 for sum reductions); the loss value is all-reduced
  once, and with ``mode="auto"`` the Hessian-vector mode rank 0 picks (from the model's
  structure and its shard's first batch) is used everywhere;
- every product ``A V`` is the local weighted product ``sum_{b in shard} w_b A_b V`` followed by
  ONE ``all_reduce(SUM)`` of the ``(k, P)`` result, so every rank holds the same product;
- the solvers (``eigenvalues``, ``trace``, ``spectral_density``, ``bulk_and_outliers``,
  ``hessian_index``) run unchanged on top, on every rank: their probes come from a generator
  seeded by ``seed``, so all ranks draw the same vectors, and since the reduced products are
  identical, every rank takes the same steps and returns the same result. Each product's
  reduction carries a checksum of the multiplied block from every rank (2 numbers per rank in
  the same single all-reduce): if the blocks differ (a solver drawing unseeded randomness), every
  rank raises instead of returning a wrong product.

A failure on one rank (a bad shard, a non-finite loss, an exception inside a product) is
announced to the others in the same collective: every rank raises, the failing one its own
exception, the others a one-line error naming the failing process (``UserInputError`` when the
original was one). No rank is left waiting on a failure inside construction or a product; an
exception raised on one rank between products (in a solver's own code) leaves the others in
their next all-reduce until the process group's timeout (``init_process_group(timeout=...)``).

Backends: gloo for CPU models, NCCL for CUDA models (call ``torch.cuda.set_device(local_rank)``
before building the operator). Functions that read the data themselves rather than through
products (``ggn_diagonal``, ``find_critical_point``, ``CurvatureTracker``) are not data-parallel.

Example (each of K processes started by ``torchrun --nproc-per-node=K``)::

    import torch.distributed as dist
    dist.init_process_group("gloo")              # "nccl" for GPUs; reads RANK, WORLD_SIZE, ...
    mine = shard_batches(batches)                # batch i goes to rank i % K
    H = HessianOperator(model, "ce", mine, distributed=True)
    top = eigenvalues(H, k=5, seed=0)            # the same result on every rank
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from ..errors import UserInputError

T = TypeVar("T")

#: environment variables that torchrun (``torch.distributed.run``) sets for each worker
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: relative tolerance of the per-product check that all ranks multiply the same block
INPUT_RTOL = 1e-6


class DistributedFailure(RuntimeError):
    """Another process of the group failed with an internal error (not bad input)."""


def torchrun_environment() -> dict[str, str] | None:
    """The torchrun variables of this process, or ``None`` when it was not started by torchrun."""
    if not all(os.environ.get(name) for name in TORCHRUN_VARIABLES):
        return None
    return {name: os.environ[name] for name in TORCHRUN_VARIABLES}


def shard_batches(batches: Sequence[T], rank: int | None = None,
                  world_size: int | None = None) -> list[T]:
    """This process's shard of a list of batches: batch i goes to rank ``i % world_size``.

    Round-robin rather than contiguous blocks, so that an uneven last batch does not unbalance
    the shards. ``rank`` and ``world_size`` default to those of the default process group. Every
    rank needs at least one batch: pass at least ``world_size`` batches.
    """
    import torch.distributed as dist

    if rank is None or world_size is None:
        if not (dist.is_available() and dist.is_initialized()):
            raise UserInputError("shard_batches needs rank and world_size, or an initialised "
                                 "process group")
        rank = dist.get_rank() if rank is None else rank
        world_size = dist.get_world_size() if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise UserInputError(f"rank {rank} is not in 0..{world_size - 1}")
    batches = list(batches)
    if len(batches) < world_size:
        raise UserInputError(f"{len(batches)} batches cannot be shared by {world_size} "
                             "processes: use smaller batches (at least one per process)")
    return batches[rank::world_size]


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


class DataParallel:
    """The collectives a data-parallel operator needs, with failures shared by all ranks.

    Args:
        group: a ``torch.distributed.ProcessGroup`` or ``None`` for the default group.
        device: the device of the model (collectives of NCCL groups run there).
    """

    def __init__(self, group: Any = None, device: torch.device | str = "cpu"):
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise UserInputError(
                "distributed=True needs an initialised process group: call "
                "torch.distributed.init_process_group first (torchrun sets RANK, WORLD_SIZE, "
                "MASTER_ADDR and MASTER_PORT)"
            )
        self.dist = dist
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self.backend = str(dist.get_backend(group))
        device = torch.device(device)
        if self.backend == "nccl" and device.type != "cuda":
            raise UserInputError("an NCCL process group needs the model on a CUDA device; use "
                                 "gloo for CPU models")
        #: where the small collectives (counts, flags) run
        self.device = device if self.backend == "nccl" else torch.device("cpu")

    @classmethod
    def resolve(cls, distributed: Any, model: nn.Module) -> DataParallel | None:
        """``None`` for ``distributed=False``; the group's collectives for True or a group."""
        if distributed is False or distributed is None:
            return None
        if isinstance(distributed, DataParallel):
            return distributed
        if distributed is True:
            return cls(None, _model_device(model))
        import torch.distributed as dist

        if isinstance(distributed, dist.ProcessGroup):
            return cls(distributed, _model_device(model))
        raise UserInputError("distributed must be False, True (the default process group) or "
                             f"a torch.distributed.ProcessGroup, got {type(distributed).__name__}")

    # ---------------------------------------------------------------- failures, shared
    def _raise(self, error: BaseException | None) -> None:
        """Every rank raises: the failing ones their own error, the others the first one's."""
        payload = None if error is None else (isinstance(error, UserInputError),
                                              f"{type(error).__name__}: {error}")
        gathered: list[Any] = [None] * self.world_size
        self.dist.all_gather_object(gathered, payload, group=self.group)
        if error is not None:
            raise error
        rank, (user, text) = next((r, p) for r, p in enumerate(gathered) if p is not None)
        where = f"process {rank} of {self.world_size}"
        if user:
            raise UserInputError(f"{where}: {text.partition(': ')[2]}")
        raise DistributedFailure(f"{where} failed: {text}")

    def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on every rank, then one all-reduce of a failure flag: if it failed anywhere,
        it raises everywhere."""
        try:
            out, error = fn(), None
        except Exception as exc:  # shared below, then re-raised on this rank
            out, error = None, exc
        flag = torch.tensor([0.0 if error is None else 1.0], dtype=torch.float64,
                            device=self.device)
        self.dist.all_reduce(flag, op=self.dist.ReduceOp.SUM, group=self.group)
        if float(flag) != 0.0:
            self._raise(error)
        return out

    # ---------------------------------------------------------------- reductions
    def all_sum(self, values: Sequence[float]) -> list[float]:
        """The sums over ranks of a few numbers (float64, one all-reduce)."""
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.SUM, group=self.group)
        return t.tolist()

    def from_rank0(self, values: Sequence[float]) -> list[float]:
        """Rank 0's numbers on every rank (one broadcast)."""
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        src = self.dist.get_global_rank(self.group, 0) if self.group is not None else 0
        self.dist.broadcast(t, src=src, group=self.group)
        return t.tolist()

    def sum_product(self, local: Callable[[torch.Tensor], torch.Tensor],
                    M: torch.Tensor) -> torch.Tensor:
        """``sum over ranks of local(M)`` for a (P, k) block M: ONE all-reduce of (k, P) numbers,
        plus a failure flag and a checksum of M from every rank (1 + 2K numbers)."""
        P, k = M.shape
        try:
            part, error = local(M), None
        except Exception as exc:  # shared through the flag, re-raised on this rank
            part, error = None, exc
        n = k * P
        buf = torch.zeros(n + 1 + 2 * self.world_size, dtype=M.dtype, device=M.device)
        if part is not None:
            buf[:n] = part.reshape(-1)
        buf[n] = 0.0 if error is None else 1.0
        M64 = M.to(torch.float64)
        slot = n + 1 + 2 * self.rank
        buf[slot] = M64.sum()
        buf[slot + 1] = M64.square().sum()
        self.dist.all_reduce(buf, op=self.dist.ReduceOp.SUM, group=self.group)
        if float(buf[n]) != 0.0:
            self._raise(error)
        sums = buf[n + 1:].to(torch.float64).reshape(self.world_size, 2)
        scale = float(sums[0, 1]) * P
        spread = (sums - sums[0]).abs().max(dim=0).values
        if (float(spread[0]) > INPUT_RTOL * scale ** 0.5 + 1e-300
                or float(spread[1]) > INPUT_RTOL * float(sums[0, 1]) + 1e-300):
            raise UserInputError(
                "the processes multiplied different vectors (a solver drawing unseeded or "
                "per-process randomness?): seed it, or draw on rank 0 and broadcast"
            )
        return buf[:n].reshape(k, P)

    # ---------------------------------------------------------------- operator set-up
    def setup(self, make_problem: Callable[[], Any],
              evaluate: Callable[[Any], float]) -> tuple[Any, float]:
        """Build this rank's problem, make its batch weights global, return it and the loss
        (``evaluate(problem)`` on every rank, summed).

        Two all-reduces (the counts, the loss) plus the failure flags of each local step.
        """
        problem = self.run(make_problem)
        n_terms, n_samples = self.all_sum([problem.n_terms, problem.n_samples])
        problem.n_terms, problem.n_samples = n_terms, int(round(n_samples))
        if problem.reduction == "mean":
            problem.weights = [t / n_terms for t in problem.terms]
        local = self.run(lambda: evaluate(problem))
        (loss,) = self.all_sum([local])
        return problem, loss

    def everywhere(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every rank (one all-reduce)."""
        (count,) = self.all_sum([1.0 if flag else 0.0])
        return count == self.world_size

    def agree_on(self, choose: Callable[[], Sequence[str]], names: Sequence[str]) -> list[str]:
        """Run ``choose()`` on every rank (on its own shard) and keep rank 0's choice."""
        picked = self.run(choose)
        index = self.from_rank0([list(names).index(p) for p in picked])
        return [names[int(i)] for i in index]

    def __repr__(self) -> str:
        return (f"DataParallel(rank={self.rank}, world_size={self.world_size}, "
                f"backend={self.backend!r})")
