"""One compiled pass for a one-hidden-layer ReLU chain scored by cross-entropy.

For ``Linear -> ReLU -> Linear`` with the first layer mixed from its cached basis products
``A_j`` (see :mod:`._chain`), every point ``p`` and sample ``i`` needs

    z_h = relu(sum_j C[p, j] A_j[h, i] + b1_h),   l_c = b2[p, c] + sum_h W[p, c, h] z_h,
    loss = logsumexp_c(l_c) - l_{y_i},             hit = (argmax_c l_c == y_i).

The torch path writes ``z`` (P x hidden x n numbers), the logits and their log-softmax to memory
between operators; on a 2-core CPU with a small hidden layer that traffic, not arithmetic,
bounds it (benchmarks/README.md). Here one numba kernel does all of it per task (a point and a
block of ``BLOCK`` samples): the samples are the SIMD lanes; the hidden units are taken
``HB`` at a time, their activations written to a small scratch block and added, as one
``HB``-term sum per class, into the class's accumulator row (``classes x BLOCK`` numbers, in
L1); the loss and the hit are finished from the accumulators. Only the per-sample losses (and
hits) leave the core.

``exp`` and ``log`` are written out as polynomials so that they vectorise: ``exp(x)`` for
``x = l_c - max_c l_c`` clamped at -40 (``e^-40 < 5e-18``, below float64 resolution of the sum,
which is at least 1) as ``2^-k p(r)`` with ``x = -k ln 2 + r``, ``|r| <= ln(2)/2``, ``p`` the
Taylor polynomial and ``2^-k`` an exact product of powers of two; ``log(s)`` for ``s >= 1`` by
exact halvings to ``(1/sqrt 2, sqrt 2]`` and the series of ``2 artanh((s - 1)/(s + 1))``. The
degrees are set per dtype: float64 results agree with ``torch.log_softmax`` to a few units in
the last place, float32 ones within float32 rounding (tests/test_landscape_fused.py).

Every task computes its numbers the same way whatever else is in the pass (tasks are
(point, sample block) pairs with fixed block boundaries), so a grid's bits do not depend on how
its points are split into passes. NaN or +inf logits give a NaN loss, as ``log_softmax``
does; ``hit`` follows ``torch.argmax`` (the first maximal class, NaN counting as the maximum).

Compiled by numba on first use and cached on disk (``cache=True``), one specialisation per
dtype.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
import torch
from numba import prange
from numba.extending import overload
from numba.np.numpy_support import as_dtype

#: samples per task: ``classes x BLOCK`` accumulators stay in L1 (the kernel body writes
#: 256 and 8 as literals, so that LLVM sees constant offsets; keep them in step)
BLOCK = 256
#: hidden units per group (one HB-term update of every class row)
HB = 8
#: the largest class count and number of directions the fast path takes
MAX_CLASSES = 256
MAX_K = 16
#: scratch rows of the loss stage: max, sum of exponentials, target logit, a flag for NaN or
#: +inf, and the count of classes before the target that reach the maximum
_LOSS_ROWS = 5

_lock = threading.Lock()


def _as(value, like):  # pragma: no cover - replaced by the overload inside numba
    """``value`` converted to the float type of ``like`` (numba: int * float32 is float64)."""
    return type(like)(value)


@overload(_as)
def _as_impl(value, like):
    cast = as_dtype(like).type
    return lambda value, like: cast(value)


@numba.njit(parallel=True, fastmath={"contract"}, nogil=True, boundscheck=False, cache=True,
            error_model="numpy")
def _ce_kernel(Af, K, Hp, n, Cc, b1, W, b2, y, so, ho, want_hits, cst, ACC, ZS, LS):
    """See the module docstring. ``Af``: the basis products (K, Hp, n) flattened; ``so``/``ho``:
    (P, n) flattened outputs; ``ACC`` (threads, NC * BLOCK), ``ZS`` (threads, HB * BLOCK) and
    ``LS`` (threads, _LOSS_ROWS * BLOCK): per-thread scratch. Every array arrives as it is used
    (no views are made outside the parallel body), so numba marks them noalias and LLVM
    vectorises the sample loops without run-time overlap checks; indices are unsigned (no
    wraparound code)."""
    P = Cc.shape[0]
    NC = W.shape[1]
    un = np.uint64(n)
    nblk = (n + 255) // 256
    zero = cst[0]
    one = cst[1]
    half = cst[2]
    inv_ln2 = cst[3]
    ln2hi = cst[4]
    ln2lo = cst[5]
    xmin = cst[6]
    sqrt2 = cst[7]
    two = cst[8]
    q2 = cst[9]
    q4 = cst[10]
    q8 = cst[11]
    q16 = cst[12]
    q32 = cst[13]
    t32 = cst[14]
    t16 = cst[15]
    t8 = cst[16]
    t4 = cst[17]
    t2 = cst[18]
    inf = cst[19]
    # 1/d! for d = 0..14 and 1/(2t+1) for t = 0..11
    e0, e1, e2, e3, e4 = cst[20], cst[21], cst[22], cst[23], cst[24]
    e5, e6, e7, e8, e9 = cst[25], cst[26], cst[27], cst[28], cst[29]
    e10, e11, e12, e13, e14 = cst[30], cst[31], cst[32], cst[33], cst[34]
    g0, g1, g2, g3, g4, g5 = cst[35], cst[36], cst[37], cst[38], cst[39], cst[40]
    g6, g7, g8, g9, g10, g11 = cst[41], cst[42], cst[43], cst[44], cst[45], cst[46]
    f32 = Af.itemsize == 4
    for task in prange(P * nblk):
        p = task // nblk
        s0 = (task - p * nblk) * 256
        m = min(256, n - s0)
        um = np.uint64(m)
        us0 = np.uint64(s0)
        uo = np.uint64(p) * un + us0
        tid = numba.get_thread_id()
        S = ACC[tid]
        Z = ZS[tid]
        L = LS[tid]
        # constant offsets (LLVM sees them): Z rows and loss rows
        z1, z2, z3 = np.uint64(256), np.uint64(512), np.uint64(768)
        z4, z5, z6, z7 = np.uint64(1024), np.uint64(1280), np.uint64(1536), np.uint64(1792)
        rMX, rSE, rTT, rBD = np.uint64(0), np.uint64(256), np.uint64(512), np.uint64(768)
        rEQ = np.uint64(1024)
        for c in range(NC):
            oc = np.uint64(c * 256)
            for i in range(um):
                S[oc + i] = zero
        for hc in range(0, Hp, 8):
            hb = min(8, Hp - hc)
            for k in range(hb):
                oz = np.uint64(k * 256)
                oa = np.uint64(hc + k) * un + us0
                c0 = Cc[p, 0]
                for i in range(um):
                    Z[oz + i] = c0 * Af[oa + i]
                for j in range(1, K):
                    cj = Cc[p, j]
                    oa = np.uint64(j * Hp + hc + k) * un + us0
                    for i in range(um):
                        Z[oz + i] = Z[oz + i] + cj * Af[oa + i]
                bk = b1[hc + k]
                for i in range(um):
                    v = Z[oz + i] + bk
                    Z[oz + i] = v if not (v <= zero) else zero
            if hb == 8:
                # two classes per sweep share the activations' loads
                for c in range(0, NC - 1, 2):
                    oc = np.uint64(c * 256)
                    od = oc + np.uint64(256)
                    wc = W[p, c]
                    w0, w1, w2, w3 = wc[hc], wc[hc + 1], wc[hc + 2], wc[hc + 3]
                    w4, w5, w6, w7 = wc[hc + 4], wc[hc + 5], wc[hc + 6], wc[hc + 7]
                    wd = W[p, c + 1]
                    v0, v1, v2, v3 = wd[hc], wd[hc + 1], wd[hc + 2], wd[hc + 3]
                    v4, v5, v6, v7 = wd[hc + 4], wd[hc + 5], wd[hc + 6], wd[hc + 7]
                    for i in range(um):
                        a0 = Z[i]
                        a1 = Z[z1 + i]
                        a2 = Z[z2 + i]
                        a3 = Z[z3 + i]
                        a4 = Z[z4 + i]
                        a5 = Z[z5 + i]
                        a6 = Z[z6 + i]
                        a7 = Z[z7 + i]
                        S[oc + i] = (S[oc + i] + w0 * a0 + w1 * a1 + w2 * a2 + w3 * a3
                                     + w4 * a4 + w5 * a5 + w6 * a6 + w7 * a7)
                        S[od + i] = (S[od + i] + v0 * a0 + v1 * a1 + v2 * a2 + v3 * a3
                                     + v4 * a4 + v5 * a5 + v6 * a6 + v7 * a7)
                if NC % 2 == 1:
                    c = NC - 1
                    oc = np.uint64(c * 256)
                    wc = W[p, c]
                    w0, w1, w2, w3 = wc[hc], wc[hc + 1], wc[hc + 2], wc[hc + 3]
                    w4, w5, w6, w7 = wc[hc + 4], wc[hc + 5], wc[hc + 6], wc[hc + 7]
                    for i in range(um):
                        S[oc + i] = (S[oc + i] + w0 * Z[i] + w1 * Z[z1 + i] + w2 * Z[z2 + i]
                                     + w3 * Z[z3 + i] + w4 * Z[z4 + i] + w5 * Z[z5 + i]
                                     + w6 * Z[z6 + i] + w7 * Z[z7 + i])
            else:
                for k in range(hb):
                    oz = np.uint64(k * 256)
                    for c in range(NC):
                        oc = np.uint64(c * 256)
                        wk = W[p, c, hc + k]
                        for i in range(um):
                            S[oc + i] = S[oc + i] + wk * Z[oz + i]
        # the bias after the products, as a Linear layer adds it (a large bias then does not
        # take the products' low bits)
        for c in range(NC):
            oc = np.uint64(c * 256)
            bc = b2[p, c]
            for i in range(um):
                S[oc + i] = S[oc + i] + bc
        # the loss: max, target logit and bad flags, then the sum of exponentials, then log
        for i in range(um):
            v = S[i]
            L[rMX + i] = v
            L[rSE + i] = zero
            L[rTT + i] = v
            L[rBD + i] = zero if v < inf else one
            L[rEQ + i] = zero
        for c in range(1, NC):
            oc = np.uint64(c * 256)
            for i in range(um):
                v = S[oc + i]
                mo = L[rMX + i]
                L[rMX + i] = v if v > mo else mo
                L[rTT + i] = v if y[us0 + i] == c else L[rTT + i]
                L[rBD + i] = L[rBD + i] if v < inf else one
        for c in range(NC):
            oc = np.uint64(c * 256)
            for i in range(um):
                x = S[oc + i] - L[rMX + i]
                # classes before the target that reach the maximum (argmax takes the first)
                eq = one if x == zero else zero
                L[rEQ + i] = L[rEQ + i] + (eq if y[us0 + i] > c else zero)
                x = x if x > xmin else xmin
                k = np.int32(x * (-inv_ln2) + half)
                kf = _as(k, one)
                r = (x + kf * ln2hi) + kf * ln2lo
                if f32:
                    pr = (((((((e8 * r + e7) * r + e6) * r + e5) * r + e4) * r + e3) * r + e2)
                          * r + e1) * r + e0
                else:
                    pr = (((((((((((((e14 * r + e13) * r + e12) * r + e11) * r + e10) * r + e9)
                                 * r + e8) * r + e7) * r + e6) * r + e5) * r + e4) * r + e3)
                           * r + e2) * r + e1) * r + e0
                sc = one
                sc = sc * half if (k & 1) != 0 else sc
                sc = sc * q2 if (k & 2) != 0 else sc
                sc = sc * q4 if (k & 4) != 0 else sc
                sc = sc * q8 if (k & 8) != 0 else sc
                sc = sc * q16 if (k & 16) != 0 else sc
                sc = sc * q32 if (k & 32) != 0 else sc
                L[rSE + i] = L[rSE + i] + sc * pr
        for i in range(um):
            s = L[rSE + i]
            ex = zero
            big = s >= t32
            s = s * q32 if big else s
            ex = ex + _as(32, one) if big else ex
            big = s >= t16
            s = s * q16 if big else s
            ex = ex + _as(16, one) if big else ex
            big = s >= t8
            s = s * q8 if big else s
            ex = ex + _as(8, one) if big else ex
            big = s >= t4
            s = s * q4 if big else s
            ex = ex + _as(4, one) if big else ex
            big = s >= t2
            s = s * q2 if big else s
            ex = ex + _as(2, one) if big else ex
            big = s >= two
            s = s * half if big else s
            ex = ex + one if big else ex
            big = s > sqrt2
            s = s * half if big else s
            ex = ex + one if big else ex
            u = (s - one) / (s + one)
            u2 = u * u
            if f32:
                ser = ((((g5 * u2 + g4) * u2 + g3) * u2 + g2) * u2 + g1) * u2 + g0
            else:
                ser = ((((((((((g11 * u2 + g10) * u2 + g9) * u2 + g8) * u2 + g7) * u2 + g6)
                            * u2 + g5) * u2 + g4) * u2 + g3) * u2 + g2) * u2 + g1) * u2 + g0
            lg = ex * ln2hi + (ex * ln2lo + (two * u) * ser)
            mxi = L[rMX + i]
            v = lg - (L[rTT + i] - mxi)     # as log_softmax: (l_y - max) first
            bad = (L[rBD + i] != zero) | (mxi == -inf)
            L[rSE + i] = v if not bad else (mxi - mxi) * inf
        for i in range(um):
            so[uo + i] = L[rSE + i]
        if want_hits:
            # finite logits: a hit is the target reaching the maximum first
            for i in range(um):
                first = (L[rTT + i] == L[rMX + i]) & (L[rEQ + i] == zero)
                ho[uo + i] = one if first else zero
            # NaN, +inf or all -inf (rare): torch.argmax's rule, the first maximum with NaN
            # counting as the maximum, class by class
            for i in range(um):
                if L[rBD + i] != zero or L[rMX + i] == -inf:
                    best = S[i]
                    bi = 0
                    for c in range(1, NC):
                        v = S[np.uint64(c * 256) + i]
                        if best == best and (v != v or v > best):
                            best = v
                            bi = c
                    ho[uo + i] = one if bi == y[us0 + i] else zero


_LN2HI = 0.693145751953125     # 11 significant bits


def constants(dtype: np.dtype) -> np.ndarray:
    vals = [0.0, 1.0, 0.5, 1.0 / math.log(2.0),
            # ln 2 split so that k * ln2hi is exact for the k that occur (Cody and Waite)
            _LN2HI, math.log(2.0) - _LN2HI,
            -40.0, math.sqrt(2.0), 2.0,
            0.25, 2.0 ** -4, 2.0 ** -8, 2.0 ** -16, 2.0 ** -32,
            2.0 ** 32, 2.0 ** 16, 2.0 ** 8, 2.0 ** 4, 2.0 ** 2, math.inf]
    vals += [1.0 / math.factorial(d) for d in range(15)]
    vals += [1.0 / (2 * t + 1) for t in range(12)]
    return np.asarray(vals, dtype=dtype)


_CONSTANTS = {np.float32: constants(np.float32), np.float64: constants(np.float64)}


def supported(K: int, NC: int, dtype: torch.dtype) -> bool:
    """Whether :func:`ce_pass` takes this configuration."""
    return 1 <= K <= MAX_K and 2 <= NC <= MAX_CLASSES and dtype in (torch.float32,
                                                                     torch.float64)


def ce_pass(A: torch.Tensor, C: torch.Tensor, b1: torch.Tensor | None, W: torch.Tensor,
            b2: torch.Tensor, y: torch.Tensor, accuracy: bool
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-sample cross-entropy (P, n) and, with ``accuracy``, hits (P, n) of the points C.

    ``A``: the first layer's basis products, feature-major (K, hidden, n), bias included when
    it varies; ``b1``: a first-layer bias that does not vary, else None; ``W`` (P, classes,
    hidden) and ``b2`` (P, classes): the last layer at each point; ``y``: integer labels (n,).
    CPU tensors of one dtype (float32 or float64).
    """
    K, H, n = (int(d) for d in A.shape)
    P, NC = int(W.shape[0]), int(W.shape[1])
    npd = np.float64 if A.dtype == torch.float64 else np.float32
    threads = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    T = numba.config.NUMBA_NUM_THREADS
    arr = lambda t: t.detach().contiguous().numpy()  # noqa: E731
    s = torch.empty((P, n), dtype=A.dtype)
    hits = torch.empty((P, n), dtype=A.dtype) if accuracy else torch.empty(1, dtype=A.dtype)
    b1n = arr(b1) if b1 is not None else np.zeros(H, dtype=npd)
    acc = np.empty((T, NC * BLOCK), dtype=npd)
    zs = np.empty((T, HB * BLOCK), dtype=npd)
    ls = np.empty((T, _LOSS_ROWS * BLOCK), dtype=npd)
    with _lock:  # numba's thread count is process-wide
        numba.set_num_threads(threads)
        _ce_kernel(arr(A).reshape(-1), K, H, n, arr(C), b1n, arr(W), arr(b2),
                   arr(y.to(torch.int64)), s.numpy().reshape(-1), hits.numpy().reshape(-1),
                   bool(accuracy), _CONSTANTS[npd], acc, zs, ls)
    return s, (hits if accuracy else None)
