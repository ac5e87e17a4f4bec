"""Loss modules beyond MSELoss (in ``modules.py``): ``L1Loss``, ``HuberLoss``, ``SmoothL1Loss``,
``BCEWithLogitsLoss``, ``CrossEntropyLoss``. Each is a thin Module over its one-node function in
``functional.py``, with torch's arguments, checked when the module is made. Class weights are :class:`Buffer`
attributes named as torch registers them (``weight``, ``pos_weight``), so they are in the state dict and move
with ``.to(device)``.

Deliberate differences from torch: the deprecated ``size_average``/``reduce`` arguments do not exist, so the
arguments torch has after them are keyword-only; weights that require grad are refused here (torch refuses them
at the first forward).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentTypeError
from ..tensor import Tensor
from . import functional as F
from .modules import Buffer, Module


def _reduction(reduction: Any, what: str) -> str:
    F._check_reduction(reduction, what)
    return reduction


def _buffer(t: Tensor | None, name: str, what: str) -> Buffer | None:
    if t is None:
        return None
    if not isinstance(t, Tensor):
        raise ArgumentTypeError(f"{what}: {name} must be a Tensor or None, got {type(t).__name__}")
    F._constant(t, name, what)  # (refuses one that requires grad)
    return Buffer(t)  # (shares t's array, as torch's register_buffer keeps the tensor)


class L1Loss(Module):
    """Mean absolute error, torch.nn.L1Loss."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = _reduction(reduction, "L1Loss")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction: {self.reduction}"


class HuberLoss(Module):
    """Quadratic below ``delta``, linear above: torch.nn.HuberLoss."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        self.reduction = _reduction(reduction, "HuberLoss")
        self.delta = F.huber_delta(delta, "HuberLoss")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, self.reduction, self.delta)

    def extra_repr(self) -> str:
        return f"reduction: {self.reduction}, delta: {self.delta}"


class SmoothL1Loss(Module):
    """Quadratic (divided by ``beta``) below ``beta``, linear above: torch.nn.SmoothL1Loss."""

    def __init__(self, reduction: str = "mean", *, beta: float = 1.0) -> None:
        self.reduction = _reduction(reduction, "SmoothL1Loss")
        self.beta = F.smooth_l1_beta(beta, "SmoothL1Loss")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)

    def extra_repr(self) -> str:
        return f"reduction: {self.reduction}, beta: {self.beta}"


class BCEWithLogitsLoss(Module):
    """Binary cross entropy from logits, stable (torch.nn.BCEWithLogitsLoss): ``weight`` rescales each element,
    ``pos_weight`` the positive term per class (the last dimension)."""

    def __init__(self, weight: Tensor | None = None, *, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        self.reduction = _reduction(reduction, "BCEWithLogitsLoss")
        self.weight = _buffer(weight, "weight", "BCEWithLogitsLoss")
        self.pos_weight = _buffer(pos_weight, "pos_weight", "BCEWithLogitsLoss")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)

    def extra_repr(self) -> str:
        return f"reduction: {self.reduction}"


class CrossEntropyLoss(Module):
    """Cross entropy of logits against class indices or class probabilities (torch.nn.CrossEntropyLoss), with
    optional per-class ``weight``, ``ignore_index`` and ``label_smoothing``."""

    def __init__(self, weight: Tensor | None = None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        what = "CrossEntropyLoss"
        self.reduction = _reduction(reduction, what)
        self.weight = _buffer(weight, "weight", what)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise ArgumentTypeError(f"{what}: ignore_index must be an int, got {ignore_index!r}")
        self.ignore_index = int(ignore_index)
        self.label_smoothing = F.label_smoothing_value(label_smoothing, what)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return (f"reduction: {self.reduction}, ignore_index: {self.ignore_index}, "
                f"label_smoothing: {self.label_smoothing}")
