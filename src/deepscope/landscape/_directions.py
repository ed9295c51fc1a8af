"""Directions in parameter space for landscape slices.

A :class:`Directions` holds ``k`` flat direction vectors over a model's trainable parameters (in
``named_parameters()`` order) and, optionally, the origin of the slice. Random directions are
Gaussian and are regenerated from ``(seed, spec)``: the tensors never need to be stored.

Normalisation (``norm``), applied to each Gaussian direction ``d`` against the parameters ``theta``:

- ``"filter"``: per filter (output unit: a slice along dim 0 of a weight with ``ndim >= 2``),
  ``d_f <- d_f / ||d_f|| * ||theta_f||`` (Li et al. 2018).
- ``"layer"``: per parameter tensor, ``d_L <- d_L / ||d_L|| * ||theta_L||``.
- ``"model"``: the whole vector, ``d <- d / ||d|| * ||theta||``.
- ``"adaptive"``: elementwise, ``d_i <- d_i * |theta_i|`` (the ``T_theta = |theta|`` of adaptive
  sharpness, Kwon et al. 2021).
- ``"none"``: the raw Gaussian.

One-dimensional parameters (biases, normalisation weights) follow ``one_d``: ``"ignore"`` (their
direction is zero, the default of Li et al.), ``"keep"`` (the raw Gaussian, unnormalised) or
``"normalise"`` (the tensor is one block: ``d <- d / ||d|| * ||theta||``; elementwise for
``adaptive``).

Orthogonalisation (``orthogonalise``) and the rescalings a slice is invariant to. A normalisation
absorbs a group of rescalings of the parameters: every positive scaling ``theta_b <- s_b theta_b``
of its blocks ``b`` (filters for ``"filter"``, tensors for ``"layer"`` and 1-D tensors under
``one_d="normalise"``, elements for ``"adaptive"``). Dinh et al. (2017)'s
``T_alpha(theta_1, theta_2) = (alpha theta_1, theta_2 / alpha)`` of a ReLU pair (with the bias of
the first layer, ``alpha b_1``) scales every block of layer 1 by ``alpha`` and every block of
layer 2 by ``1 / alpha``: it is in the group of all three. Such a ``T`` is linear, and the
normalised direction is equivariant, ``d(T theta) = T d(theta)``, because the Gaussian is drawn
independently of ``theta`` and ``||s_b theta_b|| = s_b ||theta_b||``; hence ``T(theta + a d1 +
b d2) = T theta + a d1(T theta) + b d2(T theta)`` and every slice of a network whose function is
invariant to ``T`` is identical before and after. An operation applied after normalising keeps
this only if it commutes with ``T``:

- ``"blockwise"`` (the default): the raw Gaussians are orthogonalised (Gram-Schmidt) inside each
  normalisation block *before* normalising (for ``"model"`` and ``"none"`` the block is the whole
  vector, which gives the ``"euclidean"`` axes up to rounding); the pieces of the axes are then
  orthogonal block by block, so the axes are orthogonal in the Euclidean metric and in every metric
  that is constant on blocks, each block of each axis keeps ``||d_b|| = ||theta_b||`` exactly, and,
  the Gram-Schmidt step not depending on ``theta``, the slice is invariant to the group. A block
  with fewer elements than there are axes (a filter of a ``Linear(1, h)``, every element under
  ``"adaptive"``) cannot hold orthogonal pieces: on those blocks the normalised axes are
  orthogonalised afterwards in the scaled metric below (listed in ``info["small_blocks"]``), which
  keeps the invariance; their pieces then keep their scaled norm, not ``||theta_b||`` each (and
  where those blocks together are too few to hold the axes, the whole axes are so orthogonalised).
- ``"scaled"``: Gram-Schmidt after normalising, in the metric the normalisation induces,
  ``<u, v> = sum_b u_b . v_b / ||theta_b||^2`` (``/ theta_i^2`` elementwise for ``"adaptive"``);
  ``<T u, T v>`` at ``T theta`` equals ``<u, v>`` at ``theta``, so the coefficients and the
  scaled norms do not change under the group and the slice is invariant; the axes are orthogonal
  in that metric, not in the Euclidean one, and blocks of the later axes drift from
  ``||theta_b||`` by about ``1 / sqrt(P)``.
- ``"euclidean"``: Gram-Schmidt after normalising in parameter space. ``<T u, T v> =
  alpha^2 <u_1, v_1> + alpha^-2 <u_2, v_2> + ...`` is not a multiple of ``<u, v>``: the
  coefficients mix the layers' scales and the slice is NOT invariant (a filter-normalised plane of
  a 5-8-6-3 ReLU network moves by 3e-2 under ``T_3.7``, its loss spanning 0.13). Kept for
  comparison and for stored specs, which name their orthogonalisation.
- ``"none"``: the axes as drawn (invariant, not orthogonal).

``one_d="ignore"`` and ``"normalise"`` are equivariant (a zero piece, or a block scaled with its
tensor: ``alpha b_1``); ``"keep"`` and ``norm="none"``/``"model"`` are not. A rescaling that is not
uniform on a block is not absorbed: Dinh's per-neuron ``T`` (column ``i`` of ``W_2`` divided by
``alpha_i``) scales parts of ``W_2``'s filters differently. The cosines between axes before
(``cosines_raw``, the normalised axes without orthogonalisation) and after (``cosines``,
Euclidean; ``info["cosines_metric"]`` in the scaled metric) are reported.

References:
    Li, Xu, Taylor, Studer & Goldstein, 'Visualizing the loss landscape of neural nets',
    NeurIPS 2018. Kwon, Kim, Park & Choi, 'ASAM', ICML 2021. Dinh, Pascanu, Bengio & Bengio,
    'Sharp minima can generalize for deep nets', ICML 2017.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserInputError
from ..problem import select_parameters

NORMS = ("filter", "layer", "model", "adaptive", "none")
ONE_D_RULES = ("ignore", "keep", "normalise")
ORTHOGONALISE = ("blockwise", "scaled", "euclidean", "none")
SPEC_VERSION = 1


@dataclasses.dataclass
class Directions:
    """``k`` flat directions over a model's trainable parameters.

    Attributes:
        vectors: (k, P) tensor, one direction per row, in the parameters' dtype.
        names: parameter names (``named_parameters()`` order) the flat layout follows.
        shapes: their shapes.
        origin: (P,) tensor, the slice's origin, or None for the model's own parameters.
        spec: JSON-ready description; for random directions it regenerates the vectors.
        cosines_raw: (k, k) cosines between axes before orthogonalisation.
        cosines: (k, k) cosines after it (the identity up to rounding when orthogonalised).
        info: extra measured quantities (explained variance, eigenvalues, model coordinates).
    """

    vectors: torch.Tensor
    names: list[str]
    shapes: list[tuple[int, ...]]
    origin: torch.Tensor | None = None
    spec: dict[str, Any] = dataclasses.field(default_factory=dict)
    cosines_raw: np.ndarray | None = None
    cosines: np.ndarray | None = None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2:
            raise UserInputError("directions must be a (k, P) tensor, got "
                                 f"{tuple(self.vectors.shape)}")
        if not bool(torch.isfinite(self.vectors).all()):
            raise UserInputError("directions contain NaN or inf")
        if self.origin is not None and not bool(torch.isfinite(self.origin).all()):
            raise UserInputError("the origin of the directions contains NaN or inf")
        if self.cosines is None:
            self.cosines = cosine_matrix(self.vectors)
        if self.cosines_raw is None:
            self.cosines_raw = self.cosines

    @property
    def k(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def size(self) -> int:
        return int(self.vectors.shape[1])

    def split(self, i: int) -> dict[str, torch.Tensor]:
        """Direction ``i`` as a dict of parameter-shaped tensors."""
        numels = [int(np.prod(s)) for s in self.shapes]
        return {n: t.reshape(s) for n, t, s in
                zip(self.names, torch.split(self.vectors[i], numels), self.shapes)}


# ----------------------------------------------------------------------------- flat parameters
def trainable_names(model: nn.Module) -> list[str]:
    return select_parameters(model, None)


def flat_parameters(model: nn.Module, names: Sequence[str] | None = None,
                    dtype: torch.dtype | None = None) -> torch.Tensor:
    """The named parameters of ``model`` as one detached flat vector (a copy)."""
    named = dict(model.named_parameters())
    names = trainable_names(model) if names is None else names
    flat = torch.cat([named[n].detach().reshape(-1) for n in names]).clone()
    return flat if dtype is None else flat.to(dtype)


def check_same_architecture(a: nn.Module, b: nn.Module, what: str = "models") -> None:
    """Refuse two models whose trainable parameters differ in names or shapes."""
    pa = [(n, tuple(p.shape)) for n, p in a.named_parameters() if p.requires_grad]
    pb = [(n, tuple(p.shape)) for n, p in b.named_parameters() if p.requires_grad]
    if pa == pb:
        return
    for (na, sa), (nb, sb) in zip(pa, pb):
        if (na, sa) != (nb, sb):
            raise UserInputError(f"{what} have different architectures: parameter {na} {sa} "
                                 f"against {nb} {sb}")
    raise UserInputError(f"{what} have different architectures: {len(pa)} against {len(pb)} "
                         "trainable parameter tensors")


def _layout(model: nn.Module) -> tuple[list[str], list[tuple[int, ...]], list[torch.Tensor]]:
    names = trainable_names(model)
    named = dict(model.named_parameters())
    return names, [tuple(named[n].shape) for n in names], [named[n].detach() for n in names]


# ----------------------------------------------------------------------------- normalisation
def _block_scale(theta: torch.Tensor, d: torch.Tensor, per_filter: bool) -> torch.Tensor:
    """``||theta_b|| / ||d_b||`` for blocks (filters along dim 0, or the whole tensor)."""
    if per_filter:
        dims = tuple(range(1, theta.ndim))
        tn = torch.linalg.vector_norm(theta, dim=dims, keepdim=True)
        dn = torch.linalg.vector_norm(d, dim=dims, keepdim=True)
    else:
        tn, dn = theta.norm(), d.norm()
    return torch.where(dn > 0, tn / torch.where(dn > 0, dn, torch.ones_like(dn)),
                       torch.zeros_like(dn))


def _metric_weight(theta: torch.Tensor, block: str) -> torch.Tensor:
    """The metric weight ``1 / ||theta_b||^2`` of each element (0 where theta_b is 0)."""
    if block == "element":
        sq = theta * theta
    elif block == "filter":
        sq = (theta * theta).sum(dim=tuple(range(1, theta.ndim)), keepdim=True).expand_as(theta)
    elif block == "tensor":
        sq = (theta * theta).sum().expand_as(theta)
    else:  # unit weight
        return torch.ones_like(theta)
    return torch.where(sq > 0, 1.0 / torch.where(sq > 0, sq, torch.ones_like(sq)),
                       torch.zeros_like(sq))


def normalise(parts: Sequence[torch.Tensor], thetas: Sequence[torch.Tensor], norm: str,
              one_d: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Normalise one direction (per-parameter pieces); also return the metric weights."""
    if norm not in NORMS:
        raise UserInputError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if one_d not in ONE_D_RULES:
        raise UserInputError(f"one_d must be one of {', '.join(ONE_D_RULES)}, got {one_d!r}")
    out, weights = [], []
    for d, th in zip(parts, thetas):
        low = th.ndim <= 1
        if low and one_d == "ignore":
            out.append(torch.zeros_like(d))
            weights.append(torch.zeros_like(d))
            continue
        if (low and one_d == "keep") or norm == "none":
            out.append(d.clone())
            weights.append(torch.ones_like(d))
            continue
        if norm == "adaptive":
            out.append(d * th.abs())
            weights.append(_metric_weight(th, "element"))
        elif norm == "model":
            out.append(d.clone())  # scaled globally below
            weights.append(torch.ones_like(d))
        else:
            per_filter = norm == "filter" and not low
            out.append(d * _block_scale(th, d, per_filter))
            weights.append(_metric_weight(th, "filter" if per_filter else "tensor"))
    if norm == "model":
        flat_d = torch.cat([o.reshape(-1) for o in out])
        mask = [not (th.ndim <= 1 and one_d == "keep") for th in thetas]
        theta_norm = torch.cat([t.reshape(-1) for t, m in zip(thetas, mask) if m] or
                               [torch.zeros(1, dtype=flat_d.dtype)]).norm()
        d_norm = torch.cat([o.reshape(-1) for o, m in zip(out, mask) if m] or
                           [torch.zeros(1, dtype=flat_d.dtype)]).norm()
        scale = theta_norm / d_norm if float(d_norm) > 0 else torch.zeros((), dtype=flat_d.dtype)
        out = [o * scale if m else o for o, m in zip(out, mask)]
        w = 1.0 / float(theta_norm) ** 2 if float(theta_norm) > 0 else 0.0
        weights = [wt * w if m else wt for wt, m in zip(weights, mask)]
    return out, weights


# ----------------------------------------------------------------------------- geometry
def cosine_matrix(vectors: torch.Tensor, weight: torch.Tensor | None = None) -> np.ndarray:
    """Cosines between rows of a (k, P) tensor (in the metric ``weight`` when given)."""
    V = vectors.double()
    W = V if weight is None else V * weight.double()
    gram = W @ V.T
    norms = torch.sqrt(torch.clamp(torch.diagonal(gram), min=0))
    denom = torch.outer(norms, norms)
    cos = torch.where(denom > 0, gram / torch.where(denom > 0, denom, torch.ones_like(denom)),
                      torch.zeros_like(denom))
    return cos.cpu().numpy()


def orthogonalise_rows(vectors: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Modified Gram-Schmidt on rows (metric ``weight``), each row keeping its norm."""
    V = vectors.double().clone()
    w = torch.ones_like(V[0]) if weight is None else weight.double()
    for j in range(V.shape[0]):
        norm0 = torch.sqrt((V[j] * V[j] * w).sum())
        for i in range(j):
            ni = (V[i] * V[i] * w).sum()
            if float(ni) > 0:
                V[j] = V[j] - ((V[j] * V[i] * w).sum() / ni) * V[i]
        norm1 = torch.sqrt((V[j] * V[j] * w).sum())
        if float(norm0) > 0 and float(norm1) <= 1e-10 * float(norm0):
            raise UserInputError(f"direction {j} is linearly dependent on the earlier ones")
        if float(norm1) > 0:
            V[j] = V[j] * (norm0 / norm1)
    return V.to(vectors.dtype)


def _block_view(d: torch.Tensor, th: torch.Tensor, norm: str, one_d: str) -> torch.Tensor | None:
    """``d`` as (blocks, block size) along the normalisation blocks, or None for a zero piece."""
    low = th.ndim <= 1
    if low and one_d == "ignore":
        return None
    if norm == "filter" and not low:
        return d.reshape(d.shape[0], -1)
    if norm == "adaptive" and not (low and one_d == "keep"):
        return d.reshape(-1, 1)
    return d.reshape(1, -1)


def _orthogonalise_blocks(pieces: list[list[torch.Tensor]], thetas: Sequence[torch.Tensor],
                          norm: str, one_d: str) -> tuple[list[list[torch.Tensor]], list[bool]]:
    """Gram-Schmidt of the raw pieces ``pieces[i][t]`` inside each block, each keeping its norm.

    Under ``"model"`` and ``"none"`` the tensors that share one scale form one block (the whole
    vector: the Euclidean Gram-Schmidt of the raw Gaussians). Returns the new pieces and, per
    tensor, whether its blocks were too small to hold ``n`` orthogonal pieces (left as drawn).
    """
    n = len(pieces)
    out = [[p.clone() for p in row] for row in pieces]
    small = [False] * len(thetas)
    live = [t for t, th in enumerate(thetas) if not (th.ndim <= 1 and one_d == "ignore")]
    if norm in ("model", "none"):
        kept = [t for t in live if thetas[t].ndim <= 1 and one_d == "keep"]
        groups = [[t for t in live if t not in kept]] + [[t] for t in kept]
        groups = [g for g in groups if g] if norm == "model" else [live]
        for g in groups:
            sizes = [thetas[t].numel() for t in g]
            if sum(sizes) < n:
                small = [f or t in g for t, f in enumerate(small)]
                continue
            V = orthogonalise_rows(torch.stack([torch.cat([out[i][t].reshape(-1) for t in g])
                                                for i in range(n)]))
            for i in range(n):
                for t, x in zip(g, torch.split(V[i], sizes)):
                    out[i][t] = x.reshape(thetas[t].shape)
        return out, small
    for t in live:
        th = thetas[t]
        X = torch.stack([_block_view(out[i][t], th, norm, one_d) for i in range(n)])
        if X.shape[2] < n:  # (n, blocks, size)
            small[t] = True
            continue
        for j in range(1, n):
            norm0 = X[j].norm(dim=1, keepdim=True)
            for i in range(j):
                ni = (X[i] * X[i]).sum(dim=1, keepdim=True)
                coef = (X[j] * X[i]).sum(dim=1, keepdim=True) / torch.where(ni > 0, ni, 1.0)
                X[j] = X[j] - torch.where(ni > 0, coef, 0.0) * X[i]
            norm1 = X[j].norm(dim=1, keepdim=True)
            if bool((norm1 <= 1e-10 * norm0).logical_and(norm0 > 0).any()):
                raise UserInputError(f"direction {j} is linearly dependent on the earlier ones "
                                     "inside a block")
            X[j] = X[j] * torch.where(norm1 > 0, norm0 / torch.where(norm1 > 0, norm1, 1.0), 1.0)
        for i in range(n):
            out[i][t] = X[i].reshape(th.shape)
    return out, small


def _gaussian(seed: int, index: int, shapes: Sequence[tuple[int, ...]]) -> list[torch.Tensor]:
    """Direction ``index`` of seed ``seed``: float64 N(0, 1) pieces, independent of the model."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    gen = torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
    return [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]


def random_directions(model: nn.Module, n: int = 2, norm: str = "filter", seed: int = 0, *,
                      one_d: str = "ignore", orthogonalise: str = "blockwise",
                      params: str | Sequence[str] | None = None) -> Directions:
    """``n`` Gaussian directions, normalised against the model's parameters and orthogonalised.

    The Gaussians are drawn in float64 on the CPU from a generator seeded by ``(seed, i)``, so the
    same spec gives the same bits on any model dtype; ``params`` (names or globs) restricts the
    directions to some parameters (the others get zero). With the default
    ``orthogonalise="blockwise"`` every slice is invariant to the rescalings the normalisation
    absorbs (Dinh et al.'s ``T_alpha`` for ``"filter"``, ``"layer"`` and ``"adaptive"``; see the
    module docstring); ``"euclidean"`` is not.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        >>> dirs = random_directions(net.double(), 2, norm="filter", seed=0)
        >>> w = net[0].weight.detach().double()
        >>> d = [dirs.split(i)["0.weight"].double() for i in range(2)]
        >>> bool(torch.allclose(d[1].norm(dim=1), w.norm(dim=1)))   # every axis: filter norms
        True
        >>> bool((d[0] * d[1]).sum(dim=1).abs().max() < 1e-12)   # orthogonal filter by filter
        True
        >>> abs(float(dirs.cosines[0, 1])) < 1e-12
        True
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserInputError(f"the number of directions must be a positive integer, got {n!r}")
    if orthogonalise not in ORTHOGONALISE:
        raise UserInputError(f"orthogonalise must be one of {', '.join(ORTHOGONALISE)}, got "
                             f"{orthogonalise!r}")
    names, shapes, tensors = _layout(model)
    thetas = [t.double().cpu() for t in tensors]
    chosen = set(names if params is None else select_parameters(model, params))
    drawn = [[p if name in chosen else torch.zeros_like(p)
              for p, name in zip(_gaussian(seed, i, shapes), names)] for i in range(n)]

    def flat_rows(pieces: list[list[torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        rows, weights = [], None
        for parts in pieces:
            parts, w = normalise(parts, thetas, norm, one_d)
            rows.append(torch.cat([p.reshape(-1) for p in parts]))
            weights = torch.cat([x.reshape(-1) for x in w])
        return torch.stack(rows), weights

    V, weights = flat_rows(drawn)
    if not bool(V.abs().sum(dim=1).gt(0).all()):
        raise UserInputError("a direction is zero: every selected parameter was ignored "
                             "(1-D parameters with one_d='ignore'?)")
    raw = cosine_matrix(V)
    metric, small_names = None, []
    if orthogonalise == "blockwise" and n > 1:
        pieces, small = _orthogonalise_blocks(drawn, thetas, norm, one_d)
        V, weights = flat_rows(pieces)
        metric = weights
        small_names = [name for name, flag in zip(names, small) if flag]
        if small_names:  # finish the blocks too small to be orthogonal in the scaled metric
            mask = torch.cat([torch.full((int(np.prod(s)),), flag, dtype=torch.bool)
                              for s, flag in zip(shapes, small)])
            try:
                V[:, mask] = orthogonalise_rows(V[:, mask], weights[mask])
            except UserInputError:  # too few of them: the whole axes, in the same metric
                V = orthogonalise_rows(V, weights)
    elif orthogonalise == "scaled":
        metric = weights
        V = orthogonalise_rows(V, metric)
    elif orthogonalise == "euclidean":
        V = orthogonalise_rows(V)
    dtype, device = tensors[0].dtype, tensors[0].device
    spec = {"kind": "random", "version": SPEC_VERSION, "distribution": "gaussian", "n": n,
            "seed": int(seed), "norm": norm, "one_d": one_d, "orthogonalise": orthogonalise,
            "params": None if params is None else ([params] if isinstance(params, str)
                                                   else list(params))}
    info: dict[str, Any] = {}
    if metric is not None:
        info["cosines_metric"] = cosine_matrix(V, metric).tolist()
    if orthogonalise == "blockwise":
        info["small_blocks"] = small_names
    return Directions(V.to(dtype=dtype, device=device), names, shapes, None, spec, raw,
                      cosine_matrix(V), info)


def directions_from_spec(model: nn.Module, spec: dict[str, Any]) -> Directions:
    """Regenerate random directions from their stored ``spec``."""
    if not isinstance(spec, dict) or spec.get("kind") != "random":
        raise UserInputError("only random directions can be regenerated from a spec")
    if spec.get("version") != SPEC_VERSION:
        raise UserInputError(f"direction spec version {spec.get('version')!r} is not "
                             f"{SPEC_VERSION}")
    return random_directions(model, spec["n"], spec["norm"], spec["seed"], one_d=spec["one_d"],
                             orthogonalise=spec["orthogonalise"], params=spec["params"])


def target_direction(model_a: nn.Module, model_b: nn.Module) -> Directions:
    """The single direction ``theta_b - theta_a`` (origin: model_a's parameters)."""
    check_same_architecture(model_a, model_b)
    names, shapes, tensors = _layout(model_a)
    a = flat_parameters(model_a, names)
    b = flat_parameters(model_b, names).to(a.dtype)
    return Directions((b - a)[None], names, shapes, a,
                      {"kind": "target", "distance": float((b - a).double().norm())})


def plane_through(model_0: nn.Module, model_1: nn.Module, model_2: nn.Module) -> Directions:
    """The plane through three models: origin theta_0, ``u = theta_1 - theta_0`` and the part of
    ``theta_2 - theta_0`` orthogonal to ``u``, scaled to ``||u||``.

    ``info["model_coords"]`` gives the three models' coordinates: (0, 0), (1, 0) and (c1, c2).
    """
    check_same_architecture(model_0, model_1)
    check_same_architecture(model_0, model_2)
    names, shapes, _ = _layout(model_0)
    t0, t1, t2 = (flat_parameters(m, names).double() for m in (model_0, model_1, model_2))
    u, w = t1 - t0, t2 - t0
    uu = float(u @ u)
    if uu == 0:
        raise UserInputError("the first two models are identical: no plane")
    c1 = float(w @ u) / uu
    v = w - c1 * u
    vn = float(v.norm())
    if vn <= 1e-12 * (uu ** 0.5):
        raise UserInputError("the three models are collinear: no plane")
    scale = uu ** 0.5 / vn
    V = torch.stack([u, v * scale])
    dtype = next(model_0.parameters()).dtype
    return Directions(V.to(dtype), names, shapes, t0.to(dtype),
                      {"kind": "plane", "models": 3},
                      info={"model_coords": [[0.0, 0.0], [1.0, 0.0], [c1, 1.0 / scale]]})


def hessian_directions(model: nn.Module, loss_fn: Any, data: Any, k: int = 2,
                       which: str = "largest", *, bn: str = "eval",
                       dtype: torch.dtype | None = None, tol: float = 1e-6,
                       seed: int = 0) -> Directions:
    """Top (or bottom) Hessian eigenvectors, from :func:`deepscope.curvature.eigenvalues`.

    Unit vectors; ``info`` holds the eigenvalues and their residuals.
    """
    from ..curvature import HessianOperator, eigenvalues

    op = HessianOperator(model, loss_fn, data, params=None, bn=bn, dtype=dtype)
    res = eigenvalues(op, k=k, which=which, tol=tol, seed=seed)
    names, shapes, tensors = _layout(model)
    V = res.vectors.T.to(dtype=tensors[0].dtype, device=tensors[0].device)
    return Directions(V, names, shapes, None,
                      {"kind": "hessian", "k": k, "which": which, "seed": seed},
                      info={"eigenvalues": res.values.tolist(),
                            "residuals": res.residuals.tolist()})
