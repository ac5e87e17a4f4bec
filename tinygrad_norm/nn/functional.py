"""Stateless functions on Tensors; ``linear`` and ``mse_loss`` are single fused graph nodes."""

from __future__ import annotations

from ..errors import ArgumentError
from ..function import Linear, MSELoss, ReLU, Sigmoid, Tanh
from ..tensor import Tensor, check_compatible

_REDUCTIONS = ("mean", "sum", "none")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` as one node; ``weight`` is (out_features, in_features) like torch."""
    check_compatible((x, weight, bias), "linear")
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)


def mse_loss(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error; ``reduction`` is 'mean', 'sum' or 'none' (elementwise), like torch."""
    if (type(pred) is not Tensor or type(target) is not Tensor or target._backend is not pred._backend
            or target.data.dtype is not pred.data.dtype):  # (the common case skips the checks it would pass)
        if not isinstance(target, Tensor):
            target = Tensor(target, dtype=pred.dtype, device=pred.device)
        check_compatible((pred, target), "mse_loss")
    if reduction not in _REDUCTIONS:
        raise ArgumentError(f"mse_loss reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return MSELoss.apply(pred, target, reduction=reduction)


def relu(x: Tensor) -> Tensor:
    return ReLU.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid.apply(x)


def tanh(x: Tensor) -> Tensor:
    return Tanh.apply(x)
