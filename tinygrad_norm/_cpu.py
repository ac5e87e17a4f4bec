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

from ._backend import Backend, device_of, get_backend
from ._moments import chan_merge

_BLOCK_BYTES = 2 << 20  # rows per block are chosen so one block is about this big (measured best: 1-2 MiB)
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


def _block_moments(block: np.ndarray, scratch: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Exact (count, mean, M2) of one cached block, in float64.

    Deviations from a shift (the block's first row) are formed in float64, where
    the difference of two float32 values is exact, then summed; M2 = S2 - S1^2/n
    only loses digits when the shift is far from the block mean relative to the
    spread, and then the block is redone with its mean as the shift.
    """
    nb = block.shape[0]
    shift = block[0].astype(np.float64)
    for _ in range(2):
        dev = np.subtract(block, shift, out=scratch[:nb])
        s1 = np.add.reduce(dev, axis=0)
        s2 = np.einsum("ij,ij->j", dev, dev)
        m2 = s2 - s1 * s1 / nb
        if not np.any(s2 > 1e6 * m2):  # at most 6 of float64's 16 digits lost to cancellation
            break
        shift = shift + s1 / nb
    return nb, shift + s1 / nb, np.maximum(m2, 0.0)


class NumpyBackend(Backend):
    name = "cpu"
    xp = np

    def _asarray(self, data: Any, dtype: np.dtype | None) -> np.ndarray:
        if device_of(data) != "cpu":
            data = get_backend(device_of(data)).to_numpy(data)
        return np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)

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
        wide = _widen(x)
        if wide is None:
            return _blocked_moments(x)
        view, k, tail = wide
        n_w, mean_w, m2_w = _blocked_moments(view)
        # fold the k interleaved groups of each column (equal counts n_w) into one
        mean_k, m2_k = mean_w.reshape(k, -1), m2_w.reshape(k, -1)
        mean = mean_k.mean(axis=0)
        acc = (n_w * k, mean, m2_k.sum(axis=0) + n_w * ((mean_k - mean) ** 2).sum(axis=0))
        return chan_merge(acc, _blocked_moments(tail)) if tail.shape[0] else acc

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
        shift, scale = np.asarray(shift, dtype=x.dtype), np.asarray(scale, dtype=x.dtype)
        offset = None if offset is None else np.asarray(offset, dtype=x.dtype)
        if out is None:
            out = np.empty(x.shape, dtype=x.dtype)
        wide = _widen(x) if x.flags.c_contiguous and out.flags.c_contiguous else None
        if wide is None:
            _blocked_affine(x, out, shift, scale, offset, inverse)
            return out
        view, k, tail = wide
        m = view.size // x.shape[1]
        tile = lambda v: None if v is None else np.tile(v, k)  # noqa: E731
        _blocked_affine(view, out[:m].reshape(view.shape), tile(shift), tile(scale), tile(offset), inverse)
        if tail.shape[0]:
            _blocked_affine(tail, out[m:], shift, scale, offset, inverse)
        return out


_MIN_WIDTH = 256  # NumPy's inner loops need rows about this long to run at full speed


def _widen(x: np.ndarray) -> tuple[np.ndarray, int, np.ndarray] | None:
    """View a C-contiguous (n, d) array with small d as (n // k, k * d) plus the leftover rows.

    Column j of the wide view is original column j % d, so per-column work becomes work on long
    rows with the statistics tiled k times. None when the array is already wide enough.
    """
    n, d = x.shape
    if d >= _MIN_WIDTH or d == 0:
        return None
    k = -(-_MIN_WIDTH // d)
    m = (n // k) * k
    if m == 0:
        return None
    return x[:m].reshape(m // k, k * d), k, x[m:]


def _blocked_moments(x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    rows = _block_rows(x)

    def work(lo: int, hi: int):
        scratch = np.empty((min(rows, hi - lo), x.shape[1]), dtype=np.float64)
        acc = (0, np.zeros(x.shape[1]), np.zeros(x.shape[1]))
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf data: the caller reports it by column
            for i in range(lo, hi, rows):
                acc = chan_merge(acc, _block_moments(x[i:min(i + rows, hi)], scratch))
        return acc

    acc = (0, np.zeros(x.shape[1]), np.zeros(x.shape[1]))
    for part in _over_row_ranges(x, work):
        acc = chan_merge(acc, part)
    return acc


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


def _blocked_affine(x, out, shift, scale, offset, inverse) -> None:
    rows = _block_rows(x)

    def work(lo: int, hi: int) -> None:
        for i in range(lo, hi, rows):
            src, dst = x[i:min(i + rows, hi)], out[i:min(i + rows, hi)]
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

    _over_row_ranges(x, work)
