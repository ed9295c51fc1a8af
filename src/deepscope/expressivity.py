"""Public expressivity API: gates, the polynomial compiler, product networks, depth tools.

Re-exports :mod:`deepscope.instruments.expressivity`. Conventions: every gate or compiled network
maps a float tensor of shape ``(N, n_inputs)`` to shape ``(N,)`` and exposes ``n_hidden``;
``compile_polynomial`` orders its inputs as ``sorted(poly.free_symbols, key=str)``; an
``activation`` is a name (``"softplus"``, ``"exp"``, ``"tanh"``, ``"sigmoid"``, ``"relu"``,
optionally shifted like ``"tanh+0.5"``) or a callable with ``derivatives={k: sigma^(k)(0)}``.

Example:
    >>> import sympy
    >>> from deepscope.expressivity import compile_polynomial
    >>> x, y = sympy.symbols("x y")
    >>> net = compile_polynomial(x * y, "softplus", 0.01)
    >>> net.n_hidden
    4
"""

from __future__ import annotations

from .instruments.expressivity import *  # noqa: F403
from .instruments.expressivity import __all__  # noqa: F401
