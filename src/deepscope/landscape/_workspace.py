"""Buffers reused from pass to pass, and handed from one workspace to the next.

A fresh multi-megabyte tensor per pass costs page faults (the allocator hands large blocks back to
the system when they are freed); writing into kept buffers (``out=``) avoids them.
"""

from __future__ import annotations

import math
import threading
import weakref

import torch


class Recycler:
    """Buffers of workspaces that are gone, handed to new ones (each buffer has one owner at a
    time). A grid made by a fresh evaluator otherwise touches tens of megabytes of new pages:
    measured 3.5-6 ms of page faults against 0.5 ms for the same writes to kept memory."""

    def __init__(self, limit: int = 64 << 20):
        self.limit = limit
        self._free: list[torch.Tensor] = []
        self._bytes = 0
        self._lock = threading.Lock()

    def take(self, numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
        with self._lock:
            best = None
            for i, buf in enumerate(self._free):
                if buf.dtype == dtype and buf.device == device and numel <= buf.numel() \
                        <= 4 * numel and (best is None or buf.numel() < self._free[best].numel()):
                    best = i
            if best is None:
                return None
            buf = self._free.pop(best)
            self._bytes -= buf.numel() * buf.element_size()
            return buf

    def give(self, buffers) -> None:
        with self._lock:
            for buf in buffers:
                size = buf.numel() * buf.element_size()
                # CPU only: CUDA's caching allocator already reuses device memory
                if buf.device.type == "cpu" and size >= (1 << 20) \
                        and self._bytes + size <= self.limit:
                    self._free.append(buf)
                    self._bytes += size


RECYCLER = Recycler()


class Workspace:
    """Named buffers reused from pass to pass.

    A fresh multi-megabyte tensor per pass costs page faults (the allocator hands large blocks
    back to the system when they are freed), which measured as much as the arithmetic of the
    mixing and loss passes; writing into kept buffers (``out=``) avoids them. When the
    workspace goes, its buffers go to :data:`RECYCLER` for the next one.
    """

    def __init__(self):
        self._bufs: dict[object, torch.Tensor] = {}
        weakref.finalize(self, RECYCLER.give, self._bufs.values())

    def get(self, name: object, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        numel = math.prod(shape)
        buf = self._bufs.get(name)
        if buf is None or buf.numel() < numel or buf.dtype != like.dtype \
                or buf.device != like.device:
            # (a replaced buffer is dropped, not recycled: a kept view may still read it)
            buf = RECYCLER.take(max(numel, 1), like.dtype, like.device)
            if buf is None:
                buf = torch.empty(max(numel, 1), dtype=like.dtype, device=like.device)
            self._bufs[name] = buf
        return buf[:numel].view(shape)

    def release(self, name: object) -> None:
        buf = self._bufs.pop(name, None)
        if buf is not None:
            RECYCLER.give([buf])

