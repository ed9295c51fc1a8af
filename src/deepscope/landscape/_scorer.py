"""The scorer protocol: how a landscape evaluator gets the outputs of many parameter points.

A point is ``theta_p = sum_j C[p, j] B_j`` for a (n, K) chunk of coefficients ``C`` and the
evaluator's basis ``B``. A scorer turns points and a batch of inputs into model outputs; it knows
nothing of losses, accuracy, batch weights or standard errors, which one reducer owns
(:mod:`._reduce`). Scorers:

- ``"exact"`` (:mod:`._exact`): one ``torch.func.functional_call`` per point; any module, closure
  losses, dict batches, BatchNorm statistics recomputed per point. The reference the others are
  probed against.
- ``"chain"`` (:mod:`._chain_scorer`): fully connected chains, many points per pass; its option,
  one compiled pass for ``Linear -> ReLU -> Linear`` scored by cross-entropy, gives per-sample
  loss terms directly (:class:`TermScorer`).
- ``"inference"``: a conv-net scorer built by ``build_inference_plan`` (BatchNorm folded into
  the convolution when frozen), when that module is present.

Which scorer runs is decided by the model's structure alone (never by timing), so the same seed
gives the same bits; a fast scorer is probed against the exact one on two points before it is
used (:func:`probe`).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch


class Unsupported(RuntimeError):
    """A scorer cannot evaluate this model (the evaluator then uses the exact scorer)."""


class Footprint(NamedTuple):
    """Numbers per sample and point of a model's forward pass (to size passes)."""

    #: numbers all layers output
    layers: float
    #: numbers the model outputs
    outputs: float


@runtime_checkable
class Scorer(Protocol):
    """Outputs of many points on one batch.

    ``outputs(C, X, key)``: ``C`` (n, K) coefficients, ``X`` the model input of a batch (a
    tensor, or whatever the model takes), ``key`` a hashable name of the block of samples (a
    scorer may keep per-block caches under it) or None. Returns (n, b, *out); the tensor may be
    a view of a buffer that the next call overwrites.
    """

    name: str

    def outputs(self, C: torch.Tensor, X: Any, key: object = None) -> torch.Tensor: ...


@runtime_checkable
class SizedScorer(Scorer, Protocol):
    """A scorer that knows how many points fit in one pass of a memory budget (one whose
    passes do not hold every point's activations at once).

    ``points_per_pass(budget, samples, footprint, itemsize)``: points per pass within
    ``budget`` bytes for batches of up to ``samples`` samples (:class:`Footprint` per sample
    and point, ``itemsize`` bytes per number).
    """

    def points_per_pass(self, budget: int, samples: int, footprint: Footprint,
                        itemsize: int) -> int: ...


@runtime_checkable
class TermScorer(Scorer, Protocol):
    """A scorer that also gives per-sample loss terms itself (a fused loss kernel).

    ``terms(C, X, y, key, accuracy)``: (per-sample losses (n, b), hits (n, b) or None) for a loss
    that is a mean (or sum) of per-sample terms; ``terms_ok`` says whether it applies.
    """

    terms_ok: bool

    def terms(self, C: torch.Tensor, X: torch.Tensor, y: torch.Tensor, key: object,
              accuracy: bool) -> tuple[torch.Tensor, torch.Tensor | None]: ...


def probe_points(K: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Two fixed points near the first basis vector (the same for every model)."""
    rng = np.random.default_rng(20240611)
    C = rng.uniform(-0.5, 0.5, size=(2, K))
    C[:, 0] += 1.0
    return torch.as_tensor(C, dtype=dtype, device=device)


def probe(scorer: Scorer, reference: Scorer, X: torch.Tensor, C: torch.Tensor,
          module: torch.nn.Module) -> Footprint:
    """Compare a scorer's outputs with the reference's at the points ``C`` (:func:`probe_points`)
    on up to 16 samples of ``X``.

    Returns the numbers the layers of ``module``, and the model itself, output per sample and
    point (:class:`Footprint`).
    Raises :class:`Unsupported` when the scorer fails or disagrees (beyond 1e-9 of the outputs'
    scale in float64, 1e-4 otherwise).
    """
    n = min(int(X.shape[0]), 16)
    X = X[:n].clone()  # never handed to the model as a view of the user's data
    elems = [0]

    def count(_mod, _inp, out):
        if isinstance(out, torch.Tensor):
            elems[0] += out.numel()

    hooks = [m.register_forward_hook(count) for m in module.modules()
             if not list(m.children())]
    try:
        with torch.no_grad():  # a fresh copy per call: a layer may overwrite its input
            want = torch.cat([reference.outputs(C[p:p + 1], X.clone()).clone()
                              for p in range(int(C.shape[0]))])
    finally:
        for h in hooks:
            h.remove()
    try:
        with torch.no_grad():
            got = scorer.outputs(C, X.clone())
    except Unsupported:
        raise
    except Exception as exc:  # any failure of the fast scorer means: use the exact one
        raise Unsupported(f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    if got.shape != want.shape:
        raise Unsupported(f"{scorer.name} output shape {tuple(got.shape)} != "
                          f"{tuple(want.shape)}")
    tol = 1e-9 if want.dtype == torch.float64 else 1e-4
    finite = torch.isfinite(want)
    # non-finite outputs (a diverged point) must be the same non-finite values in both
    same_nonfinite = bool(torch.equal(got[~finite].nan_to_num(), want[~finite].nan_to_num())) \
        and bool(torch.isnan(got[~finite]).eq(torch.isnan(want[~finite])).all())
    scale = float(want[finite].abs().max()) + 1e-30 if bool(finite.any()) else 1.0
    err = float((got[finite] - want[finite]).abs().max()) if bool(finite.any()) else 0.0
    if not (same_nonfinite and err <= tol * scale):
        raise Unsupported(f"{scorer.name} outputs differ from the exact per-point outputs by "
                          f"{err:.3g} (a layer uses its weights outside the module, or mixes "
                          "samples)")
    per = int(C.shape[0]) * n
    return Footprint(max(elems[0] / per, 1.0), max(want.numel() / per, 1.0))
