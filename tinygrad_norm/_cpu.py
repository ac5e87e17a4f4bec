"""CPU backend: NumPy, with the fused kernels written as blocked, multi-threaded NumPy.

NumPy ufuncs and reductions release the GIL, so a small thread pool over row
blocks uses every core. Blocks are ~1 MiB so each one is read from memory once
and every further pass over it hits the cache.

The affine apply uses numba, when it is installed, for one fused pass (see ``_numba.py``);
``USE_NUMBA = False`` (or ``TINYGRAD_NORM_NUMBA=0``) keeps it on the pure-NumPy blocks.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from ._backend import Backend, device_of, get_backend
from ._buffers import BufferPool
from ._moments import chan_merge
from .errors import ArgumentError, ArgumentTypeError, ShapeError

_BLOCK_BYTES = 2 << 20  # rows per block are chosen so one block is about this big (measured best: 1-2 MiB)
_PARALLEL_MIN_BYTES = 4 << 20  # below this, threads cost more than they save
_POOL: ThreadPoolExecutor | None = None

# The affine apply's fused numba kernel: used when numba imports and this is true (tests flip it).
USE_NUMBA = os.environ.get("TINYGRAD_NORM_NUMBA", "1") != "0"
# Below this many elements an apply takes microseconds on either path: small ones (a training
# batch through a Normalize layer) stay on NumPy and never pay numba's import (~0.2 s) and compile.
_NUMBA_MIN_SIZE = 1 << 14
_NUMBA: dict[str, Any] = {}  # kernel name -> the compiled kernel once looked up, False when numba is missing
_FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # native byte order only
# The fit's fused kernel (one read of the data, no float64 copy): from this many elements. Below it a NumPy
# fit takes a few ms at most and never pays numba's import (the regression example fits 16640 x 8 on NumPy).
_NUMBA_FIT_MIN_SIZE = 1 << 20
# The pure-NumPy apply makes two ufunc passes per block; the second must find the block in L2.
# 512 KiB measured best at 1M x 64 and 100k x 512 (5-15% over 2 MiB); 256 KiB and below lose to
# the per-call overhead (two ufunc calls, ~2-4 us each with two threads sharing the GIL).
_APPLY_BLOCK_BYTES = 512 << 10
# A layer's bias + ReLU, and ReLU's backward with the bias gradient, run as one numba pass over arrays of at
# least this many bytes, and their outputs reuse pooled memory: 128 KiB is where glibc starts serving arrays
# from fresh mmaps (page faults on every step: 256 x 8 x 256 took 1.0 ms a step instead of 0.5). Smaller
# ones, the regression example's 256 x 64 included, stay on NumPy and never import numba.
_FUSED_LAYER_MIN_BYTES = 128 << 10
# A training step's own passes (bias + ReLU, ReLU's backward, Adam) run on the calling thread alone: each comes
# right after a BLAS product, whose threads spin-wait on every core for a while after returning, and a pool
# thread of ours would share a core with one of them. Measured on 2 cores, same process, interleaved: one
# thread 5.26 / 68.2 / 78.3 ms a step, two 5.40 / 69.7 / 79.9 (4096x8x256, 4096x64x1024, 16384x64x512).
_STEP_THREADS = 1
# Adam over buckets of this many parameters and more is one numba pass (the same bits as NumPy's ~13 passes, ~10x
# faster: 4801 parameters 1.3 us against 13 us). Smaller buckets, the example's 641 parameters among them, stay on
# NumPy, so a small script never pays numba's import (~0.3 s) for a few microseconds a step.
_FUSED_ADAM_MIN_SIZE = 1 << 12
# the Adam kernel keeps its two scratch buffers up to this many elements (256 KiB each in float32)
_KEPT_SCRATCH_SIZE = 1 << 16
_ERF = np.frompyfunc(math.erf, 1, 1)  # erf without numba (NumPy has none; scipy is not a dependency)


def _threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="tinygrad_norm")
    return _POOL


def _block_rows(x: np.ndarray) -> int:
    row_bytes = max(1, x.shape[1] * x.itemsize)
    return max(1, _BLOCK_BYTES // row_bytes)


def _over_row_ranges(x: np.ndarray, work: Callable[[int, int], Any], max_threads: int = 0) -> list[Any]:
    """Run ``work(lo, hi)`` on one contiguous row range per thread (at most ``max_threads`` when given);
    results in row order.

    The calling thread takes the first range itself: waking a pool thread costs ~50-100 us on a
    small VM, and waiting idle for all of them wasted one core's share (apply: 25 -> 22 ms at
    1M x 64 with the fused kernel).
    """
    n = x.shape[0]
    threads = _threads() if x.nbytes >= _PARALLEL_MIN_BYTES else 1
    if max_threads:
        threads = min(threads, max_threads)
    if threads == 1 or n < 2:
        return [work(0, n)]
    bounds = np.linspace(0, n, threads + 1).astype(int)
    ranges = [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    futures = [_pool().submit(work, lo, hi) for lo, hi in ranges[1:]]
    try:
        first = work(*ranges[0])
    finally:
        wait(futures)  # never return (or raise) while a worker still writes into the caller's arrays
    return [first, *(f.result() for f in futures)]


def _head_grad_part(kernel: Any, grad: np.ndarray, hidden: np.ndarray, w: np.ndarray, gx: np.ndarray, d: int,
                    lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """One row range of the last layer's fused backward: its float64 sums of gx and of grad * hidden."""
    colsum, wsum = np.zeros(d), np.zeros(d)
    kernel(grad, hidden, w, gx, colsum, wsum, lo, hi)
    return colsum, wsum


_Sums = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (block, shift) -> (S1, S2)


def _relu_grad_part(kernel: Any, grad: np.ndarray, out: np.ndarray, gx: np.ndarray, d: int, lo: int,
                    hi: int) -> np.ndarray:
    """One row range of ReLU's fused backward; its float64 column sums (d of them, none when d is 0)."""
    colsum = np.zeros(d)
    kernel(grad, out, gx, colsum, lo, hi)
    return colsum


def _block_moments(block: np.ndarray, sums: _Sums) -> tuple[int, np.ndarray, np.ndarray]:
    """Exact (count, mean, M2) of one cached block, in float64.

    Deviations from a shift (the block's first row) are formed in float64, where
    the difference of two float32 values is exact, then summed (``sums(block, shift)``
    gives their sums and sums of squares: NumPy passes or the fused numba kernel);
    M2 = S2 - S1^2/n only loses digits when the shift is far from the block mean
    relative to the spread, and then the block is redone with its mean as the shift.
    """
    nb = block.shape[0]
    shift = block[0].astype(np.float64)
    for _ in range(2):
        s1, s2 = sums(block, shift)
        m2 = s2 - s1 * s1 / nb
        if not np.any(s2 > 1e6 * m2):  # at most 6 of float64's 16 digits lost to cancellation
            break
        shift = shift + s1 / nb
    return nb, shift + s1 / nb, np.maximum(m2, 0.0)


def _numpy_sums(rows: int, d: int, bounds: tuple[np.ndarray, np.ndarray] | None = None) -> _Sums:
    """Shifted sums of blocks of up to ``rows`` rows with NumPy, through one float64 scratch block. With
    ``bounds`` (running (min, max) arrays of the block's dtype), each block also lowers/raises them, reduced
    from the block itself (in the cache; half the bytes of the float64 copy for float32 data)."""
    scratch = np.empty((rows, d), dtype=np.float64)

    def sums(block: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dev = scratch[:block.shape[0]]
        if bounds is not None:
            np.minimum(bounds[0], np.minimum.reduce(block, axis=0), out=bounds[0])
            np.maximum(bounds[1], np.maximum.reduce(block, axis=0), out=bounds[1])
        np.copyto(dev, block)  # a cast copy, then the subtraction: faster than one mixed-dtype subtract
        np.subtract(dev, shift, out=dev)
        return np.add.reduce(dev, axis=0), np.einsum("ij,ij->j", dev, dev)

    return sums


def _fused_sums(kernel: Any, d: int, bounds: tuple[np.ndarray, np.ndarray] | None = None) -> _Sums:
    """Shifted sums of a block in one pass of the numba kernel (no float64 copy of the block); with
    ``bounds``, the kernel that also lowers/raises the running (min, max) arrays in the same read."""
    s1, s2 = np.empty(d), np.empty(d)

    def sums(block: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if bounds is None:
            kernel(block, shift, s1, s2)
        else:
            kernel(block, shift, s1, s2, bounds[0], bounds[1])
        return s1, s2  # (reused: _block_moments reads them before the next call)

    return sums


_CONSTS: dict[tuple[np.dtype, tuple[float, ...]], tuple[np.ndarray, ...]] = {}


def _consts(dtype: np.dtype, *values: float) -> tuple[np.ndarray, ...]:
    """``values`` as read-only 0-d arrays of ``dtype``, cached. A ufunc converts a Python float operand on
    every call (~0.2 us: a good part of an optimizer step of a small model); a 0-d array of the array's
    dtype holds the same rounded value and gives the same results."""
    key = (dtype, values)
    arrays = _CONSTS.get(key)
    if arrays is None:
        if len(_CONSTS) > 256:  # e.g. a learning-rate schedule: keep the cache small
            _CONSTS.clear()
        arrays = tuple(np.array(v, dtype=dtype) for v in values)
        for a in arrays:
            a.flags.writeable = False
        _CONSTS[key] = arrays
    return arrays


_ZEROS: dict[tuple[tuple[int, ...], np.dtype], np.ndarray] = {}


def _zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A cached read-only array of zeros: ReLU's other operand. NumPy's maximum against a scalar (or a 0-d
    array) takes its slow loop, 5.2 us at 256 x 64 float32 against 1.2 us for two arrays of one shape; the
    values are the same (maximum is elementwise), so small layers pay 64 KiB of zeros instead."""
    key = (shape, dtype)
    zeros = _ZEROS.get(key)
    if zeros is None:
        if len(_ZEROS) > 64:  # many shapes (e.g. a last batch of another size): keep the cache small
            _ZEROS.clear()
        zeros = _ZEROS[key] = np.zeros(shape, dtype)
        zeros.flags.writeable = False
    return zeros


class NumpyBackend(Backend):
    name = "cpu"
    xp = np

    layer_bytes = _FUSED_LAYER_MIN_BYTES

    def __init__(self) -> None:
        self.buffers = BufferPool()  # big arrays reused from step to step (see _buffers.py)

    def _asarray(self, data: Any, dtype: np.dtype | None) -> np.ndarray:
        if device_of(data) != "cpu":
            data = get_backend(device_of(data)).to_numpy(data)
        return np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)

    def to_numpy(self, arr: np.ndarray) -> np.ndarray:
        return arr

    def scatter_add(self, target: np.ndarray, index: Any, values: np.ndarray) -> None:
        np.add.at(target, index, values)

    # ---- a layer's product and its activation --------------------------------
    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # (the example's small layers take the first test and go: this runs six times a step)
        if a.shape[0] * b.shape[-1] * a.itemsize < _FUSED_LAYER_MIN_BYTES or a.ndim != 2 or b.ndim != 2 or \
                a.dtype != b.dtype:
            return a @ b
        return np.matmul(a, b, out=self.buffers.empty((a.shape[0], b.shape[1]), a.dtype))

    def multiply(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype:
            shape = (max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1]))
            if shape[0] * shape[1] * a.itemsize >= _FUSED_LAYER_MIN_BYTES:
                return np.multiply(a, b, out=self.buffers.empty(shape, a.dtype))
        return a * b

    def _layer_kernel(self, name: str, x: np.ndarray, *others: np.ndarray | None) -> Any:
        """The numba kernel ``name`` when ``x`` (2-D) is big enough for it and the other arrays share its dtype."""
        if x.nbytes < _FUSED_LAYER_MIN_BYTES or x.ndim != 2 or x.dtype not in _FUSED_DTYPES or \
                any(o is not None and o.dtype != x.dtype for o in others):
            return None
        return _numba_kernel(name)

    def bias_relu(self, out: np.ndarray, bias: np.ndarray | None, relu: bool) -> np.ndarray:
        if out.nbytes >= _FUSED_LAYER_MIN_BYTES:
            name = "relu_rows" if bias is None else "bias_relu_rows"
            kernel = self._layer_kernel(name, out, bias) if bias is not None or relu else None
            if kernel is not None:
                try:
                    if bias is None:
                        _over_row_ranges(out, lambda lo, hi: kernel(out, lo, hi), _STEP_THREADS)
                    else:
                        _over_row_ranges(out, lambda lo, hi: kernel(out, bias, lo, hi, relu),
                                         _STEP_THREADS)
                    return out
                except Exception as e:  # numba compiles at the first call: if it cannot, NumPy does it
                    if not _numba_failed(e, name, "layer"):
                        raise
        if bias is not None:
            out += bias
        return self.relu(out, inplace=True) if relu else out

    # ---- elementwise / loss --------------------------------------------------
    def relu(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        if x.nbytes >= _FUSED_LAYER_MIN_BYTES:  # (big: a scalar operand, not a big array of zeros to read)
            return np.maximum(x, _consts(x.dtype, 0)[0], out=x if inplace else self.buffers.empty(x.shape, x.dtype))
        return np.maximum(x, _zeros(x.shape, x.dtype), out=x if inplace else None)

    def relu_backward(self, grad: np.ndarray, out: np.ndarray) -> np.ndarray:
        return self._relu_backward(grad, out, False)[0]

    def relu_backward_sums(self, grad: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self._relu_backward(grad, out, True)

    def _relu_backward(self, grad: np.ndarray, out: np.ndarray, sums: bool) -> tuple[np.ndarray, np.ndarray | None]:
        kernel = self._layer_kernel("relu_grad_rows", grad, out) if grad.nbytes >= _FUSED_LAYER_MIN_BYTES else None
        if kernel is not None and grad.shape == out.shape:
            gx = self.buffers.empty(grad.shape, grad.dtype)
            d = grad.shape[1] if sums else 0
            try:
                parts = _over_row_ranges(grad, lambda lo, hi: _relu_grad_part(kernel, grad, out, gx, d, lo, hi),
                                         _STEP_THREADS)
            except Exception as e:
                if not _numba_failed(e, "relu_grad_rows", "ReLU backward"):
                    raise
            else:  # the bias gradient: float64 column sums, rounded once to the gradient's dtype
                return gx, (np.add.reduce(parts).astype(grad.dtype) if sums else None)
        # the mask as 0.0/1.0 times grad: the same numbers as grad * (out > 0), without the bool-to-float
        # cast inside the multiply's loop (256 x 64 float32: 5.6 us instead of 7.7)
        gx = np.greater(out, _consts(out.dtype, 0)[0]).astype(grad.dtype)
        gx *= grad
        return gx, None

    def head_backward(self, grad: np.ndarray, hidden: np.ndarray, w: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        kernel = self._layer_kernel("head_grad_rows", hidden, grad, w)
        if kernel is not None and grad.shape == (hidden.shape[0], 1) and w.shape == (1, hidden.shape[1]):
            gx = self.buffers.empty(hidden.shape, hidden.dtype)
            d = hidden.shape[1]
            try:
                parts = _over_row_ranges(hidden, lambda lo, hi: _head_grad_part(kernel, grad, hidden, w, gx, d, lo,
                                                                                hi), _STEP_THREADS)
            except Exception as e:
                if not _numba_failed(e, "head_grad_rows", "the last layer's backward"):
                    raise
            else:  # float64 sums, rounded once to the gradient's dtype
                colsum, wsum = (np.add.reduce([part[k] for part in parts]).astype(grad.dtype) for k in (0, 1))
                return gx, colsum, wsum.reshape(1, d)
        return super().head_backward(grad, hidden, w)

    def mse(self, pred: np.ndarray, target: np.ndarray, reduction: str) -> tuple[np.ndarray, np.ndarray]:
        diff = np.subtract(pred, target)
        if type(diff) is not np.ndarray:  # 0-d operands give a NumPy scalar
            diff = np.array(diff)
        if reduction == "none":
            return diff * diff, np.multiply(diff, 2.0, out=diff)
        total = np.vdot(diff, diff)  # (a contiguous array: vdot reads it as one flat vector)
        if reduction == "mean":
            n = diff.size
            return np.asarray(total / n, dtype=diff.dtype), np.multiply(diff, _consts(diff.dtype, 2.0 / n)[0], out=diff)
        return np.asarray(total, dtype=diff.dtype), np.multiply(diff, _consts(diff.dtype, 2.0)[0], out=diff)

    def erf(self, x: np.ndarray) -> np.ndarray:
        if x.size >= _NUMBA_MIN_SIZE and x.dtype in _FUSED_DTYPES:  # (small ones never pay numba's import)
            kernel = _numba_kernel("erf_flat")
            if kernel is not None:
                out = np.empty(x.shape, dtype=x.dtype)
                try:
                    kernel(np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
                    return out
                except Exception as e:  # numba compiles at the first call: if it cannot, math.erf does it
                    if not _numba_failed(e, "erf_flat", "erf"):
                        raise
        # math.erf (libm's, in float64) element by element: exact, ~5x slower than the numba loop
        return np.asarray(_ERF(x), dtype=x.dtype)

    # ---- optimizers (torch.optim single-tensor rules, in place) -------------
    def sgd_update(self, param, grad, buf, *, first, lr, momentum, dampening, weight_decay, nesterov, maximize=False):
        self.sgd_kernel(param, grad, buf, first=first, lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)(0)

    def sgd_kernel(self, param, grad, buf, *, first, lr, momentum, dampening, weight_decay, nesterov, maximize=False):
        lr_, momentum_, undamped, decay = _consts(param.dtype, lr, momentum, 1.0 - dampening, weight_decay)

        def run(step: int) -> None:  # (ufuncs with out=: an augmented assignment would rebind the name)
            g = np.negative(grad) if maximize else grad
            if weight_decay:
                g = g + decay * param
            if momentum:
                if first:
                    np.copyto(buf, g)
                else:
                    np.multiply(buf, momentum_, out=buf)
                    np.add(buf, undamped * g, out=buf)
                g = g + momentum_ * buf if nesterov else buf
            np.subtract(param, lr_ * g, out=param)
        return run

    def adam_update(self, param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1, beta2, eps, weight_decay,
                    max_exp_avg_sq=None, maximize=False, decoupled=False):
        self.adam_kernel(param, grad, exp_avg, exp_avg_sq, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                         weight_decay=weight_decay, max_exp_avg_sq=max_exp_avg_sq, maximize=maximize,
                         decoupled=decoupled)(step)

    def adam_kernel(self, param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
                    max_exp_avg_sq=None, maximize=False, decoupled=False):
        dt = param.dtype
        one_minus_beta1, one_minus_beta2, beta2_, eps_, decay = _consts(dt, 1.0 - beta1, 1.0 - beta2, beta2, eps,
                                                                         weight_decay)
        shrink = _consts(dt, 1.0 - lr * weight_decay)[0] if weight_decay and decoupled else None
        coupled = bool(weight_decay) and not decoupled
        # exp_avg.lerp_(grad, 1 - beta1) with torch's formula for a small weight (beta1 > 0.5) and for a large one
        # (grad - (grad - exp_avg) * beta1)
        small_weight = beta1 > 0.5
        large_weight = _consts(dt, 1.0)[0] - one_minus_beta1
        vmax = max_exp_avg_sq
        # scratch kept between steps for a small bucket (two allocations fewer per step), not for a big one
        # (two more copies of the parameters held for the optimizer's life)
        keep = param.size <= _KEPT_SCRATCH_SIZE
        scratch = (np.empty_like(param), np.empty_like(param)) if keep else None

        buffers = self.buffers
        fused = self._fused_adam(param, grad, exp_avg, exp_avg_sq, vmax, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                 weight_decay=weight_decay, maximize=maximize, decoupled=decoupled)
        if fused is not None:
            return fused

        def run(step: int) -> None:
            tmp, denom = scratch if keep else (buffers.empty(param.shape, dt), buffers.empty(param.shape, dt))
            g = np.negative(grad) if maximize else grad
            if shrink is not None:
                np.multiply(param, shrink, out=param)
            elif coupled:
                g = g + decay * param
            np.subtract(g, exp_avg, out=tmp)
            if small_weight:
                tmp *= one_minus_beta1
                np.add(exp_avg, tmp, out=exp_avg)
            else:
                tmp *= large_weight
                np.subtract(g, tmp, out=exp_avg)
            np.multiply(g, one_minus_beta2, out=tmp)
            tmp *= g
            np.multiply(exp_avg_sq, beta2_, out=exp_avg_sq)
            np.add(exp_avg_sq, tmp, out=exp_avg_sq)
            if vmax is None:
                np.sqrt(exp_avg_sq, out=denom)
            else:  # amsgrad
                np.maximum(vmax, exp_avg_sq, out=vmax)
                np.sqrt(vmax, out=denom)
            denom /= np.array(math.sqrt(1.0 - beta2**step), dt)
            denom += eps_
            np.divide(exp_avg, denom, out=tmp)
            tmp *= np.array(-lr / (1.0 - beta1**step), dt)  # -step_size
            np.add(param, tmp, out=param)
        return run

    def _fused_adam(self, param, grad, exp_avg, exp_avg_sq, vmax, *, lr, beta1, beta2, eps, weight_decay, maximize,
                    decoupled) -> Callable[[int], None] | None:
        """For a big bucket, ``run(step)`` of the numba kernel that makes the whole update one pass (the same bits
        as the NumPy path below); None for small ones, other dtypes or without numba."""
        arrays = (param, grad, exp_avg, exp_avg_sq) + (() if vmax is None else (vmax,))
        if param.size < _FUSED_ADAM_MIN_SIZE or param.dtype not in _FUSED_DTYPES or \
                any(a.dtype != param.dtype or a.ndim != 1 or not a.flags.c_contiguous for a in arrays):
            return None
        kernel = _numba_kernel("adam_flat")
        if kernel is None:
            return None
        dt = param.dtype
        mode = 0 if not weight_decay else 2 if decoupled else 1
        fixed = [1.0 - beta1, 1.0 - beta2, beta2, eps, weight_decay, 1.0 - lr * weight_decay, 0.0]
        fixed[6] = float(_consts(dt, 1.0)[0] - _consts(dt, 1.0 - beta1)[0])  # the NumPy path's large lerp weight
        maxes = vmax if vmax is not None else exp_avg_sq  # (unused without amsgrad)
        try:  # numba compiles at the first call: do it here, on empty arrays, so a failure falls back at once
            empty = np.empty(0, dt)
            kernel(empty, empty, empty, empty, empty, np.zeros(9, dt), 0, 0, maximize, mode, beta1 > 0.5,
                   vmax is not None)
        except Exception as e:
            if not _numba_failed(e, "adam_flat", "Adam update"):
                raise
            return None

        def run(step: int) -> None:
            c = np.array([*fixed, math.sqrt(1.0 - beta2**step), -lr / (1.0 - beta1**step)], dt)
            _over_row_ranges(param, lambda lo, hi: kernel(param, grad, exp_avg, exp_avg_sq, maxes, c, lo, hi,
                                                          maximize, mode, beta1 > 0.5, vmax is not None),
                             _STEP_THREADS)
        return run

    # ---- column statistics and the fused affine apply ------------------------
    def column_moments(self, x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        return self._column_stats(x, minmax=False)

    def column_stats(self, x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(count, mean, M2, min, max) per column in float64, in one read of ``x``: what a normalizer's fit
        keeps whatever its method. The min and max come from the moments' own pass (the fused kernel's
        second pair of loops, or the NumPy path's block already in the cache), not from another pass."""
        return self._column_stats(x, minmax=True)

    def _column_stats(self, x: np.ndarray, minmax: bool) -> tuple:
        x = np.ascontiguousarray(x)
        wide = _widen(x)
        if wide is None:
            return _blocked_moments(x, minmax)
        view, k, tail = wide
        n_w, mean_w, m2_w, *bounds = _blocked_moments(view, minmax)
        # fold the k interleaved groups of each column (equal counts n_w) into one
        mean_k, m2_k = mean_w.reshape(k, -1), m2_w.reshape(k, -1)
        mean = mean_k.mean(axis=0)
        acc = (n_w * k, mean, m2_k.sum(axis=0) + n_w * ((mean_k - mean) ** 2).sum(axis=0))
        if minmax:
            bounds = [bounds[0].reshape(k, -1).min(axis=0), bounds[1].reshape(k, -1).max(axis=0)]
        if tail.shape[0]:
            n_t, mean_t, m2_t, *tail_bounds = _blocked_moments(tail, minmax)
            acc = chan_merge(acc, (n_t, mean_t, m2_t))
            if minmax:
                bounds = [np.minimum(bounds[0], tail_bounds[0]), np.maximum(bounds[1], tail_bounds[1])]
        return (*acc, *bounds)

    def column_minmax(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(x)
        wide = _widen(x)
        if wide is None:
            return _blocked_minmax(x)
        view, k, tail = wide
        lo, hi = _blocked_minmax(view)
        lo, hi = lo.reshape(k, -1).min(axis=0), hi.reshape(k, -1).max(axis=0)
        if tail.shape[0]:
            t_lo, t_hi = _blocked_minmax(tail)
            lo, hi = np.minimum(lo, t_lo), np.maximum(hi, t_hi)
        return lo, hi

    def affine_apply(self, x, shift, scale, offset, out=None, inverse=False):
        cdt = np.float32 if x.dtype == np.float16 else x.dtype  # float16: computed in float32, rounded once
        # the fused kernel indexes without bounds checks: shapes must be exact
        d = x.shape[1] if x.ndim == 2 else -1
        (shift, scale, offset), tiled = _prepared(shift, scale, offset, cdt, _widening(d))
        if shift.shape != (d,) or scale.shape != (d,) or (offset is not None and offset.shape != (d,)):
            raise ShapeError(f"affine_apply: x {x.shape} needs one shift/scale/offset value per column")
        if out is None:
            out = np.empty(x.shape, dtype=x.dtype)
        elif not isinstance(out, np.ndarray):
            raise ArgumentTypeError(f"affine_apply: out= must be a NumPy array, got {type(out).__name__}")
        elif out.shape != x.shape:
            raise ShapeError(f"affine_apply: out has shape {out.shape}, x has {x.shape}")
        elif not out.flags.writeable:
            # refused here, before the kernels: numba would fail to type a write into it, which must not read
            # as the kernel failing to compile (that switches the kernel off for the whole process)
            raise ArgumentError("affine_apply: out is read-only (out.flags.writeable is False); pass a writable array")
        elif np.may_share_memory(x, out) and not _same_memory(x, out):
            x = x.copy()  # partial overlap: a block or thread would read rows another one already wrote
        if x.size <= _SMALL_APPLY and out.dtype == cdt:  # a batch: the block loop's own ops, without the loop
            _affine_block(x, out, shift, scale, offset, inverse)
            return out
        wide = _widen(x) if x.flags.c_contiguous and out.flags.c_contiguous else None
        if wide is None:
            _blocked_affine(x, out, shift, scale, offset, inverse)
            return out
        view, k, tail = wide
        m = view.size // x.shape[1]
        _blocked_affine(view, out[:m].reshape(view.shape), *tiled, inverse)
        if tail.shape[0]:
            _blocked_affine(tail, out[m:], shift, scale, offset, inverse)
        return out


_PREPARED: dict[tuple, tuple] = {}  # by the statistics' values
_PREPARED_BY_ID: dict[tuple, tuple] = {}  # by the identity of read-only statistics: (arrays, _PREPARED's entry)


def _prepared(shift: Any, scale: Any, offset: Any, dtype: Any, k: int) -> tuple[tuple, tuple]:
    """shift/scale/offset as read-only arrays of ``dtype``, and the same tiled ``k`` times for a widened view;
    cached by value, since a normalizer applies the same statistics batch after batch (converting and tiling
    them was ~5 us of a 40 us apply at 16640 x 8)."""
    # a normalizer passes the same read-only arrays every call: those are found by identity (the entry holds
    # them, so their ids are not reused; they must still be read-only, so nothing can have written into them)
    ident = (id(shift), id(scale), id(offset), dtype, k)
    entry = _PREPARED_BY_ID.get(ident)
    if entry is not None and all(v is None or not v.flags.writeable for v in entry[0]):
        return entry[1]
    shift, scale = np.asarray(shift), np.asarray(scale)
    offset = None if offset is None else np.asarray(offset)
    key = (np.dtype(dtype), k, shift.dtype, scale.dtype, shift.shape, scale.shape, shift.tobytes(), scale.tobytes(),
           None if offset is None else (offset.dtype, offset.shape, offset.tobytes()))
    hit = _PREPARED.get(key)
    if hit is None:
        if len(_PREPARED) > 256:
            _PREPARED.clear()
        plain = tuple(None if v is None else np.asarray(v, dtype=dtype) for v in (shift, scale, offset))
        tiled = tuple(_tile(v, k) for v in plain) if k > 1 else plain
        for v in plain + tiled:
            if v is not None:
                v.flags.writeable = False  # shared by every later call with the same statistics
        hit = _PREPARED[key] = (plain, tiled)
    if all(v is None or (type(v) is np.ndarray and v.base is None and not v.flags.writeable)
           for v in (shift, scale, offset)):
        if len(_PREPARED_BY_ID) > 64:  # e.g. a normalizer rebuilt for every call: keep it small
            _PREPARED_BY_ID.clear()
        _PREPARED_BY_ID[ident] = ((shift, scale, offset), hit)
    return hit


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """a and b are the same elements (out=x in place), so an elementwise pass may read and write them."""
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.strides == b.strides


def _tile(v: np.ndarray | None, k: int) -> np.ndarray | None:
    """``np.tile(v, k)`` for a 1-D v without its ~3 us of overhead (2 calls: ~6 of 40 us at 16640 x 8)."""
    if v is None:
        return None
    t = np.empty(k * v.size, dtype=v.dtype)
    t.reshape(k, v.size)[...] = v
    return t


_MIN_WIDTH = 256  # NumPy's inner loops need rows about this long to run at full speed


def _widen(x: np.ndarray) -> tuple[np.ndarray, int, np.ndarray] | None:
    """View a C-contiguous (n, d) array with small d as (n // k, k * d) plus the leftover rows.

    Column j of the wide view is original column j % d, so per-column work becomes work on long
    rows with the statistics tiled k times. None when the array is already wide enough.
    """
    n, d = x.shape
    k = _widening(d)
    m = (n // k) * k
    if k == 1 or m == 0:
        return None
    return x[:m].reshape(m // k, k * d), k, x[m:]


def _widening(d: int) -> int:
    """How many rows of width ``d`` one row of the wide view holds (1: none, the rows are wide enough)."""
    return -(-_MIN_WIDTH // d) if 0 < d < _MIN_WIDTH else 1


def _blocked_moments(x: np.ndarray, minmax: bool = False) -> tuple:
    """(count, mean, M2) of each column, and with ``minmax`` (min, max) too, from the same read of x."""
    rows = _block_rows(x)
    d = x.shape[1]
    name = "shifted_sums_minmax" if minmax else "shifted_sums"
    kernel = None
    if x.size >= _NUMBA_FIT_MIN_SIZE and x.dtype in _FUSED_DTYPES:
        kernel = _numba_kernel(name)

    def work(lo: int, hi: int):
        # this thread's running min and max, lowered/raised block by block (of x's dtype: exact, whatever it is)
        bounds = None
        if minmax:
            bounds = (np.full(d, np.inf, dtype=x.dtype), np.full(d, -np.inf, dtype=x.dtype))
        if kernel is not None:
            sums = _fused_sums(kernel, d, bounds)
        else:
            sums = _numpy_sums(min(rows, hi - lo), d, bounds)
        acc = (0, np.zeros(d), np.zeros(d))
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf data: the caller reports it by column
            for i in range(lo, hi, rows):
                acc = chan_merge(acc, _block_moments(x[i:min(i + rows, hi)], sums))
        return acc if bounds is None else (*acc, *bounds)

    try:
        parts = _over_row_ranges(x, work)
    except Exception as e:  # numba compiles at the first call: if it cannot, NumPy does it all
        if kernel is None or not _numba_failed(e, name, "fit"):
            raise
        kernel = None
        parts = _over_row_ranges(x, work)
    acc = (0, np.zeros(d), np.zeros(d))
    for part in parts:
        acc = chan_merge(acc, part[:3])
    if not minmax:
        return acc
    return (*acc, np.minimum.reduce([p[3] for p in parts]).astype(np.float64),
            np.maximum.reduce([p[4] for p in parts]).astype(np.float64))


def _blocked_minmax(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = _block_rows(x)

    def work(lo: int, hi: int):
        lo_v = np.full(x.shape[1], np.inf, dtype=x.dtype)
        hi_v = np.full(x.shape[1], -np.inf, dtype=x.dtype)
        for i in range(lo, hi, rows):
            block = x[i:min(i + rows, hi)]
            np.minimum(lo_v, np.minimum.reduce(block, axis=0), out=lo_v)
            np.maximum(hi_v, np.maximum.reduce(block, axis=0), out=hi_v)
        return lo_v, hi_v

    parts = _over_row_ranges(x, work)
    return (np.minimum.reduce([p[0] for p in parts]).astype(np.float64),
            np.maximum.reduce([p[1] for p in parts]).astype(np.float64))


def _numba_kernel(name: str = "affine_rows") -> Any:
    """The fused numba kernel ``name`` of ``_numba.py``, or None (numba not installed, or switched off)."""
    if not USE_NUMBA:
        return None
    kernel = _NUMBA.get(name)
    if kernel is None:
        try:
            from . import _numba
        except ImportError:  # numba missing, or too old/new for this NumPy
            kernel = False
        except Exception as e:  # e.g. no writable cache directory for the compiled kernels
            warnings.warn(f"numba is installed but its kernels could not be set up ({e}); NumPy does their work",
                          RuntimeWarning, stacklevel=3)
            kernel = False
        else:
            kernel = getattr(_numba, name)
        _NUMBA[name] = kernel
    return kernel or None


def _numba_failed(e: Exception, name: str, what: str) -> bool:
    """Whether ``e`` is numba failing to compile kernel ``name`` (at its first call); if so the kernel is
    switched off, with a warning, and the caller does the work with NumPy."""
    from ._numba import CompileError  # (numba is imported: the kernel was called)

    if not isinstance(e, CompileError):
        return False
    _NUMBA[name] = False
    warnings.warn(f"numba could not compile the fused {what} ({type(e).__name__}); the {what} uses NumPy",
                  RuntimeWarning, stacklevel=3)
    return True


# Prefetching rows ahead pays when x streams from memory; an x that fits in the L2 cache (a training
# split, a batch) is read ~10% faster without the prefetch instructions (16640 x 8: 18.4 -> 16.6 us).
_PREFETCH_MIN_BYTES = 1 << 20

_SMALL_APPLY = 4096  # elements (a 256 x 8 batch is 2048): below this, widening and blocks cost more than they save


def _affine_block(src, dst, shift, scale, offset, inverse) -> None:
    """One block in place in ``dst``: the same ufuncs, in the same order, as every block of the NumPy path."""
    if inverse:
        if offset is not None:
            np.subtract(src, offset, out=dst)
            np.divide(dst, scale, out=dst)
        else:
            np.divide(src, scale, out=dst)
        np.add(dst, shift, out=dst)
    else:
        np.subtract(src, shift, out=dst)
        np.multiply(dst, scale, out=dst)
        if offset is not None:
            np.add(dst, offset, out=dst)


def _blocked_affine(x, out, shift, scale, offset, inverse) -> None:
    fused = None
    if x.size >= _NUMBA_MIN_SIZE and x.dtype == out.dtype and x.dtype in _FUSED_DTYPES:
        fused = _numba_kernel()  # out is x exactly or does not overlap it (affine_apply sees to that)
    if fused is not None:
        has_offset = offset is not None
        off = offset if has_offset else scale  # any array of the right type; not read
        prefetch = x.nbytes >= _PREFETCH_MIN_BYTES
        try:
            if x.nbytes < _PARALLEL_MIN_BYTES:  # one thread: the kernel directly
                fused(x, out, shift, scale, off, 0, x.shape[0], inverse, has_offset, prefetch)
            else:
                _over_row_ranges(x, lambda lo, hi: fused(x, out, shift, scale, off, lo, hi, inverse, has_offset,
                                                         prefetch))
            return
        except Exception as e:  # numba compiles at the first call: if it cannot, NumPy does it all
            if not _numba_failed(e, "affine_rows", "apply"):
                raise

    rows = max(1, _APPLY_BLOCK_BYTES // max(1, x.shape[1] * x.itemsize))
    # float16 (or an out= of another dtype) is computed in a scratch block of the statistics' dtype
    # (float32 for float16) and rounded once, on the copy out
    cast = out.dtype != shift.dtype

    def work(lo: int, hi: int) -> None:
        scratch = np.empty((min(rows, hi - lo), x.shape[1]), dtype=shift.dtype) if cast else None
        for i in range(lo, hi, rows):
            src, dst = x[i:min(i + rows, hi)], out[i:min(i + rows, hi)]
            tmp = scratch[:src.shape[0]] if cast else dst
            _affine_block(src, tmp, shift, scale, offset, inverse)
            if cast:
                np.copyto(dst, tmp, casting="same_kind")

    _over_row_ranges(x, work)
