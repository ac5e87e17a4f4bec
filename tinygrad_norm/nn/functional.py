"""Stateless functions on Tensors; ``linear``, ``mse_loss``, ``batch_norm`` and ``layer_norm`` are single fused
graph nodes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..function import BatchNormEval, BatchNormTrain, LayerNorm, Linear, MSELoss, ReLU, Sigmoid, Tanh
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


def _check_vector(t: Tensor | None, name: str, n: int, what: str) -> None:
    if t is not None and t.shape != (n,):
        raise ShapeError(f"{what}: {name} has shape {t.shape}, expected ({n},) for an input of {n} channels")


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization of an (N, C) or (N, C, L) input over every axis but C, like torch's ``F.batch_norm``.

    ``training``: normalize with the batch's statistics and, if running statistics are given, update them in
    place (``(1 - momentum) * running + momentum * batch``, the variance unbiased); else normalize with
    ``running_mean`` and ``running_var``. ``weight`` and ``bias`` (C,) scale and shift after."""
    if not isinstance(input, Tensor):
        raise ArgumentTypeError(f"batch_norm takes a Tensor, got {type(input).__name__}; wrap arrays with "
                                "tn.Tensor(x)")
    if input.ndim not in (2, 3):
        raise ShapeError(f"batch_norm: expected a 2-D (N, C) or 3-D (N, C, L) input, got shape {input.shape}")
    check_compatible((input, weight, bias, running_mean, running_var), "batch_norm")
    c = input.shape[1]
    for t, name in ((weight, "weight"), (bias, "bias"), (running_mean, "running_mean"), (running_var, "running_var")):
        _check_vector(t, name, c, "batch_norm")
    if (running_mean is None) != (running_var is None):
        raise ArgumentError("batch_norm: give both running_mean and running_var, or neither")
    params = [t for t in (weight, bias) if t is not None]
    flags = dict(weight=weight is not None, bias=bias is not None, eps=float(eps))
    if training:
        _verify_batch_size(input)
        if running_mean is None:
            return BatchNormTrain.apply(input, *params, **flags)
        return BatchNormTrain.apply(input, *params, running_mean=running_mean.data, running_var=running_var.data,
                                    momentum=float(momentum), **flags)
    if running_mean is None:
        raise ArgumentError("batch_norm: training=False normalizes with running_mean and running_var; give them "
                            "or pass training=True to use the batch's statistics")
    return BatchNormEval.apply(input, *params, running_mean=running_mean.data, running_var=running_var.data, **flags)


def _verify_batch_size(input: Tensor) -> None:
    """Batch statistics of one value per channel are meaningless (a zero variance): torch's ValueError."""
    values = input.numel() // input.shape[1] if input.shape[1] else 0
    if values == 1:
        raise ShapeError("Expected more than 1 value per channel when training, got input of shape "
                         f"{input.shape}; use a batch of at least 2 samples or call .eval()")


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalization over the trailing ``normalized_shape`` dimensions (biased variance), then the
    elementwise ``weight`` and ``bias`` of that shape, like torch's ``F.layer_norm``."""
    if not isinstance(input, Tensor):
        raise ArgumentTypeError(f"layer_norm takes a Tensor, got {type(input).__name__}; wrap arrays with "
                                "tn.Tensor(x)")
    shape = normalized_shape_tuple(normalized_shape, "layer_norm")
    k = len(shape)
    if input.ndim < k or input.shape[input.ndim - k:] != shape:
        raise ShapeError(f"layer_norm: normalized_shape={shape} expects an input of shape (*, "
                         f"{', '.join(map(str, shape))}), got {input.shape}")
    check_compatible((input, weight, bias), "layer_norm")
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and t.shape != shape:
            raise ShapeError(f"layer_norm: {name} has shape {t.shape}, expected normalized_shape {shape}")
    params = [t for t in (weight, bias) if t is not None]
    return LayerNorm.apply(input, *params, weight=weight is not None, bias=bias is not None, normalized_ndim=k,
                           eps=float(eps))


def normalized_shape_tuple(normalized_shape: int | Sequence[int], what: str) -> tuple[int, ...]:
    """``normalized_shape`` (an int or a sequence of ints, as torch takes) as a tuple of positive ints."""
    items = [normalized_shape] if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
    try:
        items = list(items)
    except TypeError:
        items = None
    if items is None or any(not isinstance(s, (int, np.integer)) or isinstance(s, bool) for s in items):
        raise ArgumentTypeError(f"{what}: normalized_shape must be an int or a sequence of ints, got "
                                f"{normalized_shape!r}")
    if not items or any(s <= 0 for s in items):
        raise ArgumentError(f"{what}: normalized_shape must be non-empty and positive, got {normalized_shape!r}")
    return tuple(int(s) for s in items)
