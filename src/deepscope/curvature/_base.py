"""The linear-operator protocol every curvature operator and solver shares.

An operator is a symmetric P x P matrix that is only available through products. Subclasses
implement ``_matmat(V)`` for a ``(P, k)`` tensor; ``op @ v`` (a length-P vector) and ``op @ V``
(a ``P x k`` matrix, all k columns in one batched pass) are derived from it. Solvers in this
package rely only on ``shape``, ``dtype``, ``device`` and ``@``.

The flat-vector convention (part of the contract): a vector of length P lists the selected
parameters in the order ``model.named_parameters()`` gives them, each flattened row-major.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import UserInputError

DEFAULT_MAX_DENSE = 20_000


class CurvatureLinearOperator:
    """Base class: a symmetric linear operator on flat parameter vectors.

    Attributes:
        shape: ``(P, P)``.
        dtype: the torch dtype of products.
        device: the torch device of products.
        n_matvecs: number of single-vector products applied so far (a ``P x k`` product counts k).
        mode: how a product is computed (the resolved product mode of a model operator, e.g.
            ``"pearlmutter"``; ``"dense"`` for a matrix in memory).
        path: ``"<class>:<mode>"``, the algorithm behind a product, which every solver's result
            records.
    """

    #: how a product is computed (subclasses with several ways set the one they resolved)
    mode: str = "matmat"

    def __init__(self, size: int, dtype: torch.dtype, device: torch.device | str = "cpu"):
        self._size = int(size)
        self.dtype = dtype
        self.device = torch.device(device)
        self.n_matvecs = 0

    @property
    def shape(self) -> tuple[int, int]:
        return (self._size, self._size)

    @property
    def path(self) -> str:
        """The algorithm behind a product: ``"<class>:<mode>"``."""
        return f"{type(self).__name__}:{self.mode}"

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __matmul__(self, other: Any) -> Any:
        as_numpy = isinstance(other, np.ndarray)
        V = torch.as_tensor(other)
        if V.ndim not in (1, 2) or V.shape[0] != self._size:
            raise UserInputError(
                f"operator of shape {self.shape} cannot multiply an array of shape "
                f"{tuple(V.shape)}"
            )
        vector = V.ndim == 1
        M = V.reshape(self._size, -1).to(device=self.device, dtype=self.dtype)
        out = self._matmat(M) if M.shape[1] else M.clone()
        self.n_matvecs += M.shape[1]
        out = out.reshape(-1) if vector else out
        return out.cpu().numpy() if as_numpy else out

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self @ v

    def to_dense(self, max_size: int = DEFAULT_MAX_DENSE, chunk: int = 64) -> torch.Tensor:
        """The P x P matrix, built from products with identity columns (small models only)."""
        P = self._size
        if P > max_size:
            gib = P * P * torch.finfo(self.dtype).bits / 8 / 2**30
            raise UserInputError(
                f"operator with {P:,} parameters is too big for to_dense() "
                f"({gib:.1f} GiB; limit max_size={max_size:,})"
            )
        cols = []
        for start in range(0, P, chunk):
            stop = min(P, start + chunk)
            E = torch.zeros(P, stop - start, dtype=self.dtype, device=self.device)
            E[torch.arange(start, stop), torch.arange(stop - start)] = 1
            cols.append(self @ E)
        return torch.cat(cols, dim=1)

    def to_scipy(self):
        """A ``scipy.sparse.linalg.LinearOperator`` view (float64 numpy in and out)."""
        from scipy.sparse.linalg import LinearOperator

        np_dtype = np.float64 if self.dtype == torch.float64 else np.float32

        def matmat(X: np.ndarray) -> np.ndarray:
            X = np.asarray(X)
            out = self @ torch.from_numpy(np.ascontiguousarray(X, dtype=np_dtype))
            return out.detach().cpu().numpy()

        return LinearOperator(
            self.shape, matvec=matmat, matmat=matmat, rmatvec=matmat, rmatmat=matmat,
            dtype=np_dtype,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(P={self._size:,}, dtype={self.dtype})"


class DenseOperator(CurvatureLinearOperator):
    """A symmetric matrix held in memory, behind the operator protocol (tests, small models)."""

    mode = "dense"

    def __init__(self, matrix: torch.Tensor | np.ndarray):
        M = torch.as_tensor(matrix)
        if M.ndim != 2 or M.shape[0] != M.shape[1]:
            raise UserInputError(f"DenseOperator needs a square matrix, got {tuple(M.shape)}")
        if not M.is_floating_point():
            M = M.to(torch.float64)
        super().__init__(M.shape[0], M.dtype, M.device)
        self.matrix = M

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.matrix @ V


class ScaledSumOperator(CurvatureLinearOperator):
    """``sum_i c_i A_i`` for operators of equal shape (e.g. the residual H - G)."""

    mode = "sum"

    def __init__(self, terms: list[tuple[float, CurvatureLinearOperator]]):
        if not terms:
            raise ValueError("need at least one term")
        size = terms[0][1].shape[0]
        if any(op.shape[0] != size for _, op in terms):
            raise UserInputError("operators in a sum must have the same shape")
        super().__init__(size, terms[0][1].dtype, terms[0][1].device)
        self.terms = terms

    @property
    def path(self) -> str:
        inner = ", ".join(f"{coef:g} * {getattr(op, 'path', type(op).__name__)}"
                          for coef, op in self.terms)
        return f"{type(self).__name__}({inner})"

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = None
        for coef, op in self.terms:
            term = coef * (op @ V)
            out = term if out is None else out + term
        return out


def check_finite(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise UserInputError(f"{what} is not finite ({value}); check the model, data and loss")
