"""Optional accelerator for the CPU affine apply: one fused pass per row range, compiled by numba.

Imported lazily by ``_cpu.py`` (only when numba is installed and an apply is large enough), so
``import tinygrad_norm`` never pays numba's import. NumPy has no fused multiply-add ufunc, so its
apply needs two passes per block and is bound by the in-cache arithmetic of the second; this loop
reads x and writes out once.

Rounding matches the NumPy path exactly: the same float operations in the same order, each rounded
to the array's dtype (no ``fastmath``, so no FMA contraction), and true division for the inverse.
``error_model="numpy"`` makes a zero divisor give inf/NaN as NumPy does (not raise), and keeps the
loop vectorizable.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

CompileError = numba.core.errors.NumbaError  # what a kernel that fails to build raises at its first call
_PREFETCH_BYTES = 4096  # how far ahead of the current row to prefetch (measured: 2-8 KiB alike)


def _prefetch(write: bool):
    """``prefetch(a, i, j)``: hint the cache line of ``a[i, j]`` in (``prefetchw`` when ``write``)."""

    @intrinsic
    def prefetch(typingctx, arr, i, j):
        def codegen(context, builder, signature, args):
            arrty = signature.args[0]
            ary = context.make_array(arrty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, arrty, ary, args[1:], wraparound=False)
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            # (address, 0 read / 1 write, locality 3 = keep in all cache levels, 1 = data cache)
            builder.call(fn, [ptr, ir.Constant(i32, int(write)), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(arr, i, j), codegen

    return prefetch


_prefetch_read, _prefetch_write = _prefetch(False), _prefetch(True)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def affine_rows(x, out, shift, scale, offset, lo, hi, inverse, has_offset, prefetch):  # pragma: no cover
    """Rows lo..hi of ``out = (x - shift) * scale (+ offset)`` or ``(x (- offset)) / scale + shift``.

    With ``prefetch``, each row first requests the cache lines of the row ~4 KiB ahead, of x to read
    and of out to write: the hardware prefetcher alone keeps too few misses in flight for one core to
    stream at memory speed (2 threads, float32: 1M x 64 23 -> 19 ms, below a 2-thread np.copyto;
    100k x 512 19.5 -> 16.8 ms). Data already in cache only pays for the extra instructions.
    """
    d = x.shape[1]
    ahead = max(1, _PREFETCH_BYTES // max(1, d * x.itemsize))
    line = max(1, 64 // x.itemsize)
    for i in range(lo, hi):
        if prefetch and i + ahead < hi:
            for j in range(0, d, line):
                _prefetch_read(x, i + ahead, j)
                _prefetch_write(out, i + ahead, j)
        src, dst = x[i], out[i]
        if inverse:
            if has_offset:
                for j in range(d):
                    dst[j] = (src[j] - offset[j]) / scale[j] + shift[j]
            else:
                for j in range(d):
                    dst[j] = src[j] / scale[j] + shift[j]
        elif has_offset:
            for j in range(d):
                dst[j] = (src[j] - shift[j]) * scale[j] + offset[j]
        else:
            for j in range(d):
                dst[j] = (src[j] - shift[j]) * scale[j]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def shifted_sums(x, shift, s1, s2):  # pragma: no cover
    """Per column of a block: ``s1 = sum(x - shift)`` and ``s2 = sum((x - shift) ** 2)``, in float64.

    The CPU moments of ``_cpu._block_moments`` in one read of the block and no float64 copy of it (the
    NumPy path writes and reads one, 2x the block's bytes): the same shifted sums, summed row by row.
    The loop over columns vectorizes; each column keeps its own running sums, so no reassociation is
    needed (no ``fastmath``).
    """
    d = x.shape[1]
    for j in range(d):
        s1[j] = 0.0
        s2[j] = 0.0
    for i in range(x.shape[0]):
        row = x[i]
        for j in range(d):
            v = np.float64(row[j]) - shift[j]
            s1[j] += v
            s2[j] += v * v


@numba.njit(nogil=True, cache=True, error_model="numpy")
def shifted_sums_minmax(x, shift, s1, s2, lo, hi):  # pragma: no cover
    """``shifted_sums`` and, in the same read of the block, each column's running min and max: ``lo`` and
    ``hi`` (of x's dtype) are lowered/raised, not reset, so a thread keeps one pair over all its blocks.

    s1 and s2 are summed exactly as ``shifted_sums`` sums them (the same numbers). The min and max are
    their own short loops over the row (still in L1): fused into the sums' loop, LLVM does not vectorize
    it (1M x 64 float32, 2 threads: 27.8 ms, vs 22.5 ms this way and 18.5 ms for the sums alone). A NaN
    fails both comparisons, so it never enters lo/hi: the caller finds it by the sums, which it makes NaN.
    """
    d = x.shape[1]
    for j in range(d):
        s1[j] = 0.0
        s2[j] = 0.0
    for i in range(x.shape[0]):
        row = x[i]
        for j in range(d):
            v = np.float64(row[j]) - shift[j]
            s1[j] += v
            s2[j] += v * v
        for j in range(d):
            if row[j] < lo[j]:
                lo[j] = row[j]
        for j in range(d):
            if row[j] > hi[j]:
                hi[j] = row[j]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def erf_flat(x, out):  # pragma: no cover
    """``out[i] = erf(x[i])`` over 1-D arrays, evaluated in float64 and rounded once to out's dtype (the
    values ``math.erf``, the NumPy fallback of ``_cpu.NumpyBackend.erf``, gives to within an ulp)."""
    for i in range(x.shape[0]):
        out[i] = math.erf(np.float64(x[i]))


@numba.njit(nogil=True, cache=True, error_model="numpy")
def bias_relu_rows(out, bias, lo, hi, relu):  # pragma: no cover
    """Rows lo..hi of ``out += bias`` and then, with ``relu``, ``out = max(out, 0)``, in place: one pass over
    a layer's product instead of NumPy's two (NaN stays NaN, as in np.maximum)."""
    d = out.shape[1]
    for i in range(lo, hi):
        row = out[i]
        for j in range(d):
            v = row[j] + bias[j]
            if relu and v < 0:
                v = 0
            row[j] = v


@numba.njit(nogil=True, cache=True, error_model="numpy")
def relu_rows(out, lo, hi):  # pragma: no cover
    """Rows lo..hi of ``out = max(out, 0)`` in place (a layer without a bias)."""
    d = out.shape[1]
    for i in range(lo, hi):
        row = out[i]
        for j in range(d):
            if row[j] < 0:
                row[j] = 0


@numba.njit(nogil=True, cache=True, error_model="numpy")
def relu_grad_rows(grad, out, gx, colsum, lo, hi):  # pragma: no cover
    """Rows lo..hi of ReLU's backward, ``gx = grad where out > 0 else 0``, and, when ``colsum`` has a column per
    feature, the float64 column sums of gx (the layer's bias gradient) in the same pass: one read of grad and
    out and one write of gx where NumPy makes four passes (compare, cast, multiply, then the sums)."""
    d = grad.shape[1]
    sums = colsum.shape[0] == d
    for i in range(lo, hi):
        g, o, r = grad[i], out[i], gx[i]
        if sums:
            for j in range(d):
                v = g[j] if o[j] > 0 else g[j] * 0
                r[j] = v
                colsum[j] += v
        else:
            for j in range(d):
                r[j] = g[j] if o[j] > 0 else g[j] * 0


@numba.njit(nogil=True, cache=True, error_model="numpy")
def head_grad_rows(grad, hidden, w, gx, colsum, wsum, lo, hi):  # pragma: no cover
    """Rows lo..hi of a one-output last layer's backward through the ReLU before it: ``gx = grad * w`` where
    ``hidden > 0`` else 0 (grad (N, 1), w (1, H): the outer product and the mask in one write), with the float64
    column sums of gx (the bias gradient before) and of ``grad * hidden`` (w's gradient) in the same pass: one
    read of hidden where NumPy reads it twice and makes and masks the outer product in four more passes."""
    d = hidden.shape[1]
    wr = w[0]
    for i in range(lo, hi):
        gi = grad[i, 0]
        h, r = hidden[i], gx[i]
        gi64 = np.float64(gi)
        for j in range(d):
            p = gi * wr[j]
            v = p if h[j] > 0 else p * 0
            r[j] = v
            colsum[j] += v
            wsum[j] += gi64 * h[j]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def adam_flat(param, grad, m, v, vmax, c, lo, hi, maximize, decay_mode, small_weight, amsgrad):  # pragma: no cover
    """Elements lo..hi of one Adam step (torch's single-tensor rule) in one pass: the NumPy path's ~13 passes,
    the same operations in the same order, each rounded to the arrays' dtype, so the same bits. ``c`` holds
    the constants in that dtype: 1 - beta1, 1 - beta2, beta2, eps, weight_decay, 1 - lr * weight_decay, beta1,
    sqrt(1 - beta2**step), -lr / (1 - beta1**step). ``decay_mode``: 0 none, 1 added to the gradient (Adam),
    2 decoupled (AdamW)."""
    # (the loop runs over slices from 0: over range(lo, hi) numba must allow a negative index, and that check
    # kept LLVM from vectorizing the loop: 2.5 ns an element instead of 0.16)
    _adam_span(param[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], vmax[lo:hi] if amsgrad else vmax[:0], c, maximize,
               decay_mode, small_weight, amsgrad)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _adam_span(param, grad, m, v, vmax, c, maximize, decay_mode, small_weight, amsgrad):  # pragma: no cover
    omb1, omb2, beta2, eps, decay, shrink, beta1, bc2, neg_step = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
    for i in range(param.shape[0]):
        g = grad[i]
        if maximize:
            g = -g
        p = param[i]
        if decay_mode == 2:
            p = p * shrink
        elif decay_mode == 1:
            g = g + decay * p
        t = g - m[i]
        if small_weight:
            mi = m[i] + t * omb1
        else:
            mi = g - t * beta1
        m[i] = mi
        vi = v[i] * beta2 + (g * omb2) * g
        v[i] = vi
        if amsgrad:
            old = vmax[i]
            if not (old >= vi or old != old):  # np.maximum: the larger, NaN if either is NaN
                old = vi
            vmax[i] = old
            vi = old
        d = np.sqrt(vi) / bc2 + eps
        param[i] = p + (mi / d) * neg_step
