"""The one seam between autograd and hardware.

Every op in ``function.py`` is written once against ``backend.xp`` (``numpy`` or
``cupy``, which share an API) plus the handful of fused kernels declared on
:class:`Backend`. A device is one subclass of :class:`Backend` (``_cpu.py``,
``_cuda.py``) and, for CUDA, its sources in ``kernels/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import DeviceError

DEFAULT_DTYPE = np.dtype(np.float32)


class Backend:
    """An array module plus fused kernels, one implementation per device."""

    name: str = "?"
    xp: Any = np

    # ---- arrays -------------------------------------------------------------
    def asarray(self, data: Any, dtype: np.dtype | None = None) -> Any:
        """Array on this device. Float data defaults to float32 unless ``dtype`` says otherwise."""
        arr = self._asarray(data, dtype)
        if dtype is None and arr.dtype.kind == "f" and arr.dtype != DEFAULT_DTYPE:
            arr = arr.astype(DEFAULT_DTYPE)
        return arr

    def _asarray(self, data: Any, dtype: np.dtype | None) -> Any:
        """``data`` (from any device) as an array of this device, converted to ``dtype`` if given."""
        raise NotImplementedError

    def to_numpy(self, arr: Any) -> np.ndarray:
        raise NotImplementedError

    def scatter_add(self, target: Any, index: Any, values: Any) -> None:
        """target[index] += values, with repeated indices accumulated."""
        raise NotImplementedError

    # ---- fused kernels (the hot paths) -------------------------------------
    def relu(self, x: Any, inplace: bool = False) -> Any:
        """max(x, 0): a new array, or ``x`` itself overwritten when ``inplace``."""
        raise NotImplementedError

    def relu_backward(self, grad: Any, out: Any) -> Any:
        raise NotImplementedError

    def mse(self, pred: Any, target: Any, reduction: str) -> tuple[Any, Any]:
        """Return (loss, d loss / d pred for an upstream gradient of 1)."""
        raise NotImplementedError

    # ---- a layer's product and its activation (what Linear and LinearReLU run) --------------------------------
    # Layers whose product has at least this many bytes go through the four methods below; smaller ones make
    # the plain array calls (the same arithmetic) without a method call per op.
    layer_bytes: float = 0

    def matmul(self, a: Any, b: Any) -> Any:
        """``a @ b`` of two 2-D arrays into a new array (a backend may reuse the memory of freed ones)."""
        return a @ b

    def multiply(self, a: Any, b: Any) -> Any:
        """``a * b``, broadcast, into a new array (as :meth:`matmul`)."""
        return a * b

    def bias_relu(self, out: Any, bias: Any | None, relu: bool) -> Any:
        """``out += bias`` (when given) and then, with ``relu``, ReLU, both in place on a fresh product."""
        if bias is not None:
            out += bias
        return self.relu(out, inplace=True) if relu else out

    def relu_backward_sums(self, grad: Any, out: Any) -> tuple[Any, Any | None]:
        """:meth:`relu_backward` and, where the backend fuses them into its pass, the column sums of the result
        (the bias gradient of the layer before); None: the caller sums."""
        return self.relu_backward(grad, out), None

    def head_backward(self, grad: Any, hidden: Any, w: Any) -> tuple[Any, Any | None, Any | None]:
        """The backward of a one-output last layer ``hidden @ w.T`` (``w`` of shape (1, H)) through the ReLU that
        made ``hidden``: ``(g * w)`` masked where ``hidden > 0`` (the layer before's output gradient), and, where
        the backend fuses them into that pass, its column sums (that layer's bias gradient) and ``g.T @ hidden``
        (``w``'s gradient); None: the caller computes them."""
        return self.relu_backward(self.multiply(grad, w), hidden), None, None

    def erf(self, x: Any) -> Any:
        """The Gauss error function, elementwise, in x's dtype (exact GELU needs it; NumPy has none)."""
        raise NotImplementedError

    def sgd_update(self, param: Any, grad: Any, buf: Any | None, *, first: bool, lr: float, momentum: float,
                   dampening: float, weight_decay: float, nesterov: bool, maximize: bool = False) -> None:
        """One torch.optim.SGD step in place; ``buf`` is the momentum buffer, ``first`` on its first use
        (it becomes a copy of the gradient); ``maximize`` ascends (the gradient negated)."""
        raise NotImplementedError

    def adam_update(self, param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, *, step: int, lr: float,
                    beta1: float, beta2: float, eps: float, weight_decay: float, max_exp_avg_sq: Any | None = None,
                    maximize: bool = False, decoupled: bool = False) -> None:
        """One torch.optim.Adam step (single-tensor rule) in place over flat buffers. ``max_exp_avg_sq``
        given: amsgrad (the running max of ``exp_avg_sq`` in the denominator); ``decoupled``: AdamW's
        weight decay (``param *= 1 - lr * weight_decay`` before the update, not added to the gradient)."""
        raise NotImplementedError

    # An optimizer steps the same buffers with the same settings thousands of times: these return the
    # update with everything but the step count bound, so a backend can prepare its constants once.
    def sgd_kernel(self, param: Any, grad: Any, buf: Any | None, *, first: bool, lr: float, momentum: float,
                   dampening: float, weight_decay: float, nesterov: bool,
                   maximize: bool = False) -> Callable[[int], None]:
        """``run(step)``: :meth:`sgd_update` of these arrays with these settings (``step`` unused)."""
        kwargs = dict(first=first, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                      nesterov=nesterov, maximize=maximize)
        return lambda step: self.sgd_update(param, grad, buf, **kwargs)

    def adam_kernel(self, param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, *, lr: float, beta1: float,
                    beta2: float, eps: float, weight_decay: float, max_exp_avg_sq: Any | None = None,
                    maximize: bool = False, decoupled: bool = False) -> Callable[[int], None]:
        """``run(step)``: :meth:`adam_update` of these arrays with these settings at step ``step``."""
        kwargs = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                      max_exp_avg_sq=max_exp_avg_sq, maximize=maximize, decoupled=decoupled)
        return lambda step: self.adam_update(param, grad, exp_avg, exp_avg_sq, step=step, **kwargs)

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


_BACKENDS: dict[str, Backend] = {}
DEVICES = ("cpu", "cuda")


def get_backend(device: str | Backend) -> Backend:
    """The backend for a device name ('cpu', 'cuda', or torch's 'cuda:0'); a clear error for unknown or
    unavailable devices."""
    if isinstance(device, Backend):
        return device
    if not isinstance(device, str):
        raise DeviceError(f"a device is a name like 'cpu' or 'cuda', got {type(device).__name__} {device!r}")
    if device.startswith("cuda:"):  # torch's name for the first (current) GPU
        if device != "cuda:0":
            raise DeviceError(f"device {device!r}: only the current GPU, 'cuda' or 'cuda:0', is supported; "
                              "choose another GPU with CUDA_VISIBLE_DEVICES")
        device = "cuda"
    backend = _BACKENDS.get(device)
    if backend is not None:
        return backend
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}; available devices: {', '.join(DEVICES)}")
    if device == "cpu":
        from ._cpu import NumpyBackend
        backend = NumpyBackend()
    else:
        from ._cuda import CupyBackend  # raises a DeviceError saying what to install
        backend = CupyBackend()
    _BACKENDS[device] = backend
    return backend


def device_of(array: Any) -> str:
    """The device an array lives on: 'cuda' for CuPy (and other CUDA) arrays, else 'cpu'. The one place
    that looks at what kind of array it has."""
    return "cuda" if hasattr(array, "__cuda_array_interface__") else "cpu"


def backend_of(array: Any) -> Backend:
    """The backend of the device an array lives on."""
    return get_backend(device_of(array))


def empty_cache() -> None:
    """Release the memory the CPU backend keeps for big arrays between training steps (torch.cuda.empty_cache's
    counterpart for our CPU buffer pool); arrays still in use stay valid. Only needed to give memory back to the
    system after training a big model in a process that goes on."""
    backend = _BACKENDS.get("cpu")
    if backend is not None:
        backend.buffers.clear()


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        get_backend("cuda")
    except (RuntimeError, ImportError):
        return False
    return True
