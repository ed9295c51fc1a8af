"""The first varied Linear layer of a chain, mixed from cached basis products.

The model input is shared by all points and a Linear layer is linear in its weight and bias, so
the pre-activations of point ``p`` are ``sum_j C[p, j] A_j`` with ``A_j = B_j^W x + B_j^b``
computed once per data block (:meth:`FirstLayerMix._first_layer`, kept across chunks of points).
A grid's rows share every coefficient but the last, so a row's pre-activations are
``R + t (x) A_{K-1}``: ``R`` once per row, ``t (x) A_{K-1}`` kept for every row, and one pass with
the following ReLU fused (:meth:`FirstLayerMix._mix_runs`; scattered points get the same rounded
products and sums, :meth:`FirstLayerMix._mix_rows`; one point at a time,
:meth:`FirstLayerMix._mix_one`).
"""

from __future__ import annotations

import torch

from ._workspace import Workspace


class FirstLayerMix:
    """Caches and mixing of the first varied layer (a base of :class:`._chain.ChainPlan`)."""

    def _init_mix(self, basis: dict[str, torch.Tensor]) -> None:
        self.basis = basis
        self._first: dict[object, torch.Tensor] = {}
        self._first_bytes = 0
        self.first_cache_limit = 256 << 20
        self.workspace = Workspace()
        self._partial: tuple[object, torch.Tensor] | None = None
        self._scaled: dict[object, torch.Tensor] = {}
        self._scaled_bytes = 0
        self.scaled_cache_limit = 64 << 20
        #: mix run by run (:meth:`_mix_runs`) when runs are this long on average, else the
        #: whole pass at once (:meth:`_mix_rows`); both give the same bits
        self.runs_min = 4

    def _first_layer(self, step, x: torch.Tensor, key: object, fm: bool) -> torch.Tensor:
        """``B_j^W x (+ B_j^b)`` for every basis vector j: (K, out, n) when ``fm`` (feature-major)
        else (K, n, out); cached per key."""
        hit = self._first.get((key, fm)) if key is not None else None
        if hit is not None:
            return hit
        Bw = self.basis[step.weight]
        K, out_dim = Bw.shape[0], Bw.shape[1]
        Bb = self.basis[step.bias] if step.bias is not None else None
        if fm:
            A = torch.mm(Bw.reshape(K * out_dim, -1), x.T).reshape(K, out_dim, -1)
            if Bb is not None:
                A += Bb.unsqueeze(-1)
        else:
            A = torch.mm(x, Bw.reshape(K * out_dim, -1).T).reshape(-1, K, out_dim)
            A = A.transpose(0, 1).contiguous()
            if Bb is not None:
                A += Bb.unsqueeze(1)
        if key is not None and self._first_bytes + A.numel() * A.element_size() \
                <= self.first_cache_limit:
            self._first[(key, fm)] = A
            self._first_bytes += A.numel() * A.element_size()
        return A


    def _runs(self, C: torch.Tensor) -> list[tuple[int, int, tuple, tuple]] | None:
        """Runs of consecutive points that share every coefficient but the last (a grid's
        rows): ``(start, stop, leading coefficients, last coefficients)``."""
        rows = C.tolist()
        runs, start = [], 0
        for i in range(1, len(rows) + 1):
            if i == len(rows) or rows[i][:-1] != rows[start][:-1]:
                runs.append((start, i, tuple(rows[start][:-1]),
                             tuple(r[-1] for r in rows[start:i])))
                start = i
        return runs

    def _mix_rows(self, flat: torch.Tensor, C: torch.Tensor, out: torch.Tensor,
                  relu: bool) -> None:
        """:meth:`_mix_runs` for points without long runs (curves, scattered points): the
        same products and sums in the same order, so the same bits, over the whole pass."""
        K = flat.shape[0]
        torch.mul(C[:, :1], flat[0][None], out=out)
        if K > 1:
            tmp = self.workspace.get("mix_tmp", tuple(out.shape), flat)
            for j in range(1, K):
                torch.mul(C[:, j:j + 1], flat[j][None], out=tmp)
                if j == K - 1 and relu:
                    add_relu_out(out, tmp, out)
                    return
                out.add_(tmp)
        if relu:
            out.relu_()

    def _lead_sum(self, flat: torch.Tensor, lead: tuple, key: object) -> torch.Tensor:
        """``R = sum_{j<K-1} lead_j A_j`` as rounded products, then sums (the order of
        :meth:`_mix_rows`), kept while ``(key, lead)`` stays the same (a grid row); never kept
        without a key (the samples are then unnamed)."""
        K = flat.shape[0]
        pkey = (key, lead)
        if self._partial is None or self._partial[0] != pkey or key[0] is None:
            if K == 2 and lead[0] == 1.0:
                R = flat[0]
            else:
                R = self.workspace.get("lead_sum", tuple(flat.shape[1:]), flat)
                tmp = self.workspace.get("lead_tmp", tuple(flat.shape[1:]), flat)
                torch.mul(flat[0], lead[0], out=R)
                for j in range(1, K - 1):
                    R.add_(torch.mul(flat[j], lead[j], out=tmp))
            self._partial = (pkey, R)
        return self._partial[1]

    def _mix_runs(self, flat: torch.Tensor, runs: list, key: object, out: torch.Tensor,
                  relu: bool) -> None:
        """``out[p] = sum_j C[p, j] A_j`` run by run: ``R + S`` with ``R`` the run's leading
        part and ``S = t (x) A_{K-1}`` (t: the run's last coefficients) kept across passes and
        rows (a grid's rows share t). One pass over the output, with the ReLU that follows
        when ``relu`` (measured 4.2 against 9.3 ms per 961 points for the add-and-multiply
        product, its copy and a separate ReLU, digits MLP 64-32-10). Each point's numbers
        come out the same whatever the runs and passes."""
        K = flat.shape[0]
        for start, stop, lead, last in runs:
            skey = ("scaled", key, last)
            S = self._scaled.get(skey)
            if S is None:
                # a grid needs one or two (its rows' t, the centre's row without the centre),
                # a row split over passes one per piece
                size = len(last) * flat.shape[1] * flat.element_size()
                while self._scaled and (len(self._scaled) >= 16 or self._scaled_bytes + size
                                        > self.scaled_cache_limit):
                    gone = next(iter(self._scaled))
                    old = self._scaled.pop(gone)
                    self._scaled_bytes -= old.numel() * old.element_size()
                    self.workspace.release(gone)
                kept = size <= self.scaled_cache_limit
                S = self.workspace.get(skey if kept else "scaled_tmp",
                                       (len(last), flat.shape[1]), flat)
                t = torch.tensor(last, dtype=flat.dtype, device=flat.device)
                torch.mul(t[:, None], flat[K - 1][None], out=S)
                if kept:
                    self._scaled[skey] = S
                    self._scaled_bytes += size
            R = self._lead_sum(flat, lead, key)
            dest = out[start:stop]
            if relu:
                add_relu_out(S, R, dest)
            else:
                torch.add(S, R, out=dest)


    def _mix_one(self, flatA: torch.Tensor, c: list[float], key: object,
                 dest: torch.Tensor, relu: bool = False) -> None:
        """``dest = sum_j c_j A_j`` (then its ReLU when ``relu``), as ``partial + c_{K-1}
        A_{K-1}`` with ``partial`` kept while the coefficients before the last stay the same
        (computed the same way either way, so the bits do not depend on the order of the
        points)."""
        K = flatA.shape[0]
        if K == 1:
            torch.mul(flatA[0], c[0], out=dest)
            if relu:
                dest.relu_()
            return
        R = self._lead_sum(flatA, tuple(c[:-1]), key)
        if relu:
            add_relu_out(R, flatA[K - 1], dest, c[K - 1])
        else:
            torch.add(R, flatA[K - 1], alpha=c[K - 1], out=dest)


def add_relu_out(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor,
                  alpha: float = 1.0) -> None:
    """``out = relu(a + alpha b)`` in one pass where PyTorch has the fused kernel."""
    fused = getattr(torch.ops.aten._add_relu, "out", None) if hasattr(
        torch.ops.aten, "_add_relu") else None
    if fused is not None:
        try:
            fused(a, b, alpha=alpha, out=out)
            return
        except (RuntimeError, TypeError):
            pass
    torch.relu_(torch.add(a, b, alpha=alpha, out=out))


def combine(B: torch.Tensor, c: list[float], dest: torch.Tensor) -> None:
    """``dest = sum_j c_j B_j`` by scaled adds (measured faster than a (1 x K) @ (K x m)
    product, which runs as a slow matrix-vector kernel)."""
    if c[0] == 1.0:
        if len(c) == 1:
            dest.copy_(B[0])
            return
        torch.add(B[0], B[1], alpha=c[1], out=dest)
    else:
        torch.mul(B[0], c[0], out=dest)
        if len(c) > 1:
            dest.add_(B[1], alpha=c[1])
    for j in range(2, len(c)):
        dest.add_(B[j], alpha=c[j])


def add_relu_(h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``relu(h + bias)`` in place, in one pass where PyTorch has the fused kernel."""
    fused = getattr(torch.ops.aten, "_add_relu_", None)
    if fused is not None:
        try:
            return fused(h, bias)
        except (RuntimeError, TypeError):
            pass
    return torch.relu_(h.add_(bias))


