"""Exception types shared across deepscope.

`UserInputError` marks a problem with what the user gave (an unknown experiment, a malformed
``--set``, a bad model or data spec, a corrupt stored result). The CLI turns it into one line on
stderr and exit status 2. Anything else that escapes is an internal failure (exit status 1).
"""

from __future__ import annotations

import operator
from typing import Any


class DeepscopeError(Exception):
    """Base class of every error deepscope raises on purpose."""


class UserInputError(DeepscopeError, ValueError):
    """Bad input from the user: the message is one line that names the problem."""


class SanityCheckError(DeepscopeError):
    """A sanity check of an experiment failed: the run is broken, so it has no verdict.

    The CLI reports it in one line with exit status 1 (an error of the run, not of the input).
    """


def require_int(x: Any, name: str, minimum: int = 0) -> int:
    """``x`` as an int if it is an integer >= ``minimum`` (bools refused), else a one-line
    :class:`UserInputError` naming ``name``."""
    try:
        val = operator.index(x)
    except TypeError:
        val = None
    if val is None or isinstance(x, bool) or val < minimum:
        raise UserInputError(f"{name} must be an integer >= {minimum}, got {x!r}")
    return int(val)
