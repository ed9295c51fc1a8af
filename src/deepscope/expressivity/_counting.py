"""Exact parameter counting behind the "cheap learning" argument (LTR Sec. II D).

A generic function of ``n`` variables taking ``v`` values each is a table of ``v^n`` numbers. A
polynomial (Hamiltonian) of degree ``<= d`` in ``n`` variables has only

    C(n + d, d) = (n + d)! / (n! d!)

coefficients (the number of monomials of degree ``<= d``), i.e. ``O(n^d)``; locality cuts this
further to ``O(n)`` and translation invariance to a constant (3 for a quadratic nearest-neighbour
spin chain: constant, field ``h``, coupling ``J``). All counts are exact Python integers; the
``log10_*`` helpers use ``math.lgamma`` for sizes like ``n = 10^6``.

References:
    Lin, Tegmark & Rolnick 2017, J. Stat. Phys. 168:1223, arXiv:1608.08225, Sec. II D.
"""

from __future__ import annotations

import itertools
import math

from ..errors import require_int

__all__ = [
    "count_monomials_by_enumeration",
    "generic_function_parameters",
    "local_hamiltonian_parameters",
    "log10_binomial",
    "log10_generic",
    "n_monomials",
]

_LN10 = math.log(10.0)


def n_monomials(n: int, d: int) -> int:
    """Number of monomials of degree ``<= d`` in ``n`` variables: ``C(n + d, d)`` (exact)."""
    n, d = require_int(n, "n"), require_int(d, "d")
    return math.comb(n + d, d)


def count_monomials_by_enumeration(n: int, d: int) -> int:
    """Count monomials of degree ``<= d`` in ``n`` variables by listing them one by one.

    A degree-``j`` monomial is a multiset of ``j`` variables, enumerated with
    ``itertools.combinations_with_replacement``; independent of the binomial formula (use for
    small ``n, d`` only).
    """
    n, d = require_int(n, "n"), require_int(d, "d")
    return sum(
        sum(1 for _ in itertools.combinations_with_replacement(range(n), j)) for j in range(d + 1)
    )


def generic_function_parameters(n: int, v: int) -> int:
    """Parameters of a generic function of ``n`` variables with ``v`` values each: ``v^n``."""
    n, v = require_int(n, "n"), require_int(v, "v", 1)
    return v**n


def log10_generic(n: int, v: int) -> float:
    """``log10(v^n) = n log10 v`` (a 1-megapixel 8-bit image: ``n = 10^6, v = 256``)."""
    n, v = require_int(n, "n"), require_int(v, "v", 1)
    return n * math.log10(v)


def log10_binomial(n: int, d: int) -> float:
    """``log10 C(n + d, d)`` via ``math.lgamma`` (relative error ~1e-15 even for ``n = 10^6``)."""
    n, d = require_int(n, "n"), require_int(d, "d")
    return (math.lgamma(n + d + 1) - math.lgamma(n + 1) - math.lgamma(d + 1)) / _LN10


def _local_subsets(window: int, d: int) -> int:
    """Subsets of a spin's forward window: the spin itself plus ``<= d-1`` of ``window`` others."""
    return sum(math.comb(window, j) for j in range(min(d - 1, window) + 1))


def local_hamiltonian_parameters(
    n: int, d: int, range_: int = 1, translation_invariant: bool = False
) -> int:
    """Couplings of a degree-``<= d`` Hamiltonian on an open chain of ``n`` Ising spins.

    Spins are ``+-1`` so ``s^2 = 1`` and every monomial is multilinear: a term is a subset ``S``
    of sites with ``|S| <= d``. Locality keeps only subsets whose sites lie within distance
    ``range_`` (``max S - min S <= range_``). The empty set is the constant term. Without
    translation invariance the count is

        1 + sum_{i=0}^{n-1} sum_{j=0}^{d-1} C(min(range_, n-1-i), j),

    linear in ``n`` once ``n > range_``. With translation invariance, terms that are translates
    of each other share one coupling, so the count is the number of distinct shapes (subsets
    containing site 0, of span ``<= min(range_, n-1)``) plus the constant. The quadratic
    nearest-neighbour chain (``d = 2, range_ = 1``) has ``2n`` couplings, and 3 when translation
    invariant: the constant, the field ``h`` and the coupling ``J``.

    Args:
        n: number of spins (>= 1).
        d: maximal degree (>= 0).
        range_: maximal distance between coupled spins (>= 0).
        translation_invariant: count coupling types instead of couplings.
    """
    n = require_int(n, "n", 1)
    d = require_int(d, "d")
    r = require_int(range_, "range_")
    if d == 0:
        return 1
    if translation_invariant:
        return 1 + _local_subsets(min(r, n - 1), d)
    return 1 + sum(_local_subsets(min(r, n - 1 - i), d) for i in range(n))
