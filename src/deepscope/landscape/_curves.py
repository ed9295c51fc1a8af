"""Mode connectivity: low-loss curves between two models, trained on parameter tensors.

A curve ``phi(t)``, ``t in [0, 1]``, joins ``theta_a = phi(0)`` and ``theta_b = phi(1)`` through
``m`` bends ``theta_1 .. theta_m`` (flat parameter vectors, trained directly; no special layers):

- ``"bezier"``: ``phi(t) = sum_{j=0}^{m+1} binom(m+1, j) t^j (1-t)^{m+1-j} theta_j``.
- ``"polychain"``: the broken line through ``theta_a, theta_1, .., theta_m, theta_b`` at
  ``t = j / (m + 1)``.

Both are linear in the control points, ``phi(t) = sum_j c_j(t) theta_j`` with ``c(0) = e_0`` and
``c(1) = e_{m+1}`` exactly, so the ends reproduce the two models bit for bit. The bends minimise
``E_{t ~ U(0, 1)} L(phi(t))`` by Adam with one ``t`` (and one data batch, cycling) per step, from
the straight line plus a small seeded perturbation that breaks symmetric saddles.

References:
    Garipov, Izmailov, Podoprikhin, Vetrov & Wilson, 'Loss surfaces, mode connectivity, and fast
    ensembling of DNNs', NeurIPS 2018. Draxler et al., 'Essentially no barriers in neural network
    energy landscape', ICML 2018.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from math import comb
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserInputError
from ..problem import Problem
from ._directions import check_same_architecture, flat_parameters, trainable_names
from ._grid import _run_chunks, axis, barrier_heights, make_evaluator, parse_grid

CURVES = ("bezier", "polychain")


def curve_coefficients(kind: str, t: Any, n_bends: int) -> np.ndarray:
    """c(t): the (n, n_bends + 2) weights of the control points at each ``t``."""
    if kind not in CURVES:
        raise UserInputError(f"curve kind must be one of {', '.join(CURVES)}, got {kind!r}")
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    m = n_bends + 1
    j = np.arange(m + 1)
    if kind == "bezier":
        binom = np.array([comb(m, i) for i in j], dtype=np.float64)
        return binom * t[:, None] ** j * (1 - t[:, None]) ** (m - j)
    return np.maximum(0.0, 1.0 - np.abs(t[:, None] * m - j))


def _torch_coefficients(kind: str, t: torch.Tensor, n_bends: int) -> torch.Tensor:
    m = n_bends + 1
    j = torch.arange(m + 1, dtype=t.dtype)
    if kind == "bezier":
        binom = torch.tensor([float(comb(m, i)) for i in range(m + 1)], dtype=t.dtype)
        return binom * t ** j * (1 - t) ** (m - j)
    return torch.clamp(1.0 - (t * m - j).abs(), min=0.0)


@dataclasses.dataclass
class ConnectivityCurve:
    """A trained curve: control points ``[theta_a, bends..., theta_b]`` (flat).

    Attributes:
        kind: ``"bezier"`` or ``"polychain"``.
        control: (n_bends + 2, P) tensor.
        names, shapes: the parameter layout of the flat vectors.
        history: training loss per step.
    """

    kind: str
    control: torch.Tensor
    names: list[str]
    shapes: list[tuple[int, ...]]
    history: np.ndarray

    @property
    def n_bends(self) -> int:
        return int(self.control.shape[0]) - 2

    def coefficients(self, t: Any) -> np.ndarray:
        return curve_coefficients(self.kind, t, self.n_bends)

    def point(self, t: float) -> torch.Tensor:
        """The flat parameters ``phi(t)``."""
        c = torch.as_tensor(self.coefficients(t)[0], dtype=self.control.dtype)
        return c @ self.control

    def parameters_at(self, t: float) -> dict[str, torch.Tensor]:
        """``phi(t)`` as a dict for ``torch.func.functional_call``."""
        numels = [int(np.prod(s)) for s in self.shapes]
        return {n: p.reshape(s) for n, p, s in
                zip(self.names, torch.split(self.point(t), numels), self.shapes)}


@dataclasses.dataclass
class CurveResult:
    """The loss along a curve: ``t``, values, ``max_loss`` and the barrier above the chord."""

    t: np.ndarray
    values: dict[str, np.ndarray]
    max_loss: float
    barrier: float
    method: str
    #: the scorers that scored the points (the endpoints exactly), as ``LandscapeResult.scorer``
    scorer: str = ""

    @property
    def loss(self) -> np.ndarray:
        return self.values["loss"]


def fit_curve(model_a: nn.Module, model_b: nn.Module, loss_fn: Any, data: Any,
              kind: str = "bezier", n_bends: int = 1, *, n_steps: int = 500, lr: float = 1e-2,
              seed: int = 0, jitter: float = 1e-2, dtype: torch.dtype | None = None,
              loss_form: str = "auto", state: dict[str, np.ndarray] | None = None,
              checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None,
              checkpoint_every: int = 50) -> ConnectivityCurve:
    """Train the bends of a curve between two models (see the module docstring).

    Args:
        model_a, model_b: the endpoints (same architecture; never modified).
        loss_fn, data: as for the curvature operators.
        kind: ``"bezier"`` or ``"polychain"``.
        n_bends: number of trainable control points (>= 1).
        n_steps, lr: Adam steps and learning rate.
        seed: seed of the ``t`` samples and of the initial perturbation.
        jitter: initial perturbation of the bends, relative to ``||theta_b - theta_a||``.
        dtype: train in this dtype.

    BatchNorm layers use batch statistics during training; evaluate the result with
    ``bn="recompute"``.

    Resuming: ``checkpoint(state)`` is called every ``checkpoint_every`` steps with the training
    state as plain arrays (bends, Adam moments, step, loss history); passing such a ``state``
    back continues from it, and the result is bit-identical to an uninterrupted run (the ``t``
    samples are redrawn from the seed up to the saved step).
    """
    check_same_architecture(model_a, model_b)
    if kind not in CURVES:
        raise UserInputError(f"curve kind must be one of {', '.join(CURVES)}, got {kind!r}")
    if isinstance(n_bends, bool) or not isinstance(n_bends, int) or n_bends < 1:
        raise UserInputError(f"n_bends must be an integer >= 1, got {n_bends!r}")
    if n_steps < 0 or not lr > 0:
        raise UserInputError("n_steps must be >= 0 and lr > 0")
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model_a.modules())
    problem = Problem(model_a, loss_fn, data, params=None, bn="batch" if has_bn else "eval",
                        dtype=dtype, loss_form=loss_form)
    names = trainable_names(model_a)
    a = flat_parameters(model_a, names).to(problem.dtype)
    b = flat_parameters(model_b, names).to(problem.dtype)
    gen = torch.Generator().manual_seed(int(seed))
    scale = float((b - a).norm()) * jitter / max(float(a.numel()) ** 0.5, 1.0)
    m = n_bends + 1
    init = torch.stack([a + (j / m) * (b - a) for j in range(1, m)])
    noise = torch.randn(init.shape, generator=gen, dtype=torch.float64).to(init.dtype)
    bends = (init + scale * noise).requires_grad_(True)
    opt = torch.optim.Adam([bends], lr=lr)
    rng = np.random.default_rng(seed)
    history = np.empty(n_steps)
    batches = list(problem.iter_batches())
    first = 0
    if state is not None:
        first = _restore_curve_state(state, bends, opt, history, rng)
    for step in range(first, n_steps):
        if checkpoint is not None and step > first and step % max(int(checkpoint_every), 1) == 0:
            checkpoint(_curve_state(bends, opt, history, step))
        t = torch.tensor(rng.uniform(), dtype=problem.dtype)
        c = _torch_coefficients(kind, t, n_bends)
        flat = c[0] * a + c[-1] * b + c[1:-1] @ bends
        batch, _ = batches[step % len(batches)]
        with torch.enable_grad():
            loss = problem.batch_loss(problem.split(flat), batch)
            opt.zero_grad()
            loss.backward()
        opt.step()
        history[step] = float(loss.detach())
    if not np.all(np.isfinite(history)):
        raise UserInputError("curve training diverged (non-finite loss); lower lr")
    if checkpoint is not None and n_steps > first:
        checkpoint(_curve_state(bends, opt, history, n_steps))
    control = torch.cat([a[None], bends.detach(), b[None]])
    named = dict(model_a.named_parameters())
    return ConnectivityCurve(kind, control, names, [tuple(named[n].shape) for n in names],
                             history)


def _curve_state(bends: torch.Tensor, opt: torch.optim.Optimizer, history: np.ndarray,
                 step: int) -> dict[str, np.ndarray]:
    """The training state after ``step`` steps, as arrays (no pickle)."""
    out = {"step": np.array(step), "bends": bends.detach().cpu().numpy().copy(),
           "history": history[:step].copy()}
    st = opt.state.get(bends, {})
    if st:
        out["adam_step"] = st["step"].cpu().numpy().copy()
        out["adam_exp_avg"] = st["exp_avg"].cpu().numpy().copy()
        out["adam_exp_avg_sq"] = st["exp_avg_sq"].cpu().numpy().copy()
    return out


def _restore_curve_state(state: dict[str, np.ndarray], bends: torch.Tensor,
                         opt: torch.optim.Optimizer, history: np.ndarray,
                         rng: np.random.Generator) -> int:
    try:
        step = int(state["step"])
        saved = np.asarray(state["bends"])
        past = np.asarray(state["history"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise UserInputError("corrupt curve checkpoint: fields missing") from None
    if saved.shape != tuple(bends.shape) or not 0 <= step <= len(history) \
            or past.shape != (step,):
        raise UserInputError("the curve checkpoint does not match this model, number of bends "
                             "or number of steps")
    with torch.no_grad():
        bends.copy_(torch.from_numpy(saved).to(bends.dtype))
    if "adam_step" in state:
        opt.state[bends] = {
            "step": torch.from_numpy(np.array(state["adam_step"])),
            "exp_avg": torch.from_numpy(np.array(state["adam_exp_avg"])).to(bends.dtype),
            "exp_avg_sq": torch.from_numpy(np.array(state["adam_exp_avg_sq"])).to(bends.dtype)}
    history[:step] = past
    rng.uniform(size=step)  # the t samples already used
    return step


def evaluate_curve(curve: ConnectivityCurve, model: nn.Module, loss_fn: Any, data: Any,
                   n_points: int = 61, bn: str = "frozen", *, done: np.ndarray | None = None,
                   values: dict[str, np.ndarray] | None = None,
                   on_chunk: Callable[[np.ndarray, dict[str, np.ndarray]], None] | None = None,
                   evaluator: Any = None, **options: Any) -> CurveResult:
    """The loss (and metrics) along a curve at ``n_points`` evenly spaced ``t``.

    ``done``, ``values``, ``on_chunk`` and ``evaluator`` (basis ``curve.control``) resume and
    record the points as :func:`~.grid.evaluate_grid` does.
    """
    n = parse_grid(n_points, 1)[0]
    t = axis(n, 0.0, 1.0)
    if trainable_names(model) != curve.names:
        raise UserInputError("the curve was trained for another architecture")
    ev = evaluator if evaluator is not None else make_evaluator(
        model, loss_fn, data, curve.control, bn=bn, **options)
    coeffs = curve.coefficients(t)
    values = _run_chunks(ev, coeffs, (n,), done, values, on_chunk)
    barrier, _ = barrier_heights(t, values["loss"])
    return CurveResult(t, values, float(np.max(values["loss"])), barrier, ev.method_,
                       ev.describe(coeffs))
