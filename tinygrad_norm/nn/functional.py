"""Stateless functions on Tensors; ``linear`` and ``mse_loss`` are single fused graph nodes."""

from __future__ import annotations

from ..errors import ArgumentError, ArgumentTypeError, DeviceError, DTypeError
from ..function import Linear, MSELoss, ReLU, Sigmoid, Tanh
from ..tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _same_device(*tensors: Tensor | None) -> None:
    ts = [t for t in tensors if t is not None]
    for t in ts:
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"expected a Tensor, got {type(t).__name__}")
        if t._backend is not ts[0]._backend:
            raise DeviceError(f"tensors on different devices: {ts[0].device} and {t.device}; move one with .to()")
        if t.dtype != ts[0].dtype:
            raise DTypeError(f"dtype mismatch: {ts[0].dtype} and {t.dtype}; convert one with .astype()")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` as one node; ``weight`` is (out_features, in_features) like torch."""
    _same_device(x, weight, bias)
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)


def mse_loss(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error; ``reduction`` is 'mean', 'sum' or 'none' (elementwise), like torch."""
    if reduction not in _REDUCTIONS:
        raise ArgumentError(f"mse_loss reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=pred.dtype, device=pred.device)
    _same_device(pred, target)
    return MSELoss.apply(pred, target, reduction=reduction)


def relu(x: Tensor) -> Tensor:
    return ReLU.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid.apply(x)


def tanh(x: Tensor) -> Tensor:
    return Tanh.apply(x)
