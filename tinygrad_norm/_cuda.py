"""CUDA backend: CuPy arrays, cuBLAS matmul through CuPy, and our kernels from ``kernels/*.cu``.

Each kernel file is compiled once per process through ``cupy.RawModule`` and cached here. Every
method mirrors one in ``_cpu.py``; the op definitions in ``function.py`` never see which one runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._backend import Backend
from .errors import DeviceError, DTypeError, ShapeError
from .kernels import source, symbol

try:
    import cupy as cp
    import cupyx
except ImportError as e:  # pragma: no cover - exercised only where CuPy is missing
    raise DeviceError("device 'cuda' needs CuPy and an NVIDIA GPU: pip install 'tinygrad_norm[cuda12]' (CUDA 12) "
                       f"or 'tinygrad_norm[cuda13]' (CUDA 13). ({e})") from e

_THREADS = 256
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_MODULES: dict[str, Any] = {}


def _module(name: str):
    mod = _MODULES.get(name)
    if mod is None:
        mod = cp.RawModule(code=source(name), options=("--std=c++14",))
        _MODULES[name] = mod
    return mod


def _kernel(name: str, dtype: np.dtype | None = None):
    """A kernel of the table in ``kernels/__init__.py`` (typed kernels by the dtype they run on)."""
    file, sym = symbol(name, None if dtype is None else _SUFFIX[np.dtype(dtype)])
    return _module(file).get_function(sym)


def _check_float(*arrays: Any) -> np.dtype:
    dt = arrays[0].dtype
    if dt not in _SUFFIX or any(a.dtype != dt for a in arrays):
        raise DTypeError(f"CUDA kernels take float32 or float64 arrays of one dtype, got {[a.dtype for a in arrays]}")
    return dt


class CupyBackend(Backend):
    name = "cuda"
    xp = cp

    def __init__(self) -> None:
        try:
            count = cp.cuda.runtime.getDeviceCount()
        except cp.cuda.runtime.CUDARuntimeError as e:
            raise DeviceError(f"device 'cuda': CuPy is installed but no usable NVIDIA GPU or driver ({e})") from e
        if count == 0:
            raise DeviceError("device 'cuda': CuPy is installed but no NVIDIA GPU was found")
        self._sms = cp.cuda.Device().attributes["MultiProcessorCount"]

    def _grid(self, n: int) -> tuple[int]:
        return (max(1, min(-(-n // _THREADS), self._sms * 32)),)

    # ---- arrays -------------------------------------------------------------
    def _asarray(self, data: Any, dtype: np.dtype | None) -> Any:
        if not isinstance(data, cp.ndarray):
            data = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
        return cp.asarray(data) if dtype is None else cp.asarray(data, dtype=dtype)

    def to_numpy(self, arr: Any) -> np.ndarray:
        return cp.asnumpy(arr)

    def scatter_add(self, target: Any, index: Any, values: Any) -> None:
        cupyx.scatter_add(target, index, values)

    # ---- elementwise / loss ---------------------------------------------------
    def relu(self, x, inplace=False):
        if x.dtype not in _SUFFIX or not x.flags.c_contiguous:
            return cp.maximum(x, 0, out=x if inplace else None)
        y = x if inplace else cp.empty_like(x)  # (the kernel reads and writes each element once: in place is safe)
        _kernel("relu_forward", x.dtype)(self._grid(x.size), (_THREADS,), (x, y, np.int64(x.size)))
        return y

    def relu_backward(self, grad, out):
        grad = cp.ascontiguousarray(grad)
        gx = cp.empty_like(out)
        _kernel("relu_backward", out.dtype)(self._grid(out.size), (_THREADS,),
                                                              (grad, cp.ascontiguousarray(out), gx, np.int64(out.size)))
        return gx

    def mse(self, pred, target, reduction):
        dt = _check_float(pred, target)
        pred, target = cp.ascontiguousarray(pred), cp.ascontiguousarray(target)
        n = pred.size
        dpred = cp.empty_like(pred)
        if reduction == "none":
            loss = cp.empty_like(pred)
            _kernel("mse_elementwise", dt)(self._grid(n), (_THREADS,),
                                                     (pred, target, loss, dpred, np.int64(n)))
            return loss, dpred
        acc = cp.zeros(1, dtype=cp.float64)
        scale = 2.0 / n if reduction == "mean" else 2.0
        _kernel("mse_forward_backward", dt)(self._grid(n), (_THREADS,),
                                                      (pred, target, dpred, acc, np.int64(n), dt.type(scale)))
        loss = acc[0] / n if reduction == "mean" else acc[0]
        return loss.astype(dt), dpred

    def erf(self, x):
        from cupyx.scipy import special  # (on first use: nothing else here needs it)

        return special.erf(x)

    # ---- optimizers: one launch over the flat buffer ---------------------------------
    def sgd_update(self, param, grad, buf, *, first, lr, momentum, dampening, weight_decay, nesterov, maximize=False):
        dt = _check_float(param, grad)
        t = dt.type
        _kernel("sgd_step", dt)(self._grid(param.size), (_THREADS,),
                                            (param, grad, buf, np.int64(param.size), t(lr), t(momentum), t(dampening),
                                             t(weight_decay), np.int32(nesterov), np.int32(first), np.int32(maximize)))

    def adam_update(self, param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1, beta2, eps, weight_decay,
                    max_exp_avg_sq=None, maximize=False, decoupled=False):
        dt = _check_float(param, grad, exp_avg, exp_avg_sq)
        t = dt.type
        amsgrad = max_exp_avg_sq is not None
        # decay_factor is 1 - lr * weight_decay rounded once on the host, as torch's param.mul_(python float)
        vmax = max_exp_avg_sq if amsgrad else exp_avg_sq  # (a valid pointer the kernel does not touch)
        _kernel("adam_step", dt)(self._grid(param.size), (_THREADS,),
                                 (param, grad, exp_avg, exp_avg_sq, vmax, np.int64(param.size), t(lr), t(beta1),
                                  t(beta2), t(eps), t(0.0 if decoupled else weight_decay),
                                  t(1.0 - lr * weight_decay if decoupled else 1.0), t(1.0 - beta1**step),
                                  t(math.sqrt(1.0 - beta2**step)), np.int32(amsgrad), np.int32(maximize)))

    # ---- column statistics and the fused affine apply ------------------------------
    def _chunks(self, rows: int, d: int) -> tuple[int, int, int]:
        """(chunks, rows per chunk, column tiles): enough blocks to fill the GPU a few times over."""
        tiles = -(-d // min(d, _THREADS))
        chunks = max(1, min(-(-rows // 64), (self._sms * 8) // tiles or 1))
        per_chunk = -(-rows // chunks)
        return -(-rows // per_chunk), per_chunk, tiles

    def _column_pass(self, x, partial: str, merge: str, k: int) -> np.ndarray:
        """Run a (partial, merge) kernel pair of standardize.cu; returns its k float64 rows per column."""
        x = cp.ascontiguousarray(x)
        dt = _check_float(x)
        rows, d = x.shape
        chunks, per_chunk, tiles = self._chunks(rows, d)
        part = cp.empty((k, chunks, d), dtype=cp.float64)
        _kernel(partial, dt)(
            (chunks, tiles), (_THREADS,), (x, np.int64(rows), np.int32(d), np.int64(per_chunk), *part))
        out = cp.empty((k, d), dtype=cp.float64)
        _kernel(merge)(
            self._grid(d), (_THREADS,), (*part, np.int32(chunks), np.int32(d), *out))
        return cp.asnumpy(out)

    def column_moments(self, x):
        _, mean, m2 = self._column_pass(x, "column_moments_partial", "column_moments_merge", 3)
        return int(x.shape[0]), mean, m2

    def column_minmax(self, x):
        lo, hi = self._column_pass(x, "column_minmax_partial", "column_minmax_merge", 2)
        return lo, hi

    def affine_apply(self, x, shift, scale, offset, out=None, inverse=False):
        x = cp.ascontiguousarray(x)
        dt = _check_float(x)
        d = x.shape[-1]
        shift, scale = cp.asarray(shift, dtype=dt), cp.asarray(scale, dtype=dt)
        offset = cp.asarray(offset, dtype=dt) if offset is not None else None
        if out is None:
            out = cp.empty_like(x)
        elif not out.flags.c_contiguous or out.shape != x.shape or out.dtype != dt:
            raise ShapeError("out must be a C-contiguous array of the input's shape and dtype")
        null = np.uint64(0)
        args_tail = (shift, scale, offset if offset is not None else null)
        if dt == np.float32 and d % 4 == 0 and x.data.ptr % 16 == 0 and out.data.ptr % 16 == 0:
            n4 = x.size // 4
            _kernel("affine_apply_vec4_f32")(
                self._grid(n4), (_THREADS,), (x, out, *args_tail, np.int64(n4), np.int32(d), np.int32(inverse)))
        else:
            _kernel("affine_apply", dt)(
                self._grid(x.size), (_THREADS,), (x, out, *args_tail, np.int64(x.size), np.int32(d), np.int32(inverse)))
        return out
