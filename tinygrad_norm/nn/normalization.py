"""BatchNorm1d and LayerNorm, matching torch.nn's in outputs, gradients, running statistics, state_dict
keys and repr.

Trainable scales and shifts are :class:`Parameter`; running statistics are :class:`Buffer`, so
``state_dict``/``load_state_dict``, ``.to()`` and ``.double()`` handle them as torch does (the 0-d int64
``num_batches_tracked`` stays an integer). A statistic torch keeps as ``None`` (``affine=False``,
``track_running_stats=False``) is a ``None`` attribute here too, so it is absent from the state dict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_backend
from ..errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from ..tensor import Tensor, check_compatible
from . import functional as F
from .functional import _verify_batch_size, normalized_shape_tuple
from .modules import Buffer, Module, Parameter


def _float_dtype(dtype: Any, what: str) -> np.dtype:
    dt = np.dtype(dtype or np.float32)  # (np.dtype(None) would be float64)
    if dt.kind != "f":
        raise DTypeError(f"{what} needs a floating-point dtype, got {dt}")
    return dt


def _check_eps(eps: Any, what: str) -> float:
    number = isinstance(eps, (int, float, np.integer, np.floating)) and not isinstance(eps, bool)
    if not number or not math.isfinite(eps) or eps < 0:
        raise ArgumentError(f"{what}: eps must be a finite number >= 0, got {eps!r}")
    return float(eps)


class BatchNorm1d(Module):
    """Batch normalization of (N, C) or (N, C, L) inputs per channel C, like ``torch.nn.BatchNorm1d``.

    In ``train()`` mode it normalizes with the batch's mean and biased variance and, with
    ``track_running_stats``, updates ``running_mean``/``running_var`` (the variance unbiased, as torch does) by
    ``momentum``, or by a cumulative average when ``momentum=None``; in ``eval()`` mode it uses the running
    statistics (the batch's when ``track_running_stats=False``). ``affine`` adds a (C,) ``weight`` (ones) and
    ``bias`` (zeros; none with ``bias=False``)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: str = "cpu", dtype: Any = None, *,
                 bias: bool = True) -> None:
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features <= 0:
            raise ArgumentError(f"{name} needs a positive number of features, got num_features={num_features!r}")
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating))
                                     or not math.isfinite(momentum)):
            raise ArgumentError(f"{name}: momentum must be a number or None (a cumulative average), got {momentum!r}")
        get_backend(device)  # an unknown device is an error before anything is made
        dt = _float_dtype(dtype, name)
        n = int(num_features)
        self.num_features = n
        self.eps = _check_eps(eps, name)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        # assigned in torch's state_dict order: parameters, then buffers
        self.weight: Parameter | None = Parameter(np.ones(n, dt), dtype=dt, device=device) if affine else None
        self.bias: Parameter | None = (Parameter(np.zeros(n, dt), dtype=dt, device=device) if affine and bias
                                       else None)
        if self.track_running_stats:
            self.running_mean: Buffer | None = Buffer(np.zeros(n, dt), dtype=dt, device=device)
            self.running_var: Buffer | None = Buffer(np.ones(n, dt), dtype=dt, device=device)
            self.num_batches_tracked: Buffer | None = Buffer(np.array(0, np.int64), dtype=np.int64, device=device)
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        """Running mean 0, variance 1 and no batches counted, in place (as torch's method)."""
        if self.track_running_stats:
            self.running_mean.data.fill(0)
            self.running_var.data.fill(1)
            self.num_batches_tracked.data.fill(0)

    def forward(self, x: Tensor) -> Tensor:
        n = self.num_features
        if not isinstance(x, Tensor):
            raise ArgumentTypeError(f"{type(self).__name__} takes a Tensor, got {type(x).__name__}; wrap arrays "
                                    "with tn.Tensor(x)")
        if x.ndim not in (2, 3) or x.shape[1] != n:
            raise ShapeError(f"{type(self).__name__}({n}): expected input of shape (N, {n}) or (N, {n}, L), got "
                             f"{x.shape}")
        use_batch = self.training or self.running_mean is None
        update = self.training and self.track_running_stats
        # every check before the count changes: a refused batch leaves the running statistics as they were
        check_compatible((x, self.weight, self.bias, self.running_mean, self.running_var), type(self).__name__)
        if use_batch:
            _verify_batch_size(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if update and self.momentum is None:  # cumulative average over the batches seen, this one included
            factor = 1.0 / (int(self.num_batches_tracked.data) + 1)
        out = F.batch_norm(x, self.running_mean if not self.training or update else None,
                           self.running_var if not self.training or update else None, self.weight, self.bias,
                           use_batch, factor, self.eps)
        if update:
            self.num_batches_tracked.data += 1  # (in place: a state_dict taken earlier shares it)
        return out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")

    def __repr__(self) -> str:  # torch's, e.g. BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, ...)
        return f"{type(self).__name__}({self.extra_repr()})"


class LayerNorm(Module):
    """Layer normalization over the last ``len(normalized_shape)`` dimensions, like ``torch.nn.LayerNorm``: the
    biased variance, then (with ``elementwise_affine``) a ``weight`` (ones) and ``bias`` (zeros; none with
    ``bias=False``) of shape ``normalized_shape``. The same in train and eval mode."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: str = "cpu", dtype: Any = None) -> None:
        name = type(self).__name__
        shape = normalized_shape_tuple(normalized_shape, name)
        get_backend(device)
        dt = _float_dtype(dtype, name)
        self.normalized_shape = shape
        self.eps = _check_eps(eps, name)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight: Parameter | None = (Parameter(np.ones(shape, dt), dtype=dt, device=device)
                                         if elementwise_affine else None)
        self.bias: Parameter | None = (Parameter(np.zeros(shape, dt), dtype=dt, device=device)
                                       if elementwise_affine and bias else None)

    def forward(self, x: Tensor) -> Tensor:
        shape = self.normalized_shape
        if not isinstance(x, Tensor):
            raise ArgumentTypeError(f"{type(self).__name__} takes a Tensor, got {type(x).__name__}; wrap arrays "
                                    "with tn.Tensor(x)")
        if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
            raise ShapeError(f"{type(self).__name__}({shape}): expected input of shape "
                             f"(*, {', '.join(map(str, shape))}), got {x.shape}")
        return F.layer_norm(x, shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")

    def __repr__(self) -> str:  # torch's, e.g. LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)
        return f"{type(self).__name__}({self.extra_repr()})"
