"""One torch thread for the duration of an experiment's training or curvature loops.

Small networks and dense float64 Hessians run fastest on one thread (a second thread costs more in
synchronisation than it gains on these sizes), and one thread fixes the order of every reduction,
so a seed gives the same bits whatever the host's thread setting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(1)``; restore the previous count after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
