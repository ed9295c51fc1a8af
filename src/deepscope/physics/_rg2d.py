"""Real-space RG maps for the 2D Ising model: block spins, decimation, Migdal-Kadanoff.

- :func:`majority_rule`: ``b x b`` block spins ``S = sign(sum of the block)``; for even ``b`` a
  tie (zero sum) is broken by a fair coin from the caller's ``Generator`` (``tie="random"``) or,
  deterministically, by the block's top-left spin (``tie="corner"``).
- :func:`decimate_2d`: keep every ``b``-th spin in each direction.
- :func:`block_flow`: nearest-neighbour correlation and ``|m|`` of each sample along repeated
  blocking, the observables of a Swendsen-style MCRG flow.
- :func:`migdal_kadanoff`: the bond-moving + decimation recursion. Moving bonds multiplies the
  coupling by ``b^(d-1)``; decimating ``b`` bonds in series gives ``tanh K' = tanh^b(b^(d-1) K)``.
  For ``b = 2, d = 2`` this is ``K' = (1/2) ln cosh 4K``, whose fixed point solves
  ``cosh 4K = e^{2K}``: with ``x = e^{2K*}``, ``x^3 - x^2 - x - 1 = 0`` (the tribonacci
  constant), so ``K* = (1/2) ln 1.839286755... = 0.3046889...`` in closed form. The thermal
  eigenvalue is ``lambda = dK'/dK`` at ``K*`` and ``nu = ln b / ln lambda``.

References:
    L. P. Kadanoff, Physics 2:263 (1966); A. A. Migdal, JETP 42:743 (1976); L. P. Kadanoff,
    Ann. Phys. 100:359 (1976); R. H. Swendsen, PRL 42:859 (1979).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from deepscope.errors import UserInputError

__all__ = [
    "MigdalKadanoff",
    "block_flow",
    "decimate_2d",
    "majority_rule",
    "migdal_kadanoff",
    "migdal_kadanoff_derivative",
    "migdal_kadanoff_flow",
    "migdal_kadanoff_map",
    "nn_correlation_2d",
]


def _lattice(spins, b: int) -> np.ndarray:
    arr = np.asarray(spins)
    if arr.ndim < 2:
        raise UserInputError("spins must have shape (..., L, L)")
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 2:
        raise UserInputError(f"block size b must be an integer >= 2, got {b!r}")
    if arr.shape[-1] % b or arr.shape[-2] % b:
        raise UserInputError(f"lattice {arr.shape[-2:]} is not divisible by b = {b}")
    return arr


def majority_rule(spins, b: int = 3, rng: np.random.Generator | None = None,
                  tie: str = "random") -> np.ndarray:
    """Majority-rule block spins of ``(..., L, L)`` configurations, ``int8`` ``(..., L/b, L/b)``.

    Args:
        spins: ``+-1`` configurations, ``L`` divisible by ``b``.
        b: block side.
        rng: source of the tie-breaking coins (needed for even ``b`` with ``tie="random"``).
        tie: ``"random"`` (fair coin per tied block) or ``"corner"`` (the block's top-left spin).
    """
    arr = _lattice(spins, b)
    L0, L1 = arr.shape[-2:]
    blocks = arr.reshape(*arr.shape[:-2], L0 // b, b, L1 // b, b).astype(np.int16)
    total = blocks.sum(axis=(-3, -1))
    out = np.sign(total).astype(np.int8)
    ties = total == 0
    if ties.any():
        if tie == "random":
            if not isinstance(rng, np.random.Generator):
                raise UserInputError("majority_rule with even b needs rng for random tie-breaks")
            coins = np.where(rng.random(out.shape) < 0.5, 1, -1).astype(np.int8)
        elif tie == "corner":
            coins = arr[..., ::b, ::b].astype(np.int8)
        else:
            raise UserInputError(f"tie must be 'random' or 'corner', got {tie!r}")
        out = np.where(ties, coins, out)
    return out


def decimate_2d(spins, b: int = 2) -> np.ndarray:
    """Keep the spins at positions ``(b i, b j)``: ``(..., L, L) -> (..., L/b, L/b)``."""
    return _lattice(spins, b)[..., ::b, ::b]


def nn_correlation_2d(spins) -> np.ndarray:
    """Per-sample ``(1/2N) sum_<ij> s_i s_j`` on the periodic lattice (both directions)."""
    s = np.asarray(spins, dtype=np.float64)
    right = s * np.roll(s, -1, axis=-1)
    down = s * np.roll(s, -1, axis=-2)
    return 0.5 * (right.mean(axis=(-1, -2)) + down.mean(axis=(-1, -2)))


def block_flow(samples, b: int, n_steps: int, rng: np.random.Generator | None = None,
               tie: str = "random") -> dict[str, np.ndarray]:
    """Observables along repeated majority-rule blocking of ``(n_samples, L, L)`` samples.

    Returns:
        ``{"nn": (n_steps + 1, n_samples), "abs_m": (n_steps + 1, n_samples), "L": sizes}``:
        the nearest-neighbour correlation and ``|m|`` of every sample at each level.
    """
    s = np.asarray(samples)
    nn, am, sizes = [], [], []
    for step in range(n_steps + 1):
        nn.append(nn_correlation_2d(s))
        am.append(np.abs(s.astype(np.float64).mean(axis=(-1, -2))))
        sizes.append(s.shape[-1])
        if step < n_steps:
            s = majority_rule(s, b, rng, tie)
    return {"nn": np.array(nn), "abs_m": np.array(am), "L": np.array(sizes)}


def _check_bd(b, d) -> tuple[int, int]:
    for name, v, lo in (("b", b, 2), ("d", d, 2)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise UserInputError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(b), int(d)


def migdal_kadanoff_map(K, b: int = 2, d: int = 2):
    """``K' = artanh(tanh^b(b^(d-1) K))``; ``b = d = 2``: ``(1/2) ln cosh 4K``."""
    b, d = _check_bd(b, d)
    t = np.tanh(np.asarray(K, dtype=np.float64) * b ** (d - 1)) ** b
    out = np.arctanh(np.minimum(t, 1.0 - 1e-16))
    return float(out) if np.ndim(out) == 0 else out


def migdal_kadanoff_derivative(K, b: int = 2, d: int = 2):
    """``dK'/dK = b^(d-1) b tanh^(b-1)(x) sech^2(x) / (1 - tanh^(2b)(x))``, ``x = b^(d-1) K``."""
    b, d = _check_bd(b, d)
    x = np.asarray(K, dtype=np.float64) * b ** (d - 1)
    t = np.tanh(x)
    out = b ** (d - 1) * b * t ** (b - 1) * (1 - t**2) / (1 - t ** (2 * b))
    return float(out) if np.ndim(out) == 0 else out


def migdal_kadanoff_flow(K0: float, n_steps: int, b: int = 2, d: int = 2) -> np.ndarray:
    """``[K0, K1, ..., Kn]`` under the Migdal-Kadanoff map."""
    flow = [float(K0)]
    for _ in range(int(n_steps)):
        flow.append(migdal_kadanoff_map(flow[-1], b, d))
    return np.array(flow)


@dataclasses.dataclass(frozen=True)
class MigdalKadanoff:
    """The non-trivial Migdal-Kadanoff fixed point.

    Attributes:
        K_star: fixed-point coupling (brentq, ``xtol = 1e-14``).
        nu: ``ln b / ln lambda_T``.
        lambda_T: ``dK'/dK`` at ``K_star``.
        T_star: ``1 / K_star``.
        b, d: rescaling factor and dimension.
        K_star_closed_form: the Cardano root for ``b = d = 2`` (``nan`` otherwise).
        residual: ``|K'(K*) - K*|``.
    """

    K_star: float
    nu: float
    lambda_T: float
    T_star: float
    b: int
    d: int
    K_star_closed_form: float
    residual: float

    def __iter__(self):
        """``K_star, nu = migdal_kadanoff()`` unpacks the fixed point and the exponent."""
        yield self.K_star
        yield self.nu


def migdal_kadanoff(b: int = 2, d: int = 2) -> MigdalKadanoff:
    """Fixed point and ``nu`` of the Migdal-Kadanoff recursion.

    >>> mk = migdal_kadanoff()
    >>> round(mk.K_star, 5), round(mk.nu, 3)
    (0.30469, 1.338)
    """
    from scipy.optimize import brentq

    b, d = _check_bd(b, d)
    k_star = brentq(lambda k: migdal_kadanoff_map(k, b, d) - k, 0.01, 5.0, xtol=1e-14,
                    rtol=1e-15, maxiter=200)
    lam = migdal_kadanoff_derivative(k_star, b, d)
    closed = math.nan
    if b == 2 and d == 2:  # real root of x^3 - x^2 - x - 1 = 0, x = e^{2K*}
        r = math.sqrt(33.0)
        x = (1.0 + (19.0 + 3.0 * r) ** (1 / 3) + (19.0 - 3.0 * r) ** (1 / 3)) / 3.0
        closed = 0.5 * math.log(x)
    return MigdalKadanoff(
        K_star=float(k_star), nu=math.log(b) / math.log(lam), lambda_T=float(lam),
        T_star=1.0 / k_star, b=b, d=d, K_star_closed_form=closed,
        residual=abs(migdal_kadanoff_map(k_star, b, d) - k_star),
    )
