"""Stateless functions on Tensors, torch.nn.functional's names and signatures: ``linear``, the activations
(``relu``, ``leaky_relu``, ``gelu``, ``silu``, ``sigmoid``, ``tanh``, ``softmax``, ``log_softmax``), ``dropout``,
``flatten``, ``batch_norm``, ``layer_norm`` and the losses (``mse_loss``, ``l1_loss``, ``huber_loss``,
``smooth_l1_loss``, ``binary_cross_entropy_with_logits``, ``cross_entropy``). Each op and each loss is a single
graph node with an analytic backward.

Deliberate differences from torch: no ``inplace=True`` (an in-place op could overwrite an array the graph saved:
refused, not ignored); ``softmax``/``log_softmax`` need ``dim`` (torch's implicit choice is deprecated); the
deprecated ``size_average``/``reduce`` arguments do not exist (use ``reduction``); regression losses refuse
input and target of different shapes (torch warns and broadcasts); class-index targets may be any integer dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import (
    ArgumentError,
    ArgumentTypeError,
    AxisError,
    DeviceError,
    DTypeError,
    GraphError,
    ShapeError,
    name_few,
)
from ..function import BatchNormEval, BatchNormTrain, LayerNorm, Linear, MSELoss, ReLU, Sigmoid, Tanh
from ..tensor import Tensor, check_compatible, default_generator, is_grad_enabled
from . import ops

__all__ = ["batch_norm", "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "flatten", "gelu",
           "huber_loss", "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax", "mse_loss", "relu",
           "sigmoid", "silu", "smooth_l1_loss", "softmax", "tanh"]

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


# ---- argument checks shared by the functions below -------------------------------------------------
def _check_tensor(x: Any, what: str) -> None:
    if not isinstance(x, Tensor):
        raise ArgumentTypeError(f"{what} takes a Tensor, got {type(x).__name__}; wrap arrays with tn.Tensor(x)")


def _check_float(x: Tensor, what: str) -> None:
    if x.dtype.kind != "f":
        raise DTypeError(f"{what} needs a floating-point tensor, got {x.dtype}; convert with .astype('float32')")


def _check_reduction(reduction: Any, what: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ArgumentError(f"{what} reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _number(value: Any, name: str, what: str) -> float:
    """``value`` as a finite float, or an error naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not math.isfinite(value):
        raise ArgumentError(f"{what}: {name} must be a finite number, got {value!r}")
    return float(value)


def _no_inplace(inplace: Any, what: str) -> None:
    if inplace:
        raise ArgumentError(f"{what}: inplace=True is not supported (it could overwrite an array the autograd graph "
                            "saved); use the returned tensor")


def _dim(dim: Any, ndim: int, what: str) -> int:
    """``dim`` (negative counts from the end) as an axis index of a tensor of ``ndim`` dimensions (a 0-d tensor
    takes dim 0 or -1, as in torch)."""
    n = max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ArgumentTypeError(f"{what}: dim must be an int, got {dim!r}")
    if not -n <= dim < n:
        raise AxisError(f"{what}: dim {dim} is out of range for a tensor with {ndim} dimensions (expected "
                        f"{-n}..{n - 1})")
    return int(dim) % n


def _constant(t: Tensor | None, name: str, what: str) -> Any:
    """The array of a loss's ``weight``-like argument, which is not differentiated (torch refuses it too)."""
    if t is None:
        return None
    if t.requires_grad and is_grad_enabled():
        raise GraphError(f"{what} is not differentiable with respect to {name} (neither is torch's); pass "
                         f"{name}.detach()")
    return t.data


def _as_target(input: Tensor, target: Any, what: str) -> Tensor:
    """``target`` as a Tensor on ``input``'s device: floats in ``input``'s dtype, integers kept as they are."""
    if isinstance(target, Tensor):
        return target
    kind = np.asarray(target).dtype.kind if not hasattr(target, "dtype") else target.dtype.kind
    return Tensor(target, dtype=input.dtype if kind == "f" else None, device=input.device)


def _same_shape(input: Tensor, target: Tensor, what: str) -> None:
    if input.shape != target.shape:
        raise ShapeError(f"{what}: input shape {input.shape} differs from target shape {target.shape}; "
                         "broadcasting them (e.g. (N,) against (N, 1)) silently compares every prediction with "
                         "every target, so reshape one to match")


# ---- activations -----------------------------------------------------------------------------------
def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``input`` where positive, else ``negative_slope * input`` (torch's ``F.leaky_relu``)."""
    _check_tensor(input, "leaky_relu")
    _no_inplace(inplace, "leaky_relu")
    _check_float(input, "leaky_relu")
    return ops.LeakyReLU.apply(input, negative_slope=_number(negative_slope, "negative_slope", "leaky_relu"))


GELU_APPROXIMATIONS = ("none", "tanh")


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` with the exact normal CDF (through the backend's erf), or torch's tanh approximation with
    ``approximate='tanh'`` (torch's ``F.gelu``)."""
    _check_tensor(input, "gelu")
    if approximate not in GELU_APPROXIMATIONS:
        raise ArgumentError(f"gelu: approximate must be one of {GELU_APPROXIMATIONS}, got {approximate!r}")
    _check_float(input, "gelu")
    return ops.GELU.apply(input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)``, also called swish (torch's ``F.silu``)."""
    _check_tensor(input, "silu")
    _no_inplace(inplace, "silu")
    _check_float(input, "silu")
    return ops.SiLU.apply(input)


def _softmax_like(op: type, input: Tensor, dim: Any, dtype: Any, what: str) -> Tensor:
    _check_tensor(input, what)
    if dim is None:
        raise ArgumentError(f"{what} needs dim=, the dimension to normalize over (e.g. dim=1 for (N, C) logits); "
                            "torch's implicit choice of it is deprecated")
    if dtype is not None:  # (torch's dtype=: the input is cast first)
        input = input.astype(dtype)
    _check_float(input, what)
    axis = _dim(dim, input.ndim, what)
    if input.ndim == 0:
        return op.apply(input.reshape(1), axis=0).reshape(())
    return op.apply(input, axis=axis)


def softmax(input: Tensor, dim: int | None = None, *, dtype: Any = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, computed with the maximum subtracted (torch's ``F.softmax``;
    ``dim`` is required)."""
    return _softmax_like(ops.Softmax, input, dim, dtype, "softmax")


def log_softmax(input: Tensor, dim: int | None = None, *, dtype: Any = None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``, computed with the maximum subtracted so it never overflows (torch's
    ``F.log_softmax``; ``dim`` is required)."""
    return _softmax_like(ops.LogSoftmax, input, dim, dtype, "log_softmax")


# ---- regularization and shape --------------------------------------------------------------------------
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """In training, each element is zeroed with probability ``p`` and the others are scaled by ``1 / (1 - p)``,
    the mask drawn from tn's seeded generator (``tn.manual_seed`` makes it reproducible); the gradient is the
    same mask times the scale. Not training, or ``p == 0``: ``input`` itself, as torch returns it. ``p == 1``:
    zeros (``input * 0``, as torch)."""
    _check_tensor(input, "dropout")
    p = _number(p, "p", "dropout")
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"dropout probability has to be between 0 and 1, but got {p}")
    _no_inplace(inplace, "dropout")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    _check_float(input, "dropout")
    if p == 1.0:
        mask = np.zeros(input.shape, dtype=input.dtype)
    else:  # drawn on the CPU, as tn.rand is, so every device gets the same mask for a seed
        keep = default_generator().random(input.shape) >= p
        mask = keep.astype(input.dtype)
        mask *= np.asarray(1.0 / (1.0 - p), dtype=input.dtype)
    return input * Tensor(mask, dtype=input.dtype, device=input.device)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """The dimensions ``start_dim..end_dim`` (inclusive) merged into one, like ``torch.flatten`` (a 0-d tensor
    becomes shape (1,))."""
    _check_tensor(input, "flatten")
    start, end = _dim(start_dim, input.ndim, "flatten"), _dim(end_dim, input.ndim, "flatten")
    if start > end:
        raise ArgumentError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a tensor of shape "
                            f"{input.shape}")
    if input.ndim == 0:
        return input.reshape(1)
    shape = input.shape
    return input.reshape(shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])


# ---- losses ------------------------------------------------------------------------------------------
def _difference_loss(op: type, input: Tensor, target: Any, reduction: str, what: str, param: Any = None) -> Tensor:
    _check_tensor(input, what)
    target = _as_target(input, target, what)
    check_compatible((input, target), what)
    _check_float(input, what)
    _check_reduction(reduction, what)
    _same_shape(input, target, what)
    return op.apply(input, target, reduction=reduction, param=param)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error, ``|input - target|`` reduced by ``reduction`` ('mean', 'sum' or 'none'), like torch's
    ``F.l1_loss``; input and target must have the same shape."""
    return _difference_loss(ops.L1Loss, input, target, reduction, "l1_loss")


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss: ``0.5 d^2`` where ``|d| < delta``, else ``delta * (|d| - 0.5 delta)``, with ``d = input -
    target``, like torch's ``F.huber_loss``; ``delta > 0``."""
    return _difference_loss(ops.HuberLoss, input, target, reduction, "huber_loss", huber_delta(delta, "huber_loss"))


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1 loss: ``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (the L1 loss for
    ``beta = 0``), like torch's ``F.smooth_l1_loss``; ``beta >= 0``."""
    return _difference_loss(ops.SmoothL1Loss, input, target, reduction, "smooth_l1_loss",
                            smooth_l1_beta(beta, "smooth_l1_loss"))


def huber_delta(delta: Any, what: str) -> float:
    """Huber's ``delta`` checked: a number > 0 (torch's check too)."""
    delta = _number(delta, "delta", what)
    if delta <= 0:
        raise ArgumentError(f"{what} needs delta > 0, got {delta}")
    return delta


def smooth_l1_beta(beta: Any, what: str) -> float:
    """Smooth L1's ``beta`` checked: a number >= 0 (0 is the L1 loss; torch's check too)."""
    beta = _number(beta, "beta", what)
    if beta < 0:
        raise ArgumentError(f"{what} needs beta >= 0, got {beta}")
    return beta


def _check_broadcasts(t: Tensor | None, name: str, shape: tuple[int, ...], what: str) -> None:
    if t is None:
        return
    try:
        fits = np.broadcast_shapes(t.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"{what}: {name} of shape {t.shape} does not broadcast to the input's shape {shape}")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross entropy of ``sigmoid(input)`` against ``target`` in [0, 1], from the logits in the stable
    log-sum-exp form (torch's ``F.binary_cross_entropy_with_logits``). ``weight`` rescales each element's loss
    and ``pos_weight`` the positive term (broadcast along the last, class, dimension); both must broadcast to
    the input's shape and are not differentiated. 'mean' averages over every element."""
    what = "binary_cross_entropy_with_logits"
    _check_tensor(input, what)
    target = _as_target(input, target, what)
    check_compatible((input, target, weight, pos_weight), what)
    _check_float(input, what)
    _check_reduction(reduction, what)
    if target.shape != input.shape:  # (torch's check too)
        raise ShapeError(f"{what}: target size {target.shape} must be the same as input size {input.shape}")
    _check_broadcasts(weight, "weight", input.shape, what)
    _check_broadcasts(pos_weight, "pos_weight", input.shape, what)
    return ops.BCEWithLogits.apply(input, target, weight=_constant(weight, "weight", what),
                                   pos_weight=_constant(pos_weight, "pos_weight", what), reduction=reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of the logits ``input`` ((C,), (N, C) or (N, C, d1, ...): classes on dim 1, or 0 for 1-D)
    against ``target``, like torch's ``F.cross_entropy``: class indices (an integer tensor of the input's shape
    without the class dim; entries equal to ``ignore_index`` count for nothing) or class probabilities (a float
    tensor of the input's shape). ``weight`` (C,) rescales each class (not differentiated); ``label_smoothing``
    in [0, 1] mixes the target with the uniform distribution. 'mean' divides by the summed weights of the
    counted samples for class indices, by the number of samples for probabilities (both as torch)."""
    what = "cross_entropy"
    _check_tensor(input, what)
    _check_float(input, what)
    _check_reduction(reduction, what)
    if input.ndim == 0:
        raise ShapeError(f"{what} needs logits of shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    axis = 1 if input.ndim > 1 else 0
    c = input.shape[axis]
    if c == 0:
        raise ShapeError(f"{what}: the input of shape {input.shape} has no classes (dimension {axis} is 0)")
    ls = label_smoothing_value(label_smoothing, what)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise ArgumentTypeError(f"{what}: ignore_index must be an int, got {ignore_index!r}")
    check_compatible((input, weight), what)
    if weight is not None and weight.shape != (c,):
        raise ShapeError(f"{what}: weight has shape {weight.shape}, expected ({c},): one weight per class")
    w = _constant(weight, "weight", what)
    target = _as_target(input, target, what)
    if target.dtype.kind == "f":
        if target.shape != input.shape:
            raise ShapeError(f"{what}: float targets are class probabilities and need the input's shape "
                             f"{input.shape}, got {target.shape}; class indices are an integer tensor of shape "
                             f"{input.shape[:axis] + input.shape[axis + 1:]}")
        if ignore_index >= 0:
            raise ArgumentError(f"{what}: ignore_index applies to class-index targets, not to class probabilities; "
                                "leave it at its default")
        check_compatible((input, target), what)
        return ops.CrossEntropyProb.apply(input, target, weight=w, reduction=reduction, label_smoothing=ls)
    if target.dtype.kind not in "iu":
        raise DTypeError(f"{what}: targets are class indices (an integer tensor, e.g. int64) or class probabilities "
                         f"(a float tensor of the input's shape), got dtype {target.dtype}")
    expected = input.shape[:axis] + input.shape[axis + 1:]
    if target.shape != expected:
        raise ShapeError(f"{what}: class-index targets for an input of shape {input.shape} need shape {expected} "
                         f"(the input's without its class dimension {axis}), got {target.shape}")
    if target._backend is not input._backend:
        raise DeviceError(f"{what}: input on {input.device}, target on {target.device}; move one with .to(device)")
    t = target.data.astype(np.int64, copy=False)
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bool(bad.any()):
        values = np.unique(target._backend.to_numpy(t[bad])).tolist()
        raise ArgumentError(f"{what}: {int(bad.sum())} target(s) are not a class index 0..{c - 1} (nor "
                            f"ignore_index={ignore_index}): {name_few(values)}")
    return ops.CrossEntropyIndex.apply(input, target=t, weight=w, ignore_index=int(ignore_index),
                                       reduction=reduction, label_smoothing=ls)


def label_smoothing_value(label_smoothing: Any, what: str) -> float:
    """``label_smoothing`` checked: a number in [0, 1] (torch's check too)."""
    ls = _number(label_smoothing, "label_smoothing", what)
    if not 0.0 <= ls <= 1.0:
        raise ArgumentError(f"{what}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    return ls
