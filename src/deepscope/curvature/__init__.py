"""Curvature of a model's loss: exact matrix-free operators and solvers with error bars.

Operators (each ``Op(model, loss_fn, data, params=None, bn="eval", ...)``; ``op @ v`` for a flat
vector of length P, ``op @ V`` for a P x k matrix in one batched pass, ``op.shape``,
``op.to_dense()``, ``op.to_scipy()``):

- :class:`HessianOperator`: the exact Hessian (R-operator, double backward with or without a
  kept graph, or forward-over-reverse; ``mode="auto"`` picks by the model's structure).
- :class:`GGNOperator`: the generalised Gauss-Newton matrix ``J^T H_L J``.
- :class:`EmpiricalFisherOperator`: ``(1/N) sum_i g_i g_i^T``.
- :class:`GaussNewtonResidualOperator`: ``R = H - G``; :func:`gauss_newton_decomposition`.
- :class:`SubspaceOperator`, :class:`BlockDiagonalOperator`: per-layer blocks.
- :class:`DenseOperator`: a matrix behind the same protocol.

Every operator has ``.mode`` (its resolved product mode) and ``.path`` (``"<class>:<mode>"``).

Solvers (each result carries ``n_matvecs``, wall time, its uncertainty and the operator's
``path``; ``result.to_dict()`` is its JSON-ready form):

- :func:`eigenvalues`: Lanczos with full reorthogonalisation in float64, restarted for top-k,
  every pair checked by its true residual.
- :func:`trace`: Hutch++ or Hutchinson, stopping on a confidence interval.
- :func:`spectral_density`: stochastic Lanczos quadrature, probes batched.
- :func:`bulk_and_outliers`: the top-k eigenvalues exactly (Lanczos), then SLQ on the deflated
  operator for the bulk; :func:`wasserstein1` scores any such measure against an exact spectrum.
- :func:`hessian_index`: the fraction of negative eigenvalues, exact or estimated with its error.
- :func:`diagonal`: the diagonal by Hutchinson's estimator or its low-rank-deflated variant, with
  a standard error per entry; :func:`ggn_diagonal`: the exact GGN diagonal of a sequential
  network in one backward pass.
- :func:`find_critical_point`: a critical point of any index by Levenberg-Marquardt on the
  gradient (minimising ||grad L||^2 with Hessian products), with its loss, gradient norm and index.
- :func:`free_index`, :func:`critical_epsilon`, :func:`critical_epsilon_closed_form`: the index of
  a Wishart-plus-Wigner Hessian by free additive convolution (Pennington and Bahri's model).
- :class:`CurvatureTracker`: the top eigenvalues (and optionally the trace) every N training
  steps, Lanczos warm-started from the previous eigenvectors, with its overhead in products.

Data parallel: every model operator takes ``distributed=True`` (or a process group); each process
passes its shard of the batches (:func:`shard_batches`), and every product is the local product
followed by one all-reduce, so the solvers run unchanged and agree on every rank.

Attention: every product runs ``scaled_dot_product_attention`` through its math backend (the fused
CPU kernels have no double backward); :func:`differentiable_attention` is that context for code of
one's own (e.g. a gradient to compare a product with).

A flat vector lists the selected parameters in ``model.named_parameters()`` order.
"""

from __future__ import annotations

from ._autodiff import differentiable_attention
from ._base import CurvatureLinearOperator, DenseOperator, ScaledSumOperator
from ._blocks import (
    BlockDiagonalOperator,
    SubspaceOperator,
    parameter_groups,
)
from ._critical import CriticalPoint, LossFunction, find_critical_point
from ._decomposition import (
    GaussNewtonDecomposition,
    gauss_newton_decomposition,
)
from ._density import SpectralDensity, spectral_density
from ._diagonal import DiagonalEstimate, diagonal, ggn_diagonal
from ._distributed import (
    DataParallel,
    DistributedFailure,
    shard_batches,
    torchrun_environment,
)
from ._free_probability import (
    critical_epsilon,
    critical_epsilon_closed_form,
    free_index,
    mp_semicircle_density,
    sample_negative_counts,
)
from ._ggn import EmpiricalFisherOperator, GGNOperator
from ._hessian import GaussNewtonResidualOperator, HessianOperator
from ._index import HessianIndex, hessian_index
from ._lanczos import EigenResult, eigenvalues
from ._outliers import BulkOutlierSpectrum, bulk_and_outliers, wasserstein1
from ._trace import TraceEstimate, trace
from ._tracking import CurvatureTracker, TrackingOverhead, TrackRecord

__all__ = [
    # operators
    "HessianOperator",
    "differentiable_attention",
    "GGNOperator",
    "EmpiricalFisherOperator",
    "GaussNewtonResidualOperator",
    "GaussNewtonDecomposition",
    "gauss_newton_decomposition",
    "SubspaceOperator",
    "BlockDiagonalOperator",
    "parameter_groups",
    "CurvatureLinearOperator",
    "DenseOperator",
    "ScaledSumOperator",
    # solvers
    "eigenvalues",
    "EigenResult",
    "trace",
    "TraceEstimate",
    "spectral_density",
    "SpectralDensity",
    "hessian_index",
    "HessianIndex",
    "bulk_and_outliers",
    "BulkOutlierSpectrum",
    "wasserstein1",
    "diagonal",
    "DiagonalEstimate",
    "ggn_diagonal",
    "CurvatureTracker",
    "shard_batches",
    "DataParallel",
    "DistributedFailure",
    "torchrun_environment",
    "find_critical_point",
    "CriticalPoint",
    "LossFunction",
    "free_index",
    "critical_epsilon",
    "critical_epsilon_closed_form",
    "mp_semicircle_density",
    "sample_negative_counts",
    "TrackRecord",
    "TrackingOverhead",
]
