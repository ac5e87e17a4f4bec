"""CPU backend: NumPy, with the fused kernels written as blocked, multi-threaded NumPy.

NumPy ufuncs and reductions release the GIL, so a small thread pool over row
blocks uses every core. Blocks are ~1 MiB so each one is read from memory once
and every further pass over it hits the cache.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._backend import DEFAULT_DTYPE, Backend

_BLOCK_BYTES = 1 << 20  # rows per block are chosen so one block is about this big
_PARALLEL_MIN_BYTES = 4 << 20  # below this, threads cost more than they save
_POOL: ThreadPoolExecutor | None = None


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


def _over_row_ranges(x: np.ndarray, work: Callable[[int, int], Any]) -> list[Any]:
    """Run ``work(lo, hi)`` on one contiguous row range per thread; results in row order."""
    n = x.shape[0]
    threads = _threads() if x.nbytes >= _PARALLEL_MIN_BYTES else 1
    if threads == 1 or n < 2:
        return [work(0, n)]
    bounds = np.linspace(0, n, threads + 1).astype(int)
    ranges = [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    return list(_pool().map(lambda r: work(*r), ranges))


def chan_merge(a: tuple[int, np.ndarray, np.ndarray],
               b: tuple[int, np.ndarray, np.ndarray]) -> tuple[int, np.ndarray, np.ndarray]:
    """Merge two (count, mean, M2) summaries (Chan, Golub & LeVeque 1979)."""
    na, mean_a, m2_a = a
    nb, mean_b, m2_b = b
    if na == 0:
        return b
    if nb == 0:
        return a
    n = na + nb
    delta = mean_b - mean_a
    return n, mean_a + delta * (nb / n), m2_a + m2_b + delta * delta * (na * nb / n)


def _block_moments(block: np.ndarray, scratch: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Exact (count, mean, M2) of one cached block, summed in float64.

    Deviations are taken from a shift (the block's first row), so the sum of
    squares never subtracts two large numbers; when the shift lies far from the
    block mean (cancellation would cost digits) the block is redone with its mean
    as the shift.
    """
    nb = block.shape[0]
    shift = block[0]
    for _ in range(2):
        dev = np.subtract(block, shift, out=scratch[:nb])
        s1 = np.add.reduce(dev, axis=0).astype(np.float64)
        s2 = np.einsum("ij,ij->j", dev, dev).astype(np.float64)
        m2 = s2 - s1 * s1 / nb
        if not np.any(s2 > 4.0 * m2):  # at most a factor 4 lost to cancellation
            break
        shift = (shift + s1 / nb).astype(block.dtype)
    return nb, shift.astype(np.float64) + s1 / nb, np.maximum(m2, 0.0)


class NumpyBackend(Backend):
    name = "cpu"
    xp = np

    def asarray(self, data: Any, dtype: np.dtype | None = None) -> np.ndarray:
        if hasattr(data, "__cuda_array_interface__"):
            data = data.get()
        arr = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
        if dtype is None and arr.dtype.kind == "f" and arr.dtype != DEFAULT_DTYPE:
            arr = arr.astype(DEFAULT_DTYPE)
        return arr

    def to_numpy(self, arr: np.ndarray) -> np.ndarray:
        return arr

    def scatter_add(self, target: np.ndarray, index: Any, values: np.ndarray) -> None:
        np.add.at(target, index, values)

    # ---- elementwise / loss --------------------------------------------------
    def relu(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0)

    def relu_backward(self, grad: np.ndarray, out: np.ndarray) -> np.ndarray:
        return np.multiply(grad, out > 0)

    def mse(self, pred: np.ndarray, target: np.ndarray, reduction: str) -> tuple[np.ndarray, np.ndarray]:
        diff = np.subtract(pred, target)
        if reduction == "none":
            return diff * diff, np.multiply(diff, 2.0, out=diff)
        flat = diff.reshape(-1)
        total = np.dot(flat, flat)
        norm = 2.0 / diff.size if reduction == "mean" else 2.0
        loss = total / diff.size if reduction == "mean" else total
        return np.asarray(loss, dtype=diff.dtype), np.multiply(diff, norm, out=diff)

    # ---- optimizers (torch.optim single-tensor rules, in place) -------------
    def sgd_update(self, param, grad, buf, *, first, lr, momentum, dampening, weight_decay, nesterov):
        if weight_decay:
            grad = grad + weight_decay * param
        if momentum:
            if first:
                np.copyto(buf, grad)
            else:
                buf *= momentum
                buf += (1.0 - dampening) * grad
            grad = grad + momentum * buf if nesterov else buf
        param -= lr * grad

    def adam_update(self, param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1, beta2, eps, weight_decay):
        if weight_decay:
            grad = grad + weight_decay * param
        tmp = np.subtract(grad, exp_avg)
        tmp *= 1.0 - beta1
        exp_avg += tmp  # exp_avg.lerp_(grad, 1 - beta1), as torch computes it
        np.multiply(grad, 1.0 - beta2, out=tmp)
        tmp *= grad
        exp_avg_sq *= beta2
        exp_avg_sq += tmp
        step_size = lr / (1.0 - beta1**step)
        denom = np.sqrt(exp_avg_sq)
        denom /= math.sqrt(1.0 - beta2**step)
        denom += eps
        np.divide(exp_avg, denom, out=tmp)
        tmp *= -step_size
        param += tmp

    # ---- column statistics and the fused affine apply ------------------------
    def column_moments(self, x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(x)
        rows = _block_rows(x)

        def work(lo: int, hi: int):
            scratch = np.empty((min(rows, hi - lo), x.shape[1]), dtype=x.dtype)
            acc = (0, np.zeros(x.shape[1]), np.zeros(x.shape[1]))
            for i in range(lo, hi, rows):
                acc = chan_merge(acc, _block_moments(x[i:min(i + rows, hi)], scratch))
            return acc

        acc = (0, np.zeros(x.shape[1]), np.zeros(x.shape[1]))
        for part in _over_row_ranges(x, work):
            acc = chan_merge(acc, part)
        return acc

    def column_minmax(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(x)
        rows = _block_rows(x)

        def work(lo: int, hi: int):
            lo_v = np.full(x.shape[1], np.inf)
            hi_v = np.full(x.shape[1], -np.inf)
            for i in range(lo, hi, rows):
                block = x[i:min(i + rows, hi)]
                lo_v = np.minimum(lo_v, np.minimum.reduce(block, axis=0))
                hi_v = np.maximum(hi_v, np.maximum.reduce(block, axis=0))
            return lo_v, hi_v

        parts = _over_row_ranges(x, work)
        return (np.minimum.reduce([p[0] for p in parts]).astype(np.float64),
                np.maximum.reduce([p[1] for p in parts]).astype(np.float64))

    def affine_apply(self, x, shift, scale, offset, out=None, inverse=False):
        shift = shift.astype(x.dtype)
        scale = scale.astype(x.dtype)
        offset = None if offset is None else offset.astype(x.dtype)
        if out is None:
            out = np.empty_like(x, order="C")
        rows = _block_rows(x)

        def work(lo: int, hi: int) -> None:
            for i in range(lo, hi, rows):
                src, dst = x[i:min(i + rows, hi)], out[i:min(i + rows, hi)]
                if inverse:
                    np.subtract(src, offset, out=dst) if offset is not None else np.copyto(dst, src)
                    np.divide(dst, scale, out=dst)
                    np.add(dst, shift, out=dst)
                else:
                    np.subtract(src, shift, out=dst)
                    np.multiply(dst, scale, out=dst)
                    if offset is not None:
                        np.add(dst, offset, out=dst)

        _over_row_ranges(x, work)
        return out
