"""Gradient clipping, torch.nn.utils's ``clip_grad_norm_`` and ``clip_grad_value_``: both scale or clamp each
parameter's ``.grad`` array in place and skip parameters without a gradient."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, GraphError
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor], what: str) -> list[Tensor]:
    """The gradients of ``parameters`` (one tensor or an iterable of them) that have one."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise ArgumentTypeError(f"{what} takes a Tensor or an iterable of Tensors (e.g. model.parameters()); "
                                    f"item {i} is {type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def _real(value: Any, name: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or math.isnan(value):
        raise ArgumentError(f"{what}: {name} must be a number, got {value!r}")
    return float(value)


def _vector_norm(xp: Any, a: Any, p: float) -> float:
    """torch.linalg.vector_norm of the flattened array for order ``p``: max |a| (inf), min |a| (-inf), the number
    of non-zeros (0), else (sum |a|^p)^(1/p). Accumulated in float64 (torch sums float32 in float32, so the two
    may differ in the last digits)."""
    v = xp.abs(a.reshape(-1)).astype(np.float64)
    if v.size == 0:
        return math.inf if p == -math.inf else 0.0  # (torch: the max of nothing is 0; -inf has no identity)
    if p == math.inf:
        return float(v.max())
    if p == -math.inf:
        return float(v.min())
    if p == 0:
        return float((v != 0).sum())
    if p == 1:
        return float(v.sum())
    if p == 2:
        return float(xp.sqrt(xp.vdot(v, v)))
    with np.errstate(divide="ignore"):  # a negative order: |0|^p is inf, and the norm 0, as torch gives
        return float((v**p).sum() ** (1.0 / p))


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients in place so that their total ``norm_type`` norm (the norm of the per-gradient norms,
    as if all were one vector) is at most ``max_norm``; returns that total norm, before clipping, as a 0-d
    Tensor, like torch's. The scale is ``max_norm / (total + 1e-6)`` clamped to 1 (gradients already within the
    bound are left as they are). A NaN or inf total is an error with ``error_if_nonfinite``; without it the
    gradients are scaled by it anyway (becoming NaN or 0), as torch does. Torch's ``foreach`` is not taken (each
    gradient is one array here)."""
    what = "clip_grad_norm_"
    grads = _grads(parameters, what)
    max_norm = _real(max_norm, "max_norm", what)
    if max_norm < 0:  # (torch would flip every gradient's sign)
        raise ArgumentError(f"{what}: max_norm must be >= 0, got {max_norm}")
    p = _real(norm_type, "norm_type", what)
    if not grads:
        return Tensor(0.0)
    norms = [_vector_norm(g._backend.xp, g.data, p) for g in grads]
    total = _vector_norm(np, np.asarray(norms), p)
    first = grads[0]
    result = Tensor(total, dtype=first.dtype, device=first.device)
    if error_if_nonfinite and not math.isfinite(total):
        raise GraphError(f"The total norm of order {p} for gradients from `parameters` is non-finite, so it cannot "
                         "be clipped. To disable this error and scale the gradients by the non-finite norm anyway, "
                         "set `error_if_nonfinite=False`")
    coef = max_norm / (total + 1e-6)
    if coef < 1.0 or math.isnan(coef):  # (clamped to 1: a multiplication by 1 changes nothing)
        with np.errstate(invalid="ignore"):  # an inf gradient times a 0 coefficient: the NaN torch gives too
            for g in grads:
                g.data *= g.dtype.type(coef)  # (a scalar of the gradient's dtype: no promotion, on any device)
    return result


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient in place to [-clip_value, clip_value], like torch's (which returns None too)."""
    what = "clip_grad_value_"
    grads = _grads(parameters, what)
    c = _real(clip_value, "clip_value", what)
    for g in grads:
        g._backend.xp.clip(g.data, -c, c, out=g.data)
