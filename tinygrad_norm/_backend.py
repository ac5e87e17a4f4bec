"""The one seam between autograd and hardware.

Every op in ``function.py`` is written once against ``backend.xp`` (``numpy`` or
``cupy``, which share an API) plus the handful of fused kernels declared on
:class:`Backend`. A device is one subclass of :class:`Backend` (``_cpu.py``,
``_cuda.py``) and, for CUDA, its sources in ``kernels/``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_DTYPE = np.dtype(np.float32)


class Backend:
    """An array module plus fused kernels, one implementation per device."""

    name: str = "?"
    xp: Any = np

    # ---- arrays -------------------------------------------------------------
    def asarray(self, data: Any, dtype: np.dtype | None = None) -> Any:
        """Array on this device. Float data defaults to float32 unless ``dtype`` says otherwise."""
        raise NotImplementedError

    def to_numpy(self, arr: Any) -> np.ndarray:
        raise NotImplementedError

    def scatter_add(self, target: Any, index: Any, values: Any) -> None:
        """target[index] += values, with repeated indices accumulated."""
        raise NotImplementedError

    # ---- fused kernels (the hot paths) -------------------------------------
    def relu(self, x: Any) -> Any:
        raise NotImplementedError

    def relu_backward(self, grad: Any, out: Any) -> Any:
        raise NotImplementedError

    def mse(self, pred: Any, target: Any, reduction: str) -> tuple[Any, Any]:
        """Return (loss, d loss / d pred for an upstream gradient of 1)."""
        raise NotImplementedError

    def sgd_update(self, param: Any, grad: Any, buf: Any | None, *, first: bool, lr: float, momentum: float,
                   dampening: float, weight_decay: float, nesterov: bool) -> None:
        """One torch.optim.SGD step in place; ``buf`` is the momentum buffer, ``first`` on its first use."""
        raise NotImplementedError

    def adam_update(self, param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, *, step: int, lr: float,
                    beta1: float, beta2: float, eps: float, weight_decay: float) -> None:
        """One torch.optim.Adam step (single-tensor rule) in place over flat buffers."""
        raise NotImplementedError

    def column_moments(self, x: Any) -> tuple[int, np.ndarray, np.ndarray]:
        """(count, mean, M2) per column of a 2-D array, float64 results on the host."""
        raise NotImplementedError

    def column_minmax(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) per column of a 2-D array, float64 results on the host."""
        raise NotImplementedError

    def affine_apply(self, x: Any, shift: np.ndarray, scale: np.ndarray, offset: np.ndarray | None,
                     out: Any | None = None, inverse: bool = False) -> Any:
        """Per column: ``(x - shift) * scale + offset`` or, with ``inverse``, ``(x - offset) / scale + shift``."""
        raise NotImplementedError


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


def column_summary(backend: Backend, x: Any, kind: str) -> tuple[int, np.ndarray, np.ndarray, np.ndarray | None]:
    """One block's per-column summary in float64 on the host: ``(count, mean, M2, bad)`` for kind
    ``"moments"``, ``(count, min, max, bad)`` for ``"minmax"``. ``bad`` counts each column's NaN/inf
    values; it is None when the statistics are finite (then there are none, and no pass counts them)."""
    if kind == "moments":
        n, a, b = backend.column_moments(x)
    else:
        (a, b), n = backend.column_minmax(x), int(x.shape[0])
    bad = None
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        xp = backend.xp
        bad = backend.to_numpy(xp.count_nonzero(~xp.isfinite(x), axis=0)).astype(np.int64)
    return int(n), a, b, bad


_BACKENDS: dict[str, Backend] = {}
DEVICES = ("cpu", "cuda")


def get_backend(device: str | Backend) -> Backend:
    """The backend for a device name; a clear error for unknown or unavailable devices."""
    if isinstance(device, Backend):
        return device
    backend = _BACKENDS.get(device)
    if backend is not None:
        return backend
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; available devices: {', '.join(DEVICES)}")
    if device == "cpu":
        from ._cpu import NumpyBackend
        backend = NumpyBackend()
    else:
        from ._cuda import CupyBackend  # raises a RuntimeError saying what to install
        backend = CupyBackend()
    _BACKENDS[device] = backend
    return backend


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        get_backend("cuda")
    except (RuntimeError, ImportError):
        return False
    return True
